/* sse.c - GET /subscribe: the resumable Server-Sent Events stream.
 *
 * Each subscriber is an ot_stream (api/stream.h) whose peek() renders the
 * next events after its cursor from the ring (or the store, while it
 * catches up) into a small pending buffer. A subscriber holds no thread and
 * no copy of the log: when it has nothing to send it is suspended, and the
 * commit hook wakes it when an event it wants arrives.
 *
 * Wire format, per event:   id: cursor_000123
 *                           event: TelemetryAppended
 *                           data: {...}
 * first a `connected` event, a `heartbeat` event when nothing was written
 * for 10 s (the hub ticks every 5 s, so never more than 15 s apart), and a
 * `lagged` event ({"resume_from": cursor}) before the stream ends when a live
 * subscriber falls more than SSE_MAX_LAG events behind (its client reads
 * too slowly); the client reconnects with that cursor. `connected` and
 * `heartbeat` carry `id:` too (the cursor up to which the subscriber has
 * everything it asked for), so an EventSource that reconnects before any
 * event came resumes from there instead of starting live again.
 *
 * A subscriber's cursor is written under its stream's lock (render,
 * produce) and read without it by the commit hook (ot_sse_wants), hence
 * the relaxed atomic accesses: a stale value there only wakes it once more.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "api/app.h"
#include "api/stream.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/ring.h"
#include "store/store.h"

#define SSE_HEARTBEAT_NS (8LL * 1000000000) /* + the 5 s tick: <= 13 s apart */
#define SSE_MAX_LAG 50000
#define SSE_READ_BATCH 256

typedef struct sse_sub {
    ot_app *app;
    int64_t cursor;           /* last event delivered (or skipped) */
    ot_event_filter f;
    char twin[OT_EVENT_TWIN_MAX];
    ot_buf pending;           /* rendered bytes not yet sent */
    size_t sent;              /* of pending */
    int64_t last_write_ns;
    int live;                 /* caught up at least once */
    int ending;               /* send pending, then end */
} sse_sub;

int ot_sse_wants(void *stream_ctx, const ot_event *evs, size_t n, unsigned types)
{
    sse_sub *s = stream_ctx;
    if (s->f.types && !(s->f.types & types))
        return 0;
    int64_t cursor = __atomic_load_n(&s->cursor, __ATOMIC_RELAXED);
    for (size_t i = 0; i < n; i++)
        if (evs[i].cursor > cursor && ot_event_match(&s->f, evs[i].type, evs[i].twin_id))
            return 1;
    return 0;
}

static int render(void *ctx, const ot_event *ev)
{
    sse_sub *s = ctx;
    if (ev->frame) { /* from the ring: rendered once for everyone */
        ot_buf_append(&s->pending, ev->frame, ev->frame_len);
    } else {         /* from the store, while catching up */
        char c[32];
        ot_buf_printf(&s->pending, "id: %s\nevent: %s\ndata: ", ot_cursor_format(ev->cursor, c),
                      ot_evtype_name(ev->type));
        ot_buf_append(&s->pending, ev->json, ev->json_len);
        ot_buf_append(&s->pending, "\n\n", 2);
    }
    __atomic_store_n(&s->cursor, ev->cursor, __ATOMIC_RELAXED);
    return 0;
}

/* Fill pending with what is due now. */
static void produce(sse_sub *s, int closing)
{
    ot_app *app = s->app;
    char c[32], ts[OT_TS_BUFSZ];
    if (closing) {
        s->ending = 1;
        return;
    }
    int64_t last = ot_store_last_cursor(app->store);
    int64_t scanned = s->cursor;
    ot_error err;
    int n = ot_events_read(app, s->cursor, SSE_READ_BATCH, &s->f, render, s, &scanned, &err);
    if (n < 0) {
        /* the store is unavailable: say so, keep the connection, retry on
         * the next tick */
        ot_buf_printf(&s->pending, "event: error\ndata: {\"message\":\"event log unavailable, "
                                   "retrying\"}\n\n");
        return;
    }
    if (scanned > s->cursor && n < SSE_READ_BATCH) /* skipped events it does not want */
        __atomic_store_n(&s->cursor, scanned, __ATOMIC_RELAXED);
    /* Behind only when a full batch came and more than SSE_MAX_LAG events
     * lie beyond it. Measured before the read, a filtered subscriber that
     * had everything it wanted looked as far behind as the events of other
     * twins or types committed since it last looked. */
    if (s->live && n == SSE_READ_BATCH && last - s->cursor > SSE_MAX_LAG) {
        ot_buf_printf(&s->pending,
                      "event: lagged\ndata: {\"resume_from\":\"%s\",\"reason\":\"the client "
                      "read too slowly; reconnect with since=resume_from\"}\n\n",
                      ot_cursor_format(s->cursor, c));
        s->ending = 1;
        return;
    }
    if (n < SSE_READ_BATCH && s->cursor >= last)
        s->live = 1;
    if (s->pending.len == 0 && ot_mono_ns() - s->last_write_ns >= SSE_HEARTBEAT_NS)
        ot_buf_printf(&s->pending,
                      "event: heartbeat\nid: %s\ndata: {\"ts\":\"%s\",\"cursor\":\"%s\"}\n\n",
                      ot_cursor_format(s->cursor, c), ot_ts_format(ot_now_us(), ts), c);
}

static ssize_t sse_peek(void *ctx, const char **data, int closing)
{
    sse_sub *s = ctx;
    if (s->sent == s->pending.len) {
        ot_buf_reset(&s->pending);
        s->sent = 0;
        if (s->ending)
            return -1;
        produce(s, closing);
        if (s->pending.len == 0)
            return s->ending ? -1 : 0;
    }
    *data = s->pending.data + s->sent;
    return (ssize_t)(s->pending.len - s->sent);
}

static void sse_consume(void *ctx, size_t n)
{
    sse_sub *s = ctx;
    s->sent += n;
    s->last_write_ns = ot_mono_ns();
}

static void sse_free(void *ctx)
{
    sse_sub *s = ctx;
    atomic_fetch_sub(&s->app->sse_count, 1);
    ot_buf_free(&s->pending);
    free(s);
}

void ot_h_subscribe(ot_req *req)
{
    ot_app *app = req->app;
    sse_sub *s = calloc(1, sizeof *s);
    if (!s) {
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    ot_buf_init(&s->pending);
    s->app = app;
    if (ot_events_filter_from_query(req, &s->f, s->twin, sizeof s->twin))
        goto fail;
    /* Last-Event-ID (a reconnecting EventSource) wins over since */
    const char *since = ot_req_header(req, "Last-Event-ID"), *field = "Last-Event-ID";
    if (!since || !*since) {
        since = ot_req_query(req, "since");
        field = "$.since";
    }
    if (since && *since) {
        if (ot_events_check_since(req, since, field, &s->cursor))
            goto fail;
    } else {
        s->cursor = ot_store_last_cursor(app->store); /* live only */
    }
    if (atomic_fetch_add(&app->sse_count, 1) >= app->cfg.max_sse_connections) {
        atomic_fetch_sub(&app->sse_count, 1);
        ot_reply_errorf(req, OT_EBUSY, NULL,
                        "too many subscribers (MAX_SSE_CONNECTIONS=%d); retry later or use /diff",
                        app->cfg.max_sse_connections);
        goto fail;
    }
    char c[32], ts[OT_TS_BUFSZ];
    ot_buf_printf(&s->pending,
                  "retry: 2000\nevent: connected\nid: %s\ndata: {\"cursor\":\"%s\",\"ts\":\"%s\","
                  "\"heartbeat_s\":10}\n\n",
                  ot_cursor_format(s->cursor, c), c, ot_ts_format(ot_now_us(), ts));
    s->last_write_ns = ot_mono_ns();
    /* keyed by its twin filter: only commits with that twin's events wake it */
    static const ot_stream_ops ops = {sse_peek, sse_consume, sse_free};
    ot_stream *st = ot_stream_new(app->streams, s->f.twin_id, &ops, s);
    if (!st) {
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return; /* sse_free ran */
    }
    ot_reply_stream(req, st, "text/event-stream");
    return;
fail:
    ot_buf_free(&s->pending);
    free(s);
}
