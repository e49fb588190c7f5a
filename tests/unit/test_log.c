/* Unit tests: core/log.c - the JSON lines on stderr. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* What f wrote on stderr, which goes to a temporary file meanwhile. */
static char *captured(void (*f)(void))
{
    char path[] = "/tmp/ot-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
    f();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *out = calloc(1, (size_t)n + 1);
    cr_assert_eq(pread(fd, out, (size_t)n, 0), n);
    close(fd);
    return out;
}

static void write_records(void)
{
    ot_log_set_level(OT_LOG_INFO);
    json_t *f = json_pack("{s:s, s:i, s:f, s:[i]}", "path", "/a \"b\"\n", "status", 200,
                          "ms", 1.5, "list", 7);
    ot_log_fields(OT_LOG_INFO, "with fields", f);
    json_decref(f);
    ot_log_fields(OT_LOG_DEBUG, "below the threshold", NULL);
    ot_log_fields(OT_LOG_WARNING, "no fields", NULL);
    const char *m = "\"method\":\"GET\",\"status\":404";
    ot_log_members(OT_LOG_ERROR, "members", m, strlen(m));
    ot_log(OT_LOG_INFO, "formatted %d", 42);
    ot_log(OT_LOG_INFO, "quoted %s", "\xff!"); /* not UTF-8: written escaped */
}

Test(log, writes_one_json_object_a_line_with_ts_level_msg_then_the_fields)
{
    char *out = captured(write_records);
    const char *want_msg[] = {"with fields", "no fields", "members", "formatted 42",
                              "quoted \\xff!"};
    const char *want_level[] = {"info", "warning", "error", "info", "info"};
    int n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
        cr_assert_lt(n, 5, "a record below the threshold was written: %s", line);
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        cr_assert(o, "not JSON (%s): %s", e.text, line);
        /* ts, level and msg come first, in that order */
        void *it = json_object_iter(o);
        cr_assert_str_eq(json_object_iter_key(it), "ts");
        it = json_object_iter_next(o, it);
        cr_assert_str_eq(json_object_iter_key(it), "level");
        it = json_object_iter_next(o, it);
        cr_assert_str_eq(json_object_iter_key(it), "msg");
        cr_assert_eq(strlen(json_string_value(json_object_get(o, "ts"))), 27, "%s", line);
        cr_assert_str_eq(json_string_value(json_object_get(o, "level")), want_level[n]);
        cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), want_msg[n]);
        if (n == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(o, "path")), "/a \"b\"\n");
            cr_assert_eq(json_integer_value(json_object_get(o, "status")), 200);
            cr_assert_float_eq(json_real_value(json_object_get(o, "ms")), 1.5, 1e-12);
            cr_assert_eq(json_integer_value(json_array_get(json_object_get(o, "list"), 0)), 7);
            cr_assert_eq(json_object_size(o), 7);
        } else if (n == 2) {
            cr_assert_str_eq(json_string_value(json_object_get(o, "method")), "GET");
            cr_assert_eq(json_integer_value(json_object_get(o, "status")), 404);
            cr_assert_eq(json_object_size(o), 5);
        } else {
            cr_assert_eq(json_object_size(o), 3, "%s", line);
        }
        json_decref(o);
    }
    cr_assert_eq(n, 5);
    free(out);
}
