/* error.c - see error.h. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    const char *text;
    int status;
} codes[] = {
    {OT_OK, "ok", "success", 200},
    {OT_EINVAL, "validation_failed", "invalid input", 400},
    {OT_ENOTFOUND, "not_found", "not found", 404},
    {OT_ECONFLICT, "conflict", "conflicts with the current state", 409},
    {OT_EUNAUTH, "unauthorized", "missing or invalid credentials", 401},
    {OT_EFORBIDDEN, "forbidden", "not permitted", 403},
    {OT_EBUSY, "overloaded", "server is busy, retry later", 503},
    {OT_EUNAVAIL, "service_unavailable", "a dependency is unavailable", 503},
    {OT_EGONE, "gone", "no longer available", 410},
    {OT_ETOOLARGE, "payload_too_large", "request body too large", 413},
    {OT_ENOMEM, "out_of_memory", "out of memory", 500},
    {OT_EIO, "io_error", "storage or system error", 500},
    {OT_EINTERNAL, "internal_error", "internal error", 500},
    {OT_ETIMEOUT, "timeout", "deadline exceeded", 504},
    {OT_ECANCELED, "canceled", "operation was cancelled", 409},
    {OT_EMETHOD, "method_not_allowed", "method not allowed", 405},
    {OT_EUNSUPPORTED, "unsupported_media_type", "unsupported media type", 415},
};

static int find(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return (int)i;
    return -1;
}

void ot_error_clear(ot_error *err)
{
    if (!err)
        return;
    err->code = OT_OK;
    err->message[0] = '\0';
    err->path[0] = '\0';
}

int ot_error_set(ot_error *err, int code, const char *path, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

const char *ot_error_code_name(int code)
{
    int i = find(code);
    return i < 0 ? "internal_error" : codes[i].name;
}

const char *ot_strerror(int code)
{
    int i = find(code);
    return i < 0 ? "unknown error" : codes[i].text;
}

int ot_error_http_status(int code)
{
    int i = find(code);
    return i < 0 ? 500 : codes[i].status;
}
