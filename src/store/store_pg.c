/* store_pg.c - the PostgreSQL / TimescaleDB backend (libpq): connections,
 * the writer, open/close. Reads are in store_pg_read.c, the schema, its
 * migrations, time partitions, retention and the maintenance thread in
 * store_pg_schema.c; store_pg_int.h is their shared state.
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
 * Writes: a group's telemetry, points and events are buffered in COPY text
 * format and sent with three COPYs just before COMMIT, inside the group's
 * transaction; its audit records, series' latest values and per-minute
 * rollups follow as one unnest() statement each. The writer session runs
 * synchronous_commit=on, so COMMIT returning means durable. A COMMIT whose reply is lost with the
 * connection is settled on a new one with txid_status() of the
 * transaction's id (taken at BEGIN): committed means durable, and the group
 * is acknowledged, so a client does not retry a write that is stored (a
 * retry without event_id would store it twice). Any other failed COMMIT
 * fails the group. Either way store_writer.c then re-reads the last cursor
 * and audit head from the database (be_reconnected), so numbering can neither
 * leave a gap nor hand out a cursor twice. The writer holds a session
 * advisory lock: one opstwin process writes a database at a time.
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
    [W_ROLLUP] = "INSERT INTO rollup_1m AS r SELECT * FROM unnest($1::bigint[], $2::bigint[],"
                 " $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])"
                 " ON CONFLICT (series_id, minute) DO UPDATE SET count = r.count + EXCLUDED.count,"
                 " sum = r.sum + EXCLUDED.sum, sumsq = r.sumsq + EXCLUDED.sumsq,"
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
    for (int i = 0; i < 5; i++)
        ot_buf_reset(&be->aud[i]);
    ot_strmap_clear(&be->pending, NULL);
    ot_rollups_clear(&be->acc);
}

static int be_begin(void *p, ot_error *err)
{
    pg_be *be = p;
    writer_reset(be);
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = pg_conn_ensure(be, &be->w, 1, 1, err);
        if (rc)
            return rc;
        /* the id, so that a lost COMMIT reply can be settled (commit_outcome);
         * every group writes, so asking for it now assigns nothing extra */
        PGresult *r = PQexec(be->w.c, "BEGIN; SELECT txid_current()");
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        rc = ok ? 0 : pg_fail(be, be->w.c, r, err, "begin");
        snprintf(be->txid, sizeof be->txid, "%s", ok ? PQgetvalue(r, 0, 0) : "");
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

/* A quoted element of an array literal: '"' and '\\' escaped with a
 * backslash. */
static void arr_add_text(ot_buf *b, const char *s)
{
    ot_buf_puts(b, b->len ? ",\"" : "{\"");
    for (const char *p = s; *p; p++) {
        size_t run = strcspn(p, "\"\\");
        ot_buf_append(b, p, run);
        p += run;
        if (!*p)
            break;
        ot_buf_append(b, "\\", 1);
        ot_buf_append(b, p, 1);
    }
    ot_buf_puts(b, "\"");
}

static const char *arr_end(ot_buf *b)
{
    ot_buf_puts(b, "}");
    return b->data;
}

/* Run statement k with arr[0..n) closed as its array parameters, then empty
 * them. */
static int exec_arrays(pg_be *be, ot_buf *arr, int k, int n, ot_error *err, const char *what)
{
    const char *v[7] = {0};
    for (int i = 0; i < n; i++) {
        v[i] = arr_end(&arr[i]);
        if (ot_buf_failed(&arr[i]))
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    PGresult *r = pg_run(be, &be->w, 1, k, n, v, err, what);
    for (int i = 0; i < n; i++)
        ot_buf_reset(&arr[i]);
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
    return exec_arrays(be, be->arr, W_SERIES_SET, 3, err, "update series");
}

static int flush_rollups(pg_be *be, ot_error *err)
{
    if (!be->acc.n)
        return 0;
    for (size_t i = 0; i < be->acc.cap; i++) {
        ot_rollup *a = &be->acc.v[i];
        if (!a->used)
            continue;
        arr_add_i64(&be->arr[0], a->series);
        arr_add_i64(&be->arr[1], a->minute);
        arr_add_i64(&be->arr[2], a->m.count);
        arr_add_f(&be->arr[3], a->m.sum);
        arr_add_f(&be->arr[4], a->m.sumsq);
        arr_add_f(&be->arr[5], a->m.min);
        arr_add_f(&be->arr[6], a->m.max);
    }
    return exec_arrays(be, be->arr, W_ROLLUP, 7, err, "update rollups");
}

#define OUTCOME_WAIT_US (3 * 1000000LL)

/* The connection died under COMMIT: did the transaction commit? On a new
 * writer connection, txid_status(): 1 committed, 0 not, -1 unknown (no
 * answer within OUTCOME_WAIT_US, still in progress by then, or an id too old
 * to know). The server ends the old session when it reads the closed socket,
 * which also frees the writer lock the new connection must take: connecting
 * and asking are retried until then. */
static int commit_outcome(pg_be *be)
{
    int64_t deadline = ot_now_us() + OUTCOME_WAIT_US;
    for (;;) {
        ot_error e;
        be->w.next_try_us = 0;
        if (pg_conn_ensure(be, &be->w, 1, 1, &e) == 0) {
            const char *v[1] = {be->txid};
            PGresult *r = PQexecParams(be->w.c, "SELECT txid_status($1::bigint)", 1, NULL, v,
                                       NULL, NULL, 0);
            int out = 2; /* ask again */
            if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
                const char *st = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
                out = !st                              ? -1
                      : strcmp(st, "committed") == 0   ? 1
                      : strcmp(st, "in progress") == 0 ? 2
                                                       : 0;
            }
            PQclear(r);
            if (out != 2)
                return out;
        }
        if (ot_now_us() >= deadline)
            return -1;
        usleep(20000);
    }
}

/* COMMIT returns once the server has flushed its WAL: durable here, so
 * nothing is left for the caller to sync (*sync_fd = -1). */
static int be_commit(void *p, int *sync_fd, ot_error *err)
{
    pg_be *be = p;
    *sync_fd = -1;
    int rc = copy_flush(be, "COPY telemetry (event_id, cursor, twin_id, asset_id, ts, json)"
                            " FROM STDIN", &be->cp_tel, err);
    if (!rc)
        rc = copy_flush(be, "COPY points (series_id, ts, seq, value) FROM STDIN", &be->cp_pts, err);
    if (!rc)
        rc = copy_flush(be, "COPY events (cursor, type, ts, twin_id, id, ref_type, extra)"
                            " FROM STDIN", &be->cp_ev, err);
    if (!rc && be->aud[0].len)
        rc = exec_arrays(be, be->aud, W_PUT_AUDIT, 5, err, "append audit records");
    if (!rc)
        rc = flush_series(be, err);
    if (!rc)
        rc = flush_rollups(be, err);
    if (!rc && PQtransactionStatus(be->w.c) != PQTRANS_INTRANS)
        rc = pg_fail(be, be->w.c, NULL, err, "commit");
    if (!rc) {
        rc = pg_exec_ok(be, be->w.c, "COMMIT", err, "commit");
        if (rc && be->txid[0] && PQstatus(be->w.c) != CONNECTION_OK) {
            int out = commit_outcome(be);
            ot_log(OT_LOG_WARNING, "store: the reply to COMMIT of transaction %s was lost; %s",
                   be->txid,
                   out == 1   ? "it committed: the group is acknowledged"
                   : out == 0 ? "it did not commit: the group failed"
                              : "its outcome is unknown: the group failed");
            if (out == 1)
                rc = 0;
        }
    }
    if (!rc) {
        be->in_tx = 0;
        writer_reset(be);
    }
    return rc;
}

static void pg_rollback(void *p)
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

int pg_last_cursor(void *p, int64_t *last, int64_t *oldest, ot_error *err)
{
    pg_be *be = p;
    PGresult *r = pg_run(be, &be->w, 1, W_LAST_CURSOR, 0, NULL, err, "read cursors");
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
    PGresult *r = pg_run(be, &be->w, 1, W_LOOKUP_TEL, 1, v, err, "idempotency lookup");
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
    if (ot_series_key(key, sizeof key, twin, asset, metric, err) < 0)
        return NULL;
    struct series_entry *e = ot_strmap_get(&be->series, key);
    if (e)
        return e;
    const char *v[3] = {twin, asset, metric};
    PGresult *r = pg_run(be, &be->w, 1, W_SERIES_GET, 3, v, err, "series lookup");
    if (!r)
        return NULL;
    int64_t id = 0, last_ts = INT64_MIN;
    if (PQntuples(r)) {
        id = atoll(PQgetvalue(r, 0, 0));
        if (!PQgetisnull(r, 0, 1))
            last_ts = atoll(PQgetvalue(r, 0, 1));
    } else {
        PQclear(r);
        if (!(r = pg_run(be, &be->w, 1, W_SERIES_INS, 3, v, err, "series insert")))
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
            if (ot_rollups_add(&be->acc, e->id, t->ts_us, cursor, v))
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
    PGresult *r = pg_run(be, &be->w, 1, W_PUT_DOC, 6, v, err, "store document");
    if (!r)
        return err ? err->code : OT_EIO;
    PQclear(r);
    return 0;
}

/* --- audit ---------------------------------------------------------------------------------- */

static int be_last_audit(void *p, int64_t *seq, char *hash_hex, ot_error *err)
{
    pg_be *be = p;
    PGresult *r = pg_run(be, &be->w, 1, W_LAST_AUDIT, 0, NULL, err, "read audit head");
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

/* Buffered until COMMIT (be->aud): one statement a group, not a round trip
 * per write request. */
static int be_put_audit(void *p, int64_t seq, int64_t ts_us, const char *record,
                        const char *prev_hash, const char *hash, ot_error *err)
{
    pg_be *be = p;
    (void)err;
    arr_add_i64(&be->aud[0], seq);
    arr_add_i64(&be->aud[1], ts_us);
    arr_add_text(&be->aud[2], record);
    arr_add_text(&be->aud[3], prev_hash);
    arr_add_text(&be->aud[4], hash);
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
    .begin = be_begin,
    .commit = be_commit,
    .rollback = pg_rollback,
    .reconnected = be_reconnected,
    .last_cursor = pg_last_cursor,
    .lookup_tel = be_lookup_tel,
    .put_tel = be_put_tel,
    .put_doc = be_put_doc,
    .put_event = be_put_event,
    .retention = pg_retention,
    .read_events = pg_read_events,
    .get_doc = pg_get_doc,
    .list_docs = pg_list_docs,
    .query_telemetry = pg_query_telemetry,
    .aggregate = pg_aggregate,
    .latest = pg_latest,
    .last_audit = be_last_audit,
    .put_audit = be_put_audit,
    .read_audit = pg_read_audit,
    .health = be_health,
};
