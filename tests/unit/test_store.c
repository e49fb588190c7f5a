/* test_store.c - the store, run against both backends: every test is
 * defined once (STORE_TEST) and registered in suite `store` (SQLite in a
 * temporary folder) and suite `store_pg` (PostgreSQL: a fresh database
 * ot_<random> on OPSTWIN_TEST_PG_URL, dropped afterwards). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/evtype.h"
#include "store/store.h"
#include "../test_env.h"
#include "pg_proxy.h"

static char dir[] = "/tmp/ot-store-XXXXXX";
static char pg_url[512];     /* "" = SQLite */
static char pg_admin[512];   /* OPSTWIN_TEST_PG_URL itself */
static char pg_db[64];
static ot_store *st;
static int commits;

/* A test can hold the store's syncer inside on_commit: after the fsync,
 * before the cursor is published and the writes are acknowledged. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_armed, gate_inside;

static void on_commit(void *ctx, const ot_event *evs, size_t n)
{
    (void)ctx;
    (void)evs;
    pthread_mutex_lock(&gate_mu);
    commits += (int)n;
    if (gate_armed) {
        gate_inside = 1;
        pthread_cond_broadcast(&gate_cv);
        while (gate_armed)
            pthread_cond_wait(&gate_cv, &gate_mu);
        gate_inside = 0;
    }
    pthread_mutex_unlock(&gate_mu);
}

static int open_store_opts(long retention_days, ot_error *e)
{
    ot_store_options o = {.data_dir = dir, .database_url = pg_url, .queue_limit = 1000,
                          .read_connections = 2, .on_commit = on_commit,
                          .retention_days = retention_days};
    return ot_store_open(&o, &st, e);
}

/* Reads of derived data (aggregates, latest values) include every
 * acknowledged write. */
#define ACKED ot_store_last_cursor(st)

static void open_store_delayed(int derived_delay_ms)
{
    ot_store_options o = {.data_dir = dir, .database_url = pg_url, .queue_limit = 1000,
                          .read_connections = 2, .on_commit = on_commit,
                          .derived_delay_ms = derived_delay_ms};
    ot_error e;
    cr_assert_eq(ot_store_open(&o, &st, &e), 0, "%s", e.message);
}

static void open_store(void)
{
    ot_error e;
    cr_assert_eq(open_store_opts(0, &e), 0, "%s", e.message);
}

static void pg_admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg_admin);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "cannot connect to %s: %s", pg_admin,
                 PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The URL of database `db` on the server of `base`: the same URL with its
 * path replaced. */
static void url_with_db(const char *base, const char *db, char *out, size_t n)
{
    const char *scheme = strstr(base, "://");
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *query = strchr(base, '?');
    int host_len = slash ? (int)(slash - base) : query ? (int)(query - base) : (int)strlen(base);
    snprintf(out, n, "%.*s/%s%s", host_len, base, db, query ? query : "");
}

static void setup_sqlite(void)
{
    pg_url[0] = '\0';
    cr_assert_not_null(mkdtemp(dir));
    open_store();
}

static void setup_pg(void)
{
    const char *base = ot_test_service("OPSTWIN_TEST_PG_URL");
    snprintf(pg_admin, sizeof pg_admin, "%s", base);
    srand((unsigned)(getpid() ^ ot_now_us()));
    snprintf(pg_db, sizeof pg_db, "ot_%d_%08x", (int)getpid(), (unsigned)rand());
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_db);
    pg_admin_exec(sql);
    url_with_db(base, pg_db, pg_url, sizeof pg_url);
    cr_assert_not_null(mkdtemp(dir));
    open_store();
}

static void teardown(void)
{
    ot_store_close(st);
    st = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    if (pg_db[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
        pg_admin_exec(sql);
    }
}

TestSuite(store, .init = setup_sqlite, .fini = teardown);
TestSuite(store_pg, .init = setup_pg, .fini = teardown, .timeout = 60);

/* Define a test body once and register it for both backends. */
#define STORE_TEST(name)                                                                       \
    static void name##_body(void);                                                            \
    Test(store, name) { name##_body(); }                                                      \
    Test(store_pg, name) { name##_body(); }                                                   \
    static void name##_body(void)

static int write_tel(const char *id, int client, double v, int64_t *cursor, int *dup)
{
    const char *names[1] = {"temp_c"};
    double vals[1] = {v};
    ot_store_tel t = {.event_id = id, .twin_id = "tw", .asset_id = "as", .ts_us = 1767225600000000LL, .nmetrics = 1, .metric_names = names, .metric_values = vals, .json = "{\"x\":1}", .client_id = client};
    ot_store_write w = {.tels = &t, .ntels = 1};
    int rc = ot_store_write_sync(st, &w);
    *cursor = t.cursor;
    *dup = t.duplicate;
    return rc;
}

STORE_TEST(cursors_are_contiguous_and_replays_are_idempotent)
{
    int64_t c;
    int dup;
    cr_assert_eq(write_tel("e1", 1, 1, &c, &dup), 0);
    cr_assert_eq(c, 1);
    cr_assert_eq(write_tel("e2", 1, 2, &c, &dup), 0);
    cr_assert_eq(c, 2);
    cr_assert_eq(write_tel("e1", 1, 9, &c, &dup), 0);
    cr_assert_eq(c, 1, "a replay returns the original cursor");
    cr_assert_eq(dup, 1);
    cr_assert_eq(ot_store_last_cursor(st), 2);
    cr_assert_eq(commits, 2);
    ot_error e;
    char *doc = ot_store_get_doc(st, "telemetry", "e1", &e);
    cr_assert_not_null(doc);
    free(doc);
    cr_assert_null(ot_store_get_doc(st, "telemetry", "nope", &e));
    cr_assert_eq(e.code, OT_ENOTFOUND);
}

static int count(void *ctx, const ot_event *ev)
{
    (*(int *)ctx)++;
    cr_assert(strstr(ev->json, "\"type\":\"TelemetryAppended\""));
    return 0;
}

struct async_write {
    ot_store_tel t;
    ot_store_write w;
    const char *names[1];
    double vals[1];
    int done, order;
};
static int done_seq;

static void async_done(ot_store_write *w, void *ctx)
{
    struct async_write *a = ctx;
    (void)w;
    pthread_mutex_lock(&gate_mu);
    a->done = 1;
    a->order = ++done_seq;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void submit_async(struct async_write *a, const char *id)
{
    memset(a, 0, sizeof *a);
    a->names[0] = "temp_c";
    a->vals[0] = 1;
    a->t = (ot_store_tel){.event_id = id, .twin_id = "tw", .asset_id = "as",
                          .ts_us = 1767225600000000LL, .nmetrics = 1, .metric_names = a->names,
                          .metric_values = a->vals, .json = "{\"x\":1}"};
    a->w = (ot_store_write){.tels = &a->t, .ntels = 1, .done = async_done, .ctx = a};
    cr_assert_eq(ot_store_submit(st, &a->w), 0);
}

static int read_count(int64_t *scanned)
{
    int n = 0;
    ot_error e;
    int got = ot_store_read_events(st, 0, 100, NULL, count, &n, scanned, &e);
    cr_assert_eq(got, n);
    return n;
}

/* A commit is in the database before it is durable and published: while the
 * syncer is held after the fsync of e2, the writer commits e3 as well, but
 * neither is acknowledged, counted in last_cursor or returned by
 * ot_store_read_events until they are published, in order. */
STORE_TEST(events_are_read_only_once_published_and_acks_keep_order)
{
    int64_t c, scanned;
    int dup;
    cr_assert_eq(write_tel("e1", 1, 1, &c, &dup), 0);
    pthread_mutex_lock(&gate_mu);
    gate_armed = 1;
    pthread_mutex_unlock(&gate_mu);
    struct async_write a2, a3;
    submit_async(&a2, "e2");
    pthread_mutex_lock(&gate_mu);
    while (!gate_inside)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    submit_async(&a3, "e3");
    ot_error e;
    char *doc = NULL;
    for (int i = 0; i < 500 && !doc; i++) { /* the writer commits e3 meanwhile */
        doc = ot_store_get_doc(st, "telemetry", "e3", &e);
        if (!doc)
            usleep(10000);
    }
    cr_assert_not_null(doc, "the writer went on with e3 while e2 was being published");
    free(doc);
    cr_assert_eq(ot_store_last_cursor(st), 1);
    cr_assert_eq(read_count(&scanned), 1, "only the published event is read");
    cr_assert_eq(scanned, 1);
    pthread_mutex_lock(&gate_mu);
    cr_assert_eq(a2.done + a3.done, 0, "nothing acknowledged before it is published");
    gate_armed = 0;
    pthread_cond_broadcast(&gate_cv);
    while (!a2.done || !a3.done)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    cr_assert_eq(a2.w.rc, 0);
    cr_assert_eq(a3.w.rc, 0);
    cr_assert_eq(a2.t.cursor, 2);
    cr_assert_eq(a3.t.cursor, 3);
    cr_assert_lt(a2.order, a3.order, "acknowledged in commit order");
    cr_assert_eq(ot_store_last_cursor(st), 3);
    cr_assert_eq(read_count(&scanned), 3);
}

/* Under steady writes (~60,000 frames of WAL, the checkpointer copying
 * meanwhile and often holding its lock when the writer tries) the writer
 * still starts the WAL over once it is past 16,384 frames: the file stays
 * near 64 MiB instead of growing with everything written. */
Test(store, the_wal_stays_bounded_under_steady_writes)
{
    enum { PER = 500, ROUNDS = 120, JSON = 3000 };
    char *json = malloc(JSON + 1);
    memset(json, 'x', JSON);
    memcpy(json, "{\"p\":\"", 6);
    memcpy(json + JSON - 2, "\"}", 3);
    const char *names[1] = {"temp_c"};
    double vals[1] = {1};
    ot_store_tel *t = calloc(PER, sizeof *t);
    char (*ids)[32] = calloc(PER, sizeof *ids), (*twins)[8] = calloc(PER, sizeof *twins);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PER; i++) {
            snprintf(ids[i], sizeof ids[i], "w%d-%d", r, i);
            snprintf(twins[i], sizeof twins[i], "t%d", i % 16);
            t[i] = (ot_store_tel){.event_id = ids[i], .twin_id = twins[i], .asset_id = "as",
                                  .ts_us = 1767225600000000LL + r * PER + i, .nmetrics = 1,
                                  .metric_names = names, .metric_values = vals, .json = json};
        }
        ot_store_write w = {.tels = t, .ntels = PER};
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    }
    cr_assert_eq(ot_store_last_cursor(st), (int64_t)PER * ROUNDS);
    char path[600];
    snprintf(path, sizeof path, "%s/opstwin.db-wal", dir);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    /* 16,384 frames, the retries' 1,024 each, and the last round's ~1,300 */
    cr_assert_lt(sb.st_size, (off_t)22000 * 4120, "WAL of %lld bytes", (long long)sb.st_size);
    free(t);
    free(ids);
    free(twins);
    free(json);
}

/* The descriptor the SQLite store fdatasyncs its WAL through: the WAL
 * buffer's own read-only one on DIR/opstwin.db-wal. -1 if none. */
static int wal_sync_fd(void)
{
    char want[600], link[PATH_MAX], path[64], info[256];
    snprintf(want, sizeof want, "%s/opstwin.db-wal", dir);
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int found = -1;
    for (struct dirent *de; (de = readdir(d)) && found < 0;) {
        int fd = atoi(de->d_name);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        if (strcmp(link, want) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
        FILE *f = fopen(path, "r");
        unsigned flags = 0;
        while (f && fgets(info, sizeof info, f))
            if (sscanf(info, "flags: %o", &flags) == 1)
                break;
        if (f)
            fclose(f);
        if ((flags & O_ACCMODE) == O_RDONLY)
            found = fd;
    }
    closedir(d);
    return found;
}

/* A failed fsync of the WAL stops the store's writing for good: the write
 * whose commit could not be synced is answered EUNAVAIL and never shown (no
 * on_commit, last_cursor and ot_store_read_events stay where durability
 * ended), later writes are refused even once fsync works again, health says
 * "down", and a restart recovers a gap-free log. The failure is real: the
 * sync descriptor is made a pipe, which fdatasync refuses (EINVAL). */
Test(store, a_failed_wal_fsync_stops_writing_until_a_restart)
{
    int64_t c, scanned;
    int dup;
    cr_assert_eq(write_tel("e1", 1, 1, &c, &dup), 0);
    int fd = wal_sync_fd();
    cr_assert_geq(fd, 0, "no read-only descriptor on the WAL");
    int saved = fcntl(fd, F_DUPFD_CLOEXEC, 0), p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(dup2(p[0], fd), fd);

    const char *names[1] = {"temp_c"};
    double vals[1] = {2};
    ot_store_tel t = {.event_id = "e2", .twin_id = "tw", .asset_id = "as",
                      .ts_us = 1767225600000000LL, .nmetrics = 1, .metric_names = names,
                      .metric_values = vals, .json = "{\"x\":2}", .client_id = 1};
    ot_store_write w = {.tels = &t, .ntels = 1};
    cr_assert_eq(ot_store_write_sync(st, &w), OT_EUNAVAIL);
    cr_assert(strstr(w.err.message, "fsync of the write-ahead log failed"), "%s", w.err.message);
    cr_assert_eq(ot_store_last_cursor(st), 1);
    cr_assert_eq(read_count(&scanned), 1, "the unsynced commit is not in the log");
    cr_assert_eq(commits, 1, "nor published to on_commit");
    json_t *detail = json_object();
    cr_assert_str_eq(ot_store_health(st, detail), "down");
    cr_assert(strstr(json_string_value(json_object_get(detail, "last_error")), "restarted"));
    json_decref(detail);

    /* fsync works again: writing stays stopped */
    cr_assert_eq(dup2(saved, fd), fd);
    close(saved);
    close(p[0]);
    close(p[1]);
    int rc = write_tel("e3", 1, 3, &c, &dup);
    cr_assert_eq(rc, OT_EUNAVAIL);
    cr_assert_eq(ot_store_last_cursor(st), 1);
    ot_error e;
    cr_assert_null(ot_store_get_doc(st, "telemetry", "e3", &e), "nothing more is committed");

    /* a restart recovers what is on disk, gap-free: e2's commit reached the
     * file (only its fsync failed), so it is cursor 2 */
    ot_store_close(st);
    open_store();
    cr_assert_eq(ot_store_last_cursor(st), 2);
    cr_assert_eq(write_tel("e4", 1, 4, &c, &dup), 0);
    cr_assert_eq(c, 3);
    cr_assert_eq(read_count(&scanned), 3);
    detail = json_object();
    cr_assert_str_eq(ot_store_health(st, detail), "ok");
    json_decref(detail);
}

STORE_TEST(survives_a_reopen_and_keeps_numbering)
{
    int64_t c;
    int dup;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        cr_assert_eq(write_tel(id, 0, i, &c, &dup), 0);
    }
    ot_store_close(st);
    open_store();
    cr_assert_eq(ot_store_last_cursor(st), 5);
    cr_assert_eq(write_tel("after", 0, 1, &c, &dup), 0);
    cr_assert_eq(c, 6);
    int n = 0;
    int64_t scanned;
    ot_error e;
    cr_assert_eq(ot_store_read_events(st, 0, 100, NULL, count, &n, &scanned, &e), 6);
    cr_assert_eq(n, 6);
    json_t *latest = ot_store_latest(st, ACKED, "tw", &e);
    cr_assert_eq(json_number_value(json_object_get(json_object_get(json_object_get(
                     json_object_get(latest, "tw"), "as"), "temp_c"), "value")), 1.0);
    json_decref(latest);
}

STORE_TEST(aggregates_by_window)
{
    const char *names[1] = {"m"};
    for (int i = 0; i < 120; i++) {
        double v = i < 60 ? 1.0 : 3.0;
        double vals[1] = {v};
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        ot_store_tel t = {.event_id = id, .twin_id = "tw", .asset_id = "as",
                          .ts_us = 1767225600000000LL + (int64_t)i * 1000000, .nmetrics = 1,
                          .metric_names = names, .metric_values = vals, .json = "{}"};
        ot_store_write w = {.tels = &t, .ntels = 1};
        cr_assert_eq(ot_store_write_sync(st, &w), 0);
    }
    ot_error e;
    json_t *b = ot_store_aggregate(st, ACKED, "tw", NULL, "m", INT64_MIN, INT64_MAX, 60000000LL,
                                   OT_AGG_AVG, 1000, &e);
    cr_assert_eq(json_array_size(b), 2);
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(b, 0), "value")), 1.0,
                       1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(b, 1), "value")), 3.0,
                       1e-9);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(b, 1), "count")), 60);
    json_decref(b);
}

static int check_audit(void *ctx, const ot_audit_row *row)
{
    char h[OT_AUDIT_HASH_HEX];
    char *prev = ctx;
    cr_assert_str_eq(row->prev_hash, prev);
    ot_audit_hash(prev, row->record, strlen(row->record), h);
    cr_assert_str_eq(h, row->hash);
    strcpy(prev, h);
    return 0;
}

STORE_TEST(audit_records_chain)
{
    for (int i = 0; i < 3; i++) {
        ot_store_audit a = {.actor = "t", .action = "x", .target = "y"};
        ot_store_write w = {.audit = &a};
        cr_assert_eq(ot_store_write_sync(st, &w), 0);
        cr_assert_eq(a.seq, i + 1);
    }
    char prev[OT_AUDIT_HASH_HEX];
    memset(prev, '0', 64);
    prev[64] = 0;
    ot_error e;
    cr_assert_eq(ot_store_read_audit(st, 0, 10, check_audit, prev, &e), 3);
}

/* A write that fails takes its audit record with it: the records wait in
 * memory with the group's rows until COMMIT (sqlite_rows.h, and array
 * literals on PostgreSQL, hence the quotes and backslash), and the chain
 * goes on from the last committed one. */
STORE_TEST(a_failed_write_takes_its_audit_record_with_it)
{
    const char *names[1] = {"m"};
    double v = 1.0;
    ot_store_tel t = {.event_id = "dup", .twin_id = "tw", .asset_id = "x",
                      .ts_us = 1767225600000000LL, .nmetrics = 1, .metric_names = names,
                      .metric_values = &v, .json = "{}"};
    for (int i = 0; i < 3; i++) {
        /* the second stores "dup" again, not as a client's id: it fails */
        ot_store_audit a = {.actor = "t", .action = "x",
                            .target = i == 1 ? "lost" : "kept \"quoted\" \\ {a,b}"};
        ot_store_write w = {.audit = &a, .tels = i < 2 ? &t : NULL, .ntels = i < 2 ? 1 : 0};
        int rc = ot_store_write_sync(st, &w);
        cr_assert_eq(rc != 0, i == 1, "write %d: %d", i, rc);
    }
    char prev[OT_AUDIT_HASH_HEX];
    memset(prev, '0', 64);
    prev[64] = 0;
    ot_error e;
    cr_assert_eq(ot_store_read_audit(st, 0, 10, check_audit, prev, &e), 2,
                 "the failed write's record is gone, the chain verifies");
}

STORE_TEST(a_second_opener_is_refused)
{
    ot_store *other;
    ot_store_options o = {.data_dir = dir, .database_url = pg_url};
    ot_error e;
    cr_assert_neq(ot_store_open(&o, &other, &e), 0);
    if (pg_url[0]) {
        /* another data folder on the same database: the writer lock refuses */
        char dir2[] = "/tmp/ot-store2-XXXXXX";
        cr_assert_not_null(mkdtemp(dir2));
        o.data_dir = dir2;
        int rc = ot_store_open(&o, &other, &e);
        rmdir(dir2);
        cr_assert_eq(rc, OT_EBUSY, "%d %s", rc, e.message);
        cr_assert(strstr(e.message, "in use by another opstwin"), "%s", e.message);
    }
}

/* 600 points of metric "m" on twin "tw", assets x and y alternating, 1.5 s
 * apart from 2026-01-01 on; the point of i has cursor i + 1. */
static double point_value(int i) { return (double)((i * 37) % 101) / 7.0; }

/* Point i as a record (its JSON holds the metric, as the canonical text of
 * a stored record does: the SQLite backend rebuilds points from it). */
static int write_point(int i, const char *event_id)
{
    const char *names[1] = {"m"};
    double vals[1] = {point_value(i)};
    char json[96];
    snprintf(json, sizeof json, "{\"metrics\":{\"m\":%.17g}}", vals[0]);
    ot_store_tel t = {.event_id = event_id, .twin_id = "tw", .asset_id = i % 2 ? "x" : "y",
                      .ts_us = 1767225600000000LL + (int64_t)i * 1500000, .nmetrics = 1,
                      .metric_names = names, .metric_values = vals, .json = json};
    ot_store_write w = {.tels = &t, .ntels = 1};
    return ot_store_write_sync(st, &w);
}

/* write_point's records of asset ("x": odd i, "y": even) by time, all of
 * them: each i of 0..n-1 once and in order. */
static void check_points_by_time(const char *asset, int n)
{
    ot_error e;
    json_t *rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), "tw", asset, INT64_MIN,
                                            INT64_MAX, 1000, &e);
    cr_assert_not_null(rows, "%s", e.message);
    int step = asset ? 2 : 1, i = asset && !strcmp(asset, "x") ? 1 : 0;
    cr_assert_eq(json_array_size(rows), (size_t)((n - i + step - 1) / step));
    size_t k;
    json_t *r;
    json_array_foreach(rows, k, r) {
        double want = point_value(i);
        cr_assert_eq(json_number_value(json_object_get(json_object_get(r, "metrics"), "m")), want,
                     "record %zu is point %d", k, i);
        i += step;
    }
    json_decref(rows);
}

static void write_600_points(void)
{
    for (int i = 0; i < 600; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        cr_assert_eq(write_point(i, id), 0);
    }
}

/* The count and sum over all points of "m" as an aggregate returns them,
 * from the rollups (a minute-aligned range) or from the points. */
static void aggregate_totals(int from_points, double *count, double *sum)
{
    int64_t start = 1767225600000000LL - 86400000000LL + (from_points ? 1 : 0);
    for (int k = 0; k < 2; k++) {
        ot_error e;
        json_t *b = ot_store_aggregate(st, ACKED, "tw", NULL, "m", start,
                                       INT64_MAX, 2 * 86400000000LL,
                                       k ? OT_AGG_SUM : OT_AGG_COUNT, 10, &e);
        cr_assert_not_null(b, "%s", e.message);
        cr_assert_eq(json_array_size(b), 1);
        *(k ? sum : count) = json_number_value(json_object_get(json_array_get(b, 0), "value"));
        json_decref(b);
    }
}

/* Rollups and points hold exactly points first..last-1 of "m" once each. */
static void check_totals(int first, int last)
{
    double want = 0;
    for (int i = first; i < last; i++)
        want += point_value(i);
    for (int p = 0; p < 2; p++) {
        double count, sum;
        aggregate_totals(p, &count, &sum);
        cr_assert_float_eq(count, last - first, 1e-9, "%s", p ? "points" : "rollups");
        cr_assert_float_eq(sum, want, 1e-6, "%s", p ? "points" : "rollups");
    }
}

static void check_rollups_agree_with_points(void)
{
    ot_error e;
    enum ot_agg_fn fns[] = {OT_AGG_AVG, OT_AGG_MIN, OT_AGG_MAX, OT_AGG_SUM, OT_AGG_COUNT,
                            OT_AGG_STDDEV};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        /* a minute-aligned range reads the rollups; starting 1 us later reads
         * the points (the first point is on a minute boundary, so both see
         * the same data) */
        json_t *a = ot_store_aggregate(st, ACKED, "tw", NULL, "m", 1767225600000000LL - 60000000LL,
                                       INT64_MAX, 120000000LL, fns[f], 1000, &e);
        json_t *b = ot_store_aggregate(st, ACKED, "tw", NULL, "m",
                                       1767225600000000LL - 60000000LL + 1, INT64_MAX,
                                       120000000LL, fns[f], 1000, &e);
        cr_assert_eq(json_array_size(a), json_array_size(b));
        cr_assert_gt(json_array_size(a), 5);
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
            cr_assert_str_eq(json_string_value(json_object_get(x, "bucket")),
                             json_string_value(json_object_get(y, "bucket")));
            cr_assert_float_eq(json_number_value(json_object_get(x, "value")),
                               json_number_value(json_object_get(y, "value")), 1e-9,
                               "fn %zu bucket %zu", f, i);
        }
        json_decref(a);
        json_decref(b);
    }
    /* 10-second windows inside one minute, from the points only: 1.5 s
     * apart, so windows hold 6 or 7 points, in time order */
    json_t *c = ot_store_aggregate(st, ACKED, "tw", "x", "m", 1767225600000000LL + 10000000LL,
                                   1767225600000000LL + 30000000LL, 10000000LL, OT_AGG_SUM,
                                   1000, &e);
    cr_assert_eq(json_array_size(c), 2);
    double want = 0;
    for (int i = 7; i < 20; i += 2)
        want += point_value(i); /* x: odd i, 10.5 s .. 28.5 s */
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(c, 0), "value")) +
                           json_number_value(json_object_get(json_array_get(c, 1), "value")),
                       want, 1e-9);
    json_decref(c);
}

STORE_TEST(rollups_agree_with_raw_points)
{
    write_600_points();
    check_rollups_agree_with_points();
}

static void sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

/* The one row of sql on the database file at path (*db: its connection,
 * to close after finalizing the statement). */
static sqlite3_stmt *file_row(const char *path, sqlite3 **db, const char *sql)
{
    cr_assert_eq(sqlite3_open(path, db), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(*db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(*db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    return q;
}

/* meta.derived_cursor and the rows of point_blocks, read straight from the
 * database file. */
static void derived_on_disk(int64_t *cursor, int *blocks)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/opstwin.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT (SELECT value FROM meta WHERE key ="
                                        " 'derived_cursor'), (SELECT count(*) FROM point_blocks)",
                                    -1, &q, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    *cursor = sqlite3_column_int64(q, 0);
    *blocks = sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* SQLite keeps derived data in memory across commits; a read that must see
 * every acknowledged record has it written first. */
Test(store, a_read_writes_the_derived_data_waiting_in_memory)
{
    ot_store_close(st);
    open_store_delayed(600000);
    write_600_points();
    cr_assert_not(ot_store_derived_ready(st, ot_store_last_cursor(st)));
    cr_assert(ot_store_derived_ready(st, 0), "nothing is owed up to cursor 0");
    int64_t cursor;
    int blocks;
    derived_on_disk(&cursor, &blocks);
    cr_assert_eq(cursor, 0, "the points wait in memory");
    cr_assert_eq(blocks, 0);
    check_totals(0, 600);
    cr_assert(ot_store_derived_ready(st, ot_store_last_cursor(st)));
    derived_on_disk(&cursor, &blocks);
    cr_assert_eq(cursor, 600);
    cr_assert_gt(blocks, 0);
    ot_error e;
    json_t *latest = ot_store_latest(st, ACKED, "tw", &e);
    cr_assert_float_eq(json_number_value(json_object_get(
                           json_object_get(json_object_get(json_object_get(latest, "tw"), "x"),
                                           "m"),
                           "value")),
                       point_value(599), 1e-12);
    json_decref(latest);
}

/* Record i on twin "t<i % 3>", event_id "r<i>", ts ascending with i. */
static void write_on_twin(int i)
{
    const char *names[1] = {"m"};
    double vals[1] = {i};
    char id[16], twin[8], json[64];
    snprintf(id, sizeof id, "r%d", i);
    snprintf(twin, sizeof twin, "t%d", i % 3);
    snprintf(json, sizeof json, "{\"event_id\":\"%s\"}", id);
    ot_store_tel t = {.event_id = id, .twin_id = twin, .asset_id = "a",
                      .ts_us = 1767225600000000LL + (int64_t)i * 1000000, .nmetrics = 1,
                      .metric_names = names, .metric_values = vals, .json = json};
    ot_store_write w = {.tels = &t, .ntels = 1};
    cr_assert_eq(ot_store_write_sync(st, &w), 0);
}

struct twin_read {
    const char *twin;
    int64_t last;
    int n;
};

static int check_twin_event(void *ctx, const ot_event *ev)
{
    struct twin_read *r = ctx;
    cr_assert_str_eq(ev->twin_id, r->twin);
    cr_assert_gt(ev->cursor, r->last, "cursor %lld after %lld", (long long)ev->cursor,
                 (long long)r->last);
    r->last = ev->cursor;
    r->n++;
    return 0;
}

/* Every event the filter f keeps, from cursor 0, in pages of `page`, each
 * page from where the last one's read got to, until a page is empty. */
static void read_pages(const ot_event_filter *f, int page,
                       int (*fn)(void *ctx, const ot_event *ev), void *ctx)
{
    ot_error e;
    for (int64_t after = 0;;) {
        int64_t to;
        int got = ot_store_read_events(st, after, page, f, fn, ctx, &to, &e);
        cr_assert_geq(got, 0, "%s", e.message);
        if (!got)
            return;
        after = to;
    }
}

/* The events of a twin, read in pages of 7: each once, in cursor order. */
static int read_twin_events(const char *twin)
{
    struct twin_read r = {twin, 0, 0};
    ot_event_filter f = {.twin_id = twin};
    read_pages(&f, 7, check_twin_event, &r);
    return r.n;
}

/* Twin "t<k>" among records 0..n-1 written by write_on_twin: its events,
 * and its records by time in pages of 4. */
static void check_twin_reads(int k, int n)
{
    char twin[8];
    snprintf(twin, sizeof twin, "t%d", k);
    int want = n / 3 + (k < n % 3);
    int events = read_twin_events(twin);
    cr_assert_eq(events, want, "twin %s: %d events, want %d", twin, events, want);
    ot_error e;
    int seen = 0;
    for (int64_t start = 0;;) {
        json_t *a = ot_store_query_telemetry(st, ot_store_last_cursor(st), twin, NULL, start,
                                             INT64_MAX, 4, &e);
        cr_assert_not_null(a, "%s", e.message);
        size_t i;
        json_t *d;
        json_array_foreach(a, i, d) {
            char id[16];
            snprintf(id, sizeof id, "r%d", k + 3 * seen++);
            cr_assert_str_eq(json_string_value(json_object_get(d, "event_id")), id);
            start = 1767225600000000LL + (int64_t)(k + 3 * (seen - 1)) * 1000000 + 1;
        }
        size_t got = json_array_size(a);
        json_decref(a);
        if (!got)
            break;
    }
    cr_assert_eq(seen, want, "twin %s: %d records, want %d", twin, seen, want);
}

/* Reads by twin, paged by cursor and by time, find every record of the
 * twin once and in order: before and after a bulk write of the derived
 * data, and after a reopen. */
STORE_TEST(reads_by_twin_page_through_every_record_once)
{
    ot_store_close(st);
    open_store_delayed(600000);
    for (int i = 0; i < 40; i++)
        write_on_twin(i);
    ot_store_write flush = {.flush_derived = 1};
    cr_assert_eq(ot_store_write_sync(st, &flush), 0);
    for (int i = 40; i < 100; i++)
        write_on_twin(i);
    for (int k = 0; k < 3; k++)
        check_twin_reads(k, 100);
    ot_store_close(st);
    open_store_delayed(600000);
    for (int k = 0; k < 3; k++)
        check_twin_reads(k, 100);
}

/* n telemetry records in one write, event_ids prefix<first> to
 * prefix<first + n - 1>, odd ones on twin odd and even ones on even. */
static void write_alternating(const char *prefix, int first, int n, const char *odd,
                              const char *even)
{
    static ot_store_tel t[500];
    static char ids[500][32];
    static const char *names[1] = {"m"};
    static double vals[1] = {1};
    cr_assert_leq(n, 500);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%s%d", prefix, first + i);
        t[i] = (ot_store_tel){.event_id = ids[i], .twin_id = i % 2 ? odd : even,
                              .asset_id = "as", .ts_us = 1767225600000000LL + i, .nmetrics = 1,
                              .metric_names = names, .metric_values = vals, .json = "{}"};
    }
    ot_store_write w = {.tels = t, .ntels = (size_t)n};
    cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
}

/* With the derived data held back, the events by twin are still written
 * once OT_POSTINGS_FLUSH_AT wait (sqlite_postings.h): reads by twin then
 * take at most that many from the log. */
Test(store, events_by_twin_are_written_once_enough_wait)
{
    ot_store_close(st);
    open_store_delayed(600000);
    for (int w = 0; w < 11; w++)
        write_alternating("q", w * 100, 100, "odd", "even");
    int64_t derived;
    int blocks;
    derived_on_disk(&derived, &blocks);
    cr_assert_eq(derived, 0, "the derived data was held back");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/opstwin.db", dir);
    sqlite3 *db;
    sqlite3_stmt *q = file_row(path, &db, "SELECT (SELECT value FROM meta WHERE key ="
                                          " 'posted_cursor'), (SELECT count(*) FROM"
                                          " twin_postings)");
    cr_assert_eq(sqlite3_column_int64(q, 0), 1100, "written by the commit that found 1,100");
    cr_assert_eq(sqlite3_column_int(q, 1), 2, "a row per twin");
    sqlite3_finalize(q);
    sqlite3_close(db);
    cr_assert_eq(read_twin_events("odd"), 550);
    cr_assert_eq(read_twin_events("even"), 550);
}

/* A crash loses the derived data in memory; the next open rebuilds it from
 * the stored records, once. */
Test(store, derived_data_lost_in_a_crash_is_rebuilt_at_open)
{
    ot_store_close(st);
    st = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* the crash: acknowledged records, then _exit without closing */
        ot_store_options o = {.data_dir = dir, .queue_limit = 1000, .read_connections = 1,
                              .derived_delay_ms = 600000};
        ot_error e;
        if (ot_store_open(&o, &st, &e))
            _exit(2);
        for (int i = 0; i < 400; i++) {
            char id[16];
            snprintf(id, sizeof id, "p%d", i);
            if (write_point(i, id))
                _exit(3);
        }
        _exit(ot_store_derived_ready(st, ot_store_last_cursor(st)) ? 4 : 0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    int64_t cursor;
    int blocks;
    derived_on_disk(&cursor, &blocks);
    cr_assert_eq(cursor, 0, "the crash left the derived data unwritten");
    cr_assert_eq(blocks, 0);

    open_store();
    derived_on_disk(&cursor, &blocks);
    cr_assert_eq(cursor, 400, "rebuilt and written at open");
    check_totals(0, 400);
    cr_assert_eq(read_twin_events("tw"), 400);
    check_points_by_time(NULL, 400);
    check_points_by_time("x", 400);
    for (int i = 400; i < 600; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        cr_assert_eq(write_point(i, id), 0);
    }
    ot_store_close(st);
    open_store(); /* nothing left to rebuild: no point twice */
    check_totals(0, 600);
    check_rollups_agree_with_points();
    cr_assert_eq(read_twin_events("tw"), 600);
    check_points_by_time(NULL, 600);
    check_points_by_time("y", 600);
}

/* A failed transaction takes the derived data in memory with it (it held
 * that transaction's records too); it is rebuilt from what is stored. */
Test(store, a_failed_write_leaves_the_derived_data_of_the_others_intact)
{
    ot_store_close(st);
    open_store_delayed(600000);
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        cr_assert_eq(write_point(i, id), 0);
    }
    /* a write of two records whose second has an event_id stored before
     * (not marked as the client's, so the insert fails): the first record's
     * points were added in memory when the transaction rolled back */
    const char *names[1] = {"m"};
    double vals[2] = {point_value(300), point_value(301)};
    ot_store_tel t[2] = {
        {.event_id = "p300", .twin_id = "tw", .asset_id = "y", .ts_us = 1767225600000000LL,
         .nmetrics = 1, .metric_names = names, .metric_values = &vals[0], .json = "{}"},
        {.event_id = "p7", .twin_id = "tw", .asset_id = "x", .ts_us = 1767225600000000LL,
         .nmetrics = 1, .metric_names = names, .metric_values = &vals[1], .json = "{}"}};
    ot_store_write w = {.tels = t, .ntels = 2};
    cr_assert_neq(ot_store_write_sync(st, &w), 0);
    for (int i = 300; i < 600; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        cr_assert_eq(write_point(i, id), 0);
    }
    check_totals(0, 600);
    check_rollups_agree_with_points();
    cr_assert_eq(read_twin_events("tw"), 600, "the failed write's rows are gone, no others");
}

/* SQL that takes a database of version 12 back to 11: rollups with the sum
 * of squares. */
#define BACK_TO_11 "ALTER TABLE rollup_1m RENAME COLUMN m2 TO sumsq;" \
                   "UPDATE rollup_1m SET sumsq = sumsq + sum * sum / count;"

/* SQL that takes a database of version 12 back to 9: no indexes of the
 * events other than telemetry, and the telemetry by twin and time as an
 * index again. */
#define BACK_TO_9 BACK_TO_11 "DROP INDEX events_rare; DROP INDEX events_rare_twin;" \
                  "DROP TABLE telemetry_postings;" \
                  "CREATE INDEX telemetry_twin_ts ON telemetry (twin_id, ts);"

/* Close the store and open its database file (path: its name). */
static sqlite3 *close_and_open_file(char path[PATH_MAX])
{
    ot_store_close(st);
    st = NULL;
    snprintf(path, PATH_MAX, "%s/opstwin.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

/* A database of schema version 3 kept a row per point in `points`;
 * version 4 moves them into point_blocks when it opens. */
Test(store, moves_rows_of_points_into_blocks_when_it_migrates)
{
    write_600_points();
    char path[PATH_MAX];
    sqlite3 *db = close_and_open_file(path);
    sql_exec(db, "BEGIN;" BACK_TO_9
                 "CREATE TABLE points (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,"
                 " seq INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series_id, ts, seq))"
                 " WITHOUT ROWID;"
                 "DROP TABLE point_blocks; DROP TABLE meta; DROP TABLE twin_postings;"
                 "CREATE INDEX events_twin ON events (twin_id, cursor); PRAGMA user_version = 3;");
    sqlite3_stmt *ins;
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO points SELECT series_id, ?1, ?2, ?3 FROM"
                                        " series WHERE asset_id = ?4", -1, &ins, NULL), SQLITE_OK);
    for (int i = 0; i < 600; i++) {
        sqlite3_bind_int64(ins, 1, 1767225600000000LL + (int64_t)i * 1500000);
        sqlite3_bind_int64(ins, 2, i + 1);
        sqlite3_bind_double(ins, 3, point_value(i));
        sqlite3_bind_text(ins, 4, i % 2 ? "x" : "y", -1, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sql_exec(db, "COMMIT");
    sqlite3_close(db);

    open_store();
    check_rollups_agree_with_points();
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_master WHERE name ="
                                        " 'points'), (SELECT sum(length(data)) FROM point_blocks),"
                                        " (SELECT user_version FROM pragma_user_version)", -1, &q, NULL), SQLITE_OK,
                 "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 0, "points dropped");
    cr_assert_eq(sqlite3_column_int(q, 1), 600 * 16, "every point moved, once");
    cr_assert_eq(sqlite3_column_int(q, 2), 12);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* The twin indexes of database at path: the names among events_twin,
 * telemetry_twin_ts, twin_events, twin_telemetry, twin_postings and
 * telemetry_postings, and
 * the number of meta rows and the schema version. */
static void twin_schema(const char *path, const char *names, int meta, int version)
{
    sqlite3 *db;
    sqlite3_stmt *q = file_row(path, &db, "SELECT (SELECT group_concat(name) FROM (SELECT name"
                                          " FROM sqlite_master WHERE name IN ('events_twin',"
                                          " 'telemetry_twin_ts', 'twin_events', 'twin_telemetry',"
                                          " 'twin_postings', 'telemetry_postings') ORDER BY"
                                          " name)), (SELECT count(*)"
                                          " FROM meta), (SELECT user_version FROM"
                                          " pragma_user_version)");
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), names);
    cr_assert_eq(sqlite3_column_int(q, 1), meta);
    cr_assert_eq(sqlite3_column_int(q, 2), version);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* 30 records on three twins (write_on_twin), then the closed store's
 * database file (path) taken back to an older schema by sql, and the
 * store opened on it again: it migrates. */
static void reopen_from_older(char path[PATH_MAX], const char *sql)
{
    for (int i = 0; i < 30; i++)
        write_on_twin(i);
    sqlite3 *db = close_and_open_file(path);
    sql_exec(db, sql);
    sqlite3_close(db);
    open_store();
    for (int k = 0; k < 3; k++)
        check_twin_reads(k, 30);
}

/* A database of version 7 (the per-twin indexes as tables, for an hour)
 * gets its SQL indexes back at version 8, postings at 9 and 10, and the
 * indexes of the events other than telemetry at 11. */
Test(store, puts_the_twin_indexes_back_when_it_migrates_from_version_7)
{
    char path[PATH_MAX];
    reopen_from_older(path, "BEGIN; DROP TABLE telemetry_postings;" BACK_TO_11
                 "DROP INDEX events_rare; DROP INDEX events_rare_twin;"
                 "DROP TABLE twin_postings; DELETE FROM meta WHERE key = 'posted_cursor';"
                 "CREATE TABLE twin_events (twin_id TEXT NOT NULL, cursor INTEGER NOT NULL,"
                 " PRIMARY KEY (twin_id, cursor)) WITHOUT ROWID;"
                 "CREATE TABLE twin_telemetry (twin_id TEXT NOT NULL, ts INTEGER NOT NULL,"
                 " event_id TEXT NOT NULL, PRIMARY KEY (twin_id, ts, event_id)) WITHOUT ROWID;"
                 "INSERT INTO meta VALUES ('twin_cursor', 30); PRAGMA user_version = 7; COMMIT;");
    twin_schema(path, "telemetry_postings,twin_postings", 2, 12); /* twin_cursor deleted */
}

/* A database of version 8 (the SQL index events (twin_id, cursor)) gets its
 * events by twin as postings at version 9: rows of at most 4,096 cursors,
 * a twin's events found once and in order, then new ones after them. */
Test(store, builds_the_postings_when_it_migrates_from_version_8)
{
    char path[PATH_MAX];
    reopen_from_older(path, "BEGIN;" BACK_TO_9
                 "DROP TABLE twin_postings; DELETE FROM meta WHERE key = 'posted_cursor';"
                 "CREATE INDEX events_twin ON events (twin_id, cursor);"
                 /* 10,000 events of twin "bulk" (no telemetry: only events are read) and
                  * one of no twin */
                 "WITH RECURSIVE n(i) AS (SELECT 31 UNION ALL SELECT i + 1 FROM n WHERE i < 10030)"
                 " INSERT INTO events (cursor, type, ts, twin_id, id, ref_type, extra)"
                 " SELECT i, 0, 1767225600000000, 'bulk', 'b' || i, 'telemetry', NULL FROM n;"
                 "INSERT INTO events VALUES (10031, 0, 1767225600000000, '', 's', 'schema', NULL);"
                 "PRAGMA user_version = 8; COMMIT;");
    cr_assert_eq(read_twin_events("bulk"), 10000);
    twin_schema(path, "telemetry_postings,twin_postings", 2, 12);
    sqlite3 *db;
    sqlite3_stmt *q = file_row(path, &db, "SELECT (SELECT group_concat(last) FROM twin_postings"
                                          " WHERE twin_id = 'bulk'), (SELECT value FROM meta"
                                          " WHERE key = 'posted_cursor')");
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "4126,8222,10030");
    cr_assert_eq(sqlite3_column_int64(q, 1), 10031);
    sqlite3_finalize(q);
    sqlite3_close(db);
    for (int i = 30; i < 60; i++)
        write_on_twin(i);
    for (int k = 0; k < 3; k++)
        check_twin_reads(k, 60);
}

/* A telemetry query reads its records in time order by event_id: ids
 * that sort against time, records missing from the table (as retention
 * leaves a row of the postings that straddles its cutoff), an asset
 * filter, limits. */
Test(store, a_query_reads_records_by_time_whatever_their_ids)
{
    const char *names[1] = {"m"};
    for (int i = 0; i < 300; i++) {
        double vals[1] = {i};
        char id[16], json[48];
        snprintf(id, sizeof id, "q%03d", 999 - i); /* ids descend as time goes on */
        snprintf(json, sizeof json, "{\"event_id\":\"%s\",\"i\":%d}", id, i);
        ot_store_tel t = {.event_id = id, .twin_id = "tq", .asset_id = i % 3 ? "a" : "b",
                          .ts_us = 1767225600000000LL + (int64_t)i * 1000, .nmetrics = 1,
                          .metric_names = names, .metric_values = vals, .json = json,
                          .client_id = 1};
        ot_store_write w = {.tels = &t, .ntels = 1};
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    }
    char path[PATH_MAX];
    sqlite3 *db = close_and_open_file(path);
    sql_exec(db, "DELETE FROM telemetry WHERE twin_id = 'tq' AND CAST(substr(event_id, 2) AS"
                 " INTEGER) % 7 = 0"); /* i = 999 - id: every 7th, from i = 5 */
    sqlite3_close(db);
    open_store();
    static const struct { const char *asset; int limit; } q[] = {
        {NULL, 1000}, {NULL, 64}, {NULL, 1}, {"b", 1000}, {"b", 30}, {"a", 130}};
    for (size_t k = 0; k < sizeof q / sizeof *q; k++) {
        ot_error e;
        json_t *rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), "tq", q[k].asset,
                                                INT64_MIN, INT64_MAX, q[k].limit, &e);
        cr_assert_not_null(rows, "%s", e.message);
        int n = 0;
        for (int i = 0; i < 300 && n < q[k].limit; i++) {
            if ((999 - i) % 7 == 0 || (q[k].asset && strcmp(q[k].asset, i % 3 ? "a" : "b")))
                continue;
            json_t *r = json_array_get(rows, (size_t)n++);
            cr_assert_eq(json_integer_value(json_object_get(r, "i")), i,
                         "query %zu, row %d: record %lld, want %d", k, n - 1,
                         (long long)json_integer_value(json_object_get(r, "i")), i);
        }
        cr_assert_eq(json_array_size(rows), (size_t)n, "query %zu", k);
        json_decref(rows);
    }
}

STORE_TEST(a_replay_inside_one_group_is_a_duplicate)
{
    const char *names[2] = {"m", "m"};
    double vals[2] = {1, 2};
    ot_store_tel t[3] = {
        {.event_id = "same", .twin_id = "tw", .asset_id = "as", .ts_us = 1767225600000000LL,
         .nmetrics = 2, .metric_names = names, .metric_values = vals, .json = "{}", .client_id = 1},
        {.event_id = "same", .twin_id = "tw", .asset_id = "as", .ts_us = 1767225600000000LL,
         .nmetrics = 1, .metric_names = names, .metric_values = vals, .json = "{}", .client_id = 1},
        {.event_id = "other", .twin_id = "tw", .asset_id = "as", .ts_us = 1767225601000000LL,
         .nmetrics = 1, .metric_names = names, .metric_values = vals, .json = "{}", .client_id = 1},
    };
    ot_store_write w = {.tels = t, .ntels = 3};
    cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    cr_assert_eq(t[0].cursor, 1);
    cr_assert_eq(t[1].cursor, 1);
    cr_assert_eq(t[1].duplicate, 1);
    cr_assert_eq(t[2].cursor, 2);
    ot_error e;
    json_t *b = ot_store_aggregate(st, ACKED, "tw", NULL, "m", INT64_MIN, INT64_MAX, 60000000LL,
                                   OT_AGG_COUNT, 100, &e);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(b, 0), "count")), 2,
                 "a metric named twice in one record is one point");
    json_decref(b);
    json_t *rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), "tw", "as", INT64_MIN, INT64_MAX, 10, &e);
    cr_assert_eq(json_array_size(rows), 2);
    json_decref(rows);
}

/* Cursors a read found, in order. */
struct cursors {
    int64_t c[64];
    int n;
};

static int add_cursor(void *ctx, const ot_event *ev)
{
    struct cursors *r = ctx;
    cr_assert_lt(r->n, 64);
    if (r->n)
        cr_assert_gt(ev->cursor, r->c[r->n - 1], "in cursor order, once");
    r->c[r->n++] = ev->cursor;
    return 0;
}

/* The cursors a read of types (and twin) finds from cursor 0, in pages of
 * 3, into got. Returns how many. */
static int read_types(const char *twin, uint32_t types, struct cursors *got)
{
    ot_event_filter f = {.twin_id = twin, .types = types};
    got->n = 0;
    read_pages(&f, 3, add_cursor, got);
    return got->n;
}

/* Reads filtered to types other than telemetry go by the indexes of those
 * events (SQLite migration 11, PostgreSQL 3), with a twin or without: the
 * same events, in order, as a filter that keeps telemetry in. */
STORE_TEST(reads_of_types_other_than_telemetry_find_theirs_among_many)
{
    struct cursors want_a = {0}, want_all = {0};
    int64_t next = 1;
    for (int round = 0; round < 6; round++) {
        write_alternating("r", round * 500, 500, "ta", "tb");
        next += 500;
        /* a policy update on ta, a proposal on tb, an action on ta */
        int types[3] = {OT_EV_POLICY_UPDATED, OT_EV_PROPOSAL_CREATED, OT_EV_ACTION_STARTED};
        for (int k = 0; k < 3; k++) {
            ot_store_event ev = {.type = types[k], .twin_id = k == 1 ? "tb" : "ta", .id = "x",
                                 .ref_type = "doc", .ts_us = ot_now_us()};
            ot_store_write we = {.events = &ev, .nevents = 1};
            cr_assert_eq(ot_store_write_sync(st, &we), 0, "%s", we.err.message);
            if (k != 1)
                want_a.c[want_a.n++] = next;
            want_all.c[want_all.n++] = next;
            next++;
        }
    }
    uint32_t rare = 1u << OT_EV_POLICY_UPDATED | 1u << OT_EV_PROPOSAL_CREATED |
                    1u << OT_EV_ACTION_STARTED;
    struct cursors got;
    cr_assert_eq(read_types(NULL, rare, &got), want_all.n);
    cr_assert_arr_eq(got.c, want_all.c, (size_t)want_all.n * sizeof got.c[0]);
    cr_assert_eq(read_types("ta", rare, &got), want_a.n);
    cr_assert_arr_eq(got.c, want_a.c, (size_t)want_a.n * sizeof got.c[0]);
    cr_assert_eq(read_types("tb", 1u << OT_EV_PROPOSAL_CREATED, &got), 6);
    cr_assert_eq(read_types("ta", 1u << OT_EV_PROPOSAL_CREATED, &got), 0);
    cr_assert_eq(read_types(NULL, 1u << OT_EV_ACTION_STARTED, &got), 6);
    /* with telemetry in the filter, the telemetry comes too */
    ot_event_filter f = {.types = rare | 1u << OT_EV_TELEMETRY_APPENDED};
    int64_t to;
    ot_error e;
    got.n = 0;
    cr_assert_eq(ot_store_read_events(st, 0, 10, &f, add_cursor, &got, &to, &e), 10);
    cr_assert_eq(got.c[9], 10, "telemetry events 1-10 first");
}

/* Reopen the store with a retention window of a day; the writer idles
 * derived_delay_ms before it writes waiting derived data (0: default). */
static void reopen_with_retention(int derived_delay_ms)
{
    ot_store_close(st);
    ot_store_options o = {.data_dir = dir, .database_url = pg_url, .queue_limit = 1000,
                          .read_connections = 2, .on_commit = on_commit, .retention_days = 1,
                          .derived_delay_ms = derived_delay_ms};
    ot_error e;
    cr_assert_eq(ot_store_open(&o, &st, &e), 0, "%s", e.message);
}

STORE_TEST(retention_drops_old_rows_and_a_prefix_of_the_log)
{
    int64_t now = ot_now_us();
    const char *names[1] = {"m"};
    double vals[1] = {1};
    /* events 1, 2: 10 days old; 3: telemetry 10 days old (its event is
     * stamped at commit time); 4: fresh telemetry */
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        int64_t old_ts = now - 10 * 86400000000LL;
        ot_store_tel t = {.event_id = id, .twin_id = "tw", .asset_id = "as",
                          .ts_us = i < 3 ? old_ts : now, .nmetrics = 1,
                          .metric_names = names, .metric_values = vals, .json = "{}"};
        ot_store_event ev = {.type = OT_EV_POLICY_UPDATED, .twin_id = "tw", .id = id,
                             .ref_type = "policy", .ts_us = old_ts};
        ot_store_write w = {0};
        if (i < 2) {
            w.events = &ev;
            w.nevents = 1;
        } else {
            w.tels = &t;
            w.ntels = 1;
        }
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    }
    reopen_with_retention(0);
    /* the writer runs a pass when idle */
    for (int i = 0; i < 100 && ot_store_oldest_cursor(st) == 1; i++)
        usleep(50000);
    cr_assert_eq(ot_store_oldest_cursor(st), 3, "events 1-2 (old) dropped");
    /* PostgreSQL drops the rest on its maintenance thread, soon after */
    size_t nrec = 0, nbuckets = 0;
    for (int i = 0; i < 100; i++) {
        ot_error e;
        json_t *rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), "tw", NULL,
                                                INT64_MIN, INT64_MAX, 10, &e);
        nrec = json_array_size(rows);
        json_decref(rows);
        rows = ot_store_aggregate(st, ACKED, "tw", NULL, "m", INT64_MIN, INT64_MAX, 60000000LL,
                                  OT_AGG_COUNT, 100, &e);
        nbuckets = json_array_size(rows);
        json_decref(rows);
        if (nrec == 1 && nbuckets == 1)
            break;
        usleep(50000);
    }
    cr_assert_eq(nrec, 1, "the old record dropped");
    cr_assert_eq(nbuckets, 1, "old points and rollups dropped");
}

/* When every event expired, the newest stays: the store goes on from its
 * cursor at open, and would hand out cursors again from 1 otherwise. */
STORE_TEST(retention_keeps_the_newest_event_so_cursors_go_on)
{
    int64_t old = ot_now_us() - 10 * 86400000000LL;
    ot_store_event ev[3];
    for (int i = 0; i < 3; i++)
        ev[i] = (ot_store_event){.type = OT_EV_POLICY_UPDATED, .twin_id = "tw", .id = "p",
                                 .ref_type = "policy", .ts_us = old};
    ot_store_write w = {.events = ev, .nevents = 3};
    cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    reopen_with_retention(0);
    for (int i = 0; i < 100 && ot_store_oldest_cursor(st) == 1; i++)
        usleep(50000);
    cr_assert_eq(ot_store_oldest_cursor(st), 3, "events 1-2 dropped, 3 kept");
    reopen_with_retention(0);
    cr_assert_eq(ot_store_last_cursor(st), 3);
    ot_store_event fresh = {.type = OT_EV_POLICY_UPDATED, .twin_id = "tw", .id = "q",
                            .ref_type = "policy", .ts_us = ot_now_us()};
    ot_store_write w2 = {.events = &fresh, .nevents = 1};
    cr_assert_eq(ot_store_write_sync(st, &w2), 0, "%s", w2.err.message);
    cr_assert_eq(ot_store_last_cursor(st), 4, "the next cursor goes on from the newest");
}

/* How many telemetry records of a twin the store holds in [start, end),
 * up to limit. */
static size_t tel_count(const char *twin, int64_t start, int64_t end, int limit)
{
    ot_error e;
    json_t *rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), twin, NULL, start, end,
                                            limit, &e);
    cr_assert_not_null(rows, "%s", e.message);
    size_t n = json_array_size(rows);
    json_decref(rows);
    return n;
}

/* Retention runs while writes keep coming, not only when the writer is
 * idle (a server that always has telemetry to write kept everything), and
 * drains more than one pass deletes (backend.h: OT_RETENTION_PASS_MAX
 * records and as many events). */
#define OLD_BATCHES 26
STORE_TEST(retention_runs_under_steady_writes_a_bounded_pass_at_a_time)
{
    int64_t now = ot_now_us(), old = now - 10 * 86400000000LL;
    static ot_store_tel t[1000];
    static ot_store_event ev[1000];
    static char ids[1000][32];
    const char *names[1] = {"m"};
    double vals[1] = {1};
    const char *twins[3] = {"tw0", "tw1", "tw2"};
    /* the old events first (cursors 1 to 26,000), then the old telemetry */
    for (int b = 0; b < 2 * OLD_BATCHES; b++) {
        for (int i = 0; i < 1000; i++) {
            int k = (b % OLD_BATCHES) * 1000 + i;
            snprintf(ids[i], sizeof ids[i], "%s%d", b >= OLD_BATCHES ? "old" : "ev", k);
            t[i] = (ot_store_tel){.event_id = ids[i], .twin_id = twins[k % 3], .asset_id = "as",
                                  .ts_us = old + (int64_t)(k % 5000) * 1000, .nmetrics = 1,
                                  .metric_names = names, .metric_values = vals, .json = "{}"};
            ev[i] = (ot_store_event){.type = OT_EV_POLICY_UPDATED, .twin_id = twins[k % 3],
                                     .id = ids[i], .ref_type = "policy", .ts_us = old};
        }
        ot_store_write w = {0};
        if (b >= OLD_BATCHES) {
            w.tels = t;
            w.ntels = 1000;
        } else {
            w.events = ev;
            w.nevents = 1000;
        }
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    }
    cr_assert_eq(tel_count("tw0", INT64_MIN, INT64_MAX, 100000) + tel_count("tw1", INT64_MIN, INT64_MAX, 100000) +
                     tel_count("tw2", INT64_MIN, INT64_MAX, 100000),
                 OLD_BATCHES * 1000);
    /* an idle writer runs retention too: it must not idle here */
    reopen_with_retention(60000);
    /* fresh telemetry back to back for up to 30 s, until the old data is
     * gone: from reads by time and the oldest cursor, and on SQLite also
     * from the tables (records, postings rows ending before the cutoff) and
     * from the events-by-twin rows, which the pass that ends the round
     * drops (sqlite_retention.h) */
    char path[PATH_MAX], sql[256];
    snprintf(path, sizeof path, "%s/opstwin.db", dir);
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM telemetry WHERE ts < %lld),"
             " (SELECT count(*) FROM telemetry_postings WHERE tmax < %lld),"
             " (SELECT count(*) FROM twin_postings WHERE last <= %d)",
             (long long)now, (long long)now, OLD_BATCHES * 1000);
    int done = 0, left[3] = {0, 0, 0};
    for (int i = 0; !done && ot_now_us() - now < 30000000; i++) {
        char id[32];
        snprintf(id, sizeof id, "fresh%d", i);
        ot_store_tel f = {.event_id = id, .twin_id = twins[i % 3], .asset_id = "as",
                          .ts_us = ot_now_us(), .nmetrics = 1, .metric_names = names,
                          .metric_values = vals, .json = "{}"};
        ot_store_write w = {.tels = &f, .ntels = 1};
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
        /* the old telemetry's own events were stamped when written */
        done = ot_store_oldest_cursor(st) == OLD_BATCHES * 1000 + 1 &&
               tel_count("tw2", INT64_MIN, now, 1) == 0;
        if (done && !pg_url[0]) {
            sqlite3 *db;
            sqlite3_stmt *q = file_row(path, &db, sql);
            for (int k = 0; k < 3; k++)
                left[k] = sqlite3_column_int(q, k);
            sqlite3_finalize(q);
            sqlite3_close(db);
            done = !left[0] && !left[1] && !left[2];
        }
    }
    cr_assert(done,
              "after 30 s of writes: oldest cursor %lld, %zu old records of tw2 left; in the "
              "file %d old records, %d postings rows of them, %d events-by-twin rows",
              (long long)ot_store_oldest_cursor(st), tel_count("tw2", INT64_MIN, now, 100000),
              left[0], left[1], left[2]);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(tel_count(twins[k], INT64_MIN, now, 10), 0, "%s: old records left", twins[k]);
    cr_assert_gt(tel_count("tw0", now, INT64_MAX, 10), 0, "fresh records kept");
}

/* --- PostgreSQL only ------------------------------------------------------ */

Test(store_pg, reports_its_time_layout)
{
    json_t *d = json_object();
    cr_assert_str_eq(ot_store_health(st, d), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(d, "backend")), "postgresql");
    cr_assert_str_eq(json_string_value(json_object_get(d, "mode")), "native partitioning",
                     "timescaledb is not installed here");
    json_decref(d);
    /* today's partitions exist, so fresh rows do not land in DEFAULT */
    int64_t c;
    int dup;
    const char *names[1] = {"m"};
    double vals[1] = {1};
    ot_store_tel t = {.event_id = "now", .twin_id = "tw", .asset_id = "as", .ts_us = ot_now_us(),
                      .nmetrics = 1, .metric_names = names, .metric_values = vals, .json = "{}"};
    ot_store_write w = {.tels = &t, .ntels = 1};
    cr_assert_eq(ot_store_write_sync(st, &w), 0);
    (void)c;
    (void)dup;
    PGconn *pc = PQconnectdb(pg_url);
    PGresult *r = PQexec(pc, "SELECT tableoid::regclass::text FROM points");
    cr_assert_eq(PQntuples(r), 1);
    cr_assert(strncmp(PQgetvalue(r, 0, 0), "points_p", 8) == 0, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = PQexec(pc, "SELECT max(version) FROM schema_migrations");
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "4");
    PQclear(r);
    PQfinish(pc);
}

static void pg_exec(PGconn *pc, const char *sql)
{
    PGresult *r = PQexec(pc, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(pc));
    PQclear(r);
}

/* The first column of the first row of a query, as a number. */
static long pg_int(PGconn *pc, const char *sql)
{
    PGresult *r = PQexec(pc, sql);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0, "%s: %s", sql,
              PQerrorMessage(pc));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Retention's DELETEs by time find the expired rows through block-range
 * indexes on the time columns, where they read every row of the day's
 * partition (and all of rollup_1m) before; a database of version 1 gets
 * them at open (migration 2). */
Test(store_pg, retention_finds_expired_rows_through_time_indexes)
{
    PGconn *pc = PQconnectdb(pg_url);
    pg_exec(pc, "DROP INDEX telemetry_ts_brin, points_ts_brin, rollup_1m_minute_brin,"
                " events_rare, events_rare_twin; ALTER TABLE rollup_1m RENAME COLUMN m2 TO sumsq;"
                " DELETE FROM schema_migrations WHERE version >= 2");
    ot_store_close(st);
    open_store();
    cr_assert_eq(pg_int(pc, "SELECT count(*) FROM pg_indexes WHERE indexname IN ("
                            "'telemetry_ts_brin', 'points_ts_brin', 'rollup_1m_minute_brin')"),
                 3, "version 1 migrated to 2");
    /* 200,000 records over today's partition, in time order */
    int64_t day = ot_now_us() / 86400000000LL * 86400000000LL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO telemetry SELECT 'e' || g, g, 'tw', 'as', %lld + g::bigint * 400000, '{}'"
             " FROM generate_series(1, 200000) g; ANALYZE telemetry",
             (long long)day);
    pg_exec(pc, sql);
    snprintf(sql, sizeof sql, "EXPLAIN DELETE FROM telemetry WHERE ts < %lld",
             (long long)(day + 60000000LL));
    PGresult *r = PQexec(pc, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
    char plan[4096] = "";
    for (int i = 0; i < PQntuples(r); i++) {
        strncat(plan, PQgetvalue(r, i, 0), sizeof plan - strlen(plan) - 2);
        strcat(plan, "\n");
    }
    PQclear(r);
    PQfinish(pc);
    cr_assert(strstr(plan, "Bitmap Index Scan on telemetry_p"), "%s", plan);
    cr_assert_null(strstr(plan, "Seq Scan on telemetry_p"), "%s", plan);
}

/* Holds a lock (taken on c in an open transaction) and rolls back after
 * hold_ms: a retention DELETE waits for it meanwhile. */
struct lock_holder {
    PGconn *c;
    int hold_ms;
    pthread_t th;
};

static void *release_later(void *arg)
{
    struct lock_holder *h = arg;
    usleep((useconds_t)h->hold_ms * 1000);
    PQclear(PQexec(h->c, "ROLLBACK"));
    return NULL;
}

/* A server stopping while retention's DELETE runs (retention turned on
 * over a day of old rows) cancels the statement rather than wait for it:
 * it rolls back, nothing is lost, and the next start does it again. */
Test(store_pg, close_cancels_a_retention_statement_under_way)
{
    const char *names[1] = {"m"};
    double vals[1] = {1};
    ot_store_tel t = {.event_id = "old", .twin_id = "tw", .asset_id = "as",
                      .ts_us = ot_now_us() - 10 * 86400000000LL, .nmetrics = 1,
                      .metric_names = names, .metric_values = vals, .json = "{}"};
    ot_store_write w = {.tels = &t, .ntels = 1};
    cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    struct lock_holder h = {.c = PQconnectdb(pg_url), .hold_ms = 6000};
    pg_exec(h.c, "BEGIN; LOCK TABLE telemetry_default IN ACCESS EXCLUSIVE MODE");
    reopen_with_retention(0);
    /* the maintenance thread's DELETE is waiting for the lock */
    PGconn *pc = PQconnectdb(pg_url);
    int waiting = 0;
    for (int i = 0; i < 200 && !waiting; i++) {
        waiting = pg_int(pc, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                             " 'Lock' AND query LIKE 'DELETE FROM telemetry %'") > 0;
        if (!waiting)
            usleep(50000);
    }
    cr_assert(waiting, "retention's DELETE should be waiting for the lock");
    pthread_create(&h.th, NULL, release_later, &h);
    int64_t t0 = ot_mono_ns();
    ot_store_close(st);
    st = NULL;
    double secs = (double)(ot_mono_ns() - t0) / 1e9;
    pthread_join(h.th, NULL);
    PQfinish(h.c);
    cr_assert_lt(secs, 4.0, "close waited %.1f s for the retention statement", secs);
    const char *old = "SELECT count(*) FROM telemetry WHERE event_id = 'old'";
    cr_assert_eq(pg_int(pc, old), 1, "the cancelled DELETE rolled back");
    /* the next start deletes it */
    reopen_with_retention(0);
    long left = 1;
    for (int i = 0; i < 200 && left; i++) {
        left = pg_int(pc, old);
        if (left)
            usleep(50000);
    }
    PQfinish(pc);
    cr_assert_eq(left, 0, "the next start's retention deleted the old record");
}

/* Every connection of the store killed by the server (as a restart does):
 * the next write and read reconnect by themselves, and numbering goes on. */
Test(store_pg, reconnects_after_its_connections_are_killed)
{
    int64_t c;
    int dup;
    cr_assert_eq(write_tel("k1", 1, 1, &c, &dup), 0);
    ot_error e;
    json_t *rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), "tw", NULL, INT64_MIN, INT64_MAX, 10, &e);
    json_decref(rows);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
             pg_db);
    PGconn *pc = PQconnectdb(pg_admin);
    PGresult *r = PQexec(pc, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
    cr_assert_geq(PQntuples(r), 2);
    PQclear(r);
    PQfinish(pc);
    usleep(100000);
    cr_assert_eq(write_tel("k2", 1, 2, &c, &dup), 0, "the write reconnects");
    cr_assert_eq(c, 2);
    rows = ot_store_query_telemetry(st, ot_store_last_cursor(st), "tw", NULL, INT64_MIN, INT64_MAX, 10, &e);
    cr_assert_not_null(rows, "the read reconnects: %s", e.message);
    cr_assert_eq(json_array_size(rows), 2);
    json_decref(rows);
    cr_assert_eq(write_tel("k1", 1, 3, &c, &dup), 0);
    cr_assert_eq(dup, 1);
    cr_assert_eq(c, 1);
}

/* A COMMIT whose answer was lost with the connection may have committed:
 * simulated by a row the store did not write, then a dropped connection. The
 * store takes the cursor from the database after reconnecting, so numbering
 * neither repeats nor skips, and the unseen event still reaches on_commit. */
Test(store_pg, resyncs_cursors_after_a_reconnect)
{
    int64_t c;
    int dup;
    cr_assert_eq(write_tel("s1", 1, 1, &c, &dup), 0);
    cr_assert_eq(c, 1);
    cr_assert_eq(commits, 1);
    PGconn *pc = PQconnectdb(pg_admin);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
             pg_db);
    PGresult *r = PQexec(pc, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
    PQclear(r);
    PQfinish(pc);
    pc = PQconnectdb(pg_url);
    r = PQexec(pc, "INSERT INTO events VALUES (2, 13, 1767225600000000, 'tw', 'pol_x', 'policy',"
                   " NULL)");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(pc));
    PQclear(r);
    PQfinish(pc);
    cr_assert_eq(write_tel("s2", 1, 2, &c, &dup), 0);
    cr_assert_eq(c, 3, "the cursor after the database's last one");
    cr_assert_eq(commits, 3, "the event committed unseen was passed on");
    cr_assert_eq(ot_store_last_cursor(st), 3);
}

/* The reply to a COMMIT lost with its connection (tests/unit/pg_proxy.h
 * closes both sides instead of forwarding the server's "COMMIT" answer): the
 * transaction did commit, so the write is acknowledged with its cursor, its
 * events are published once, and numbering goes on after it. Before, the
 * write failed although it was stored, and a client retry without event_id
 * stored it twice. */
Test(store_pg, a_commit_whose_reply_was_lost_is_acknowledged_when_it_committed)
{
    ot_store_close(st);
    st = NULL;
    char direct[512];
    snprintf(direct, sizeof direct, "%s", pg_url);
    cr_assert_eq(pg_proxy_start(direct, pg_url, sizeof pg_url), 0, "proxy for %s", direct);
    open_store();
    int64_t c;
    int dup;
    cr_assert_eq(write_tel("p1", 1, 1, &c, &dup), 0);
    cr_assert_eq(c, 1);
    pg_proxy_arm();
    cr_assert_eq(write_tel("p2", 1, 2, &c, &dup), 0, "the committed write is acknowledged");
    cr_assert_eq(pg_proxy_cuts(), 1, "the reply to COMMIT was lost");
    cr_assert_eq(c, 2);
    cr_assert_eq(write_tel("p3", 1, 3, &c, &dup), 0);
    cr_assert_eq(c, 3, "numbering goes on after it");
    cr_assert_eq(commits, 3, "each event was published once");
    ot_store_close(st);
    st = NULL;
    pg_proxy_stop();
    PGconn *pc = PQconnectdb(direct);
    PGresult *r = PQexec(pc, "SELECT count(*), max(cursor) FROM telemetry");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "3");
    cr_assert_str_eq(PQgetvalue(r, 0, 1), "3");
    PQclear(r);
    PQfinish(pc);
}

/* --- audit record text ---------------------------------------------------- */

Test(audit_record, renders_what_ot_json_dumps_writes_with_sorted_keys)
{
    static const char *const strs[] = {"", "anonymous", "POST /telemetry/ingest", "a\"b\\c",
                                       "tab\there\nnew\x01\x1f", "caf\xc3\xa9 \xe2\x82\xac",
                                       "plant-1"};
    const size_t ns = sizeof strs / sizeof strs[0];
    json_t *details[] = {NULL, json_pack("{s:s, s:s}", "request_id", "r-1", "target", "t"),
                         json_pack("{s:f, s:i, s:[s, f], s:{s:n}}", "z", 0.1, "a", 7, "m",
                                   "x\ny", 1e-300, "k", "q")};
    ot_buf b;
    ot_buf_init(&b);
    srand(11);
    for (int i = 0; i < 3000; i++) {
        int64_t seq = i == 0 ? 1 : ((int64_t)rand() << 20) ^ rand();
        int64_t ts = 1767225600000000LL + (int64_t)rand() * 1000;
        const char *actor = i % 7 == 0 ? NULL : strs[rand() % ns];
        const char *action = strs[rand() % ns], *target = strs[rand() % ns];
        json_t *d = details[i % 3];
        char tsbuf[OT_TS_BUFSZ];
        json_t *rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:O?}", "seq", (json_int_t)seq, "ts",
                                ot_ts_format(ts, tsbuf), "actor", actor ? actor : "anonymous",
                                "action", action, "target", target, "details", d);
        char *want = ot_json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
        cr_assert_eq(ot_audit_render(&b, seq, ts, actor, action, target, d, NULL), 0);
        cr_assert_str_eq(b.data, want);
        /* the same details given as their canonical text */
        char *text = d ? ot_json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        cr_assert_eq(ot_audit_render(&b, seq, ts, actor, action, target, NULL, text), 0);
        cr_assert_str_eq(b.data, want);
        free(text);
        free(want);
        json_decref(rec);
    }
    for (size_t i = 0; i < 3; i++)
        json_decref(details[i]);
    ot_buf_free(&b);
}
