/* store_pg.c - the PostgreSQL / TimescaleDB backend (libpq): connections,
 * open/close, health. The writer's transactions are in store_pg_write.c,
 * reads in store_pg_read.c, the schema, its migrations, time partitions,
 * retention and the maintenance thread in store_pg_schema.c;
 * store_pg_int.h is their shared state.
 *
 * Selected by DATABASE_URL=postgresql://... (or postgres://). Same tables
 * and semantics as store_sqlite.c; times are bigint microseconds since the
 * epoch, so both backends store and render the same values.
 *
 * Connections: one writer connection (the store's writer thread only), a
 * pool of read_connections reader connections (any thread, connected on
 * first use), and one maintenance connection owned by a small thread that
 * pings the database every second (health), creates time partitions
 * ahead, and drops the telemetry, points and rollups that retention found
 * expired (the writer deletes only the events, at most OT_RETENTION_PASS_MAX
 * a pass, so the oldest cursor it reports is the log's). Closing cancels a retention
 * statement under way (it rolls back; the next start does it again) rather
 * than wait for it. Every connection re-establishes itself with backoff (100 ms
 * doubling to 5 s) and re-prepares its statements; a read that finds its
 * connection dropped (a PostgreSQL restart) reconnects once and retries.
 *
 * Writes (store_pg_write.c): a group's rows go in with COPY and unnest()
 * inside the group's transaction; COMMIT returning means durable. The
 * writer holds a session advisory lock: one opstwin process writes a
 * database at a time.
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
 *   rollup_1m(series_id, minute, count, sum, m2, min, max): m2 is the sum
 *     of squared deviations from the minute's mean (rollup.h)
 *   store_meta(key PK, value)
 */
#include "store/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

/* the writer's session advisory lock: one opstwin writes a database at a time */
#define LOCK_WRITER "5579598258877033"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* --- statements --------------------------------------------------------------- */

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
    [W_PUT_AUDIT] = "INSERT INTO audit (seq, ts, record, prev_hash, hash) SELECT * FROM"
                    " unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])",
    /* a minute that has a row already (late points) merges by Chan's
     * formula (rollup.h). PostgreSQL raises an error where finite
     * operands overflow (SQLite and C give infinity): far from that, m2
     * becomes infinity instead, and its stddev answers null */
    [W_ROLLUP] = "INSERT INTO rollup_1m AS r SELECT * FROM unnest($1::bigint[], $2::bigint[],"
                 " $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])"
                 " ON CONFLICT (series_id, minute) DO UPDATE SET count = r.count + EXCLUDED.count,"
                 " sum = r.sum + EXCLUDED.sum, m2 = CASE WHEN GREATEST(r.m2, EXCLUDED.m2,"
                 " abs(r.sum / r.count), abs(EXCLUDED.sum / EXCLUDED.count)) > 1e140"
                 " THEN 'Infinity'::float8 ELSE r.m2 + EXCLUDED.m2"
                 " + power(EXCLUDED.sum / EXCLUDED.count - r.sum / r.count, 2)"
                 " * r.count * EXCLUDED.count / (r.count + EXCLUDED.count) END,"
                 " min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max)",
    [W_LAST_CURSOR] = "SELECT COALESCE(MAX(cursor), 0), COALESCE(MIN(cursor), 0) FROM events",
    [W_LAST_AUDIT] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
};


void pg_note_down(pg_be *be, const char *msg)
{
    atomic_store(&be->up, 0);
    pthread_mutex_lock(&be->err_mu);
    snprintf(be->last_error, sizeof be->last_error, "%s", msg);
    pthread_mutex_unlock(&be->err_mu);
}

/* A libpq message without its trailing newline, into out. */
const char *pg_clean_msg(const char *m, char *out, size_t n)
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
int pg_fail(pg_be *be, PGconn *c, const PGresult *r, ot_error *err, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int unavail = !c || PQstatus(c) != CONNECTION_OK ||
                  (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                             strcmp(state, "53300") == 0));
    char msg[400];
    const char *m = r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
                    : c                             ? PQerrorMessage(c)
                                                    : "no connection";
    pg_clean_msg(m, msg, sizeof msg);
    if (unavail) {
        int rc = ot_error_set(err, OT_EUNAVAIL, NULL,
                              "the database is unavailable (%s): %s; retry later", what, msg);
        if (be)
            pg_note_down(be, msg);
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
        const char *sql = writer ? wsql[i] : pg_reader_sql(be, i);
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

int pg_exec_ok(pg_be *be, PGconn *c, const char *sql, ot_error *err, const char *what)
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
    ot_log(OT_LOG_DEBUG, "store: database notice: %s", pg_clean_msg(message, msg, sizeof msg));
}

/* Make sure pc is connected (and its statements prepared when the schema
 * exists: prepare = 1). Honours the backoff unless this is the first try. */
int pg_conn_ensure(pg_be *be, pg_conn *pc, int writer, int prepare, ot_error *err)
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
        pg_clean_msg(pc->c ? PQerrorMessage(pc->c) : "out of memory", msg, sizeof msg);
        pg_note_down(be, msg);
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
        rc = pg_exec_ok(be, pc->c, "SET synchronous_commit = on", err, "session setup");
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
PGresult *pg_run(pg_be *be, pg_conn *pc, int writer, int k, int n, const char *const *v,
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
        if (pg_conn_ensure(be, pc, writer, 1, err))
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

/* --- open / close -------------------------------------------------------------- */

static void be_close(void *p)
{
    pg_be *be = p;
    if (!be)
        return;
    if (be->mt_started) {
        pthread_mutex_lock(&be->mt_mu);
        be->mt_stop = 1;
        if (be->mt_cancel) { /* a retention statement may run for long: it rolls back */
            char why[256];
            if (!PQcancel(be->mt_cancel, why, sizeof why))
                ot_log(OT_LOG_WARNING, "store: cannot cancel the retention statement: %s", why);
        }
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
    for (int i = 0; i < 5; i++)
        ot_buf_free(&be->aud[i]);
    ot_strmap_clear(&be->pending, NULL);
    ot_strmap_clear(&be->series, free);
    free(be->dirty);
    free(be->seen);
    ot_rollups_free(&be->acc);
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
    for (int i = 0; i < 5; i++)
        ot_buf_init(&be->aud[i]);
    snprintf(be->url, sizeof be->url, "%s", opt->database_url);
    mask_url(be->url, be->shown_url, sizeof be->shown_url);
    int rc = pg_conn_ensure(be, &be->w, 1, 0, err);
    if (!rc)
        rc = pg_migrate(be, be->w.c, err);
    if (!rc) {
        pg_reader_init(be);
        rc = prepare_all(be, &be->w, 1, err);
    }
    if (!rc)
        pg_ensure_partitions(be, be->w.c);
    be->npool = opt->read_connections > 0 ? opt->read_connections : 4;
    if (!rc && !(be->pool = calloc((size_t)be->npool, sizeof *be->pool)))
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    for (int i = 0; !rc && i < be->npool; i++) {
        be->pool[i].free_next = be->free_list;
        be->free_list = &be->pool[i];
    }
    /* one reader now, so a bad URL or schema fails the start, not a request */
    if (!rc)
        rc = pg_conn_ensure(be, be->free_list, 0, 1, err);
    if (!rc && pthread_create(&be->mt, NULL, pg_maint_main, be) == 0) {
        be->mt_started = 1;
        pthread_setname_np(be->mt, "pg-maint");
    }
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
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .reconnected = pg_reconnected,
    .last_cursor = pg_last_cursor,
    .lookup_tel = pg_lookup_tel,
    .put_tel = pg_put_tel,
    .put_doc = pg_put_doc,
    .put_event = pg_put_event,
    .retention = pg_retention,
    .read_events = pg_read_events,
    .get_doc = pg_get_doc,
    .list_docs = pg_list_docs,
    .query_telemetry = pg_query_telemetry,
    .aggregate = pg_aggregate,
    .latest = pg_latest,
    .last_audit = pg_last_audit,
    .put_audit = pg_put_audit,
    .read_audit = pg_read_audit,
    .health = be_health,
};
