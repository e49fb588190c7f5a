/* The durability promise (DESIGN.md section 8): kill -9 under load, restart,
 * and every acknowledged event is there with no gaps in the cursors; the same
 * when the data folder's disk fills up. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WRITERS 2
#define BATCH 5
#define MAX_ACKS 200000

struct ack {
    char id[48];
    long cursor;
};

static struct {
    pthread_mutex_t mu;
    struct ack *acks;
    size_t n;
    int stop;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct writer {
    bb_server *s;
    int no;
    int errors; /* requests that failed (the server went away) */
};

/* The telemetry events of twin read by twin (postings up to posted_cursor,
 * the log beyond: sqlite_postings.h) are those of the whole log, in order
 * and once each. Returns how many. */
static size_t twin_read_is_log(const bb_server *s, const char *twin)
{
    json_t *all = bb_diff_all(s, "types=TelemetryAppended", 1000);
    char q[160];
    snprintf(q, sizeof q, "twin_id=%s&types=TelemetryAppended", twin);
    json_t *mine = bb_diff_all(s, q, 1000);
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *e = json_array_get(all, i);
        if (strcmp(json_string_value(json_object_get(e, "twin_id")) ?: "", twin))
            continue;
        json_t *m = json_array_get(mine, k++);
        cr_assert_not_null(m, "the read by twin ends before %s",
                           json_string_value(json_object_get(e, "cursor")));
        cr_assert_str_eq(json_string_value(json_object_get(m, "cursor")),
                         json_string_value(json_object_get(e, "cursor")));
    }
    cr_assert_eq(k, json_array_size(mine), "the read by twin has %zu events, the log %zu",
                 json_array_size(mine), k);
    json_decref(all);
    json_decref(mine);
    return k;
}

/* Never asserts (not the test's thread): records acknowledged items only. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int seq = 0;; seq++) {
        pthread_mutex_lock(&st.mu);
        int stop = st.stop;
        pthread_mutex_unlock(&st.mu);
        if (stop)
            break;
        char body[2048];
        size_t k = (size_t)snprintf(body, sizeof body, "[");
        for (int i = 0; i < BATCH; i++)
            k += (size_t)snprintf(body + k, sizeof body - k,
                                  "%s{\"twin_id\":\"crash\",\"asset_id\":\"w%d\",\"metrics\":"
                                  "{\"v\":%d},\"event_id\":\"w%d-%d-%d\"}",
                                  i ? "," : "", w->no, seq, w->no, seq, i);
        snprintf(body + k, sizeof body - k, "]");
        bb_resp r;
        long code = bb_http(w->s, "POST", "/telemetry/ingest", body, NULL, &r);
        if (code != 200) {
            w->errors++;
            bb_resp_free(&r);
            if (code < 0)
                break; /* connection refused or reset: the server is gone */
            continue;
        }
        json_t *res = json_object_get(r.json, "results");
        pthread_mutex_lock(&st.mu);
        for (size_t i = 0; i < json_array_size(res) && st.n < MAX_ACKS; i++) {
            json_t *it = json_array_get(res, i);
            if (strcmp(json_string_value(json_object_get(it, "status")), "accepted") != 0)
                continue;
            struct ack *a = &st.acks[st.n++];
            snprintf(a->id, sizeof a->id, "%s", json_string_value(json_object_get(it, "event_id")));
            a->cursor = strtol(json_string_value(json_object_get(it, "cursor")) + 7, NULL, 10);
        }
        pthread_mutex_unlock(&st.mu);
        bb_resp_free(&r);
    }
    return NULL;
}

static size_t acked(void)
{
    pthread_mutex_lock(&st.mu);
    size_t n = st.n;
    pthread_mutex_unlock(&st.mu);
    return n;
}

Test(crash, kill9_under_load_loses_nothing_acknowledged, .timeout = 120)
{
    st.acks = calloc(MAX_ACKS, sizeof *st.acks);
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    pthread_t th[WRITERS];
    struct writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.s = &s, .no = i};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    /* let the writers run until a good number of acks (or 5 s), then kill
     * the server with requests in flight */
    for (int i = 0; i < 500 && acked() < 1500; i++)
        usleep(10000);
    size_t before = acked();
    bb_kill9(&s);
    pthread_mutex_lock(&st.mu);
    st.stop = 1;
    pthread_mutex_unlock(&st.mu);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    size_t n = acked();
    cr_assert_gt(before, 0, "no request was acknowledged before the kill");

    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    bb_start(&s, NULL, NULL, dir);

    /* the log: contiguous cursors 1..N, each event id once */
    json_t *all = bb_diff_all(&s, "", 1000);
    size_t total = json_array_size(all);
    cr_log_info("crash: %zu acknowledged (%zu before the kill), %zu in the log", n, before,
                total);
    cr_assert_geq(total, n, "log has %zu events, %zu were acknowledged", total, n);
    char **ids = calloc(total + 1, sizeof *ids);
    for (size_t i = 0; i < total; i++) {
        json_t *e = json_array_get(all, i);
        const char *c = json_string_value(json_object_get(e, "cursor"));
        cr_assert_eq(strtol(c + 7, NULL, 10), (long)i + 1, "gap: event %zu has %s", i, c);
        ids[i + 1] = (char *)json_string_value(json_object_get(e, "id"));
    }
    /* every acknowledged event: at its acknowledged cursor, and readable */
    for (size_t i = 0; i < n; i++) {
        struct ack *a = &st.acks[i];
        cr_assert(a->cursor >= 1 && (size_t)a->cursor <= total, "%s acked at cursor %ld, log "
                  "ends at %zu", a->id, a->cursor, total);
        cr_assert_str_eq(ids[a->cursor], a->id, "cursor %ld", a->cursor);
        if (i % 7 == 0 || i + 1 == n) { /* a sample, to stay fast under ASan */
            char path[128];
            snprintf(path, sizeof path, "/r/telemetry/%s", a->id);
            json_t *t = bb_req(&s, "GET", path, NULL, 200);
            cr_assert_str_eq(json_string_value(json_object_get(t, "event_id")), a->id);
            json_decref(t);
        }
    }
    /* and /telemetry/query agrees with the log's telemetry events (the log
     * also holds what detection made of them) */
    size_t tel = 0;
    for (size_t i = 0; i < total; i++)
        tel += strcmp(json_string_value(json_object_get(json_array_get(all, i), "type")),
                      "TelemetryAppended") == 0;
    json_t *q = bb_getf(&s, 200, "/telemetry/query?twin_id=crash&limit=10000");
    cr_assert_eq((size_t)json_integer_value(json_object_get(q, "count")), tel);
    json_decref(q);
    /* and the log read by twin is the log's events of that twin (again at
     * the end, after more than a flush of postings) */
    size_t k = twin_read_is_log(&s, "crash");
    cr_assert_geq(k, n);
    char *log = bb_server_log(&s);
    cr_log_info("crash: %s", strstr(log, "store: rebuilt") ? "derived data rebuilt at the restart"
                                                          : "no derived data to rebuild");
    free(log);
    /* and so do the aggregates, from the rollups and from the points: the
     * derived data the kill took from memory is rebuilt from the stored
     * records, each once */
    for (int points = 0; points < 2; points++) {
        json_t *g = bb_getf(&s, 200, "/telemetry/aggregate?twin_id=crash&metric_name=v"
                                     "&function=count&window=1%%20day%s",
                            points ? "&start_time=1" : "");
        json_t *b = json_object_get(g, "buckets");
        double count = 0;
        for (size_t i = 0; i < json_array_size(b); i++)
            count += json_number_value(json_object_get(json_array_get(b, i), "value"));
        cr_assert_eq((size_t)count, tel, "%s: %.0f points, %zu records",
                     points ? "points" : "rollups", count, tel);
        json_decref(g);
    }
    /* the numbering continues after the restart */
    json_t *r = bb_req(&s, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"crash\",\"asset_id\":\"x\",\"metrics\":{\"v\":1}}", 200);
    cr_assert_eq(strtol(json_string_value(json_object_get(r, "cursor")) + 7, NULL, 10),
                 (long)total + 1);
    json_decref(r);
    /* what the kill left beyond posted_cursor was noted again at the
     * start: a flush now writes it with the new events, or it would be lost
     * to reads by twin */
    char *batch = malloc(1100 * 80 + 2);
    size_t len = (size_t)sprintf(batch, "[");
    for (int i = 0; i < 1100; i++)
        len += (size_t)sprintf(batch + len, "%s{\"twin_id\":\"crash\",\"asset_id\":\"y\","
                               "\"metrics\":{\"v\":%d}}", i ? "," : "", i);
    sprintf(batch + len, "]");
    json_decref(bb_req(&s, "POST", "/telemetry/ingest", batch, 200));
    free(batch);
    cr_assert_eq(twin_read_is_log(&s, "crash"), k + 1101);
    free(ids);
    json_decref(all);
    free(st.acks);
    cr_assert_eq(bb_stop(&s, 0), 0);
}

/* Mount a tmpfs of size (e.g. "12m") on dir, or change its size. */
static void mount_tmpfs(const char *dir, const char *size, int remount)
{
    char opt[64];
    snprintf(opt, sizeof opt, "%ssize=%s", remount ? "remount," : "", size);
    const char *argv[] = {"/bin/mount", "-t", "tmpfs", "-o", opt, "tmpfs", dir, NULL};
    char *out = NULL, *err = NULL, msg[512];
    int rc = bb_run(argv, "/", NULL, &out, &err);
    snprintf(msg, sizeof msg, "%s%s", out, err);
    free(out);
    free(err);
    cr_assert_eq(rc, 0, "mount -o %s on %s: exit %d: %s (the test needs root)", opt, dir, rc, msg);
}

static void unmount(const char *dir)
{
    const char *argv[] = {"/bin/umount", dir, NULL};
    char *out = NULL, *err = NULL;
    bb_run(argv, "/", NULL, &out, &err);
    free(out);
    free(err);
    rmdir(dir);
}

/* The disk of the data folder fills up (a real tmpfs of 12 MiB): writes are
 * 503 with Retry-After, the server stays up, nothing acknowledged is lost or
 * counted twice, and once there is room again writes go on where the log
 * ended - also after a restart. */
Test(crash, a_full_disk_is_503_and_loses_nothing_acknowledged, .timeout = 120)
{
    if (bb_pg_mode())
        cr_skip_test("the store is PostgreSQL's: its disk is not the data folder's");
    char dir[] = "/tmp/opstwin-full.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    mount_tmpfs(dir, "12m", 0);
    bb_server s;
    bb_start(&s, NULL, NULL, dir);

    char *body = malloc(200 * 400 + 2);
    size_t acked = 0, refused = 0;
    for (int req = 0; req < 400 && refused < 3; req++) {
        size_t k = (size_t)sprintf(body, "[");
        for (int i = 0; i < 200; i++)
            k += (size_t)sprintf(body + k, "%s{\"twin_id\":\"full%d\",\"asset_id\":\"a\",\"metrics\":"
                                 "{\"v\":%d},\"tags\":{\"pad\":\"%0200d\"}}", i ? "," : "", i % 4,
                                 req, i);
        sprintf(body + k, "]");
        bb_resp r;
        long code = bb_http(&s, "POST", "/telemetry/ingest", body, NULL, &r);
        if (code == 200) {
            acked += (size_t)json_integer_value(json_object_get(r.json, "accepted"));
        } else {
            bb_assert_error(&r, 503, "service_unavailable", NULL);
            char retry[16];
            cr_assert_eq(bb_header(&r, "Retry-After", retry, sizeof retry), 0, "%s", r.headers);
            refused++;
        }
        bb_resp_free(&r);
    }
    free(body);
    cr_assert_eq(refused, 3, "the disk did not fill: %zu events acknowledged", acked);
    cr_log_info("full disk: %zu events acknowledged, then 503", acked);
    cr_assert_gt(acked, 0);
    json_decref(bb_req(&s, "GET", "/health", NULL, 200));

    /* room again: the next write is stored right after the last one */
    mount_tmpfs(dir, "64m", 1);
    const char *one = "{\"twin_id\":\"full0\",\"asset_id\":\"a\",\"metrics\":{\"v\":-1}}";
    bb_resp r;
    for (int i = 0; i < 50 && bb_http(&s, "POST", "/telemetry/ingest", one, NULL, &r) != 200; i++) {
        bb_resp_free(&r);
        usleep(100000);
    }
    cr_assert_eq(r.status, 200, "no write after the disk had room: %s", r.body);
    bb_resp_free(&r);

    for (int restarted = 0; restarted < 2; restarted++) {
        /* every acknowledged record once, the cursors without a gap, and
         * the aggregates (derived data, rebuilt after each failed commit)
         * counting each record once */
        json_t *all = bb_diff_all(&s, "", 1000);
        size_t tel = 0;
        for (size_t i = 0; i < json_array_size(all); i++) {
            json_t *e = json_array_get(all, i);
            const char *c = json_string_value(json_object_get(e, "cursor"));
            cr_assert_eq(strtol(c + 7, NULL, 10), (long)i + 1, "gap: event %zu has %s", i, c);
            tel += strcmp(json_string_value(json_object_get(e, "type")), "TelemetryAppended") == 0;
        }
        json_decref(all);
        cr_assert_eq(tel, acked + 1, "%zu records in the log, %zu acknowledged", tel, acked + 1);
        double count = 0;
        for (int t = 0; t < 4; t++) {
            json_t *g = bb_getf(&s, 200, "/telemetry/aggregate?twin_id=full%d&metric_name=v"
                                         "&function=count&window=1%%20day", t);
            json_t *b = json_object_get(g, "buckets");
            for (size_t i = 0; i < json_array_size(b); i++)
                count += json_number_value(json_object_get(json_array_get(b, i), "value"));
            json_decref(g);
        }
        cr_assert_eq((size_t)count, tel, "the rollups count %.0f points of %zu records", count,
                     tel);
        if (!restarted) {
            cr_assert_eq(bb_stop(&s, 1), 0);
            bb_start(&s, NULL, NULL, dir);
        }
    }
    cr_assert_eq(bb_stop(&s, 1), 0);
    unmount(dir);
}
