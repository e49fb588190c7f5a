/* store_sqlite_derived.c - the SQLite backend's derived data: what the
 * writer keeps in memory between bulk writes (each series' id and latest
 * value, the rollups and raw points of the minutes touched) and writes in
 * the open transaction (series, point_blocks, rollup_1m, both kinds of
 * postings, meta.derived_cursor); the rebuild of what lies beyond
 * derived_cursor from the stored telemetry at open and after a rollback;
 * and migration 4's move of the old points table into blocks. Writer
 * thread only. store_sqlite.c's file comment says when it is written.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "store/store_sqlite_int.h"

void sq_series_reset(sqlite_be *be)
{
    for (size_t i = 0; i < be->series_cap; i++) {
        free(be->series[i].key);
        be->series[i].key = NULL;
    }
    be->series_n = 0;
    be->ndirty = 0;
}

static int flush_series(sqlite_be *be, ot_error *err)
{
    for (size_t i = 0; i < be->ndirty; i++) {
        struct series_entry *e = &be->series[be->dirty[i]];
        sqlite3_stmt *st = sq_wstmt(be, W_SERIES_SET);
        sqlite3_bind_int64(st, 1, e->id);
        sqlite3_bind_int64(st, 2, e->last_ts);
        sqlite3_bind_double(st, 3, e->last_value);
        int rc = sq_step_done(be, st, err, "update series");
        if (rc)
            return rc;
        e->dirty = 0;
    }
    be->ndirty = 0;
    return 0;
}

struct block_ins {
    sqlite3 *db;
    sqlite3_stmt *st;
    ot_error *err;
};

static int insert_block(void *ctx, const ot_rollup *a, int64_t seq, const unsigned char *data,
                        size_t len)
{
    struct block_ins *b = ctx;
    sqlite3_reset(b->st);
    sqlite3_bind_int64(b->st, 1, a->series);
    sqlite3_bind_int64(b->st, 2, a->minute);
    sqlite3_bind_int64(b->st, 3, seq);
    sqlite3_bind_blob(b->st, 4, data, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(b->st);
    sqlite3_reset(b->st);
    return rc == SQLITE_DONE ? 0 : ot_sqlite_error(b->db, b->err, "insert points");
}

/* Write the raw points of every (series, minute) in acc as blocks. */
static int write_blocks(sqlite3 *db, sqlite3_stmt *st, ot_rollups *acc, ot_error *err)
{
    struct block_ins b = {db, st, err};
    for (size_t i = 0; i < acc->cap && acc->n; i++) {
        if (!acc->v[i].used)
            continue;
        int rc = ot_rollup_blocks(acc, &acc->v[i], insert_block, &b);
        if (rc)
            return rc < 0 ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory") : rc;
    }
    return 0;
}

/* Migration 4: the rows of points into point_blocks. */
int sq_move_points(sqlite3 *db, ot_error *err)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    ot_rollups acc = {.keep_points = 1};
    int rc = 0, step;
    if (sqlite3_prepare_v2(db, "SELECT series_id, ts, seq, value FROM points", -1, &sel, NULL) ||
        sqlite3_prepare_v2(db, sq_wsql[W_INS_BLOCK], -1, &ins, NULL))
        rc = ot_sqlite_error(db, err, "migrating points");
    while (!rc && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        if (ot_rollups_add(&acc, sqlite3_column_int64(sel, 0), sqlite3_column_int64(sel, 1),
                           sqlite3_column_int64(sel, 2), sqlite3_column_double(sel, 3)))
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory migrating points");
        else if (acc.npts >= 1000000) {
            rc = write_blocks(db, ins, &acc, err);
            ot_rollups_clear(&acc);
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = ot_sqlite_error(db, err, "migrating points");
    if (!rc)
        rc = write_blocks(db, ins, &acc, err);
    ot_rollups_free(&acc);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return rc;
}

static int flush_rollups(sqlite_be *be, ot_error *err)
{
    int brc = write_blocks(be->w, sq_wstmt(be, W_INS_BLOCK), &be->acc, err);
    if (brc)
        return brc;
    for (size_t i = 0; i < be->acc.cap && be->acc.n; i++) {
        ot_rollup *a = &be->acc.v[i];
        if (!a->used)
            continue;
        sqlite3_stmt *st = sq_wstmt(be, W_ROLLUP);
        sqlite3_bind_int64(st, 1, a->series);
        sqlite3_bind_int64(st, 2, a->minute);
        sqlite3_bind_int64(st, 3, a->m.count);
        sqlite3_bind_double(st, 4, a->m.sum);
        sqlite3_bind_double(st, 5, a->m.m2);
        sqlite3_bind_double(st, 6, a->m.min);
        sqlite3_bind_double(st, 7, a->m.max);
        int rc = sq_step_done(be, st, err, "update rollups");
        if (rc)
            return rc;
    }
    ot_rollups_clear(&be->acc);
    return 0;
}

/* Write the derived data in memory and advance derived_cursor with it, in
 * the writer's open transaction. */
int sq_flush_derived(sqlite_be *be, ot_error *err)
{
    int rc = flush_series(be, err);
    if (!rc)
        rc = flush_rollups(be, err);
    if (!rc)
        rc = ot_postings_flush(be->postings, be->w, err);
    if (!rc)
        rc = ot_telpost_flush(be->telpost, be->w, err);
    if (!rc && be->derived_hi) {
        sqlite3_stmt *st = sq_wstmt(be, W_DERIVED_SET);
        sqlite3_bind_int64(st, 1, be->derived_hi);
        rc = sq_step_done(be, st, err, "advance derived_cursor");
    }
    return rc;
}

/* The transaction that carried flush_derived committed. */
void sq_derived_written(sqlite_be *be)
{
    be->derived_hi = 0;
    be->derived_force = 0;
    atomic_store(&be->derived_lo, 0);
}

static int series_grow(sqlite_be *be)
{
    size_t cap = be->series_cap ? be->series_cap * 2 : 1024;
    struct series_entry *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < be->series_cap; i++) {
        struct series_entry *e = &be->series[i];
        if (!e->key)
            continue;
        size_t j = ot_hash_bytes(e->key, strlen(e->key)) & (cap - 1);
        while (t[j].key)
            j = (j + 1) & (cap - 1);
        t[j] = *e; /* the caller flushed: nothing is dirty */
    }
    free(be->series);
    be->series = t;
    be->series_cap = cap;
    return 0;
}

/* Find or create the series id for (twin, asset, metric). */
static struct series_entry *series_get(sqlite_be *be, const char *twin, const char *asset,
                                       const char *metric, ot_error *err)
{
    char key[512];
    long n = ot_series_key(key, sizeof key, twin, asset, metric, err);
    if (n < 0)
        return NULL;
    if ((be->series_n + 1) * 2 > be->series_cap) {
        /* flush first so no dirty index is invalidated by the rehash */
        if (flush_series(be, err) || series_grow(be)) {
            if (!err || err->code == OT_OK)
                ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
            return NULL;
        }
    }
    size_t j = ot_hash_bytes(key, (size_t)n) & (be->series_cap - 1);
    while (be->series[j].key) {
        if (strcmp(be->series[j].key, key) == 0)
            return &be->series[j];
        j = (j + 1) & (be->series_cap - 1);
    }
    struct series_entry *e = &be->series[j];
    sqlite3_stmt *st = sq_wstmt(be, W_SERIES_GET);
    sqlite3_bind_text(st, 1, twin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, asset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, metric, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = 0, last_ts = INT64_MIN;
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            last_ts = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
    } else {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            ot_sqlite_error(be->w, err, "series lookup");
            return NULL;
        }
        st = sq_wstmt(be, W_SERIES_INS);
        sqlite3_bind_text(st, 1, twin, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, metric, -1, SQLITE_STATIC);
        if (sq_step_done(be, st, err, "series insert"))
            return NULL;
        id = sqlite3_last_insert_rowid(be->w);
    }
    e->key = strdup(key);
    if (!e->key) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    e->id = id;
    e->last_ts = last_ts;
    e->last_seq = 0; /* the slot may hold a series of a rolled-back transaction */
    e->dirty = 0;
    be->series_n++;
    return e;
}

static int mark_dirty(sqlite_be *be, struct series_entry *e)
{
    if (e->dirty)
        return 0;
    if (be->ndirty == be->dirty_cap) {
        size_t cap = be->dirty_cap ? be->dirty_cap * 2 : 256;
        size_t *d = realloc(be->dirty, cap * sizeof *d);
        if (!d)
            return -1;
        be->dirty = d;
        be->dirty_cap = cap;
    }
    be->dirty[be->ndirty++] = (size_t)(e - be->series);
    e->dirty = 1;
    return 0;
}

/* A record's points, and the record by twin and time, into the derived
 * data in memory (file comment). */
int sq_add_derived(sqlite_be *be, const char *twin, const char *asset, int64_t ts_us,
                   int64_t cursor, const char *event_id, const char *const *names,
                   const double *values, size_t n, ot_error *err)
{
    int trc = ot_telpost_add(be->telpost, twin, asset, ts_us, cursor, event_id);
    if (trc)
        return ot_error_set(err, trc, NULL, "cannot note telemetry by twin and time");
    for (size_t i = 0; i < n; i++) {
        struct series_entry *e = series_get(be, twin, asset, names[i], err);
        if (!e)
            return err && err->code ? err->code : OT_EIO;
        /* a metric named twice in one record is one point, its first */
        if (e->last_seq != cursor && ot_rollups_add(&be->acc, e->id, ts_us, cursor, values[i]))
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        e->last_seq = cursor;
        if (ts_us >= e->last_ts) {
            e->last_ts = ts_us;
            e->last_value = values[i];
            if (mark_dirty(be, e))
                return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        }
    }
    if (!be->derived_hi) {
        be->derived_since_us = ot_now_us();
        /* set before the record commits, so no reader can have been told
         * of it and still find this 0 */
        atomic_store(&be->derived_lo, cursor);
    }
    be->derived_hi = cursor;
    return 0;
}

/* One stored record's points into the derived data (rebuild_derived); its
 * canonical JSON holds them. */
static int replay_record(sqlite_be *be, sqlite3_stmt *st, ot_error *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)sqlite3_column_text(st, 4),
                             (size_t)sqlite3_column_bytes(st, 4), 0, &jerr);
    json_t *metrics = json_object_get(doc, "metrics");
    if (!json_is_object(metrics)) /* kept as stored; it adds no points */
        ot_log(OT_LOG_WARNING, "store: telemetry at cursor %lld has no readable metrics",
               (long long)sqlite3_column_int64(st, 0));
    size_t n = json_object_size(metrics), i = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    double *values = calloc(n ? n : 1, sizeof *values);
    const char *k;
    json_t *v;
    json_object_foreach(metrics, k, v) {
        names[i] = k;
        values[i++] = json_number_value(v);
    }
    int rc = names && values
                 ? sq_add_derived(be, (const char *)sqlite3_column_text(st, 1),
                               (const char *)sqlite3_column_text(st, 2),
                               sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 0),
                               (const char *)sqlite3_column_text(st, 5), names, values, n, err)
                 : ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    free(names);
    free(values);
    json_decref(doc);
    return rc;
}

/* Rebuild the derived data in memory from the telemetry stored beyond
 * derived_cursor: at open (after a crash, what the last bulk write had not
 * reached) and after a rolled-back transaction (which took the memory's
 * view with it). Writer, inside a transaction. */
int sq_rebuild_derived(sqlite_be *be, ot_error *err)
{
    sq_series_reset(be);
    ot_rollups_clear(&be->acc);
    be->derived_hi = 0;
    atomic_store(&be->derived_lo, 0);
    sqlite3_stmt *st = sq_wstmt(be, W_DERIVED_GET);
    int64_t from = 0;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        from = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return ot_sqlite_error(be->w, err, "read derived_cursor");
    st = sq_wstmt(be, W_REPLAY);
    sqlite3_bind_int64(st, 1, from);
    long n = 0;
    int rc = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = replay_record(be, st, err);
        n++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = ot_sqlite_error(be->w, err, "read telemetry to rebuild");
    sqlite3_reset(st);
    long posted = 0;
    if (!rc)
        rc = ot_postings_rebuild(be->postings, be->w, &posted, err);
    if (rc)
        return rc;
    be->derived_rebuild = 0;
    if (n)
        ot_log(OT_LOG_INFO, "store: rebuilt the points, rollups and latest values of %ld "
               "telemetry records after cursor %lld", n, (long long)from);
    if (posted)
        ot_log(OT_LOG_INFO, "store: noted %ld events by twin beyond posted_cursor", posted);
    return 0;
}
