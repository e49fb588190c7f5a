/* test_telpost.c - the SQLite backend's telemetry by twin and time
 * (sqlite_telpost.h), on an in-memory database with the backend's tables:
 * what a scan finds is checked against the records sorted by hand. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_telpost.h"

static sqlite3 *db;
static ot_telpost *p;
static sqlite3_stmt *rows;

static void exec(const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

static void up(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec("CREATE TABLE telemetry (event_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL,"
         " twin_id TEXT NOT NULL, asset_id TEXT NOT NULL, ts INTEGER NOT NULL) WITHOUT ROWID;"
         "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
         "CREATE TABLE telemetry_postings (twin_id TEXT NOT NULL, tmin INTEGER NOT NULL,"
         " seq INTEGER NOT NULL, tmax INTEGER NOT NULL, data BLOB NOT NULL,"
         " PRIMARY KEY (twin_id, tmin, seq)) WITHOUT ROWID;");
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT tmin, tmax, data FROM telemetry_postings"
                                        " WHERE twin_id = ?1 AND tmin >= ?2 AND tmin < ?3"
                                        " ORDER BY tmin, seq", -1, &rows, NULL), SQLITE_OK);
    p = ot_telpost_new();
    cr_assert_not_null(p);
}

static void down(void)
{
    ot_telpost_free(p);
    sqlite3_finalize(rows);
    sqlite3_close(db);
}

TestSuite(telpost, .init = up, .fini = down);

#define BASE 1767225600000000LL

struct rec {
    int64_t ts;
    char id[32], asset[8];
};

static int by_ts_id(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return x->ts != y->ts ? (x->ts < y->ts ? -1 : 1) : strcmp(x->id, y->id);
}

/* What a scan found. */
struct found {
    struct rec *r;
    size_t n, cap;
    size_t stop_at; /* return 1 once this many came (0: never) */
};

static int collect(void *ctx, int64_t ts, const char *event_id, const char *asset_id)
{
    struct found *f = ctx;

    cr_assert_lt(f->n, f->cap);
    f->r[f->n].ts = ts;
    snprintf(f->r[f->n].id, sizeof f->r[f->n].id, "%s", event_id);
    snprintf(f->r[f->n].asset, sizeof f->r[f->n].asset, "%s", asset_id);
    f->n++;
    return f->stop_at && f->n == f->stop_at;
}

/* Scan twin over [start, end) into f; returns the scan's code. */
static int scan(const char *twin, int64_t start, int64_t end, struct found *f)
{
    sqlite3_reset(rows);
    sqlite3_bind_text(rows, 1, twin, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(rows, 2, start - OT_TELPOST_SPAN_US);
    sqlite3_bind_int64(rows, 3, end);
    ot_error e;
    ot_error_clear(&e);
    int rc = ot_telpost_scan(rows, start, end, collect, f, &e);
    sqlite3_reset(rows);
    return rc;
}

/* The scan of [start, end), stopped after limit (0: all), is the sorted
 * records' slice. */
static void check_range(const struct rec *sorted, size_t n, int64_t start, int64_t end,
                        size_t limit)
{
    struct rec *got = calloc(n + 1, sizeof *got);
    struct found f = {got, 0, n + 1, limit};
    cr_assert_eq(scan("tw", start, end, &f), 0);
    size_t k = 0;
    for (size_t i = 0; i < n && (!limit || k < limit); i++) {
        if (sorted[i].ts < start || sorted[i].ts >= end)
            continue;
        cr_assert_lt(k, f.n, "[%lld, %lld): record %zu missing", (long long)start,
                     (long long)end, k);
        cr_assert_eq(got[k].ts, sorted[i].ts, "[%lld, %lld) #%zu", (long long)start,
                     (long long)end, k);
        cr_assert_str_eq(got[k].id, sorted[i].id);
        cr_assert_str_eq(got[k].asset, sorted[i].asset);
        k++;
    }
    cr_assert_eq(f.n, k, "[%lld, %lld): %zu records, want %zu", (long long)start, (long long)end,
                 f.n, k);
    free(got);
}

static void flush(void)
{
    ot_error e;
    exec("BEGIN");
    cr_assert_eq(ot_telpost_flush(p, db, &e), 0, "%s", e.message);
    exec("COMMIT");
    cr_assert_eq(ot_telpost_waiting(p), 0);
}

/* 6,000 records over 20 s, in an order that jumps back and forth in time,
 * ts shared by pairs, ids with long shared prefixes, flushed in 7 rounds
 * (rows of different flushes overlap in time), and another twin between
 * them: every range and limit reads the records in (ts, id) order, once. */
Test(telpost, a_scan_merges_rows_in_time_order)
{
    enum { N = 6000 };
    static struct rec r[N];
    for (int i = 0; i < N; i++) {
        r[i].ts = BASE + (int64_t)((i * 7919) % (N / 2)) * 6667;
        snprintf(r[i].id, sizeof r[i].id, "tel_01JABCDEF%06d", (i * 31) % N);
        snprintf(r[i].asset, sizeof r[i].asset, i % 5 ? "pump-%d" : "p%d", i % 3);
        cr_assert_eq(ot_telpost_add(p, "tw", r[i].asset, r[i].ts, i + 1, r[i].id), 0);
        cr_assert_eq(ot_telpost_add(p, "other", "b", r[i].ts + 3, i + 1, "x"), 0);
        if (i % 900 == 899)
            flush();
    }
    cr_assert_eq(ot_telpost_waiting(p), 2 * (N % 900));
    flush();
    qsort(r, N, sizeof *r, by_ts_id);
    check_range(r, N, INT64_MIN / 2, INT64_MAX, 0);
    check_range(r, N, BASE, BASE + 1, 0);
    check_range(r, N, BASE + 5000000, BASE + 5000001, 0);
    for (int k = 0; k < 40; k++) {
        int64_t start = BASE - 1000000 + (int64_t)k * 577777;
        check_range(r, N, start, start + (k % 5 + 1) * 1300000, 0);
        check_range(r, N, start, INT64_MAX, (size_t)(k % 7) * 50 + 1);
    }
    /* no row spans more than OT_TELPOST_SPAN_US */
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT max(tmax - tmin), count(*) FROM telemetry_postings"
                                        " WHERE twin_id = 'tw'", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_leq(sqlite3_column_int64(q, 0), OT_TELPOST_SPAN_US);
    cr_assert_geq(sqlite3_column_int(q, 1), 7 * 20, "each flush covers 20 s: 20+ rows");
    sqlite3_finalize(q);
}

/* Records at one instant are cut into rows of OT_TELPOST_ROW_MAX, and the
 * scan still reads them by id. */
Test(telpost, a_row_holds_at_most_row_max_records)
{
    enum { N = OT_TELPOST_ROW_MAX * 2 + 10 };
    static struct rec r[N];
    for (int i = 0; i < N; i++) {
        r[i].ts = BASE;
        snprintf(r[i].id, sizeof r[i].id, "e%07d", N - i);
        snprintf(r[i].asset, sizeof r[i].asset, "a");
        cr_assert_eq(ot_telpost_add(p, "tw", "a", BASE, i + 1, r[i].id), 0);
    }
    flush();
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*), max(seq) FROM telemetry_postings",
                                    -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 3);
    cr_assert_eq(sqlite3_column_int(q, 1), N, "seq: the row's highest cursor");
    sqlite3_finalize(q);
    qsort(r, N, sizeof *r, by_ts_id);
    check_range(r, N, BASE, BASE + 1, 0);
    check_range(r, N, BASE, BASE + 1, OT_TELPOST_ROW_MAX + 5);
}

/* fn's stop and its error end the scan; what was cleared never comes. */
Test(telpost, the_callback_stops_or_fails_the_scan)
{
    for (int i = 0; i < 10; i++)
        cr_assert_eq(ot_telpost_add(p, "tw", "a", BASE + i, i + 1, "id"), 0);
    ot_telpost_clear(p);
    cr_assert_eq(ot_telpost_add(p, "tw", "a", BASE + 100, 11, "kept"), 0);
    cr_assert_eq(ot_telpost_add(p, "tw", "a", BASE + 101, 12, "kept2"), 0);
    flush();
    struct rec got[4];
    struct found f = {got, 0, 4, 1};
    cr_assert_eq(scan("tw", INT64_MIN / 2, INT64_MAX, &f), 0);
    cr_assert_eq(f.n, 1);
    cr_assert_str_eq(got[0].id, "kept");
    f = (struct found){got, 0, 4, 0};
    cr_assert_eq(scan("tw", INT64_MIN / 2, INT64_MAX, &f), 0);
    cr_assert_eq(f.n, 2, "the cleared records are gone");
    char long_id[OT_TELPOST_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    cr_assert_eq(ot_telpost_add(p, "tw", "a", BASE, 13, long_id), OT_EINVAL);
    cr_assert_eq(ot_telpost_add(p, "tw", long_id, BASE, 13, "ok"), OT_EINVAL);
    cr_assert_eq(ot_telpost_add(p, "", "a", BASE, 13, "no-twin"), 0);
    cr_assert_eq(ot_telpost_waiting(p), 0, "records without a twin are in no row");
}

static int fail(void *ctx, int64_t ts, const char *event_id, const char *asset_id)
{
    (void)ctx;
    (void)ts;
    (void)event_id;
    (void)asset_id;
    return OT_EIO;
}

Test(telpost, a_failing_callback_fails_the_scan)
{
    cr_assert_eq(ot_telpost_add(p, "tw", "a", BASE, 1, "a"), 0);
    flush();
    sqlite3_bind_text(rows, 1, "tw", -1, SQLITE_STATIC);
    sqlite3_bind_int64(rows, 2, INT64_MIN);
    sqlite3_bind_int64(rows, 3, INT64_MAX);
    ot_error e;
    cr_assert_eq(ot_telpost_scan(rows, INT64_MIN / 2, INT64_MAX, fail, NULL, &e), OT_EIO);
}

/* Rows whose data does not decode, or whose span is impossible, are
 * refused, not read past their end. */
Test(telpost, corrupt_rows_are_refused)
{
    /* each record: varint dts, then the event_id and the asset_id as
     * varint shared, varint more, bytes */
    static const char *bad[] = {
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'0000016100016180')",
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'0000056162')",
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'000101610000')",
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'000001610005')",
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'0000016100016115000162000161')",
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 5000000, x'00000161000161')",
        "INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'')",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        exec("DELETE FROM telemetry_postings");
        exec(bad[i]);
        struct rec got[4];
        struct found f = {got, 0, 4, 0};
        cr_assert_eq(scan("tw", 0, 100, &f), OT_EINTERNAL, "%s", bad[i]);
    }
    exec("DELETE FROM telemetry_postings");
    exec("INSERT INTO telemetry_postings VALUES ('tw', 10, 1, 20, x'000001610001610a0001620100')");
    struct rec got[4];
    struct found f = {got, 0, 4, 0};
    cr_assert_eq(scan("tw", 0, 100, &f), 0, "the same made well");
    cr_assert_eq(f.n, 2);
    cr_assert_eq(got[1].ts, 20);
    cr_assert_str_eq(got[1].id, "b");
    cr_assert_str_eq(got[1].asset, "a", "shared with the record before");
}

/* The migration writes rows for the telemetry up to derived_cursor only
 * (what lies beyond is noted again when the store opens). */
Test(telpost, build_takes_the_telemetry_up_to_derived_cursor)
{
    exec("INSERT INTO meta VALUES ('derived_cursor', 70000);"
         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 70100)"
         " INSERT INTO telemetry SELECT 'r' || i, i, 't' || (i % 3), 'a', 1767225600000000"
         " + (i % 5000) * 1000 FROM n;");
    ot_error e;
    exec("BEGIN");
    cr_assert_eq(ot_telpost_build(db, &e), 0, "%s", e.message);
    exec("COMMIT");
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT max(seq), max(tmax - tmin) FROM telemetry_postings",
                                    -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 70000);
    cr_assert_leq(sqlite3_column_int64(q, 1), OT_TELPOST_SPAN_US);
    sqlite3_finalize(q);
    struct found f = {calloc(30000, sizeof(struct rec)), 0, 30000, 0};
    cr_assert_eq(scan("t1", INT64_MIN / 2, INT64_MAX, &f), 0);
    cr_assert_eq(f.n, 23334, "t1: %zu records, want those up to 70,000, once each", f.n);
    for (size_t i = 1; i < f.n; i++)
        cr_assert(by_ts_id(&f.r[i - 1], &f.r[i]) < 0, "in (ts, id) order at %zu", i);
    free(f.r);
}
