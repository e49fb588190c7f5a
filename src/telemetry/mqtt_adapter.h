/* mqtt_adapter.h - the MQTT sensor adapter and the MQTT command target
 * (libmosquitto), on one broker connection.
 *
 * Sensor adapter: subscribes (QoS 1) to MQTT_TOPICS (default
 * opstwin/telemetry/+/+, i.e. opstwin/telemetry/{twin_id}/{asset_id}),
 * optionally as $share/MQTT_SHARE_GROUP/<topic>. A payload is a telemetry
 * object ({twin_id, asset_id, metrics, ...}) or a bare metrics object
 * ({"temp_c": 21.5}) whose twin_id and asset_id are the topic's last two
 * levels. Each goes through the HTTP ingest path (ingest.h: normalize with
 * the twin's profile, registry schema check, idempotent event_id, one store
 * write per batch, detection fed after the commit). A payload that fails
 * (bad JSON, bad field, schema) is counted, logged at most once per 10 s
 * with the count and the latest reason (the first one at once), and
 * republished to MQTT_DEADLETTER_TOPIC as
 * {"reason","topic","payload"|"payload_base64","received_at"}.
 *
 * Threads: one network thread drives the connection (mosquitto_threaded_set;
 * poll, mosquitto_loop_read, mosquitto_loop_write, mosquitto_loop_misc - or
 * mosquitto_loop when MQTT_ACK_AFTER_COMMIT=false - retrying every failure,
 * where loop_start's loop_forever gives up for good when the first
 * connection fails or on TLS, DNS or authentication errors). It
 * parses and normalizes each message into the current batch; one flusher
 * thread hands full batches (MQTT_BATCH messages, or whatever arrived when
 * the socket goes idle, or after 5 ms) to the store asynchronously, many in
 * flight, so the store's group commit sees large groups. The broker's
 * in-flight window bounds what is received and not yet acknowledged (and
 * with MQTT_ACK_AFTER_COMMIT=false, MQTT_MAX_INFLIGHT bounds what is not
 * yet committed: beyond it the network thread waits, TCP pushes back, and
 * the broker keeps the rest queued). A full store queue is
 * retried with backoff, never dropped; a failed store write republishes the
 * records' canonical JSON to the dead-letter topic with the reason.
 *
 * Session: clean_session=false with a stable client id (MQTT_CLIENT_ID, or
 * one derived from the host name and DATA_DIR), so the broker queues QoS 1
 * messages while OpsTwin is away and delivers them on reconnect.
 * Reconnects back off from 1 s doubling to 30 s and resubscribe in
 * on_connect. /health "mqtt": ok once connected and every subscription is
 * acknowledged (SUBACK; a message published before that may reach no
 * subscription), degraded (with the last error and since when) otherwise,
 * including when the broker refuses a subscription.
 *
 * Delivery (libmosquitto 2.0.11, lib/handle_publish.c): for QoS 1 the PUBACK
 * is queued before on_message runs, and mosquitto_loop would write it right
 * after reading. By default (MQTT_ACK_AFTER_COMMIT=true) the network thread
 * reads what the socket holds, waits until all of it is committed or
 * dead-lettered, and only then writes the queued packets: a PUBACK never
 * leaves before its message is durable, so kill -9 or power loss loses
 * nothing (the broker redelivers the rest). With false, a message PUBACKed
 * but not yet committed (at most MQTT_MAX_INFLIGHT) can be lost that way. A
 * clean stop (SIGTERM) disconnects first and commits everything received.
 * Packets queued from other threads (dead letters, commands) wake the
 * network thread through an eventfd. See the README's "MQTT delivery
 * guarantees".
 *
 * Command target: ot_mqtt_command publishes an action (QoS 1) to
 * opstwin/cmd/{twin_id}/{target} and waits for a message on
 * opstwin/ack/{action_id}; the connection subscribes to opstwin/ack/+.
 */
#ifndef OT_TELEMETRY_MQTT_ADAPTER_H
#define OT_TELEMETRY_MQTT_ADAPTER_H

#include <jansson.h>

#include "core/error.h"

struct ot_app;
struct ot_buf;
typedef struct ot_mqtt ot_mqtt;

/* Check the settings and create the client (no connection yet). With
 * MQTT_URL empty: 0 and *out = NULL. A bad URL or option: OT_EINVAL naming it. */
int ot_mqtt_new(struct ot_app *app, ot_mqtt **out, ot_error *err);

/* Connect (in the background: a broker that is away is retried, never an
 * error) and start the threads; registers the "mqtt" health component and
 * the metrics. Call after the store and the pipeline are up. */
int ot_mqtt_start(ot_mqtt *m, ot_error *err);

/* Disconnect (the session keeps what the broker has not delivered), stop
 * the threads, and wait until every received message is committed (or
 * dead-lettered). Command waiters fail. Safe on NULL and twice. */
void ot_mqtt_stop(ot_mqtt *m);
void ot_mqtt_free(ot_mqtt *m);

/* Publish payload (QoS 1) to opstwin/cmd/{twin_id}/{target} and wait up to
 * timeout_ms (including any wait for the connection) for a message on
 * opstwin/ack/{action_id}. 0: acknowledged. OT_EUNAVAIL: no
 * acknowledgement in time (the message says so), not connected, or the
 * ack says {"ok": false, "error": "..."} (err carries that error). Blocks
 * the calling thread at most timeout_ms. Thread-safe. */
int ot_mqtt_command(ot_mqtt *m, const char *twin_id, const char *target, const char *action_id,
                    const char *payload, int timeout_ms, ot_error *err);

/* /health probe and Prometheus lines. */
const char *ot_mqtt_health(void *m, json_t *detail);
void ot_mqtt_metrics(void *m, struct ot_buf *out);

/* Parse mqtt://[user[:pass]@]host[:port][/] or mqtts://...; user and pass
 * are percent-decoded. Default port 1883, or 8883 for mqtts. 0 or OT_EINVAL. */
typedef struct ot_mqtt_url {
    int tls;
    char host[256];
    int port;
    char user[256];
    char pass[256];
} ot_mqtt_url;
int ot_mqtt_url_parse(const char *url, ot_mqtt_url *out, ot_error *err);

#endif
