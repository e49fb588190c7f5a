/* diff.c - GET /diff?since=&limit=&twin_id=&types=&subscriber=: one page
 * of the event log after a cursor. The page is assembled from the events'
 * stored JSON text, never re-encoded.
 *
 * subscriber=NAME: without since, the page starts after NAME's remembered
 * cursor, the token subject's own (0 when new); an explicit since wins. Once the page is built,
 * NAME's cursor becomes its next_cursor (aiw/subscribers.h); when that
 * cannot be saved the page is not served (503), so NAME never skips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "aiw/subscribers.h"
#include "api/app.h"
#include "core/buf.h"
#include "store/store.h"

struct page {
    ot_buf out;
    int n;
    int64_t last;
};

static int add_event(void *ctx, const ot_event *ev)
{
    struct page *p = ctx;
    if (p->n++)
        ot_buf_append(&p->out, ",", 1);
    ot_buf_append(&p->out, ev->json, ev->json_len);
    p->last = ev->cursor;
    return 0;
}

void ot_h_diff(ot_req *req)
{
    ot_app *app = req->app;
    int64_t after = 0;
    const char *since = ot_req_query(req, "since");
    const char *sub = ot_req_query(req, "subscriber");
    char remembered[32] = "";
    if (sub && !ot_subscriber_name_valid(sub)) {
        ot_reply_errorf(req, OT_EINVAL, "$.subscriber",
                        "subscriber must be 1-%d characters of A-Z a-z 0-9 _ . : -",
                        OT_SUBSCRIBER_NAME_MAX);
        return;
    }
    if (since && *since && ot_events_check_since(req, since, "$.since", &after))
        return;
    int limit = 100;
    const char *ls = ot_req_query(req, "limit");
    if (ls) {
        char *end;
        long v = strtol(ls, &end, 10);
        if (*ls == '\0' || *end || v < 1 || v > app->cfg.max_diff_page_size) {
            ot_reply_errorf(req, OT_EINVAL, "$.limit", "limit must be an integer from 1 to %d",
                            app->cfg.max_diff_page_size);
            return;
        }
        limit = (int)v;
    }
    ot_event_filter f;
    char twin[OT_EVENT_TWIN_MAX];
    if (ot_events_filter_from_query(req, &f, twin, sizeof twin))
        return;
    if (sub && !(since && *since)) { /* after every check of the input */
        ot_error serr;
        int64_t c;
        if (ot_subscribers_get(app->subscribers, ot_req_actor(req), sub, &c, &serr)) {
            ot_reply_error(req, &serr);
            return;
        }
        /* resumes like since=; older than the retention window is a 410 too */
        if (c > 0) {
            since = ot_cursor_format(c, remembered);
            if (ot_events_check_since(req, since, "$.subscriber", &after))
                return;
        }
    }

    struct page p = {.n = 0, .last = after};
    ot_buf_init(&p.out);
    char c[32];
    ot_buf_puts(&p.out, "{\"since\":");
    if (since && *since)
        ot_buf_printf(&p.out, "\"%s\"", ot_cursor_format(after, c));
    else
        ot_buf_puts(&p.out, "null");
    ot_buf_puts(&p.out, ",\"events\":[");
    int64_t scanned = after;
    ot_error err;
    ot_error_clear(&err);
    /* read before the page: every event up to it is examined by the read */
    int64_t committed_before = ot_store_last_cursor(app->store);
    int n = ot_events_read(app, after, limit, &f, add_event, &p, &scanned, &err);
    if (n < 0) {
        ot_buf_free(&p.out);
        ot_reply_error(req, &err);
        return;
    }
    /* A full page ends at its last event. A short page examined everything
     * committed before the read, so with filters the next page may start
     * after events that did not match. */
    int64_t next = p.last;
    if (n < limit) {
        if (scanned > next)
            next = scanned;
        if (committed_before > next)
            next = committed_before;
    }
    int has_more = next < ot_store_last_cursor(app->store);
    ot_buf_printf(&p.out, "],\"next_cursor\":\"%s\",\"has_more\":%s,\"count\":%d",
                  ot_cursor_format(next, c), has_more ? "true" : "false", n);
    if (sub) {
        if (ot_subscribers_set(app->subscribers, ot_req_actor(req), sub, next, &err)) {
            ot_buf_free(&p.out);
            ot_reply_error(req, &err);
            return;
        }
        ot_buf_printf(&p.out, ",\"subscriber\":\"%s\"", sub); /* name charset needs no escaping */
    }
    ot_buf_puts(&p.out, "}");
    if (ot_buf_failed(&p.out)) {
        ot_buf_free(&p.out);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory building the page");
        return;
    }
    ot_reply_data(req, 200, "application/json", p.out.data, p.out.len);
    ot_buf_free(&p.out);
}
