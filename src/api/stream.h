/* stream.h - long-lived HTTP responses without a thread per stream.
 *
 * An ot_stream is a response body produced on demand: its owner's peek()
 * shows the next bytes, consume() says how many of them went out. A stream
 * with nothing to send is a suspended libmicrohttpd connection and costs no
 * CPU. When data arrives, the producer calls ot_streams_wake*(), and the
 * hub's sender thread writes the bytes straight to the suspended
 * connection's socket (non-blocking): no resume, no trip through
 * libmicrohttpd's buffers and worker threads for the common case, so a
 * commit reaches a hundred subscribers in one pass of one thread.
 *
 *     producer (any thread)        sender thread             MHD worker
 *     ---------------------        -------------             ----------
 *     append data somewhere
 *     ot_streams_wake_keyed() -->  peek() -> send() ->
 *                                  consume(); until peek()
 *                                  shows nothing
 *                                  socket full: resume --->  reader(): one small
 *                                                            piece, sent when the
 *                                                            socket has room; then
 *                                  <--- suspend, hand back   reader() again
 *
 * Why this is safe: libmicrohttpd calls the reader only once everything it
 * was given has been sent, and does not touch a suspended connection's
 * socket; the sender writes only while the stream is suspended, under the
 * stream's lock, and resumes it (after which it never touches the socket)
 * for anything else: a full socket (libmicrohttpd then waits for room), an
 * end, a closing. The response is not chunked (HTTP/1.1 with Connection:
 * close, or HTTP/1.0: the body ends with the connection), so bytes written
 * directly and bytes sent by libmicrohttpd are one byte stream.
 *
 * A suspended connection neither times out nor notices a disconnect, so the
 * hub's heartbeat thread visits every stream once per interval: it peeks a
 * suspended stream's socket (end-of-file ends the stream at once) and wakes
 * the stream: peek() then shows a heartbeat when one is due, and a write
 * that fails ends the stream. The visits are spread over the interval (one
 * tick per stream, at most 500 ticks, each visiting its share of the streams
 * in list order), so ten thousand idle streams cost a few hundred visits
 * every 10 ms rather than ten thousand at once. A tick's visits and
 * ot_streams_wake_if hold the hub's lock for at most 64 streams at a time,
 * so a commit's keyed wake never waits behind a walk of ten thousand
 * streams.
 *
 * Lost wake-ups are impossible: wake, suspend and the sender's writes take
 * the stream's lock; a wake that finds the stream suspended queues it for
 * the sender, one that finds it with libmicrohttpd sets a flag that makes
 * the reader look again instead of suspending.
 *
 * Ownership: the hub owns every stream. A stream is freed (and its free_ctx
 * called) once libmicrohttpd is done with it (ot_stream_release) and the
 * sender's queue no longer holds it. Before the daemon stops,
 * ot_streams_close_all ends every stream and resumes suspended connections
 * (libmicrohttpd must not be stopped with suspended connections).
 */
#ifndef OT_API_STREAM_H
#define OT_API_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;
typedef struct ot_stream ot_stream;
typedef struct ot_streams ot_streams;

/* What a stream's owner provides. Called with the stream's lock held (on
 * an HTTP thread or the sender, never concurrently for one stream): do not
 * call ot_streams_* from inside. */
typedef struct ot_stream_ops {
    /* Point *data at the next bytes to send (the owner's, unchanged until
     * consume) and return their count (> 0); 0 when there is nothing to
     * send now (the stream suspends); -1 to end the stream. closing: the
     * hub is ending the stream (send what must be sent, then end). */
    ssize_t (*peek)(void *ctx, const char **data, int closing);
    /* n of the bytes last shown by peek went out (n <= that count). */
    void (*consume)(void *ctx, size_t n);
    void (*free_ctx)(void *ctx);
} ot_stream_ops;

/* Counters since the hub was made. */
typedef struct ot_streams_stats {
    long streams;              /* live now */
    unsigned long sent_bytes;  /* sent to clients (by the sender or libmicrohttpd) */
    unsigned long socket_full; /* times a socket was full (the client reads slowly) */
} ot_streams_stats;

/* Hub with a heartbeat thread that visits every stream once per interval_ms,
 * and a sender thread. */
ot_streams *ot_streams_new(int heartbeat_interval_ms);
void ot_streams_free(ot_streams *h); /* after close_all and the daemon stop */

/* New stream registered in the hub; ctx is owned by the stream. key (copied,
 * may be NULL) is what keyed wakes select it by: a stream with a key is only
 * woken by ot_streams_wake_keyed calls naming that key (and by wake_if); one
 * without is woken by every keyed wake. ops is copied. NULL on OOM
 * (free_ctx(ctx) has then been called). */
ot_stream *ot_stream_new(ot_streams *h, const char *key, const ot_stream_ops *ops, void *ctx);

/* Used by http.c: attach the connection (its response must not be chunked,
 * see above), and the MHD callbacks. */
void ot_stream_attach(ot_stream *s, struct MHD_Connection *conn);
ssize_t ot_stream_reader(void *cls, uint64_t pos, char *buf, size_t max);
void ot_stream_release(void *cls);

/* Wake the streams whose ctx satisfies pred (NULL = all). Walks every
 * stream, 64 at a time under the hub's lock (as the heartbeat tick does):
 * not for each new piece of data. The server itself does not call it (the
 * heartbeat thread and ot_streams_close_all walk the streams their own
 * ways); the unit tests use it to drive that bounded walk. */
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

void ot_streams_get_stats(ot_streams *h, ot_streams_stats *out);

/* Ask every stream to end (peek sees closing=1, then the stream ends) and
 * wait up to timeout_ms for libmicrohttpd to let go of them. */
void ot_streams_close_all(ot_streams *h, int timeout_ms);

#endif
