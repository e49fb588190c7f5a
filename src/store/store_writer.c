/* store_writer.c - the store's group-commit writer and its syncer.
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
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/evtype.h"
#include "core/log.h"
#include "store/store_int.h"

#define GROUP_MAX_ITEMS 8192       /* telemetry items per transaction */
#define GROUP_SPARE_EVENTS 8192    /* a spare group keeps room for this many events at most */
/* Committed groups waiting for the syncer to take them. Few: groups
 * committed while an fsync runs are all acknowledged by the next one, so
 * past this the writer waits and lets the writes that keep arriving make one
 * larger group instead of many small ones (each with its own fixed cost).
 * Measured with single-event ingest: 8 -> 9 items per group, 2 -> 15, and
 * about 10% less CPU per event (bench/RESULTS.md). */
#define SYNC_MAX_GROUPS 2

/* Retention passes once a minute. While a pass stops short of the cutoff
 * (a bounded pass: backend.h), the next one follows after as long as this
 * one held the writer, and at least RETENTION_BUSY_US: a round that is
 * behind takes at most about half of the writer's time. */
#define RETENTION_EVERY_US (60LL * 1000000)
#define RETENTION_BUSY_US (10LL * 1000)

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

void store_evvec_free(evvec *e)
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
long store_write_items(const ot_store_write *w)
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
                store_evvec_free(&evs);
                return n < 0 ? n : ot_error_set(err, OT_EIO, NULL, "cannot read back events");
            }
            after = evs.v[evs.n - 1].cursor;
        }
        evvec_seal(&evs);
        if (evs.n && s->opt.on_commit)
            s->opt.on_commit(s->opt.on_commit_ctx, evs.v, evs.n);
        store_evvec_free(&evs);
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
        store_evvec_free(&g->evs);
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
        items += store_write_items(w);
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
                g->items += (unsigned long)store_write_items(writes[i]);
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

void *store_syncer_main(void *arg)
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

void *store_writer_main(void *arg)
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
            s->writer_waits = 1;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            s->writer_waits = 0;
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
        long items = store_write_items(list);
        size_t n = 1;
        while (last->next && n < GROUP_MAX_ITEMS &&
               items + store_write_items(last->next) <= GROUP_MAX_ITEMS) {
            last = last->next;
            items += store_write_items(last);
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
