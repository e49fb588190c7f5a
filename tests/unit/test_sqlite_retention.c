/* test_sqlite_retention.c - the SQLite backend's retention passes
 * (sqlite_retention.h) on an in-memory database with the backend's tables:
 * passes of at most 7 deletions drain a cutoff that falls among records
 * out of time order, rows that overlap and straddle it, and a log whose
 * stamps go back and forth, deleting exactly what is older and nothing
 * else. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "store/rollup.h"
#include "store/sqlite_retention.h"
#include "store/sqlite_telpost.h"

static sqlite3 *db;

static void exec(const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

static int64_t count(const char *sql)
{
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void up(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec("CREATE TABLE events (cursor INTEGER PRIMARY KEY, ts INTEGER NOT NULL);"
         "CREATE TABLE telemetry (event_id TEXT PRIMARY KEY, twin_id TEXT NOT NULL,"
         " ts INTEGER NOT NULL) WITHOUT ROWID;"
         "CREATE TABLE telemetry_postings (twin_id TEXT NOT NULL, tmin INTEGER NOT NULL,"
         " seq INTEGER NOT NULL, tmax INTEGER NOT NULL, data BLOB NOT NULL,"
         " PRIMARY KEY (twin_id, tmin, seq)) WITHOUT ROWID;"
         "CREATE TABLE twin_postings (twin_id TEXT NOT NULL, last INTEGER NOT NULL,"
         " data BLOB NOT NULL, PRIMARY KEY (twin_id, last)) WITHOUT ROWID;"
         "CREATE TABLE series (series_id INTEGER PRIMARY KEY, twin_id TEXT NOT NULL,"
         " asset_id TEXT NOT NULL, metric TEXT NOT NULL, UNIQUE (twin_id, asset_id, metric));"
         "CREATE TABLE point_blocks (series_id INTEGER NOT NULL, minute INTEGER NOT NULL,"
         " seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (series_id, minute, seq))"
         " WITHOUT ROWID;"
         "CREATE TABLE rollup_1m (series_id INTEGER NOT NULL, minute INTEGER NOT NULL,"
         " PRIMARY KEY (series_id, minute)) WITHOUT ROWID;");
}

static void down(void)
{
    sqlite3_close(db);
}

TestSuite(sqlite_retention, .init = up, .fini = down);

#define BASE 1767225600000000LL
#define CUTOFF (BASE + 2500000LL)
#define CUTOFF_SQL "1767225602500000"
#define NREC 3000
#define NEV 200

/* Records of three twins over 10 s around the cutoff, in an order that
 * jumps back and forth in time, ts shared by pairs, written in 6 flushes
 * (rows of different flushes overlap in time, and some straddle the
 * cutoff). Returns how many are older than the cutoff. */
static int fill_telemetry(void)
{
    ot_telpost *p = ot_telpost_new();
    cr_assert_not_null(p);
    sqlite3_stmt *ins;
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO telemetry VALUES (?1, ?2, ?3)", -1, &ins,
                                    NULL),
                 SQLITE_OK);
    int old = 0;
    ot_error e;
    for (int i = 0; i < NREC; i++) {
        char id[32], twin[16];
        int64_t ts = BASE + (int64_t)((i * 7919) % NREC / 2) * 3333;
        snprintf(id, sizeof id, "ev-%06d", i);
        snprintf(twin, sizeof twin, "tw%d", i % 3);
        old += ts < CUTOFF;
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, twin, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, ts);
        cr_assert_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
        cr_assert_eq(ot_telpost_add(p, twin, "as", ts, i + 1, id), 0);
        if (i % (NREC / 6) == NREC / 6 - 1) {
            exec("BEGIN");
            cr_assert_eq(ot_telpost_flush(p, db, &e), 0, "%s", e.message);
            exec("COMMIT");
        }
    }
    sqlite3_finalize(ins);
    ot_telpost_free(p);
    cr_assert_gt(count("SELECT count(*) FROM telemetry_postings WHERE tmin < " CUTOFF_SQL
                       " AND tmax >= " CUTOFF_SQL),
                 3, "some rows straddle the cutoff");
    return old;
}

/* One pass of at most 7 deletions, in its own transaction. */
static void one_pass(int64_t cutoff, ot_retention_at *at, int *more)
{
    ot_error e;
    exec("BEGIN");
    cr_assert_eq(ot_sqlite_retention(db, cutoff, 7, at, more, &e), 0, "%s", e.message);
    exec("COMMIT");
}

/* Run passes of at most 7 deletions each until one says it is done;
 * every pass keeps to its bound. Returns the passes run. */
static int drain(void)
{
    int passes = 0, more = 1;
    ot_retention_at at = {0};
    while (more) {
        cr_assert_lt(passes, 10000);
        int64_t tel = count("SELECT count(*) FROM telemetry");
        int64_t ev = count("SELECT count(*) FROM events");
        one_pass(CUTOFF, &at, &more);
        cr_assert_leq(tel - count("SELECT count(*) FROM telemetry"), 7);
        cr_assert_leq(ev - count("SELECT count(*) FROM events"), 7);
        passes++;
    }
    return passes;
}

/* A scan's record: the ones retention deleted are older than the cutoff
 * (rows that straddle it still name them: reads skip them), the others are
 * counted. */
static int kept(void *ctx, int64_t ts, const char *event_id, const char *asset_id)
{
    (void)asset_id;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM telemetry WHERE event_id = '%s'", event_id);
    int there = (int)count(sql);
    cr_assert_eq(there, ts >= CUTOFF, "%s at %lld", event_id, (long long)ts);
    *(int *)ctx += there;
    return 0;
}

Test(sqlite_retention, passes_drain_the_telemetry_older_than_the_cutoff)
{
    int old = fill_telemetry();
    cr_assert_gt(old, 1000);
    int passes = drain();
    cr_assert_geq(passes, old / 7, "%d passes for %d records", passes, old);
    cr_assert_eq(count("SELECT count(*) FROM telemetry WHERE ts < " CUTOFF_SQL), 0);
    cr_assert_eq(count("SELECT count(*) FROM telemetry"), NREC - old, "newer records kept");
    cr_assert_eq(count("SELECT count(*) FROM telemetry_postings WHERE tmax < " CUTOFF_SQL),
                 0);
    /* every record left is still read by time, from the rows left, once */
    sqlite3_stmt *rows;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT tmin, tmax, data FROM telemetry_postings"
                                        " WHERE twin_id = ?1 ORDER BY tmin, seq",
                                    -1, &rows, NULL),
                 SQLITE_OK);
    int seen = 0;
    for (int t = 0; t < 3; t++) {
        char twin[16];
        snprintf(twin, sizeof twin, "tw%d", t);
        sqlite3_bind_text(rows, 1, twin, -1, SQLITE_TRANSIENT);
        ot_error e;
        int before = seen;
        cr_assert_eq(ot_telpost_scan(rows, INT64_MIN, INT64_MAX, kept, &seen, &e), 0);
        sqlite3_reset(rows);
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM telemetry WHERE twin_id = '%s'", twin);
        cr_assert_eq(seen - before, count(sql), "%s", twin);
    }
    sqlite3_finalize(rows);
    cr_assert_eq(seen, NREC - old);
}

Test(sqlite_retention, the_log_loses_a_prefix_and_the_rows_that_end_before_it)
{
    /* stamps rise, but event 150 is stamped after the cutoff and 151-159
     * before it again: the prefix ends at 150, so cursors stay contiguous */
    for (int c = 1; c <= NEV; c++) {
        char sql[128];
        int64_t ts = c == 150 ? CUTOFF : c < 160 ? CUTOFF - 1000 + c : CUTOFF + c;
        snprintf(sql, sizeof sql, "INSERT INTO events VALUES (%d, %lld)", c, (long long)ts);
        exec(sql);
        if (c % 20 == 0) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO twin_postings VALUES ('tw%d', %d, x'00')", c % 3, c);
            exec(sql);
        }
    }
    drain();
    cr_assert_eq(count("SELECT MIN(cursor) FROM events"), 150);
    cr_assert_eq(count("SELECT count(*) FROM events"), NEV - 149);
    cr_assert_eq(count("SELECT MIN(last) FROM twin_postings"), 160,
                 "rows ending before 150 dropped, 160 kept");
    cr_assert_eq(count("SELECT count(*) FROM twin_postings"), 3);
}

Test(sqlite_retention, the_newest_event_stays_when_every_one_expired)
{
    /* the store takes its next cursor from the newest event at open */
    exec("INSERT INTO events VALUES (1, 1), (2, 2), (3, 3);"
         "INSERT INTO twin_postings VALUES ('tw', 2, x'00'), ('tw', 3, x'00')");
    drain();
    cr_assert_eq(count("SELECT count(*) FROM events"), 1);
    cr_assert_eq(count("SELECT MIN(cursor) FROM events"), 3);
    cr_assert_eq(count("SELECT count(*) FROM twin_postings"), 1);
    cr_assert_eq(count("SELECT MIN(last) FROM twin_postings"), 3);
}

Test(sqlite_retention, points_and_rollups_lose_the_minutes_before_the_cutoffs)
{
    int64_t m = ot_minute_of(CUTOFF);
    for (int s = 1; s <= 3; s++) {
        char sql[256];
        snprintf(sql, sizeof sql, "INSERT INTO series VALUES (%d, 'tw%d', 'as', 'm')", s, s);
        exec(sql);
        for (int64_t k = m - 5; k <= m + 5; k++) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO point_blocks VALUES (%d, %lld, 1, x'00');"
                     "INSERT INTO rollup_1m VALUES (%d, %lld)",
                     s, (long long)k, s, (long long)k);
            exec(sql);
        }
    }
    cr_assert_eq(drain(), 1, "one pass: points go a series at a time, unbounded");
    cr_assert_eq(count("SELECT MIN(minute) FROM point_blocks"), m, "the cutoff's own minute kept");
    cr_assert_eq(count("SELECT count(*) FROM point_blocks"), 3 * 6);
    cr_assert_eq(count("SELECT count(*) FROM rollup_1m"), 3 * 6);
    cr_assert_eq(count("SELECT MIN(minute) FROM rollup_1m"), m);
}

/* A pass deletes the point blocks and rollups of each twin it goes through
 * up to the minute where it got to in that twin, so the round's end has
 * little left to delete (it deleted them all, holding the writer ~120 ms
 * after 100,000 records). Twins A and B, a record every 10 s for 10
 * minutes each, series 1 of A and 2 of B with a block and a rollup per
 * minute; the cutoff 30 s into minute 5. */
Test(sqlite_retention, points_and_rollups_go_with_each_twins_records)
{
    int64_t m0 = ot_minute_of(BASE), cutoff = BASE + 5 * 60000000LL + 30000000LL;
    ot_telpost *p = ot_telpost_new();
    cr_assert_not_null(p);
    const char *twins[2] = {"twA", "twB"};
    int seq = 0;
    for (int t = 0; t < 2; t++) {
        char sql[256];
        snprintf(sql, sizeof sql, "INSERT INTO series VALUES (%d, '%s', 'as', 'm')", t + 1,
                 twins[t]);
        exec(sql);
        for (int k = 0; k < 10; k++) {
            snprintf(sql, sizeof sql, "INSERT INTO point_blocks VALUES (%d, %lld, 1, x'00');"
                     "INSERT INTO rollup_1m VALUES (%d, %lld)", t + 1, (long long)(m0 + k),
                     t + 1, (long long)(m0 + k));
            exec(sql);
        }
        for (int i = 0; i < 60; i++) {
            char id[32];
            int64_t ts = BASE + i * 10000000LL;
            snprintf(id, sizeof id, "%s-%03d", twins[t], i);
            snprintf(sql, sizeof sql, "INSERT INTO telemetry VALUES ('%s', '%s', %lld)", id,
                     twins[t], (long long)ts);
            exec(sql);
            cr_assert_eq(ot_telpost_add(p, twins[t], "as", ts, ++seq, id), 0);
        }
    }
    ot_error e;
    exec("BEGIN");
    cr_assert_eq(ot_telpost_flush(p, db, &e), 0, "%s", e.message);
    exec("COMMIT");
    ot_telpost_free(p);

    ot_retention_at at = {0};
    int more = 0;
    /* pass 1: A's records at 0-60 s; its minute 0 goes, B keeps all */
    one_pass(cutoff, &at, &more);
    cr_assert(more);
    cr_assert_eq(count("SELECT MIN(minute) FROM point_blocks WHERE series_id = 1"), m0 + 1);
    cr_assert_eq(count("SELECT MIN(minute) FROM rollup_1m WHERE series_id = 1"), m0 + 1);
    cr_assert_eq(count("SELECT count(*) FROM point_blocks WHERE series_id = 2"), 10);
    /* passes until B's turn: A's minutes before the cutoff's are gone */
    while (more && strcmp(at.twin, "twB") != 0)
        one_pass(cutoff, &at, &more);
    cr_assert(more, "the round goes on in B");
    cr_assert_eq(count("SELECT MIN(minute) FROM point_blocks WHERE series_id = 1"), m0 + 5);
    cr_assert_eq(count("SELECT MIN(minute) FROM rollup_1m WHERE series_id = 1"), m0 + 5);
    cr_assert_eq(count("SELECT count(*) FROM point_blocks WHERE series_id = 2"), 10,
                 "B's went no further than its records (0-10 s)");
    while (more)
        one_pass(cutoff, &at, &more);
    cr_assert_eq(count("SELECT count(*) FROM point_blocks"), 2 * 5);
    cr_assert_eq(count("SELECT count(*) FROM rollup_1m"), 2 * 5);
    cr_assert_eq(count("SELECT count(*) FROM telemetry"), 2 * 27, "from 5:30 on, kept");
}
