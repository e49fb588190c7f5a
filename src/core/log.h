/* log.h - structured JSON log lines on stderr.
 *
 * One line per record: {"ts":"...","level":"info","msg":"...", ...fields}.
 * The level threshold is process-wide, set once at start-up from LOG_LEVEL
 * (ot_log_set_level) before threads start; reads afterwards are lock-free.
 * Each record is written with a single write(2), so lines from concurrent
 * threads never interleave.
 */
#ifndef OT_CORE_LOG_H
#define OT_CORE_LOG_H

#include <jansson.h>
#include <stddef.h>

enum ot_log_level { OT_LOG_DEBUG = 10, OT_LOG_INFO = 20, OT_LOG_WARNING = 30,
                    OT_LOG_ERROR = 40, OT_LOG_CRITICAL = 50 };

/* Parse the prototype's Python level names, any case: debug, info, warning
 * (or warn), error, critical. Returns the level or -1. */
int ot_log_level_parse(const char *name);
const char *ot_log_level_name(int level);

void ot_log_set_level(int level);
int ot_log_level(void);
static inline int ot_log_enabled(int level) { return level >= ot_log_level(); }

/* Log a printf-style message at level. */
void ot_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log msg with extra fields from obj (borrowed; may be NULL). Its keys
 * follow ts, level and msg; none of them may be one of those three. */
void ot_log_fields(int level, const char *msg, json_t *fields);
/* The same with the fields given as JSON text (valid UTF-8: the caller
 * escapes and checks it; msg is made valid here): an object's members without
 * its braces ("\"a\":1,\"b\":\"x\"", len bytes; 0 for none). Builds no tree:
 * the access log writes one a request. */
void ot_log_members(int level, const char *msg, const char *members, size_t len);

#define ot_debug(...) ot_log(OT_LOG_DEBUG, __VA_ARGS__)
#define ot_info(...) ot_log(OT_LOG_INFO, __VA_ARGS__)
#define ot_warn(...) ot_log(OT_LOG_WARNING, __VA_ARGS__)
#define ot_err(...) ot_log(OT_LOG_ERROR, __VA_ARGS__)

#endif
