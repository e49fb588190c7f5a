/* http.h - requests, replies and the HTTP server (libmicrohttpd glue).
 *
 * A request goes: MHD accepts it on one of its epoll worker threads ->
 * ot_http routes it (router.h) -> the body is read, bounded by
 * MAX_BODY_BYTES (413 beyond) -> the route's handler runs on the same worker
 * thread and gives exactly one reply (ot_reply_*) -> the completion callback
 * writes the access log line and the metrics.
 *
 * Handlers must not block for long: durable writes wait on the store's group
 * commit (milliseconds); anything slower runs elsewhere and is polled or
 * streamed. Long-lived responses (SSE) are ot_stream objects (stream.h): they
 * suspend their connection when there is nothing to send, so no thread is
 * held per stream.
 *
 * Ownership: an ot_req lives from the first byte of a request to the end of
 * its response and is owned by this module. Strings returned by accessors are
 * borrowed for the life of the request. ot_reply_json steals its json_t.
 */
#ifndef OT_API_HTTP_H
#define OT_API_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "core/error.h"
#include "policy/auth.h"

struct ot_app;
struct ot_route;
struct ot_stream;
struct MHD_Connection;
struct MHD_Response;

#define OT_MAX_PATH_PARAMS 8
#define OT_REQUEST_ID_MAX 64

typedef struct ot_req {
    struct ot_app *app;
    struct MHD_Connection *conn;
    const struct ot_route *route; /* NULL when no route matched */
    const char *method;
    const char *url;              /* path, already percent-decoded by MHD */
    char *path_copy;              /* segments for path params point in here */
    int nparams;
    const char *param_names[OT_MAX_PATH_PARAMS];
    const char *param_values[OT_MAX_PATH_PARAMS];
    char request_id[OT_REQUEST_ID_MAX];
    char *body;                   /* NUL-terminated, may be NULL */
    size_t body_len, body_cap;
    int64_t start_ns;
    int status;                   /* status of the queued reply, 0 before */
    int replied;
    int early_status;             /* 413/404/405 decided before the body */
    struct MHD_Response *response;/* built by ot_reply_*, queued by http.c */
    int authed;                   /* principal is set (a valid token came) */
    struct req_audit *audit;      /* ot_req_audit (http.c) */
    ot_principal principal;
    /* deferred replies (ot_req_defer): guarded by defer_mu */
    pthread_mutex_t defer_mu;
    int defer_state;              /* 0 none, 1 deferred, 2 suspended, 3 completed */
    void (*resume_fn)(struct ot_req *req);
    void *defer_ctx;
} ot_req;

typedef void (*ot_handler)(ot_req *req);

/* --- request accessors --------------------------------------------------- */

/* Path parameter by name ("id" for /r/{type}/{id}); NULL if absent. */
const char *ot_req_param(const ot_req *req, const char *name);
/* Query argument by name; NULL if absent. */
const char *ot_req_query(const ot_req *req, const char *name);
/* Request header by name (case-insensitive); NULL if absent. */
const char *ot_req_header(const ot_req *req, const char *name);

/* 1 when the body is empty or only whitespace. */
int ot_req_body_blank(const ot_req *req);

/* Parse the body as a JSON value. On failure replies 400 itself (an empty
 * body as such, else naming the value the parser stopped in, the line and
 * the column) and returns NULL; the handler then just returns. Caller owns
 * the returned reference. */
json_t *ot_req_json(ot_req *req);

/* 1 if the request's token may act on twin_id (always 1 without a token
 * on a public route, or with an unscoped token). Handlers call this for
 * twin ids that come in the body; path and query twin_id are checked
 * before the handler runs. */
int ot_req_scope_ok(const ot_req *req, const char *twin_id);

/* Who is asking: the token's sub, or "anonymous". */
const char *ot_req_actor(const ot_req *req);

/* Attach this request's audit record (actor, "METHOD /route/pattern",
 * target) to a store write, so the write and its audit entry commit
 * together. target is copied into the record. */
struct ot_store_write;
void ot_req_audit(ot_req *req, struct ot_store_write *w, const char *target);

/* --- replies: exactly one per request ------------------------------------ */

/* JSON reply; steals body. Reals are written with 17 significant digits,
 * so each reads back as the same double (as the stored texts are). */
void ot_reply_json(ot_req *req, int status, json_t *body);

/* JSON reply already rendered into b (see core/buf.h); takes b's memory and
 * frees b. A buffer whose growth failed answers 500. */
struct ot_buf;
void ot_reply_buf(ot_req *req, int status, struct ot_buf *b);

/* Error envelope {"error":{"code","message","details":[{"path","message"}]}}
 * with the status mapped from err->code. A path in err becomes one detail. */
void ot_reply_error(ot_req *req, const ot_error *err);

/* Error envelope with explicit code, message and details (stolen, may be
 * NULL). */
void ot_reply_error_details(ot_req *req, int code, const char *message, json_t *details);

/* Shorthand: ot_error_set + ot_reply_error. */
void ot_reply_errorf(ot_req *req, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Raw reply; data is copied. */
void ot_reply_data(ot_req *req, int status, const char *content_type, const void *data,
                   size_t len);

/* Static reply; data must outlive the server (embedded files). */
void ot_reply_static(ot_req *req, int status, const char *content_type, const void *data,
                     size_t len);

/* Long-lived streaming reply (text/event-stream); the stream is owned by
 * the HTTP layer from here on. */
void ot_reply_stream(ot_req *req, struct ot_stream *stream, const char *content_type);

/* Add a header to the reply already given (call after ot_reply_*). */
void ot_reply_header(ot_req *req, const char *name, const char *value);

/* --- deferred replies ---------------------------------------------------- */

/* Reply later, from another thread's result, without holding this worker
 * thread: the handler calls ot_req_defer(req, fn, ctx), hands the work to
 * another thread and returns without replying. The connection is suspended
 * until that thread calls ot_req_complete(req); then fn(req) runs on an HTTP
 * worker thread and gives the reply. complete may come before the handler
 * has returned: no wake-up is lost. ot_req_complete must be called exactly
 * once; req stays valid until fn has replied. */
void ot_req_defer(ot_req *req, void (*fn)(ot_req *req), void *ctx);
void ot_req_complete(ot_req *req);
/* Cancel a deferral before the work was handed off (then reply now). */
void ot_req_undefer(ot_req *req);

/* --- server -------------------------------------------------------------- */

typedef struct ot_http ot_http;

/* Start listening on cfg host:port with the app's router. Returns NULL and
 * fills err when the address cannot be bound. */
ot_http *ot_http_start(struct ot_app *app, ot_error *err);

/* The port actually bound (useful with PORT=0). */
int ot_http_port(const ot_http *h);

/* Refuse new requests from now on: 503 "shutting down" with Connection:
 * close, while requests in flight finish. The listening socket closes in
 * ot_http_stop. */
void ot_http_quiesce(ot_http *h);

/* Requests being processed right now (streams included). */
long ot_http_inflight(const ot_http *h);

/* Stop the daemon and free. Streams must have been closed before. */
void ot_http_stop(ot_http *h);

#endif
