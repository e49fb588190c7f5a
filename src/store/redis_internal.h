/* redis_internal.h - shared by redis.c (connections, commands, cache,
 * cursors) and redis_mirror.c (the stream mirror). Not for other modules.
 *
 * Ownership: the mirror thread owns its connection and the queue's head
 * (it pops and frees groups); the store's syncer thread only appends at the tail.
 * Both under `mu`. Pool connections are owned by whoever holds the slot.
 */
#ifndef OT_STORE_REDIS_INTERNAL_H
#define OT_STORE_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store/redis.h"

#define REDIS_POOL 4
#define REDIS_KEY_MAX 640

/* One committed event as queued for the mirror; strings point into the
 * group's own block. */
struct rq_ev {
    int64_t cursor;
    int type;
    const char *twin;
    const char *json;
    size_t len;
};

/* One commit group: a single allocation holding the events and their text. */
struct rq_group {
    struct rq_group *next;
    size_t n, pos;              /* events, and how many the mirror consumed */
    size_t bytes;               /* accounted size */
    struct rq_ev ev[];
};

struct ot_redis {
    ot_redis_url url;
    char prefix[256];
    char stream_key[REDIS_KEY_MAX];
    char cursors_key[REDIS_KEY_MAX];
    char maxlen_text[32];
    long maxlen;
    int sim_ttl_s;
    struct ot_store *store;

    /* --- the mirror (redis_mirror.c) --- */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rq_group *head, *tail;
    size_t queued_events, queued_bytes;
    int64_t target;             /* last committed cursor seen */
    int64_t mirrored;           /* last cursor known to be in the stream */
    int stopping, stopped;
    int ahead;                  /* the stream's top is beyond our log */
    atomic_int connected;

    /* --- command pool (redis.c) --- */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    redisContext *pool[REDIS_POOL];
    int pool_busy[REDIS_POOL];
    int64_t cmd_retry_at_ns;    /* while down: no connect before this */
    int cmd_down;

    /* --- last error, for /health --- */
    pthread_mutex_t err_mu;
    char last_error[256];
    int64_t last_error_us;

    /* --- counters --- */
    atomic_llong n_xadd, n_catchup, n_dropped, n_reconnects, n_skipped;
    atomic_llong n_sim_hit, n_sim_miss, n_cmd_fail;
};

/* Connect, authenticate and select the database; NULL with the reason in
 * why (>= 256 bytes). timeout_ms bounds the connect and every command. */
redisContext *ot_redis_connect(ot_redis *r, int timeout_ms, char *why);

/* Remember an error for /health (and log it when it changes). */
void ot_redis_note_error(ot_redis *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Mirror thread (redis_mirror.c). */
int ot_redis_mirror_start(ot_redis *r, ot_error *err);

#endif
