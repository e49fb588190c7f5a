/* kafka_sink.c - see kafka_sink.h.
 *
 * Cursor bookkeeping, all under s->mu:
 *
 *   delivered  watermark: every cursor <= delivered is in Kafka (or was
 *              skipped for good: dropped by retention, too large)
 *   next       the next cursor to hand to librdkafka; every cursor < next
 *              is in flight or done, except ones a failed delivery put
 *              back (they pull next down to them)
 *   committed  the last cursor the store committed (from the hook)
 *
 *   state[c % window] for delivered < c <= delivered + window:
 *              NONE (not handed over) | INFLIGHT | DONE (above the
 *              watermark, waiting for an earlier cursor)
 *
 * catchup = 1 means the hook does not hand over; the sink's thread reads
 * the store from `next` instead, skipping INFLIGHT/DONE cursors, until
 * next > committed.
 */
#include "store/kafka_sink.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "store/store.h"

enum { ST_NONE = 0, ST_INFLIGHT, ST_DONE };

#define CATCHUP_BATCH 512
#define PROBE_EVERY_NS (2LL * 1000000000)
#define SAVE_EVERY_NS (1LL * 1000000000)
#define STALL_NS (30LL * 1000000000)
#define MAX_WINDOW (4u << 20)

struct ot_kafka_sink {
    ot_store *store;
    char topic[OT_CFG_STR];
    char cursor_path[OT_CFG_STR + 32];
    int flush_timeout_ms;
    rd_kafka_conf_t *tmpl;      /* configuration, duplicated for each producer */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    atomic_int fatal;           /* librdkafka raised a fatal error: rebuild */

    pthread_mutex_t read_mu;    /* held across a catch-up read of the store */
    int no_reads;               /* under read_mu: the store is closing */

    pthread_mutex_t mu;         /* everything below */
    rd_kafka_t *rk;             /* swapped only by the sink thread, under mu */
    rd_kafka_topic_t *rkt;
    int64_t delivered, next, committed;
    uint8_t *state;
    size_t window;
    int catchup;
    int blocked;                /* the last hand-over found the queue/window full */
    int closed;
    int brokers_down;           /* 1 until the first contact, and after ALL_BROKERS_DOWN */
    int64_t last_ok_ns, last_fail_ns, stall_ref_ns, last_log_ns;
    char last_error[256];
    uint64_t produced, failed, queue_full, skipped, dropped;
};

static int64_t now_ns(void) { return ot_mono_ns(); }

static size_t idx(const ot_kafka_sink *s, int64_t c) { return (size_t)c % s->window; }

static void set_error(ot_kafka_sink *s, const char *fmt, const char *a, const char *b)
{
    snprintf(s->last_error, sizeof s->last_error, fmt, a, b);
}

/* --- watermark ---------------------------------------------------------------- */

/* Move the watermark over DONE cursors. Under mu. */
static void advance(ot_kafka_sink *s)
{
    int64_t before = s->delivered;
    while (s->state[idx(s, s->delivered + 1)] == ST_DONE) {
        s->state[idx(s, s->delivered + 1)] = ST_NONE;
        s->delivered++;
    }
    if (s->delivered != before)
        s->stall_ref_ns = now_ns();
}

/* Hand one event to librdkafka (non-blocking). Under mu. 0: handed (or
 * already in flight/done: next moves past it); -1: not now (queue or
 * window full, or a producer error), s->blocked set. */
static int hand(ot_kafka_sink *s, const ot_event *ev)
{
    int64_t c = ev->cursor;
    if (c - s->delivered > (int64_t)s->window || !s->rk) {
        s->blocked = 1;
        return -1;
    }
    uint8_t *st = &s->state[idx(s, c)];
    if (*st != ST_NONE) {
        s->next = c + 1;
        return 0;
    }
    char cur[32];
    snprintf(cur, sizeof cur, "cursor_%06lld", (long long)c);
    const char *tname = ot_evtype_name(ev->type);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_KEY(ev->twin_id, strlen(ev->twin_id)),
        RD_KAFKA_V_VALUE(ev->json, ev->json_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("cursor", cur, -1), RD_KAFKA_V_HEADER("type", tname ? tname : "", -1),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)c), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        *st = ST_INFLIGHT;
        s->next = c + 1;
        return 0;
    }
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        s->queue_full++;
        s->blocked = 1;
        return -1;
    }
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* it never fits: say so loudly rather than stall the sink forever */
        ot_err("kafka: event %s (%zu bytes) is larger than message.max.bytes; it is not "
               "produced (raise message.max.bytes through KAFKA_PROPERTIES)",
               cur, ev->json_len);
        s->dropped++;
        *st = ST_DONE;
        s->next = c + 1;
        advance(s);
        return 0;
    }
    set_error(s, "produce: %s%s", rd_kafka_err2str(e), "");
    s->blocked = 1;
    return -1;
}

/* --- librdkafka callbacks (served on the sink thread) ---------------------------- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    ot_kafka_sink *s = opaque;
    int64_t c = (int64_t)(intptr_t)m->_private;
    int log_it = 0;
    char why[200] = "";
    pthread_mutex_lock(&s->mu);
    if (c > s->delivered && c - s->delivered <= (int64_t)s->window &&
        s->state[idx(s, c)] == ST_INFLIGHT) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            s->state[idx(s, c)] = ST_DONE;
            s->produced++;
            s->last_ok_ns = now_ns();
            s->brokers_down = 0;
            advance(s);
        } else if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            s->state[idx(s, c)] = ST_DONE;
            s->dropped++;
            advance(s);
            log_it = 2;
        } else {
            /* Put it back: the thread re-reads it from the store. */
            s->state[idx(s, c)] = ST_NONE;
            if (c < s->next)
                s->next = c;
            s->catchup = 1;
            if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
                m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
                s->failed++;
                s->last_fail_ns = now_ns();
                set_error(s, "delivery failed: %s%s", rd_kafka_err2str(m->err), "");
                if (s->last_fail_ns - s->last_log_ns > 1000000000LL) {
                    s->last_log_ns = s->last_fail_ns;
                    log_it = 1;
                }
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    snprintf(why, sizeof why, "%s", rd_kafka_err2str(m->err));
    if (log_it == 1)
        ot_warn("kafka: delivery of cursor_%06lld failed (%s); it will be produced again "
                "from the store",
                (long long)c, why);
    else if (log_it == 2)
        ot_err("kafka: the broker refused cursor_%06lld as too large; it is not produced",
               (long long)c);
    (void)rk;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ot_kafka_sink *s = opaque;
    pthread_mutex_lock(&s->mu);
    set_error(s, "%s: %s", rd_kafka_err2name(err), reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        s->brokers_down = 1;
    pthread_mutex_unlock(&s->mu);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        atomic_store(&s->fatal, 1);
        ot_err("kafka: fatal producer error: %s", reason);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        ot_warn("kafka: all brokers are down (%s); events wait in the store", reason);
    } else {
        ot_debug("kafka: %s: %s", rd_kafka_err2name(err), reason);
    }
    (void)rk;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 errors, 4 warning */
    if (level <= 4)
        ot_warn("kafka: %s: %s", fac, buf);
    else
        ot_debug("kafka: %s: %s", fac, buf);
    (void)rk;
}

/* --- configuration and producer ------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v, const char *opt,
                    ot_error *err)
{
    char es[512];
    if (rd_kafka_conf_set(c, k, v, es, sizeof es) != RD_KAFKA_CONF_OK)
        return ot_error_set(err, OT_EINVAL, opt, "%s: %s", opt, es);
    return 0;
}

/* "k=v,k=v" (spaces around items ignored) onto c. */
static int apply_properties(rd_kafka_conf_t *c, const char *props, ot_error *err)
{
    char buf[OT_CFG_STR];
    snprintf(buf, sizeof buf, "%s", props);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *eq = strchr(item, '=');
        if (!*item)
            continue;
        if (!eq || eq == item)
            return ot_error_set(err, OT_EINVAL, "KAFKA_PROPERTIES",
                                "KAFKA_PROPERTIES: '%s' is not key=value (items are "
                                "separated by commas)",
                                item);
        *eq = '\0';
        char *k = item, *v = eq + 1, *e = eq;
        while (e > k && e[-1] == ' ')
            *--e = '\0';
        size_t n = strlen(v);
        while (n && v[n - 1] == ' ')
            v[--n] = '\0';
        if (conf_set(c, k, v, "KAFKA_PROPERTIES", err))
            return err->code;
    }
    return 0;
}

static rd_kafka_conf_t *build_conf(ot_kafka_sink *s, const ot_kafka_options *opt, ot_error *err)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (conf_set(c, "bootstrap.servers", opt->bootstrap, "KAFKA_BOOTSTRAP_SERVERS", err) ||
        conf_set(c, "client.id", "opstwin", "KAFKA_PROPERTIES", err) ||
        conf_set(c, "enable.idempotence", "true", "KAFKA_PROPERTIES", err) ||
        conf_set(c, "acks", "all", "KAFKA_PROPERTIES", err) ||
        /* Java-compatible hashing; an empty key (events without a twin)
         * hashes too instead of being spread at random */
        conf_set(c, "partitioner", "murmur2_random", "KAFKA_PROPERTIES", err) ||
        apply_properties(c, opt->properties ? opt->properties : "", err)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_conf_set_error_cb(c, error_cb);
    rd_kafka_conf_set_log_cb(c, log_cb);
    rd_kafka_conf_set_opaque(c, s);
    return c;
}

/* A producer and its topic handle from the template. */
static int new_producer(ot_kafka_sink *s, rd_kafka_t **rk, rd_kafka_topic_t **rkt, ot_error *err)
{
    char es[512];
    rd_kafka_conf_t *c = rd_kafka_conf_dup(s->tmpl);
    *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
    if (!*rk) {
        rd_kafka_conf_destroy(c);
        return ot_error_set(err, OT_EINVAL, "KAFKA_PROPERTIES", "Kafka producer: %s", es);
    }
    *rkt = rd_kafka_topic_new(*rk, s->topic, NULL);
    if (!*rkt) {
        rd_kafka_destroy(*rk);
        *rk = NULL;
        return ot_error_set(err, OT_EINVAL, "KAFKA_TOPIC", "KAFKA_TOPIC '%s': %s", s->topic,
                            rd_kafka_err2str(rd_kafka_last_error()));
    }
    return 0;
}

static void destroy_producer(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    if (!rk)
        return;
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0); /* serve the purged messages' reports */
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* --- the watermark file ------------------------------------------------------------- */

static void save_cursor(ot_kafka_sink *s, int64_t delivered)
{
    char tmp[sizeof s->cursor_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->cursor_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        ot_warn("kafka: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    int ok = fprintf(f, "%s %lld\n", s->topic, (long long)delivered) > 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, s->cursor_path) != 0) {
        ot_warn("kafka: cannot save %s: %s", s->cursor_path, strerror(errno));
        unlink(tmp);
    }
}

/* The saved watermark for this topic, or -1. */
static int64_t load_cursor(const ot_kafka_sink *s)
{
    FILE *f = fopen(s->cursor_path, "r");
    if (!f)
        return -1;
    char topic[OT_CFG_STR];
    long long v = -1;
    int n = fscanf(f, "%511s %lld", topic, &v);
    fclose(f);
    if (n != 2 || v < 0 || strcmp(topic, s->topic) != 0)
        return -1;
    return v;
}

/* --- the sink thread ------------------------------------------------------------------ */

static int catchup_cb(void *ctx, const ot_event *ev)
{
    ot_kafka_sink *s = ctx;
    int stop = 0;
    pthread_mutex_lock(&s->mu);
    if (ev->cursor >= s->next) {
        /* cursors the store no longer has (retention) cannot be produced */
        while (s->next < ev->cursor) {
            if (s->next - s->delivered > (int64_t)s->window) {
                s->blocked = 1;
                stop = 1;
                break;
            }
            if (s->state[idx(s, s->next)] == ST_NONE) {
                s->state[idx(s, s->next)] = ST_DONE;
                s->skipped++;
            }
            s->next++;
        }
        advance(s);
        if (!stop && hand(s, ev))
            stop = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* One catch-up read. 1: progress, call again; 0: wait a little. */
static int catch_up(ot_kafka_sink *s)
{
    pthread_mutex_lock(&s->read_mu);
    if (s->no_reads) {
        pthread_mutex_unlock(&s->read_mu);
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    int64_t from = s->next;
    s->blocked = 0;
    pthread_mutex_unlock(&s->mu);
    int64_t scanned = from - 1;
    ot_error err;
    ot_error_clear(&err);
    int n = ot_store_read_events(s->store, from - 1, CATCHUP_BATCH, NULL, catchup_cb, s, &scanned,
                                 &err);
    pthread_mutex_unlock(&s->read_mu);
    if (n < 0) {
        int64_t t = now_ns();
        pthread_mutex_lock(&s->mu);
        int log_it = t - s->last_log_ns > 10000000000LL;
        if (log_it)
            s->last_log_ns = t;
        pthread_mutex_unlock(&s->mu);
        if (log_it)
            ot_warn("kafka: reading events from the store to catch up failed: %s", err.message);
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    int blocked = s->blocked;
    if (!blocked && s->next > s->committed)
        s->catchup = 0; /* the hook takes over from here */
    int more = s->catchup && !blocked && n > 0;
    pthread_mutex_unlock(&s->mu);
    return more;
}

/* After a fatal error the producer cannot be used again: build a new one
 * and produce again everything not delivered. */
static void rebuild(ot_kafka_sink *s)
{
    pthread_mutex_lock(&s->mu);
    rd_kafka_t *old = s->rk;
    rd_kafka_topic_t *oldt = s->rkt;
    s->rk = NULL; /* the hook and hand() leave it alone now */
    s->rkt = NULL;
    s->catchup = 1;
    pthread_mutex_unlock(&s->mu);
    destroy_producer(old, oldt);
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    ot_error err;
    ot_error_clear(&err);
    if (new_producer(s, &rk, &rkt, &err)) {
        ot_err("kafka: cannot rebuild the producer: %s; retrying", err.message);
        usleep(1000000);
        return;
    }
    pthread_mutex_lock(&s->mu);
    for (int64_t c = s->delivered + 1; c < s->next; c++)
        if (s->state[idx(s, c)] == ST_INFLIGHT)
            s->state[idx(s, c)] = ST_NONE;
    s->next = s->delivered + 1;
    s->rk = rk;
    s->rkt = rkt;
    pthread_mutex_unlock(&s->mu);
    atomic_store(&s->fatal, 0);
    ot_info("kafka: producer rebuilt; producing again from cursor_%06lld",
            (long long)(s->delivered + 1));
}

/* While brokers are unreachable (or not reached yet), ask for metadata now
 * and then: success means they are back. Blocks this thread up to 1 s. */
static void probe(ot_kafka_sink *s)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 0, NULL, &md, 1000);
    if (md)
        rd_kafka_metadata_destroy(md);
    pthread_mutex_lock(&s->mu);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (s->brokers_down)
            ot_info("kafka: brokers reachable");
        s->brokers_down = 0;
    } else {
        set_error(s, "brokers unreachable: %s%s", rd_kafka_err2str(e), "");
    }
    pthread_mutex_unlock(&s->mu);
}

static void *sink_main(void *arg)
{
    ot_kafka_sink *s = arg;
    int64_t last_probe = 0, last_save = now_ns();
    pthread_mutex_lock(&s->mu);
    int64_t saved = s->delivered;
    pthread_mutex_unlock(&s->mu);
    while (!atomic_load(&s->stop)) {
        if (atomic_load(&s->fatal))
            rebuild(s);
        if (!s->rk)
            continue; /* only this thread swaps it */
        pthread_mutex_lock(&s->mu);
        int cu = s->catchup, down = s->brokers_down;
        pthread_mutex_unlock(&s->mu);
        int timeout = 100;
        if (cu)
            timeout = catch_up(s) ? 0 : 50;
        rd_kafka_poll(s->rk, timeout);
        int64_t t = now_ns();
        if (down && t - last_probe > PROBE_EVERY_NS) {
            probe(s);
            last_probe = now_ns();
        }
        pthread_mutex_lock(&s->mu);
        int64_t d = s->delivered;
        pthread_mutex_unlock(&s->mu);
        if (d != saved && t - last_save > SAVE_EVERY_NS) {
            save_cursor(s, d);
            saved = d;
            last_save = t;
        }
    }
    return NULL;
}

/* --- public --------------------------------------------------------------------------- */

int ot_kafka_sink_start(const ot_kafka_options *opt, ot_kafka_sink **out, ot_error *err)
{
    *out = NULL;
    if (!opt->topic || !*opt->topic || strlen(opt->topic) > 249)
        return ot_error_set(err, OT_EINVAL, "KAFKA_TOPIC",
                            "KAFKA_TOPIC must be 1-249 characters");
    ot_kafka_sink *s = calloc(1, sizeof *s);
    if (!s)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    s->store = opt->store;
    snprintf(s->topic, sizeof s->topic, "%s", opt->topic);
    snprintf(s->cursor_path, sizeof s->cursor_path, "%s/kafka.cursor", opt->data_dir);
    s->flush_timeout_ms = opt->flush_timeout_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->read_mu, NULL);
    s->tmpl = build_conf(s, opt, err);
    if (!s->tmpl)
        goto fail;
    char qmax[64];
    size_t qlen = sizeof qmax;
    long q = 100000;
    if (rd_kafka_conf_get(s->tmpl, "queue.buffering.max.messages", qmax, &qlen) ==
        RD_KAFKA_CONF_OK)
        q = strtol(qmax, NULL, 10);
    /* in flight <= the queue bound; twice that leaves room for cursors
     * delivered while an earlier one is being produced again */
    s->window = (size_t)(q > 0 ? q : 100000) * 2 + 1024;
    if (s->window > MAX_WINDOW)
        s->window = MAX_WINDOW;
    s->state = calloc(s->window, 1);
    if (!s->state) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if (new_producer(s, &s->rk, &s->rkt, err))
        goto fail;

    int64_t last = ot_store_last_cursor(s->store), saved = load_cursor(s);
    if (saved < 0) {
        saved = last;
        ot_info("kafka: no kafka.cursor for topic %s: producing events after cursor_%06lld",
                s->topic, (long long)last);
    } else if (saved > last) {
        ot_warn("kafka: kafka.cursor (cursor_%06lld) is past the log's end (cursor_%06lld); "
                "starting at the end",
                (long long)saved, (long long)last);
        saved = last;
    }
    s->delivered = saved;
    s->next = saved + 1;
    s->committed = last;
    s->catchup = 1; /* the thread reads what the store has after the watermark */
    s->brokers_down = 1;
    s->stall_ref_ns = now_ns();
    snprintf(s->last_error, sizeof s->last_error, "not connected yet");
    /* the file exists from now on: after a crash, even within the first
     * second, the next start resumes here instead of at the log's end */
    save_cursor(s, saved);
    if (pthread_create(&s->thread, NULL, sink_main, s)) {
        ot_error_set(err, OT_EINTERNAL, NULL, "cannot start the Kafka sink thread");
        goto fail;
    }
    pthread_setname_np(s->thread, "kafka-sink");
    s->thread_started = 1;
    ot_info("kafka: producing events to topic %s at %s", s->topic, opt->bootstrap);
    *out = s;
    return 0;
fail:
    ot_kafka_sink_close(s);
    return err->code;
}

void ot_kafka_sink_on_commit(void *ctx, const ot_event *evs, size_t n)
{
    ot_kafka_sink *s = ctx;
    if (!n)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->committed == s->delivered)
        s->stall_ref_ns = now_ns(); /* lag starts now */
    if (evs[n - 1].cursor > s->committed)
        s->committed = evs[n - 1].cursor;
    if (!s->catchup && !s->closed) {
        for (size_t i = 0; i < n; i++) {
            if (evs[i].cursor < s->next)
                continue;
            if (evs[i].cursor != s->next || hand(s, &evs[i])) {
                s->catchup = 1; /* the thread catches up from the store */
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void ot_kafka_sink_stop_reading(ot_kafka_sink *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->read_mu);
    s->no_reads = 1;
    pthread_mutex_unlock(&s->read_mu);
}

void ot_kafka_sink_close(ot_kafka_sink *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        atomic_store(&s->stop, 1);
        pthread_join(s->thread, NULL);
    }
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    rd_kafka_t *rk = s->rk;
    rd_kafka_topic_t *rkt = s->rkt;
    pthread_mutex_unlock(&s->mu);
    if (rk) {
        rd_kafka_flush(rk, s->flush_timeout_ms); /* serves the delivery reports */
        int left = rd_kafka_outq_len(rk);
        if (left > 0)
            ot_warn("kafka: %d events not delivered within %d ms at shutdown", left,
                    s->flush_timeout_ms);
        destroy_producer(rk, rkt);
    }
    pthread_mutex_lock(&s->mu);
    s->rk = NULL;
    int64_t d = s->delivered, c = s->committed;
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started) {
        save_cursor(s, d);
        if (c > d)
            ot_warn("kafka: stopped at cursor_%06lld with cursor_%06lld committed; the rest is "
                    "produced at the next start",
                    (long long)d, (long long)c);
    }
    if (s->tmpl)
        rd_kafka_conf_destroy(s->tmpl);
    free(s->state);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->read_mu);
    free(s);
}

const char *ot_kafka_sink_health(void *ctx, json_t *detail)
{
    ot_kafka_sink *s = ctx;
    const char *st = "ok";
    char reason[320] = "";
    int64_t t = now_ns();
    pthread_mutex_lock(&s->mu);
    int64_t lag = s->committed - s->delivered;
    if (s->brokers_down) {
        st = "degraded";
        snprintf(reason, sizeof reason, "brokers unreachable (%s)", s->last_error);
    } else if (s->last_fail_ns > s->last_ok_ns) {
        st = "degraded";
        snprintf(reason, sizeof reason, "deliveries failing (%s)", s->last_error);
    } else if (lag > 0 && t - s->stall_ref_ns > STALL_NS) {
        st = "degraded";
        snprintf(reason, sizeof reason, "no delivery for %lld s with %lld events waiting",
                 (long long)((t - s->stall_ref_ns) / 1000000000), (long long)lag);
    }
    json_object_set_new(detail, "topic", json_string(s->topic));
    json_object_set_new(detail, "lag", json_integer(lag));
    json_object_set_new(detail, "delivered_cursor", json_integer(s->delivered));
    json_object_set_new(detail, "catching_up", json_boolean(s->catchup));
    pthread_mutex_unlock(&s->mu);
    if (*reason)
        json_object_set_new(detail, "error", json_string(reason));
    return st;
}

void ot_kafka_sink_metrics(void *ctx, ot_buf *out)
{
    ot_kafka_sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    int64_t lag = s->committed - s->delivered, d = s->delivered, c = s->committed;
    uint64_t produced = s->produced, failed = s->failed, qf = s->queue_full;
    uint64_t skipped = s->skipped, dropped = s->dropped;
    int up = !s->brokers_down;
    int outq = s->rk ? rd_kafka_outq_len(s->rk) : 0;
    pthread_mutex_unlock(&s->mu);
    ot_buf_printf(out,
                  "# HELP opstwin_kafka_lag_events Committed events not yet delivered to Kafka.\n"
                  "# TYPE opstwin_kafka_lag_events gauge\n"
                  "opstwin_kafka_lag_events %lld\n"
                  "# HELP opstwin_kafka_committed_cursor Last committed cursor.\n"
                  "# TYPE opstwin_kafka_committed_cursor gauge\n"
                  "opstwin_kafka_committed_cursor %lld\n"
                  "# HELP opstwin_kafka_delivered_cursor Every cursor up to this one is in Kafka.\n"
                  "# TYPE opstwin_kafka_delivered_cursor gauge\n"
                  "opstwin_kafka_delivered_cursor %lld\n"
                  "# HELP opstwin_kafka_produced_total Events acknowledged by the brokers.\n"
                  "# TYPE opstwin_kafka_produced_total counter\n"
                  "opstwin_kafka_produced_total %llu\n"
                  "# HELP opstwin_kafka_failed_total Failed deliveries (each produced again).\n"
                  "# TYPE opstwin_kafka_failed_total counter\n"
                  "opstwin_kafka_failed_total %llu\n"
                  "# HELP opstwin_kafka_queue_full_total Hand-overs refused by the full local "
                  "queue (caught up from the store).\n"
                  "# TYPE opstwin_kafka_queue_full_total counter\n"
                  "opstwin_kafka_queue_full_total %llu\n"
                  "# HELP opstwin_kafka_skipped_total Events gone from the store (retention) "
                  "before they were produced, or too large.\n"
                  "# TYPE opstwin_kafka_skipped_total counter\n"
                  "opstwin_kafka_skipped_total %llu\n"
                  "# HELP opstwin_kafka_local_queue Messages in librdkafka's queue or in flight.\n"
                  "# TYPE opstwin_kafka_local_queue gauge\n"
                  "opstwin_kafka_local_queue %d\n"
                  "# HELP opstwin_kafka_up 1 when the brokers are reachable.\n"
                  "# TYPE opstwin_kafka_up gauge\n"
                  "opstwin_kafka_up %d\n",
                  (long long)lag, (long long)c, (long long)d, (unsigned long long)produced,
                  (unsigned long long)failed, (unsigned long long)qf,
                  (unsigned long long)(skipped + dropped), outq, up);
}
