/* events.h - the event log as readers see it: the in-memory ring of recent
 * events, falling back to the store for older cursors, plus cursor syntax
 * and the query filters shared by /diff and /subscribe.
 *
 * ot_events_on_commit is the store's commit hook: it runs on the writer
 * thread after each durable group, appends to the ring and wakes the SSE
 * subscribers that have something new.
 */
#ifndef OT_AIW_EVENTS_H
#define OT_AIW_EVENTS_H

#include <stdint.h>

#include "api/http.h"
#include "core/evtype.h"

struct ot_app;

/* Parse "cursor_000123" (prefix, 6 to 18 digits). 0 or -1. */
int ot_cursor_parse(const char *s, int64_t *out);
/* (ot_cursor_format is in core/evtype.h.) */

/* Events after `after` matching f, oldest first, at most limit: from the
 * ring when it holds them, else from the store. Same contract as
 * ot_ring_read, but never -1: a negative return is an error code. */
int ot_events_read(struct ot_app *app, int64_t after, int limit, const ot_event_filter *f,
                   int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to,
                   ot_error *err);

/* Commit hook for the store (ctx = the app). */
void ot_events_on_commit(void *ctx, const ot_event *evs, size_t n);

/* Read twin_id/types query parameters into f (twin_buf keeps the twin id).
 * On bad input replies 400 naming the parameter and returns -1. */
int ot_events_filter_from_query(ot_req *req, ot_event_filter *f, char *twin_buf,
                                size_t twin_len);

/* Resolve a `since` cursor: replies 400 (malformed, or beyond the newest
 * event: no cursor of this log is, since none is shown before it is
 * published, so it comes from another log - a data folder or database
 * restored from an older copy, or started afresh - and reading on would
 * skip the events up to it once they exist; with the newest cursor) or 410
 * (older than the oldest stored event, with the oldest available cursor)
 * and returns -1. field names where the cursor came from, as the error's
 * path: "$.since", "$.subscriber" (a remembered one), "Last-Event-ID" (the
 * header). */
int ot_events_check_since(ot_req *req, const char *since, const char *field, int64_t *after);

/* twin, asset and metric names: [A-Za-z0-9_.:-]{1,128}. */
int ot_name_valid(const char *s, size_t max);

/* The {twin_id} path parameter, checked; NULL after replying 400 naming it. */
const char *ot_req_twin_path(ot_req *req);

/* The optional twin_id query parameter: 0 with *twin NULL (absent or
 * empty) or the value; -1 after replying 400 naming it. */
int ot_req_twin_query(ot_req *req, const char **twin);

/* Drop the items (objects with "twin_id") a scoped token may not see;
 * returns arr. */
json_t *ot_req_scope_filter(const ot_req *req, json_t *arr);

void ot_h_diff(ot_req *req);
void ot_h_subscribe(ot_req *req);

/* sse.c, for ot_events_on_commit: does a subscriber (stream ctx) want any
 * of the group's events? types has bit t set when the group holds an event
 * of type t, so a type filter is answered without a look at the events. */
int ot_sse_wants(void *stream_ctx, const ot_event *evs, size_t n, unsigned types);

#endif
