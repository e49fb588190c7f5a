/* test_cmd_validate.c - `opstwin validate` through ot_cmd_validate, with
 * temporary files; stdout is captured in a file (each Criterion test runs
 * in its own process). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/ot-validate-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cmd_validate, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *text)
{
    static char path[8][160];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 160, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Run the command with stdin from in_path (or /dev/null); stdout text in out. */
static int run(char **argv, int argc, const char *in_path, char *out, size_t outlen)
{
    char opath[160];
    snprintf(opath, sizeof opath, "%s/stdout", dir);
    fflush(stdout);
    cr_assert(freopen(opath, "w", stdout));
    cr_assert(freopen(in_path ? in_path : "/dev/null", "r", stdin));
    int rc = ot_cmd_validate(argc, argv);
    fflush(stdout);
    FILE *f = fopen(opath, "r");
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = 0;
    fclose(f);
    return rc;
}

Test(cmd_validate, files_give_one_line_each_and_exit_1_when_one_is_invalid)
{
    char out[4096];
    const char *schema = write_file("s.json", "{\"type\":\"object\",\"required\":[\"a\"]}");
    const char *good = write_file("good.json", "{\"a\":1}");
    const char *bad = write_file("bad.json", "{\"b\":1}");
    char *argv[] = {"validate", (char *)schema, (char *)good, (char *)bad, NULL};
    cr_assert_eq(run(argv, 4, NULL, out, sizeof out), 1);
    char *nl = strchr(out, '\n');
    cr_assert(nl);
    cr_assert(strncmp(out, "{\"valid\":true,\"file\":", 21) == 0, "%s", out);
    cr_assert(strstr(nl, "\"valid\":false"), "%s", out);
    cr_assert(strstr(nl, "\"path\":\"/a\""), "%s", out);
}

Test(cmd_validate, ndjson_on_stdin_with_line_numbers)
{
    char out[4096];
    const char *schema = write_file("s.json", "{\"type\":\"integer\"}");
    const char *in = write_file("in.ndjson", "1\n\n2\n");
    char *argv[] = {"validate", (char *)schema, NULL};
    cr_assert_eq(run(argv, 2, in, out, sizeof out), 0);
    cr_assert_str_eq(out, "{\"valid\":true,\"line\":1}\n{\"valid\":true,\"line\":3}\n");
}

Test(cmd_validate, preload_resolves_refs_offline_and_format_assert)
{
    char out[4096];
    char sub[160];
    snprintf(sub, sizeof sub, "%s/lib", dir);
    mkdir(sub, 0755);
    write_file("lib/ts.json", "{\"type\":\"string\",\"format\":\"date-time\"}");
    const char *schema = write_file("s.json", "{\"$id\":\"http://example.test/s.json\",\"$ref\":\"lib/ts.json\"}");
    const char *inst = write_file("i.json", "\"not a time\"");
    char pre[200];
    snprintf(pre, sizeof pre, "http://example.test/=%s", dir);
    char *argv[] = {"validate", "--preload", pre, (char *)schema, (char *)inst, NULL};
    cr_assert_eq(run(argv, 5, NULL, out, sizeof out), 0, "%s", out);
    char *argv2[] = {"validate", "--preload", pre, "--format-assert", (char *)schema, (char *)inst, NULL};
    cr_assert_eq(run(argv2, 6, NULL, out, sizeof out), 1, "%s", out);
}

Test(cmd_validate, usage_and_schema_errors_exit_2)
{
    char out[4096];
    const char *bad_schema = write_file("bad.json", "{\"minLength\":-3}");
    char *a1[] = {"validate", NULL};
    cr_assert_eq(run(a1, 1, NULL, out, sizeof out), 2);
    char *a2[] = {"validate", "--nope", NULL};
    cr_assert_eq(run(a2, 2, NULL, out, sizeof out), 2);
    char *a3[] = {"validate", (char *)bad_schema, NULL};
    cr_assert_eq(run(a3, 2, NULL, out, sizeof out), 2);
    char *a4[] = {"validate", "/nonexistent/schema.json", NULL};
    cr_assert_eq(run(a4, 2, NULL, out, sizeof out), 2);
    char *a5[] = {"validate", "--preload", "noequals", "x", NULL};
    cr_assert_eq(run(a5, 4, NULL, out, sizeof out), 2);
    char *a6[] = {"validate", "--help", NULL};
    cr_assert_eq(run(a6, 2, NULL, out, sizeof out), 0);
    cr_assert(strstr(out, "usage: opstwin validate"));
}
