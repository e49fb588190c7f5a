/* The MQTT sensor adapter and command target against a real Mosquitto:
 * the shared broker of OPSTWIN_TEST_MQTT_URL (each test uses its own topics
 * and twins), or a private one on a free port for the tests that stop the
 * broker. The test side talks MQTT through libmosquitto. */
#include <criterion/criterion.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "../test_env.h"

/* --- the broker -------------------------------------------------------------- */

/* The shared broker's host and port; a missing variable fails the test
 * (skips it only with OPSTWIN_TEST_ALLOW_MISSING=1). */
static void shared_broker(char *host, size_t cap, int *port)
{
    const char *url = ot_test_service("OPSTWIN_TEST_MQTT_URL");
    char h[256];
    cr_assert_eq(sscanf(url, "mqtt://%255[^:]:%d", h, port), 2, "bad OPSTWIN_TEST_MQTT_URL %s",
                 url);
    snprintf(host, cap, "%s", h);
}

typedef struct broker {
    pid_t pid;
    int port;
    char dir[128];
    char extra[1024];    /* more configuration lines for the listener */
    int tls;             /* the listener speaks TLS: probe with a plain socket */
} broker;

/* The private broker of the running test (one per test, static: .fini runs after the test's stack is gone), stopped by
 * stop_private_broker (the tests' .fini) even when an assertion fails. */
static broker *g_private;

static const char *mosquitto_bin(void)
{
    return access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "mosquitto";
}

static int port_open(int port)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "exec 3<>/dev/tcp/127.0.0.1/%d", port);
    const char *argv[] = {"/bin/bash", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    int rc = bb_run(argv, "/tmp", NULL, &out, &err);
    free(out);
    free(err);
    return rc == 0;
}

/* A private broker (no persistence) on a free port, or on b->port again. */
static void broker_start(broker *b)
{
    if (!b->dir[0]) {
        snprintf(b->dir, sizeof b->dir, "/tmp/opstwin-bbmqtt.XXXXXX");
        cr_assert(mkdtemp(b->dir));
        b->port = bb_free_port();
    }
    chmod(b->dir, 0755); /* mosquitto started as root reads it as user mosquitto */
    char conf[256];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", b->dir);
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f, "listener %d 127.0.0.1\n%s\npersistence false\nmax_queued_messages 100000\n",
            b->port, b->extra[0] ? b->extra : "allow_anonymous true");
    fclose(f);
    g_private = b;
    b->pid = fork();
    if (b->pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp(mosquitto_bin(), "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !port_open(b->port); i++)
        usleep(50000);
    cr_assert(port_open(b->port), "private mosquitto did not start on port %d", b->port);
}

static void broker_stop(broker *b, int remove);

static void stop_private_broker(void)
{
    if (g_private)
        broker_stop(g_private, 1);
}

static void broker_stop(broker *b, int remove)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
    if (remove && b->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", b->dir);
        if (system(cmd)) {
        }
        b->dir[0] = '\0';
    }
}

/* --- the test's own MQTT client ----------------------------------------------------- */

#define MAXMSG 256

typedef struct tclient {
    struct mosquitto *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int connected, subacks, pubacks;
    struct { char topic[256]; char *payload; } msg[MAXMSG];
    int nmsg;
    const char *ack_reply; /* answer commands on opstwin/cmd/... with this, or NULL */
} tclient;

static void tc_on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)m;
    tclient *c = ud;
    pthread_mutex_lock(&c->mu);
    c->connected = rc == 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void tc_on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *q)
{
    (void)m, (void)mid, (void)n, (void)q;
    tclient *c = ud;
    pthread_mutex_lock(&c->mu);
    c->subacks++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void tc_on_publish(struct mosquitto *m, void *ud, int mid)
{
    (void)m, (void)mid;
    tclient *c = ud;
    pthread_mutex_lock(&c->mu);
    c->pubacks++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void tc_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    tclient *c = ud;
    if (c->ack_reply && strncmp(msg->topic, "opstwin/cmd/", 12) == 0) {
        json_t *cmd = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
        const char *id = json_string_value(json_object_get(cmd, "action_id"));
        if (id) {
            char topic[200];
            snprintf(topic, sizeof topic, "opstwin/ack/%s", id);
            mosquitto_publish(m, NULL, topic, (int)strlen(c->ack_reply), c->ack_reply, 1, false);
        }
        json_decref(cmd);
    }
    pthread_mutex_lock(&c->mu);
    if (c->nmsg < MAXMSG) {
        snprintf(c->msg[c->nmsg].topic, sizeof c->msg[0].topic, "%s", msg->topic);
        c->msg[c->nmsg].payload = strndup(msg->payload ? msg->payload : "",
                                          (size_t)msg->payloadlen);
        c->nmsg++;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int wait_until(tclient *c, int *field, int value, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)seconds;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (*field < value && rc == 0)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    int ok = *field >= value;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Connect (optionally with TLS trusting cafile, and credentials). */
static void tc_open_with(tclient *c, const char *host, int port, const char *cafile,
                         const char *user, const char *pass)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->m = mosquitto_new(NULL, true, c);
    cr_assert(c->m);
    if (cafile)
        cr_assert_eq(mosquitto_tls_set(c->m, cafile, NULL, NULL, NULL, NULL), MOSQ_ERR_SUCCESS);
    if (user)
        mosquitto_username_pw_set(c->m, user, pass);
    mosquitto_connect_callback_set(c->m, tc_on_connect);
    mosquitto_subscribe_callback_set(c->m, tc_on_subscribe);
    mosquitto_publish_callback_set(c->m, tc_on_publish);
    mosquitto_message_callback_set(c->m, tc_on_message);
    mosquitto_max_inflight_messages_set(c->m, 0);
    cr_assert_eq(mosquitto_connect(c->m, host, port, 30), MOSQ_ERR_SUCCESS,
                 "test client cannot connect to %s:%d", host, port);
    mosquitto_loop_start(c->m);
    cr_assert(wait_until(c, &c->connected, 1, 10), "test client: no CONNACK");
}

static void tc_open(tclient *c, const char *host, int port)
{
    tc_open_with(c, host, port, NULL, NULL, NULL);
}

static void tc_subscribe(tclient *c, const char *topic)
{
    pthread_mutex_lock(&c->mu);
    int want = c->subacks + 1;
    pthread_mutex_unlock(&c->mu);
    cr_assert_eq(mosquitto_subscribe(c->m, NULL, topic, 1), MOSQ_ERR_SUCCESS);
    cr_assert(wait_until(c, &c->subacks, want, 10), "no SUBACK for %s", topic);
}

/* Publish QoS 1 and wait for the broker's PUBACK. */
static void tc_publish(tclient *c, const char *topic, const char *payload)
{
    pthread_mutex_lock(&c->mu);
    int want = c->pubacks + 1;
    pthread_mutex_unlock(&c->mu);
    cr_assert_eq(mosquitto_publish(c->m, NULL, topic, (int)strlen(payload), payload, 1, false),
                 MOSQ_ERR_SUCCESS);
    cr_assert(wait_until(c, &c->pubacks, want, 10), "no PUBACK for %s", topic);
}

static void tc_close(tclient *c)
{
    mosquitto_disconnect(c->m);
    mosquitto_loop_stop(c->m, false);
    mosquitto_destroy(c->m);
    for (int i = 0; i < c->nmsg; i++)
        free(c->msg[i].payload);
}

/* --- server helpers ------------------------------------------------------------------ */

/* extra_env: NULL, or settings "K=V" separated by spaces */
static void start_server(bb_server *s, const char *host, int port, const char *topics,
                         const char *extra_env, const char *dir)
{
    char url[300], t[300], dl[300], extra[300];
    snprintf(url, sizeof url, "MQTT_URL=mqtt://%s:%d", host, port);
    snprintf(t, sizeof t, "MQTT_TOPICS=%s/telemetry/+/+", topics);
    snprintf(dl, sizeof dl, "MQTT_DEADLETTER_TOPIC=%s/deadletter", topics);
    const char *env[8] = {url, t, dl};
    int n = 3;
    snprintf(extra, sizeof extra, "%s", extra_env ? extra_env : "");
    for (char *save = NULL, *k = strtok_r(extra, " ", &save); k && n < 7;
         k = strtok_r(NULL, " ", &save))
        env[n++] = k;
    env[n] = NULL;
    bb_start(s, NULL, env, dir);
}

static int query_count(const bb_server *s, const char *twin)
{
    bb_resp r;
    char path[256];
    snprintf(path, sizeof path, "/telemetry/query?twin_id=%s&limit=10000", twin);
    bb_http(s, "GET", path, NULL, NULL, &r);
    int n = r.status == 200 ? (int)json_integer_value(json_object_get(r.json, "count")) : -1;
    bb_resp_free(&r);
    return n;
}

static int wait_count(const bb_server *s, const char *twin, int n, double seconds)
{
    int got = -1;
    for (int i = 0; i < (int)(seconds * 20); i++) {
        got = query_count(s, twin);
        if (got >= n)
            return got;
        usleep(50000);
    }
    return got;
}

static const char *mqtt_status(const bb_server *s, char *detail, size_t cap)
{
    static char st[32];
    bb_resp r;
    bb_http(s, "GET", "/health", NULL, NULL, &r);
    json_t *c = json_object_get(json_object_get(r.json, "components"), "mqtt");
    snprintf(st, sizeof st, "%s", json_string_value(json_object_get(c, "status")) ?: "missing");
    if (detail)
        snprintf(detail, cap, "%s", json_string_value(json_object_get(c, "detail")) ?: "");
    bb_resp_free(&r);
    return st;
}

static int wait_status(const bb_server *s, const char *want, double seconds)
{
    for (int i = 0; i < (int)(seconds * 10); i++) {
        if (strcmp(mqtt_status(s, NULL, 0), want) == 0)
            return 1;
        usleep(100000);
    }
    return 0;
}

/* A unique prefix per test, so tests share the broker without crosstalk. */
static void unique(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "%s%d%ld", what, (int)getpid(), (long)(time(NULL) % 100000));
}

/* --- telemetry ----------------------------------------------------------------------- */

Test(mqtt, telemetry_object_and_bare_metrics_are_stored_and_appended, .timeout = 90)
{
    char host[256], pre[64], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(pre, sizeof pre, "t");
    unique(twin, sizeof twin, "mq");
    bb_server s;
    start_server(&s, host, port, pre, NULL, NULL);
    /* the adapter connects on its own thread: the server may answer before the
     * broker's CONNACK (this checked at once and failed under load once) */
    cr_assert(wait_status(&s, "ok", 10), "the adapter did not connect: %s",
              mqtt_status(&s, NULL, 0));
    tclient c;
    tc_open(&c, host, port);
    char topic[200], payload[400];
    snprintf(topic, sizeof topic, "%s/telemetry/ignored/ignored", pre);
    snprintf(payload, sizeof payload, "{\"twin_id\":\"%s\",\"asset_id\":\"press_2\",\"metrics\":"
             "{\"temp_c\":21.5},\"event_id\":\"mqtt-evt-1\",\"tags\":{\"line\":\"A\"}}", twin);
    tc_publish(&c, topic, payload);
    snprintf(topic, sizeof topic, "%s/telemetry/%s/pump_7", pre, twin);
    tc_publish(&c, topic, "{\"flow\":3.25,\"rpm\":\"1200\"}");
    cr_assert_eq(wait_count(&s, twin, 2, 15), 2, "both MQTT messages should be stored");

    json_t *rows = bb_getf(&s, 200, "/telemetry/query?twin_id=%s&asset_id=pump_7", twin);
    json_t *row = json_array_get(json_object_get(rows, "rows"), 0);
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(row, "metrics"), "flow")),
                       3.25, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(row, "metrics"), "rpm")),
                       1200, 1e-9);
    json_decref(rows);
    json_t *one = bb_getf(&s, 200, "/r/telemetry/mqtt-evt-1");
    cr_assert_str_eq(json_string_value(json_object_get(one, "asset_id")), "press_2");
    json_decref(one);

    char q[128];
    snprintf(q, sizeof q, "twin_id=%s&types=TelemetryAppended", twin);
    json_t *evs = bb_diff_all(&s, q, 100);
    cr_assert_eq(json_array_size(evs), 2, "two TelemetryAppended events");
    json_decref(evs);

    /* the same event_id again is an idempotent replay, not a second row */
    snprintf(topic, sizeof topic, "%s/telemetry/x/y", pre);
    tc_publish(&c, topic, payload);
    const char *dups = "opstwin_mqtt_messages_total{outcome=\"duplicate\"}";
    for (int i = 0; i < 100 && bb_metric(&s, dups) < 1; i++)
        usleep(50000);
    cr_assert_eq(bb_metric(&s, dups), 1);
    cr_assert_eq(query_count(&s, twin), 2);
    /* MQTT writes are in the audit chain, which still verifies */
    json_t *v = bb_req(&s, "GET", "/audit/verify", NULL, 200);
    cr_assert(json_is_true(json_object_get(v, "valid")));
    json_decref(v);
    bb_resp ar;
    bb_http(&s, "GET", "/audit?limit=1000", NULL, NULL, &ar);
    cr_assert(ar.body && strstr(ar.body, "MQTT telemetry"), "an MQTT audit record: %s", ar.body);
    bb_resp_free(&ar);
    tc_close(&c);
    bb_stop_checked(&s);
}

Test(mqtt, malformed_payloads_go_to_the_dead_letter_topic_and_are_counted, .timeout = 120)
{
    char host[256], pre[64], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(pre, sizeof pre, "d");
    unique(twin, sizeof twin, "dl");
    bb_server s;
    start_server(&s, host, port, pre, NULL, NULL);
    cr_assert(wait_status(&s, "ok", 10), "the adapter did not subscribe: %s",
              mqtt_status(&s, NULL, 0));
    tclient c;
    tc_open(&c, host, port);
    char topic[200], dl[200], payload[300];
    snprintf(dl, sizeof dl, "%s/deadletter", pre);
    tc_subscribe(&c, dl);
    snprintf(topic, sizeof topic, "%s/telemetry/%s/a1", pre, twin);
    tc_publish(&c, topic, "{not json");
    tc_publish(&c, topic, "{\"temp\":\"hot\"}");                          /* bad field */
    snprintf(payload, sizeof payload, "{\"twin_id\":\"%s\",\"asset_id\":\"a1\",\"metrics\":"
             "{\"t\":1},\"colour\":\"red\"}", twin);                    /* schema: unknown */
    tc_publish(&c, topic, payload);
    tc_publish(&c, topic, "[1,2]");
    tc_publish(&c, topic, "{\"temp\":1,\"temp\":2}");                  /* a key twice */
    cr_assert(wait_until(&c, &c.nmsg, 5, 15), "5 dead letters expected, got %d", c.nmsg);
    const char *want[] = {"not valid JSON", "$.temp", "$.colour", "must be a JSON object",
                          "not valid JSON at $.temp: duplicate object key"};
    for (int i = 0; i < 5; i++) {
        json_t *d = json_loads(c.msg[i].payload, 0, NULL);
        cr_assert(d, "dead letter is JSON: %s", c.msg[i].payload);
        const char *reason = json_string_value(json_object_get(d, "reason"));
        cr_assert(reason && strstr(reason, want[i]), "reason %d should mention %s: %s", i,
                  want[i], c.msg[i].payload);
        cr_assert_str_eq(json_string_value(json_object_get(d, "topic")), topic);
        cr_assert(json_is_string(json_object_get(d, "payload")));
        json_decref(d);
    }
    cr_assert_eq(bb_metric(&s, "opstwin_mqtt_malformed_total"), 5);
    /* the adapter keeps working */
    tc_publish(&c, topic, "{\"temp\":20}");
    cr_assert_eq(wait_count(&s, twin, 1, 15), 1);
    /* logged at once for the first, then once per 10 s interval with the
     * count and the latest reason - not once per message */
    char *log = bb_server_log(&s);
    const char *first = strstr(log, "rejected 1 payload since");
    cr_assert(first, "the first rejected payload is logged: %s", log);
    cr_assert(!strstr(first + 1, "rejected "), "not one line per message: %s", log);
    free(log);
    int seen = 0;
    for (int i = 0; i < 150 && !seen; i++) {
        usleep(100000);
        log = bb_server_log(&s);
        const char *sum = strstr(log, "rejected 4 payloads since");
        seen = sum && strstr(sum, "duplicate object key");
        free(log);
    }
    cr_assert(seen, "a summary with the count and the latest reason after the interval");
    tc_close(&c);
    bb_stop_checked(&s);
}

/* --- broker restarts ----------------------------------------------------------------- */

Test(mqtt, broker_restart_reconnects_and_resubscribes, .timeout = 120, .fini = stop_private_broker)
{
    static broker b;
    memset(&b, 0, sizeof b);
    broker_start(&b);
    char twin[64];
    unique(twin, sizeof twin, "rs");
    bb_server s;
    start_server(&s, "127.0.0.1", b.port, "opstwin", NULL, NULL);
    cr_assert(wait_status(&s, "ok", 10));
    broker_stop(&b, 0);
    cr_assert(wait_status(&s, "degraded", 10), "/health mqtt degraded while the broker is away");
    char detail[256];
    mqtt_status(&s, detail, sizeof detail);
    cr_assert(detail[0], "degraded comes with a detail");
    broker_start(&b); /* same port, no persistence: the session is gone */
    cr_assert(wait_status(&s, "ok", 40), "reconnected after the broker came back");
    tclient c;
    tc_open(&c, "127.0.0.1", b.port);
    char topic[200];
    snprintf(topic, sizeof topic, "opstwin/telemetry/%s/a1", twin);
    tc_publish(&c, topic, "{\"v\":1}");
    cr_assert_eq(wait_count(&s, twin, 1, 15), 1, "resubscribed: the message is stored");
    tc_close(&c);
    bb_stop_checked(&s);
    broker_stop(&b, 1);
}

Test(mqtt, starts_while_the_broker_is_away_and_connects_when_it_comes, .timeout = 90, .fini = stop_private_broker)
{
    static broker b;
    memset(&b, 0, sizeof b);
    snprintf(b.dir, sizeof b.dir, "/tmp/opstwin-bbmqtt.XXXXXX");
    cr_assert(mkdtemp(b.dir));
    b.port = bb_free_port();
    char url[64];
    snprintf(url, sizeof url, "MQTT_URL=mqtt://127.0.0.1:%d", b.port);
    const char *env[] = {url, NULL};
    bb_server s;
    bb_start(&s, NULL, env, NULL);
    char detail[256];
    cr_assert_str_eq(mqtt_status(&s, detail, sizeof detail), "degraded");
    cr_assert(detail[0], "with a detail");
    broker_start(&b);
    cr_assert(wait_status(&s, "ok", 45), "connected once the broker came");
    bb_stop_checked(&s);
    broker_stop(&b, 1);

    /* and a stop while the broker is away is prompt and clean */
    bb_start(&s, NULL, env, NULL);
    cr_assert_str_eq(mqtt_status(&s, NULL, 0), "degraded");
    bb_stop_checked(&s);
}

/* --- QoS 1 across stops and crashes (README "MQTT delivery guarantees") -------------- */

static void publish_range(tclient *c, const char *topic, const char *twin, int from, int to)
{
    char payload[256];
    for (int i = from; i < to; i++) {
        snprintf(payload, sizeof payload, "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":"
                 "{\"v\":%d},\"event_id\":\"%s-%d\"}", twin, i, twin, i);
        tc_publish(c, topic, payload);
    }
}

Test(mqtt, messages_published_while_stopped_or_killed_are_stored_after_restart, .timeout = 120)
{
    char host[256], pre[64], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(pre, sizeof pre, "p");
    unique(twin, sizeof twin, "ps");
    bb_server s;
    start_server(&s, host, port, pre, NULL, NULL);
    cr_assert(wait_status(&s, "ok", 10));
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    cr_assert_eq(bb_stop(&s, 1), 0);

    tclient c;
    tc_open(&c, host, port);
    char topic[200];
    snprintf(topic, sizeof topic, "%s/telemetry/x/y", pre);
    publish_range(&c, topic, twin, 0, 50); /* OpsTwin is stopped: its session queues them */
    start_server(&s, host, port, pre, NULL, dir);
    cr_assert_eq(wait_count(&s, twin, 50, 20), 50, "published while stopped, stored after restart");

    bb_kill9(&s);
    publish_range(&c, topic, twin, 50, 100); /* OpsTwin was killed -9 */
    start_server(&s, host, port, pre, NULL, dir);
    cr_assert_eq(wait_count(&s, twin, 100, 20), 100, "published after kill -9, stored after restart");
    tc_close(&c);
    bb_stop_checked(&s);
}

struct streamer {
    tclient *c;
    const char *topic, *twin;
    int n;
    volatile int sent; /* PUBACKed by the broker */
};

static void *stream_main(void *arg)
{
    struct streamer *st = arg;
    char payload[256];
    for (int i = 0; i < st->n; i++) {
        snprintf(payload, sizeof payload, "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":"
                 "{\"v\":%d},\"event_id\":\"%s-%d\"}", st->twin, i, st->twin, i);
        mosquitto_publish(st->c->m, NULL, st->topic, (int)strlen(payload), payload, 1, false);
        if (i % 50 == 49)
            usleep(20000);
    }
    return NULL;
}

/* Publish n messages in a stream, kill -9 OpsTwin once `kill_at` are
 * stored, let the stream finish (the broker queues for the session),
 * restart, and return how many are stored once that stops growing. */
static int kill9_mid_stream(const char *what, const char *env, int n, int kill_at, int graceful)
{
    char host[256], pre[64], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(pre, sizeof pre, what);
    unique(twin, sizeof twin, what);
    bb_server s;
    start_server(&s, host, port, pre, env, NULL);
    cr_assert(wait_status(&s, "ok", 10));
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    tclient c;
    tc_open(&c, host, port);
    char topic[200];
    snprintf(topic, sizeof topic, "%s/telemetry/x/y", pre);
    struct streamer st = {&c, topic, twin, n, 0};
    pthread_t th;
    pthread_create(&th, NULL, stream_main, &st);
    while (query_count(&s, twin) < kill_at)
        usleep(20000);
    if (graceful)
        cr_assert_eq(bb_stop(&s, 1), 0, "SIGTERM under load exits 0");
    else
        bb_kill9(&s);
    pthread_join(th, NULL);
    cr_assert(wait_until(&c, &c.pubacks, n, 60), "the broker took every message");
    start_server(&s, host, port, pre, env, dir);
    int got = -1, prev = -2;
    for (int i = 0; i < 200 && (got != prev || got < kill_at); i++) { /* until it settles */
        prev = got;
        usleep(500000);
        got = query_count(&s, twin);
    }
    cr_log_info("%s mid-stream (%s): %d of %d stored, %d lost", graceful ? "SIGTERM" : "kill -9",
                env ? env : "defaults", got, n, n - got);
    tc_close(&c);
    bb_stop_checked(&s);
    return got;
}

/* MQTT_ACK_AFTER_COMMIT=false: what the broker had not yet delivered (and
 * everything published after the kill) is stored after the restart; what
 * was delivered and PUBACKed but not committed can be lost, at most
 * MQTT_MAX_INFLIGHT messages; nothing is stored twice (event_id). */
Test(mqtt, kill9_mid_stream_loses_at_most_the_uncommitted_window, .timeout = 180)
{
    const int N = 3000;
    int got = kill9_mid_stream("k", "MQTT_ACK_AFTER_COMMIT=false MQTT_MAX_INFLIGHT=100", N, 500, 0);
    cr_assert(got <= N, "nothing stored twice");
    cr_assert(got >= N - 100, "at most MQTT_MAX_INFLIGHT (100) lost; lost %d", N - got);
}

/* The default (MQTT_ACK_AFTER_COMMIT=true): a PUBACK leaves only after its
 * message is committed, so a kill -9 loses nothing: the broker redelivers
 * what was not acknowledged. */
Test(mqtt, kill9_mid_stream_with_ack_after_commit_loses_nothing, .timeout = 180)
{
    const int N = 3000;
    int got = kill9_mid_stream("a", NULL, N, 500, 0);
    cr_assert_eq(got, N, "every message stored exactly once; got %d of %d", got, N);
}

/* A clean stop (SIGTERM) mid-stream loses nothing in the default mode:
 * what was received is committed before exit, the rest is redelivered. */
Test(mqtt, sigterm_mid_stream_loses_nothing, .timeout = 180)
{
    const int N = 3000;
    int got = kill9_mid_stream("s", "MQTT_MAX_INFLIGHT=100", N, 500, 1);
    cr_assert_eq(got, N, "every message stored exactly once; got %d of %d", got, N);
}

/* --- shared subscriptions, TLS and credentials ------------------------------------- */

Test(mqtt, shared_subscription_splits_the_load_between_instances, .timeout = 120)
{
    char host[256], pre[64], twin[64], grp[96];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(pre, sizeof pre, "g");
    unique(twin, sizeof twin, "sh");
    snprintf(grp, sizeof grp, "MQTT_SHARE_GROUP=%s", pre);
    bb_server a, b;
    start_server(&a, host, port, pre, grp, NULL);
    start_server(&b, host, port, pre, grp, NULL);
    cr_assert(wait_status(&a, "ok", 10) && wait_status(&b, "ok", 10)); /* both SUBACKed */
    tclient c;
    tc_open(&c, host, port);
    char topic[200];
    snprintf(topic, sizeof topic, "%s/telemetry/x/y", pre);
    publish_range(&c, topic, twin, 0, 200);
    int na = -1, nb = -1;
    for (int i = 0; i < 200 && (na < 0 || nb < 0 || na + nb < 200); i++) {
        usleep(50000);
        na = query_count(&a, twin);
        nb = query_count(&b, twin);
    }
    cr_log_info("shared subscription: %d + %d of 200", na, nb);
    cr_assert_eq(na + nb, 200, "each message stored by exactly one instance: %d + %d", na, nb);
    cr_assert(na > 0 && nb > 0, "both instances took a share: %d and %d", na, nb);
    tc_close(&c);
    bb_stop_checked(&a);
    bb_stop_checked(&b);
}

static void sh(const char *cmd)
{
    const char *argv[] = {"/bin/bash", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    int rc = bb_run(argv, "/tmp", NULL, &out, &err);
    cr_assert_eq(rc, 0, "%s: %s %s", cmd, out, err);
    free(out);
    free(err);
}

/* mqtts:// with a private CA and a broker that wants a user name and password. */
Test(mqtt, tls_and_credentials, .timeout = 120, .fini = stop_private_broker)
{
    static broker b;
    memset(&b, 0, sizeof b);
    snprintf(b.dir, sizeof b.dir, "/tmp/opstwin-bbmqtt.XXXXXX");
    cr_assert(mkdtemp(b.dir));
    chmod(b.dir, 0755);
    b.port = bb_free_port();
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
             "-subj /CN=opstwin-test-ca -days 2 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost "
             "2>/dev/null && echo subjectAltName=IP:127.0.0.1,DNS:localhost > san.ext && "
             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt "
             "-days 2 -extfile san.ext 2>/dev/null && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt "
             "-subj /CN=other-ca -days 2 2>/dev/null && "
             "touch passwd && chmod 600 passwd && mosquitto_passwd -b passwd sensor 's3cret:pw' && "
             "chmod 644 srv.key passwd",
             b.dir);
    sh(cmd);
    snprintf(b.extra, sizeof b.extra,
             "cafile %s/ca.crt\ncertfile %s/srv.crt\nkeyfile %s/srv.key\n"
             "allow_anonymous false\npassword_file %s/passwd",
             b.dir, b.dir, b.dir, b.dir);
    broker_start(&b);

    char twin[64], url[256], ca[256], other[256];
    unique(twin, sizeof twin, "tls");
    snprintf(url, sizeof url, "MQTT_URL=mqtts://sensor:s3cret%%3Apw@127.0.0.1:%d", b.port);
    snprintf(ca, sizeof ca, "MQTT_CA_FILE=%s/ca.crt", b.dir);
    snprintf(other, sizeof other, "MQTT_CA_FILE=%s/other.crt", b.dir);
    bb_server s;
    {
        const char *env[] = {url, ca, NULL};
        bb_start(&s, NULL, env, NULL);
    }
    cr_assert(wait_status(&s, "ok", 15), "connected over TLS with the URL's credentials");
    tclient c;
    char cafile[256];
    snprintf(cafile, sizeof cafile, "%s/ca.crt", b.dir);
    tc_open_with(&c, "127.0.0.1", b.port, cafile, "sensor", "s3cret:pw");
    char topic[200];
    snprintf(topic, sizeof topic, "opstwin/telemetry/%s/a1", twin);
    tc_publish(&c, topic, "{\"v\":7}");
    cr_assert_eq(wait_count(&s, twin, 1, 15), 1, "stored over TLS");
    tc_close(&c);
    bb_stop_checked(&s);

    /* a CA that did not sign the broker's certificate: degraded, not crashed */
    {
        const char *env[] = {url, other, NULL};
        bb_start(&s, NULL, env, NULL);
    }
    sleep(2);
    char detail[256];
    cr_assert_str_eq(mqtt_status(&s, detail, sizeof detail), "degraded");
    cr_log_info("wrong CA: %s", detail);
    bb_stop_checked(&s);

    /* a wrong password (MQTT_PASSWORD overrides the URL's): degraded with the reason */
    {
        const char *env[] = {url, ca, "MQTT_PASSWORD=wrong", NULL};
        bb_start(&s, NULL, env, NULL);
    }
    for (int i = 0; i < 50; i++) {
        mqtt_status(&s, detail, sizeof detail);
        if (strstr(detail, "refused"))
            break;
        usleep(100000);
    }
    cr_assert_str_eq(mqtt_status(&s, detail, sizeof detail), "degraded");
    cr_assert(strstr(detail, "refused"), "the reason: %s", detail);
    bb_stop_checked(&s);
    broker_stop(&b, 1);
}

/* --- the command target --------------------------------------------------------------- */

static json_t *run_mqtt_action(bb_server *s, const char *twin, const char *want_status)
{
    char body[400];
    snprintf(body, sizeof body, "{\"twin_id\":\"%s\",\"executor\":\"mqtt\",\"action\":{\"type\":"
             "\"set_parameter\",\"target\":\"valve_1\",\"params\":{\"name\":\"open_pct\","
             "\"value\":40}}}", twin);
    json_t *a = bb_req(s, "POST", "/actions", body, 202);
    const char *id = json_string_value(json_object_get(a, "action_id"));
    cr_assert(id);
    json_t *doc = NULL;
    for (int i = 0; i < 200; i++) {
        json_decref(doc);
        doc = bb_getf(s, 200, "/actions/%s", id);
        const char *st = json_string_value(json_object_get(doc, "status"));
        if (st && (strcmp(st, "success") == 0 || strcmp(st, "failed") == 0))
            break;
        usleep(50000);
    }
    json_decref(a);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), want_status, "action: %s",
                     json_dumps(doc, 0));
    return doc;
}

static int has_event(bb_server *s, const char *twin, const char *type)
{
    char q[160];
    snprintf(q, sizeof q, "twin_id=%s&types=%s", twin, type);
    json_t *evs = bb_diff_all(s, q, 100);
    int n = (int)json_array_size(evs);
    json_decref(evs);
    return n;
}

Test(mqtt, action_command_is_published_and_acknowledged, .timeout = 90)
{
    char host[256], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(twin, sizeof twin, "cmd");
    bb_server s;
    start_server(&s, host, port, twin, NULL, NULL);
    tclient c;
    tc_open(&c, host, port);
    c.ack_reply = "{\"ok\":true}";
    char topic[200];
    snprintf(topic, sizeof topic, "opstwin/cmd/%s/+", twin);
    tc_subscribe(&c, topic);
    json_t *doc = run_mqtt_action(&s, twin, "success");
    cr_assert_eq(c.nmsg, 1);
    snprintf(topic, sizeof topic, "opstwin/cmd/%s/valve_1", twin);
    cr_assert_str_eq(c.msg[0].topic, topic);
    json_t *cmd = json_loads(c.msg[0].payload, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "action_id")),
                     json_string_value(json_object_get(doc, "action_id")));
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), "set_parameter");
    json_decref(cmd);
    json_decref(doc);
    cr_assert_eq(has_event(&s, twin, "ActionSucceeded"), 1);
    tc_close(&c);
    bb_stop_checked(&s);
}

Test(mqtt, action_without_acknowledgement_fails_with_the_timeout, .timeout = 90)
{
    char host[256], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(twin, sizeof twin, "noack");
    bb_server s;
    start_server(&s, host, port, twin, "MQTT_ACK_TIMEOUT_MS=400", NULL);
    json_t *doc = run_mqtt_action(&s, twin, "failed");
    char want[200];
    snprintf(want, sizeof want, "no acknowledgement on opstwin/ack/%s within 400 ms",
             json_string_value(json_object_get(doc, "action_id")));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "error")), want);
    json_decref(doc);
    cr_assert_eq(has_event(&s, twin, "ActionFailed"), 1);
    bb_stop_checked(&s);
}

Test(mqtt, action_refused_by_the_device_fails_with_its_error, .timeout = 90)
{
    char host[256], twin[64];
    int port;
    shared_broker(host, sizeof host, &port);
    unique(twin, sizeof twin, "nack");
    bb_server s;
    start_server(&s, host, port, twin, NULL, NULL);
    tclient c;
    tc_open(&c, host, port);
    c.ack_reply = "{\"ok\":false,\"error\":\"valve stuck at 12%\"}";
    char topic[200];
    snprintf(topic, sizeof topic, "opstwin/cmd/%s/+", twin);
    tc_subscribe(&c, topic);
    json_t *doc = run_mqtt_action(&s, twin, "failed");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "error")), "valve stuck at 12%");
    json_decref(doc);
    tc_close(&c);
    bb_stop_checked(&s);
}

Test(mqtt, bad_settings_stop_the_server_with_a_message, .timeout = 30)
{
    const char *argv[] = {bb_bin(), "serve", "--print-config", NULL};
    const char *env[] = {"MQTT_URL=mqtt://user:hunter2@broker:1883", "MQTT_PASSWORD=s3cret",
                         NULL};
    char *out = NULL, *err = NULL;
    int rc = bb_run(argv, "/tmp", env, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "MQTT_URL=mqtt://***@broker:1883"), "%s", out);
    cr_assert(!strstr(out, "hunter2") && !strstr(out, "s3cret"), "secrets masked: %s", out);
    free(out);
    free(err);
    char dir[] = "/tmp/opstwin-bbmqtt.XXXXXX";
    cr_assert(mkdtemp(dir));
    const char *argv2[] = {bb_bin(), "serve", "--port", "0", "--data-dir", dir, NULL};
    const char *env2[] = {"MQTT_URL=http://broker", NULL};
    rc = bb_run(argv2, "/tmp", env2, &out, &err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {
    }
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err, "MQTT_URL") || strstr(out, "MQTT_URL"), "names the option: %s %s", out,
              err);
    free(out);
    free(err);
}
