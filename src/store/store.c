/* store.c - the backend-neutral store API: open and close (the writer and
 * syncer threads of store_writer.c, which has the group commit and its
 * diagram), submitting writes, reads (waiting for derived data where they
 * must), health and metrics; and the text of events and audit records,
 * which the writer and the readers share.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/evtype.h"
#include "core/hex.h"
#include "core/log.h"
#include "store/store_int.h"

#include <openssl/evp.h>

/* An idle writer writes the backend's waiting derived data (store.h) after
 * this long without writes (unless ot_store_options.derived_delay_ms). */
#define DERIVED_IDLE_MS 20

/* --- event rendering --------------------------------------------------- */

int ot_event_render(ot_buf *bp, int64_t cursor, int type, int64_t ts_us, const char *twin_id,
                    const char *id, const char *ref_type, const char *extra, size_t extra_len)
{
    char ts[OT_TS_BUFSZ], cur[OT_CURSOR_BUFSZ];
    const char *name = ot_evtype_name(type);
    ot_buf_reset(bp);
    ot_buf_puts(bp, "{\"type\":\"");
    ot_buf_puts(bp, name ? name : "");
    ot_buf_puts(bp, "\",\"ts\":\"");
    ot_buf_puts(bp, ot_ts_format(ts_us, ts));
    ot_buf_puts(bp, "\",\"twin_id\":");
    ot_buf_json_string(bp, twin_id);
    ot_buf_puts(bp, ",\"id\":");
    ot_buf_json_string(bp, id);
    ot_buf_puts(bp, ",\"cursor\":\"");
    ot_buf_puts(bp, ot_cursor_format(cursor, cur));
    ot_buf_puts(bp, "\",\"data_ref\":{\"type\":");
    ot_buf_json_string(bp, ref_type);
    ot_buf_puts(bp, ",\"id\":");
    ot_buf_json_string(bp, id);
    ot_buf_puts(bp, "}");
    if (extra && extra_len) {
        ot_buf_puts(bp, ",");
        ot_buf_append(bp, extra, extra_len);
    }
    ot_buf_puts(bp, "}");
    return ot_buf_failed(bp) ? OT_ENOMEM : 0;
}

long ot_series_key(char *key, size_t cap, const char *twin, const char *asset,
                   const char *metric, ot_error *err)
{
    size_t lt = strlen(twin), la = strlen(asset), lm = strlen(metric);
    size_t n = lt + la + lm + 2;
    if (n >= cap) {
        ot_error_set(err, OT_EINVAL, NULL, "series key too long");
        return -1;
    }
    memcpy(key, twin, lt);
    key[lt] = '\x1f';
    memcpy(key + lt + 1, asset, la);
    key[lt + 1 + la] = '\x1f';
    memcpy(key + lt + la + 2, metric, lm);
    key[n] = '\0';
    return (long)n;
}

/* SHA-256 fetched from OpenSSL's provider once: EVP_sha256() in every
 * digest would look it up again (a lock and a table search per record). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

void ot_audit_hash(const char *prev_hex, const char *record, size_t len, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    pthread_once(&sha256_once, sha256_fetch);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, sha256_md ? sha256_md : EVP_sha256(), NULL);
    EVP_DigestUpdate(c, prev_hex, strlen(prev_hex));
    EVP_DigestUpdate(c, record, len);
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    ot_hex_encode(md, n < 32 ? n : 32, out);
}

/* The canonical text of an audit record: what ot_json_dumps gives for the
 * same object with JSON_COMPACT | JSON_SORT_KEYS (the keys below are in
 * that order), without building it for every write. */
int ot_audit_render(ot_buf *b, int64_t seq, int64_t ts_us, const char *actor,
                    const char *action, const char *target, const json_t *details,
                    const char *details_json)
{
    char ts[OT_TS_BUFSZ], num[24];
    ot_buf_reset(b);
    ot_buf_puts(b, "{\"action\":");
    ot_buf_json_string(b, action ? action : "");
    ot_buf_puts(b, ",\"actor\":");
    ot_buf_json_string(b, actor ? actor : "anonymous");
    ot_buf_puts(b, ",\"details\":");
    if (details)
        ot_buf_json(b, details, JSON_COMPACT | JSON_SORT_KEYS);
    else
        ot_buf_puts(b, details_json ? details_json : "null");
    snprintf(num, sizeof num, "%lld", (long long)seq);
    ot_buf_puts(b, ",\"seq\":");
    ot_buf_puts(b, num);
    ot_buf_puts(b, ",\"target\":");
    ot_buf_json_string(b, target ? target : "");
    ot_buf_puts(b, ",\"ts\":\"");
    ot_buf_puts(b, ot_ts_format(ts_us, ts));
    ot_buf_puts(b, "\"}");
    return ot_buf_failed(b) ? OT_ENOMEM : 0;
}

/* --- public API ---------------------------------------------------------- */

/* One process per data folder: a second writer (another server, or `opstwin
 * ingest --data-dir`) would hand out the same cursors. The kernel drops the
 * lock when the process dies, kill -9 included. */
static int lock_data_dir(ot_store *s, ot_error *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/opstwin.lock", s->data_dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0)
        return ot_error_set(err, OT_EIO, NULL, "cannot open %s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    int e = errno;
    close(s->lock_fd);
    s->lock_fd = -1;
    if (e == EWOULDBLOCK)
        return ot_error_set(err, OT_EBUSY, NULL,
                            "the data folder %s is in use by another opstwin process (a "
                            "running server?)",
                            s->data_dir);
    return ot_error_set(err, OT_EIO, NULL, "cannot lock %s: %s", path, strerror(e));
}

/* After the writer: publish what it handed over, then stop. */
static void stop_syncer(ot_store *s)
{
    if (!s->syncer_started)
        return;
    pthread_mutex_lock(&s->smu);
    s->sclosing = 1;
    pthread_cond_signal(&s->scv);
    pthread_mutex_unlock(&s->smu);
    pthread_join(s->syncer, NULL);
    s->syncer_started = 0;
}

int ot_store_open(const ot_store_options *opt, ot_store **out, ot_error *err)
{
    ot_store *s = calloc(1, sizeof *s);
    if (!s)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    s->opt = *opt;
    s->derived_idle_ms = opt->derived_delay_ms > 0 ? opt->derived_delay_ms : DERIVED_IDLE_MS;
    s->lock_fd = -1;
    snprintf(s->data_dir, sizeof s->data_dir, "%s", opt->data_dir ? opt->data_dir : ".");
    snprintf(s->database_url, sizeof s->database_url, "%s",
             opt->database_url ? opt->database_url : "");
    s->opt.data_dir = s->data_dir;
    s->opt.database_url = s->database_url;
    if (s->opt.queue_limit <= 0)
        s->opt.queue_limit = 65536;
    if (!s->database_url[0]) {
        s->ops = &ot_sqlite_backend;
    } else if (strncmp(s->database_url, "postgresql://", 13) == 0 ||
               strncmp(s->database_url, "postgres://", 11) == 0) {
        s->ops = &ot_pg_backend;
    } else {
        free(s);
        return ot_error_set(err, OT_EINVAL, "DATABASE_URL",
                            "DATABASE_URL must be empty (SQLite in DATA_DIR) or a PostgreSQL URL "
                            "(postgresql://user@host:port/dbname)");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->err_mu, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_mutex_init(&s->hook_mu, NULL);
    pthread_cond_init(&s->scv, NULL);
    pthread_cond_init(&s->sdone, NULL);
    int rc = lock_data_dir(s, err);
    if (rc)
        goto fail;
    rc = s->ops->open(&s->opt, &s->be, err);
    if (rc)
        goto fail;
    int64_t last = 0, oldest = 0;
    rc = s->ops->last_cursor(s->be, &last, &oldest, err);
    if (rc)
        goto fail;
    atomic_store(&s->last_cursor, last);
    atomic_store(&s->oldest_cursor, oldest);
    s->next_cursor = last + 1;
    rc = s->ops->last_audit(s->be, &s->audit_seq, s->audit_hash, err);
    if (rc)
        goto fail;
    atomic_store(&s->healthy, 1);
    if (pthread_create(&s->syncer, NULL, store_syncer_main, s)) {
        rc = ot_error_set(err, OT_EIO, NULL, "cannot start the store syncer thread");
        goto fail;
    }
    pthread_setname_np(s->syncer, "store-syncer");
    s->syncer_started = 1;
    if (pthread_create(&s->writer, NULL, store_writer_main, s)) {
        rc = ot_error_set(err, OT_EIO, NULL, "cannot start the store writer thread");
        goto fail;
    }
    pthread_setname_np(s->writer, "store-writer");
    s->writer_started = 1;
    *out = s;
    return 0;
fail:
    stop_syncer(s);
    if (s->be)
        s->ops->close(s->be);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
    return rc;
}

void ot_store_close(ot_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->writer_started)
        pthread_join(s->writer, NULL);
    stop_syncer(s);
    s->ops->close(s->be);
    close(s->lock_fd); /* releases the flock */
    ot_buf_free(&s->scratch);
    ot_buf_free(&s->scratch_extra);
    for (struct group *g = s->spare, *gn; g; g = gn) {
        gn = g->next;
        store_evvec_free(&g->evs);
        free(g);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->err_mu);
    pthread_mutex_destroy(&s->smu);
    pthread_mutex_destroy(&s->hook_mu);
    pthread_cond_destroy(&s->scv);
    pthread_cond_destroy(&s->sdone);
    free(s);
}

int ot_store_submit(ot_store *s, ot_store_write *w)
{
    long items = store_write_items(w);
    pthread_mutex_lock(&s->mu);
    if (s->closing) {
        pthread_mutex_unlock(&s->mu);
        return OT_EUNAVAIL;
    }
    /* a single write larger than the limit is still accepted on an empty
     * queue, or it could never be stored */
    if (s->pending > 0 && s->pending + items > s->opt.queue_limit) {
        pthread_mutex_unlock(&s->mu);
        return OT_EBUSY;
    }
    w->next = NULL;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    s->pending += items;
    atomic_store(&s->queue_depth, s->pending);
    int wake = s->writer_waits;
    s->writer_waits = 0;
    pthread_mutex_unlock(&s->mu);
    if (wake) /* after unlocking, so the writer does not wake into our lock */
        pthread_cond_signal(&s->cv);
    return 0;
}

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void sync_done(ot_store_write *w, void *ctx)
{
    struct sync_wait *sw = ctx;
    (void)w;
    pthread_mutex_lock(&sw->mu);
    sw->done = 1;
    pthread_cond_signal(&sw->cv);
    pthread_mutex_unlock(&sw->mu);
}

int ot_store_write_sync(ot_store *s, ot_store_write *w)
{
    struct sync_wait sw = {.done = 0};
    pthread_mutex_init(&sw.mu, NULL);
    pthread_cond_init(&sw.cv, NULL);
    w->done = sync_done;
    w->ctx = &sw;
    int rc;
    while ((rc = ot_store_submit(s, w)) == OT_EBUSY) {
        struct timespec d = {0, 2 * 1000000};
        nanosleep(&d, NULL);
    }
    if (rc == 0) {
        pthread_mutex_lock(&sw.mu);
        while (!sw.done)
            pthread_cond_wait(&sw.cv, &sw.mu);
        pthread_mutex_unlock(&sw.mu);
        rc = w->rc;
    } else {
        ot_error_set(&w->err, rc, NULL, "the store is closing");
        w->rc = rc;
    }
    pthread_mutex_destroy(&sw.mu);
    pthread_cond_destroy(&sw.cv);
    return rc;
}

int64_t ot_store_last_cursor(ot_store *s) { return atomic_load(&s->last_cursor); }
int64_t ot_store_oldest_cursor(ot_store *s) { return atomic_load(&s->oldest_cursor); }

struct bounded_read {
    int (*fn)(void *ctx, const ot_event *ev);
    void *ctx;
    int64_t upto;
    int past;
};

static int bounded_event(void *ctx, const ot_event *ev)
{
    struct bounded_read *b = ctx;
    if (ev->cursor > b->upto) {
        b->past = 1;
        return 1;
    }
    return b->fn(b->ctx, ev);
}

/* Only what is published: the database may already hold a commit whose
 * fsync is still running (see the top of this file). */
int ot_store_read_events(ot_store *s, int64_t after, int limit, const ot_event_filter *f,
                         int (*fn)(void *ctx, const ot_event *ev), void *ctx,
                         int64_t *scanned_to, ot_error *err)
{
    struct bounded_read b = {fn, ctx, atomic_load(&s->last_cursor), 0};
    if (after >= b.upto) {
        *scanned_to = after;
        return 0;
    }
    int n = s->ops->read_events(s->be, after, limit, f, bounded_event, &b, scanned_to, err);
    if (n > 0 && b.past)
        n--; /* the backend counted the event it offered past the bound */
    if (n >= 0 && *scanned_to > b.upto)
        *scanned_to = b.upto;
    return n;
}

char *ot_store_get_doc(ot_store *s, const char *type, const char *id, ot_error *err)
{
    return s->ops->get_doc(s->be, type, id, err);
}

json_t *ot_store_list_docs(ot_store *s, const char *type, const char *twin_id,
                           const char *status, int limit, ot_error *err)
{
    return s->ops->list_docs(s->be, type, twin_id, status, limit, err);
}

int ot_store_derived_ready(ot_store *s, int64_t upto)
{
    int64_t lo = s->ops->derived_pending ? s->ops->derived_pending(s->be) : 0;
    return lo == 0 || lo > upto;
}

/* Wait (blocking) until the derived data holds every record up to upto. */
static int derived_wait(ot_store *s, int64_t upto, ot_error *err)
{
    if (ot_store_derived_ready(s, upto))
        return 0;
    ot_store_write w = {.flush_derived = 1};
    int rc = ot_store_write_sync(s, &w);
    if (rc && err)
        *err = w.err;
    return rc;
}

json_t *ot_store_query_telemetry(ot_store *s, int64_t upto, const char *twin_id,
                                 const char *asset_id, int64_t start_us, int64_t end_us, int limit,
                                 ot_error *err)
{
    if (derived_wait(s, upto, err))
        return NULL;
    return s->ops->query_telemetry(s->be, twin_id, asset_id, start_us, end_us, limit, err);
}

json_t *ot_store_aggregate(ot_store *s, int64_t upto, const char *twin_id, const char *asset_id,
                           const char *metric, int64_t start_us, int64_t end_us,
                           int64_t window_us, enum ot_agg_fn fn, int max_buckets, ot_error *err)
{
    if (derived_wait(s, upto, err))
        return NULL;
    return s->ops->aggregate(s->be, twin_id, asset_id, metric, start_us, end_us, window_us, fn,
                             max_buckets, err);
}

int ot_store_read_audit(ot_store *s, int64_t after, int limit,
                        int (*fn)(void *ctx, const ot_audit_row *row), void *ctx, ot_error *err)
{
    return s->ops->read_audit(s->be, after, limit, fn, ctx, err);
}

json_t *ot_store_latest(ot_store *s, int64_t upto, const char *twin_id, ot_error *err)
{
    if (derived_wait(s, upto, err))
        return NULL;
    return s->ops->latest(s->be, twin_id, err);
}

const char *ot_store_health(ot_store *s, json_t *detail)
{
    json_object_set_new(detail, "backend", json_string(s->ops->name));
    json_object_set_new(detail, "queue_depth", json_integer(atomic_load(&s->queue_depth)));
    json_object_set_new(detail, "last_cursor", json_integer(atomic_load(&s->last_cursor)));
    const char *be = s->ops->health ? s->ops->health(s->be, detail) : NULL;
    if (be)
        return be;
    if (atomic_load(&s->wal_failed)) {
        json_object_set_new(detail, "last_error", json_string(s->wal_error));
        return "down";
    }
    if (atomic_load(&s->healthy))
        return "ok";
    pthread_mutex_lock(&s->err_mu);
    json_object_set_new(detail, "last_error", json_string(s->last_error));
    pthread_mutex_unlock(&s->err_mu);
    return "degraded";
}

void ot_store_metrics(ot_store *s, ot_buf *out)
{
    ot_buf_printf(out,
                  "# HELP opstwin_store_commits_total Durable transactions (group commits).\n"
                  "# TYPE opstwin_store_commits_total counter\n"
                  "opstwin_store_commits_total %lu\n"
                  "# HELP opstwin_store_committed_items_total Items committed (telemetry or writes).\n"
                  "# TYPE opstwin_store_committed_items_total counter\n"
                  "opstwin_store_committed_items_total %lu\n"
                  "# HELP opstwin_store_failures_total Failed transactions.\n"
                  "# TYPE opstwin_store_failures_total counter\n"
                  "opstwin_store_failures_total %lu\n"
                  "# HELP opstwin_store_queue_depth Items waiting for the writer.\n"
                  "# TYPE opstwin_store_queue_depth gauge\n"
                  "opstwin_store_queue_depth %ld\n"
                  "# HELP opstwin_events_last_cursor Last committed cursor.\n"
                  "# TYPE opstwin_events_last_cursor gauge\n"
                  "opstwin_events_last_cursor %lld\n",
                  atomic_load(&s->commits), atomic_load(&s->committed_items),
                  atomic_load(&s->failures), atomic_load(&s->queue_depth),
                  (long long)atomic_load(&s->last_cursor));
}
