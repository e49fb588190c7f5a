/* stream.h - long-lived HTTP responses without a thread per stream.
 *
 * An ot_stream is a response body produced on demand. libmicrohttpd calls the
 * stream's content reader when the socket can take more bytes; the reader
 * asks the owner's pull() for data. When pull() has nothing, the connection
 * is suspended (MHD_suspend_connection) and costs no CPU until someone calls
 * ot_streams_wake*() after new data arrived, which resumes it. A suspended
 * connection neither times out nor notices a disconnect, so the hub's
 * heartbeat thread visits every stream once per interval: it peeks a
 * suspended stream's socket (end-of-file ends the stream at once) and wakes
 * the stream: pull() then emits a heartbeat when one is due, and a write
 * that fails ends the stream. The visits are spread over the interval (one
 * tick per stream, at most 500 ticks, each visiting its share of the streams
 * in list order), so ten thousand idle streams cost a few hundred resumes
 * every 10 ms rather than ten thousand at once.
 *
 *     producer (any thread)          MHD worker thread
 *     ---------------------          -----------------
 *     append data somewhere          reader(): pull() -> bytes -> socket
 *     ot_streams_wake_if(...)  --->  reader(): pull() -> 0 -> suspend
 *                                    ... resumed by wake: reader() again
 *
 * A tick's visits and ot_streams_wake_if hold the hub's lock for at most 64
 * streams at a time, so a commit's keyed wake never waits behind a walk of
 * ten thousand streams.
 *
 * Lost wake-ups are impossible: wake and suspend take the stream's lock, and
 * a wake that finds the stream running sets a flag that makes the reader try
 * pull() again instead of suspending.
 *
 * Ownership: the hub owns every stream. A stream is freed (and its free_ctx
 * called) once libmicrohttpd is done with it; the hub's lock guarantees no
 * wake touches it afterwards. Before the daemon stops, ot_streams_close_all
 * ends every stream and resumes suspended connections (libmicrohttpd must
 * not be stopped with suspended connections).
 */
#ifndef OT_API_STREAM_H
#define OT_API_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;
typedef struct ot_stream ot_stream;
typedef struct ot_streams ot_streams;

/* Produce up to cap bytes into buf. Return the byte count (> 0), 0 when
 * there is nothing to send now (the stream suspends), or -1 to end the
 * stream. Called on an HTTP thread, never concurrently for one stream,
 * with the stream's lock held: do not call ot_streams_* from inside. */
typedef ssize_t (*ot_stream_pull_fn)(void *ctx, char *buf, size_t cap, int closing);
typedef void (*ot_stream_free_fn)(void *ctx);

/* Hub with a heartbeat thread that wakes all streams every interval_ms. */
ot_streams *ot_streams_new(int heartbeat_interval_ms);
void ot_streams_free(ot_streams *h); /* after close_all and the daemon stop */

/* New stream registered in the hub; ctx is owned by the stream. key (copied,
 * may be NULL) is what keyed wakes select it by: a stream with a key is only
 * woken by ot_streams_wake_keyed calls naming that key (and by wake_if); one
 * without is woken by every keyed wake. NULL on OOM (free_ctx(ctx) has then
 * been called). */
ot_stream *ot_stream_new(ot_streams *h, const char *key, ot_stream_pull_fn pull,
                         ot_stream_free_fn free_ctx, void *ctx);

/* Used by http.c: attach the connection, and the MHD callbacks. */
void ot_stream_attach(ot_stream *s, struct MHD_Connection *conn);
ssize_t ot_stream_reader(void *cls, uint64_t pos, char *buf, size_t max);
void ot_stream_release(void *cls);

/* Wake the streams whose ctx satisfies pred (NULL = all). Walks every
 * stream: for heartbeats and shutdown, not for each new piece of data. */
void ot_streams_wake_if(ot_streams *h, int (*pred)(void *ctx, void *arg), void *arg);

/* Wake, among the streams without a key and those whose key is one of
 * key_at(arg, 0 .. nkeys-1) (repeats allowed), each one whose ctx satisfies
 * pred (NULL = all), once. Cost: the unkeyed streams plus the streams of
 * the keys named, not every stream. */
void ot_streams_wake_keyed(ot_streams *h, size_t nkeys,
                           const char *(*key_at)(void *arg, size_t i),
                           int (*pred)(void *ctx, void *arg), void *arg);

/* Number of live streams. */
long ot_streams_count(ot_streams *h);

/* Ask every stream to end (pull sees closing=1, then the stream ends) and
 * wait up to timeout_ms for libmicrohttpd to let go of them. */
void ot_streams_close_all(ot_streams *h, int timeout_ms);

#endif
