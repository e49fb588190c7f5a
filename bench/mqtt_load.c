/* mqtt_load.c - MQTT ingest load for bench/rows/12-mqtt-ingest.sh.
 *
 *   mqtt_load relay   HOST PORT N
 *       a plain subscriber (QoS 1) on opstwin/telemetry/+/+ and a publisher
 *       of N QoS 1 messages: prints messages/s received by the subscriber,
 *       from the first publish to the N-th message received.
 *   mqtt_load opstwin HOST PORT N BASE_URL
 *       publishes the same N messages and polls BASE_URL/metrics until
 *       opstwin_mqtt_messages_total{outcome="stored"} has grown by N:
 *       prints messages/s committed by OpsTwin, from the first publish.
 *
 * Messages: bare metrics objects {"temp_c":..,"seq":i} on
 * opstwin/telemetry/bench<i%8>/asset<i%64>, published by PUBLISHERS
 * connections as fast as the broker acknowledges them (at most WINDOW
 * unacknowledged each). Output: one line
 * "RATE <msg/s> PUB <publish msg/s> SECS <elapsed>".
 */
#include <curl/curl.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 1000
#define PUBLISHERS 2

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long received, subacked, connected;
static double t_last_rx;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bump(long *v)
{
    pthread_mutex_lock(&mu);
    (*v)++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)m, (void)ud;
    if (rc == 0)
        bump(&connected);
}
static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *q)
{
    (void)m, (void)ud, (void)mid, (void)n, (void)q;
    bump(&subacked);
}
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m, (void)ud, (void)msg;
    pthread_mutex_lock(&mu);
    received++;
    t_last_rx = now();
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_for(long *v, long want)
{
    pthread_mutex_lock(&mu);
    while (*v < want)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static struct mosquitto *client(const char *host, int port)
{
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_max_inflight_messages_set(m, 0);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    long want = connected + 1;
    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqtt_load: cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    mosquitto_loop_start(m);
    wait_for(&connected, want);
    return m;
}

/* Each publisher runs libmosquitto without its thread: mosquitto_publish
 * writes the packet at once (no wake-up of a network thread per message)
 * and mosquitto_loop reads the PUBACKs in between. */
struct pub {
    pthread_t th;
    const char *host;
    int port;
    long from, to, acked, connected;
};

static void on_pub_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)m;
    if (rc == 0)
        ((struct pub *)ud)->connected = 1;
}
static void on_pub_ack(struct mosquitto *m, void *ud, int mid)
{
    (void)m, (void)mid;
    ((struct pub *)ud)->acked++;
}

static void *pub_main(void *arg)
{
    struct pub *p = arg;
    struct mosquitto *m = mosquitto_new(NULL, true, p);
    mosquitto_connect_callback_set(m, on_pub_connect);
    mosquitto_publish_callback_set(m, on_pub_ack);
    mosquitto_max_inflight_messages_set(m, 0);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_connect(m, p->host, p->port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqtt_load: cannot connect to %s:%d\n", p->host, p->port);
        exit(1);
    }
    while (!p->connected)
        mosquitto_loop(m, 100, 1);
    char topic[96], payload[96];
    long sent = 0;
    for (long i = p->from; i < p->to; i++, sent++) {
        while (sent - p->acked >= WINDOW)
            mosquitto_loop(m, 10, 1);
        if (sent % 64 == 0)
            mosquitto_loop(m, 0, 1);
        snprintf(topic, sizeof topic, "opstwin/telemetry/bench%ld/asset%ld", i % 8, i % 64);
        int len = snprintf(payload, sizeof payload, "{\"temp_c\":%.2f,\"seq\":%ld}",
                           20.0 + (double)(i % 100) / 10.0, i);
        while (mosquitto_publish(m, NULL, topic, len, payload, 1, false) != MOSQ_ERR_SUCCESS)
            mosquitto_loop(m, 10, 1);
    }
    while (p->acked < sent)
        mosquitto_loop(m, 10, 1);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    return NULL;
}

/* Publish n messages from PUBLISHERS connections. Returns the start time;
 * *t_end when every message was acknowledged by the broker. */
static double publish_all(const char *host, int port, long n, double *t_end)
{
    struct pub p[PUBLISHERS];
    double t0 = now();
    for (int k = 0; k < PUBLISHERS; k++) {
        p[k] = (struct pub){.host = host, .port = port, .from = n * k / PUBLISHERS,
                            .to = n * (k + 1) / PUBLISHERS};
        pthread_create(&p[k].th, NULL, pub_main, &p[k]);
    }
    for (int k = 0; k < PUBLISHERS; k++)
        pthread_join(p[k].th, NULL);
    *t_end = now();
    return t0;
}

struct mbuf {
    char *p;
    size_t n;
};

static size_t collect(char *d, size_t s, size_t k, void *u)
{
    struct mbuf *b = u;
    char *q = realloc(b->p, b->n + s * k + 1);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->n, d, s * k);
    b->n += s * k;
    b->p[b->n] = '\0';
    return s * k;
}

/* The value of the metric line starting with key in url's /metrics, or -1. */
static long metric(CURL *c, const char *url, const char *key)
{
    struct mbuf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    long v = -1;
    if (curl_easy_perform(c) == CURLE_OK && b.p) {
        char *p = strstr(b.p, key);
        if (p)
            v = atol(p + strlen(key));
    }
    free(b.p);
    return v;
}

static long stored(CURL *c, const char *url)
{
    return metric(c, url, "\nopstwin_mqtt_messages_total{outcome=\"stored\"} ");
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "relay") && strcmp(argv[1], "opstwin")) ||
        (strcmp(argv[1], "opstwin") == 0 && argc < 6)) {
        fprintf(stderr, "usage: mqtt_load relay HOST PORT N | mqtt_load opstwin HOST PORT N URL\n");
        return 2;
    }
    const char *host = argv[2];
    int port = atoi(argv[3]);
    long n = atol(argv[4]);
    mosquitto_lib_init();
    double t0, tp, t1;
    if (strcmp(argv[1], "relay") == 0) {
        struct mosquitto *sub = client(host, port);
        mosquitto_subscribe(sub, NULL, "opstwin/telemetry/+/+", 1);
        wait_for(&subacked, 1);
        t0 = publish_all(host, port, n, &tp);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 120;
        pthread_mutex_lock(&mu);
        while (received < n && pthread_cond_timedwait(&cv, &mu, &dl) == 0)
            ;
        long got = received;
        t1 = t_last_rx;
        pthread_mutex_unlock(&mu);
        if (got < n)
            fprintf(stderr, "mqtt_load: the subscriber got %ld of %ld\n", got, n);
        printf("RATE %.0f PUB %.0f SECS %.3f\n", (double)got / (t1 - t0), (double)n / (tp - t0),
               t1 - t0);
        mosquitto_disconnect(sub);
        mosquitto_loop_stop(sub, false);
        return got < n;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/metrics", argv[5]);
    CURL *c = curl_easy_init();
    long base = stored(c, url);
    if (base < 0) {
        fprintf(stderr, "mqtt_load: %s has no opstwin_mqtt_messages_total (is MQTT_URL set?)\n",
                url);
        return 1;
    }
    /* messages published before OpsTwin's subscription is acknowledged reach no one */
    for (int i = 0; i < 1000 && metric(c, url, "\nopstwin_mqtt_connected ") != 1; i++)
        usleep(10000);
    t0 = publish_all(host, port, n, &tp);
    long got = 0;
    double deadline = now() + 300;
    for (;;) {
        got = stored(c, url) - base;
        t1 = now();
        if (got >= n || t1 > deadline)
            break;
        usleep(2000);
    }
    if (got < n)
        fprintf(stderr, "mqtt_load: OpsTwin stored %ld of %ld\n", got, n);
    printf("RATE %.0f PUB %.0f SECS %.3f\n", (double)got / (t1 - t0), (double)n / (tp - t0),
           t1 - t0);
    curl_easy_cleanup(c);
    return got < n;
}
