/* events.c - see events.h. */
#include "aiw/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/stream.h"
#include "core/ring.h"
#include "store/store.h"

int ot_cursor_parse(const char *s, int64_t *out)
{
    if (strncmp(s, "cursor_", 7) != 0)
        return -1;
    const char *d = s + 7;
    size_t n = strlen(d);
    if (n < 6 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        v = v * 10 + (d[i] - '0');
    }
    *out = v;
    return 0;
}

int ot_name_valid(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return n > 0 && n <= max;
}

#define TWIN_RULE "twin_id must be 1-128 characters of A-Z a-z 0-9 _ . : -"

const char *ot_req_twin_path(ot_req *req)
{
    const char *twin = ot_req_param(req, "twin_id");
    if (twin && ot_name_valid(twin, 128))
        return twin;
    ot_reply_errorf(req, OT_EINVAL, "$.twin_id", TWIN_RULE);
    return NULL;
}

int ot_req_twin_query(ot_req *req, const char **twin)
{
    const char *t = ot_req_query(req, "twin_id");
    *twin = NULL;
    if (!t || !*t)
        return 0;
    if (!ot_name_valid(t, 128)) {
        ot_reply_errorf(req, OT_EINVAL, "$.twin_id", TWIN_RULE);
        return -1;
    }
    *twin = t;
    return 0;
}

json_t *ot_req_scope_filter(const ot_req *req, json_t *arr)
{
    if (!req->authed || req->principal.nscopes == 0)
        return arr;
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *twin = json_string_value(json_object_get(json_array_get(arr, i), "twin_id"));
        if (!twin || !ot_principal_scope_ok(&req->principal, twin))
            json_array_remove(arr, i);
    }
    return arr;
}

int ot_events_read(ot_app *app, int64_t after, int limit, const ot_event_filter *f,
                   int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to,
                   ot_error *err)
{
    /* An empty ring knows nothing (after a restart it has not seen the
     * events already in the store): only the store can answer. */
    int64_t oldest, last;
    ot_ring_range(app->ring, &oldest, &last);
    int n = last >= oldest ? ot_ring_read(app->ring, after, limit, f, fn, ctx, scanned_to) : -1;
    if (n >= 0)
        return n;
    return ot_store_read_events(app->store, after, limit, f, fn, ctx, scanned_to, err);
}

struct wake_arg {
    const ot_event *evs;
    size_t n;
    unsigned types; /* bit t set when the group has an event of type t */
};

static int wake_pred(void *ctx, void *arg)
{
    struct wake_arg *w = arg;
    return ot_sse_wants(ctx, w->evs, w->n, w->types);
}

static const char *wake_key(void *arg, size_t i)
{
    return ((struct wake_arg *)arg)->evs[i].twin_id;
}

void ot_events_on_commit(void *ctx, const ot_event *evs, size_t n)
{
    ot_app *app = ctx;
    ot_ring_append(app->ring, evs, n);
    struct wake_arg w = {evs, n, 0};
    for (size_t i = 0; i < n; i++)
        w.types |= 1u << evs[i].type;
    ot_streams_wake_keyed(app->streams, n, wake_key, wake_pred, &w);
    int nl = atomic_load(&app->nlisteners);
    for (int i = 0; i < nl; i++)
        app->listeners[i].fn(app->listeners[i].ctx, evs, n);
}

int ot_events_filter_from_query(ot_req *req, ot_event_filter *f, char *twin_buf,
                                size_t twin_len)
{
    memset(f, 0, sizeof *f);
    const char *twin;
    if (ot_req_twin_query(req, &twin))
        return -1;
    if (twin) {
        snprintf(twin_buf, twin_len, "%s", twin);
        f->twin_id = twin_buf;
    } else if (req->authed && req->principal.nscopes > 0) {
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id",
                        "this token is scoped to some twins: pass twin_id to read their events");
        return -1;
    }
    const char *types = ot_req_query(req, "types");
    if (types && *types) {
        for (const char *p = types; *p;) {
            const char *e = strchr(p, ',');
            int len = e ? (int)(e - p) : (int)strlen(p);
            int t = ot_evtype_parse(p, len);
            if (t < 0) {
                ot_reply_errorf(req, OT_EINVAL, "$.types",
                                "unknown event type '%.*s'; see event_types in the manifest",
                                len, p);
                return -1;
            }
            f->types |= 1u << t;
            p += len;
            if (*p == ',')
                p++;
        }
    }
    return 0;
}

/* Reply for a cursor outside the log: 410 older than its oldest event, or
 * 400 beyond its newest; the details name the cursor to use instead. */
static int out_of_log(ot_req *req, const char *since, const char *field, int beyond, int64_t use)
{
    char c[32], msg[320];
    ot_cursor_format(use, c);
    json_t *details = json_pack("[{s:s, s:s, s:s}]", "path", field, "message",
                                beyond ? "beyond the newest event" : "older than the retention window",
                                beyond ? "newest_cursor" : "oldest_cursor", c);
    if (beyond)
        snprintf(msg, sizeof msg,
                 "cursor %s (%s) is beyond the newest event %s: it is not from this log (a "
                 "restored or reset data folder?); read from the start or from since=%s",
                 since, field, c, c);
    else
        snprintf(msg, sizeof msg,
                 "cursor %s (%s) is older than the oldest stored event; resume from %s "
                 "(since=%s) or read a snapshot",
                 since, field, c, c);
    ot_reply_error_details(req, beyond ? OT_EINVAL : OT_EGONE, msg, details);
    return -1;
}

int ot_events_check_since(ot_req *req, const char *since, const char *field, int64_t *after)
{
    if (ot_cursor_parse(since, after)) {
        ot_reply_errorf(req, OT_EINVAL, field,
                        "malformed cursor '%.60s' in %s: expected cursor_ followed by 6 to 18 "
                        "digits, e.g. cursor_000123",
                        since, field);
        return -1;
    }
    int64_t oldest = ot_store_oldest_cursor(req->app->store);
    if (*after + 1 < oldest)
        return out_of_log(req, since, field, 0, oldest - 1);
    int64_t newest = ot_store_last_cursor(req->app->store);
    if (*after > newest)
        return out_of_log(req, since, field, 1, newest);
    return 0;
}
