/* mqtt_inbound.c - what the MQTT adapter receives: telemetry messages
 * parsed into ingest batches and handed to the store by the flusher thread
 * (acknowledged to the broker only once committed), malformed ones to the
 * dead-letter topic, and command acks to their waiters. See mqtt_adapter.h
 * for the contract, mqtt_int.h for the state.
 */
#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/jsonfast.h"
#include "core/log.h"
#include "telemetry/ingest.h"
#include "telemetry/mqtt_int.h"
#include "telemetry/names.h"

#define LINGER_US 5000            /* a partial batch waits at most this */
#define MALFORMED_LOG_US 10000000 /* one log line per 10 s at most */

/* --- dead letters --------------------------------------------------------------- */

/* Republish a rejected payload with its reason (QoS 1; queued by the
 * library, so callable from any thread). */
static void dead_letter(ot_mqtt *m, const char *topic, const void *payload, size_t len,
                        const char *reason)
{
    char ts[OT_TS_BUFSZ];
    json_t *o = json_pack("{s:s, s:s, s:s}", "reason", reason, "topic", topic ? topic : "",
                          "received_at", ot_ts_format(ot_now_us(), ts));
    if (!o)
        return;
    json_t *text = len < INT_MAX ? json_stringn(payload ? payload : "", len) : NULL;
    if (text) {
        json_object_set_new(o, "payload", text);
    } else if (len < (size_t)INT_MAX / 2) { /* not UTF-8 */
        unsigned char *b64 = malloc(4 * ((len + 2) / 3) + 1);
        if (b64) {
            EVP_EncodeBlock(b64, payload, (int)len);
            json_object_set_new(o, "payload_base64", json_string((char *)b64));
            free(b64);
        }
    }
    char *s = ot_json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    int rc = mosquitto_publish(m->mosq, NULL, m->app->cfg.mqtt_deadletter_topic, (int)strlen(s), s,
                               1, false);
    free(s);
    mqtt_wake_net(m);
    if (rc == MOSQ_ERR_SUCCESS)
        atomic_fetch_add(&m->deadlettered, 1);
}

/* Count a rejected payload, log at most once per interval, dead-letter it. */
/* One log line for the payloads rejected since the last one, naming the
 * latest reason, when the interval has passed (or force). */
static void report_malformed(ot_mqtt *m, int64_t now)
{
    char topic[sizeof m->malformed_topic], reason[sizeof m->malformed_reason];
    unsigned long n = 0;
    pthread_mutex_lock(&m->mu);
    if (m->malformed_unlogged && now - m->malformed_logged_us >= MALFORMED_LOG_US) {
        n = m->malformed_unlogged;
        m->malformed_unlogged = 0;
        m->malformed_logged_us = now;
        memcpy(topic, m->malformed_topic, sizeof topic);
        memcpy(reason, m->malformed_reason, sizeof reason);
    }
    pthread_mutex_unlock(&m->mu);
    if (n)
        ot_log(OT_LOG_WARNING, "mqtt: rejected %lu payload%s since the last report (all "
               "republished to %s); the latest, on %s: %s", n, n == 1 ? "" : "s",
               m->app->cfg.mqtt_deadletter_topic, topic, reason);
}

/* Count a rejected payload, log at most once per interval, dead-letter it. */
static void malformed(ot_mqtt *m, const struct mosquitto_message *msg, const char *reason)
{
    atomic_fetch_add(&m->malformed, 1);
    pthread_mutex_lock(&m->mu);
    m->malformed_unlogged++;
    snprintf(m->malformed_topic, sizeof m->malformed_topic, "%s", msg->topic);
    snprintf(m->malformed_reason, sizeof m->malformed_reason, "%s", reason);
    pthread_mutex_unlock(&m->mu);
    report_malformed(m, ot_now_us()); /* the rest: the flusher, when the interval ends */
    dead_letter(m, msg->topic, msg->payload, (size_t)msg->payloadlen, reason);
}

/* --- batches to the store ---------------------------------------------------------- */

static void release_held(ot_mqtt *m, size_t n)
{
    pthread_mutex_lock(&m->mu);
    m->held -= (long)n;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Committed or failed. Writer thread. */
static void flight_done(ot_ingest_batch *b, void *ctx)
{
    struct flight *f = ctx;
    ot_mqtt *m = f->m;
    ot_error e;
    ot_error_clear(&e);
    if (ot_ingest_batch_rc(b, &e)) {
        char reason[OT_ERROR_MSG_MAX + 32];
        snprintf(reason, sizeof reason, "store write failed: %s", e.message);
        ot_log(OT_LOG_ERROR, "mqtt: %zu messages not stored (republished to %s): %s", f->n,
               m->app->cfg.mqtt_deadletter_topic, e.message);
        for (size_t i = 0; i < f->n; i++) {
            const ot_store_tel *t = ot_ingest_batch_tel(b, i);
            dead_letter(m, "", t->json, strlen(t->json), reason);
        }
        atomic_fetch_add(&m->store_failed, f->n);
    } else {
        unsigned long dups = 0;
        for (size_t i = 0; i < f->n; i++)
            dups += (unsigned long)ot_ingest_batch_tel(b, i)->duplicate;
        atomic_fetch_add(&m->stored, f->n - dups);
        atomic_fetch_add(&m->duplicates, dups);
    }
    json_decref(f->audit.details);
    ot_ingest_batch_free(b);
    size_t n = f->n;
    free(f);
    release_held(m, n);
}

/* Hand one batch to the store; a full queue is retried with backoff (what
 * was received is never dropped). Flusher thread. */
static void submit(ot_mqtt *m, ot_ingest_batch *b)
{
    size_t n = ot_ingest_batch_count(b);
    struct flight *f = calloc(1, sizeof *f);
    ot_store_write *w = f ? ot_ingest_batch_write(b) : NULL;
    int rc = OT_ENOMEM;
    if (w) {
        f->m = m;
        f->b = b;
        f->n = n;
        snprintf(f->target, sizeof f->target, "%zu telemetry items", n);
        f->audit.actor = m->client_id;
        f->audit.action = "MQTT telemetry";
        f->audit.target = f->target;
        f->audit.details = json_pack("{s:s, s:I}", "client_id", m->client_id, "items",
                                     (json_int_t)n);
        w->audit = &f->audit;
        long delay_us = 500;
        while ((rc = ot_ingest_batch_submit(b, flight_done, f)) == OT_EBUSY) {
            usleep((useconds_t)delay_us);
            if (delay_us < 100000)
                delay_us *= 2;
        }
        if (rc == 0)
            return;
    }
    ot_log(OT_LOG_ERROR, "mqtt: %zu messages could not be queued for the store (%s); "
           "republished to %s", n, rc == OT_ENOMEM ? "out of memory" : "store unavailable",
           m->app->cfg.mqtt_deadletter_topic);
    for (size_t i = 0; w && i < n; i++) {
        const ot_store_tel *t = ot_ingest_batch_tel(b, i);
        dead_letter(m, "", t->json, strlen(t->json), "the store is not accepting writes");
    }
    atomic_fetch_add(&m->store_failed, n);
    if (f)
        json_decref(f->audit.details);
    free(f);
    ot_ingest_batch_free(b);
    release_held(m, n);
}

void *mqtt_flusher_main(void *arg)
{
    ot_mqtt *m = arg;
    pthread_mutex_lock(&m->bmu);
    for (;;) {
        while (!m->flusher_stop && !(m->cur && m->flush_now)) {
            if (m->cur) {
                int64_t due = m->cur_started_us + LINGER_US;
                if (ot_now_us() >= due)
                    break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                long ns = ts.tv_nsec + (long)(due - ot_now_us()) * 1000;
                ts.tv_sec += ns / 1000000000;
                ts.tv_nsec = ns % 1000000000;
                pthread_cond_timedwait(&m->bcv, &m->bmu, &ts);
            } else {
                /* idle: wake each second to report rejected payloads */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&m->bcv, &m->bmu, &ts);
                pthread_mutex_unlock(&m->bmu);
                report_malformed(m, ot_now_us());
                pthread_mutex_lock(&m->bmu);
            }
        }
        ot_ingest_batch *b = m->cur;
        m->cur = NULL;
        m->flush_now = 0;
        if (!b && m->flusher_stop)
            break;
        pthread_mutex_unlock(&m->bmu);
        if (b && ot_ingest_batch_count(b) == 0)
            ot_ingest_batch_free(b); /* every message in it was rejected */
        else if (b)
            submit(m, b);
        pthread_mutex_lock(&m->bmu);
    }
    pthread_mutex_unlock(&m->bmu);
    return NULL;
}

/* --- messages ------------------------------------------------------------------------ */

/* The last two levels of a topic as twin_id and asset_id. */
static int topic_ids(const char *topic, char *twin, char *asset, size_t cap)
{
    const char *last = strrchr(topic, '/');
    if (!last || last == topic)
        return -1;
    const char *prev = last - 1;
    while (prev > topic && *prev != '/')
        prev--;
    if (*prev == '/')
        prev++;
    size_t tl = (size_t)(last - prev), al = strlen(last + 1);
    if (tl == 0 || al == 0 || tl >= cap || al >= cap)
        return -1;
    memcpy(twin, prev, tl);
    twin[tl] = '\0';
    memcpy(asset, last + 1, al + 1);
    return 0;
}

static void on_ack(ot_mqtt *m, const struct mosquitto_message *msg)
{
    const char *id = msg->topic + strlen(ACK_PREFIX);
    pthread_mutex_lock(&m->mu);
    for (struct waiter *w = m->waiters; w; w = w->next) {
        if (!w->done && strcmp(w->action_id, id) == 0) {
            w->payload = malloc((size_t)msg->payloadlen + 1);
            if (w->payload) {
                if (msg->payloadlen)
                    memcpy(w->payload, msg->payload, (size_t)msg->payloadlen);
                w->payload[msg->payloadlen] = '\0';
            }
            w->done = 1;
            pthread_cond_broadcast(&m->cv);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

/* Network thread. Returning lets libmosquitto send the PUBACK. */
void mqtt_on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg)
{
    ot_mqtt *m = ud;
    if (strncmp(msg->topic, ACK_PREFIX, strlen(ACK_PREFIX)) == 0) {
        on_ack(m, msg);
        return;
    }
    atomic_fetch_add(&m->received, 1);
    json_error_t jerr;
    json_t *doc = ot_json_loadb(msg->payload ? msg->payload : "", (size_t)msg->payloadlen,
                                JSON_REJECT_DUPLICATES, &jerr);
    char reason[OT_ERROR_MSG_MAX + OT_ERROR_PATH_MAX + 16];
    if (!doc) {
        ot_error err;
        ot_tel_json_error(&err, "$", "payload", msg->payload ? msg->payload : "",
                          (size_t)msg->payloadlen, &jerr, 1);
        malformed(m, msg, err.message);
        return;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        malformed(m, msg, "$: the payload must be a JSON object (a telemetry object or a bare "
                  "metrics object)");
        return;
    }
    ot_error err;
    ot_error_clear(&err);
    int64_t now = ot_now_us();
    int full = json_object_get(doc, "metrics") || json_object_get(doc, "twin_id");
    char twin[OT_TEL_ID_MAX], asset[OT_TEL_ID_MAX];
    if (!full && topic_ids(msg->topic, twin, asset, sizeof twin)) {
        json_decref(doc);
        malformed(m, msg, "a bare metrics object needs a topic ending in /{twin_id}/{asset_id}");
        return;
    }
    pthread_mutex_lock(&m->bmu);
    if (!m->cur) {
        m->cur = ot_ingest_batch_new(m->app, NULL, NULL);
        m->cur_started_us = now;
    }
    int rc = !m->cur ? ot_error_set(&err, OT_ENOMEM, "$", "out of memory")
             : full  ? ot_ingest_batch_add(m->cur, doc, "$", now, &err)
                     : ot_ingest_batch_add_bare(m->cur, doc, twin, asset, now, &err);
    size_t n = m->cur ? ot_ingest_batch_count(m->cur) : 0;
    /* flush when full, or when nothing more waits on the socket (checked on
     * the first message of a batch and every 32nd after, to spare a system
     * call per message; a stream that stops in between waits LINGER_US) */
    int avail = 0, ack_after = m->app->cfg.mqtt_ack_after_commit;
    if (rc >= 0 && (n >= (size_t)m->app->cfg.mqtt_batch ||
                    ((n == 1 || n % 32 == 0) &&
                     (ioctl(mosquitto_socket(mosq), FIONREAD, &avail) || avail == 0)))) {
        m->flush_now = 1;
        pthread_cond_signal(&m->bcv);
    } else if (rc >= 0 && n == 1) {
        pthread_cond_signal(&m->bcv); /* start the linger clock */
    }
    pthread_mutex_unlock(&m->bmu);
    json_decref(doc);
    if (rc < 0) {
        if (err.path[0] && !strstr(err.message, err.path))
            snprintf(reason, sizeof reason, "%s: %s", err.path, err.message);
        else
            snprintf(reason, sizeof reason, "%s", err.message);
        malformed(m, msg, reason);
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->held++;
    /* MQTT_ACK_AFTER_COMMIT: the PUBACK libmosquitto queued for this message
     * goes out only after the network thread saw it committed (net_round).
     * Otherwise bounded: past MQTT_MAX_INFLIGHT, stop reading until commits
     * catch up. */
    while (!ack_after && m->held >= m->app->cfg.mqtt_max_inflight && !m->stopping)
        pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
}
