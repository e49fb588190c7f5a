/* log.c - see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/utf8.h"

static int threshold = OT_LOG_INFO;

int ot_log_level_parse(const char *name)
{
    static const struct { const char *n; int l; } names[] = {
        {"debug", OT_LOG_DEBUG}, {"info", OT_LOG_INFO}, {"warning", OT_LOG_WARNING},
        {"warn", OT_LOG_WARNING}, {"error", OT_LOG_ERROR}, {"critical", OT_LOG_CRITICAL},
    };
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].n) == 0)
            return names[i].l;
    return -1;
}

const char *ot_log_level_name(int level)
{
    switch (level) {
    case OT_LOG_DEBUG: return "debug";
    case OT_LOG_INFO: return "info";
    case OT_LOG_WARNING: return "warning";
    case OT_LOG_ERROR: return "error";
    default: return "critical";
    }
}

void ot_log_set_level(int level) { threshold = level; }
int ot_log_level(void) { return threshold; }

void ot_log_members(int level, const char *msg, const char *members, size_t len)
{
    if (level < threshold)
        return;
    char ts[OT_TS_BUFSZ];
    ot_buf b;
    ot_buf_init(&b);
    ot_buf_puts(&b, "{\"ts\":\"");
    ot_buf_puts(&b, ot_ts_format(ot_now_us(), ts));
    ot_buf_puts(&b, "\",\"level\":\"");
    ot_buf_puts(&b, ot_log_level_name(level));
    ot_buf_puts(&b, "\",\"msg\":");
    char clean[1024];
    if (!ot_utf8_valid(msg, strlen(msg))) { /* it may quote what a client sent */
        ot_utf8_sanitize(msg, clean, sizeof clean);
        msg = clean;
    }
    ot_buf_json_string(&b, msg);
    if (len) {
        ot_buf_append(&b, ",", 1);
        ot_buf_append(&b, members, len);
    }
    ot_buf_append(&b, "}\n", 2);
    if (!ot_buf_failed(&b)) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    ot_buf_free(&b);
}

void ot_log_fields(int level, const char *msg, json_t *fields)
{
    if (level < threshold)
        return;
    ot_buf f;
    ot_buf_init(&f);
    if (fields && json_object_size(fields))
        ot_buf_json(&f, fields, JSON_COMPACT);
    /* the object's members, without its braces */
    int some = !ot_buf_failed(&f) && f.len > 2;
    ot_log_members(level, msg, some ? f.data + 1 : "", some ? f.len - 2 : 0);
    ot_buf_free(&f);
}

void ot_log(int level, const char *fmt, ...)
{
    if (level < threshold)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ot_log_fields(level, msg, NULL);
}
