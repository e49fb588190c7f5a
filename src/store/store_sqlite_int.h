/* store_sqlite_int.h - state shared by the SQLite backend's files
 * (store_sqlite.c: open, migrations, the writer's transactions, retention;
 * store_sqlite_derived.c: the derived data; store_sqlite_read.c: the read
 * pool and every read); internal to src/store/.
 *
 * Ownership: the writer connection `w`, its statements and everything
 * written in bulk belong to the store's writer thread; the checkpointer's
 * connection and state under ckpt_mu to the checkpointer thread; a pooled
 * read connection (struct rconn) to whoever took it from the pool
 * (pool_mu), until it gives it back. derived_lo is read by any thread.
 */
#ifndef OT_STORE_SQLITE_INT_H
#define OT_STORE_SQLITE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include "store/backend.h"
#include "store/rollup.h"
#include "store/sqlite_postings.h"
#include "store/sqlite_retention.h"
#include "store/sqlite_rows.h"
#include "store/sqlite_telpost.h"

enum wstmt { W_BEGIN, W_COMMIT, W_ROLLBACK, W_LOOKUP_TEL, W_SERIES_GET,
             W_SERIES_INS, W_SERIES_SET, W_INS_BLOCK, W_PUT_DOC, W_ROLLUP,
             W_DERIVED_GET, W_DERIVED_SET, W_REPLAY, W_NSTMT };

enum rstmt { R_EVENTS, R_EVENTS_RARE, R_EVENTS_RARE_TWIN, R_POSTED, R_POSTINGS, R_EVENTS_AT,
             R_EVENTS_TWIN, R_TEL_GET, R_DOC_GET, R_DOCS, R_TEL_ROWS, R_TEL_AT, R_SERIES_FOR,
             R_POINTS, R_LATEST, R_LATEST_TWIN, R_AUDIT, R_ROLLUPS, R_NSTMT };

/* Writer-side cache of series ids, with the latest value seen in the
 * current transaction (flushed before COMMIT). Open addressing. */
struct series_entry {
    char *key;          /* twin \x1f asset \x1f metric */
    int64_t id;
    int64_t last_ts;
    double last_value;
    int64_t last_seq;   /* the record that last added a point (a metric named twice) */
    int dirty;
};

struct rconn {
    sqlite3 *db;
    sqlite3_stmt *st[R_NSTMT];
    struct rconn *all_next;   /* every connection, for close */
    struct rconn *free_next;  /* the pool's free list */
};

typedef struct sqlite_be {
    char path[1024];
    sqlite3 *w;
    sqlite3_stmt *ws[W_NSTMT];
    /* a group's telemetry records, events and audit records, inserted many
     * per statement (sqlite_rows.h); flushed before COMMIT (the idempotency
     * lookup also searches the waiting records) */
    ot_sqlite_rows tel_rows, ev_rows, audit_rows;
    struct series_entry *series;
    size_t series_cap, series_n;
    size_t *dirty;      /* indexes into series */
    size_t ndirty, dirty_cap;
    ot_rollups acc;         /* rollups and points not written yet */
    ot_postings *postings;  /* events by twin not written yet */
    ot_telpost *telpost;    /* telemetry by twin and time not written yet */
    /* derived data in memory (file comment): the last telemetry cursor it
     * holds (0: nothing waits), since when it waits, the lowest cursor it
     * holds for other threads (0: none), and whether it must be rebuilt */
    int64_t derived_hi, derived_since_us, derived_delay_us;
    atomic_llong derived_lo;
    int derived_force, derived_rebuild;

    /* checkpoints run on their own connection and thread, so the writer
     * never copies WAL pages into the database inside a commit */
    sqlite3 *ckpt;
    pthread_t ckpt_thread;
    int ckpt_started, ckpt_stop;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    pthread_cond_t ckpt_idle_cv; /* a pass ended */
    int ckpt_kick;      /* under ckpt_mu: the writer asks for a pass now */
    int ckpt_running;   /* under ckpt_mu: a pass is under way */
    int db_fd;          /* the database file, for the checkpointer's write-out
                         * hint (-1: none); closed after every connection */
    int wal_frames;     /* frames in the WAL after the writer's last commit */
    int ckpt_kicked_at; /* wal_frames at the writer's last kick (writer only) */
    ot_retention_at retention_at; /* where the last retention pass stopped (writer) */

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct rconn *free_list;
    struct rconn *all;
    int nconn;
} sqlite_be;

/* Bind s, or NULL when s is. */
static inline void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* The writer's statements' SQL, by enum wstmt (store_sqlite.c). */
extern const char *const sq_wsql[W_NSTMT];

/* The writer's statement k, reset. */
static inline sqlite3_stmt *sq_wstmt(sqlite_be *be, enum wstmt k)
{
    sqlite3_reset(be->ws[k]);
    return be->ws[k];
}

/* Step a writer statement that returns no row. 0 or an error (what names
 * it). */
static inline int sq_step_done(sqlite_be *be, sqlite3_stmt *st, ot_error *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ot_sqlite_error(be->w, err, what);
    return 0;
}

/* The derived data (store_sqlite_derived.c; writer thread). Add a
 * record's points; write what waits in the open transaction, and forget
 * it once that commits; drop the series cache's uncommitted state after a
 * rollback; rebuild from the stored telemetry beyond derived_cursor; and
 * migration 4's move of the points table. Each returns 0 or an error. */
int sq_add_derived(sqlite_be *be, const char *twin, const char *asset, int64_t ts_us,
                   int64_t cursor, const char *event_id, const char *const *names,
                   const double *values, size_t n, ot_error *err);
int sq_flush_derived(sqlite_be *be, ot_error *err);
void sq_derived_written(sqlite_be *be);
void sq_series_reset(sqlite_be *be);
int sq_rebuild_derived(sqlite_be *be, ot_error *err);
int sq_move_points(sqlite3 *db, ot_error *err);

/* Prepare the read statements on a new read connection. 0 or an error. */
int sq_reader_prepare(struct rconn *c, ot_error *err);

/* The backend's reads (ot_backend_ops; store_sqlite_read.c). */
int sq_read_events(void *be, int64_t after, int limit, const ot_event_filter *f,
                   int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to,
                   ot_error *err);
char *sq_get_doc(void *be, const char *type, const char *id, ot_error *err);
json_t *sq_list_docs(void *be, const char *type, const char *twin_id, const char *status,
                     int limit, ot_error *err);
json_t *sq_query_telemetry(void *be, const char *twin_id, const char *asset_id, int64_t start_us,
                           int64_t end_us, int limit, ot_error *err);
json_t *sq_aggregate(void *be, const char *twin_id, const char *asset_id, const char *metric,
                     int64_t start_us, int64_t end_us, int64_t window_us, enum ot_agg_fn fn,
                     int max_buckets, ot_error *err);
json_t *sq_latest(void *be, const char *twin_id, ot_error *err);
int sq_read_audit(void *be, int64_t after, int limit,
                  int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err);

#endif
