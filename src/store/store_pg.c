/* store_pg.c - the PostgreSQL / TimescaleDB backend (libpq).
 *
 * Selected by DATABASE_URL=postgresql://... (or postgres://). Same tables
 * and semantics as store_sqlite.c; times are bigint microseconds since the
 * epoch, so both backends store and render the same values.
 *
 * Connections: one writer connection (the store's writer thread only), a
 * pool of read_connections reader connections (any thread, connected on
 * first use), and one maintenance connection owned by a small thread that
 * pings the database every second (health) and creates time partitions
 * ahead. Every connection re-establishes itself with backoff (100 ms
 * doubling to 5 s) and re-prepares its statements; a read that finds its
 * connection dropped (a PostgreSQL restart) reconnects once and retries.
 *
 * Writes: a group's telemetry, points and events are buffered in COPY text
 * format and sent with three COPYs just before COMMIT, inside the group's
 * transaction; series' latest values and per-minute rollups follow as one
 * unnest() statement each. The writer session runs synchronous_commit=on,
 * so COMMIT returning means durable. A failed COMMIT fails the group; the
 * writer connection is then re-established and store.c re-reads the last
 * cursor and audit head from the database (be_reconnected), so a COMMIT
 * whose outcome was lost on the wire can neither leave a gap nor hand out a
 * cursor twice. The writer holds a session advisory lock: one opstwin
 * process writes a database at a time.
 *
 * Time layout, chosen when the schema is created and kept in store_meta:
 *   timescaledb           the extension is available: telemetry and points
 *                         are hypertables (1-day chunks), aggregates use
 *                         time_bucket, retention drop_chunks.
 *   native partitioning   otherwise: telemetry and points are partitioned by
 *                         RANGE (ts), one partition per UTC day created
 *                         ahead (today .. +3 days) plus a DEFAULT partition
 *                         for anything outside; aggregates use date_bin;
 *                         retention drops whole day partitions.
 *
 * Schema (versioned in schema_migrations, migrated in one transaction under
 * a transaction-scoped advisory lock, so two servers never migrate at once):
 *   events(cursor PK, type, ts, twin_id, id, ref_type, extra)
 *   telemetry(event_id, cursor, twin_id, asset_id, ts, json) PK (event_id, ts)
 *   series(series_id PK, twin_id, asset_id, metric, last_ts, last_value)
 *   points(series_id, ts, seq, value) PK (series_id, ts, seq)
 *   docs(type, id, twin_id, status, created, updated, json) PK (type, id)
 *   audit(seq PK, ts, record, prev_hash, hash)
 *   rollup_1m(series_id, minute, count, sum, sumsq, min, max)
 *   store_meta(key PK, value)
 */
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/strmap.h"
#include "store/backend.h"

#define MINUTE_US 60000000LL
#define DAY_US 86400000000LL
#define DAYS_AHEAD 3
/* advisory lock keys: migrations (transaction-scoped), the writer (session) */
#define LOCK_MIGRATE "5579598258876782"
#define LOCK_WRITER "5579598258877033"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

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

#define NMIGRATIONS 1

/* --- statements ------------------------------------------------------------ */

enum wstmt { W_LOOKUP_TEL, W_SERIES_GET, W_SERIES_INS, W_SERIES_SET, W_PUT_DOC, W_PUT_AUDIT,
             W_ROLLUP, W_LAST_CURSOR, W_LAST_AUDIT, W_NSTMT };
static const char *const wsql[W_NSTMT] = {
    [W_LOOKUP_TEL] = "SELECT cursor FROM telemetry WHERE event_id = $1 LIMIT 1",
    [W_SERIES_GET] = "SELECT series_id, last_ts FROM series WHERE twin_id = $1 AND asset_id = $2"
                     " AND metric = $3",
    [W_SERIES_INS] = "INSERT INTO series (twin_id, asset_id, metric) VALUES ($1, $2, $3)"
                     " RETURNING series_id",
    [W_SERIES_SET] = "UPDATE series s SET last_ts = u.ts, last_value = u.v FROM unnest($1::bigint[],"
                     " $2::bigint[], $3::float8[]) AS u(id, ts, v) WHERE s.series_id = u.id",
    [W_PUT_DOC] = "INSERT INTO docs (type, id, twin_id, status, created, updated, json)"
                  " VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (type, id) DO UPDATE SET"
                  " twin_id = EXCLUDED.twin_id, status = EXCLUDED.status,"
                  " updated = EXCLUDED.updated, json = EXCLUDED.json",
    [W_PUT_AUDIT] = "INSERT INTO audit (seq, ts, record, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)",
    [W_ROLLUP] = "INSERT INTO rollup_1m AS r SELECT * FROM unnest($1::bigint[], $2::bigint[],"
                 " $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])"
                 " ON CONFLICT (series_id, minute) DO UPDATE SET count = r.count + EXCLUDED.count,"
                 " sum = r.sum + EXCLUDED.sum, sumsq = r.sumsq + EXCLUDED.sumsq,"
                 " min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max)",
    [W_LAST_CURSOR] = "SELECT COALESCE(MAX(cursor), 0), COALESCE(MIN(cursor), 0) FROM events",
    [W_LAST_AUDIT] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
};

enum rstmt { R_EVENTS, R_EVENTS_TWIN, R_TEL_GET, R_DOC_GET, R_DOCS, R_TEL_QUERY, R_LATEST,
             R_LATEST_TWIN, R_AUDIT, R_AGG_POINTS, R_AGG_ROLLUPS, R_NSTMT };
#define EVENT_COLS "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events"
#define TYPE_MASK "($2::bigint = 0 OR ((1::bigint << type) & $2::bigint) <> 0)"
static const char *const rsql_common[R_AGG_POINTS] = {
    [R_EVENTS] = EVENT_COLS " WHERE cursor > $1 AND " TYPE_MASK " ORDER BY cursor LIMIT $3",
    [R_EVENTS_TWIN] = EVENT_COLS " WHERE twin_id = $4 AND cursor > $1 AND " TYPE_MASK
                                 " ORDER BY cursor LIMIT $3",
    [R_TEL_GET] = "SELECT json FROM telemetry WHERE event_id = $1 LIMIT 1",
    [R_DOC_GET] = "SELECT json FROM docs WHERE type = $1 AND id = $2",
    [R_DOCS] = "SELECT json FROM docs WHERE type = $1 AND ($2::text IS NULL OR twin_id = $2)"
               " AND ($3::text IS NULL OR status = $3) ORDER BY updated DESC, id DESC LIMIT $4",
    [R_TEL_QUERY] = "SELECT json FROM telemetry WHERE twin_id = $1 AND ($2::text IS NULL OR"
                    " asset_id = $2) AND ts >= $3 AND ts < $4 ORDER BY ts, event_id LIMIT $5",
    [R_LATEST] = "SELECT twin_id, asset_id, metric, last_value, last_ts FROM series"
                 " WHERE last_ts IS NOT NULL ORDER BY twin_id, asset_id, metric",
    [R_LATEST_TWIN] = "SELECT twin_id, asset_id, metric, last_value, last_ts FROM series"
                      " WHERE twin_id = $1 AND last_ts IS NOT NULL ORDER BY asset_id, metric",
    [R_AUDIT] = "SELECT seq, record, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
};

/* Aggregates run in the database: one row per bucket (start in us, count,
 * sum, sum of squares, min, max); $5 is the window in us. The bucket
 * expression is the layout's: time_bucket on the bigint time, or date_bin
 * on it as a timestamptz (origin: the epoch, as time_bucket's). */
#define SERIES_OF "(SELECT series_id FROM series WHERE twin_id = $1 AND metric = $2 AND" \
                  " ($3::text IS NULL OR asset_id = $3))"
static const char *const agg_points_fmt =
    "SELECT %s AS b, count(*), sum(value), sum(value * value), min(value), max(value)"
    " FROM points WHERE series_id IN " SERIES_OF " AND ts >= $4 AND ts < $6"
    " GROUP BY 1 ORDER BY 1 LIMIT $7";
static const char *const agg_rollups_fmt =
    "SELECT %s AS b, sum(count), sum(sum), sum(sumsq), min(min), max(max)"
    " FROM rollup_1m WHERE series_id IN " SERIES_OF " AND minute >= $4 AND minute < $6"
    " GROUP BY 1 ORDER BY 1 LIMIT $7";
static const char *const bucket_native =
    "(extract(epoch FROM date_bin($5::bigint * interval '1 microsecond',"
    " to_timestamp(0) + (%s) * interval '1 microsecond', to_timestamp(0))) * 1000000)::bigint";
static const char *const bucket_timescale = "time_bucket($5::bigint, %s)";

/* --- state ------------------------------------------------------------------- */

typedef struct pg_conn {
    PGconn *c;
    int prepared;           /* statements prepared on this connection */
    int ever;               /* connected at least once */
    int64_t next_try_us;    /* backoff: no attempt before this */
    int backoff_ms;
    struct pg_conn *free_next;
} pg_conn;

struct series_entry {
    int64_t id;
    int64_t last_ts;
    double last_value;
    int dirty;
};

struct rollup_acc {
    int64_t series, minute;
    long count;
    double sum, sumsq, min, max;
    int used;
};

typedef struct pg_be {
    char url[1024];
    char shown_url[256];    /* password masked, for messages */
    int timescale;
    char rsql_agg[2][1024]; /* R_AGG_POINTS, R_AGG_ROLLUPS for this layout */

    /* writer thread */
    pg_conn w;
    int in_tx;              /* a transaction is open on w: never reconnect under it */
    int reconnected;        /* the writer connection was re-established */
    ot_buf cp_tel, cp_pts, cp_ev;
    ot_strmap pending;      /* event_id -> cursor, telemetry of the open transaction */
    ot_strmap series;       /* "twin\x1fasset\x1fmetric" -> struct series_entry * */
    struct series_entry **dirty, **seen;
    size_t ndirty, dirty_cap, seen_cap;
    struct rollup_acc *acc;
    size_t acc_cap, acc_n;
    ot_buf arr[7];          /* array literals for the unnest statements */

    /* readers */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    pg_conn *pool, *free_list;
    int npool;

    /* maintenance thread: ping, partitions ahead */
    pthread_t mt;
    int mt_started, mt_stop;
    pthread_mutex_t mt_mu;
    pthread_cond_t mt_cv;
    pg_conn m;
    int64_t parts_done_day;

    atomic_int up;
    pthread_mutex_t err_mu;
    char last_error[OT_ERROR_MSG_MAX];
} pg_be;

static void note_down(pg_be *be, const char *msg)
{
    atomic_store(&be->up, 0);
    pthread_mutex_lock(&be->err_mu);
    snprintf(be->last_error, sizeof be->last_error, "%s", msg);
    pthread_mutex_unlock(&be->err_mu);
}

/* A libpq message without its trailing newline, into out. */
static const char *clean_msg(const char *m, char *out, size_t n)
{
    snprintf(out, n, "%s", m && *m ? m : "no message");
    size_t l = strlen(out);
    while (l && (out[l - 1] == '\n' || out[l - 1] == ' '))
        out[--l] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return out;
}

/* Fill err from a failed result (r may be NULL). A dropped connection or a
 * server shutting down is OT_EUNAVAIL (503); anything else OT_EIO. */
static int pg_fail(pg_be *be, PGconn *c, const PGresult *r, ot_error *err, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int unavail = !c || PQstatus(c) != CONNECTION_OK ||
                  (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                             strcmp(state, "53300") == 0));
    char msg[400];
    const char *m = r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
                    : c                             ? PQerrorMessage(c)
                                                    : "no connection";
    clean_msg(m, msg, sizeof msg);
    if (unavail) {
        int rc = ot_error_set(err, OT_EUNAVAIL, NULL,
                              "the database is unavailable (%s): %s; retry later", what, msg);
        if (be)
            note_down(be, msg);
        return rc;
    }
    return ot_error_set(err, OT_EIO, NULL, "database: %s: %s", what, msg);
}

/* --- connections ---------------------------------------------------------------- */

static void mask_url(const char *url, char *out, size_t n)
{
    const char *at = strchr(url, '@'), *scheme = strstr(url, "://");
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at)
        snprintf(out, n, "%.*s:***%.200s", (int)(colon - url), url, at);
    else
        snprintf(out, n, "%.250s", url);
}

static int prepare_all(pg_be *be, pg_conn *pc, int writer, ot_error *err)
{
    int n = writer ? W_NSTMT : R_NSTMT;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "%c%d", writer ? 'w' : 'r', i);
        const char *sql = writer               ? wsql[i]
                          : i < R_AGG_POINTS   ? rsql_common[i]
                                               : be->rsql_agg[i - R_AGG_POINTS];
        PGresult *r = PQprepare(pc->c, name, sql, 0, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        int rc = ok ? 0 : pg_fail(be, pc->c, r, err, "prepare");
        PQclear(r);
        if (rc)
            return rc;
    }
    pc->prepared = 1;
    return 0;
}

static int exec_ok(pg_be *be, PGconn *c, const char *sql, ot_error *err, const char *what)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_fail(be, c, r, err, what);
    PQclear(r);
    return rc;
}

/* Server notices ("relation already exists, skipping") are not errors;
 * libpq would print them on stderr. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    char msg[400];
    ot_log(OT_LOG_DEBUG, "store: database notice: %s", clean_msg(message, msg, sizeof msg));
}

/* Make sure pc is connected (and its statements prepared when the schema
 * exists: prepare = 1). Honours the backoff unless this is the first try. */
static int conn_ensure(pg_be *be, pg_conn *pc, int writer, int prepare, ot_error *err)
{
    if (pc->c && PQstatus(pc->c) == CONNECTION_OK) {
        if (prepare && !pc->prepared)
            return prepare_all(be, pc, writer, err);
        return 0;
    }
    int64_t now = ot_now_us();
    if (pc->ever && now < pc->next_try_us) {
        char msg[OT_ERROR_MSG_MAX];
        pthread_mutex_lock(&be->err_mu);
        snprintf(msg, sizeof msg, "%s", be->last_error);
        pthread_mutex_unlock(&be->err_mu);
        return ot_error_set(err, OT_EUNAVAIL, NULL,
                            "the database is unavailable (reconnecting): %s; retry later", msg);
    }
    if (pc->c)
        PQfinish(pc->c);
    pc->prepared = 0;
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {be->url, "5", "opstwin", NULL};
    pc->c = PQconnectdbParams(keys, vals, 1);
    int rc = 0;
    if (!pc->c || PQstatus(pc->c) != CONNECTION_OK) {
        char msg[400];
        clean_msg(pc->c ? PQerrorMessage(pc->c) : "out of memory", msg, sizeof msg);
        note_down(be, msg);
        rc = pc->ever ? ot_error_set(err, OT_EUNAVAIL, NULL,
                                     "the database is unavailable (%s): %s; retry later",
                                     be->shown_url, msg)
                      : ot_error_set(err, OT_EUNAVAIL, "DATABASE_URL",
                                     "cannot connect to the database %s: %s", be->shown_url,
                                     msg);
    }
    if (!rc)
        PQsetNoticeProcessor(pc->c, quiet_notice, NULL);
    /* the writer's acknowledgement promise rests on synchronous commits */
    if (!rc && writer)
        rc = exec_ok(be, pc->c, "SET synchronous_commit = on", err, "session setup");
    if (!rc && writer) {
        PGresult *r = PQexec(pc->c, "SELECT pg_try_advisory_lock(" LOCK_WRITER ")");
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = pg_fail(be, pc->c, r, err, "writer lock");
        else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
            rc = ot_error_set(err, OT_EBUSY, "DATABASE_URL",
                              "the database %s is in use by another opstwin process (one "
                              "server writes a database at a time)",
                              be->shown_url);
        PQclear(r);
    }
    if (!rc && prepare)
        rc = prepare_all(be, pc, writer, err);
    if (rc) {
        if (pc->c)
            PQfinish(pc->c);
        pc->c = NULL;
        pc->backoff_ms = pc->backoff_ms ? pc->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (pc->backoff_ms > BACKOFF_MAX_MS)
            pc->backoff_ms = BACKOFF_MAX_MS;
        pc->next_try_us = now + (int64_t)pc->backoff_ms * 1000;
        pc->ever = 1;
        return rc;
    }
    if (pc->ever && writer) {
        be->reconnected = 1;
        ot_log(OT_LOG_WARNING, "store: reconnected to the database");
    }
    pc->ever = 1;
    pc->backoff_ms = 0;
    atomic_store(&be->up, 1);
    return 0;
}

/* Run a prepared statement. Reads retry once on a fresh connection when
 * the old one turned out to be dead (the server restarted since its last
 * use): nothing was done, so it is safe. */
static PGresult *run(pg_be *be, pg_conn *pc, int writer, int k, int n, const char *const *v,
                     ot_error *err, const char *what)
{
    char name[16];
    snprintf(name, sizeof name, "%c%d", writer ? 'w' : 'r', k);
    for (int attempt = 0; attempt < 2; attempt++) {
        /* a transaction dies with its connection: reconnecting under it would
         * run the rest of the group outside any transaction */
        if (writer && be->in_tx && PQstatus(pc->c) != CONNECTION_OK) {
            pg_fail(be, pc->c, NULL, err, what);
            return NULL;
        }
        if (conn_ensure(be, pc, writer, 1, err))
            return NULL;
        PGresult *r = PQexecPrepared(pc->c, name, n, v, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return r;
        int dead = PQstatus(pc->c) != CONNECTION_OK;
        pg_fail(be, pc->c, r, err, what);
        PQclear(r);
        if (!dead || writer || attempt)
            return NULL;
        pc->next_try_us = 0;
    }
    return NULL;
}

#define I64(buf, x) (snprintf(buf, sizeof buf, "%lld", (long long)(x)), buf)

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
    if (exec_ok(be, c, "SAVEPOINT ts", NULL, "savepoint"))
        return 0;
    ot_error e;
    if (exec_ok(be, c, "CREATE EXTENSION IF NOT EXISTS timescaledb", &e, "create extension")) {
        ot_log(OT_LOG_WARNING, "store: timescaledb is available but cannot be used (%s); "
               "using native partitioning", e.message);
        exec_ok(be, c, "ROLLBACK TO SAVEPOINT ts", NULL, "rollback");
        return 0;
    }
    exec_ok(be, c, "RELEASE SAVEPOINT ts", NULL, "release");
    return 1;
}

static int migrate(pg_be *be, PGconn *c, ot_error *err)
{
    int rc = exec_ok(be, c, "BEGIN", err, "migrate");
    if (!rc)
        rc = exec_ok(be, c, "SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ")", err, "migrate");
    if (!rc)
        rc = exec_ok(be, c,
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
        rc = exec_ok(be, c, migration1, err, "migration 1");
        if (!rc)
            rc = exec_ok(be, c, ts ? layout_timescale : layout_native, err, "migration 1");
        if (!rc)
            rc = exec_ok(be, c, "INSERT INTO schema_migrations (version) VALUES (1)", err,
                         "migration 1");
        if (!rc)
            ot_log(OT_LOG_INFO, "store: created the database schema (version 1, %s)",
                   ts ? "timescaledb" : "native partitioning");
    }
    if (!rc)
        rc = exec_ok(be, c, "COMMIT", err, "migrate");
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
static void ensure_partitions(pg_be *be, PGconn *c)
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
            if (exec_ok(be, c, sql, &e, "create partition"))
                ot_log(OT_LOG_WARNING, "store: partition %s_p%s not created: %s", tables[t],
                       name, e.message);
        }
    }
    be->parts_done_day = today + DAYS_AHEAD;
}

static void *maint_main(void *arg)
{
    pg_be *be = arg;
    int64_t last_parts = 0;
    pthread_mutex_lock(&be->mt_mu);
    while (!be->mt_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&be->mt_cv, &be->mt_mu, &ts);
        if (be->mt_stop)
            break;
        pthread_mutex_unlock(&be->mt_mu);
        int was_up = atomic_load(&be->up);
        ot_error e;
        int rc = conn_ensure(be, &be->m, 0, 0, &e);
        if (!rc)
            rc = exec_ok(be, be->m.c, "SELECT 1", &e, "ping");
        if (!rc) {
            atomic_store(&be->up, 1);
            if (!was_up)
                ot_log(OT_LOG_INFO, "store: the database is reachable again");
            int64_t now = ot_now_us();
            if (now - last_parts > 3600LL * 1000000) {
                be->parts_done_day = 0; /* recheck: a partition may have been dropped */
                ensure_partitions(be, be->m.c);
                last_parts = now;
            }
        } else if (was_up) {
            ot_log(OT_LOG_ERROR, "store: %s", e.message);
        }
        pthread_mutex_lock(&be->mt_mu);
    }
    pthread_mutex_unlock(&be->mt_mu);
    return NULL;
}

/* --- open / close -------------------------------------------------------------- */

static void be_close(void *p)
{
    pg_be *be = p;
    if (!be)
        return;
    if (be->mt_started) {
        pthread_mutex_lock(&be->mt_mu);
        be->mt_stop = 1;
        pthread_cond_signal(&be->mt_cv);
        pthread_mutex_unlock(&be->mt_mu);
        pthread_join(be->mt, NULL);
    }
    if (be->m.c)
        PQfinish(be->m.c);
    if (be->w.c)
        PQfinish(be->w.c);
    for (int i = 0; i < be->npool; i++)
        if (be->pool[i].c)
            PQfinish(be->pool[i].c);
    free(be->pool);
    ot_buf_free(&be->cp_tel);
    ot_buf_free(&be->cp_pts);
    ot_buf_free(&be->cp_ev);
    for (int i = 0; i < 7; i++)
        ot_buf_free(&be->arr[i]);
    ot_strmap_clear(&be->pending, NULL);
    ot_strmap_clear(&be->series, free);
    free(be->dirty);
    free(be->seen);
    free(be->acc);
    pthread_mutex_destroy(&be->pool_mu);
    pthread_cond_destroy(&be->pool_cv);
    pthread_mutex_destroy(&be->mt_mu);
    pthread_cond_destroy(&be->mt_cv);
    pthread_mutex_destroy(&be->err_mu);
    free(be);
}

static int be_open(const ot_store_options *opt, void **out, ot_error *err)
{
    pg_be *be = calloc(1, sizeof *be);
    if (!be)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&be->pool_mu, NULL);
    pthread_cond_init(&be->pool_cv, NULL);
    pthread_mutex_init(&be->mt_mu, NULL);
    pthread_cond_init(&be->mt_cv, NULL);
    pthread_mutex_init(&be->err_mu, NULL);
    ot_buf_init(&be->cp_tel);
    ot_buf_init(&be->cp_pts);
    ot_buf_init(&be->cp_ev);
    for (int i = 0; i < 7; i++)
        ot_buf_init(&be->arr[i]);
    snprintf(be->url, sizeof be->url, "%s", opt->database_url);
    mask_url(be->url, be->shown_url, sizeof be->shown_url);
    int rc = conn_ensure(be, &be->w, 1, 0, err);
    if (!rc)
        rc = migrate(be, be->w.c, err);
    if (!rc) {
        const char *bk = be->timescale ? bucket_timescale : bucket_native;
        char bp[512], br[512];
        snprintf(bp, sizeof bp, bk, "ts");
        snprintf(br, sizeof br, bk, "minute * 60000000");
        snprintf(be->rsql_agg[0], sizeof be->rsql_agg[0], agg_points_fmt, bp);
        snprintf(be->rsql_agg[1], sizeof be->rsql_agg[1], agg_rollups_fmt, br);
        rc = prepare_all(be, &be->w, 1, err);
    }
    if (!rc)
        ensure_partitions(be, be->w.c);
    be->npool = opt->read_connections > 0 ? opt->read_connections : 4;
    if (!rc && !(be->pool = calloc((size_t)be->npool, sizeof *be->pool)))
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    for (int i = 0; !rc && i < be->npool; i++) {
        be->pool[i].free_next = be->free_list;
        be->free_list = &be->pool[i];
    }
    /* one reader now, so a bad URL or schema fails the start, not a request */
    if (!rc)
        rc = conn_ensure(be, be->free_list, 0, 1, err);
    if (!rc && pthread_create(&be->mt, NULL, maint_main, be) == 0)
        be->mt_started = 1;
    if (rc) {
        if (!be->pool)
            be->npool = 0;
        be_close(be);
        return rc;
    }
    ot_log(OT_LOG_INFO, "store: PostgreSQL at %s (%s)", be->shown_url,
           be->timescale ? "timescaledb" : "native partitioning");
    *out = be;
    return 0;
}

/* --- the writer -------------------------------------------------------------------- */

/* COPY text format: escape backslash, tab, newline, carriage return. */
static void copy_text(ot_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i], e = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
        if (!e)
            continue;
        ot_buf_append(b, s + run, i - run);
        char esc[2] = {'\\', e};
        ot_buf_append(b, esc, 2);
        run = i + 1;
    }
    ot_buf_append(b, s + run, n - run);
}

static void copy_str(ot_buf *b, const char *s, char sep)
{
    copy_text(b, s, strlen(s));
    ot_buf_append(b, &sep, 1);
}

static void writer_reset(pg_be *be)
{
    ot_buf_reset(&be->cp_tel);
    ot_buf_reset(&be->cp_pts);
    ot_buf_reset(&be->cp_ev);
    ot_strmap_clear(&be->pending, NULL);
    if (be->acc_n)
        memset(be->acc, 0, be->acc_cap * sizeof *be->acc);
    be->acc_n = 0;
}

static int be_begin(void *p, ot_error *err)
{
    pg_be *be = p;
    writer_reset(be);
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = conn_ensure(be, &be->w, 1, 1, err);
        if (rc)
            return rc;
        PGresult *r = PQexec(be->w.c, "BEGIN");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        rc = ok ? 0 : pg_fail(be, be->w.c, r, err, "begin");
        int dead = !ok && PQstatus(be->w.c) != CONNECTION_OK;
        PQclear(r);
        be->in_tx = ok;
        if (!dead)
            return rc;
        /* the connection died while idle (a restart): reconnect now */
        be->w.next_try_us = 0;
    }
    return ot_error_set(err, OT_EUNAVAIL, NULL, "the database is unavailable; retry later");
}

static int be_reconnected(void *p)
{
    pg_be *be = p;
    int r = be->reconnected;
    be->reconnected = 0;
    return r;
}

static int copy_flush(pg_be *be, const char *sql, ot_buf *b, ot_error *err)
{
    if (!b->len)
        return 0;
    if (ot_buf_failed(b))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory buffering rows");
    PGconn *c = be->w.c;
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        int rc = pg_fail(be, c, r, err, "copy");
        PQclear(r);
        return rc;
    }
    PQclear(r);
    int rc = 0;
    const size_t chunk = 1 << 20;
    for (size_t off = 0; off < b->len && !rc; off += chunk) {
        size_t n = b->len - off < chunk ? b->len - off : chunk;
        if (PQputCopyData(c, b->data + off, (int)n) != 1)
            rc = pg_fail(be, c, NULL, err, "copy");
    }
    if (PQputCopyEnd(c, rc ? "aborted" : NULL) != 1 && !rc)
        rc = pg_fail(be, c, NULL, err, "copy");
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !rc)
            rc = pg_fail(be, c, r, err, "copy");
        PQclear(r);
    }
    ot_buf_reset(b);
    return rc;
}

static void arr_add_i64(ot_buf *b, int64_t v)
{
    ot_buf_printf(b, "%s%lld", b->len ? "," : "{", (long long)v);
}

static void arr_add_f(ot_buf *b, double v)
{
    ot_buf_printf(b, "%s%.17g", b->len ? "," : "{", v);
}

static const char *arr_end(ot_buf *b)
{
    ot_buf_puts(b, "}");
    return b->data;
}

static int exec_arrays(pg_be *be, int k, int n, ot_error *err, const char *what)
{
    const char *v[7] = {0};
    for (int i = 0; i < n; i++) {
        v[i] = arr_end(&be->arr[i]);
        if (ot_buf_failed(&be->arr[i]))
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    PGresult *r = run(be, &be->w, 1, k, n, v, err, what);
    for (int i = 0; i < n; i++)
        ot_buf_reset(&be->arr[i]);
    if (!r)
        return err ? err->code : OT_EIO;
    PQclear(r);
    return 0;
}

static int flush_series(pg_be *be, ot_error *err)
{
    if (!be->ndirty)
        return 0;
    for (size_t i = 0; i < be->ndirty; i++) {
        struct series_entry *e = be->dirty[i];
        arr_add_i64(&be->arr[0], e->id);
        arr_add_i64(&be->arr[1], e->last_ts);
        arr_add_f(&be->arr[2], e->last_value);
        e->dirty = 0;
    }
    be->ndirty = 0;
    return exec_arrays(be, W_SERIES_SET, 3, err, "update series");
}

static int flush_rollups(pg_be *be, ot_error *err)
{
    if (!be->acc_n)
        return 0;
    for (size_t i = 0; i < be->acc_cap; i++) {
        struct rollup_acc *a = &be->acc[i];
        if (!a->used)
            continue;
        arr_add_i64(&be->arr[0], a->series);
        arr_add_i64(&be->arr[1], a->minute);
        arr_add_i64(&be->arr[2], a->count);
        arr_add_f(&be->arr[3], a->sum);
        arr_add_f(&be->arr[4], a->sumsq);
        arr_add_f(&be->arr[5], a->min);
        arr_add_f(&be->arr[6], a->max);
    }
    return exec_arrays(be, W_ROLLUP, 7, err, "update rollups");
}

static int be_commit(void *p, ot_error *err)
{
    pg_be *be = p;
    int rc = copy_flush(be, "COPY telemetry (event_id, cursor, twin_id, asset_id, ts, json)"
                            " FROM STDIN", &be->cp_tel, err);
    if (!rc)
        rc = copy_flush(be, "COPY points (series_id, ts, seq, value) FROM STDIN", &be->cp_pts, err);
    if (!rc)
        rc = copy_flush(be, "COPY events (cursor, type, ts, twin_id, id, ref_type, extra)"
                            " FROM STDIN", &be->cp_ev, err);
    if (!rc)
        rc = flush_series(be, err);
    if (!rc)
        rc = flush_rollups(be, err);
    if (!rc && PQtransactionStatus(be->w.c) != PQTRANS_INTRANS)
        rc = pg_fail(be, be->w.c, NULL, err, "commit");
    if (!rc)
        rc = exec_ok(be, be->w.c, "COMMIT", err, "commit");
    if (!rc) {
        be->in_tx = 0;
        writer_reset(be);
    }
    return rc;
}

static void be_rollback(void *p)
{
    pg_be *be = p;
    if (be->w.c && PQstatus(be->w.c) == CONNECTION_OK &&
        PQtransactionStatus(be->w.c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(be->w.c, "ROLLBACK");
        PQclear(r);
    }
    be->in_tx = 0;
    writer_reset(be);
    /* series created inside the failed transaction no longer exist */
    ot_strmap_clear(&be->series, free);
    be->ndirty = 0;
}

static int be_last_cursor(void *p, int64_t *last, int64_t *oldest, ot_error *err)
{
    pg_be *be = p;
    PGresult *r = run(be, &be->w, 1, W_LAST_CURSOR, 0, NULL, err, "read cursors");
    if (!r)
        return err ? err->code : OT_EIO;
    *last = atoll(PQgetvalue(r, 0, 0));
    *oldest = atoll(PQgetvalue(r, 0, 1));
    if (*oldest == 0)
        *oldest = *last + 1;
    PQclear(r);
    return 0;
}

static int be_lookup_tel(void *p, const char *event_id, int64_t *cursor, ot_error *err)
{
    pg_be *be = p;
    void *pend = ot_strmap_get(&be->pending, event_id);
    if (pend) {
        *cursor = (int64_t)(intptr_t)pend;
        return 1;
    }
    const char *v[1] = {event_id};
    PGresult *r = run(be, &be->w, 1, W_LOOKUP_TEL, 1, v, err, "idempotency lookup");
    if (!r)
        return err ? err->code : OT_EIO;
    int found = PQntuples(r) > 0;
    if (found)
        *cursor = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

static struct series_entry *series_get(pg_be *be, const char *twin, const char *asset,
                                       const char *metric, ot_error *err)
{
    char key[512];
    int n = snprintf(key, sizeof key, "%s\x1f%s\x1f%s", twin, asset, metric);
    if (n < 0 || (size_t)n >= sizeof key) {
        ot_error_set(err, OT_EINVAL, NULL, "series key too long");
        return NULL;
    }
    struct series_entry *e = ot_strmap_get(&be->series, key);
    if (e)
        return e;
    const char *v[3] = {twin, asset, metric};
    PGresult *r = run(be, &be->w, 1, W_SERIES_GET, 3, v, err, "series lookup");
    if (!r)
        return NULL;
    int64_t id = 0, last_ts = INT64_MIN;
    if (PQntuples(r)) {
        id = atoll(PQgetvalue(r, 0, 0));
        if (!PQgetisnull(r, 0, 1))
            last_ts = atoll(PQgetvalue(r, 0, 1));
    } else {
        PQclear(r);
        if (!(r = run(be, &be->w, 1, W_SERIES_INS, 3, v, err, "series insert")))
            return NULL;
        id = atoll(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    e = calloc(1, sizeof *e);
    if (!e || ot_strmap_put(&be->series, key, e, NULL)) {
        free(e);
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    e->id = id;
    e->last_ts = last_ts;
    return e;
}

static int64_t minute_of(int64_t ts)
{
    return (ts - (((ts % MINUTE_US) + MINUTE_US) % MINUTE_US)) / MINUTE_US;
}

static int acc_add(pg_be *be, int64_t series, int64_t ts, double v)
{
    int64_t minute = minute_of(ts);
    if ((be->acc_n + 1) * 2 > be->acc_cap) {
        size_t cap = be->acc_cap ? be->acc_cap * 2 : 256;
        struct rollup_acc *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < be->acc_cap; i++) {
            if (!be->acc[i].used)
                continue;
            size_t j = (size_t)((uint64_t)(be->acc[i].series * 1000003 + be->acc[i].minute) &
                                (cap - 1));
            while (t[j].used)
                j = (j + 1) & (cap - 1);
            t[j] = be->acc[i];
        }
        free(be->acc);
        be->acc = t;
        be->acc_cap = cap;
    }
    size_t j = (size_t)((uint64_t)(series * 1000003 + minute) & (be->acc_cap - 1));
    while (be->acc[j].used && (be->acc[j].series != series || be->acc[j].minute != minute))
        j = (j + 1) & (be->acc_cap - 1);
    struct rollup_acc *a = &be->acc[j];
    if (!a->used) {
        *a = (struct rollup_acc){series, minute, 0, 0, 0, v, v, 1};
        be->acc_n++;
    }
    a->count++;
    a->sum += v;
    a->sumsq += v * v;
    if (v < a->min)
        a->min = v;
    if (v > a->max)
        a->max = v;
    return 0;
}

static int grow_ptrs(struct series_entry ***v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    struct series_entry **n = realloc(*v, c * sizeof *n);
    if (!n)
        return -1;
    *v = n;
    *cap = c;
    return 0;
}

static int be_put_tel(void *p, const ot_store_tel *t, int64_t cursor, ot_error *err)
{
    pg_be *be = p;
    char num[32];
    ot_buf *b = &be->cp_tel;
    copy_str(b, t->event_id, '\t');
    ot_buf_printf(b, "%lld\t", (long long)cursor);
    copy_str(b, t->twin_id, '\t');
    copy_str(b, t->asset_id, '\t');
    ot_buf_printf(b, "%lld\t", (long long)t->ts_us);
    copy_str(b, t->json, '\n');
    if (t->client_id && ot_strmap_put(&be->pending, t->event_id, (void *)(intptr_t)cursor, NULL))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    if (grow_ptrs(&be->seen, &be->seen_cap, t->nmetrics))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < t->nmetrics; i++) {
        struct series_entry *e = series_get(be, t->twin_id, t->asset_id, t->metric_names[i], err);
        if (!e)
            return err && err->code ? err->code : OT_EIO;
        be->seen[i] = e;
        /* a metric named twice in one record: one point, as SQLite's
         * INSERT OR IGNORE keeps (the primary key includes the cursor) */
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = be->seen[k] == e;
        double v = t->metric_values[i];
        if (!dup) {
            snprintf(num, sizeof num, "%.17g", v);
            ot_buf_printf(&be->cp_pts, "%lld\t%lld\t%lld\t%s\n", (long long)e->id,
                          (long long)t->ts_us, (long long)cursor, num);
            if (acc_add(be, e->id, t->ts_us, v))
                return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        }
        if (t->ts_us >= e->last_ts) {
            e->last_ts = t->ts_us;
            e->last_value = v;
            if (!e->dirty) {
                if (grow_ptrs(&be->dirty, &be->dirty_cap, be->ndirty + 1))
                    return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
                be->dirty[be->ndirty++] = e;
                e->dirty = 1;
            }
        }
    }
    return ot_buf_failed(b) || ot_buf_failed(&be->cp_pts)
               ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory buffering rows")
               : 0;
}

static int be_put_event(void *p, const ot_event *ev, const char *id, const char *ref_type,
                        const char *extra, size_t extra_len, ot_error *err)
{
    pg_be *be = p;
    ot_buf *b = &be->cp_ev;
    ot_buf_printf(b, "%lld\t%d\t%lld\t", (long long)ev->cursor, ev->type, (long long)ev->ts_us);
    copy_str(b, ev->twin_id, '\t');
    copy_str(b, id, '\t');
    copy_str(b, ref_type, '\t');
    if (extra && extra_len)
        copy_text(b, extra, extra_len);
    else
        ot_buf_puts(b, "\\N");
    ot_buf_puts(b, "\n");
    return ot_buf_failed(b) ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory buffering rows")
                            : 0;
}

static int be_put_doc(void *p, const ot_store_doc *d, int64_t now_us, ot_error *err)
{
    pg_be *be = p;
    char now[32];
    const char *v[6] = {d->type, d->id, d->twin_id ? d->twin_id : "", d->status, I64(now, now_us),
                        d->json};
    PGresult *r = run(be, &be->w, 1, W_PUT_DOC, 6, v, err, "store document");
    if (!r)
        return err ? err->code : OT_EIO;
    PQclear(r);
    return 0;
}

static int be_retention(void *p, int64_t cutoff_us, int64_t *oldest, ot_error *err)
{
    pg_be *be = p;
    int rc = conn_ensure(be, &be->w, 1, 1, err);
    if (rc)
        return rc;
    PGconn *c = be->w.c;
    char sql[1024];
    rc = exec_ok(be, c, "BEGIN", err, "retention");
    static const char *const tables[] = {"telemetry", "points"};
    for (int t = 0; t < 2 && !rc; t++) {
        if (be->timescale) {
            snprintf(sql, sizeof sql, "SELECT drop_chunks('%s', older_than => %lld::bigint)",
                     tables[t], (long long)cutoff_us);
            rc = exec_ok(be, c, sql, err, "retention");
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
        for (int i = 0; i < PQntuples(r) && !rc; i++) {
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
            rc = exec_ok(be, c, sql, err, "retention");
        }
        PQclear(r);
        /* the rest: the DEFAULT partition and partly expired days */
        if (!rc) {
            snprintf(sql, sizeof sql, "DELETE FROM %s WHERE ts < %lld", tables[t],
                     (long long)cutoff_us);
            rc = exec_ok(be, c, sql, err, "retention");
        }
    }
    if (!rc) {
        /* events: only a prefix of the log, so cursors stay contiguous */
        snprintf(sql, sizeof sql,
                 "DELETE FROM events WHERE ts < %lld AND cursor < (SELECT COALESCE(MIN(cursor),"
                 " 9000000000000000000) FROM events WHERE ts >= %lld);"
                 "DELETE FROM rollup_1m WHERE minute < %lld",
                 (long long)cutoff_us, (long long)cutoff_us, (long long)(cutoff_us / MINUTE_US));
        rc = exec_ok(be, c, sql, err, "retention");
    }
    if (!rc)
        rc = exec_ok(be, c, "COMMIT", err, "retention");
    if (rc) {
        be_rollback(be);
        return rc;
    }
    int64_t last = 0;
    return be_last_cursor(be, &last, oldest, err);
}

/* --- reads ------------------------------------------------------------------------------ */

static pg_conn *acquire(pg_be *be)
{
    pthread_mutex_lock(&be->pool_mu);
    while (!be->free_list)
        pthread_cond_wait(&be->pool_cv, &be->pool_mu);
    pg_conn *c = be->free_list;
    be->free_list = c->free_next;
    pthread_mutex_unlock(&be->pool_mu);
    return c;
}

static void release(pg_be *be, pg_conn *c)
{
    pthread_mutex_lock(&be->pool_mu);
    c->free_next = be->free_list;
    be->free_list = c;
    pthread_cond_signal(&be->pool_cv);
    pthread_mutex_unlock(&be->pool_mu);
}

/* Run reader statement k on a pooled connection; returns the result (caller
 * clears) or NULL with err set. */
static PGresult *rquery(pg_be *be, int k, int n, const char *const *v, ot_error *err,
                        const char *what)
{
    pg_conn *c = acquire(be);
    PGresult *r = run(be, c, 0, k, n, v, err, what);
    release(be, c);
    return r;
}

static int be_read_events(void *p, int64_t after, int limit, const ot_event_filter *f,
                          int (*fn)(void *ctx, const ot_event *ev), void *ctx,
                          int64_t *scanned_to, ot_error *err)
{
    pg_be *be = p;
    char a[32], t[32], l[32];
    const char *v[4] = {I64(a, after), I64(t, f ? (int64_t)f->types : 0), I64(l, limit),
                        f ? f->twin_id : NULL};
    int twin = f && f->twin_id;
    *scanned_to = after;
    PGresult *r = rquery(be, twin ? R_EVENTS_TWIN : R_EVENTS, twin ? 4 : 3, v, err, "read events");
    if (!r)
        return err ? err->code : OT_EIO;
    ot_buf b;
    ot_buf_init(&b);
    ot_event ev = {0};
    int n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        ev.cursor = atoll(PQgetvalue(r, i, 0));
        ev.type = atoi(PQgetvalue(r, i, 1));
        ev.ts_us = atoll(PQgetvalue(r, i, 2));
        snprintf(ev.twin_id, sizeof ev.twin_id, "%s", PQgetvalue(r, i, 3));
        int has_extra = !PQgetisnull(r, i, 6);
        if (ot_event_render(&b, ev.cursor, ev.type, ev.ts_us, ev.twin_id, PQgetvalue(r, i, 4),
                            PQgetvalue(r, i, 5), has_extra ? PQgetvalue(r, i, 6) : NULL,
                            has_extra ? (size_t)PQgetlength(r, i, 6) : 0)) {
            n = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
            break;
        }
        ev.json = b.data;
        ev.json_len = b.len;
        *scanned_to = ev.cursor;
        n++;
        if (fn(ctx, &ev))
            break;
    }
    PQclear(r);
    ot_buf_free(&b);
    return n;
}

static char *be_get_doc(void *p, const char *type, const char *id, ot_error *err)
{
    pg_be *be = p;
    int tel = strcmp(type, "telemetry") == 0;
    const char *v[2] = {tel ? id : type, id};
    PGresult *r = rquery(be, tel ? R_TEL_GET : R_DOC_GET, tel ? 1 : 2, v, err, "read document");
    if (!r)
        return NULL;
    char *out = NULL;
    if (PQntuples(r) == 0)
        ot_error_set(err, OT_ENOTFOUND, NULL, "no %s with id '%s'", type, id);
    else if (!(out = strdup(PQgetvalue(r, 0, 0))))
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    PQclear(r);
    return out;
}

static json_t *collect_json(PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < PQntuples(r); i++) {
        json_t *d = json_loadb(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), 0, NULL);
        if (d)
            json_array_append_new(arr, d);
    }
    PQclear(r);
    return arr;
}

static json_t *be_list_docs(void *p, const char *type, const char *twin_id, const char *status,
                            int limit, ot_error *err)
{
    pg_be *be = p;
    char l[32];
    const char *v[4] = {type, twin_id, status, I64(l, limit)};
    PGresult *r = rquery(be, R_DOCS, 4, v, err, "list documents");
    return r ? collect_json(r) : NULL;
}

static json_t *be_query_telemetry(void *p, const char *twin_id, const char *asset_id,
                                  int64_t start_us, int64_t end_us, int limit, ot_error *err)
{
    pg_be *be = p;
    char s[32], e[32], l[32];
    const char *v[5] = {twin_id, asset_id, I64(s, start_us), I64(e, end_us), I64(l, limit)};
    PGresult *r = rquery(be, R_TEL_QUERY, 5, v, err, "query telemetry");
    return r ? collect_json(r) : NULL;
}

static int minute_aligned(int64_t t)
{
    return t == INT64_MIN || t == INT64_MAX || t % MINUTE_US == 0;
}

static json_t *be_aggregate(void *p, const char *twin_id, const char *asset_id,
                            const char *metric, int64_t start_us, int64_t end_us,
                            int64_t window_us, enum ot_agg_fn fn, int max_buckets, ot_error *err)
{
    pg_be *be = p;
    /* whole minutes read the per-minute rollups instead of every point */
    int rollups = window_us % MINUTE_US == 0 && minute_aligned(start_us) && minute_aligned(end_us);
    int64_t lo = start_us, hi = end_us;
    if (rollups) {
        lo = start_us == INT64_MIN ? INT64_MIN : start_us / MINUTE_US;
        hi = end_us == INT64_MAX ? INT64_MAX : end_us / MINUTE_US;
    }
    char s[32], w[32], e[32], l[32];
    const char *v[7] = {twin_id, metric, asset_id, I64(s, lo), I64(w, window_us), I64(e, hi),
                        I64(l, (int64_t)max_buckets + 1)};
    PGresult *r = rquery(be, rollups ? R_AGG_ROLLUPS : R_AGG_POINTS, 7, v, err, "aggregate");
    if (!r)
        return NULL;
    if (PQntuples(r) > max_buckets) {
        PQclear(r);
        ot_error_set(err, OT_EINVAL, "$.window",
                     "more than %d buckets; narrow the time range or widen the window",
                     max_buckets);
        return NULL;
    }
    json_t *out = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t start = atoll(PQgetvalue(r, i, 0));
        long count = atol(PQgetvalue(r, i, 1));
        double sum = strtod(PQgetvalue(r, i, 2), NULL), sumsq = strtod(PQgetvalue(r, i, 3), NULL);
        double mean = sum / (double)count;
        json_t *val;
        switch (fn) {
        case OT_AGG_AVG: val = json_real(mean); break;
        case OT_AGG_MIN: val = json_real(strtod(PQgetvalue(r, i, 4), NULL)); break;
        case OT_AGG_MAX: val = json_real(strtod(PQgetvalue(r, i, 5), NULL)); break;
        case OT_AGG_SUM: val = json_real(sum); break;
        case OT_AGG_COUNT: val = json_integer(count); break;
        default:
            if (count < 2) {
                val = json_null(); /* sample stddev needs two points */
            } else {
                double var = (sumsq - sum * mean) / (double)(count - 1);
                val = json_real(var > 0 ? sqrt(var) : 0.0);
            }
        }
        char ts[OT_TS_BUFSZ];
        json_array_append_new(out, json_pack("{s:s, s:o, s:I}", "bucket", ot_ts_format(start, ts),
                                             "value", val, "count", (json_int_t)count));
    }
    PQclear(r);
    return out;
}

static json_t *be_latest(void *p, const char *twin_id, ot_error *err)
{
    pg_be *be = p;
    const char *v[1] = {twin_id};
    PGresult *r = rquery(be, twin_id ? R_LATEST_TWIN : R_LATEST, twin_id ? 1 : 0, v, err,
                         "read latest values");
    if (!r)
        return NULL;
    json_t *out = json_object();
    char ts[OT_TS_BUFSZ];
    for (int i = 0; i < PQntuples(r); i++) {
        const char *tw = PQgetvalue(r, i, 0), *as = PQgetvalue(r, i, 1), *me = PQgetvalue(r, i, 2);
        json_t *t = json_object_get(out, tw);
        if (!t) {
            t = json_object();
            json_object_set_new(out, tw, t);
        }
        json_t *a = json_object_get(t, as);
        if (!a) {
            a = json_object();
            json_object_set_new(t, as, a);
        }
        json_object_set_new(a, me, json_pack("{s:f, s:s}", "value",
                                             strtod(PQgetvalue(r, i, 3), NULL), "ts",
                                             ot_ts_format(atoll(PQgetvalue(r, i, 4)), ts)));
    }
    PQclear(r);
    return out;
}

/* --- audit ---------------------------------------------------------------------------------- */

static int be_last_audit(void *p, int64_t *seq, char *hash_hex, ot_error *err)
{
    pg_be *be = p;
    PGresult *r = run(be, &be->w, 1, W_LAST_AUDIT, 0, NULL, err, "read audit head");
    if (!r)
        return err ? err->code : OT_EIO;
    *seq = 0;
    memset(hash_hex, '0', 64);
    hash_hex[64] = '\0';
    if (PQntuples(r)) {
        *seq = atoll(PQgetvalue(r, 0, 0));
        snprintf(hash_hex, OT_AUDIT_HASH_HEX, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return 0;
}

static int be_put_audit(void *p, int64_t seq, int64_t ts_us, const char *record,
                        const char *prev_hash, const char *hash, ot_error *err)
{
    pg_be *be = p;
    char s[32], t[32];
    const char *v[5] = {I64(s, seq), I64(t, ts_us), record, prev_hash, hash};
    PGresult *r = run(be, &be->w, 1, W_PUT_AUDIT, 5, v, err, "append audit record");
    if (!r)
        return err ? err->code : OT_EIO;
    PQclear(r);
    return 0;
}

static int be_read_audit(void *p, int64_t after, int limit,
                         int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err)
{
    pg_be *be = p;
    char a[32], l[32];
    const char *v[2] = {I64(a, after), I64(l, limit)};
    PGresult *r = rquery(be, R_AUDIT, 2, v, err, "read audit");
    if (!r)
        return err ? err->code : OT_EIO;
    int n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        ot_audit_row row = {atoll(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                            PQgetvalue(r, i, 3)};
        n++;
        if (fn(ctx, &row))
            break;
    }
    PQclear(r);
    return n;
}

static const char *be_health(void *p, json_t *detail)
{
    pg_be *be = p;
    json_object_set_new(detail, "mode",
                        json_string(be->timescale ? "timescaledb" : "native partitioning"));
    json_object_set_new(detail, "database", json_string(be->shown_url));
    if (atomic_load(&be->up))
        return NULL;
    pthread_mutex_lock(&be->err_mu);
    json_object_set_new(detail, "database_error", json_string(be->last_error));
    pthread_mutex_unlock(&be->err_mu);
    return "down";
}

const ot_backend_ops ot_pg_backend = {
    .name = "postgresql",
    .open = be_open,
    .close = be_close,
    .begin = be_begin,
    .commit = be_commit,
    .rollback = be_rollback,
    .reconnected = be_reconnected,
    .last_cursor = be_last_cursor,
    .lookup_tel = be_lookup_tel,
    .put_tel = be_put_tel,
    .put_doc = be_put_doc,
    .put_event = be_put_event,
    .retention = be_retention,
    .read_events = be_read_events,
    .get_doc = be_get_doc,
    .list_docs = be_list_docs,
    .query_telemetry = be_query_telemetry,
    .aggregate = be_aggregate,
    .latest = be_latest,
    .last_audit = be_last_audit,
    .put_audit = be_put_audit,
    .read_audit = be_read_audit,
    .health = be_health,
};
