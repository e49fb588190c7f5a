/* kafka_sink.h - the Kafka event sink: every committed event, out to a topic.
 *
 * With KAFKA_BOOTSTRAP_SERVERS set, each event of the log is produced to
 * KAFKA_TOPIC keyed by its twin_id (events without a twin have an empty
 * key), the value being the event's JSON exactly as /diff serves it, with
 * headers `cursor` (cursor_000123) and `type`. The producer is idempotent
 * (enable.idempotence=true, acks=all): librdkafka retries transient
 * failures without duplicating or reordering within a partition.
 *
 * Hand-over. The commit hook (ot_kafka_sink_on_commit) runs on the store's
 * syncer thread and never blocks there: it hands each event to librdkafka's
 * bounded local queue (queue.buffering.max.messages) with a non-blocking
 * produce. When that queue is full, the hook stops handing over and
 * remembers the first cursor not handed over; the sink's own thread then
 * catches up by reading the store (ot_store_read_events) in cursor order
 * until it reaches the last committed cursor, and the hook takes over
 * again. The same thread serves librdkafka's delivery reports.
 *
 * Delivery. A delivery report with an error (after librdkafka's own
 * retries: message.timeout.ms, a purge, a fatal producer error) puts its
 * cursor back: the thread re-reads it from the store and produces it again,
 * skipping cursors already delivered (it can then land after later events
 * of its partition: consumers that care order by the cursor header). After
 * a fatal error the producer is rebuilt. The highest cursor below which everything is delivered (the
 * watermark) is kept in DATA_DIR/kafka.cursor (with the topic), written
 * about once a second and at close, so events committed while the sink was
 * behind, stopped or the process crashed are produced after a restart.
 * Exactly once, except that events in flight at a crash or at a fatal
 * producer error (their fate unknown) are produced again: at least once.
 * With no cursor file for the topic, the sink starts at the log's end when
 * it is first enabled.
 *
 * Brokers being away never stops the server: start-up succeeds, events wait
 * in the store, /health says "degraded". Lag (last committed cursor minus
 * the watermark) and counters go to /metrics.
 *
 * Thread-safety: the hook runs on the store's syncer thread, health/metrics on HTTP
 * threads, reports on the sink thread; shared state is under one mutex.
 */
#ifndef OT_STORE_KAFKA_SINK_H
#define OT_STORE_KAFKA_SINK_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"
#include "core/evtype.h"

struct ot_store;
struct ot_buf;

typedef struct ot_kafka_sink ot_kafka_sink;

typedef struct ot_kafka_options {
    const char *bootstrap;      /* KAFKA_BOOTSTRAP_SERVERS */
    const char *topic;          /* KAFKA_TOPIC */
    const char *properties;     /* KAFKA_PROPERTIES: "k=v,k=v" for librdkafka, or "" */
    const char *data_dir;       /* where kafka.cursor is kept */
    int flush_timeout_ms;       /* at close: wait this long for deliveries */
    struct ot_store *store;     /* read for catch-up; borrowed */
} ot_kafka_options;

/* Build the producer and start the sink's thread. Fails (OT_EINVAL, naming
 * the option) only on bad configuration, never because brokers are away.
 * Register ot_kafka_sink_on_commit as a commit listener right after. */
int ot_kafka_sink_start(const ot_kafka_options *opt, ot_kafka_sink **out, ot_error *err);

/* Commit listener (ctx = the sink): hands the group's events over, or leaves
 * them for the sink's thread to catch up. Never blocks on the network. */
void ot_kafka_sink_on_commit(void *ctx, const ot_event *evs, size_t n);

/* Stop reading the store (call before the store closes): waits for a
 * catch-up read in progress; afterwards only the commit hook hands over. */
void ot_kafka_sink_stop_reading(ot_kafka_sink *s);

/* Stop: wait up to flush_timeout_ms for outstanding deliveries, save the
 * watermark, free everything. Call after the store's writer has stopped.
 * NULL is fine. */
void ot_kafka_sink_close(ot_kafka_sink *s);

/* /health probe: "ok", or "degraded" with the reason (brokers unreachable,
 * deliveries failing, lag not shrinking) and lag/cursor fields in detail. */
const char *ot_kafka_sink_health(void *ctx, json_t *detail);

/* /metrics lines: opstwin_kafka_lag_events, *_committed_cursor,
 * *_delivered_cursor, *_produced_total, *_failed_total, *_queue_full_total,
 * *_local_queue, *_up. */
void ot_kafka_sink_metrics(void *ctx, struct ot_buf *out);

#endif
