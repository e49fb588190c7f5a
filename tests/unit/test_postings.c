/* test_postings.c - the SQLite backend's events by twin (sqlite_postings.h),
 * on an in-memory database with the backend's tables. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite_postings.h"

static sqlite3 *db;
static ot_postings *p;

static void exec(const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

static void up(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec("CREATE TABLE events (cursor INTEGER PRIMARY KEY, twin_id TEXT NOT NULL);"
         "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
         "INSERT INTO meta VALUES ('posted_cursor', 0);"
         "CREATE TABLE twin_postings (twin_id TEXT NOT NULL, last INTEGER NOT NULL,"
         " data BLOB NOT NULL, PRIMARY KEY (twin_id, last)) WITHOUT ROWID;");
    p = ot_postings_new();
    cr_assert_not_null(p);
}

static void down(void)
{
    ot_postings_free(p);
    sqlite3_close(db);
}

TestSuite(postings, .init = up, .fini = down);

/* Every cursor of twin's rows, in order, into out; returns how many. */
static size_t twin_cursors(const char *twin, int64_t *out, size_t cap)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT last, data FROM twin_postings WHERE twin_id = ?1"
                                        " ORDER BY last", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, twin, -1, SQLITE_STATIC);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ot_postings_iter it;
        ot_postings_iter_init(&it, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
        int64_t c = 0, last = 0;
        int more;
        while ((more = ot_postings_next(&it, &c)) == 1) {
            cr_assert_lt(n, cap);
            out[n++] = last = c;
        }
        cr_assert_eq(more, 0, "corrupt row");
        cr_assert_eq(last, sqlite3_column_int64(st, 0), "a row's last is its last cursor");
    }
    sqlite3_finalize(st);
    return n;
}

static int64_t posted(void)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'posted_cursor'", -1,
                                    &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Cursors noted go to one row per twin and flush; gaps of any size (up to
 * cursors of 2^62) come back exactly; events without a twin are in no row
 * but move posted_cursor. */
Test(postings, flushed_cursors_come_back_per_twin_in_order)
{
    static const int64_t big[] = {1, 2, 130, 16500, 2100000, (int64_t)1 << 40, (int64_t)1 << 62};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        cr_assert_eq(ot_postings_add(p, "b", big[i]), 0);
    cr_assert_eq(ot_postings_add(p, "", ((int64_t)1 << 62) + 5), 0);
    cr_assert_eq(ot_postings_waiting(p), 7);
    exec("BEGIN");
    ot_error err;
    cr_assert_eq(ot_postings_flush(p, db, &err), 0, "%s", err.message);
    exec("COMMIT");
    cr_assert_eq(ot_postings_waiting(p), 0);
    cr_assert_eq(posted(), ((int64_t)1 << 62) + 5);
    int64_t got[16];
    cr_assert_eq(twin_cursors("b", got, 16), 7);
    cr_assert_eq(memcmp(got, big, sizeof big), 0);
    cr_assert_eq(twin_cursors("", got, 16), 0);
}

/* Two flushes write two rows per twin; the second holds only what came
 * after the first. */
Test(postings, each_flush_writes_what_came_since_the_last)
{
    ot_error err;
    int64_t c = 0;
    for (int round = 0; round < 2; round++) {
        exec("BEGIN");
        for (int i = 0; i < 100; i++)
            cr_assert_eq(ot_postings_add(p, i % 3 ? "x" : "y", ++c), 0);
        cr_assert_eq(ot_postings_flush(p, db, &err), 0, "%s", err.message);
        exec("COMMIT");
    }
    int64_t got[200];
    size_t n = twin_cursors("x", got, 200);
    cr_assert_eq(n, 132);
    for (size_t i = 1; i < n; i++)
        cr_assert_gt(got[i], got[i - 1]);
    cr_assert_eq(twin_cursors("y", got, 200), 68);
    cr_assert_eq(posted(), 200);
}

/* After a rolled-back flush, rebuild notes again every event beyond
 * posted_cursor (and only those), and the next flush writes them once. */
Test(postings, rebuild_takes_back_what_a_failed_transaction_held)
{
    ot_error err;
    exec("BEGIN");
    for (int i = 1; i <= 10; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO events VALUES (%d, '%s')", i, i % 2 ? "odd" : "");
        exec(sql);
        cr_assert_eq(ot_postings_add(p, i % 2 ? "odd" : "", i), 0);
    }
    cr_assert_eq(ot_postings_flush(p, db, &err), 0);
    exec("COMMIT");
    exec("BEGIN");
    for (int i = 11; i <= 20; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO events VALUES (%d, 'odd')", i);
        exec(sql);
        cr_assert_eq(ot_postings_add(p, "odd", i), 0);
    }
    cr_assert_eq(ot_postings_flush(p, db, &err), 0);
    exec("ROLLBACK"); /* the events and the row are gone; some come again */
    exec("BEGIN");
    exec("INSERT INTO events VALUES (11, 'odd'), (12, 'even')");
    long n = 0;
    cr_assert_eq(ot_postings_rebuild(p, db, &n, &err), 0, "%s", err.message);
    cr_assert_eq(n, 2);
    cr_assert_eq(ot_postings_waiting(p), 2);
    cr_assert_eq(ot_postings_flush(p, db, &err), 0);
    exec("COMMIT");
    int64_t got[32];
    size_t k = twin_cursors("odd", got, 32);
    cr_assert_eq(k, 6);
    cr_assert_eq(got[4], 9);
    cr_assert_eq(got[5], 11);
    cr_assert_eq(twin_cursors("even", got, 32), 1);
    cr_assert_eq(posted(), 12);
}

/* The migration's build: a row per twin of at most OT_POSTINGS_ROW_MAX
 * cursors, twinless events left out. */
Test(postings, build_splits_a_long_twin_into_rows)
{
    exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 9000)"
         " INSERT INTO events SELECT i, CASE WHEN i % 1000 = 0 THEN 'rare'"
         " WHEN i % 7 = 0 THEN '' ELSE 'busy' END FROM n");
    ot_error err;
    cr_assert_eq(ot_postings_build(db, &err), 0, "%s", err.message);
    static int64_t got[9000];
    size_t n = twin_cursors("busy", got, 9000);
    cr_assert_eq(n, 9000 - 9 - 9000 / 7 + 1); /* 7000 is rare, not twinless */
    cr_assert_eq(twin_cursors("rare", got, 9000), 9);
    cr_assert_eq(got[8], 9000);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM twin_postings WHERE twin_id = 'busy'",
                                    -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), (int)((n + OT_POSTINGS_ROW_MAX - 1) / OT_POSTINGS_ROW_MAX));
    sqlite3_finalize(st);
}

/* Data that is not a row of ascending cursors is corrupt, not misread. */
Test(postings, corrupt_data_is_refused)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x81", 1},                                         /* a varint cut short */
        {"\x05\x00", 2},                                     /* a step of 0 */
        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10},    /* beyond 64 bits */
        {"\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x7f", 10},    /* past INT64_MAX */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ot_postings_iter it;
        ot_postings_iter_init(&it, bad[i].bytes, bad[i].len);
        int64_t c;
        int rc;
        while ((rc = ot_postings_next(&it, &c)) == 1)
            ;
        cr_assert_eq(rc, -1, "case %zu", i);
    }
    ot_postings_iter it;
    ot_postings_iter_init(&it, "", 0);
    int64_t c;
    cr_assert_eq(ot_postings_next(&it, &c), 0, "an empty row has no cursor");
}
