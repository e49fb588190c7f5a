/* redis.h - the optional Redis integration (REDIS_URL): the event stream
 * mirror, the shared cache of seeded simulation results, and named
 * subscriber cursors. hiredis stays inside src/store/; callers see only
 * this header.
 *
 * Keys (PREFIX = REDIS_PREFIX, default "opstwin:"):
 *
 *   PREFIXevents        stream (key REDIS_STREAM when set), one entry per
 *                       committed event, in cursor order, trimmed with
 *                       MAXLEN ~ REDIS_STREAM_MAXLEN.
 *                       Entry ID = "<cursor>-0" (cursor_000123 <-> 123-0),
 *                       fields: type (wire name), twin_id, event (the event
 *                       JSON exactly as /diff serves it).
 *   PREFIXcursors       hash, subscriber name -> cursor number ("123").
 *   PREFIXsim:<sha256>  string, a seeded simulation result (JSON), with a
 *                       TTL of REDIS_SIM_TTL seconds; <sha256> is the hex
 *                       digest of the simulation cache key.
 *
 * The mirror: ot_redis_on_commit is an app commit listener. It runs on the
 * store's syncer thread and only copies the group into a bounded queue (one
 * allocation per group); the mirror's own thread sends pipelined XADDs, a
 * batch at a time inside MULTI/EXEC (a refused XADD discards its batch). The
 * stream is kept complete, in order and without duplicates by construction:
 * after (re)connecting, the thread reads the stream's last ID (XREVRANGE
 * key + - COUNT 1) and sends only cursors after it, each exactly once; what
 * the queue no longer holds (overflow, Redis down) is read back from the
 * store. Redis refuses an ID at or below the stream's top, so a second
 * writer can never make it go backwards. When the stream is empty (new key)
 * the mirror starts at most MAXLEN events before the log's end.
 *
 * Redis being unreachable fails nothing that has another path: the server
 * serves from its own log and store; the mirror and the command connections
 * reconnect by themselves with backoff (100 ms doubling to 5 s); /health
 * reports the component "redis" as degraded with the last error.
 *
 * Thread-safety: every function may be called from any thread. The command
 * functions (sim cache, cursors) use a small pool of connections and block
 * for at most the command timeout (1 s); while Redis is known to be down
 * they fail at once (they retry the connection at most once a second).
 */
#ifndef OT_STORE_REDIS_H
#define OT_STORE_REDIS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/evtype.h"

struct ot_store;
struct ot_buf;
typedef struct ot_redis ot_redis;

/* --- pure helpers (unit-tested) ------------------------------------------- */

/* A parsed REDIS_URL: redis://[[user]:password@]host[:port][/db].
 * host may be [v6-address]; port defaults to 6379, db to 0. */
typedef struct ot_redis_url {
    char host[256];
    int port;
    char user[128];      /* "" = the default user */
    char password[256];  /* "" = no AUTH */
    int db;
} ot_redis_url;

/* 0, or OT_EINVAL naming REDIS_URL with what is wrong (rediss:// is refused:
 * this build's hiredis has no TLS). Percent-escapes in user and password
 * are decoded. */
int ot_redis_url_parse(const char *url, ot_redis_url *out, ot_error *err);

/* Stream entry ID of a cursor: "123-0" into buf (>= 32 bytes); returns buf. */
char *ot_redis_id_format(int64_t cursor, char *buf);

/* Cursor of a stream entry ID "<ms>-<seq>" (len bytes, not necessarily
 * NUL-terminated): 0, or -1 when it is not "<digits>-0" or out of range. */
int ot_redis_id_parse(const char *id, size_t len, int64_t *cursor);

/* --- the integration ------------------------------------------------------- */

typedef struct ot_redis_options {
    const char *url;            /* REDIS_URL */
    const char *prefix;         /* REDIS_PREFIX */
    const char *stream;         /* REDIS_STREAM, "" = PREFIX "events" */
    long stream_maxlen;         /* REDIS_STREAM_MAXLEN */
    int sim_ttl_s;              /* REDIS_SIM_TTL */
    struct ot_store *store;     /* the log the mirror catches up from */
} ot_redis_options;

/* Parse the URL and start the mirror thread; connecting happens in the
 * background, so a Redis that is down at start is not an error (it shows
 * in /health). Fails only on a malformed URL or out of memory. */
int ot_redis_start(const ot_redis_options *opt, ot_redis **out, ot_error *err);

/* Commit listener (ot_commit_fn; ctx = the ot_redis). Never blocks beyond
 * a short lock; copies the events. */
void ot_redis_on_commit(void *ctx, const ot_event *evs, size_t n);

/* Mirror what is committed so far (for up to 3 s while Redis answers),
 * then stop the thread. Afterwards on_commit ignores events (they are
 * mirrored at the next start). The store must still be open. */
void ot_redis_stop(ot_redis *r);

/* Close the connections and free (after ot_redis_stop and after the store
 * has stopped calling the listener). NULL is fine. */
void ot_redis_free(ot_redis *r);

/* /health probe: "ok" when the mirror is connected and the last command
 * reached Redis, else "degraded"; detail: address, connected, stream,
 * mirrored_cursor, lag, queued, commands, last_error, last_error_at, and
 * stream_ahead when the stream holds cursors beyond this server's log. */
const char *ot_redis_health(void *r, json_t *detail);

/* Prometheus lines: connected, mirrored cursor, lag, XADDs, catch-up
 * reads, reconnects, cache hits/misses, command failures. */
void ot_redis_metrics(void *r, struct ot_buf *out);

/* The last cursor known to be in the stream (0 before the first connect). */
int64_t ot_redis_mirrored(ot_redis *r);

/* --- simulation cache -------------------------------------------------------- */

/* A cached result for key (any text; hashed), or NULL on a miss or when
 * Redis is unreachable. Caller frees. */
char *ot_redis_sim_get(ot_redis *r, const char *key);

/* Cache result for key with the configured TTL; failures are counted and
 * otherwise ignored. */
void ot_redis_sim_put(ot_redis *r, const char *key, const char *result);

/* --- subscriber cursors ------------------------------------------------------ */

/* NAME's remembered cursor (0 when new). OT_EUNAVAIL when Redis cannot be
 * reached (err says so), OT_EIO when the stored value is not a number. */
int ot_redis_cursor_get(ot_redis *r, const char *name, int64_t *cursor, ot_error *err);

/* Remember NAME's cursor. 0 or OT_EUNAVAIL. */
int ot_redis_cursor_set(ot_redis *r, const char *name, int64_t cursor, ot_error *err);

#endif
