/* store_pg_int.h - state shared by the PostgreSQL backend's files
 * (store_pg.c, store_pg_write.c, store_pg_read.c, store_pg_schema.c);
 * internal to src/store/.
 *
 * Ownership: the writer connection `w` and everything under "writer thread"
 * belong to the store's writer thread; a pooled reader connection belongs to
 * whoever acquired it; `m` and the partition bookkeeping to the maintenance
 * thread. `up` and `last_error` may be touched by any thread (atomic, err_mu).
 */
#ifndef OT_STORE_PG_INT_H
#define OT_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/strmap.h"
#include "store/backend.h"
#include "store/rollup.h"

#define DAY_US 86400000000LL

/* a bigint parameter as text in buf (an array) */
#define I64(buf, x) (snprintf(buf, sizeof buf, "%lld", (long long)(x)), buf)

/* prepared statements: writer "w<k>", reader "r<k>" */
enum wstmt { W_LOOKUP_TEL, W_SERIES_GET, W_SERIES_INS, W_SERIES_SET, W_PUT_DOC, W_PUT_AUDIT,
             W_ROLLUP, W_LAST_CURSOR, W_LAST_AUDIT, W_NSTMT };
enum rstmt { R_EVENTS, R_EVENTS_TWIN, R_EVENTS_RARE, R_EVENTS_RARE_TWIN, R_TEL_GET, R_DOC_GET,
             R_DOCS, R_TEL_QUERY, R_LATEST, R_LATEST_TWIN, R_AUDIT, R_AGG_POINTS, R_AGG_ROLLUPS,
             R_NSTMT };

/* One connection with its reconnect state. */
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

typedef struct pg_be {
    char url[1024];
    char shown_url[256];    /* password masked, for messages */
    int timescale;
    char rsql_agg[2][1024]; /* R_AGG_POINTS, R_AGG_ROLLUPS for this layout */

    /* writer thread */
    pg_conn w;
    int in_tx;              /* a transaction is open on w: never reconnect under it */
    char txid[24];          /* the open transaction's txid_current(), "" when unknown */
    int reconnected;        /* the writer connection was re-established */
    ot_buf cp_tel, cp_pts, cp_ev;
    ot_strmap pending;      /* event_id -> cursor, telemetry of the open transaction */
    ot_strmap series;       /* "twin\x1fasset\x1fmetric" -> struct series_entry * */
    struct series_entry **dirty, **seen;
    size_t ndirty, dirty_cap, seen_cap;
    ot_rollups acc;         /* this transaction's rollup_1m additions */
    ot_buf arr[7];          /* array literals for the unnest statements */
    ot_buf aud[5];          /* the group's audit records as array literals, inserted
                             * with one unnest statement at COMMIT */

    /* readers */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    pg_conn *pool, *free_list;
    int npool;

    /* maintenance thread: ping, partitions ahead, retention's drops */
    pthread_t mt;
    int mt_started, mt_stop;
    pthread_mutex_t mt_mu;
    pthread_cond_t mt_cv;
    pg_conn m;
    int64_t parts_done_day;
    int64_t retention_cutoff; /* under mt_mu: drop what is older (pg_retention) */
    PGcancel *mt_cancel;      /* under mt_mu: set while retention runs, so that be_close
                               * cancels its statement instead of waiting for it */

    atomic_int up;
    pthread_mutex_t err_mu;
    char last_error[OT_ERROR_MSG_MAX];
} pg_be;

/* --- store_pg.c ------------------------------------------------------------ */

/* Mark the database down with msg (any thread). */
void pg_note_down(pg_be *be, const char *msg);

/* A libpq message on one line, without its trailing newline, into out. */
const char *pg_clean_msg(const char *m, char *out, size_t n);

/* Fill err from a failed result (r may be NULL): OT_EUNAVAIL when the
 * connection is gone or the server is shutting down, else OT_EIO. */
int pg_fail(pg_be *be, PGconn *c, const PGresult *r, ot_error *err, const char *what);

/* Run sql (no parameters) expecting success. */
int pg_exec_ok(pg_be *be, PGconn *c, const char *sql, ot_error *err, const char *what);

/* Connect pc if it is not (honouring its backoff), set the session up and
 * prepare its statements (prepare = 1). */
int pg_conn_ensure(pg_be *be, pg_conn *pc, int writer, int prepare, ot_error *err);

/* Run prepared statement k; the result (caller clears) or NULL with err. */
PGresult *pg_run(pg_be *be, pg_conn *pc, int writer, int k, int n, const char *const *v,
                 ot_error *err, const char *what);

/* --- store_pg_write.c: the writer thread's backend operations (backend.h) --- */

int pg_begin(void *be, ot_error *err);
int pg_commit(void *be, int *sync_fd, ot_error *err);
void pg_rollback(void *be);
int pg_reconnected(void *be);
int pg_last_cursor(void *be, int64_t *last, int64_t *oldest, ot_error *err);
int pg_lookup_tel(void *be, const char *event_id, int64_t *cursor, ot_error *err);
int pg_put_tel(void *be, const ot_store_tel *t, int64_t cursor, ot_error *err);
int pg_put_event(void *be, const ot_event *ev, const char *id, const char *ref_type,
                 const char *extra, size_t extra_len, ot_error *err);
int pg_put_doc(void *be, const ot_store_doc *d, int64_t now_us, ot_error *err);
int pg_last_audit(void *be, int64_t *seq, char *hash_hex, ot_error *err);
int pg_put_audit(void *be, int64_t seq, int64_t ts_us, const char *record, const char *prev_hash,
                 const char *hash, ot_error *err);

/* --- store_pg_schema.c ------------------------------------------------------- */

/* Migrate the schema on c (one transaction, advisory lock) and read the
 * time layout into be->timescale. */
int pg_migrate(pg_be *be, PGconn *c, ot_error *err);

/* Native layout: create the day partitions ahead that are missing. */
void pg_ensure_partitions(pg_be *be, PGconn *c);

/* The maintenance thread: ping every second, partitions hourly, and the
 * telemetry, points and rollups that pg_retention found expired. */
void *pg_maint_main(void *be);

int pg_retention(void *be, int64_t cutoff_us, int64_t *oldest, int *more, ot_error *err);

/* --- store_pg_read.c --------------------------------------------------------- */

/* Build the layout's aggregate statements (after pg_migrate). */
void pg_reader_init(pg_be *be);

/* SQL of reader statement k. */
const char *pg_reader_sql(const pg_be *be, int k);

int pg_read_events(void *be, int64_t after, int limit, const ot_event_filter *f,
                   int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to,
                   ot_error *err);
char *pg_get_doc(void *be, const char *type, const char *id, ot_error *err);
json_t *pg_list_docs(void *be, const char *type, const char *twin_id, const char *status,
                     int limit, ot_error *err);
json_t *pg_query_telemetry(void *be, const char *twin_id, const char *asset_id,
                           int64_t start_us, int64_t end_us, int limit, ot_error *err);
json_t *pg_aggregate(void *be, const char *twin_id, const char *asset_id, const char *metric,
                     int64_t start_us, int64_t end_us, int64_t window_us, enum ot_agg_fn fn,
                     int max_buckets, ot_error *err);
json_t *pg_latest(void *be, const char *twin_id, ot_error *err);
int pg_read_audit(void *be, int64_t after, int limit,
                  int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err);

#endif
