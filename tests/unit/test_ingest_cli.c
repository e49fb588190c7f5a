/* test_ingest_cli.c - the pure parts of `opstwin ingest` (cli/import.h):
 * format by extension, messages without batch indexes, CSV rows to
 * telemetry objects, and the source over in-memory input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cli/import.h"

Test(ingest_cli, format_comes_from_the_extension)
{
    cr_assert_eq(ot_import_format_of("a/b.csv"), OT_IMPORT_CSV);
    cr_assert_eq(ot_import_format_of("x.CSV"), OT_IMPORT_CSV);
    cr_assert_eq(ot_import_format_of("x.ndjson"), OT_IMPORT_NDJSON);
    cr_assert_eq(ot_import_format_of("x.jsonl"), OT_IMPORT_NDJSON);
    cr_assert_eq(ot_import_format_of("x.json"), OT_IMPORT_NDJSON);
    cr_assert_eq(ot_import_format_of("-"), OT_IMPORT_AUTO);
    cr_assert_eq(ot_import_format_of("dir.csv/data"), OT_IMPORT_AUTO);
    cr_assert_eq(ot_import_format_of("data.txt"), OT_IMPORT_AUTO);
}

Test(ingest_cli, describe_drops_the_batch_index_and_adds_the_path_once)
{
    char m[256];
    ot_import_describe(m, sizeof m, "$[12].metrics.x", "'a' is not a number");
    cr_assert_str_eq(m, "$.metrics.x: 'a' is not a number");
    ot_import_describe(m, sizeof m, "$[3].ts", "$[3].ts: bad time");
    cr_assert_str_eq(m, "$.ts: bad time");
    ot_import_describe(m, sizeof m, "$[0]", "$[0]: a telemetry item must be a JSON object");
    cr_assert_str_eq(m, "$: a telemetry item must be a JSON object");
    ot_import_describe(m, sizeof m, NULL, "storage failed");
    cr_assert_str_eq(m, "storage failed");
    ot_import_describe(m, sizeof m, "$.ts", "");
    cr_assert_str_eq(m, "$.ts: rejected");
    ot_import_describe(m, sizeof m, "$[x]", "odd");
    cr_assert_str_eq(m, "$[x]: odd");
}

Test(ingest_cli, csv_row_becomes_a_telemetry_object)
{
    char *header[] = {"ts", "twin_id", "asset_id", "event_id", "temp_c", "rpm"};
    char *row[] = {"2026-01-04 12:00:00", "t1", "", "e1", "21.5", ""};
    ot_import_source_opts o = {.asset_id = "dflt"};
    char why[256] = "";
    json_t *j = ot_import_csv_row(header, row, 6, 0, 1, 2, 3, &o, why, sizeof why);
    cr_assert_not_null(j, "%s", why);
    cr_assert_str_eq(json_string_value(json_object_get(j, "ts")), "2026-01-04T12:00:00.000000Z");
    cr_assert_str_eq(json_string_value(json_object_get(j, "twin_id")), "t1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "asset_id")), "dflt");
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), "e1");
    json_t *m = json_object_get(j, "metrics");
    cr_assert_eq(json_object_size(m), 1);
    cr_assert_str_eq(json_string_value(json_object_get(m, "temp_c")), "21.5");
    json_decref(j);

    row[0] = "1767528000000"; /* Unix milliseconds */
    j = ot_import_csv_row(header, row, 6, 0, 1, 2, -1, &o, why, sizeof why);
    cr_assert_str_eq(json_string_value(json_object_get(j, "ts")), "2026-01-04T12:00:00.000000Z");
    cr_assert_null(json_object_get(j, "event_id"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "metrics"), "event_id")),
                     "e1", "without an event_id column it is a metric column like any other");
    json_decref(j);

    row[0] = "2026-02-30 00:00:00";
    cr_assert_null(ot_import_csv_row(header, row, 6, 0, 1, 2, 3, &o, why, sizeof why));
    cr_assert(strncmp(why, "$.ts: ", 6) == 0, "%s", why);
    row[0] = "";
    cr_assert_null(ot_import_csv_row(header, row, 6, 0, 1, 2, 3, &o, why, sizeof why));
    cr_assert(strstr(why, "$.ts: empty"), "%s", why);
}

/* Read every item of text; returns the count, items' lines and errors in
 * the out arrays, and the first fatal error (0 if none) in *rc. */
static int read_all(const char *text, const ot_import_source_opts *o, long *lines,
                    char errors[][OT_ERROR_MSG_MAX], json_t **objs, int *rc, ot_error *err)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    ot_import_source *s;
    int n = 0;
    *rc = ot_import_source_open(in, o, &s, err);
    if (*rc) {
        fclose(in);
        return 0;
    }
    ot_import_item it;
    while ((*rc = ot_import_source_next(s, &it, err)) == 1) {
        lines[n] = it.line;
        snprintf(errors[n], OT_ERROR_MSG_MAX, "%s", it.error);
        objs[n++] = json_incref(it.obj);
        ot_import_item_clear(&it);
    }
    ot_import_source_close(s);
    fclose(in);
    return n;
}

Test(ingest_cli, source_sniffs_ndjson_and_counts_lines)
{
    long lines[8];
    char errors[8][OT_ERROR_MSG_MAX];
    json_t *objs[8];
    int rc;
    ot_error err;
    ot_import_source_opts o = {.twin_id = "tw"};
    int n = read_all("\n\n{\"asset_id\":\"a\",\"metrics\":{\"x\":1}}\n\n[1]\n{oops\n", &o, lines,
                     errors, objs, &rc, &err);
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(lines[0], 3);
    cr_assert_str_eq(json_string_value(json_object_get(objs[0], "twin_id")), "tw");
    cr_assert_eq(lines[1], 5);
    cr_assert_null(objs[1]);
    cr_assert(strstr(errors[1], "must be a JSON object"), "%s", errors[1]);
    cr_assert_eq(lines[2], 6);
    cr_assert(strstr(errors[2], "not valid JSON"), "%s", errors[2]);
    for (int i = 0; i < n; i++)
        json_decref(objs[i]);
}

Test(ingest_cli, source_reads_csv_headers_and_headerless_series)
{
    long lines[8];
    char errors[8][OT_ERROR_MSG_MAX];
    json_t *objs[8];
    int rc;
    ot_error err;
    ot_import_source_opts o = {.twin_id = "t", .asset_id = "a", .metric = "flow"};
    /* BOM, a blank line, no header: timestamp,value with --metric */
    int n = read_all("\xEF\xBB\xBF\n2026-01-04 12:00:00,1\n2026-01-04 12:01:00,2,3\n", &o, lines,
                     errors, objs, &rc, &err);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_eq(n, 2);
    cr_assert_eq(lines[0], 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(objs[0], "metrics"),
                                                       "flow")),
                     "1");
    cr_assert_eq(lines[1], 3);
    cr_assert(strstr(errors[1], "expected 2 fields"), "%s", errors[1]);
    for (int i = 0; i < n; i++)
        json_decref(objs[i]);

    /* --metric renames the one metric column of a header */
    n = read_all("timestamp,value\n1767528000,5\n", &o, lines, errors, objs, &rc, &err);
    cr_assert_eq(n, 1);
    cr_assert_not_null(json_object_get(json_object_get(objs[0], "metrics"), "flow"));
    json_decref(objs[0]);

    /* header problems are usage errors */
    ot_import_source_opts none = {0};
    const char *bad[][2] = {
        {"ts,asset_id,x\n1,a,1\n", "no twin_id column"},
        {"twin_id,asset_id,x\n", "no ts (or timestamp) column"},
        {"ts,twin_id,asset_id\n", "no metric column"},
        {"ts,twin_id,asset_id,a b\n", "not a metric name"},
        {"ts,twin_id,asset_id,x,x\n", "names 'x' twice"},
        {"ts,timestamp,twin_id,asset_id,x\n", "two timestamp columns"},
        {"2026-01-04 12:00:00,1\n", "needs a header row"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ot_import_source_opts fmt = none;
        fmt.format = OT_IMPORT_CSV;
        read_all(bad[i][0], &fmt, lines, errors, objs, &rc, &err);
        cr_assert_eq(rc, OT_EINVAL, "%s", bad[i][0]);
        cr_assert(strstr(err.message, bad[i][1]), "%s -> %s", bad[i][0], err.message);
    }
    read_all("ts,a,b\n", &(ot_import_source_opts){.twin_id = "t", .asset_id = "a",
                                                  .metric = "m"},
             lines, errors, objs, &rc, &err);
    cr_assert_eq(rc, OT_EINVAL);
    cr_assert(strstr(err.message, "--metric"), "%s", err.message);
}

Test(ingest_cli, csv_quoting_error_is_fatal_and_names_the_line)
{
    long lines[8];
    char errors[8][OT_ERROR_MSG_MAX];
    json_t *objs[8];
    int rc;
    ot_error err;
    ot_import_source_opts o = {0};
    int n = read_all("\n\nts,twin_id,asset_id,x\n1767528000,t,a,1\n1767528001,t,a,\"2\n", &o,
                     lines, errors, objs, &rc, &err);
    cr_assert_eq(n, 1);
    cr_assert_eq(lines[0], 4);
    cr_assert_lt(rc, 0);
    cr_assert(strncmp(err.message, "line 5", 6) == 0, "%s", err.message);
    json_decref(objs[0]);
}

Test(ingest_cli, empty_input_has_no_items)
{
    long lines[1];
    char errors[1][OT_ERROR_MSG_MAX];
    json_t *objs[1];
    int rc;
    ot_error err;
    ot_import_source_opts o = {.format = OT_IMPORT_CSV};
    cr_assert_eq(read_all("\n \n", &o, lines, errors, objs, &rc, &err), 0);
    cr_assert_eq(rc, 0);
}
