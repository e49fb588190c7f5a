/* backend.h - what a storage backend implements (internal to src/store/).
 *
 * store.c and store_writer.c own the writer thread, the queue, cursor
 * assignment and event rendering; a backend only runs statements. Write functions are called on
 * the writer thread only, between begin and commit/rollback. Read functions
 * may be called from any thread concurrently (the backend pools its
 * connections).
 */
#ifndef OT_STORE_BACKEND_H
#define OT_STORE_BACKEND_H

#include "store/store.h"

/* What one retention pass on the writer thread deletes at most, of each
 * kind (records, events): the pass holds the writer, so it is bounded, and
 * store_writer.c runs the next one soon while *more says so. On SQLite a pass's
 * time goes with its size (10,000 was ~60 and up to ~130 ms on cold pages,
 * 2,500 ~15 and up to ~45; bench/RESULTS.md, session 18); with 1,000,
 * single-event ingest during a drain of 300,000 records keeps a p99 of
 * ~30 ms instead of ~55, and drains as fast (bench/retload.sh, session 19). */
#define OT_RETENTION_PASS_MAX 1000

typedef struct ot_backend_ops {
    const char *name;
    int (*open)(const ot_store_options *opt, void **be, ot_error *err);
    void (*close)(void *be);

    /* writer thread */
    int (*begin)(void *be, ot_error *err);
    /* *sync_fd: -1 when the commit is durable on return; else a descriptor
     * store_writer.c must fdatasync before it calls the commit durable (it
     * may run the next transaction meanwhile). Readers may see the commit
     * before. */
    int (*commit)(void *be, int *sync_fd, ot_error *err);
    void (*rollback)(void *be);
    /* Optional: 1 once after the writer's connection was re-established
     * (the outcome of the last COMMIT may be unknown): store_writer.c then
     * re-reads the last cursor and the audit head inside the new
     * transaction. */
    int (*reconnected)(void *be);
    int (*last_cursor)(void *be, int64_t *last, int64_t *oldest, ot_error *err);
    int (*lookup_tel)(void *be, const char *event_id, int64_t *cursor, ot_error *err);
    int (*put_tel)(void *be, const ot_store_tel *t, int64_t cursor, ot_error *err);
    int (*put_doc)(void *be, const ot_store_doc *d, int64_t now_us, ot_error *err);
    int (*put_event)(void *be, const ot_event *ev, const char *id, const char *ref_type,
                     const char *extra, size_t extra_len, ot_error *err);
    /* Drop what is older than the cutoff, or a bounded part of it
     * (OT_RETENTION_PASS_MAX; *more 1: call again soon). *oldest: the
     * oldest cursor left. */
    int (*retention)(void *be, int64_t cutoff_us, int64_t *oldest, int *more, ot_error *err);
    int (*last_audit)(void *be, int64_t *seq, char *hash_hex, ot_error *err);
    int (*put_audit)(void *be, int64_t seq, int64_t ts_us, const char *record,
                     const char *prev_hash, const char *hash, ot_error *err);
    /* Optional, for a backend that writes derived data in bulk (store.h):
     * write it at this transaction's commit. */
    void (*derived_flush)(void *be);

    /* any thread */
    /* Optional (with derived_flush): the lowest cursor whose derived data
     * is not committed yet, 0 when none. */
    int64_t (*derived_pending)(void *be);
    int (*read_events)(void *be, int64_t after, int limit, const ot_event_filter *f,
                       int (*fn)(void *ctx, const ot_event *ev), void *ctx,
                       int64_t *scanned_to, ot_error *err);
    char *(*get_doc)(void *be, const char *type, const char *id, ot_error *err);
    json_t *(*list_docs)(void *be, const char *type, const char *twin_id, const char *status,
                         int limit, ot_error *err);
    json_t *(*query_telemetry)(void *be, const char *twin_id, const char *asset_id,
                               int64_t start_us, int64_t end_us, int limit, ot_error *err);
    json_t *(*aggregate)(void *be, const char *twin_id, const char *asset_id,
                         const char *metric, int64_t start_us, int64_t end_us,
                         int64_t window_us, enum ot_agg_fn fn, int max_buckets, ot_error *err);
    json_t *(*latest)(void *be, const char *twin_id, ot_error *err);
    int (*read_audit)(void *be, int64_t after, int limit,
                      int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err);
    /* Optional: add backend detail (mode, ...) to detail; NULL when the
     * backend is fine, else a status ("down") overriding the store's. */
    const char *(*health)(void *be, json_t *detail);
} ot_backend_ops;

extern const ot_backend_ops ot_sqlite_backend;
extern const ot_backend_ops ot_pg_backend;      /* store_pg.c: DATABASE_URL=postgresql://... */

struct ot_buf;
/* Render an event object from its stored parts into b (reset first):
 * {"type","ts","twin_id","id","cursor","data_ref":{"type","id"}, extra...}.
 * extra holds JSON object members without braces (`"asset_id":"a1"`), or
 * NULL. Events are stored as parts, not as JSON, and rendered by this one
 * function on both paths (commit and read), so they are byte-identical. */
int ot_event_render(struct ot_buf *b, int64_t cursor, int type, int64_t ts_us,
                    const char *twin_id, const char *id, const char *ref_type, const char *extra,
                    size_t extra_len);

/* The in-memory key of a series, "twin \x1f asset \x1f metric", into key
 * (cap bytes, NUL-terminated). Returns its length, or -1 with err set when
 * it does not fit. Built without printf: it runs for every stored point. */
long ot_series_key(char *key, size_t cap, const char *twin, const char *asset,
                   const char *metric, ot_error *err);

#endif
