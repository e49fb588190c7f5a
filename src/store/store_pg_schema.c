/* store_pg_schema.c - the PostgreSQL backend's schema: versioned
 * migrations, the time layout (TimescaleDB hypertables or native day
 * partitions), partitions created ahead, retention, and the maintenance
 * thread (ping for /health, partitions hourly, expired rows). See store_pg.c for the
 * whole backend's contract.
 */
#include "store/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"

#define DAYS_AHEAD 3
#define LOCK_MIGRATE "5579598258876782" /* transaction-scoped advisory lock */

/* --- schema ---------------------------------------------------------------- */

static const char *const migration1 =
    "CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE events (cursor bigint PRIMARY KEY, type integer NOT NULL, ts bigint NOT NULL,"
    " twin_id text NOT NULL, id text NOT NULL, ref_type text NOT NULL, extra text);"
    "CREATE INDEX events_twin ON events (twin_id, cursor);"
    "CREATE INDEX events_ts ON events (ts);"
    "CREATE TABLE series (series_id bigserial PRIMARY KEY, twin_id text NOT NULL,"
    " asset_id text NOT NULL, metric text NOT NULL, last_ts bigint, last_value double precision,"
    " UNIQUE (twin_id, asset_id, metric));"
    "CREATE TABLE docs (type text NOT NULL, id text NOT NULL, twin_id text NOT NULL,"
    " status text, created bigint NOT NULL, updated bigint NOT NULL, json text NOT NULL,"
    " PRIMARY KEY (type, id));"
    "CREATE INDEX docs_twin ON docs (type, twin_id, updated);"
    "CREATE TABLE audit (seq bigint PRIMARY KEY, ts bigint NOT NULL, record text NOT NULL,"
    " prev_hash text NOT NULL, hash text NOT NULL);"
    "CREATE TABLE rollup_1m (series_id bigint NOT NULL, minute bigint NOT NULL,"
    " count bigint NOT NULL, sum double precision NOT NULL, sumsq double precision NOT NULL,"
    " min double precision NOT NULL, max double precision NOT NULL,"
    " PRIMARY KEY (series_id, minute));";

#define TEL_COLS                                                                                \
    "(event_id text NOT NULL, cursor bigint NOT NULL, twin_id text NOT NULL,"                 \
    " asset_id text NOT NULL, ts bigint NOT NULL, json text NOT NULL, PRIMARY KEY (event_id, ts))"
#define PTS_COLS                                                                                \
    "(series_id bigint NOT NULL, ts bigint NOT NULL, seq bigint NOT NULL,"                    \
    " value double precision NOT NULL, PRIMARY KEY (series_id, ts, seq))"

static const char *const layout_native =
    "CREATE TABLE telemetry " TEL_COLS " PARTITION BY RANGE (ts);"
    "CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;"
    "CREATE INDEX telemetry_twin_ts ON telemetry (twin_id, ts);"
    "CREATE TABLE points " PTS_COLS " PARTITION BY RANGE (ts);"
    "CREATE TABLE points_default PARTITION OF points DEFAULT;"
    "INSERT INTO store_meta VALUES ('time_layout', 'native');";

static const char *const layout_timescale =
    "CREATE TABLE telemetry " TEL_COLS ";"
    "CREATE INDEX telemetry_twin_ts ON telemetry (twin_id, ts);"
    "SELECT create_hypertable('telemetry', 'ts', chunk_time_interval => 86400000000::bigint);"
    "CREATE TABLE points " PTS_COLS ";"
    "SELECT create_hypertable('points', 'ts', chunk_time_interval => 86400000000::bigint);"
    "INSERT INTO store_meta VALUES ('time_layout', 'timescaledb');";

/* 2: retention's DELETEs by time (pg_retention) found their rows by reading
 * every row of the day partition that straddles the cutoff, and all of
 * rollup_1m (their keys lead with event_id or series_id), once a minute.
 * Block-range indexes on the time columns are small and cheap to keep for
 * rows that arrive in about time order; Timescale's chunks are dropped
 * whole and have their own time index. */
static const char *const migration2_all =
    "CREATE INDEX IF NOT EXISTS rollup_1m_minute_brin ON rollup_1m USING brin (minute);";
static const char *const migration2_native =
    "CREATE INDEX IF NOT EXISTS telemetry_ts_brin ON telemetry USING brin (ts);"
    "CREATE INDEX IF NOT EXISTS points_ts_brin ON points USING brin (ts);";

/* 3: the events other than telemetry, by cursor and by twin (reads
 * filtered to their types walked every telemetry event from the cursor);
 * partial indexes, so ingest writes no entry. */
static const char *const migration3 =
    "CREATE INDEX IF NOT EXISTS events_rare ON events (cursor) WHERE type <> 0;"
    "CREATE INDEX IF NOT EXISTS events_rare_twin ON events (twin_id, cursor) WHERE type <> 0;";

/* 4: rollups keep the sum of squared deviations (m2) instead of the sum of
 * squares (rollup.h); rows written before keep the precision they had */
static const char *const migration4 =
    "ALTER TABLE rollup_1m RENAME COLUMN sumsq TO m2;"
    "UPDATE rollup_1m SET m2 = GREATEST(m2 - sum * sum / count, 0);";

#define NMIGRATIONS 4

/* --- migrations and partitions ------------------------------------------------ */

static int query_int(pg_be *be, PGconn *c, const char *sql, long long *out, ot_error *err)
{
    PGresult *r = PQexec(c, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_fail(be, c, r, err, "schema check");
    else
        *out = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return rc;
}

/* Try to create the timescaledb extension (inside the migration
 * transaction, under a savepoint: it needs shared_preload_libraries and the
 * right privileges, and failing it just means native partitioning). */
static int try_timescale(pg_be *be, PGconn *c)
{
    long long avail = 0;
    if (query_int(be, c, "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'",
                  &avail, NULL) || !avail)
        return 0;
    if (pg_exec_ok(be, c, "SAVEPOINT ts", NULL, "savepoint"))
        return 0;
    ot_error e;
    if (pg_exec_ok(be, c, "CREATE EXTENSION IF NOT EXISTS timescaledb", &e, "create extension")) {
        ot_log(OT_LOG_WARNING, "store: timescaledb is available but cannot be used (%s); "
               "using native partitioning", e.message);
        pg_exec_ok(be, c, "ROLLBACK TO SAVEPOINT ts", NULL, "rollback");
        return 0;
    }
    pg_exec_ok(be, c, "RELEASE SAVEPOINT ts", NULL, "release");
    return 1;
}

/* Record that migration `to` ran (in the migration's transaction); a
 * database that was at `from` >= 1 says so in the log. */
static int migrated(pg_be *be, PGconn *c, int to, long long from, ot_error *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT INTO schema_migrations (version) VALUES (%d)", to);
    int rc = pg_exec_ok(be, c, sql, err, "migration");
    if (!rc && from >= 1)
        ot_log(OT_LOG_INFO, "store: migrated the database to version %d", to);
    return rc;
}

int pg_migrate(pg_be *be, PGconn *c, ot_error *err)
{
    int rc = pg_exec_ok(be, c, "BEGIN", err, "migrate");
    if (!rc)
        rc = pg_exec_ok(be, c, "SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ")", err, "migrate");
    if (!rc)
        rc = pg_exec_ok(be, c,
                     "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     err, "migrate");
    long long version = 0;
    if (!rc)
        rc = query_int(be, c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &version,
                       err);
    if (!rc && version > NMIGRATIONS)
        rc = ot_error_set(err, OT_EIO, "DATABASE_URL",
                          "database schema version %lld is newer than this build knows (%d); "
                          "use a newer opstwin",
                          version, NMIGRATIONS);
    if (!rc && version < 1) {
        int ts = try_timescale(be, c);
        rc = pg_exec_ok(be, c, migration1, err, "migration 1");
        if (!rc)
            rc = pg_exec_ok(be, c, ts ? layout_timescale : layout_native, err, "migration 1");
        if (!rc)
            rc = pg_exec_ok(be, c, "INSERT INTO schema_migrations (version) VALUES (1)", err,
                         "migration 1");
        if (!rc)
            ot_log(OT_LOG_INFO, "store: created the database schema (version 1, %s)",
                   ts ? "timescaledb" : "native partitioning");
    }
    if (!rc && version < 2) {
        long long timescale = 0;
        rc = query_int(be, c, "SELECT count(*) FROM store_meta WHERE key = 'time_layout'"
                              " AND value = 'timescaledb'", &timescale, err);
        if (!rc)
            rc = pg_exec_ok(be, c, migration2_all, err, "migration 2");
        if (!rc && !timescale)
            rc = pg_exec_ok(be, c, migration2_native, err, "migration 2");
        if (!rc)
            rc = migrated(be, c, 2, version, err);
    }
    if (!rc && version < 3) {
        rc = pg_exec_ok(be, c, migration3, err, "migration 3");
        if (!rc)
            rc = migrated(be, c, 3, version, err);
    }
    if (!rc && version < 4) {
        rc = pg_exec_ok(be, c, migration4, err, "migration 4");
        if (!rc)
            rc = migrated(be, c, 4, version, err);
    }
    if (!rc)
        rc = pg_exec_ok(be, c, "COMMIT", err, "migrate");
    if (rc) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
        return rc;
    }
    PGresult *r = PQexec(c, "SELECT value FROM store_meta WHERE key = 'time_layout'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_fail(be, c, r, err, "read the time layout");
    else
        be->timescale = PQntuples(r) && strcmp(PQgetvalue(r, 0, 0), "timescaledb") == 0;
    PQclear(r);
    return rc;
}

static int64_t day_of(int64_t us)
{
    return us >= 0 ? us / DAY_US : -((-us + DAY_US - 1) / DAY_US);
}

static void day_name(int64_t day, char *out, size_t n)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Native layout: one partition per UTC day, from today to DAYS_AHEAD ahead.
 * A partition whose range already has rows in the DEFAULT partition cannot
 * be created; those rows stay in DEFAULT, which is correct, just slower. */
void pg_ensure_partitions(pg_be *be, PGconn *c)
{
    if (be->timescale)
        return;
    int64_t today = day_of(ot_now_us());
    if (be->parts_done_day >= today + DAYS_AHEAD)
        return;
    static const char *const tables[] = {"telemetry", "points"};
    for (int64_t d = today; d <= today + DAYS_AHEAD; d++) {
        char name[48];
        day_name(d, name, sizeof name);
        for (int t = 0; t < 2; t++) {
            char sql[512], reg[128];
            snprintf(reg, sizeof reg, "SELECT to_regclass('%s_p%s') IS NOT NULL", tables[t], name);
            PGresult *r = PQexec(c, reg);
            int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) &&
                         strcmp(PQgetvalue(r, 0, 0), "t") == 0;
            int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
            PQclear(r);
            if (!ok)
                return;
            if (exists)
                continue;
            snprintf(sql, sizeof sql,
                     "CREATE TABLE IF NOT EXISTS %s_p%s PARTITION OF %s FOR VALUES FROM (%lld)"
                     " TO (%lld)",
                     tables[t], name, tables[t], (long long)(d * DAY_US),
                     (long long)((d + 1) * DAY_US));
            ot_error e;
            if (pg_exec_ok(be, c, sql, &e, "create partition"))
                ot_log(OT_LOG_WARNING, "store: partition %s_p%s not created: %s", tables[t],
                       name, e.message);
        }
    }
    be->parts_done_day = today + DAYS_AHEAD;
}

/* 1 once be_close has asked the maintenance thread to stop. */
static int mt_stopping(pg_be *be)
{
    pthread_mutex_lock(&be->mt_mu);
    int stop = be->mt_stop;
    pthread_mutex_unlock(&be->mt_mu);
    return stop;
}

/* Telemetry, points and rollups older than the cutoff: whole day
 * partitions (or chunks) dropped, the rest deleted, each statement its own
 * transaction. Maintenance thread, on its connection: a DELETE of a day's
 * expired rows (retention turned on over old data) runs beside the
 * writer's inserts instead of holding them. */
static int drop_expired(pg_be *be, PGconn *c, int64_t cutoff_us, ot_error *err)
{
    char sql[1024];
    int rc = 0;
    static const char *const tables[] = {"telemetry", "points"};
    for (int t = 0; t < 2 && !rc && !mt_stopping(be); t++) {
        if (be->timescale) {
            snprintf(sql, sizeof sql, "SELECT drop_chunks('%s', older_than => %lld::bigint)",
                     tables[t], (long long)cutoff_us);
            rc = pg_exec_ok(be, c, sql, err, "retention");
            continue;
        }
        /* whole day partitions entirely older than the cutoff go at once */
        snprintf(sql, sizeof sql,
                 "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                 " WHERE i.inhparent = '%s'::regclass AND c.relname ~ '_p[0-9]{8}$'",
                 tables[t]);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = pg_fail(be, c, r, err, "retention");
            PQclear(r);
            break;
        }
        for (int i = 0; i < PQntuples(r) && !rc && !mt_stopping(be); i++) {
            const char *name = PQgetvalue(r, i, 0);
            const char *ymd = name + strlen(name) - 8;
            struct tm tm = {0};
            if (sscanf(ymd, "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
                continue;
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            int64_t day = (int64_t)timegm(&tm) / 86400;
            if ((day + 1) * DAY_US > cutoff_us)
                continue;
            snprintf(sql, sizeof sql, "DROP TABLE %s", name);
            rc = pg_exec_ok(be, c, sql, err, "retention");
        }
        PQclear(r);
        /* the rest: the DEFAULT partition and partly expired days (found
         * through the BRIN index of migration 2) */
        if (!rc && !mt_stopping(be)) {
            snprintf(sql, sizeof sql, "DELETE FROM %s WHERE ts < %lld", tables[t],
                     (long long)cutoff_us);
            rc = pg_exec_ok(be, c, sql, err, "retention");
        }
    }
    if (!rc && !mt_stopping(be)) {
        snprintf(sql, sizeof sql, "DELETE FROM rollup_1m WHERE minute < %lld",
                 (long long)(cutoff_us / OT_MINUTE_US));
        rc = pg_exec_ok(be, c, sql, err, "retention");
    }
    return rc;
}

void *pg_maint_main(void *arg)
{
    pg_be *be = arg;
    int64_t last_parts = 0, retention_done = 0;
    pthread_mutex_lock(&be->mt_mu);
    while (!be->mt_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&be->mt_cv, &be->mt_mu, &ts); /* pg_retention signals */
        if (be->mt_stop)
            break;
        int64_t cutoff = be->retention_cutoff;
        pthread_mutex_unlock(&be->mt_mu);
        int was_up = atomic_load(&be->up);
        ot_error e;
        int rc = pg_conn_ensure(be, &be->m, 0, 0, &e);
        if (!rc)
            rc = pg_exec_ok(be, be->m.c, "SELECT 1", &e, "ping");
        if (!rc) {
            atomic_store(&be->up, 1);
            if (!was_up)
                ot_log(OT_LOG_INFO, "store: the database is reachable again");
            int64_t now = ot_now_us();
            if (now - last_parts > 3600LL * 1000000) {
                be->parts_done_day = 0; /* recheck: a partition may have been dropped */
                pg_ensure_partitions(be, be->m.c);
                last_parts = now;
            }
            if (cutoff > retention_done) { /* a failure waits for the next cutoff */
                PGcancel *cancel = PQgetCancel(be->m.c);
                pthread_mutex_lock(&be->mt_mu);
                be->mt_cancel = cancel;
                pthread_mutex_unlock(&be->mt_mu);
                rc = drop_expired(be, be->m.c, cutoff, &e);
                pthread_mutex_lock(&be->mt_mu);
                be->mt_cancel = NULL;
                pthread_mutex_unlock(&be->mt_mu);
                PQfreeCancel(cancel);
                if (rc && mt_stopping(be))
                    ot_log(OT_LOG_INFO, "store: retention stopped with the server; it goes on at "
                           "the next start");
                else if (rc)
                    ot_log(OT_LOG_WARNING, "store: retention failed: %s", e.message);
                retention_done = cutoff;
            }
        } else if (was_up) {
            ot_log(OT_LOG_ERROR, "store: %s", e.message);
        }
        pthread_mutex_lock(&be->mt_mu);
    }
    pthread_mutex_unlock(&be->mt_mu);
    return NULL;
}

int pg_retention(void *p, int64_t cutoff_us, int64_t *oldest, int *more, ot_error *err)
{
    pg_be *be = p;
    *more = 0;
    int rc = pg_conn_ensure(be, &be->w, 1, 1, err);
    if (rc)
        return rc;
    /* events here, so the oldest cursor the store reports is the log's:
     * only a prefix, so cursors stay contiguous, at most
     * OT_RETENTION_PASS_MAX, and never the newest, whose cursor the store
     * goes on from at open */
    char sql[512];
    snprintf(sql, sizeof sql,
             "DELETE FROM events WHERE ts < %lld AND cursor < LEAST((SELECT"
             " COALESCE(MIN(cursor), 9000000000000000000) FROM events WHERE ts >= %lld),"
             " (SELECT MAX(cursor) FROM events), (SELECT MIN(cursor) FROM events) + %d)",
             (long long)cutoff_us, (long long)cutoff_us, OT_RETENTION_PASS_MAX);
    PGresult *r = PQexec(be->w.c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_fail(be, be->w.c, r, err, "retention");
        PQclear(r);
        return rc;
    }
    *more = atoll(PQcmdTuples(r)) >= OT_RETENTION_PASS_MAX;
    PQclear(r);
    /* the rest on the maintenance thread */
    pthread_mutex_lock(&be->mt_mu);
    be->retention_cutoff = cutoff_us;
    pthread_cond_signal(&be->mt_cv);
    pthread_mutex_unlock(&be->mt_mu);
    int64_t last = 0;
    return pg_last_cursor(be, &last, oldest, err);
}

