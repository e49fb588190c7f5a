/* reply.c - the replies a handler sends (http.h: ot_reply_*): JSON
 * bodies, error envelopes, raw and streamed bodies. Each builds one
 * libmicrohttpd response and keeps it on the request (a second reply is a
 * handler's bug: logged, dropped); http.c queues it, with the common
 * headers, when the handler returns or its deferred reply runs. */
#include "api/http.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/stream.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"

static void set_response(ot_req *req, int status, struct MHD_Response *r, const char *ctype)
{
    if (req->replied) {
        /* A second reply is a bug in a handler; keep the first. */
        ot_err("handler for %s %s replied twice", req->method, req->url);
        if (r)
            MHD_destroy_response(r);
        return;
    }
    req->replied = 1;
    req->status = status;
    req->response = r;
    if (r && ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
}

void ot_reply_data(ot_req *req, int status, const char *content_type, const void *data,
                   size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    set_response(req, status, r, content_type);
}

void ot_reply_static(ot_req *req, int status, const char *content_type, const void *data,
                     size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    set_response(req, status, r, content_type);
}

/* A JSON reply from malloc'ed text (taken), or 500 when text is NULL
 * (the reply could not be encoded). */
static void reply_text(ot_req *req, int status, char *text, size_t len)
{
    if (!text) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal_error\",\"message\":\"could not encode the reply\"}}";
        ot_reply_static(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r)
        free(text);
    set_response(req, status, r, "application/json");
}

void ot_reply_json(ot_req *req, int status, json_t *body)
{
    /* reals as stored: the shortest text that reads back as the same
     * double (ot_buf_json_real) */
    char *text = body ? ot_json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    reply_text(req, status, text, text ? strlen(text) : 0);
}

void ot_reply_buf(ot_req *req, int status, ot_buf *b)
{
    size_t len = 0;
    char *text = ot_buf_steal(b, &len); /* NULL (and b freed) if its growth failed */
    ot_buf_free(b);
    reply_text(req, status, text, len);
}

void ot_reply_error_details(ot_req *req, int code, const char *message, json_t *details)
{
    char clean[OT_ERROR_MSG_MAX];
    if (!ot_utf8_valid(message, strlen(message))) {
        ot_utf8_sanitize(message, clean, sizeof clean);
        message = clean;
    }
    json_t *e = json_pack("{s:s, s:s}", "code", ot_error_code_name(code), "message", message);
    if (details)
        json_object_set_new(e, "details", details);
    json_t *body = json_pack("{s:o}", "error", e);
    int status = ot_error_http_status(code);
    ot_reply_json(req, status, body);
    if (code == OT_EBUSY || code == OT_EUNAVAIL)
        ot_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, "1");
}

void ot_reply_error(ot_req *req, const ot_error *err)
{
    /* a message may quote input (a header, a name); JSON needs UTF-8 */
    ot_error clean;
    if (!ot_utf8_valid(err->message, strlen(err->message)) ||
        !ot_utf8_valid(err->path, strlen(err->path))) {
        clean.code = err->code;
        ot_utf8_sanitize(err->message, clean.message, sizeof clean.message);
        ot_utf8_sanitize(err->path, clean.path, sizeof clean.path);
        err = &clean;
    }
    json_t *details = NULL;
    if (err->path[0])
        details = json_pack("[{s:s, s:s}]", "path", err->path, "message", err->message);
    ot_reply_error_details(req, err->code ? err->code : OT_EINTERNAL, err->message, details);
}

void ot_reply_errorf(ot_req *req, int code, const char *path, const char *fmt, ...)
{
    ot_error err;
    va_list ap;
    va_start(ap, fmt);
    err.code = code;
    snprintf(err.path, sizeof err.path, "%s", path ? path : "");
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    ot_reply_error(req, &err);
}

void ot_reply_stream(ot_req *req, ot_stream *stream, const char *content_type)
{
    /* Not chunked: the hub's sender writes most of the body straight to the
     * socket (stream.h), so the body must be plain bytes up to the close.
     * The block is the response's own buffer (zeroed by libmicrohttpd): it
     * carries only the pieces libmicrohttpd sends while a client reads
     * slowly, so it is small (10,000 streams hold 10,000 of them). */
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 256, ot_stream_reader, stream, ot_stream_release);
    if (!r) {
        ot_stream_release(stream);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "could not create the stream");
        return;
    }
    if (MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END) != MHD_YES) {
        MHD_destroy_response(r); /* releases the stream */
        ot_reply_errorf(req, OT_EINTERNAL, NULL, "could not set up the stream");
        return;
    }
    ot_stream_attach(stream, req->conn);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    set_response(req, 200, r, content_type);
}

void ot_reply_header(ot_req *req, const char *name, const char *value)
{
    if (req->response)
        MHD_add_response_header(req->response, name, value);
}
