/* store_pg_read.c - the PostgreSQL backend's reads: events, documents,
 * telemetry, aggregates (time_bucket or date_bin in the database), latest
 * values and the audit log, each on a connection from the reader pool.
 * Any thread. See store_pg.c for the whole backend's contract.
 */
#include "store/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define EVENT_COLS "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events"
#define TYPE_MASK "($2::bigint = 0 OR ((1::bigint << type) & $2::bigint) <> 0)"
static const char *const rsql_common[R_AGG_POINTS] = {
    [R_EVENTS] = EVENT_COLS " WHERE cursor > $1 AND " TYPE_MASK " ORDER BY cursor LIMIT $3",
    [R_EVENTS_TWIN] = EVENT_COLS " WHERE twin_id = $4 AND cursor > $1 AND " TYPE_MASK
                                 " ORDER BY cursor LIMIT $3",
    /* types that leave telemetry (type 0) out: by the partial indexes of
     * the other events (migration 3) */
    [R_EVENTS_RARE] = EVENT_COLS " WHERE type <> 0 AND cursor > $1 AND " TYPE_MASK
                                 " ORDER BY cursor LIMIT $3",
    [R_EVENTS_RARE_TWIN] = EVENT_COLS " WHERE type <> 0 AND twin_id = $4 AND cursor > $1 AND "
                                      TYPE_MASK " ORDER BY cursor LIMIT $3",
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
 * sum, m2 (rollup.h), min, max); $5 is the window in us. The bucket
 * expression is the layout's: time_bucket on the bigint time, or date_bin
 * on it as a timestamptz (origin: the epoch, as time_bucket's). */
#define SERIES_OF "(SELECT series_id FROM series WHERE twin_id = $1 AND metric = $2 AND" \
                  " ($3::text IS NULL OR asset_id = $3))"
static const char *const agg_points_fmt =
    "SELECT %s AS b, count(*), sum(value), COALESCE(var_samp(value) * (count(*) - 1), 0),"
    " min(value), max(value)"
    " FROM points WHERE series_id IN " SERIES_OF " AND ts >= $4 AND ts < $6"
    " GROUP BY 1 ORDER BY 1 LIMIT $7";
/* a bucket's m2 from its minutes' by Chan's formula: theirs plus each
 * minute's count times its mean's squared distance from the bucket's */
static const char *const agg_rollups_fmt =
    "SELECT b, sum(count), sum(sum),"
    " sum(m2) + sum(count * power(sum / count - bsum / bcount, 2)), min(min), max(max)"
    " FROM (SELECT *, sum(sum) OVER (PARTITION BY b) AS bsum,"
    " sum(count) OVER (PARTITION BY b)::float8 AS bcount"
    " FROM (SELECT %s AS b, count, sum, m2, min, max FROM rollup_1m WHERE series_id IN "
    SERIES_OF " AND minute >= $4 AND minute < $6) y) x"
    " GROUP BY 1 ORDER BY 1 LIMIT $7";
static const char *const bucket_native =
    "(extract(epoch FROM date_bin($5::bigint * interval '1 microsecond',"
    " to_timestamp(0) + (%s) * interval '1 microsecond', to_timestamp(0))) * 1000000)::bigint";
static const char *const bucket_timescale = "time_bucket($5::bigint, %s)";

void pg_reader_init(pg_be *be)
{
    const char *bk = be->timescale ? bucket_timescale : bucket_native;
    char bp[512], br[512];
    snprintf(bp, sizeof bp, bk, "ts");
    snprintf(br, sizeof br, bk, "minute * 60000000");
    snprintf(be->rsql_agg[0], sizeof be->rsql_agg[0], agg_points_fmt, bp);
    snprintf(be->rsql_agg[1], sizeof be->rsql_agg[1], agg_rollups_fmt, br);
}

const char *pg_reader_sql(const pg_be *be, int k)
{
    return k < R_AGG_POINTS ? rsql_common[k] : be->rsql_agg[k - R_AGG_POINTS];
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
    PGresult *r = pg_run(be, c, 0, k, n, v, err, what);
    release(be, c);
    return r;
}

int pg_read_events(void *p, int64_t after, int limit, const ot_event_filter *f,
                   int (*fn)(void *ctx, const ot_event *ev), void *ctx,
                   int64_t *scanned_to, ot_error *err)
{
    pg_be *be = p;
    char a[32], t[32], l[32];
    const char *v[4] = {I64(a, after), I64(t, f ? (int64_t)f->types : 0), I64(l, limit),
                        f ? f->twin_id : NULL};
    int twin = f && f->twin_id;
    int rare = ot_event_filter_skips_telemetry(f);
    enum rstmt k = rare ? (twin ? R_EVENTS_RARE_TWIN : R_EVENTS_RARE)
                        : (twin ? R_EVENTS_TWIN : R_EVENTS);
    *scanned_to = after;
    PGresult *r = rquery(be, k, twin ? 4 : 3, v, err, "read events");
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

char *pg_get_doc(void *p, const char *type, const char *id, ot_error *err)
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

json_t *pg_list_docs(void *p, const char *type, const char *twin_id, const char *status,
                     int limit, ot_error *err)
{
    pg_be *be = p;
    char l[32];
    const char *v[4] = {type, twin_id, status, I64(l, limit)};
    PGresult *r = rquery(be, R_DOCS, 4, v, err, "list documents");
    return r ? collect_json(r) : NULL;
}

json_t *pg_query_telemetry(void *p, const char *twin_id, const char *asset_id,
                           int64_t start_us, int64_t end_us, int limit, ot_error *err)
{
    pg_be *be = p;
    char s[32], e[32], l[32];
    const char *v[5] = {twin_id, asset_id, I64(s, start_us), I64(e, end_us), I64(l, limit)};
    PGresult *r = rquery(be, R_TEL_QUERY, 5, v, err, "query telemetry");
    return r ? collect_json(r) : NULL;
}

json_t *pg_aggregate(void *p, const char *twin_id, const char *asset_id,
                     const char *metric, int64_t start_us, int64_t end_us,
                     int64_t window_us, enum ot_agg_fn fn, int max_buckets, ot_error *err)
{
    pg_be *be = p;
    /* whole minutes read the per-minute rollups instead of every point */
    int rollups = ot_agg_use_rollups(start_us, end_us, window_us);
    int64_t lo = start_us, hi = end_us;
    if (rollups) {
        lo = start_us == INT64_MIN ? INT64_MIN : start_us / OT_MINUTE_US;
        hi = end_us == INT64_MAX ? INT64_MAX : end_us / OT_MINUTE_US;
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
        ot_moments m = {atol(PQgetvalue(r, i, 1)), strtod(PQgetvalue(r, i, 2), NULL),
                        strtod(PQgetvalue(r, i, 3), NULL), strtod(PQgetvalue(r, i, 4), NULL),
                        strtod(PQgetvalue(r, i, 5), NULL)};
        ot_agg_append(out, fn, atoll(PQgetvalue(r, i, 0)), &m);
    }
    PQclear(r);
    return out;
}

json_t *pg_latest(void *p, const char *twin_id, ot_error *err)
{
    pg_be *be = p;
    const char *v[1] = {twin_id};
    PGresult *r = rquery(be, twin_id ? R_LATEST_TWIN : R_LATEST, twin_id ? 1 : 0, v, err,
                         "read latest values");
    if (!r)
        return NULL;
    json_t *out = json_object();
    for (int i = 0; i < PQntuples(r); i++)
        ot_latest_put(out, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                      strtod(PQgetvalue(r, i, 3), NULL), atoll(PQgetvalue(r, i, 4)));
    PQclear(r);
    return out;
}

int pg_read_audit(void *p, int64_t after, int limit,
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

