/* http.c - libmicrohttpd glue: accept, route, read the body, dispatch,
 * queue the reply (built by reply.c), log and count. See http.h for the
 * request's life. */
#include "api/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/app.h"
#include "api/metrics.h"
#include "api/router.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/jsonfast.h"
#include "core/log.h"
#include "core/utf8.h"
#include "store/store.h"
#include "telemetry/names.h"

struct ot_http {
    struct MHD_Daemon *daemon;
    ot_app *app;
    int port;
    atomic_int quiescing;    /* ot_http_quiesce: new requests get 503 */
};

/* --- accessors ----------------------------------------------------------- */

const char *ot_req_param(const ot_req *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nparams; i++)
        if (strncmp(req->param_names[i], name, n) == 0 && req->param_names[i][n] == '}')
            return req->param_values[i];
    return NULL;
}

const char *ot_req_query(const ot_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *ot_req_header(const ot_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int ot_req_body_blank(const ot_req *req)
{
    for (size_t i = 0; i < req->body_len; i++) {
        char c = req->body[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return 0;
    }
    return 1;
}

json_t *ot_req_json(ot_req *req)
{
    json_error_t jerr;
    if (ot_req_body_blank(req)) {
        ot_reply_errorf(req, OT_EINVAL, "$", "request body is empty; send a JSON document");
        return NULL;
    }
    json_t *doc = ot_json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        ot_error err;
        ot_tel_json_error(&err, "$", "request body", req->body, req->body_len, &jerr, 1);
        ot_reply_error(req, &err);
    }
    return doc;
}

int ot_req_scope_ok(const ot_req *req, const char *twin_id)
{
    return !req->authed || ot_principal_scope_ok(&req->principal, twin_id);
}

const char *ot_req_actor(const ot_req *req)
{
    return req->authed ? req->principal.sub : "anonymous";
}

/* A request's audit record: its strings live in text, back to back:
 * "METHOD /route", the details {"request_id","target"} as canonical JSON
 * (what ot_json_dumps with JSON_SORT_KEYS gives), and the target. */
struct req_audit {
    ot_store_audit a;
    ot_buf text;
};

void ot_req_audit(ot_req *req, ot_store_write *w, const char *target)
{
    struct req_audit *r = req->audit;
    if (!r) {
        if (!(r = req->audit = calloc(1, sizeof *r)))
            return; /* the write still happens without its audit entry */
        ot_buf_init(&r->text);
    }
    if (!target)
        target = "";
    ot_buf *t = &r->text;
    ot_buf_reset(t);
    ot_buf_puts(t, req->method);
    ot_buf_puts(t, " ");
    ot_buf_puts(t, req->route ? req->route->pattern : req->url);
    size_t details = t->len + 1;
    ot_buf_append(t, "\0{\"request_id\":", 15);
    ot_buf_json_string(t, req->request_id);
    ot_buf_puts(t, ",\"target\":");
    ot_buf_json_string(t, target);
    size_t tgt = t->len + 2;
    ot_buf_append(t, "}\0", 2);
    ot_buf_append(t, target, strlen(target) + 1);
    if (ot_buf_failed(t))
        return; /* as above */
    r->a = (ot_store_audit){.actor = ot_req_actor(req), .action = t->data,
                            .details_json = t->data + details, .target = t->data + tgt};
    w->audit = &r->a;
}

struct refusal {
    ot_store_write w;
    ot_store_audit a;
    char action[128], actor[OT_AUTH_SUB_MAX];
};

static void refusal_done(ot_store_write *w, void *ctx)
{
    struct refusal *r = ctx;
    (void)w;
    json_decref(r->a.details);
    free(r);
}

/* Refused requests go into the audit chain too (asynchronously: there is
 * no write to attach them to). */
static void audit_refusal(ot_req *req, int status)
{
    struct refusal *r = calloc(1, sizeof *r);
    if (!r)
        return;
    snprintf(r->action, sizeof r->action, "refused %s %s", req->method, req->url);
    snprintf(r->actor, sizeof r->actor, "%s", ot_req_actor(req));
    r->a.actor = r->actor;
    r->a.action = r->action;
    r->a.target = "";
    r->a.details = json_pack("{s:i, s:s}", "status", status, "request_id", req->request_id);
    r->w.audit = &r->a;
    r->w.done = refusal_done;
    r->w.ctx = r;
    if (ot_store_submit(req->app->store, &r->w)) {
        ot_log(OT_LOG_WARNING, "audit: store busy, refusal of %s %s not recorded", req->method,
               req->url);
        json_decref(r->a.details);
        free(r);
    }
}

/* Authenticate and authorize for the matched route. Returns 1 when a
 * refusal was replied. */
static int check_access(ot_req *req)
{
    const struct ot_route *r = req->route;
    ot_app *app = req->app;
    const char *h = ot_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (r->perm == OT_PERM_PUBLIC || (r->perm == OT_PERM_READ && app->cfg.public_read && !h))
        return 0;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        ot_reply_errorf(req, OT_EUNAUTH, NULL,
                        "%s %s needs a token: send Authorization: Bearer <JWT>", req->method,
                        r->pattern);
        ot_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return 1;
    }
    ot_error err;
    ot_error_clear(&err);
    if (ot_auth_verify_cached(app->auth_cache, app->jwt_secret, h + 7, ot_now_us() / 1000000,
                              &req->principal, &err)) {
        ot_reply_error(req, &err);
        ot_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
        return 1;
    }
    req->authed = 1;
    if (!ot_principal_can(&req->principal, r->perm)) {
        ot_reply_errorf(req, OT_EFORBIDDEN, NULL, "%s %s needs the %s permission; the token's "
                        "roles (%s) do not grant it", req->method, r->pattern,
                        ot_perm_name(r->perm), req->principal.roles);
        return 1;
    }
    const char *twin = ot_req_param(req, "twin_id");
    if (!twin)
        twin = ot_req_query(req, "twin_id");
    if (twin && !ot_principal_scope_ok(&req->principal, twin)) {
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin '%.60s' is outside the token's "
                        "scope", twin);
        return 1;
    }
    return 0;
}

/* --- deferred replies ---------------------------------------------------- */

void ot_req_defer(ot_req *req, void (*fn)(ot_req *req), void *ctx)
{
    pthread_mutex_lock(&req->defer_mu);
    req->resume_fn = fn;
    req->defer_ctx = ctx;
    req->defer_state = 1;
    pthread_mutex_unlock(&req->defer_mu);
}

void ot_req_undefer(ot_req *req)
{
    pthread_mutex_lock(&req->defer_mu);
    req->resume_fn = NULL;
    req->defer_ctx = NULL;
    req->defer_state = 0;
    pthread_mutex_unlock(&req->defer_mu);
}

void ot_req_complete(ot_req *req)
{
    struct MHD_Connection *conn = req->conn;
    pthread_mutex_lock(&req->defer_mu);
    int was = req->defer_state;
    req->defer_state = 3;
    pthread_mutex_unlock(&req->defer_mu);
    /* once resumed, req may be replied to and freed at any moment: touch
     * nothing of it after this call */
    if (was == 2)
        MHD_resume_connection(conn);
}

/* After the handler returned: suspend unless the result is already there.
 * Returns 1 when the connection was suspended. */
static int suspend_if_pending(ot_req *req)
{
    pthread_mutex_lock(&req->defer_mu);
    int suspended = 0;
    if (req->defer_state == 1) {
        req->defer_state = 2;
        MHD_suspend_connection(req->conn);
        suspended = 1;
    }
    pthread_mutex_unlock(&req->defer_mu);
    return suspended;
}

/* --- the request cycle --------------------------------------------------- */

static int request_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= OT_REQUEST_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s))
            return 0;
    return 1;
}

static int origin_allowed(const ot_app *app, const char *origin)
{
    if (!origin || !app->cfg.cors_origins[0])
        return 0;
    if (app->cors_any)
        return 1;
    size_t n = strlen(origin);
    for (const char *p = app->cfg.cors_origins; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == n && strncmp(p, origin, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

static void add_common_headers(ot_req *req)
{
    ot_reply_header(req, "X-Request-Id", req->request_id);
    const char *origin = ot_req_header(req, "Origin");
    if (origin_allowed(req->app, origin)) {
        ot_reply_header(req, "Access-Control-Allow-Origin", req->app->cors_any ? "*" : origin);
        ot_reply_header(req, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
        if (!req->app->cors_any)
            ot_reply_header(req, "Vary", "Origin");
    }
}

static enum MHD_Result queue(ot_req *req)
{
    if (!req->replied || !req->response) {
        req->replied = 0;
        if (req->response)
            MHD_destroy_response(req->response);
        req->response = NULL;
        ot_reply_errorf(req, OT_EINTERNAL, NULL, "the handler produced no reply");
        if (!req->response)
            return MHD_NO;
    }
    add_common_headers(req);
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)req->status, req->response);
    MHD_destroy_response(req->response);
    req->response = NULL;
    return rc;
}

/* First call for a request: headers are in, the body is not. Decide what
 * can be decided now (route, method, size, CORS preflight). Returns 1 when a
 * reply was given early. */
struct bad_arg {
    int found;
    char name[64];  /* the argument's name when it is itself UTF-8, else "" */
    char path[72];  /* "$." name */
};

/* MHD_get_connection_values callback: stop at the first query argument
 * whose name or value is not UTF-8. */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct bad_arg *b = cls;
    (void)kind;
    int key_ok = key && ot_utf8_valid(key, strlen(key));
    if (key_ok && (!value || ot_utf8_valid(value, strlen(value))))
        return MHD_YES;
    b->found = 1;
    if (key_ok && strlen(key) < sizeof b->name) {
        snprintf(b->name, sizeof b->name, "%s", key);
        snprintf(b->path, sizeof b->path, "$.%s", key);
    }
    return MHD_NO;
}

/* MHD_get_connection_values callback: stop at the first query argument
 * that the route does not take (not in its `query` list, the one OpenAPI
 * shows) and keep its name. A misspelt argument would otherwise be ignored:
 * `cursor=` for `since=` would read from the start, `start=` for
 * `start_time=` the whole range. */
struct arg_check {
    const struct ot_route *route;
    const char *unknown;
};

static enum MHD_Result known_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct arg_check *c = cls;
    (void)kind;
    (void)value;
    size_t n = strlen(key);
    if (n == 0)
        return MHD_YES; /* "?&a=1", "a=1&&b=2": the empty pieces of a query */
    for (const char *p = c->route->query; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, key, n) == 0)
            return MHD_YES;
        p += len + (e != NULL);
    }
    c->unknown = key;
    return MHD_NO;
}

static int check_args(ot_req *req)
{
    struct arg_check c = {.route = req->route};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, known_arg, &c);
    if (!c.unknown)
        return 0;
    char path[OT_ERROR_PATH_MAX], q[64];
    size_t n = strlen(c.unknown);
    ot_tel_path_key(path, sizeof path, "$", c.unknown, n);
    ot_reply_errorf(req, OT_EINVAL, path, "unknown query parameter '%s'; %s %s takes %s",
                    ot_tel_quote(q, sizeof q, c.unknown, n), req->route->method,
                    req->route->pattern, req->route->query ? req->route->query : "none");
    return 1;
}

static int on_headers(ot_http *h, ot_req *req)
{
    ot_app *app = h->app;
    const char *rid = ot_req_header(req, "X-Request-Id");
    if (rid && request_id_ok(rid))
        snprintf(req->request_id, sizeof req->request_id, "%s", rid);
    else
        ot_id_new("req", req->request_id);

    if (atomic_load(&h->quiescing)) {
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "the server is shutting down; retry later");
        ot_reply_header(req, "Connection", "close");
        return 1;
    }

    if (strcmp(req->method, "OPTIONS") == 0 && app->cfg.cors_origins[0] &&
        origin_allowed(app, ot_req_header(req, "Origin"))) {
        ot_reply_data(req, 204, NULL, "", 0);
        ot_reply_header(req, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
        ot_reply_header(req, "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Last-Event-ID, X-Request-Id");
        ot_reply_header(req, "Access-Control-Max-Age", "600");
        return 1;
    }

    const char *cl = ot_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > (unsigned long long)app->cfg.max_body_bytes) {
            ot_reply_errorf(req, OT_ETOOLARGE, NULL,
                            "request body of %llu bytes exceeds the limit of %ld bytes", n,
                            app->cfg.max_body_bytes);
            return 1;
        }
    }

    /* Text that is not UTF-8 could not be echoed in a JSON reply or a log
     * line (jansson refuses it): refuse it here, naming where it came. */
    if (!ot_utf8_valid(req->url, strlen(req->url))) {
        ot_reply_errorf(req, OT_EINVAL, "$.path",
                        "the request path is not valid UTF-8 (after percent-decoding)");
        return 1;
    }
    struct bad_arg bad = {0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &bad);
    if (bad.found) {
        ot_reply_errorf(req, OT_EINVAL, bad.name[0] ? bad.path : "$.query",
                        "query argument %s is not valid UTF-8 (after percent-decoding)",
                        bad.name[0] ? bad.name : "name");
        return 1;
    }

    char allow[128];
    switch (ot_router_match(ot_routes, ot_routes_count, req->method, req, &req->route, allow,
                            sizeof allow)) {
    case OT_MATCH_NONE:
        ot_reply_errorf(req, OT_ENOTFOUND, NULL, "no endpoint at %s; see /openapi.json",
                        req->url);
        return 1;
    case OT_MATCH_METHOD:
        ot_reply_errorf(req, OT_EMETHOD, NULL, "%s is not allowed on %s; allowed: %s",
                        req->method, req->url, allow);
        ot_reply_header(req, MHD_HTTP_HEADER_ALLOW, allow);
        return 1;
    case OT_MATCH_OK:
        break;
    }
    if (check_access(req) || check_args(req))
        return 1;

    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    ot_http *h = cls;
    ot_req *req = *con_cls;

    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->app = h->app;
        req->conn = conn;
        req->method = method;
        req->url = url;
        req->start_ns = ot_mono_ns();
        req->path_copy = strdup(url);
        pthread_mutex_init(&req->defer_mu, NULL);
        *con_cls = req;
        ot_metrics_inflight_add(h->app->metrics, 1);
        if (!req->path_copy)
            return MHD_NO;
        if (on_headers(h, req)) {
            req->early_status = req->status;
            return queue(req);
        }
        return MHD_YES;
    }

    if (*upload_size) {
        if (!req->early_status) {
            size_t n = *upload_size;
            if (req->body_len + n > (size_t)h->app->cfg.max_body_bytes) {
                /* chunked upload without Content-Length grew too large */
                req->early_status = 413;
            } else {
                if (req->body_len + n + 1 > req->body_cap) {
                    size_t cap = req->body_cap ? req->body_cap * 2 : 4096;
                    while (cap < req->body_len + n + 1)
                        cap *= 2;
                    char *b = realloc(req->body, cap);
                    if (!b)
                        return MHD_NO;
                    req->body = b;
                    req->body_cap = cap;
                }
                memcpy(req->body + req->body_len, upload_data, n);
                req->body_len += n;
                req->body[req->body_len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }

    if (req->resume_fn) {
        /* resumed after a deferred reply: the result is in */
        void (*fn)(ot_req *) = req->resume_fn;
        req->resume_fn = NULL;
        fn(req);
        return queue(req);
    }
    if (req->replied)   /* an early reply is already queued */
        return MHD_YES;
    if (req->early_status == 413) {
        ot_reply_errorf(req, OT_ETOOLARGE, NULL, "request body exceeds the limit of %ld bytes",
                        h->app->cfg.max_body_bytes);
        return queue(req);
    }
    req->route->handler(req);
    if (!req->replied && req->resume_fn) {
        if (suspend_if_pending(req))
            return MHD_YES;
        void (*fn)(ot_req *) = req->resume_fn; /* completed already */
        req->resume_fn = NULL;
        fn(req);
    }
    return queue(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ot_http *h = cls;
    ot_req *req = *con_cls;
    (void)conn;
    if (!req)
        return;
    int64_t dur = ot_mono_ns() - req->start_ns;
    int status = req->status ? req->status : 499; /* client went away first */
    ot_metrics_observe(h->app->metrics, req->route ? ot_route_index(req->route) : -1, status,
                       dur);
    ot_metrics_inflight_add(h->app->metrics, -1);
    if (ot_log_enabled(OT_LOG_INFO)) {
        /* a path refused for not being UTF-8 is still logged, escaped */
        char clean[1024];
        const char *path = req->url;
        if (!ot_utf8_valid(path, strlen(path))) {
            ot_utf8_sanitize(path, clean, sizeof clean);
            path = clean;
        }
        ot_buf f;
        ot_buf_init(&f);
        ot_buf_puts(&f, "\"method\":");
        ot_buf_json_string(&f, req->method);
        ot_buf_puts(&f, ",\"path\":");
        ot_buf_json_string(&f, path);
        ot_buf_puts(&f, ",\"route\":");
        ot_buf_json_string(&f, req->route ? req->route->name : "");
        ot_buf_puts(&f, ",\"status\":");
        ot_buf_put_u64(&f, (unsigned)status);
        ot_buf_puts(&f, ",\"duration_ms\":");
        ot_buf_json_real(&f, (double)(dur / 1000) / 1000.0); /* whole microseconds */
        ot_buf_puts(&f, ",\"request_id\":");
        ot_buf_json_string(&f, req->request_id);
        ot_buf_puts(&f, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ",\"end\":\"ok\""
                                                                   : ",\"end\":\"aborted\"");
        if (!ot_buf_failed(&f))
            ot_log_members(OT_LOG_INFO, "request", f.data, f.len);
        ot_buf_free(&f);
    }
    if ((status == 401 || status == 403) && h->app->store)
        audit_refusal(req, status);
    /* A deferred reply whose client left first: the work was done (it had
     * to be, for the connection to be resumed and closed), but the reply
     * function never ran. It runs now, so it releases what the work holds;
     * the reply it builds is dropped with req->response below. */
    if (req->resume_fn) {
        void (*fn)(ot_req *) = req->resume_fn;
        req->resume_fn = NULL;
        fn(req);
    }
    if (req->audit) {
        ot_buf_free(&req->audit->text);
        free(req->audit);
    }
    if (req->response)
        MHD_destroy_response(req->response);
    free(req->body);
    free(req->path_copy);
    pthread_mutex_destroy(&req->defer_mu);
    free(req);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    ot_log(OT_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* --- server -------------------------------------------------------------- */

ot_http *ot_http_start(ot_app *app, ot_error *err)
{
    const ot_config *cfg = &app->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    const char *host = strcmp(cfg->host, "localhost") == 0 ? "127.0.0.1" : cfg->host;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        ot_error_set(err, OT_EINVAL, "HOST", "HOST '%s' is not an IPv4 or IPv6 address", cfg->host);
        return NULL;
    }
    ot_http *h = calloc(1, sizeof *h);
    if (!h) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    h->app = app;
    int threads = cfg->http_threads > 0 ? cfg->http_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
        /* per-connection pool (headers, read buffer): small, so that ten
         * thousand idle streams stay cheap; bodies are copied out as they
         * arrive, so this does not bound the body size */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(8 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_END);
    if (!h->daemon) {
        ot_error_set(err, OT_EIO, "PORT", "cannot listen on %s:%d (in use, or not permitted)",
                     cfg->host, cfg->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    return h;
}

int ot_http_port(const ot_http *h) { return h->port; }

/* Not MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it races the epoll
 * worker threads, which take the listening socket out of their epoll sets
 * themselves once they see the daemon quiesced, and then panics ("Failed to
 * remove listen FD from epoll set") - an abort at shutdown. */
void ot_http_quiesce(ot_http *h) { atomic_store(&h->quiescing, 1); }

long ot_http_inflight(const ot_http *h) { return ot_metrics_inflight(h->app->metrics); }

void ot_http_stop(ot_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
