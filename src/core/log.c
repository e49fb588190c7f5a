/* log.c - see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"

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

void ot_log_fields(int level, const char *msg, json_t *fields)
{
    if (level < threshold)
        return;
    char ts[OT_TS_BUFSZ];
    json_t *rec = json_object();
    json_object_set_new(rec, "ts", json_string(ot_ts_format(ot_now_us(), ts)));
    json_object_set_new(rec, "level", json_string(ot_log_level_name(level)));
    json_object_set_new(rec, "msg", json_string(msg));
    if (fields)
        json_object_update(rec, fields);
    char *line = json_dumps(rec, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(rec);
    if (!line)
        return;
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL; write length is explicit */
    ssize_t w = write(STDERR_FILENO, line, n + 1);
    (void)w;
    free(line);
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
