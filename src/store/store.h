/* store.h - durable storage behind one interface.
 *
 * Business logic talks to this header only; SQL dialects stay inside the
 * backends (store_sqlite.c, the embedded default; store_pg.c, PostgreSQL or
 * TimescaleDB, selected by a postgresql:// DATABASE_URL). What
 * is stored:
 *
 *   events     the one ordered log: cursor (1, 2, 3, ... gap-free), type,
 *              ts, twin_id, resource id, and the event's JSON as emitted
 *   telemetry  canonical telemetry.v1 objects by event_id (idempotency key)
 *   points     one (series, ts, value) per metric, for queries/aggregates
 *   series     (twin, asset, metric) with the latest value
 *   docs       every other resource by (type, id): anomalies, simulations,
 *              decisions, proposals, actions, schemas, models, policies,
 *              ingest profiles
 *
 * Writes go through ot_store_submit: a single writer thread batches many
 * submitted writes into one transaction (group commit) and a syncer thread
 * calls each write's completion only after the transaction is durable (one
 * fsync for every group committed meanwhile). Cursors are
 * assigned by the writer inside the transaction, so the log has no gaps even
 * across crashes. The submit queue is bounded: when it is full, submit fails
 * with OT_EBUSY and the caller answers 503. If an fsync of SQLite's WAL
 * fails, the store stops writing until it is reopened: every write from the
 * failed group on completes with OT_EUNAVAIL (nothing of it is published),
 * and ot_store_health says "down".
 *
 * Reads may be called from any thread; each takes a connection from a small
 * pool. Returned strings and JSON are owned by the caller. The event log
 * reads (ot_store_read_events, ot_store_last_cursor) stop at the last
 * durable, published cursor; the other reads may see a commit a moment
 * before it is durable.
 */
#ifndef OT_STORE_STORE_H
#define OT_STORE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/evtype.h"

typedef struct ot_store ot_store;

#define OT_STORE_ID_MAX 129

/* --- writes ---------------------------------------------------------------- */

/* One telemetry record to store. Strings are borrowed until completion. */
typedef struct ot_store_tel {
    const char *event_id;   /* idempotency key */
    const char *twin_id;
    const char *asset_id;
    int64_t ts_us;
    size_t nmetrics;
    const char *const *metric_names;
    const double *metric_values;
    const char *json;       /* canonical telemetry.v1 object, as stored and served */
    size_t json_len;        /* its length, or 0: strlen(json) */
    int client_id;          /* 1: event_id came from the client, check for a replay;
                               0: a fresh ULID, which cannot have been stored before */
    /* results, filled by the writer: */
    int64_t cursor;         /* the TelemetryAppended event's cursor */
    int duplicate;          /* 1: event_id was stored before; cursor is the original */
} ot_store_tel;

/* A resource document to insert or replace. Borrowed until completion. */
typedef struct ot_store_doc {
    const char *type;       /* "anomaly", "sim", "proposal", ... */
    const char *id;
    const char *twin_id;    /* may be "" */
    const char *status;     /* optional index column (e.g. proposal status), or NULL */
    const char *json;
} ot_store_doc;

/* An event to append. Its JSON is rendered by the writer once the cursor is
 * known: {"type","ts","twin_id","id","cursor","data_ref":{"type","id"}} plus
 * the members of `extra` (borrowed, may be NULL). */
typedef struct ot_store_event {
    int type;               /* enum ot_evtype */
    const char *twin_id;
    const char *id;         /* the resource the event is about */
    const char *ref_type;   /* data_ref.type: "telemetry", "anomaly", ... */
    json_t *extra;
    int64_t ts_us;          /* 0 = commit time */
    int64_t cursor;         /* result */
} ot_store_event;

/* An audit record written in the same transaction as the write it records.
 * The writer chains it: record = canonical JSON {"seq","ts","actor",
 * "action","target","details"}, hash = SHA-256(prev_hash_hex || record),
 * hex-encoded; the first record's prev_hash is 64 zeros. */
typedef struct ot_store_audit {
    const char *actor;      /* token sub, or "anonymous" */
    const char *action;     /* "POST /telemetry/ingest", "decision", ... */
    const char *target;     /* twin id, resource id, or "" */
    json_t *details;        /* borrowed, may be NULL */
    const char *details_json; /* or the details as canonical JSON text (compact, keys
                                 sorted), borrowed; used when details is NULL */
    int64_t seq;            /* result */
} ot_store_audit;

typedef struct ot_store_write ot_store_write;
typedef void (*ot_store_done_fn)(ot_store_write *w, void *ctx);

/* A unit of work: committed atomically with the rest of its group, or failed
 * as a whole (rc < 0, err). Each telemetry record also appends its
 * TelemetryAppended event. The caller owns the struct and everything it
 * points to until done() is called (on the store's syncer thread, once the
 * write is durable or has failed). */
struct ot_store_write {
    ot_store_tel *tels;
    size_t ntels;
    ot_store_doc *docs;
    size_t ndocs;
    ot_store_event *events;
    size_t nevents;
    ot_store_audit *audit;  /* optional */
    int flush_derived;      /* also write the derived data waiting in memory (below) */
    ot_store_done_fn done;
    void *ctx;
    int rc;
    ot_error err;
    ot_store_write *next;   /* queue link, owned by the store */
};

/* Called on the store's syncer thread after each durable commit, with the
 * group's events in cursor order (borrowed for the call; copy what you
 * keep), before the group's done() calls. */
typedef void (*ot_store_commit_fn)(void *ctx, const ot_event *events, size_t n);

typedef struct ot_store_options {
    const char *data_dir;       /* SQLite: DATA_DIR/opstwin.db */
    const char *database_url;   /* "" = SQLite; postgresql://... or postgres://... */
    int queue_limit;            /* pending telemetry items before OT_EBUSY */
    int read_connections;       /* read pool size */
    long retention_days;        /* 0 = keep */
    /* Derived data (below) waits in memory at most this long, also when
     * the writer is idle (0: 200 ms, and 20 ms idle; tests set a long one
     * to keep it in memory) */
    int derived_delay_ms;
    ot_store_commit_fn on_commit;
    void *on_commit_ctx;
} ot_store_options;

/* Open (creating and migrating as needed) and start the writer. Takes an
 * exclusive lock on DATA_DIR/opstwin.lock (flock) for the store's life, so
 * one process at a time writes a data folder: a second one gets OT_EBUSY
 * ("in use by another opstwin process"). The folder must exist. */
int ot_store_open(const ot_store_options *opt, ot_store **out, ot_error *err);

/* Drain the queue (every submitted write is committed or failed), stop the
 * writer, close. */
void ot_store_close(ot_store *s);

/* Queue a write. 0: queued, done() will be called exactly once. OT_EBUSY:
 * the queue is full; OT_EUNAVAIL: the store is closing or failed; in both
 * cases done() is NOT called and the caller keeps ownership. */
int ot_store_submit(ot_store *s, ot_store_write *w);

/* Set (fn) or clear (NULL) a hook called after each round of done() calls,
 * on the thread that calls them, so consumers fed by done() can be woken
 * once per round instead of once per write. After it returns, the previous
 * hook is not running and will not be called again. */
void ot_store_set_on_completed(ot_store *s, void (*fn)(void *ctx), void *ctx);

/* Submit and wait for completion (for callers not on an HTTP thread that
 * can block: CLI import, background jobs). Returns w->rc. */
int ot_store_write_sync(ot_store *s, ot_store_write *w);

/* --- reads ----------------------------------------------------------------- */

/* The last committed cursor (0 when the log is empty) and the oldest cursor
 * still stored (1 unless retention dropped older ones). */
int64_t ot_store_last_cursor(ot_store *s);
int64_t ot_store_oldest_cursor(ot_store *s);

/* Events with cursor > after matching f, in cursor order, at most limit.
 * Calls fn for each (event borrowed during the call); fn returns nonzero to
 * stop. Returns the count delivered, or a negative error. *scanned_to is set
 * to the last cursor examined (so a filtered read can advance past
 * non-matching events). */
int ot_store_read_events(ot_store *s, int64_t after, int limit, const ot_event_filter *f,
                         int (*fn)(void *ctx, const ot_event *ev), void *ctx,
                         int64_t *scanned_to, ot_error *err);

/* A stored document (type "telemetry" reads the telemetry table). Returns
 * the JSON text (caller frees) or NULL with OT_ENOTFOUND. */
char *ot_store_get_doc(ot_store *s, const char *type, const char *id, ot_error *err);

/* Documents of a type, optionally for one twin and with a status, newest
 * first, at most limit. Returns a JSON array (caller owns) or NULL. */
json_t *ot_store_list_docs(ot_store *s, const char *type, const char *twin_id,
                           const char *status, int limit, ot_error *err);

enum ot_agg_fn { OT_AGG_AVG, OT_AGG_MIN, OT_AGG_MAX, OT_AGG_SUM, OT_AGG_COUNT, OT_AGG_STDDEV };

/* Derived data: the points, per-minute rollups and latest values that
 * aggregates and latest values are read from, and what finds a twin's
 * telemetry by time. A backend may keep it in
 * memory for a while and write it in bulk (SQLite does: store_sqlite.c).
 * So a read of it names the cursor it must include (usually
 * ot_store_last_cursor: every acknowledged write) and waits until the
 * derived data holds everything up to it. On an HTTP thread, wait without
 * blocking first: ot_store_derived_ready, and when it says no, submit a
 * write with only flush_derived set and read once it is done. */
int ot_store_derived_ready(ot_store *s, int64_t upto);

/* Telemetry rows of a twin (asset optional) with start <= ts < end, oldest
 * first (ties by event_id), at most limit. JSON array of telemetry.v1
 * objects; caller owns. Includes every record up to cursor upto (waits for
 * it; see ot_store_derived_ready). */
json_t *ot_store_query_telemetry(ot_store *s, int64_t upto, const char *twin_id,
                                 const char *asset_id, int64_t start_us, int64_t end_us, int limit,
                                 ot_error *err);

/* Time-bucketed aggregate of one metric of a twin (asset optional) over
 * [start, end): JSON array of {"bucket": RFC3339, "value", "count"}, oldest
 * first, at most max_buckets. Includes every record up to cursor upto
 * (waits for it; see ot_store_derived_ready). */
json_t *ot_store_aggregate(ot_store *s, int64_t upto, const char *twin_id, const char *asset_id,
                           const char *metric, int64_t start_us, int64_t end_us,
                           int64_t window_us, enum ot_agg_fn fn, int max_buckets,
                           ot_error *err);

/* Latest value per (asset, metric) of a twin, or of every twin when twin_id
 * is NULL: JSON object {twin_id: {asset_id: {metric: {"value","ts"}}}}.
 * Includes every record up to cursor upto, as ot_store_aggregate. */
json_t *ot_store_latest(ot_store *s, int64_t upto, const char *twin_id, ot_error *err);

/* --- the audit chain ----------------------------------------------------------- */

#define OT_AUDIT_HASH_HEX 65

/* The canonical record text into b (reset first): the JSON object
 * {"action","actor","details","seq","target","ts"}, keys sorted, compact,
 * byte-identical to its ot_json_dumps with JSON_COMPACT | JSON_SORT_KEYS. actor NULL = "anonymous"; details
 * NULL = details_json copied as it is (the caller's canonical text), or
 * null when that is NULL too. 0 or OT_ENOMEM. */
int ot_audit_render(ot_buf *b, int64_t seq, int64_t ts_us, const char *actor,
                    const char *action, const char *target, const json_t *details,
                    const char *details_json);

/* hash = hex(SHA-256(prev_hex || record)). out >= OT_AUDIT_HASH_HEX. */
void ot_audit_hash(const char *prev_hex, const char *record, size_t len, char *out);

/* One stored audit row, as read back (strings borrowed during the call). */
typedef struct ot_audit_row {
    int64_t seq;
    const char *record;     /* canonical JSON as hashed */
    const char *prev_hash;
    const char *hash;
} ot_audit_row;

/* Audit rows with seq > after, in order, at most limit; fn returns nonzero
 * to stop. Returns the count or a negative error. */
int ot_store_read_audit(ot_store *s, int64_t after, int limit,
                        int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err);

/* Health: "ok", "degraded" or "down", with detail (backend, queue depth,
 * last error) added to detail. */
const char *ot_store_health(ot_store *s, json_t *detail);

/* Append Prometheus lines (queue depth, commits, batch sizes). */
struct ot_buf;
void ot_store_metrics(ot_store *s, struct ot_buf *out);

#endif
