/* store_sqlite_read.c - the SQLite backend's reads: the pool of read-only
 * connections (each with every read statement prepared once) and the
 * ot_backend_ops reads: events (by cursor, by twin through the postings,
 * by the partial indexes of the events other than telemetry), documents,
 * telemetry by twin and time, aggregates, latest values, the audit chain.
 * See store_sqlite_int.h for what is shared with store_sqlite.c.
 */
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "store/store_sqlite_int.h"

/* R_EVENTS_AT: a statement per 64 of a twin's events, not one each */
#define EVENTS_AT 64
#define EVENTS_AT_PARAMS \
    "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16," \
    "?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32," \
    "?33,?34,?35,?36,?37,?38,?39,?40,?41,?42,?43,?44,?45,?46,?47,?48," \
    "?49,?50,?51,?52,?53,?54,?55,?56,?57,?58,?59,?60,?61,?62,?63,?64"

static const char *const rsql[R_NSTMT] = {
    [R_EVENTS] = "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events WHERE cursor > ?1"
                 " AND (?2 = 0 OR ((1 << type) & ?2) != 0) ORDER BY cursor LIMIT ?3",
    /* reads whose types leave telemetry (type 0) out, by the indexes of
     * the other events (migration 11) */
    [R_EVENTS_RARE] = "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events"
                      " INDEXED BY events_rare WHERE type != 0 AND cursor > ?1"
                      " AND ((1 << type) & ?2) != 0 ORDER BY cursor LIMIT ?3",
    [R_EVENTS_RARE_TWIN] = "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events"
                           " INDEXED BY events_rare_twin WHERE type != 0 AND twin_id = ?4"
                           " AND cursor > ?1 AND ((1 << type) & ?2) != 0 ORDER BY cursor LIMIT ?3",
    /* a read by twin (read_twin): posted_cursor, the twin's postings, each
     * event of them, then the log beyond posted_cursor */
    [R_POSTED] = "SELECT value FROM meta WHERE key = 'posted_cursor'",
    [R_POSTINGS] = "SELECT data FROM twin_postings WHERE twin_id = ?1 AND last > ?2 ORDER BY last",
    /* up to EVENTS_AT cursors (the rest bound NULL), in cursor order */
    [R_EVENTS_AT] = "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events"
                   " WHERE cursor IN (" EVENTS_AT_PARAMS ")"
                   " AND (?65 = 0 OR ((1 << type) & ?65) != 0) ORDER BY cursor",
    [R_EVENTS_TWIN] = "SELECT cursor, type, ts, twin_id, id, ref_type, extra FROM events WHERE cursor > ?1"
                      " AND twin_id = ?4 AND (?2 = 0 OR ((1 << type) & ?2) != 0)"
                      " ORDER BY cursor LIMIT ?3",
    [R_TEL_GET] = "SELECT json FROM telemetry WHERE event_id = ?1",
    [R_DOC_GET] = "SELECT json FROM docs WHERE type = ?1 AND id = ?2",
    [R_DOCS] = "SELECT json FROM docs WHERE type = ?1 AND (?2 IS NULL OR twin_id = ?2)"
               " AND (?3 IS NULL OR status = ?3) ORDER BY updated DESC LIMIT ?4",
    /* a telemetry query (sq_query_telemetry): the twin's rows that may
     * hold its range, then each record */
    [R_TEL_ROWS] = "SELECT tmin, tmax, data FROM telemetry_postings WHERE twin_id = ?1"
                   " AND tmin >= ?2 AND tmin < ?3 ORDER BY tmin, seq",
    [R_TEL_AT] = "SELECT json FROM telemetry WHERE event_id = ?1",
    [R_SERIES_FOR] = "SELECT series_id FROM series WHERE twin_id = ?1 AND metric = ?2"
                     " AND (?3 IS NULL OR asset_id = ?3)",
    [R_POINTS] = "SELECT data FROM point_blocks WHERE series_id = ?1 AND minute >= ?2"
                 " AND minute <= ?3",
    [R_LATEST] = "SELECT twin_id, asset_id, metric, last_value, last_ts FROM series"
                 " WHERE last_ts IS NOT NULL ORDER BY twin_id, asset_id, metric",
    [R_LATEST_TWIN] = "SELECT twin_id, asset_id, metric, last_value, last_ts FROM series"
                      " WHERE twin_id = ?1 AND last_ts IS NOT NULL ORDER BY asset_id, metric",
    [R_AUDIT] = "SELECT seq, record, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [R_ROLLUPS] = "SELECT minute, count, sum, m2, min, max FROM rollup_1m WHERE series_id = ?1"
                  " AND minute >= ?2 AND minute < ?3",
};

int sq_reader_prepare(struct rconn *c, ot_error *err)
{
    for (int k = 0; k < R_NSTMT; k++)
        if (sqlite3_prepare_v3(c->db, rsql[k], -1, SQLITE_PREPARE_PERSISTENT, &c->st[k], NULL))
            return ot_sqlite_error(c->db, err, "prepare");
    return 0;
}

/* --- read pool ------------------------------------------------------------ */

static struct rconn *acquire(sqlite_be *be)
{
    pthread_mutex_lock(&be->pool_mu);
    while (!be->free_list)
        pthread_cond_wait(&be->pool_cv, &be->pool_mu);
    struct rconn *c = be->free_list;
    be->free_list = c->free_next;
    pthread_mutex_unlock(&be->pool_mu);
    return c;
}

static void release(sqlite_be *be, struct rconn *c)
{
    pthread_mutex_lock(&be->pool_mu);
    c->free_next = be->free_list;
    be->free_list = c;
    pthread_cond_signal(&be->pool_cv);
    pthread_mutex_unlock(&be->pool_mu);
}

static sqlite3_stmt *rstmt(struct rconn *c, enum rstmt k)
{
    sqlite3_reset(c->st[k]);
    sqlite3_clear_bindings(c->st[k]);
    return c->st[k];
}

/* --- reads ---------------------------------------------------------------- */

/* A read of events: where rows go, and how many went. */
struct ev_read {
    int (*fn)(void *ctx, const ot_event *ev);
    void *ctx;
    int64_t *scanned_to;
    ot_buf b;
    int n, limit, stop;
};

/* The reader has all it asked for. */
static int read_full(const struct ev_read *r) { return r->stop || r->n >= r->limit; }

/* Hand the event in st's row (cursor, type, ts, twin_id, id, ref_type,
 * extra) to the reader. 0, or SQLITE_NOMEM. */
static int emit_event(struct ev_read *r, sqlite3_stmt *st)
{
    ot_event ev = {0};
    ev.cursor = sqlite3_column_int64(st, 0);
    ev.type = sqlite3_column_int(st, 1);
    ev.ts_us = sqlite3_column_int64(st, 2);
    snprintf(ev.twin_id, sizeof ev.twin_id, "%s", (const char *)sqlite3_column_text(st, 3));
    const char *extra = (const char *)sqlite3_column_text(st, 6);
    if (ot_event_render(&r->b, ev.cursor, ev.type, ev.ts_us, ev.twin_id,
                        (const char *)sqlite3_column_text(st, 4),
                        (const char *)sqlite3_column_text(st, 5), extra,
                        extra ? (size_t)sqlite3_column_bytes(st, 6) : 0))
        return SQLITE_NOMEM;
    ev.json = r->b.data;
    ev.json_len = r->b.len;
    *r->scanned_to = ev.cursor;
    r->n++;
    r->stop = r->fn(r->ctx, &ev) != 0;
    return 0;
}

/* Every row of st to the reader, until it has all it asked for. SQLITE_DONE
 * or an error. */
static int emit_rows(struct ev_read *r, sqlite3_stmt *st)
{
    int rc = SQLITE_DONE;
    while (!read_full(r) && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if (emit_event(r, st)) {
            rc = SQLITE_NOMEM;
            break;
        }
    if (read_full(r))
        rc = SQLITE_DONE;
    sqlite3_reset(st);
    return rc;
}

/* read_twin's result for postings that do not decode (not an SQLite code) */
#define POSTINGS_CORRUPT (-1)

/* The events at cursors c[0..n) (ascending, n <= EVENTS_AT) to the reader. */
static int emit_at(struct ev_read *r, sqlite3_stmt *at, const int64_t *c, int n)
{
    for (int i = 0; i < EVENTS_AT; i++)
        if (i < n)
            sqlite3_bind_int64(at, i + 1, c[i]);
        else
            sqlite3_bind_null(at, i + 1);
    return emit_rows(r, at); /* a cursor retention deleted meanwhile is not there */
}

/* Events of one twin after `after` (sqlite_postings.h): those up to
 * posted_cursor through the twin's postings, the rest from the log. Rows
 * are never changed once written, so the statements need no common
 * snapshot: posted_cursor is read first, and the postings of later
 * flushes are cut at it. SQLITE_DONE, an SQLite error or POSTINGS_CORRUPT. */
static int read_twin(struct rconn *c, int64_t after, const ot_event_filter *f, struct ev_read *r)
{
    sqlite3_stmt *st = rstmt(c, R_POSTED);
    int rc = sqlite3_step(st);
    int64_t posted = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;
    rc = SQLITE_DONE;
    if (after < posted) {
        sqlite3_stmt *rows = rstmt(c, R_POSTINGS), *at = rstmt(c, R_EVENTS_AT);
        sqlite3_bind_text(rows, 1, f->twin_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(rows, 2, after);
        sqlite3_bind_int64(at, EVENTS_AT + 1, (sqlite3_int64)f->types);
        int64_t batch[EVENTS_AT];
        int nb = 0;
        int past = 0; /* at a cursor beyond posted: the log has the rest */
        while (!past && (rc = sqlite3_step(rows)) == SQLITE_ROW) {
            ot_postings_iter it;
            ot_postings_iter_init(&it, sqlite3_column_blob(rows, 0),
                                  (size_t)sqlite3_column_bytes(rows, 0));
            int64_t cur;
            int more;
            while ((more = ot_postings_next(&it, &cur)) == 1 && cur <= posted) {
                if (cur <= after)
                    continue;
                batch[nb++] = cur;
                if (nb == EVENTS_AT) {
                    rc = emit_at(r, at, batch, nb);
                    nb = 0;
                    if (rc != SQLITE_DONE || read_full(r))
                        break;
                    rc = SQLITE_ROW;
                }
            }
            past = more == 1 && cur > posted;
            if (more < 0)
                rc = POSTINGS_CORRUPT;
            if ((rc != SQLITE_ROW && rc != SQLITE_DONE) || read_full(r))
                break;
            rc = SQLITE_ROW;
        }
        sqlite3_reset(rows);
        if (rc == SQLITE_ROW)
            rc = SQLITE_DONE;
        if (rc == SQLITE_DONE && nb && !read_full(r))
            rc = emit_at(r, at, batch, nb);
        if (rc != SQLITE_DONE || read_full(r))
            return rc;
    }
    st = rstmt(c, R_EVENTS_TWIN);
    sqlite3_bind_int64(st, 1, after > posted ? after : posted);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)f->types);
    sqlite3_bind_int(st, 3, r->limit - r->n);
    sqlite3_bind_text(st, 4, f->twin_id, -1, SQLITE_STATIC);
    return emit_rows(r, st);
}

int sq_read_events(void *p, int64_t after, int limit, const ot_event_filter *f,
                   int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to,
                   ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    struct ev_read r = {.fn = fn, .ctx = ctx, .scanned_to = scanned_to, .limit = limit};
    ot_buf_init(&r.b);
    *scanned_to = after;
    int rc;
    int rare = ot_event_filter_skips_telemetry(f);
    if (f && f->twin_id && !rare) {
        rc = read_twin(c, after, f, &r);
    } else {
        sqlite3_stmt *st = rstmt(c, !rare ? R_EVENTS : f->twin_id ? R_EVENTS_RARE_TWIN
                                                                    : R_EVENTS_RARE);
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int64(st, 2, f ? (sqlite3_int64)f->types : 0);
        sqlite3_bind_int(st, 3, limit);
        if (f && f->twin_id)
            sqlite3_bind_text(st, 4, f->twin_id, -1, SQLITE_STATIC);
        rc = emit_rows(&r, st);
    }
    int n = r.n;
    if (rc != SQLITE_DONE)
        n = rc == POSTINGS_CORRUPT ? ot_error_set(err, OT_EIO, NULL, "database: the events of "
                                                  "twin '%s' are stored corrupt", f->twin_id)
                                   : ot_sqlite_error(c->db, err, "read events");
    release(be, c);
    ot_buf_free(&r.b);
    return n;
}

char *sq_get_doc(void *p, const char *type, const char *id, ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    int tel = strcmp(type, "telemetry") == 0;
    sqlite3_stmt *st = rstmt(c, tel ? R_TEL_GET : R_DOC_GET);
    if (tel) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    }
    char *out = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out = strdup((const char *)sqlite3_column_text(st, 0));
        if (!out)
            ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ot_error_set(err, OT_ENOTFOUND, NULL, "no %s with id '%s'", type, id);
    } else {
        ot_sqlite_error(c->db, err, "read document");
    }
    sqlite3_reset(st);
    release(be, c);
    return out;
}

/* Collect the first column of every row (JSON text) into an array. */
static json_t *collect_json(struct rconn *c, sqlite3_stmt *st, ot_error *err)
{
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *d = json_loadb((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
        if (d)
            json_array_append_new(arr, d);
    }
    if (rc != SQLITE_DONE) {
        ot_sqlite_error(c->db, err, "read");
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_reset(st);
    return arr;
}

json_t *sq_list_docs(void *p, const char *type, const char *twin_id, const char *status,
                     int limit, ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    sqlite3_stmt *st = rstmt(c, R_DOCS);
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sq_bind_text_or_null(st, 2, twin_id);
    sq_bind_text_or_null(st, 3, status);
    sqlite3_bind_int(st, 4, limit);
    json_t *out = collect_json(c, st, err);
    release(be, c);
    return out;
}

/* A telemetry query's records as ot_telpost_scan finds them. */
struct tel_read {
    sqlite3_stmt *at; /* R_TEL_AT */
    const char *asset_id;
    json_t *rows;
    int limit;
    ot_error *err;
};

static int tel_found(void *ctx, int64_t ts, const char *event_id, const char *asset_id)
{
    (void)ts;
    struct tel_read *r = ctx;
    if (r->asset_id && strcmp(asset_id, r->asset_id))
        return 0;
    sqlite3_bind_text(r->at, 1, event_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(r->at), rc = 0;
    /* no row: retention deleted it from a row that straddles its cutoff */
    if (step == SQLITE_ROW) {
        json_t *d = json_loadb((const char *)sqlite3_column_text(r->at, 0),
                               (size_t)sqlite3_column_bytes(r->at, 0), 0, NULL);
        if (d)
            json_array_append_new(r->rows, d);
        rc = (int)json_array_size(r->rows) >= r->limit;
    } else if (step != SQLITE_DONE)
        rc = ot_sqlite_error(sqlite3_db_handle(r->at), r->err, "read telemetry");
    sqlite3_reset(r->at);
    return rc;
}

json_t *sq_query_telemetry(void *p, const char *twin_id, const char *asset_id, int64_t start_us,
                           int64_t end_us, int limit, ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    sqlite3_stmt *rows = rstmt(c, R_TEL_ROWS);
    sqlite3_bind_text(rows, 1, twin_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(rows, 2, start_us < INT64_MIN + OT_TELPOST_SPAN_US
                                    ? INT64_MIN
                                    : start_us - OT_TELPOST_SPAN_US);
    sqlite3_bind_int64(rows, 3, end_us);
    struct tel_read r = {.at = rstmt(c, R_TEL_AT), .asset_id = asset_id, .rows = json_array(),
                         .limit = limit, .err = err};
    int rc = !r.rows     ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory")
             : limit > 0 ? ot_telpost_scan(rows, start_us, end_us, tel_found, &r, err)
                         : 0;
    sqlite3_reset(rows);
    release(be, c);
    if (rc) {
        json_decref(r.rows);
        return NULL;
    }
    return r.rows;
}

struct bucket {
    int64_t start;
    ot_moments m;
    int used;
};

/* Buckets by start time: open addressing, grown as needed, bounded. */
struct buckets {
    struct bucket *tab;
    size_t cap, used;
    int max;
};

static int cmp_bucket(const void *a, const void *b)
{
    const struct bucket *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static size_t bucket_slot(int64_t start, size_t cap)
{
    return (size_t)(ot_hash_bytes((const char *)&start, 8) & (cap - 1));
}

/* Add the moments m of some values to the bucket starting at b. */
static int bucket_add(struct buckets *bk, int64_t b, const ot_moments *m, ot_error *err)
{
    if ((bk->used + 1) * 2 > bk->cap) {
        size_t ncap = bk->cap ? bk->cap * 2 : 1024;
        struct bucket *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        for (size_t j = 0; j < bk->cap; j++) {
            if (!bk->tab[j].used)
                continue;
            size_t h = bucket_slot(bk->tab[j].start, ncap);
            while (nt[h].used)
                h = (h + 1) & (ncap - 1);
            nt[h] = bk->tab[j];
        }
        free(bk->tab);
        bk->tab = nt;
        bk->cap = ncap;
    }
    size_t h = bucket_slot(b, bk->cap);
    while (bk->tab[h].used && bk->tab[h].start != b)
        h = (h + 1) & (bk->cap - 1);
    struct bucket *k = &bk->tab[h];
    if (!k->used) {
        if (bk->used >= (size_t)bk->max)
            return ot_error_set(err, OT_EINVAL, "$.window",
                                "more than %d buckets; narrow the time range or widen the window",
                                bk->max);
        *k = (struct bucket){.start = b, .used = 1};
        bk->used++;
    }
    ot_moments_merge(&k->m, m);
    return 0;
}

/* A run of points in one bucket, added to the buckets when the bucket
 * changes (points come in time order within a block, mostly across). */
struct run {
    int64_t bucket;
    ot_moments m;
};

static int run_flush(struct buckets *bk, struct run *r, ot_error *err)
{
    int rc = r->m.count ? bucket_add(bk, r->bucket, &r->m, err) : 0;
    r->m = (ot_moments){0};
    return rc;
}

static int run_add(struct buckets *bk, struct run *r, int64_t bucket, double v, ot_error *err)
{
    if (r->m.count && bucket != r->bucket) {
        int rc = run_flush(bk, r, err);
        if (rc)
            return rc;
    }
    r->bucket = bucket;
    ot_moments_add(&r->m, v);
    return 0;
}

/* Raw points of one series in [start, end) into buckets: the blocks of the
 * minutes the range touches, each point checked against the range. */
static int scan_points(struct rconn *c, struct buckets *bk, int64_t series, int64_t start,
                       int64_t end, int64_t window, ot_error *err)
{
    sqlite3_stmt *st = rstmt(c, R_POINTS);
    sqlite3_bind_int64(st, 1, series);
    sqlite3_bind_int64(st, 2, start == INT64_MIN ? INT64_MIN : ot_minute_of(start));
    sqlite3_bind_int64(st, 3, end == INT64_MAX ? INT64_MAX : ot_minute_of(end - 1));
    struct run r = {0};
    int rc = SQLITE_DONE, erc = 0;
    while (!erc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *data = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0) / OT_POINT_BYTES;
        for (size_t k = 0; k < n && !erc; k++) {
            int64_t ts;
            double v;
            ot_point_block_get(data, k, &ts, &v);
            if (ts >= start && ts < end)
                erc = run_add(bk, &r, floor_div(ts, window) * window, v, err);
        }
    }
    if (!erc)
        erc = run_flush(bk, &r, err);
    sqlite3_reset(st);
    if (erc)
        return erc;
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : ot_sqlite_error(c->db, err, "aggregate");
}

/* Per-minute rollups of one series into buckets (window a multiple of a
 * minute, range on minute boundaries). */
static int scan_rollups(struct rconn *c, struct buckets *bk, int64_t series, int64_t start,
                        int64_t end, int64_t window, ot_error *err)
{
    sqlite3_stmt *st = rstmt(c, R_ROLLUPS);
    sqlite3_bind_int64(st, 1, series);
    sqlite3_bind_int64(st, 2, start == INT64_MIN ? INT64_MIN : start / OT_MINUTE_US);
    sqlite3_bind_int64(st, 3, end == INT64_MAX ? INT64_MAX : end / OT_MINUTE_US);
    int rc, erc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(st, 0) * OT_MINUTE_US;
        ot_moments m = {(long)sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2),
                        sqlite3_column_double(st, 3), sqlite3_column_double(st, 4),
                        sqlite3_column_double(st, 5)};
        erc = bucket_add(bk, floor_div(ts, window) * window, &m, err);
        if (erc)
            break;
    }
    sqlite3_reset(st);
    if (erc)
        return erc;
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : ot_sqlite_error(c->db, err, "aggregate");
}

json_t *sq_aggregate(void *p, const char *twin_id, const char *asset_id, const char *metric,
                     int64_t start_us, int64_t end_us, int64_t window_us, enum ot_agg_fn fn,
                     int max_buckets, ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    struct buckets bk = {.max = max_buckets};
    /* the twin's series of this metric: one per asset (every asset, when
     * asset_id is NULL), however many */
    int64_t few[64], *ids = few;
    size_t nids = 0, cap = sizeof few / sizeof few[0];
    int rc;
    json_t *out = NULL;
    sqlite3_stmt *st = rstmt(c, R_SERIES_FOR);
    sqlite3_bind_text(st, 1, twin_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
    sq_bind_text_or_null(st, 3, asset_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (nids == cap) {
            int64_t *bigger = malloc(2 * cap * sizeof *bigger);
            if (!bigger) {
                sqlite3_reset(st);
                ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
                goto out;
            }
            memcpy(bigger, ids, nids * sizeof *ids);
            if (ids != few)
                free(ids);
            ids = bigger;
            cap *= 2;
        }
        ids[nids++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        ot_sqlite_error(c->db, err, "aggregate");
        goto out;
    }
    int rollups = ot_agg_use_rollups(start_us, end_us, window_us);
    for (size_t i = 0; i < nids; i++) {
        rc = rollups ? scan_rollups(c, &bk, ids[i], start_us, end_us, window_us, err)
                     : scan_points(c, &bk, ids[i], start_us, end_us, window_us, err);
        if (rc)
            goto out;
    }
    /* compact and sort */
    size_t n = 0;
    for (size_t j = 0; j < bk.cap; j++)
        if (bk.tab[j].used)
            bk.tab[n++] = bk.tab[j];
    if (n)
        qsort(bk.tab, n, sizeof *bk.tab, cmp_bucket);
    out = json_array();
    for (size_t j = 0; j < n; j++) {
        struct bucket *k = &bk.tab[j];
        ot_agg_append(out, fn, k->start, &k->m);
    }
out:
    if (ids != few)
        free(ids);
    free(bk.tab);
    release(be, c);
    return out;
}

json_t *sq_latest(void *p, const char *twin_id, ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    sqlite3_stmt *st = rstmt(c, twin_id ? R_LATEST_TWIN : R_LATEST);
    if (twin_id)
        sqlite3_bind_text(st, 1, twin_id, -1, SQLITE_STATIC);
    json_t *out = json_object();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ot_latest_put(out, (const char *)sqlite3_column_text(st, 0),
                      (const char *)sqlite3_column_text(st, 1),
                      (const char *)sqlite3_column_text(st, 2), sqlite3_column_double(st, 3),
                      sqlite3_column_int64(st, 4));
    }
    if (rc != SQLITE_DONE) {
        ot_sqlite_error(c->db, err, "read latest values");
        json_decref(out);
        out = NULL;
    }
    sqlite3_reset(st);
    release(be, c);
    return out;
}

int sq_read_audit(void *p, int64_t after, int limit,
                  int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err)
{
    sqlite_be *be = p;
    struct rconn *c = acquire(be);
    sqlite3_stmt *st = rstmt(c, R_AUDIT);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ot_audit_row row = {sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2),
                            (const char *)sqlite3_column_text(st, 3)};
        n++;
        if (fn(ctx, &row))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        n = ot_sqlite_error(c->db, err, "read audit");
    sqlite3_reset(st);
    release(be, c);
    return n;
}
