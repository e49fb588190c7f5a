/* stream.c - see stream.h. */
#include "api/stream.h"

#include <microhttpd.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/strmap.h"

struct ot_stream {
    ot_streams *hub;
    ot_stream *prev, *next;      /* hub list, under hub->lock */
    ot_stream *kprev, *knext;    /* its key's list (or the unkeyed one), under hub->lock */
    char *key;                   /* NULL: woken by every keyed wake */
    unsigned long round;         /* last ot_streams_wake_keyed round that saw it */
    pthread_mutex_t lock;        /* suspended, pending, closing */
    struct MHD_Connection *conn;
    int suspended, pending, closing, ended;
    int cursor;                  /* a walk's place holder in the hub list, not a stream */
    ot_stream_pull_fn pull;
    ot_stream_free_fn free_ctx;
    void *ctx;
};

struct ot_streams {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ot_stream head;              /* sentinel of a circular list */
    ot_stream unkeyed;           /* sentinel: the streams without a key */
    ot_strmap keyed;             /* key -> sentinel of that key's streams */
    unsigned long round;
    long count;
    int stopping;
    int interval_ms;
    ot_stream hb;                /* the heartbeat's place in the list (a cursor) */
    pthread_t heartbeat;
    int has_thread;
};

#define WALK_SLICE 64 /* streams visited per hold of the hub lock */

static void list_unlink(ot_stream *s)
{
    s->prev->next = s->next;
    s->next->prev = s->prev;
}

static void list_insert_after(ot_stream *at, ot_stream *s)
{
    s->next = at->next;
    s->prev = at;
    at->next->prev = s;
    at->next = s;
}

/* fn(s, arg) for up to quota streams (quota < 0: all) after the cursor node
 * cur, in list order, moving cur along; with wrap, going round from the head
 * when the end is reached (quota <= the number of streams, so each once).
 * The caller holds the hub lock; it is released after every WALK_SLICE
 * streams: with ten thousand streams a walk takes tens of milliseconds (a
 * system call or two per stream), and the syncer waking subscribers after
 * each commit must not wait for it. The cursor keeps the walk's place while
 * the lock is released: streams removed meanwhile are simply not reached,
 * streams added meanwhile (at the head) wait for the next round. */
static void walk_from(ot_streams *h, ot_stream *cur, long quota, int wrap,
                      void (*fn)(ot_stream *s, void *arg), void *arg)
{
    int wrapped = 0;
    for (long n = 0; quota < 0 || n < quota;) {
        ot_stream *s = cur->next;
        if (s == &h->head) {
            if (!wrap || wrapped++)
                break;
            list_unlink(cur);
            list_insert_after(&h->head, cur);
            continue;
        }
        list_unlink(cur);
        list_insert_after(s, cur);
        if (s->cursor)
            continue; /* another walk's place */
        fn(s, arg);
        if (++n % WALK_SLICE == 0) {
            pthread_mutex_unlock(&h->lock);
            sched_yield(); /* let a waiting committer take the lock */
            pthread_mutex_lock(&h->lock);
        }
    }
}

static void wake_locked(ot_stream *s);

/* The heartbeat's visit. A suspended connection does not notice its client
 * leaving, and the first write after the drop may still succeed: its socket
 * is peeked, and end-of-file ends the stream now instead of holding its slot
 * until a write fails. Then the stream is woken, so that its pull can send a
 * heartbeat when one is due (or end). Hub lock held. */
static void visit_one(ot_stream *s, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&s->lock);
    if (s->suspended && s->conn && !s->closing) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        char c;
        if (ci && recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            s->closing = 1; /* the wake lets the reader end it */
    }
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

#define HB_TICKS_MAX 500 /* an interval is cut into at most this many ticks */

/* Every stream is visited once per interval, but not all at once: the
 * interval is cut into one tick per stream (at most HB_TICKS_MAX) and each
 * tick visits its share of the streams, going round the list. With 8,000
 * streams, waking them all in one tick made every request wait 0.4-0.9 s
 * behind the HTTP threads resuming them. Ticks keep to a schedule, so that
 * streams closing (which signal the hub's condition) cannot put them off;
 * with no streams there is one tick per interval. */
static void *heartbeat_main(void *arg)
{
    ot_streams *h = arg;
    int64_t next = ot_mono_ns() + (int64_t)h->interval_ms * 1000000;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        long ticks = h->count < 1 ? 1 : h->count > HB_TICKS_MAX ? HB_TICKS_MAX : h->count;
        int64_t tick = (int64_t)h->interval_ms * 1000000 / ticks;
        int64_t now = ot_mono_ns();
        if (next > now + tick)
            next = now + tick; /* more streams than when this wait began */
        if (now < next) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t at = (int64_t)ts.tv_nsec + (next - now);
            ts.tv_sec += (time_t)(at / 1000000000);
            ts.tv_nsec = (long)(at % 1000000000);
            pthread_cond_timedwait(&h->cond, &h->lock, &ts);
            continue;
        }
        next = next + tick > now ? next + tick : now + tick; /* no burst after a stall */
        walk_from(h, &h->hb, (h->count + ticks - 1) / ticks, 1, visit_one, NULL);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

ot_streams *ot_streams_new(int heartbeat_interval_ms)
{
    ot_streams *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    /* waits on the monotonic clock: setting the wall clock back must not
     * hold up the heartbeat */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    h->head.next = h->head.prev = &h->head;
    h->hb.cursor = 1;
    list_insert_after(&h->head, &h->hb);
    h->unkeyed.knext = h->unkeyed.kprev = &h->unkeyed;
    h->interval_ms = heartbeat_interval_ms > 0 ? heartbeat_interval_ms : 1000;
    if (pthread_create(&h->heartbeat, NULL, heartbeat_main, h) == 0)
        h->has_thread = 1;
    return h;
}

void ot_streams_free(ot_streams *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    if (h->has_thread)
        pthread_join(h->heartbeat, NULL);
    ot_strmap_clear(&h->keyed, free); /* empty sentinels left by nobody: streams are gone */
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* The sentinel of key's list, created on first use. hub lock held. */
static ot_stream *key_list(ot_streams *h, const char *key)
{
    ot_stream *l = ot_strmap_get(&h->keyed, key);
    if (l)
        return l;
    if (!(l = calloc(1, sizeof *l)))
        return NULL;
    l->knext = l->kprev = l;
    if (ot_strmap_put(&h->keyed, key, l, NULL)) {
        free(l);
        return NULL;
    }
    return l;
}

ot_stream *ot_stream_new(ot_streams *h, const char *key, ot_stream_pull_fn pull,
                         ot_stream_free_fn free_ctx, void *ctx)
{
    ot_stream *s = calloc(1, sizeof *s);
    if (s && key && !(s->key = strdup(key))) {
        free(s);
        s = NULL;
    }
    if (!s) {
        if (free_ctx)
            free_ctx(ctx);
        return NULL;
    }
    s->hub = h;
    s->pull = pull;
    s->free_ctx = free_ctx;
    s->ctx = ctx;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_lock(&h->lock);
    ot_stream *l = s->key ? key_list(h, s->key) : &h->unkeyed;
    if (!l) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_destroy(&s->lock);
        free(s->key);
        free(s);
        if (free_ctx)
            free_ctx(ctx);
        return NULL;
    }
    s->knext = l->knext;
    s->kprev = l;
    l->knext->kprev = s;
    l->knext = s;
    list_insert_after(&h->head, s);
    h->count++;
    pthread_mutex_unlock(&h->lock);
    return s;
}

void ot_stream_attach(ot_stream *s, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&s->lock);
    s->conn = conn;
    pthread_mutex_unlock(&s->lock);
}

ssize_t ot_stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    ot_stream *s = cls;
    (void)pos;
    pthread_mutex_lock(&s->lock);
    ssize_t n = s->ended ? -1 : s->pull(s->ctx, buf, max, s->closing);
    if (n < 0) {
        s->ended = 1;
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n == 0) {
        if (s->pending) {
            s->pending = 0; /* data arrived between pull and here: try again */
        } else if (s->conn) {
            s->suspended = 1;
            MHD_suspend_connection(s->conn);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Resume if suspended, else remember that a wake arrived. stream lock held. */
static void wake_locked(ot_stream *s)
{
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    } else {
        s->pending = 1;
    }
}

void ot_stream_release(void *cls)
{
    ot_stream *s = cls;
    ot_streams *h = s->hub;
    pthread_mutex_lock(&h->lock);
    list_unlink(s);
    s->kprev->knext = s->knext;
    s->knext->kprev = s->kprev;
    if (s->key && s->knext == s->kprev) /* its key's list is empty: drop it */
        free(ot_strmap_del(&h->keyed, s->key));
    h->count--;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    if (s->free_ctx)
        s->free_ctx(s->ctx);
    pthread_mutex_destroy(&s->lock);
    free(s->key);
    free(s);
}

struct wake_if_arg {
    int (*pred)(void *ctx, void *arg);
    void *arg;
};

static void wake_if_one(ot_stream *s, void *arg)
{
    struct wake_if_arg *w = arg;
    if (w->pred && !w->pred(s->ctx, w->arg))
        return;
    pthread_mutex_lock(&s->lock);
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

void ot_streams_wake_if(ot_streams *h, int (*pred)(void *ctx, void *arg), void *arg)
{
    struct wake_if_arg w = {pred, arg};
    ot_stream cur = {.cursor = 1};
    pthread_mutex_lock(&h->lock);
    list_insert_after(&h->head, &cur);
    walk_from(h, &cur, -1, 0, wake_if_one, &w);
    list_unlink(&cur);
    pthread_mutex_unlock(&h->lock);
}

/* pred and wake one stream, once per round. hub lock held. */
static void wake_once(ot_streams *h, ot_stream *s, int (*pred)(void *ctx, void *arg), void *arg)
{
    if (s->round == h->round)
        return;
    s->round = h->round;
    if (pred && !pred(s->ctx, arg))
        return;
    pthread_mutex_lock(&s->lock);
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

void ot_streams_wake_keyed(ot_streams *h, size_t nkeys,
                           const char *(*key_at)(void *arg, size_t i),
                           int (*pred)(void *ctx, void *arg), void *arg)
{
    pthread_mutex_lock(&h->lock);
    h->round++;
    for (ot_stream *s = h->unkeyed.knext; s != &h->unkeyed; s = s->knext)
        wake_once(h, s, pred, arg);
    const char *prev = NULL;
    for (size_t i = 0; i < nkeys && h->keyed.n; i++) {
        const char *key = key_at(arg, i);
        if (prev && strcmp(prev, key) == 0)
            continue; /* runs of one key are common: one lookup */
        prev = key;
        ot_stream *l = ot_strmap_get(&h->keyed, key);
        for (ot_stream *s = l ? l->knext : NULL; s && s != l; s = s->knext)
            wake_once(h, s, pred, arg);
    }
    pthread_mutex_unlock(&h->lock);
}

long ot_streams_count(ot_streams *h)
{
    pthread_mutex_lock(&h->lock);
    long n = h->count;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* Ask every stream not yet closing to end (a stream is woken whenever its
 * closing is set, here or by the heartbeat). Hub lock held. */
static void close_open_streams(ot_streams *h)
{
    for (ot_stream *s = h->head.next; s != &h->head; s = s->next) {
        if (s->cursor)
            continue;
        pthread_mutex_lock(&s->lock);
        if (!s->closing) {
            s->closing = 1;
            wake_locked(s);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

void ot_streams_close_all(ot_streams *h, int timeout_ms)
{
    int64_t deadline = ot_mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&h->lock);
    close_open_streams(h);
    while (h->count > 0 && ot_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        close_open_streams(h); /* a stream attached after the first pass too */
    }
    pthread_mutex_unlock(&h->lock);
}
