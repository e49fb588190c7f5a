/* cmd_validate.c - `opstwin validate`: check JSON instances against a schema.
 *
 *   opstwin validate [--preload URI_PREFIX=DIR]... [--format-assert]
 *                    SCHEMA_FILE [INSTANCE_FILE...]
 *
 * Instances come from the files named, or as NDJSON on stdin (one instance
 * per line, blank lines skipped).  One JSON line per instance on stdout, in
 * order: {"valid":true,"file":...} or {"valid":false,"line":N,"errors":
 * [{"path","keyword","message"}]}.  Exit 0 when all are valid, 1 when some
 * are not (an unparseable instance counts as invalid), 2 on a usage error
 * or a bad schema (message on stderr).
 *
 * $refs resolve offline: the built-in schemas (https://opstwin.dev/schemas/),
 * the draft 2020-12 meta-schemas, files beside SCHEMA_FILE (relative refs),
 * and any --preload URI prefix mapped to a local folder.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema.h"
#include "cli/cli.h"
#include "core/buf.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: opstwin validate [--preload URI_PREFIX=DIR]... [--format-assert]\n"
            "                        SCHEMA_FILE [INSTANCE_FILE...]\n"
            "\n"
            "Validate JSON instances against a JSON Schema (draft 2020-12).\n"
            "Instances are read from INSTANCE_FILEs, or as NDJSON from stdin.\n"
            "Prints one JSON result line per instance: {\"valid\":true} or\n"
            "{\"valid\":false,\"errors\":[{\"path\",\"keyword\",\"message\"}]}.\n"
            "\n"
            "options:\n"
            "  --preload PREFIX=DIR  resolve $refs starting with PREFIX from files in DIR\n"
            "                        (e.g. http://example.com/schemas/=./schemas/)\n"
            "  --format-assert       check \"format\" (date-time, email, ...) instead of\n"
            "                        treating it as an annotation\n"
            "  -h, --help            show this help\n"
            "\n"
            "exit status: 0 all valid, 1 some invalid, 2 usage error or bad schema\n");
}

/* Print one result line; returns 1 when valid. */
static int report(json_t *result_ctx, int valid, json_t *errors)
{
    json_t *out = json_object();
    json_object_set_new(out, "valid", json_boolean(valid));
    json_object_update(out, result_ctx);
    if (!valid)
        json_object_set(out, "errors", errors ? errors : json_array());
    char *line = ot_json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (line)
        puts(line);
    free(line);
    json_decref(out);
    return valid;
}

/* Validate one parsed instance (or report its parse error). */
static int check(const ot_jsonschema *s, json_t *inst, const ot_error *perr, json_t *ctx)
{
    json_t *errors = NULL;
    int valid;
    if (!inst) {
        errors = json_pack("[{s:s, s:s, s:s}]", "path", "", "keyword", "", "message", perr->message);
        valid = report(ctx, 0, errors);
    } else {
        int r = ot_jsonschema_validate(s, inst, &errors);
        if (r < 0) {
            json_decref(errors);
            errors = json_pack("[{s:s, s:s, s:s}]", "path", "", "keyword", "", "message", ot_strerror(r));
            r = 0;
        }
        valid = report(ctx, r, errors);
    }
    json_decref(errors);
    json_decref(ctx);
    return valid;
}

static int validate_stdin(const ot_jsonschema *s)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int all = 1;
    while ((n = getline(&buf, &cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            len--;
        if (len == 0)
            continue;
        ot_error perr;
        ot_error_clear(&perr);
        json_t *inst = ot_jsonschema_parse(buf, len, &perr);
        all &= check(s, inst, &perr, json_pack("{s:I}", "line", (json_int_t)lineno));
        json_decref(inst);
    }
    free(buf);
    return all;
}

/* Preload the folder of the schema file for relative $refs; *base gets a
 * file:// URI for the schema (caller frees). */
static int add_file_base(ot_schema_set *set, const char *path, char **base, ot_error *err)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return ot_error_set(err, OT_ENOTFOUND, NULL, "cannot open '%s'", path);
    size_t n = strlen(real) + 8;
    *base = malloc(n);
    char *dirpref = malloc(n);
    if (!*base || !dirpref) {
        free(dirpref);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    snprintf(*base, n, "file://%s", real);
    snprintf(dirpref, n, "file://%s", real);
    *strrchr(dirpref, '/') = 0;
    *strrchr(real, '/') = 0;
    strcat(dirpref, "/");
    int rc = ot_jsonschema_set_preload(set, dirpref, *real ? real : "/", err);
    free(dirpref);
    return rc;
}

int ot_cmd_validate(int argc, char **argv)
{
    int flags = 0, i = 1, rc = 2;
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    ot_jsonschema *s = NULL;
    json_t *schema = NULL;
    char *base = NULL;
    ot_error_clear(&err);
    if (!set) {
        fprintf(stderr, "opstwin validate: out of memory\n");
        return 2;
    }
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *arg = argv[i], *val = NULL;
        if (ot_cli_is_help(arg)) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(arg, "--format-assert") == 0) {
            flags |= OT_JSONSCHEMA_FORMAT_ASSERT;
        } else if (strcmp(arg, "--preload") == 0 || strncmp(arg, "--preload=", 10) == 0) {
            val = arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = val ? strchr(val, '=') : NULL;
            if (!eq || eq == val || !eq[1]) {
                rc = ot_cli_usage_error("validate", "--preload needs URI_PREFIX=DIR, e.g. "
                                                    "http://example.com/schemas/=./schemas/");
                goto out;
            }
            char *prefix = strndup(val, (size_t)(eq - val));
            int prc = prefix ? ot_jsonschema_set_preload(set, prefix, eq + 1, &err) : OT_ENOMEM;
            free(prefix);
            if (prc) {
                rc = ot_cli_usage_error("validate", "--preload: %s", err.message);
                goto out;
            }
        } else if (strcmp(arg, "--") == 0) {
            i++;
            break;
        } else {
            rc = ot_cli_usage_error("validate", "unknown option '%s' (allowed: --preload, --format-assert, --help)", arg);
            goto out;
        }
    }
    if (i >= argc) {
        rc = ot_cli_usage_error("validate", "missing SCHEMA_FILE");
        goto out;
    }
    if (!(schema = ot_jsonschema_parse_file(argv[i], &err))) {
        fprintf(stderr, "opstwin validate: schema: %s\n", err.message);
        goto out;
    }
    if (ot_jsonschema_set_add_builtins(set, &err) || add_file_base(set, argv[i], &base, &err) ||
        !(s = ot_jsonschema_compile(set, schema, base, flags, &err))) {
        fprintf(stderr, "opstwin validate: %s: %s\n", argv[i], err.message);
        goto out;
    }
    int all = 1;
    if (++i >= argc) {
        all = validate_stdin(s);
    } else {
        for (; i < argc; i++) {
            ot_error perr;
            ot_error_clear(&perr);
            json_t *inst = ot_jsonschema_parse_file(argv[i], &perr);
            all &= check(s, inst, &perr, json_pack("{s:s}", "file", argv[i]));
            json_decref(inst);
        }
    }
    fflush(stdout);
    rc = all ? 0 : 1;
out:
    free(base);
    json_decref(schema);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    return rc;
}
