/* redis_mirror.c - the event stream mirror: committed events -> XADD.
 *
 *   store syncer thread                 mirror thread
 *   ot_redis_on_commit ──> queue ──>    gather (contiguous from mirrored+1)
 *   (copy, one malloc per group,           │  gap / empty queue: read the
 *    drop the group when the queue         │  store after `mirrored`
 *    is over its byte bound)               v
 *                                       MULTI, XADD key MAXLEN ~ N <c>-0 ..., EXEC
 *                                          │  (a refused XADD discards the batch)
 *                                          │  replies in order: `mirrored`
 *                                          v  advances over the successes
 *
 * `mirrored` is only ever set from the stream itself (XREVRANGE at connect)
 * or from XADD replies, so after any failure the thread resumes exactly
 * after the stream's last entry: no event twice, none skipped.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/redis_internal.h"
#include "store/store.h"

#define Q_MAX_BYTES ((size_t)32 << 20) /* queued event text beyond this is dropped (re-read) */
#define BATCH 512                     /* XADDs per pipeline */
#define MIRROR_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define FLUSH_MS 3000                 /* at stop, mirror the rest for at most this long */
#define PING_IDLE_NS 2000000000LL     /* idle and connected: PING this often */

/* --- the queue (store syncer thread appends, mirror thread consumes) ------------ */

void ot_redis_on_commit(void *ctx, const ot_event *evs, size_t n)
{
    ot_redis *r = ctx;
    if (n == 0)
        return;
    size_t bytes = sizeof(struct rq_group) + n * sizeof(struct rq_ev);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(evs[i].twin_id) + 1 + evs[i].json_len + 1;
    /* The target moves only once the group is queued (or given up), so the
     * mirror never reads from the store what is about to be queued. */
    int64_t last = evs[n - 1].cursor;
    pthread_mutex_lock(&r->mu);
    int keep = !r->stopped && r->queued_bytes + bytes <= Q_MAX_BYTES;
    if (keep) {
        r->queued_bytes += bytes; /* reserved while the copy is made unlocked */
    } else {
        if (last > r->target)
            r->target = last;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (!keep) {
        atomic_fetch_add(&r->n_dropped, (long long)n);
        return;
    }
    struct rq_group *g = malloc(bytes);
    if (!g) {
        pthread_mutex_lock(&r->mu);
        r->queued_bytes -= bytes;
        if (last > r->target)
            r->target = last;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_add(&r->n_dropped, (long long)n);
        return;
    }
    g->next = NULL;
    g->n = n;
    g->pos = 0;
    g->bytes = bytes;
    char *p = (char *)&g->ev[n];
    for (size_t i = 0; i < n; i++) {
        struct rq_ev *e = &g->ev[i];
        size_t tl = strlen(evs[i].twin_id);
        e->cursor = evs[i].cursor;
        e->type = evs[i].type;
        memcpy(p, evs[i].twin_id, tl + 1);
        e->twin = p;
        p += tl + 1;
        memcpy(p, evs[i].json, evs[i].json_len);
        p[evs[i].json_len] = '\0';
        e->json = p;
        e->len = evs[i].json_len;
        p += evs[i].json_len + 1;
    }
    pthread_mutex_lock(&r->mu);
    if (r->tail)
        r->tail->next = g;
    else
        r->head = g;
    r->tail = g;
    r->queued_events += n;
    if (last > r->target)
        r->target = last;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* --- one batch --------------------------------------------------------------- */

struct batch {
    struct rq_ev ev[BATCH];
    size_t n;
    struct rq_group *done;      /* consumed groups, freed after the send */
    ot_buf arena;               /* text of events read from the store */
    size_t off[BATCH][2];       /* their twin and json offsets in the arena */
    int64_t gap_end;            /* store reads stop before this cursor (0 = none) */
};

/* Take events mirrored+1, +2, ... from the queue (under mu). Events at or
 * below mirrored are skipped; a jump ends the gather and sets gap_end. */
static void gather_queue(ot_redis *r, struct batch *b)
{
    int64_t next = r->mirrored + 1;
    b->gap_end = 0;
    while (r->head && b->n < BATCH) {
        struct rq_group *g = r->head;
        while (g->pos < g->n && b->n < BATCH) {
            const struct rq_ev *e = &g->ev[g->pos];
            if (e->cursor < next) {
                g->pos++;
            } else if (e->cursor == next) {
                b->ev[b->n++] = *e;
                next++;
                g->pos++;
            } else {
                b->gap_end = e->cursor;
                return;
            }
        }
        if (g->pos < g->n)
            return;
        r->head = g->next;
        if (!r->head)
            r->tail = NULL;
        r->queued_bytes -= g->bytes;
        r->queued_events -= g->n;
        g->next = b->done;
        b->done = g;
    }
}

static int from_store(void *ctx, const ot_event *ev)
{
    struct batch *b = ctx;
    if (b->gap_end && ev->cursor >= b->gap_end)
        return 1;
    size_t i = b->n++;
    b->ev[i].cursor = ev->cursor;
    b->ev[i].type = ev->type;
    b->ev[i].len = ev->json_len;
    b->off[i][0] = b->arena.len;
    ot_buf_append(&b->arena, ev->twin_id, strlen(ev->twin_id) + 1);
    b->off[i][1] = b->arena.len;
    ot_buf_append(&b->arena, ev->json, ev->json_len);
    ot_buf_append(&b->arena, "", 1);
    return b->n >= BATCH;
}

/* Read what the queue cannot give from the store: events after `after`,
 * before gap_end. 0 or a negative error (why set). */
static int gather_store(ot_redis *r, struct batch *b, int64_t after, char *why)
{
    ot_error err;
    ot_error_clear(&err);
    int64_t scanned = after;
    ot_buf_reset(&b->arena);
    int limit = BATCH;
    if (b->gap_end && b->gap_end - after - 1 < limit)
        limit = b->gap_end - after - 1 > 0 ? (int)(b->gap_end - after - 1) : 1;
    int rc = ot_store_read_events(r->store, after, limit, NULL, from_store, b, &scanned, &err);
    if (rc < 0 || ot_buf_failed(&b->arena)) {
        snprintf(why, 256, "reading the log to catch the stream up: %.200s",
                 rc < 0 ? err.message : "out of memory");
        b->n = 0;
        return rc < 0 ? rc : OT_ENOMEM;
    }
    for (size_t i = 0; i < b->n; i++) {
        b->ev[i].twin = b->arena.data + b->off[i][0];
        b->ev[i].json = b->arena.data + b->off[i][1];
    }
    atomic_fetch_add(&r->n_catchup, (long long)b->n);
    return 0;
}

static void batch_release(struct batch *b)
{
    for (struct rq_group *g = b->done, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    b->done = NULL;
    b->n = 0;
}

/* Pipeline the batch's XADDs inside MULTI ... EXEC and read every reply.
 * The transaction makes a batch all or nothing against refusals: Redis
 * refuses an XADD when it is queued (maxmemory reached, say), and EXEC then
 * discards the whole batch. Sent as plain pipelined commands, a refused XADD
 * followed by accepted ones would leave a hole that no later XADD can fill,
 * since IDs only grow. `mirrored` advances over the leading run of entries
 * the stream now holds. -1 when the connection must be dropped (why set);
 * a client whose EXEC was refused may still be inside MULTI, so it always
 * is. */
static int send_batch(ot_redis *r, redisContext *c, struct batch *b, char *why)
{
    const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"};
    char ids[BATCH][32];
    if (redisAppendCommandArgv(c, 1, multi, NULL) != REDIS_OK) {
        snprintf(why, 256, "MULTI: %.200s", c->errstr[0] ? c->errstr : "out of memory");
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct rq_ev *e = &b->ev[i];
        const char *tn = ot_evtype_name(e->type);
        const char *argv[12] = {"XADD",  r->stream_key, "MAXLEN",  "~",    r->maxlen_text,
                                ot_redis_id_format(e->cursor, ids[i]), "type", tn ? tn : "",
                                "twin_id", e->twin, "event", e->json};
        size_t lens[12];
        for (int k = 0; k < 11; k++)
            lens[k] = strlen(argv[k]);
        lens[11] = e->len; /* the JSON is not scanned again */
        if (redisAppendCommandArgv(c, 12, argv, lens) != REDIS_OK) {
            snprintf(why, 256, "XADD: %.200s", c->errstr[0] ? c->errstr : "out of memory");
            return -1;
        }
    }
    if (redisAppendCommandArgv(c, 1, exec, NULL) != REDIS_OK) {
        snprintf(why, 256, "EXEC: %.200s", c->errstr[0] ? c->errstr : "out of memory");
        return -1;
    }
    /* MULTI's +OK, then +QUEUED for each XADD, or its refusal */
    int refused = 0;
    for (size_t i = 0; i <= b->n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) {
            snprintf(why, 256, "XADD: %.200s", c->errstr[0] ? c->errstr : "connection lost");
            return -1;
        }
        if (rep->type == REDIS_REPLY_ERROR && !refused) {
            snprintf(why, 256, "%s %.30s: %.200s", i ? "XADD" : "MULTI", i ? ids[i - 1] : "",
                     rep->str);
            refused = 1;
        }
        freeReplyObject(rep);
    }
    redisReply *ex = NULL;
    if (redisGetReply(c, (void **)&ex) != REDIS_OK || !ex) {
        snprintf(why, 256, "EXEC: %.200s", c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    if (ex->type != REDIS_REPLY_ARRAY || ex->elements != b->n) {
        /* discarded: nothing of the batch went in */
        if (!refused)
            snprintf(why, 256, "EXEC: %.200s",
                     ex->type == REDIS_REPLY_ERROR ? ex->str : "unexpected reply");
        freeReplyObject(ex);
        return -1;
    }
    int64_t ok_to = -1;
    int failed = 0;
    for (size_t i = 0; i < b->n; i++) {
        const redisReply *rep = ex->element[i];
        if (rep->type == REDIS_REPLY_ERROR) {
            if (!failed && strstr(rep->str, "equal or smaller")) {
                atomic_fetch_add(&r->n_skipped, 1); /* already there: another writer */
                ok_to = b->ev[i].cursor;
            } else {
                if (!failed)
                    snprintf(why, 256, "XADD %.30s: %.200s", ids[i], rep->str);
                failed = 1;
            }
        } else if (!failed) {
            ok_to = b->ev[i].cursor;
            atomic_fetch_add(&r->n_xadd, 1);
        } else {
            /* an entry after one that failed inside EXEC (not a refusal,
             * which discards the batch: an error of the command itself)
             * went in: the failed cursor can no longer be added */
            ot_log(OT_LOG_ERROR, "redis: stream %s has a gap before %s (XADD failed: %s)",
                   r->stream_key, ids[i], why);
        }
    }
    freeReplyObject(ex);
    pthread_mutex_lock(&r->mu);
    if (ok_to > r->mirrored) {
        r->mirrored = ok_to;
        r->ahead = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return failed ? -1 : 0;
}

/* --- connecting ---------------------------------------------------------------- */

/* Connect and find where the stream ends. NULL with why. */
static redisContext *mirror_connect(ot_redis *r, char *why)
{
    redisContext *c = ot_redis_connect(r, MIRROR_TIMEOUT_MS, why);
    if (!c)
        return NULL;
    const char *argv[6] = {"XREVRANGE", r->stream_key, "+", "-", "COUNT", "1"};
    redisReply *rep = redisCommandArgv(c, 6, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (!rep)
            snprintf(why, 256, "XREVRANGE: %.200s", c->errstr[0] ? c->errstr : "connection lost");
        else
            snprintf(why, 256, "XREVRANGE %.40s: %.180s", r->stream_key,
                     rep->str ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        redisFree(c);
        return NULL;
    }
    int64_t top = 0;
    if (rep->elements > 0 && rep->element[0]->type == REDIS_REPLY_ARRAY &&
        rep->element[0]->elements > 0 && rep->element[0]->element[0]->type == REDIS_REPLY_STRING) {
        /* the ms part: an entry "<ms>-<seq>" not written by us still bounds
         * what XADD accepts */
        const char *id = rep->element[0]->element[0]->str;
        top = strtoll(id, NULL, 10);
    }
    freeReplyObject(rep);
    int64_t last = ot_store_last_cursor(r->store);
    pthread_mutex_lock(&r->mu);
    if (last > r->target)
        r->target = last;
    r->ahead = top > r->target;
    int64_t floor = r->target - r->maxlen; /* older entries would be trimmed at once */
    r->mirrored = top > floor ? top : floor > 0 ? floor : 0;
    int ahead = r->ahead;
    pthread_mutex_unlock(&r->mu);
    if (ahead)
        ot_log(OT_LOG_ERROR,
               "redis: stream %s ends at %" PRId64 ", beyond this server's log (%" PRId64
               "): another store writes to it; events up to there are not mirrored",
               r->stream_key, top, last);
    return c;
}

/* --- the thread -------------------------------------------------------------------- */

static void wait_until(ot_redis *r, int64_t deadline_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t d = deadline_ns - ot_mono_ns();
    if (d <= 0)
        return;
    int64_t ns = now.tv_nsec + d % 1000000000LL;
    struct timespec ts = {now.tv_sec + (time_t)(d / 1000000000LL) + (time_t)(ns / 1000000000LL),
                          (long)(ns % 1000000000LL)};
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

static void *mirror_main(void *arg)
{
    ot_redis *r = arg;
    redisContext *c = NULL;
    struct batch *b = calloc(1, sizeof *b);
    if (!b) {
        ot_redis_note_error(r, "out of memory: the stream mirror is not running");
        return NULL;
    }
    ot_buf_init(&b->arena);
    int backoff_ms = BACKOFF_MIN_MS;
    int64_t retry_at = 0, flush_deadline = 0, last_io = ot_mono_ns();
    char why[256];
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int ping = 0;
        for (;;) {
            int64_t now = ot_mono_ns();
            if (r->stopping && !flush_deadline)
                flush_deadline = now + (int64_t)FLUSH_MS * 1000000;
            if (r->stopping && (!c || r->mirrored >= r->target || now >= flush_deadline))
                goto out_locked;
            if (!c) {
                if (now >= retry_at)
                    break;
                wait_until(r, r->stopping ? now : retry_at);
            } else if (r->mirrored < r->target) {
                break;
            } else if (now - last_io >= PING_IDLE_NS) {
                ping = 1;
                break;
            } else {
                wait_until(r, last_io + PING_IDLE_NS);
            }
        }
        if (c && !ping)
            gather_queue(r, b);
        int64_t after = r->mirrored;
        pthread_mutex_unlock(&r->mu);

        if (!c) {
            c = mirror_connect(r, why);
            if (!c) {
                atomic_store(&r->connected, 0);
                ot_redis_note_error(r, "%s", why);
                retry_at = ot_mono_ns() + (int64_t)backoff_ms * 1000000;
                backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
                continue;
            }
            ot_log(OT_LOG_INFO, "redis: connected to %s:%d, mirroring to %s after cursor %" PRId64,
                   r->url.host, r->url.port, r->stream_key, ot_redis_mirrored(r));
            atomic_fetch_add(&r->n_reconnects, 1);
            atomic_store(&r->connected, 1);
            pthread_mutex_lock(&r->pool_mu); /* Redis is back: commands may try at once */
            r->cmd_down = 0;
            r->cmd_retry_at_ns = 0;
            pthread_mutex_unlock(&r->pool_mu);
            backoff_ms = BACKOFF_MIN_MS;
            last_io = ot_mono_ns();
            continue;
        }
        int rc = 0;
        if (ping) {
            redisReply *rep = redisCommand(c, "PING");
            if (!rep) {
                snprintf(why, 256, "PING: %.200s", c->errstr[0] ? c->errstr : "connection lost");
                rc = -1;
            }
            freeReplyObject(rep);
        } else {
            if (b->n == 0 && gather_store(r, b, after, why) < 0) {
                ot_redis_note_error(r, "%s", why);
                pthread_mutex_lock(&r->mu);
                wait_until(r, ot_mono_ns() + 500000000LL); /* the store's trouble: retry soon */
                pthread_mutex_unlock(&r->mu);
                continue;
            }
            if (b->n > 0) {
                rc = send_batch(r, c, b, why);
            } else {
                /* nothing left to read below the target (retention dropped
                 * it): do not spin */
                pthread_mutex_lock(&r->mu);
                wait_until(r, ot_mono_ns() + 100000000LL);
                pthread_mutex_unlock(&r->mu);
            }
            batch_release(b);
        }
        last_io = ot_mono_ns();
        if (rc < 0) {
            redisFree(c);
            c = NULL;
            atomic_store(&r->connected, 0);
            ot_redis_note_error(r, "%s", why);
            retry_at = ot_mono_ns() + (int64_t)backoff_ms * 1000000;
        }
    }
out_locked:
    pthread_mutex_unlock(&r->mu);
    if (c)
        redisFree(c);
    atomic_store(&r->connected, 0);
    batch_release(b);
    ot_buf_free(&b->arena);
    free(b);
    return NULL;
}

int ot_redis_mirror_start(ot_redis *r, ot_error *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&r->cv);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->target = ot_store_last_cursor(r->store);
    if (pthread_create(&r->thread, NULL, mirror_main, r))
        return ot_error_set(err, OT_EIO, NULL, "cannot start the Redis mirror thread");
    pthread_setname_np(r->thread, "redis-mirror");
    r->started = 1;
    return 0;
}

void ot_redis_stop(ot_redis *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    int join = r->started && !r->stopping;
    r->stopping = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (join)
        pthread_join(r->thread, NULL);
    pthread_mutex_lock(&r->mu);
    r->stopped = 1;
    pthread_mutex_unlock(&r->mu);
}
