/* mqtt_adapter.c - see mqtt_adapter.h: the connection and the network
 * thread, life, commands, health and metrics. Received messages are
 * mqtt_inbound.c's; the state both share is in mqtt_int.h. */
#include "telemetry/mqtt_adapter.h"

#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "aiw/events.h"
#include "api/app.h"
#include "api/metrics.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "telemetry/ingest.h"
#include "telemetry/mqtt_int.h"
#include "telemetry/names.h"

/* Wake the network thread: a packet was queued from another thread (its
 * poll does not watch libmosquitto's internal socket pair). */
void mqtt_wake_net(ot_mqtt *m)
{
    uint64_t one = 1;
    if (m->wake_fd >= 0 && write(m->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        ot_log(OT_LOG_DEBUG, "mqtt: cannot wake the network thread: %s", strerror(errno));
}

/* --- status --------------------------------------------------------------------- */

static void set_error(ot_mqtt *m, const char *fmt, const char *detail)
{
    pthread_mutex_lock(&m->mu);
    snprintf(m->last_error, sizeof m->last_error, fmt, detail);
    pthread_mutex_unlock(&m->mu);
}

const char *ot_mqtt_health(void *ctx, json_t *detail)
{
    ot_mqtt *m = ctx;
    char ts[OT_TS_BUFSZ], broker[300];
    snprintf(broker, sizeof broker, "%s:%d", m->url.host, m->url.port);
    pthread_mutex_lock(&m->mu);
    int up = m->connected;
    json_object_set_new(detail, "connected", json_boolean(up));
    json_object_set_new(detail, "broker", json_string(broker));
    json_object_set_new(detail, "client_id", json_string(m->client_id));
    json_object_set_new(detail, "since", json_string(ot_ts_format(m->since_us, ts)));
    if (!up)
        json_object_set_new(detail, "detail",
                            json_string(m->last_error[0] ? m->last_error : "connecting"));
    json_object_set_new(detail, "inflight", json_integer(m->held));
    pthread_mutex_unlock(&m->mu);
    json_object_set_new(detail, "received", json_integer((json_int_t)atomic_load(&m->received)));
    json_object_set_new(detail, "malformed", json_integer((json_int_t)atomic_load(&m->malformed)));
    return up ? "ok" : "degraded";
}

void ot_mqtt_metrics(void *ctx, ot_buf *out)
{
    ot_mqtt *m = ctx;
    pthread_mutex_lock(&m->mu);
    int up = m->connected;
    long held = m->held;
    pthread_mutex_unlock(&m->mu);
    ot_buf_printf(out,
                  "# HELP opstwin_mqtt_connected 1 while the MQTT broker connection is up.\n"
                  "# TYPE opstwin_mqtt_connected gauge\nopstwin_mqtt_connected %d\n"
                  "# HELP opstwin_mqtt_inflight MQTT messages received, not yet committed.\n"
                  "# TYPE opstwin_mqtt_inflight gauge\nopstwin_mqtt_inflight %ld\n"
                  "# HELP opstwin_mqtt_connects_total Successful broker connections.\n"
                  "# TYPE opstwin_mqtt_connects_total counter\nopstwin_mqtt_connects_total %lu\n",
                  up, held, atomic_load(&m->connects));
    ot_buf_printf(out,
                  "# HELP opstwin_mqtt_messages_total MQTT telemetry messages by outcome.\n"
                  "# TYPE opstwin_mqtt_messages_total counter\n"
                  "opstwin_mqtt_messages_total{outcome=\"received\"} %lu\n"
                  "opstwin_mqtt_messages_total{outcome=\"stored\"} %lu\n"
                  "opstwin_mqtt_messages_total{outcome=\"duplicate\"} %lu\n"
                  "opstwin_mqtt_messages_total{outcome=\"malformed\"} %lu\n"
                  "opstwin_mqtt_messages_total{outcome=\"store_failed\"} %lu\n"
                  "# HELP opstwin_mqtt_malformed_total MQTT payloads rejected (bad JSON, field or "
                  "schema).\n"
                  "# TYPE opstwin_mqtt_malformed_total counter\nopstwin_mqtt_malformed_total %lu\n"
                  "# HELP opstwin_mqtt_deadletter_total Messages republished to the dead-letter "
                  "topic.\n"
                  "# TYPE opstwin_mqtt_deadletter_total counter\nopstwin_mqtt_deadletter_total %lu\n",
                  atomic_load(&m->received), atomic_load(&m->stored),
                  atomic_load(&m->duplicates), atomic_load(&m->malformed),
                  atomic_load(&m->store_failed), atomic_load(&m->malformed),
                  atomic_load(&m->deadlettered));
    ot_buf_printf(out,
                  "# HELP opstwin_mqtt_commands_total MQTT action commands by outcome.\n"
                  "# TYPE opstwin_mqtt_commands_total counter\n"
                  "opstwin_mqtt_commands_total{outcome=\"sent\"} %lu\n"
                  "opstwin_mqtt_commands_total{outcome=\"acknowledged\"} %lu\n"
                  "opstwin_mqtt_commands_total{outcome=\"refused\"} %lu\n"
                  "opstwin_mqtt_commands_total{outcome=\"timeout\"} %lu\n",
                  atomic_load(&m->commands), atomic_load(&m->acks_ok),
                  atomic_load(&m->acks_failed), atomic_load(&m->ack_timeouts));
}

/* --- connection ---------------------------------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
    ot_mqtt *m = ud;
    if (rc) {
        set_error(m, "broker refused the connection: %s", mosquitto_connack_string(rc));
        ot_log(OT_LOG_WARNING, "mqtt: broker refused the connection: %s",
               mosquitto_connack_string(rc));
        return;
    }
    /* a persistent session keeps subscriptions, but the broker may have
     * lost it (restart without persistence): subscribe every time. The
     * adapter counts as connected once the broker has acknowledged them all
     * (on_subscribe): before that, a message published to the topics may
     * reach no subscription, and /health must not say ok yet. */
    m->sub_waiting = m->sub_refused = 0;
    for (int i = 0; i <= m->nsubs; i++) {
        const char *topic = i < m->nsubs ? m->subs[i] : ACK_PREFIX "+";
        int mid = 0, src = mosquitto_subscribe(mosq, &mid, topic, 1);
        if (src) { /* degraded until the next connection subscribes again */
            m->sub_refused = 1;
            set_error(m, "cannot subscribe: %s", mosquitto_strerror(src));
            ot_log(OT_LOG_ERROR, "mqtt: cannot subscribe to %s: %s", topic,
                   mosquitto_strerror(src));
        } else {
            m->sub_mid[m->sub_waiting++] = mid;
        }
    }
    atomic_fetch_add(&m->connects, 1);
    ot_log(OT_LOG_INFO, "mqtt: connected to %s:%d as %s; subscribing", m->url.host, m->url.port,
           m->client_id);
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int nqos, const int *qos)
{
    ot_mqtt *m = ud;
    (void)mosq;
    int i = 0;
    while (i < m->sub_waiting && m->sub_mid[i] != mid)
        i++;
    if (i == m->sub_waiting)
        return;
    m->sub_mid[i] = m->sub_mid[--m->sub_waiting];
    if (nqos < 1 || qos[0] == 0x80) {
        m->sub_refused = 1;
        set_error(m, "%s", "connected, but the broker refused a subscription (not authorized "
                  "for the topic?)");
        ot_log(OT_LOG_ERROR, "mqtt: the broker refused a subscription (message id %d)", mid);
    }
    if (m->sub_waiting > 0 || m->sub_refused)
        return;
    pthread_mutex_lock(&m->mu);
    m->connected = 1;
    m->since_us = ot_now_us();
    m->last_error[0] = '\0';
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    ot_log(OT_LOG_INFO, "mqtt: subscribed to %d topic%s on %s:%d", m->nsubs + 1,
           m->nsubs ? "s" : "", m->url.host, m->url.port);
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
    ot_mqtt *m = ud;
    (void)mosq;
    pthread_mutex_lock(&m->mu);
    int was = m->connected;
    m->connected = 0;
    if (was)
        m->since_us = ot_now_us();
    if (rc && strncmp(m->last_error, "broker refused", 14) != 0)
        snprintf(m->last_error, sizeof m->last_error, "connection lost: %s; reconnecting",
                 mosquitto_strerror(rc));
    pthread_mutex_unlock(&m->mu);
    if (was && rc)
        ot_log(OT_LOG_WARNING, "mqtt: lost the broker connection (%s); reconnecting with backoff",
               mosquitto_strerror(rc));
}

static void on_log(struct mosquitto *mosq, void *ud, int level, const char *str)
{
    (void)mosq;
    ot_mqtt *m = ud;
    if (level == MOSQ_LOG_ERR || level == MOSQ_LOG_WARNING) {
        set_error(m, "%s", str);
        ot_log(OT_LOG_DEBUG, "mqtt: %s", str);
    }
}

/* --- life ---------------------------------------------------------------------------- */

static int parse_topics(ot_mqtt *m, const ot_config *cfg, ot_error *err)
{
    char tmp[OT_CFG_STR];
    snprintf(tmp, sizeof tmp, "%s", cfg->mqtt_topics);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ')
            t[--l] = '\0';
        if (!l)
            continue;
        if (m->nsubs == MAX_TOPICS)
            return ot_error_set(err, OT_EINVAL, "MQTT_TOPICS", "MQTT_TOPICS: at most %d topics",
                                MAX_TOPICS);
        if (mosquitto_sub_topic_check(t) != MOSQ_ERR_SUCCESS ||
            strncmp(t, ACK_PREFIX, strlen(ACK_PREFIX)) == 0)
            return ot_error_set(err, OT_EINVAL, "MQTT_TOPICS",
                                "MQTT_TOPICS: '%s' is not a valid subscription topic", t);
        if (cfg->mqtt_share_group[0])
            snprintf(m->subs[m->nsubs++], sizeof m->subs[0], "$share/%s/%s",
                     cfg->mqtt_share_group, t);
        else
            snprintf(m->subs[m->nsubs++], sizeof m->subs[0], "%s", t);
    }
    if (m->nsubs == 0)
        return ot_error_set(err, OT_EINVAL, "MQTT_TOPICS", "MQTT_TOPICS names no topic");
    if (cfg->mqtt_share_group[0] && strpbrk(cfg->mqtt_share_group, "/+#"))
        return ot_error_set(err, OT_EINVAL, "MQTT_SHARE_GROUP",
                            "MQTT_SHARE_GROUP must not contain '/', '+' or '#'");
    if (mosquitto_pub_topic_check(cfg->mqtt_deadletter_topic) != MOSQ_ERR_SUCCESS)
        return ot_error_set(err, OT_EINVAL, "MQTT_DEADLETTER_TOPIC",
                            "MQTT_DEADLETTER_TOPIC: '%s' is not a valid topic to publish to",
                            cfg->mqtt_deadletter_topic);
    return 0;
}

/* A stable id: the same host and data folder reconnect to the same session. */
static void default_client_id(const ot_config *cfg, char *out, size_t cap)
{
    char host[256] = "", dir[PATH_MAX], key[PATH_MAX + 300];
    gethostname(host, sizeof host - 1);
    if (!realpath(cfg->data_dir, dir))
        snprintf(dir, sizeof dir, "%s", cfg->data_dir);
    snprintf(key, sizeof key, "%s|%s", host, dir);
    snprintf(out, cap, "opstwin-%016llx", (unsigned long long)ot_hash_str(key));
}

int ot_mqtt_new(ot_app *app, ot_mqtt **out, ot_error *err)
{
    *out = NULL;
    const ot_config *cfg = &app->cfg;
    if (!cfg->mqtt_url[0])
        return 0;
    ot_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    m->app = app;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_mutex_init(&m->bmu, NULL);
    pthread_cond_init(&m->bcv, NULL);
    m->since_us = ot_now_us();
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->wake_fd < 0) {
        ot_error_set(err, OT_EIO, NULL, "cannot create an eventfd: %s", strerror(errno));
        goto fail;
    }
    if (ot_mqtt_url_parse(cfg->mqtt_url, &m->url, err) || parse_topics(m, cfg, err))
        goto fail;
    if (cfg->mqtt_client_id[0]) {
        if (strlen(cfg->mqtt_client_id) >= sizeof m->client_id) {
            ot_error_set(err, OT_EINVAL, "MQTT_CLIENT_ID", "MQTT_CLIENT_ID: at most %zu bytes",
                         sizeof m->client_id - 1);
            goto fail;
        }
        memcpy(m->client_id, cfg->mqtt_client_id, strlen(cfg->mqtt_client_id) + 1);
    } else {
        default_client_id(cfg, m->client_id, sizeof m->client_id);
    }
    mosquitto_lib_init();
    m->lib_inited = 1;
    m->mosq = mosquitto_new(m->client_id, false, m);
    if (!m->mosq) {
        ot_error_set(err, OT_ENOMEM, "MQTT_URL", "cannot create the MQTT client: %s",
                     strerror(errno));
        goto fail;
    }
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(m->mosq, 1000);
    const char *user = cfg->mqtt_username[0] ? cfg->mqtt_username : m->url.user;
    const char *pass = cfg->mqtt_password[0] ? cfg->mqtt_password : m->url.pass;
    if (user[0] && mosquitto_username_pw_set(m->mosq, user, pass[0] ? pass : NULL)) {
        ot_error_set(err, OT_EINVAL, "MQTT_USERNAME", "MQTT user name or password refused");
        goto fail;
    }
    if (m->url.tls) {
        const char *ca = cfg->mqtt_ca_file[0] ? cfg->mqtt_ca_file : NULL;
        if (!ca)
            mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        int rc = mosquitto_tls_set(m->mosq, ca, ca ? NULL : "/etc/ssl/certs",
                                   cfg->mqtt_cert_file[0] ? cfg->mqtt_cert_file : NULL,
                                   cfg->mqtt_key_file[0] ? cfg->mqtt_key_file : NULL, NULL);
        if (rc) {
            ot_error_set(err, OT_EINVAL, "MQTT_CA_FILE", "MQTT TLS settings refused (CA %s, "
                         "certificate %s, key %s): %s", ca ? ca : "system",
                         cfg->mqtt_cert_file[0] ? cfg->mqtt_cert_file : "none",
                         cfg->mqtt_key_file[0] ? cfg->mqtt_key_file : "none",
                         mosquitto_strerror(rc));
            goto fail;
        }
        if (cfg->mqtt_tls_insecure)
            mosquitto_tls_insecure_set(m->mosq, true);
    } else if (cfg->mqtt_ca_file[0] || cfg->mqtt_cert_file[0] || cfg->mqtt_key_file[0]) {
        ot_error_set(err, OT_EINVAL, "MQTT_URL", "MQTT TLS files are set but MQTT_URL is not "
                     "mqtts://");
        goto fail;
    }
    mosquitto_threaded_set(m->mosq, true); /* our network thread: see net_main */
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_message_callback_set(m->mosq, mqtt_on_message);
    mosquitto_log_callback_set(m->mosq, on_log);
    *out = m;
    return 0;
fail:
    ot_mqtt_free(m);
    return err->code ? err->code : OT_EINVAL;
}

/* Wait up to seconds unless stopping; returns 1 when stopping. */
static int backoff(ot_mqtt *m, int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0)
        ;
    int stop = m->stopping;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

static int is_stopping(ot_mqtt *m)
{
    pthread_mutex_lock(&m->mu);
    int stop = m->stopping;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

static void connect_failed(ot_mqtt *m, int rc, int delay)
{
    char why[200];
    snprintf(why, sizeof why, "%s", rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    pthread_mutex_lock(&m->mu);
    /* a TLS failure was described by the library's log (on_log); keep that */
    if (rc != MOSQ_ERR_TLS || !m->last_error[0])
        snprintf(m->last_error, sizeof m->last_error, "cannot connect: %s; retrying in %d s", why,
                 delay);
    pthread_mutex_unlock(&m->mu);
    ot_log(OT_LOG_DEBUG, "mqtt: cannot connect to %s:%d (%s); retrying in %d s", m->url.host,
           m->url.port, why, delay);
}

/* mosquitto_loop_read handles one packet per call: read on while the
 * socket holds more (at most max packets). */
static int read_waiting(ot_mqtt *m, int max)
{
    int rc = MOSQ_ERR_SUCCESS, avail = 0;
    for (int i = 0; rc == MOSQ_ERR_SUCCESS && i < max; i++) {
        int fd = mosquitto_socket(m->mosq);
        if (fd < 0 || ioctl(fd, FIONREAD, &avail) != 0 || avail == 0)
            break;
        rc = mosquitto_loop_read(m->mosq, 1);
    }
    return rc;
}

/* One round with MQTT_ACK_AFTER_COMMIT=false: libmosquitto's own loop
 * (PUBACKs leave when written, whether committed or not); under load read
 * what is already waiting first, so the PUBACKs queued meanwhile go out
 * together in the next round. */
static int net_round_on_receipt(ot_mqtt *m)
{
    int rc = mosquitto_loop(m->mosq, 1000, 1);
    return rc == MOSQ_ERR_SUCCESS ? read_waiting(m, 256) : rc;
}

/* One round of the network thread when acknowledgements follow commits
 * (MQTT_ACK_AFTER_COMMIT). mosquitto_loop would read new messages and then
 * write every queued packet in the same call - the new messages' PUBACKs
 * included - so this reads, waits until everything read is committed (or
 * dead-lettered), and only then writes: a PUBACK never leaves before its
 * message is durable, and one commit acknowledges a whole burst. */
static int net_round(ot_mqtt *m)
{
    int fd = mosquitto_socket(m->mosq);
    if (fd < 0)
        return MOSQ_ERR_NO_CONN;
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = m->wake_fd, .events = POLLIN}};
    if (mosquitto_want_write(m->mosq))
        p[0].events |= POLLOUT;
    if (poll(p, 2, 1000) < 0)
        return errno == EINTR ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ERRNO;
    if (p[1].revents & POLLIN) {
        uint64_t v;
        if (read(m->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
            return MOSQ_ERR_ERRNO;
    }
    int rc = MOSQ_ERR_SUCCESS;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        rc = mosquitto_loop_read(m->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = read_waiting(m, 1024);
    }
    pthread_mutex_lock(&m->mu);
    long held = m->held;
    pthread_mutex_unlock(&m->mu);
    if (held > 0) {
        pthread_mutex_lock(&m->bmu);
        m->flush_now = 1;
        pthread_cond_signal(&m->bcv);
        pthread_mutex_unlock(&m->bmu);
        /* even while stopping: the store still runs until we are done */
        pthread_mutex_lock(&m->mu);
        while (m->held > 0)
            pthread_cond_wait(&m->cv, &m->mu);
        pthread_mutex_unlock(&m->mu);
    }
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq))
        rc = mosquitto_loop_write(m->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_misc(m->mosq);
    return rc;
}

/* The one network thread. Like mosquitto_loop_forever, but every error -
 * including a first connection that fails, TLS, DNS and authentication
 * errors, on which loop_forever (hence mosquitto_loop_start's thread) gives
 * up for good - is retried with backoff (1 s doubling to 30 s). With
 * mosquitto_threaded_set(true) the library queues outgoing packets (PUBACKs
 * included) for this thread to write after the callback returns, exactly as
 * under mosquitto_loop_start. */
static void *net_main(void *arg)
{
    ot_mqtt *m = arg;
    int delay = 1;
    int rc = mosquitto_connect(m->mosq, m->url.host, m->url.port, 30);
    int ack_after = m->app->cfg.mqtt_ack_after_commit;
    while (!is_stopping(m)) {
        if (rc == MOSQ_ERR_SUCCESS) {
            rc = ack_after ? net_round(m) : net_round_on_receipt(m);
            if (rc == MOSQ_ERR_SUCCESS) {
                pthread_mutex_lock(&m->mu);
                if (m->connected)
                    delay = 1;
                pthread_mutex_unlock(&m->mu);
                continue;
            }
            if (is_stopping(m))
                break;
        } else {
            connect_failed(m, rc, delay);
        }
        if (backoff(m, delay))
            break;
        delay = delay < 16 ? delay * 2 : 30;
        rc = mosquitto_reconnect(m->mosq);
    }
    return NULL;
}

int ot_mqtt_start(ot_mqtt *m, ot_error *err)
{
    if (!m)
        return 0;
    if (pthread_create(&m->flusher, NULL, mqtt_flusher_main, m))
        return ot_error_set(err, OT_EIO, NULL, "cannot start the MQTT flusher thread");
    pthread_setname_np(m->flusher, "mqtt-flush");
    m->flusher_started = 1;
    if (pthread_create(&m->net, NULL, net_main, m))
        return ot_error_set(err, OT_EIO, NULL, "cannot start the MQTT network thread");
    pthread_setname_np(m->net, "mqtt-net");
    m->started = 1;
    ot_app_add_health(m->app, "mqtt", ot_mqtt_health, m);
    ot_metrics_add_source(m->app->metrics, ot_mqtt_metrics, m);
    return 0;
}

void ot_mqtt_stop(ot_mqtt *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    int already = m->stopping;
    m->stopping = 1;
    pthread_cond_broadcast(&m->cv); /* wakes a network thread held back and command waiters */
    pthread_mutex_unlock(&m->mu);
    if (already)
        return;
    if (m->started) {
        mosquitto_disconnect(m->mosq); /* queued; the network thread sends it and ends */
        mqtt_wake_net(m);
        pthread_join(m->net, NULL);
        m->started = 0;
    }
    if (m->flusher_started) {
        pthread_mutex_lock(&m->bmu);
        m->flusher_stop = 1;
        m->flush_now = 1;
        pthread_cond_signal(&m->bcv);
        pthread_mutex_unlock(&m->bmu);
        pthread_join(m->flusher, NULL);
        m->flusher_started = 0;
    }
    /* everything received is committed (or dead-lettered) before we return */
    pthread_mutex_lock(&m->mu);
    while (m->held > 0)
        pthread_cond_wait(&m->cv, &m->mu);
    m->connected = 0;
    pthread_mutex_unlock(&m->mu);
}

void ot_mqtt_free(ot_mqtt *m)
{
    if (!m)
        return;
    ot_mqtt_stop(m);
    ot_ingest_batch_free(m->cur);
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    if (m->lib_inited)
        mosquitto_lib_cleanup();
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->bmu);
    pthread_cond_destroy(&m->bcv);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    free(m);
}

/* --- commands ------------------------------------------------------------------------ */

static void deadline_ts(int64_t deadline_us, struct timespec *ts)
{
    int64_t wall = deadline_us - ot_mono_ns() / 1000 + ot_now_us();
    ts->tv_sec = (time_t)(wall / 1000000);
    ts->tv_nsec = (long)(wall % 1000000) * 1000;
}

static void unlink_waiter(ot_mqtt *m, struct waiter *w)
{
    for (struct waiter **p = &m->waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
}

int ot_mqtt_command(ot_mqtt *m, const char *twin_id, const char *target, const char *action_id,
                    const char *payload, int timeout_ms, ot_error *err)
{
    if (!twin_id || !ot_name_valid(twin_id, 128))
        return ot_error_set(err, OT_EINVAL, "$.twin_id", "the action's twin_id cannot be a topic "
                            "level");
    if (!target || !ot_name_valid(target, 128))
        return ot_error_set(err, OT_EINVAL, "$.target", "the action's target cannot be a topic "
                            "level");
    if (!action_id || !ot_name_valid(action_id, 128))
        return ot_error_set(err, OT_EINVAL, "$.action_id", "the action has no usable action_id");
    char topic[300];
    snprintf(topic, sizeof topic, "opstwin/cmd/%s/%s", twin_id, target);
    struct waiter w = {.done = 0};
    snprintf(w.action_id, sizeof w.action_id, "%s", action_id);
    int64_t deadline = ot_mono_ns() / 1000 + (int64_t)timeout_ms * 1000;
    struct timespec ts;
    deadline_ts(deadline, &ts);
    pthread_mutex_lock(&m->mu);
    if (m->stopping) {
        pthread_mutex_unlock(&m->mu);
        return ot_error_set(err, OT_EUNAVAIL, NULL, "the MQTT adapter is stopping");
    }
    w.next = m->waiters;
    m->waiters = &w; /* before publishing: the ack may come back at once */
    while (!m->connected && !m->stopping && ot_mono_ns() / 1000 < deadline)
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    int connected = m->connected;
    char why[256];
    snprintf(why, sizeof why, "%s", m->last_error[0] ? m->last_error : "connecting");
    pthread_mutex_unlock(&m->mu);
    int rc = 0;
    if (!connected) {
        rc = ot_error_set(err, OT_EUNAVAIL, NULL, "no acknowledgement on " ACK_PREFIX "%s within "
                          "%d ms: not connected to the MQTT broker (%s)", action_id, timeout_ms,
                          why);
        goto out;
    }
    int prc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, 1, false);
    mqtt_wake_net(m);
    if (prc) {
        rc = ot_error_set(err, OT_EUNAVAIL, NULL, "cannot publish the command to %s: %s", topic,
                          mosquitto_strerror(prc));
        goto out;
    }
    atomic_fetch_add(&m->commands, 1);
    pthread_mutex_lock(&m->mu);
    while (!w.done && !m->stopping && ot_mono_ns() / 1000 < deadline)
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    pthread_mutex_unlock(&m->mu);
    if (!w.done) {
        atomic_fetch_add(&m->ack_timeouts, 1);
        if (ot_mono_ns() / 1000 < deadline) /* woken by ot_mqtt_stop */
            rc = ot_error_set(err, OT_EUNAVAIL, NULL, "the server stopped before an "
                              "acknowledgement on " ACK_PREFIX "%s", action_id);
        else
            rc = ot_error_set(err, OT_EUNAVAIL, NULL, "no acknowledgement on " ACK_PREFIX "%s "
                              "within %d ms", action_id, timeout_ms);
        goto out;
    }
    json_t *ack = w.payload ? json_loads(w.payload, 0, NULL) : NULL;
    json_t *ok = json_object_get(ack, "ok");
    if (json_is_false(ok)) {
        const char *e = json_string_value(json_object_get(ack, "error"));
        rc = ot_error_set(err, OT_EUNAVAIL, NULL, "%s",
                          e ? e : "the device acknowledged with ok: false");
        atomic_fetch_add(&m->acks_failed, 1);
    } else {
        atomic_fetch_add(&m->acks_ok, 1);
    }
    json_decref(ack);
out:
    pthread_mutex_lock(&m->mu);
    unlink_waiter(m, &w);
    pthread_mutex_unlock(&m->mu);
    free(w.payload);
    return rc;
}
