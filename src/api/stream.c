/* stream.c - see stream.h. */
#include "api/stream.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
    ot_stream *qnext;            /* the send queue, under hub->qlock */
    int queued;                  /* on the send queue, under hub->qlock */
    char *key;                   /* NULL: woken by every keyed wake */
    unsigned long round;         /* last ot_streams_wake_keyed round that saw it */
    pthread_mutex_t lock;        /* everything below */
    struct MHD_Connection *conn; /* NULL once released */
    int fd;                      /* its socket: -1 when unknown (libmicrohttpd sends all) */
    int suspended, pending, closing, ended;
    int blocked;                 /* the socket was full: libmicrohttpd sends the next piece */
    int refs;                    /* libmicrohttpd's, and one per place on the send queue */
    int cursor;                  /* a walk's place holder in the hub list, not a stream */
    ot_stream_ops ops;
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
    /* the sender: streams woken while suspended, in order */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    ot_stream *qhead, *qtail;
    int qstop;
    int has_sender;              /* 0: libmicrohttpd sends everything */
    pthread_t sender;
    atomic_ulong sent_bytes, socket_full;
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

static void stream_free(ot_stream *s)
{
    if (s->ops.free_ctx)
        s->ops.free_ctx(s->ctx);
    pthread_mutex_destroy(&s->lock);
    free(s->key);
    free(s);
}

/* Drop one reference; the last one frees the stream. Stream lock held; it
 * is released here. */
static void unref_unlock(ot_stream *s)
{
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last)
        stream_free(s);
}

/* Put a suspended stream on the sender's queue (once). Stream lock held. */
static void enqueue_locked(ot_stream *s)
{
    ot_streams *h = s->hub;
    pthread_mutex_lock(&h->qlock);
    if (!s->queued) {
        s->queued = 1;
        s->refs++;
        s->qnext = NULL;
        if (h->qtail) {
            h->qtail->qnext = s;
        } else {
            h->qhead = s;
            pthread_cond_signal(&h->qcond); /* the sender waits only on an empty queue */
        }
        h->qtail = s;
    }
    pthread_mutex_unlock(&h->qlock);
}

static void resume_locked(ot_stream *s)
{
    s->suspended = 0;
    MHD_resume_connection(s->conn);
}

/* 1 when the sender writes this stream's bytes while it is suspended. */
static int direct(const ot_stream *s)
{
    return s->fd >= 0 && s->hub->has_sender && !s->closing && !s->ended;
}

/* Resume if suspended (or, when the sender does its writing, queue it for
 * the sender), else remember that a wake arrived. Stream lock held. */
static void wake_locked(ot_stream *s)
{
    if (!s->suspended)
        s->pending = 1;
    else if (direct(s))
        enqueue_locked(s);
    else
        resume_locked(s);
}

#define SEND_TURN (256 * 1024) /* bytes one stream may send before the next one's turn */

/* Write what the stream has to its socket. Suspended, stream lock held.
 * Anything but "sent it all, nothing more due" hands the stream back to
 * libmicrohttpd: to wait for room in the socket, or to end it. */
static void send_direct(ot_stream *s)
{
    ot_streams *h = s->hub;
    size_t turn = 0;
    while (direct(s)) {
        const char *data;
        ssize_t n = s->ops.peek(s->ctx, &data, 0);
        if (n == 0)
            return; /* stays suspended until the next wake */
        if (n < 0) {
            s->ended = 1;
            break;
        }
        ssize_t w;
        do
            w = send(s->fd, data, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w > 0) {
            s->ops.consume(s->ctx, (size_t)w);
            atomic_fetch_add_explicit(&h->sent_bytes, (unsigned long)w, memory_order_relaxed);
        }
        if (w == n) {
            if ((turn += (size_t)n) >= SEND_TURN) {
                enqueue_locked(s); /* more to send: after the others */
                return;
            }
            continue;
        }
        if (w >= 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
            s->blocked = 1;
            atomic_fetch_add_explicit(&h->socket_full, 1, memory_order_relaxed);
        } else {
            s->closing = 1; /* the client is gone */
        }
        break;
    }
    resume_locked(s);
}

static void *sender_main(void *arg)
{
    ot_streams *h = arg;
    pthread_mutex_lock(&h->qlock);
    for (;;) {
        while (!h->qhead && !h->qstop)
            pthread_cond_wait(&h->qcond, &h->qlock);
        ot_stream *s = h->qhead;
        if (!s)
            break; /* stopping, and every queued stream has been dropped */
        if (!(h->qhead = s->qnext))
            h->qtail = NULL;
        s->queued = 0;
        pthread_mutex_unlock(&h->qlock);
        pthread_mutex_lock(&s->lock);
        if (s->suspended && s->conn)
            send_direct(s);
        unref_unlock(s); /* the queue's reference */
        pthread_mutex_lock(&h->qlock);
    }
    pthread_mutex_unlock(&h->qlock);
    return NULL;
}

/* The heartbeat's visit. A suspended connection does not notice its client
 * leaving, and the first write after the drop may still succeed: its socket
 * is peeked, and end-of-file ends the stream now instead of holding its slot
 * until a write fails. Then the stream is woken, so that its peek can show a
 * heartbeat when one is due (or end). Hub lock held. */
static void visit_one(ot_stream *s, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&s->lock);
    char c;
    if (s->suspended && s->fd >= 0 && !s->closing &&
        recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        s->closing = 1; /* the wake lets the reader end it */
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
    pthread_mutex_init(&h->qlock, NULL);
    pthread_cond_init(&h->qcond, NULL);
    if (pthread_create(&h->heartbeat, NULL, heartbeat_main, h) == 0) {
        h->has_thread = 1;
        pthread_setname_np(h->heartbeat, "sse-heartbeat");
    }
    if (pthread_create(&h->sender, NULL, sender_main, h) == 0) {
        h->has_sender = 1;
        pthread_setname_np(h->sender, "sse-sender");
    }
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
    pthread_mutex_lock(&h->qlock);
    h->qstop = 1;
    pthread_cond_signal(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
    if (h->has_sender)
        pthread_join(h->sender, NULL); /* it drops what is still queued first */
    pthread_cond_destroy(&h->qcond);
    pthread_mutex_destroy(&h->qlock);
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

ot_stream *ot_stream_new(ot_streams *h, const char *key, const ot_stream_ops *ops, void *ctx)
{
    ot_stream *s = calloc(1, sizeof *s);
    if (s && key && !(s->key = strdup(key))) {
        free(s);
        s = NULL;
    }
    if (!s) {
        if (ops->free_ctx)
            ops->free_ctx(ctx);
        return NULL;
    }
    s->hub = h;
    s->ops = *ops;
    s->ctx = ctx;
    s->fd = -1;
    s->refs = 1; /* libmicrohttpd's, dropped by ot_stream_release */
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_lock(&h->lock);
    ot_stream *l = s->key ? key_list(h, s->key) : &h->unkeyed;
    if (!l) {
        pthread_mutex_unlock(&h->lock);
        stream_free(s);
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
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_mutex_lock(&s->lock);
    s->conn = conn;
    s->fd = ci ? ci->connect_fd : -1;
    pthread_mutex_unlock(&s->lock);
}

ssize_t ot_stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    ot_stream *s = cls;
    (void)pos;
    pthread_mutex_lock(&s->lock);
    if (!s->blocked && s->conn && direct(s)) {
        /* libmicrohttpd has sent everything it was given (it calls the
         * reader only then): the sender writes from here on */
        s->suspended = 1;
        s->pending = 0;
        MHD_suspend_connection(s->conn);
        enqueue_locked(s);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->blocked = 0; /* this piece waits for room; the next turn is the sender's */
    const char *data = NULL;
    ssize_t n = s->ended ? -1 : s->ops.peek(s->ctx, &data, s->closing);
    if (n < 0) {
        s->ended = 1;
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n == 0) {
        if (s->pending) {
            s->pending = 0; /* data arrived between peek and here: try again */
        } else if (s->conn) {
            s->suspended = 1;
            MHD_suspend_connection(s->conn);
        }
    } else {
        if ((size_t)n > max)
            n = (ssize_t)max;
        memcpy(buf, data, (size_t)n);
        s->ops.consume(s->ctx, (size_t)n);
        atomic_fetch_add_explicit(&s->hub->sent_bytes, (unsigned long)n, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    return n;
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
    pthread_mutex_lock(&s->lock);
    s->conn = NULL; /* the sender, if it still holds it, leaves it alone */
    s->fd = -1;
    s->suspended = 0;
    unref_unlock(s);
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

void ot_streams_get_stats(ot_streams *h, ot_streams_stats *out)
{
    out->streams = ot_streams_count(h);
    out->sent_bytes = atomic_load(&h->sent_bytes);
    out->socket_full = atomic_load(&h->socket_full);
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
