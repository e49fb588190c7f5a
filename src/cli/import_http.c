/* import_http.c - the HTTP sink of `opstwin ingest`; see import.h.
 *
 * One libcurl easy handle, so the connection is kept alive across batches.
 * A batch is POSTed to BASE/telemetry/ingest as a JSON array; the reply
 * holds one result per item (200), or, when every item was rejected, a 400
 * whose error details list them in order. Other answers:
 *   503  the ingest queue is full: wait Retry-After (or an exponential
 *        backoff, whichever is longer; at most RETRY_AFTER_MAX_MS, so a
 *        server that asks for an hour does not leave the import looking
 *        hung) and send the same batch again;
 *   413  the body is over the server's MAX_BODY_BYTES: send each half (a
 *        single item over it is rejected);
 *   else the batch fails as a whole with the server's message.
 */
#include "cli/import.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"

#define RETRY_MAX 12             /* 503s in a row before giving up on a batch */
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_MS 60000

typedef struct http_sink {
    ot_import_sink base; /* first: the sink interface */
    CURL *curl;
    struct curl_slist *headers;
    char url[1024];
    char curl_err[CURL_ERROR_SIZE];
    ot_buf body, reply;
    long retry_after_s;  /* from the last reply, -1 when absent */
} http_sink;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    ot_buf_append(ud, p, size * n);
    return ot_buf_failed(ud) ? 0 : size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    http_sink *h = ud;
    if (size * n > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
        h->retry_after_s = strtol(p + 12, NULL, 10);
    return size * n;
}

static void sleep_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0)
        ;
}

/* POST the current body. Returns the HTTP status, or a negative code when
 * the server could not be reached. */
static long post(http_sink *h, ot_error *err)
{
    ot_buf_reset(&h->reply);
    h->retry_after_s = -1;
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body.data);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body.len);
    CURLcode cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK)
        return ot_error_set(err, OT_EUNAVAIL, NULL,
                            "cannot reach the server at %s: %s; is `opstwin serve` running "
                            "there? (--data-dir DIR imports into a stopped server's folder)",
                            h->url, h->curl_err[0] ? h->curl_err : curl_easy_strerror(cc));
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    ot_buf_append(&h->reply, "", 1); /* NUL-terminate */
    return status;
}

static const char *reply_message(const json_t *doc)
{
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    return m ? m : "(no error message)";
}

/* A rejection from an error object {"path"?, "message"} (a 400's detail)
 * or {"message", "details": [{"path", ...}]} (a 200's per-item error). */
static void reject(ot_import_result *r, const json_t *e)
{
    const json_t *path = json_object_get(e, "path");
    if (!path)
        path = json_object_get(json_array_get(json_object_get(e, "details"), 0), "path");
    r->status = OT_IMPORT_REJECTED;
    ot_import_describe(r->message, sizeof r->message, json_string_value(path),
                       json_string_value(json_object_get(e, "message")));
}

/* Per-item results of a 200 reply. */
static int take_results(const json_t *doc, size_t n, ot_import_result *res, ot_error *err)
{
    json_t *results = json_object_get(doc, "results");
    if (json_array_size(results) != n)
        return ot_error_set(err, OT_EINTERNAL, NULL,
                            "the server's reply has %zu results for %zu items",
                            json_array_size(results), n);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(results, i);
        const char *st = json_string_value(json_object_get(r, "status"));
        if (st && strcmp(st, "accepted") == 0) {
            res[i].status = json_is_true(json_object_get(r, "duplicate")) ? OT_IMPORT_DUPLICATE
                                                                          : OT_IMPORT_ACCEPTED;
            res[i].message[0] = '\0';
        } else {
            reject(&res[i], json_object_get(r, "error"));
        }
    }
    return 0;
}

/* A 400 is per item only when its details list every item. */
static int take_all_rejected(const json_t *doc, size_t n, ot_import_result *res, ot_error *err)
{
    json_t *details = json_object_get(json_object_get(doc, "error"), "details");
    if (json_array_size(details) != n)
        return ot_error_set(err, OT_EINVAL, NULL, "the server refused the batch: %s",
                            reply_message(doc));
    for (size_t i = 0; i < n; i++)
        reject(&res[i], json_array_get(details, i));
    return 0;
}

static int send_range(http_sink *h, json_t *const *objs, size_t n, ot_import_result *res,
                      ot_error *err)
{
    int nomem = 0;
    ot_buf_reset(&h->body);
    ot_buf_puts(&h->body, "[");
    for (size_t i = 0; i < n && !nomem; i++) {
        char *s = ot_json_dumps(objs[i], JSON_COMPACT);
        if (i)
            ot_buf_puts(&h->body, ",");
        if (s)
            ot_buf_puts(&h->body, s);
        nomem = !s;
        free(s);
    }
    ot_buf_puts(&h->body, "]");
    if (nomem || ot_buf_failed(&h->body))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    long status = 0, backoff = BACKOFF_FIRST_MS;
    for (int attempt = 0;; attempt++) {
        if ((status = post(h, err)) < 0)
            return (int)status;
        if (status != 503 || attempt == RETRY_MAX)
            break;
        long wait = h->retry_after_s <= 0                          ? 0
                    : h->retry_after_s > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS
                                                                   : h->retry_after_s * 1000;
        sleep_ms(wait > backoff ? wait : backoff);
        backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
    }
    if (status == 413 && n > 1) {
        int rc = send_range(h, objs, n / 2, res, err);
        return rc ? rc : send_range(h, objs + n / 2, n - n / 2, res + n / 2, err);
    }
    json_t *doc = json_loads(h->reply.data ? h->reply.data : "", 0, NULL);
    int rc = 0;
    if (status == 200)
        rc = take_results(doc, n, res, err);
    else if (status == 400)
        rc = take_all_rejected(doc, n, res, err);
    else if (status == 413) /* one item alone is over the limit */
        reject(&res[0], json_object_get(doc, "error"));
    else if (status == 503)
        rc = ot_error_set(err, OT_EBUSY, NULL, "the server stayed busy (503) for %d retries: %s",
                          RETRY_MAX, doc ? reply_message(doc) : "(no JSON body)");
    else
        rc = ot_error_set(err, OT_EUNAVAIL, NULL, "the server answered %ld: %s%s", status,
                          doc ? reply_message(doc) : "(no JSON body)",
                          status == 401 || status == 403
                              ? " (pass a token with --token or OPSTWIN_TOKEN; `opstwin token` "
                                "mints one)"
                              : "");
    json_decref(doc);
    return rc;
}

static int http_send(ot_import_sink *k, json_t *const *objs, size_t n, ot_import_result *res,
                     ot_error *err)
{
    return send_range((http_sink *)k, objs, n, res, err);
}

static void http_close(ot_import_sink *k)
{
    http_sink *h = (http_sink *)k;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    ot_buf_free(&h->body);
    ot_buf_free(&h->reply);
    free(h);
    curl_global_cleanup();
}

int ot_import_http_open(const char *base_url, const char *token, ot_import_sink **out,
                        ot_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ot_error_set(err, OT_EINTERNAL, NULL, "cannot initialise libcurl");
    http_sink *h = calloc(1, sizeof *h);
    int rc = 0;
    if (!h) {
        curl_global_cleanup();
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    h->base.send = http_send;
    h->base.close = http_close;
    ot_buf_init(&h->body);
    ot_buf_init(&h->reply);
    size_t len = strlen(base_url);
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    snprintf(h->url, sizeof h->url, "%.*s/telemetry/ingest", (int)len, base_url);
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *hdrs[] = {"Content-Type: application/json",
                          "Expect:", /* no 100-continue round trip */
                          token && *token ? auth : NULL};
    int nomem = 0;
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0] && hdrs[i]; i++) {
        struct curl_slist *l = curl_slist_append(h->headers, hdrs[i]);
        nomem |= !l;
        h->headers = l ? l : h->headers;
    }
    h->curl = curl_easy_init();
    if (!h->curl || nomem) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->curl_err);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->reply);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    *out = &h->base;
    return 0;
fail:
    http_close(&h->base);
    return rc;
}
