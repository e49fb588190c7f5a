/* bench_retention.c - a retention pass on a database of N telemetry
 * records, of which the first OLD are older than the cutoff (16 twins,
 * 4 metrics each, written through the store in batches of 1,000).
 *
 * The database is written once, closed and copied; then, on one copy, the
 * passes of sqlite_retention.h (10,000 records at most each, as the store
 * runs them) until one says it is done, and on the other the statements
 * retention ran before them (`DELETE ... WHERE ts < cutoff` and friends,
 * which read every row). Then both once more, with nothing left to drop
 * (what each costs every minute on a database that keeps its window).
 * Each in a write transaction on a WAL connection with the store's cache
 * size; the times include the commit, not the checkpoints (the store's
 * checkpointer thread does those, here done between passes).
 *
 *   build/bench/bench_retention DIR [N [OLD [PASS_MAX]]]
 * prints: passes N, max pass, all passes, steady pass, baseline, steady
 * baseline (ms). PASS_MAX 0: only write DIR/opstwin.db, for a server to
 * open (bench/retload.sh). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/backend.h"
#include "store/rollup.h"
#include "store/sqlite_retention.h"
#include "store/store.h"

#define BATCH 1000
#define DAY_US 86400000000LL

static int fill(const char *dir, long n, long old, int64_t now)
{
    ot_store *st;
    ot_error e;
    ot_store_options o = {.data_dir = dir, .queue_limit = 100000, .read_connections = 1};
    if (ot_store_open(&o, &st, &e)) {
        fprintf(stderr, "open: %s\n", e.message);
        return -1;
    }
    static ot_store_tel t[BATCH];
    static char ids[BATCH][32], json[BATCH][160];
    static double vals[BATCH][4];
    const char *names[4] = {"temp_c", "pressure_kpa", "load_pct", "vibration"};
    char twins[16][16];
    for (int k = 0; k < 16; k++)
        snprintf(twins[k], sizeof twins[k], "twin-%02d", k);
    for (long b = 0; b < n / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            long k = b * BATCH + i;
            snprintf(ids[i], sizeof ids[i], "rec-%09ld", k);
            snprintf(json[i], sizeof json[i],
                     "{\"event_id\":\"%s\",\"twin_id\":\"%s\",\"metrics\":{\"temp_c\":%ld.5}}",
                     ids[i], twins[k % 16], k % 100);
            for (int m = 0; m < 4; m++)
                vals[i][m] = (double)(k % 97) + m;
            int64_t ts = (k < old ? now - 10 * DAY_US : now) + k * 100;
            t[i] = (ot_store_tel){.event_id = ids[i], .twin_id = twins[k % 16],
                                  .asset_id = "pump-1", .ts_us = ts, .nmetrics = 4,
                                  .metric_names = names, .metric_values = vals[i],
                                  .json = json[i]};
        }
        ot_store_write w = {.tels = t, .ntels = BATCH};
        if (ot_store_write_sync(st, &w)) {
            fprintf(stderr, "write: %s\n", w.err.message);
            return -1;
        }
    }
    ot_store_close(st);
    return 0;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                         " PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0;", NULL,
                     NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "open %s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg);
        exit(1);
    }
}

static int pass_max = OT_RETENTION_PASS_MAX; /* as the store runs them */

/* One pass in its own transaction: ms, and *more. */
static double pass(sqlite3 *db, int64_t cutoff, ot_retention_at *at, int *more)
{
    int64_t t0 = ot_now_us();
    ot_error e;
    exec(db, "BEGIN IMMEDIATE");
    if (ot_sqlite_retention(db, cutoff, pass_max, at, more, &e)) {
        fprintf(stderr, "retention: %s\n", e.message);
        exit(1);
    }
    exec(db, "COMMIT");
    double ms = (double)(ot_now_us() - t0) / 1000.0;
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    return ms;
}

/* What retention ran before sqlite_retention.h (a06b982 and earlier). */
static double baseline(sqlite3 *db, int64_t cutoff)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;"
             " DELETE FROM events WHERE ts < %lld AND cursor < (SELECT COALESCE(MIN(cursor),"
             " 9000000000000000000) FROM events WHERE ts >= %lld);"
             " DELETE FROM twin_postings WHERE last < (SELECT COALESCE(MIN(cursor),"
             " 9000000000000000000) FROM events);"
             " DELETE FROM telemetry WHERE ts < %lld;"
             " DELETE FROM telemetry_postings WHERE tmax < %lld;"
             " DELETE FROM point_blocks WHERE minute < %lld;"
             " DELETE FROM rollup_1m WHERE minute < %lld; COMMIT;",
             (long long)cutoff, (long long)cutoff, (long long)cutoff, (long long)cutoff,
             (long long)ot_minute_of(cutoff), (long long)ot_minute_of(cutoff));
    int64_t t0 = ot_now_us();
    exec(db, sql);
    return (double)(ot_now_us() - t0) / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N [OLD [PASS_MAX]]]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000000, old = argc > 3 ? atol(argv[3]) : 10000;
    pass_max = argc > 4 ? atoi(argv[4]) : pass_max;
    ot_log_set_level(OT_LOG_WARNING);
    int64_t now = ot_now_us(), cutoff = now - DAY_US;
    char a[600], b[600], cmd[1300];
    snprintf(a, sizeof a, "%s/opstwin.db", argv[1]);
    snprintf(b, sizeof b, "%s/baseline.db", argv[1]);
    if (fill(argv[1], n, old, now))
        return 1;
    if (pass_max == 0)
        return 0;
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && sync", a, b);
    if (system(cmd) != 0)
        return 1;

    sqlite3 *db = open_db(a);
    ot_retention_at at = {0};
    int more = 1, passes = 0;
    double max = 0, all = 0;
    while (more) {
        double ms = pass(db, cutoff, &at, &more);
        passes++;
        all += ms;
        max = ms > max ? ms : max;
    }
    double steady = pass(db, cutoff, &at, &more);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM telemetry", -1, &q, NULL);
    sqlite3_step(q);
    long left = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);

    db = open_db(b);
    double base = baseline(db, cutoff), base_steady = baseline(db, cutoff);
    sqlite3_close(db);
    if (left != n - old) {
        fprintf(stderr, "%ld records left, want %ld\n", left, n - old);
        return 1;
    }
    printf("records %ld expired %ld passes %d max_pass_ms %.1f all_passes_ms %.1f"
           " steady_pass_ms %.1f baseline_ms %.1f steady_baseline_ms %.1f\n",
           n, old, passes, max, all, steady, base, base_steady);
    return 0;
}
