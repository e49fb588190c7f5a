/* store.c - the group-commit writer and the backend-neutral store API.
 *
 *   HTTP threads              writer thread                syncer thread
 *   ------------              -------------                -------------
 *   ot_store_submit(w) -->    take every queued write
 *   (connection suspended)    (up to a group)
 *                             BEGIN
 *                             per write: idempotency check,
 *                               rows, cursors next, next+1,
 *                               ..., events
 *                             COMMIT (WAL written, its
 *                               fsync left to the syncer)  --> take every committed group
 *                             next group meanwhile             one fdatasync for all of them
 *                                                              on_commit(events) -> ring, SSE
 *                                                              last_cursor published
 *   resumed, replies   <------------------------------------  done(w) for each write
 *                                                              on_completed() (detector kick)
 *
 * The writer builds group N+1 while group N is synced, so a commit costs
 * max(CPU, fsync) instead of their sum. Nothing is acknowledged or shown to
 * an event reader (ring, /diff, SSE, ot_store_read_events, last_cursor)
 * before its fsync; the backends' other reads may see a commit a moment
 * before it is durable. A group that fails is retried write by write, so
 * one bad write cannot fail its neighbours; a write that fails alone is
 * reported to its caller. Cursors are only advanced when a transaction
 * commits, so the log stays gap-free. A failed fsync of the WAL stops all
 * writing until a restart (fail_wal): what was committed since the last good
 * fsync is answered 503 and never shown, so the log ends where durability
 * ended, and a restart recovers what is on disk.
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
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/evtype.h"
#include "core/hex.h"
#include "core/log.h"
#include "store/backend.h"

#include <openssl/evp.h>

#define GROUP_MAX_ITEMS 8192       /* telemetry items per transaction */
#define GROUP_SPARE_EVENTS 8192    /* a spare group keeps room for this many events at most */
/* An idle writer writes the backend's waiting derived data (store.h) after
 * this long without writes (unless ot_store_options.derived_delay_ms). */
#define DERIVED_IDLE_MS 20
/* Committed groups waiting for the syncer to take them. Few: groups
 * committed while an fsync runs are all acknowledged by the next one, so
 * past this the writer waits and lets the writes that keep arriving make one
 * larger group instead of many small ones (each with its own fixed cost).
 * Measured with single-event ingest: 8 -> 9 items per group, 2 -> 15, and
 * about 10% less CPU per event (bench/RESULTS.md). */
#define SYNC_MAX_GROUPS 2

/* A committed (or failed) group on its way to the syncer. */
typedef struct evvec {
    ot_event *v;
    size_t *off;                   /* where v[i]'s JSON starts in text */
    size_t n, cap;
    ot_buf text;                   /* every event's JSON, each NUL-terminated */
} evvec;

struct group {
    ot_store_write *list;          /* every write of the group, rc/err already set */
    evvec evs;                     /* events of the writes that committed */
    int sync_fd;                   /* fdatasync before acknowledging, or -1 */
    unsigned long commits, items;  /* transactions and items that committed */
    struct group *next;
};
/* Retention passes once a minute. While a pass stops short of the cutoff
 * (a bounded pass: backend.h), the next one follows after as long as this
 * one held the writer, and at least RETENTION_BUSY_US: a round that is
 * behind takes at most about half of the writer's time. */
#define RETENTION_EVERY_US (60LL * 1000000)
#define RETENTION_BUSY_US (10LL * 1000)

struct ot_store {
    const ot_backend_ops *ops;
    void *be;
    ot_store_options opt;
    char data_dir[512];
    char database_url[512];
    int lock_fd;                   /* DATA_DIR/opstwin.lock, flock'ed exclusively */

    pthread_t writer;
    int writer_started;
    pthread_mutex_t mu;            /* queue, closing */
    pthread_cond_t cv;
    ot_store_write *head, *tail;
    long pending;                  /* queued telemetry items */
    int closing;
    int derived_idle_ms;           /* see DERIVED_IDLE_MS */
    atomic_int idle_flush_failed;  /* the writer's last idle flush failed */

    pthread_t syncer;
    int syncer_started;
    pthread_mutex_t smu;           /* the sync queue */
    pthread_cond_t scv;            /* work for the syncer */
    pthread_cond_t sdone;          /* room in, or an empty, sync queue */
    struct group *shead, *stail;
    int sgroups, sbusy, sclosing;
    int64_t next_cursor;           /* writer thread: the next cursor to hand out */
    pthread_mutex_t hook_mu;       /* on_completed */
    void (*on_completed)(void *ctx);
    void *on_completed_ctx;

    atomic_llong last_cursor;      /* the last durable, published cursor */
    atomic_llong oldest_cursor;
    atomic_ulong commits, failures, committed_items;
    atomic_long queue_depth;
    atomic_int healthy;            /* 0 after a failed transaction, 1 after a good one */
    atomic_int wal_failed;         /* sticky: a WAL fsync failed, writes are refused */
    char wal_error[OT_ERROR_MSG_MAX]; /* why; written once, before wal_failed is set */
    pthread_mutex_t err_mu;
    char last_error[OT_ERROR_MSG_MAX];
    int64_t next_retention_us; /* writer thread */
    ot_buf scratch, scratch_extra; /* writer thread: event rendering */
    int64_t audit_seq;             /* writer thread: chain head */
    struct group *spare;           /* groups the syncer is done with, for reuse (smu) */
    int nspare;
    char audit_hash[OT_AUDIT_HASH_HEX];
};

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

/* The extra members of an event: asset_id for telemetry, else extra's. */
static void render_extra(ot_buf *x, const char *asset_id, json_t *extra)
{
    ot_buf_reset(x);
    if (asset_id) {
        ot_buf_puts(x, "\"asset_id\":");
        ot_buf_json_string(x, asset_id);
    }
    if (extra && json_object_size(extra)) {
        char *t = ot_json_dumps(extra, JSON_COMPACT);
        if (t && t[0] == '{') {
            if (x->len)
                ot_buf_puts(x, ",");
            ot_buf_append(x, t + 1, strlen(t) - 2);
        }
        free(t);
    }
}

/* --- the writer ---------------------------------------------------------- */

/* Append an event whose JSON is json[0..len); its json pointer is set by
 * evvec_seal, once text stops moving. NULL when out of memory. */
static ot_event *evvec_push(evvec *e, const char *json, size_t len)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        ot_event *v = realloc(e->v, cap * sizeof *v);
        if (v)
            e->v = v;
        size_t *off = v ? realloc(e->off, cap * sizeof *off) : NULL;
        if (!off)
            return NULL;
        e->off = off;
        e->cap = cap;
    }
    size_t at = e->text.len;
    ot_buf_append(&e->text, json, len);
    ot_buf_append(&e->text, "", 1);
    if (ot_buf_failed(&e->text))
        return NULL;
    ot_event *ev = &e->v[e->n];
    memset(ev, 0, sizeof *ev);
    ev->json_len = len;
    e->off[e->n++] = at;
    return ev;
}

/* Point every event at its JSON, before the events are handed on. */
static void evvec_seal(evvec *e)
{
    for (size_t i = 0; i < e->n; i++)
        e->v[i].json = e->text.data + e->off[i];
}

/* Drop the events from index keep on (a rolled-back transaction's). */
static void evvec_truncate(evvec *e, size_t keep)
{
    if (keep < e->n) {
        e->text.len = e->off[keep];
        e->n = keep;
    }
}

static void evvec_clear(evvec *e)
{
    e->n = 0;
    ot_buf_reset(&e->text);
}

static void evvec_free(evvec *e)
{
    free(e->v);
    free(e->off);
    ot_buf_free(&e->text);
    memset(e, 0, sizeof *e);
}

static int append_event(ot_store *s, evvec *evs, int64_t *next, int type, const char *twin_id,
                        const char *id, const char *ref_type, const char *asset_id,
                        json_t *extra, int64_t ts_us, int64_t *cursor_out, ot_error *err)
{
    int64_t cursor = *next;
    ts_us = ts_us ? ts_us : ot_now_us();
    char twin[OT_EVENT_TWIN_MAX];
    ot_strlcpy(twin, twin_id, sizeof twin);
    render_extra(&s->scratch_extra, asset_id, extra);
    ot_event *ev = NULL;
    if (ot_event_render(&s->scratch, cursor, type, ts_us, twin, id, ref_type,
                        s->scratch_extra.data, s->scratch_extra.len) ||
        ot_buf_failed(&s->scratch_extra) ||
        !(ev = evvec_push(evs, s->scratch.data, s->scratch.len)))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory rendering events");
    (*next)++;
    ev->cursor = cursor;
    ev->type = type;
    ev->ts_us = ts_us;
    memcpy(ev->twin_id, twin, sizeof twin);
    *cursor_out = cursor;
    return s->ops->put_event(s->be, ev, id, ref_type, s->scratch_extra.data, s->scratch_extra.len,
                             err);
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

/* Chain and append w's audit record. Writer thread; the chain head moves
 * only when the transaction commits (commit_group keeps a copy). */
static int append_audit(ot_store *s, ot_store_audit *a, ot_error *err)
{
    char hash[OT_AUDIT_HASH_HEX];
    int64_t now = ot_now_us();
    if (ot_audit_render(&s->scratch, s->audit_seq + 1, now, a->actor, a->action, a->target,
                        a->details, a->details_json))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory writing the audit record");
    ot_audit_hash(s->audit_hash, s->scratch.data, s->scratch.len, hash);
    int rc = s->ops->put_audit(s->be, s->audit_seq + 1, now, s->scratch.data, s->audit_hash,
                               hash, err);
    if (rc)
        return rc;
    s->audit_seq++;
    memcpy(s->audit_hash, hash, sizeof hash);
    a->seq = s->audit_seq;
    return 0;
}

static int apply_write(ot_store *s, ot_store_write *w, evvec *evs, int64_t *next, ot_error *err)
{
    int rc;
    if (w->flush_derived && s->ops->derived_flush)
        s->ops->derived_flush(s->be);
    if (w->audit && (rc = append_audit(s, w->audit, err)))
        return rc;
    for (size_t i = 0; i < w->ntels; i++) {
        ot_store_tel *t = &w->tels[i];
        int64_t found = 0;
        t->duplicate = 0;
        rc = t->client_id ? s->ops->lookup_tel(s->be, t->event_id, &found, err) : 0;
        if (rc < 0)
            return rc;
        if (rc == 1) {
            t->cursor = found;
            t->duplicate = 1;
            continue;
        }
        int64_t cursor = *next;
        rc = s->ops->put_tel(s->be, t, cursor, err);
        if (rc)
            return rc;
        rc = append_event(s, evs, next, OT_EV_TELEMETRY_APPENDED, t->twin_id, t->event_id,
                          "telemetry", t->asset_id, NULL, 0, &t->cursor, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < w->ndocs; i++) {
        rc = s->ops->put_doc(s->be, &w->docs[i], ot_now_us(), err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < w->nevents; i++) {
        ot_store_event *e = &w->events[i];
        rc = append_event(s, evs, next, e->type, e->twin_id, e->id, e->ref_type, NULL,
                          e->extra, e->ts_us, &e->cursor, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* What a write counts as in the queue's limit and the commit metrics: its
 * telemetry records, 0 for a bare flush of derived data, else 1. */
static long write_items(const ot_store_write *w)
{
    if (w->ntels)
        return (long)w->ntels;
    return w->flush_derived && !w->ndocs && !w->nevents && !w->audit ? 0 : 1;
}

static void note_failure(ot_store *s, const ot_error *err)
{
    atomic_store(&s->healthy, 0);
    atomic_fetch_add(&s->failures, 1);
    pthread_mutex_lock(&s->err_mu);
    snprintf(s->last_error, sizeof s->last_error, "%s", err->message);
    pthread_mutex_unlock(&s->err_mu);
}

static int collect_event(void *ctx, const ot_event *ev)
{
    evvec *e = ctx;
    ot_event *c = evvec_push(e, ev->json, ev->json_len);
    if (!c)
        return 1;
    c->cursor = ev->cursor;
    c->type = ev->type;
    c->ts_us = ev->ts_us;
    memcpy(c->twin_id, ev->twin_id, sizeof c->twin_id);
    return 0;
}

/* The backend's writer connection was re-established: a COMMIT whose reply
 * was lost may have committed after all. Take the cursor and audit head from
 * the database, so no cursor is handed out twice and none is skipped; events
 * that committed unacknowledged are passed to on_commit (their writes were
 * failed, so a client retry with the same event_id finds them). */
static int resync(ot_store *s, ot_error *err)
{
    int64_t last = 0, oldest = 0, mine = atomic_load(&s->last_cursor);
    int rc = s->ops->last_cursor(s->be, &last, &oldest, err);
    if (!rc)
        rc = s->ops->last_audit(s->be, &s->audit_seq, s->audit_hash, err);
    if (rc)
        return rc;
    if (last > mine) {
        ot_log(OT_LOG_WARNING, "store: cursors %lld..%lld committed while the database connection "
               "was lost; taking them up", (long long)mine + 1, (long long)last);
        evvec evs = {0};
        for (int64_t after = mine; after < last;) {
            int64_t scanned = after;
            size_t before = evs.n;
            int n = s->ops->read_events(s->be, after, 1000, NULL, collect_event, &evs, &scanned,
                                        err);
            if (n < 0 || evs.n == before) {
                evvec_free(&evs);
                return n < 0 ? n : ot_error_set(err, OT_EIO, NULL, "cannot read back events");
            }
            after = evs.v[evs.n - 1].cursor;
        }
        evvec_seal(&evs);
        if (evs.n && s->opt.on_commit)
            s->opt.on_commit(s->opt.on_commit_ctx, evs.v, evs.n);
        evvec_free(&evs);
    } else if (last < mine) {
        ot_log(OT_LOG_ERROR, "store: the database's last cursor is %lld, %lld was committed "
               "before: the database lost committed data (restored from a backup?)",
               (long long)last, (long long)mine);
    }
    atomic_store(&s->last_cursor, last);
    return 0;
}

/* Wait until the syncer has published every group handed to it (writer
 * thread, before it reads the published cursor). */
static void drain_sync(ot_store *s)
{
    pthread_mutex_lock(&s->smu);
    while (s->shead || s->sbusy)
        pthread_cond_wait(&s->sdone, &s->smu);
    pthread_mutex_unlock(&s->smu);
}

/* Commit writes[0..n) as one transaction, appending their events to evs.
 * Returns 0 or the error (then evs is as before). *sync_fd: see
 * ot_backend_ops.commit. */
static int commit_group(ot_store *s, ot_store_write **writes, size_t n, evvec *evs,
                        int *sync_fd, ot_error *err)
{
    int rc = s->ops->begin(s->be, err);
    if (!rc && s->ops->reconnected && s->ops->reconnected(s->be)) {
        drain_sync(s); /* resync compares with, and publishes after, the published cursor */
        if ((rc = resync(s, err)))
            s->ops->rollback(s->be);
        s->next_cursor = atomic_load(&s->last_cursor) + 1;
    }
    if (rc)
        return rc;
    size_t mark = evs->n;
    int64_t next = s->next_cursor;
    int64_t audit_seq = s->audit_seq;
    char audit_hash[OT_AUDIT_HASH_HEX];
    memcpy(audit_hash, s->audit_hash, sizeof audit_hash);
    for (size_t i = 0; i < n && !rc; i++)
        rc = apply_write(s, writes[i], evs, &next, err);
    if (!rc)
        rc = s->ops->commit(s->be, sync_fd, err);
    if (rc) {
        s->ops->rollback(s->be);
        evvec_truncate(evs, mark);
        s->audit_seq = audit_seq;
        memcpy(s->audit_hash, audit_hash, sizeof audit_hash);
        return rc;
    }
    s->next_cursor = next;
    return 0;
}

/* A failed fsync of the WAL: the kernel may have dropped the frames it could
 * not write and will not report it again, so no later commit can be called
 * durable (SQLite's recovery stops at the first missing frame, taking every
 * later one with it). The store stops writing for good; a restart recovers
 * what is on disk. Syncer thread. */
static void fail_wal(ot_store *s, int serr)
{
    if (atomic_load(&s->wal_failed))
        return;
    snprintf(s->wal_error, sizeof s->wal_error,
             "fsync of the write-ahead log failed (%s): writes are refused until the server "
             "is restarted", strerror(serr));
    atomic_store(&s->wal_failed, 1);
    ot_error e;
    ot_error_set(&e, OT_EIO, NULL, "%s", s->wal_error);
    note_failure(s, &e);
    ot_log(OT_LOG_ERROR, "store: %s", s->wal_error);
}

/* The error of a write refused after fail_wal. */
static void wal_refusal(ot_store *s, ot_error *e)
{
    ot_error_set(e, OT_EIO, NULL, "%s", s->wal_error);
}

static void mark_done(ot_store_write *w, int rc, const ot_error *err)
{
    w->rc = rc;
    if (rc && err)
        w->err = *err;
    else
        ot_error_clear(&w->err);
}

/* Wait until the syncer has room for another group (writer thread, before
 * it takes the next group from the queue). */
static void wait_sync_room(ot_store *s)
{
    pthread_mutex_lock(&s->smu);
    while (s->sgroups >= SYNC_MAX_GROUPS)
        pthread_cond_wait(&s->sdone, &s->smu);
    pthread_mutex_unlock(&s->smu);
}

/* A group to fill: a spare one (keeping its memory) or a new one. */
static struct group *take_group(ot_store *s)
{
    pthread_mutex_lock(&s->smu);
    struct group *g = s->spare;
    if (g) {
        s->spare = g->next;
        s->nspare--;
    }
    pthread_mutex_unlock(&s->smu);
    if (!g)
        return calloc(1, sizeof *g);
    evvec ev = g->evs;
    memset(g, 0, sizeof *g);
    g->evs = ev;
    return g;
}

/* The syncer is done with g: keep it for the writer, so a busy writer does
 * not allocate an event array and text per group (at most SYNC_MAX_GROUPS
 * + 1 are ever in use), unless it grew unusually large. */
static void give_group(ot_store *s, struct group *g)
{
    evvec_clear(&g->evs);
    pthread_mutex_lock(&s->smu);
    int keep = s->nspare <= SYNC_MAX_GROUPS && g->evs.cap <= GROUP_SPARE_EVENTS;
    if (keep) {
        g->next = s->spare;
        s->spare = g;
        s->nspare++;
    }
    pthread_mutex_unlock(&s->smu);
    if (!keep) {
        evvec_free(&g->evs);
        free(g);
    }
}

/* Hand a group to the syncer (the writer waited for room first). */
static void to_syncer(ot_store *s, struct group *g)
{
    pthread_mutex_lock(&s->smu);
    if (s->stail)
        s->stail->next = g;
    else
        s->shead = g;
    s->stail = g;
    s->sgroups++;
    pthread_cond_signal(&s->scv);
    pthread_mutex_unlock(&s->smu);
}

static void process(ot_store *s, ot_store_write *list)
{
    ot_store_write *writes[GROUP_MAX_ITEMS];
    size_t n = 0;
    long items = 0;
    for (ot_store_write *w = list; w && n < GROUP_MAX_ITEMS; w = w->next) {
        writes[n++] = w;
        items += write_items(w);
    }
    ot_error err;
    ot_error_clear(&err);
    struct group *g = take_group(s);
    if (!g) {
        ot_error_set(&err, OT_ENOMEM, NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            mark_done(writes[i], OT_EUNAVAIL, &err);
            writes[i]->done(writes[i], writes[i]->ctx);
        }
        return;
    }
    g->list = list;
    g->sync_fd = -1;
    if (atomic_load(&s->wal_failed)) {
        /* nothing more is committed (fail_wal); answered in order by the syncer */
        wal_refusal(s, &err);
        for (size_t i = 0; i < n; i++)
            mark_done(writes[i], OT_EUNAVAIL, &err);
        to_syncer(s, g);
        return;
    }
    int rc = commit_group(s, writes, n, &g->evs, &g->sync_fd, &err);
    if (rc == 0) {
        g->commits = 1;
        g->items = (unsigned long)items;
        for (size_t i = 0; i < n; i++)
            mark_done(writes[i], 0, NULL);
    } else if (n == 1) {
        note_failure(s, &err);
        ot_log(OT_LOG_ERROR, "store: write failed: %s", err.message);
        mark_done(writes[0], rc == OT_EINVAL ? rc : OT_EUNAVAIL, &err);
    } else {
        /* isolate the failing write: retry one by one */
        ot_log(OT_LOG_WARNING, "store: a group of %zu writes failed (%s); retrying them one by one",
               n, err.message);
        for (size_t i = 0; i < n; i++) {
            ot_error e1;
            ot_error_clear(&e1);
            int fd = -1;
            int r1 = commit_group(s, &writes[i], 1, &g->evs, &fd, &e1);
            if (r1) {
                note_failure(s, &e1);
                ot_log(OT_LOG_ERROR, "store: write failed: %s", e1.message);
            } else {
                g->commits++;
                g->items += (unsigned long)write_items(writes[i]);
                if (fd >= 0)
                    g->sync_fd = fd;
            }
            mark_done(writes[i], r1 == 0 ? 0 : r1 == OT_EINVAL ? r1 : OT_EUNAVAIL, &e1);
        }
    }
    evvec_seal(&g->evs);
    to_syncer(s, g);
}

/* Make the groups durable and acknowledge them, in order. Syncer thread. */
static void publish(ot_store *s, struct group *list)
{
    int fd = -1, serr = 0;
    for (struct group *g = list; g; g = g->next)
        if (g->commits && g->sync_fd >= 0)
            fd = g->sync_fd; /* one descriptor: the writer's WAL */
    if (fd >= 0 && !atomic_load(&s->wal_failed) && fdatasync(fd) != 0)
        serr = errno;
    if (serr)
        fail_wal(s, serr);
    /* After a failed fsync nothing committed since the last good one is
     * acknowledged or shown to an event reader, and nothing is committed
     * any more (process): the log ends where durability ended. */
    int failed = atomic_load(&s->wal_failed);
    for (struct group *g = list, *gn; g; g = gn) {
        gn = g->next;
        if (g->commits && failed) {
            ot_error e;
            wal_refusal(s, &e);
            ot_log(OT_LOG_ERROR, "store: %lu committed items are not durable, not acknowledged",
                   g->items);
            for (ot_store_write *w = g->list; w; w = w->next)
                if (w->rc == 0)
                    mark_done(w, OT_EUNAVAIL, &e);
        } else if (g->commits) {
            atomic_store(&s->healthy, 1);
            atomic_fetch_add(&s->commits, g->commits);
            atomic_fetch_add(&s->committed_items, g->items);
        }
        /* the ring first, then the cursor: a reader that sees last_cursor = N
         * must find events up to N in the ring (or be sent to the store), or
         * a filtered /diff page could step past an event it never examined */
        if (g->evs.n && !failed) {
            if (s->opt.on_commit)
                s->opt.on_commit(s->opt.on_commit_ctx, g->evs.v, g->evs.n);
            atomic_store(&s->last_cursor, g->evs.v[g->evs.n - 1].cursor);
        }
        for (ot_store_write *w = g->list, *wn; w; w = wn) {
            wn = w->next; /* done() may free w */
            w->done(w, w->ctx);
        }
        give_group(s, g);
    }
    pthread_mutex_lock(&s->hook_mu);
    if (s->on_completed)
        s->on_completed(s->on_completed_ctx);
    pthread_mutex_unlock(&s->hook_mu);
}

void ot_store_set_on_completed(ot_store *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->hook_mu);
    s->on_completed = fn;
    s->on_completed_ctx = ctx;
    pthread_mutex_unlock(&s->hook_mu);
}

static void *syncer_main(void *arg)
{
    ot_store *s = arg;
    pthread_mutex_lock(&s->smu);
    for (;;) {
        while (!s->shead && !s->sclosing)
            pthread_cond_wait(&s->scv, &s->smu);
        if (!s->shead)
            break;
        struct group *list = s->shead;
        s->shead = s->stail = NULL;
        s->sgroups = 0;
        s->sbusy = 1;
        pthread_cond_broadcast(&s->sdone);
        pthread_mutex_unlock(&s->smu);
        publish(s, list);
        pthread_mutex_lock(&s->smu);
        s->sbusy = 0;
        pthread_cond_broadcast(&s->sdone);
    }
    pthread_mutex_unlock(&s->smu);
    return NULL;
}

/* Writer thread, between groups and when idle. */
static void maybe_retention(ot_store *s)
{
    if (s->opt.retention_days <= 0)
        return;
    int64_t now = ot_now_us();
    if (now < s->next_retention_us)
        return;
    if (atomic_load(&s->wal_failed)) { /* nothing is written any more */
        s->next_retention_us = now + RETENTION_EVERY_US;
        return;
    }
    int64_t cutoff = now - (int64_t)s->opt.retention_days * 86400LL * 1000000LL, oldest = 0;
    int more = 0;
    ot_error err;
    int rc = s->ops->retention(s->be, cutoff, &oldest, &more, &err);
    int64_t end = ot_now_us(), took = end - now;
    if (rc == 0) {
        if (oldest > 0)
            atomic_store(&s->oldest_cursor, oldest);
        ot_log(OT_LOG_DEBUG, "store: retention pass in %.1f ms, oldest cursor %lld%s",
               (double)took / 1000.0, (long long)oldest, more ? ", more to drop" : "");
    } else {
        more = 0;
        ot_log(OT_LOG_WARNING, "store: retention failed: %s", err.message);
    }
    s->next_retention_us =
        end + (!more ? RETENTION_EVERY_US : took > RETENTION_BUSY_US ? took : RETENTION_BUSY_US);
}

static void idle_flush_done(ot_store_write *w, void *ctx)
{
    atomic_store(&((ot_store *)ctx)->idle_flush_failed, w->rc != 0);
    free(w);
}

/* Idle with derived data waiting: write it now, so reads need not wait for
 * it. Writer thread. */
static void flush_when_idle(ot_store *s)
{
    ot_store_write *w = calloc(1, sizeof *w);
    if (!w)
        return; /* the next commit or reader writes it */
    w->flush_derived = 1;
    w->done = idle_flush_done;
    w->ctx = s;
    wait_sync_room(s);
    process(s, w);
}

static void *writer_main(void *arg)
{
    ot_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->closing) {
            /* after a failed flush (a full disk, say) it tries once a second,
             * and not at all once the WAL's fsync has failed */
            int waiting = s->ops->derived_pending && !atomic_load(&s->wal_failed) &&
                          s->ops->derived_pending(s->be);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long ms = waiting && !atomic_load(&s->idle_flush_failed) ? s->derived_idle_ms : 1000;
            if (s->opt.retention_days > 0) { /* a round of passes goes on when idle too */
                int64_t due = (s->next_retention_us - ot_now_us()) / 1000;
                ms = due < 1 ? 1 : due < ms ? (long)due : ms;
            }
            ts.tv_sec += ms / 1000;
            ts.tv_nsec += (ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            if (!s->head) {
                pthread_mutex_unlock(&s->mu);
                if (waiting)
                    flush_when_idle(s);
                maybe_retention(s);
                pthread_mutex_lock(&s->mu);
            }
        }
        if (!s->head && s->closing)
            break;
        pthread_mutex_unlock(&s->mu);
        wait_sync_room(s); /* meanwhile more writes queue up for this group */
        pthread_mutex_lock(&s->mu);
        /* take up to a group's worth */
        ot_store_write *list = s->head, *last = list;
        long items = write_items(list);
        size_t n = 1;
        while (last->next && n < GROUP_MAX_ITEMS &&
               items + write_items(last->next) <= GROUP_MAX_ITEMS) {
            last = last->next;
            items += write_items(last);
            n++;
        }
        s->head = last->next;
        if (!s->head)
            s->tail = NULL;
        last->next = NULL;
        s->pending -= items;
        atomic_store(&s->queue_depth, s->pending);
        pthread_mutex_unlock(&s->mu);
        process(s, list);
        maybe_retention(s); /* a server that is never idle keeps a window too */
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
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
    if (pthread_create(&s->syncer, NULL, syncer_main, s)) {
        rc = ot_error_set(err, OT_EIO, NULL, "cannot start the store syncer thread");
        goto fail;
    }
    pthread_setname_np(s->syncer, "store-syncer");
    s->syncer_started = 1;
    if (pthread_create(&s->writer, NULL, writer_main, s)) {
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
        evvec_free(&g->evs);
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
    long items = write_items(w);
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
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
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
