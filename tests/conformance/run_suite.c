/* run_suite.c - run JSON-Schema-Test-Suite files against src/aiw/jsonschema.
 *
 * Usage: run_suite [-v] [-f] REMOTES_DIR FILE.json...
 *   -v  print each failing test;  -f  compile with format assertion.
 * Remote references to http://localhost:1234/ are served from REMOTES_DIR
 * (the suite's remotes/ folder).  Prints "file: passed/total" per file and
 * a closing "N passed, N failed" line; exit 1 when any test failed.
 *
 * The suite itself is not part of this tree; copy it somewhere (e.g. /tmp)
 * and build with:
 *   gcc -std=c17 -D_GNU_SOURCE -Isrc -O2 tests/conformance/run_suite.c \
 *       build/rel/libopstwin.a -ljansson -lpcre2-8 -lm -o /tmp/run_suite
 */
#include <stdio.h>
#include <string.h>

#include "aiw/jsonschema.h"

int main(int argc, char **argv)
{
    int verbose = 0, flags = 0, argi = 1;
    long total_pass = 0, total_fail = 0;
    while (argi < argc && argv[argi][0] == '-') {
        if (strcmp(argv[argi], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[argi], "-f") == 0)
            flags |= OT_JSONSCHEMA_FORMAT_ASSERT;
        argi++;
    }
    if (argc - argi < 2) {
        fprintf(stderr, "usage: run_suite [-v] [-f] REMOTES_DIR FILE.json...\n");
        return 2;
    }
    const char *remotes = argv[argi++];
    for (; argi < argc; argi++) {
        ot_error err;
        json_t *groups = ot_jsonschema_parse_file(argv[argi], &err), *g;
        size_t gi;
        long pass = 0, fail = 0;
        if (!groups) {
            fprintf(stderr, "%s\n", err.message);
            return 2;
        }
        json_array_foreach(groups, gi, g) {
            ot_schema_set *set = ot_jsonschema_set_new();
            ot_jsonschema_set_preload(set, "http://localhost:1234/", remotes, &err);
            ot_jsonschema *s = ot_jsonschema_compile(set, json_object_get(g, "schema"), NULL, flags, &err);
            json_t *tests = json_object_get(g, "tests"), *t;
            size_t ti;
            json_array_foreach(tests, ti, t) {
                int want = json_is_true(json_object_get(t, "valid"));
                json_t *errors = NULL;
                int got = s ? ot_jsonschema_validate(s, json_object_get(t, "data"), &errors) : -1;
                int fast = s ? ot_jsonschema_validate(s, json_object_get(t, "data"), NULL) : -1;
                if (got == want && fast == want) {
                    pass++;
                } else {
                    fail++;
                    if (verbose) {
                        char *e = errors ? json_dumps(errors, JSON_COMPACT) : NULL;
                        printf("FAIL %s | %s | %s: want %d got %d fast %d %s%s\n", argv[argi],
                               json_string_value(json_object_get(g, "description")),
                               json_string_value(json_object_get(t, "description")), want, got, fast,
                               s ? (e ? e : "") : "compile: ", s ? "" : err.message);
                        free(e);
                    }
                }
                json_decref(errors);
            }
            ot_jsonschema_free(s);
            ot_jsonschema_set_free(set);
        }
        printf("%s: %ld/%ld\n", argv[argi], pass, pass + fail);
        total_pass += pass;
        total_fail += fail;
        json_decref(groups);
    }
    printf("%ld passed, %ld failed\n", total_pass, total_fail);
    return total_fail ? 1 : 0;
}
