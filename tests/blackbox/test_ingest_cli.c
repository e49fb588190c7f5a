/* Black-box tests of `opstwin ingest`: NDJSON and CSV into a running server
 * over HTTP, bad lines reported by line number, idempotent re-import,
 * --data-dir into a stopped server's folder, and a 10,000-line import. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

/* 60 s, no more: Criterion 2.4's parallel runner leaks (and exits 1 under
 * ASan) when a test's deadline falls before a still-running one's, as the
 * 60 s shutdown test's would after a longer timeout here. */
TestSuite(ingest_cli, .init = up, .fini = down, .timeout = 60);

/* Write text into the server's folder; returns the path (static, 4 slots). */
static const char *write_file(const char *name, const char *text)
{
    static char path[4][400];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 400, "%s/%s", srv.dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Run `opstwin ingest ARGS... --url <srv>` (with the server's token, once
 * auth is on); returns the exit status, *out and *err owned by the caller. */
static int ingest(char **out, char **err, ...)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = bb_bin();
    argv[n++] = "ingest";
    va_list ap;
    va_start(ap, err);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 26;)
        argv[n++] = a;
    va_end(ap);
    int direct = 0;
    for (int i = 2; i < n; i++)
        direct |= strcmp(argv[i], "--data-dir") == 0;
    if (!direct) {
        argv[n++] = "--url";
        argv[n++] = srv.base;
    }
    if (!direct && srv.token[0]) {
        argv[n++] = "--token";
        argv[n++] = srv.token;
    }
    argv[n] = NULL;
    /* PostgreSQL mode: --data-dir writes into the server's database */
    static char dburl[600];
    const char *env[2] = {NULL, NULL};
    if (direct && bb_database_url(&srv)) {
        snprintf(dburl, sizeof dburl, "DATABASE_URL=%s", bb_database_url(&srv));
        env[0] = dburl;
    }
    return bb_run(argv, srv.dir, env, out, err);
}

/* GET path and return the parsed body (caller decrefs). */
static json_t *get_json(const char *path)
{
    bb_resp r;
    long st = bb_http(&srv, "GET", path, NULL, NULL, &r);
    cr_assert_eq(st, 200, "GET %s -> %ld: %s", path, st, r.body);
    json_t *j = json_incref(r.json);
    bb_resp_free(&r);
    return j;
}

/* A twin's stored telemetry: rows of /telemetry/query, or with diff set
 * its TelemetryAppended events in /diff. */
static long stored(const char *twin, int diff)
{
    char path[256];
    snprintf(path, sizeof path,
             diff ? "/diff?twin_id=%s&types=TelemetryAppended&limit=100"
                  : "/telemetry/query?twin_id=%s&limit=10000",
             twin);
    json_t *j = get_json(path);
    long n = diff ? (long)json_array_size(json_object_get(j, "events"))
                  : (long)json_integer_value(json_object_get(j, "count"));
    json_decref(j);
    return n;
}

static long query_count(const char *twin) { return stored(twin, 0); }
static long diff_count(const char *twin) { return stored(twin, 1); }

static const char NDJSON[] =
    "{\"twin_id\":\"plant1\",\"asset_id\":\"pump_1\",\"metrics\":{\"temp_c\":21.5},"
    "\"ts\":\"2026-01-04T12:00:00Z\",\"event_id\":\"ev-1\"}\n"
    "\n"
    "{\"twin_id\":\"plant1\",\"asset_id\":\"pump_1\",\"metrics\":{\"temp_c\":22.5,\"rpm\":1500},"
    "\"ts\":\"2026-01-04 12:01:00\",\"tags\":{\"site\":\"north\"},\"event_id\":\"ev-2\"}\n"
    "{\"twin_id\":\"plant1\",\"asset_id\":\"pump_2\",\"metrics\":{\"temp_c\":23},"
    "\"ts\":1767528120,\"event_id\":\"ev-3\"}\n";

Test(ingest_cli, ndjson_file_into_a_running_server)
{
    char *out, *err;
    const char *f = write_file("hist.ndjson", NDJSON);
    cr_assert_eq(ingest(&out, &err, f, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 3 items (3 accepted, 0 rejected, 0 duplicates) in "), "%s",
              out);
    cr_assert(strstr(out, " items/s)\n"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(query_count("plant1"), 3);
    cr_assert_eq(diff_count("plant1"), 3);
    json_t *j = get_json("/telemetry/query?twin_id=plant1&asset_id=pump_1");
    json_t *row = json_array_get(json_object_get(j, "rows"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(row, "ts")), "2026-01-04T12:01:00.000000Z");
    cr_assert_eq(json_real_value(json_object_get(json_object_get(row, "metrics"), "rpm")), 1500);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(row, "tags"), "site")),
                     "north");
    json_decref(j);
}

Test(ingest_cli, wide_csv_file_into_a_running_server)
{
    char *out, *err;
    const char *f = write_file("hist.csv", "ts,twin_id,asset_id,temp_c,rpm\n"
                                           "2026-01-04T12:00:00Z,plant2,pump_1,21.5,1500\n"
                                           "2026-01-04 12:01:00,plant2,pump_1,,1510\n"
                                           "1767528120,plant2,pump_1,22,\n");
    cr_assert_eq(ingest(&out, &err, f, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 3 items (3 accepted, 0 rejected, 0 duplicates)"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(diff_count("plant2"), 3);
    json_t *j = get_json("/telemetry/query?twin_id=plant2");
    json_t *rows = json_object_get(j, "rows");
    cr_assert_eq(json_array_size(rows), 3);
    json_t *m1 = json_object_get(json_array_get(rows, 1), "metrics");
    cr_assert_eq(json_object_size(m1), 1, "an empty cell is an absent metric");
    cr_assert_eq(json_real_value(json_object_get(m1, "rpm")), 1510);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 2), "ts")),
                     "2026-01-04T12:02:00.000000Z");
    json_decref(j);
}

Test(ingest_cli, timestamp_value_csv_from_stdin_with_ids_from_flags)
{
    write_file("series.txt", "timestamp,value\n2026-01-04 12:00:00,1.5\n2026-01-04 12:01:00,2\n");
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "'%s' ingest --url %s%s%s --format csv --twin-id plant3 --asset-id meter "
             "--metric flow_lpm - < series.txt",
             bb_bin(), srv.base, srv.token[0] ? " --token " : "", srv.token);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out, *err;
    cr_assert_eq(bb_run(argv, srv.dir, NULL, &out, &err), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 2 items (2 accepted"), "%s", out);
    free(out);
    free(err);
    json_t *j = get_json("/telemetry/query?twin_id=plant3&asset_id=meter");
    json_t *m = json_object_get(json_array_get(json_object_get(j, "rows"), 0), "metrics");
    cr_assert_eq(json_real_value(json_object_get(m, "flow_lpm")), 1.5);
    json_decref(j);
}

Test(ingest_cli, bad_lines_are_reported_by_line_and_good_lines_stored)
{
    char *out, *err;
    const char *f = write_file(
        "mixed.ndjson",
        "{\"twin_id\":\"plant4\",\"asset_id\":\"a\",\"metrics\":{\"temp_c\":1},\"ts\":1767528000}\n"
        "{\"twin_id\":\"plant4\",\"asset_id\":\"a\",\"metrics\":{\"temp_c\":\"hot\"}}\n"
        "this is not json\n"
        "{\"twin_id\":\"plant4\",\"asset_id\":\"a\",\"metrics\":{\"temp_c\":3},\"ts\":\"soon\"}\n"
        "{\"twin_id\":\"plant4\",\"asset_id\":\"a\",\"metrics\":{\"temp_c\":4},\"ts\":1767528060}\n");
    cr_assert_eq(ingest(&out, &err, f, "--batch", "2", NULL), 1, "stderr: %s", err);
    cr_assert(strstr(out, "imported 5 items (2 accepted, 3 rejected, 0 duplicates)"), "%s", out);
    char want[600];
    snprintf(want, sizeof want, "%s:2: $.metrics.temp_c: ", f);
    cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
    snprintf(want, sizeof want, "%s:3: the line is not valid JSON", f);
    cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
    snprintf(want, sizeof want, "%s:4: $.ts: ", f);
    cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
    cr_assert(!strstr(err, "$["), "a batch index leaked into: %s", err);
    free(out);
    free(err);
    cr_assert_eq(query_count("plant4"), 2);

    /* a CSV row with a bad cell: its line, the column's path */
    f = write_file("mixed.csv", "ts,twin_id,asset_id,temp_c\n"
                                "2026-01-04 12:00:00,plant5,a,1\n"
                                "2026-01-04 12:01:00,plant5,a,warm\n"
                                "not-a-time,plant5,a,3\n"
                                "2026-01-04 12:03:00,plant5,a\n");
    cr_assert_eq(ingest(&out, &err, f, NULL), 1);
    cr_assert(strstr(out, "imported 4 items (1 accepted, 3 rejected, 0 duplicates)"), "%s", out);
    snprintf(want, sizeof want, "%s:3: $.metrics.temp_c: ", f);
    cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
    snprintf(want, sizeof want, "%s:4: $.ts: ", f);
    cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
    snprintf(want, sizeof want, "%s:5: expected 4 fields", f);
    cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
    free(out);
    free(err);
}

/* A CSV whose header does not parse, after blank lines: the error names the
 * header's line, counting the blank ones (it said line 1) */
Test(ingest_cli, a_broken_header_after_blank_lines_is_reported_at_its_line)
{
    char *out, *err;
    const char *f = write_file("blank.csv", "\n\nts,twin_id,asset_id,\"temp\n");
    cr_assert_neq(ingest(&out, &err, f, NULL), 0);
    cr_assert(strstr(err, "line 3: quoted field never closed"), "%s", err);
    free(out);
    free(err);
}

Test(ingest_cli, only_the_first_20_rejections_are_printed_but_all_are_counted)
{
    char text[4096] = "";
    for (int i = 0; i < 25; i++)
        strcat(text, "{\"twin_id\":\"plant6\",\"asset_id\":\"a\",\"metrics\":{}}\n");
    const char *f = write_file("bad.ndjson", text);
    char *out, *err;
    cr_assert_eq(ingest(&out, &err, f, NULL), 1);
    cr_assert(strstr(out, "imported 25 items (0 accepted, 25 rejected, 0 duplicates)"), "%s", out);
    char want[600];
    snprintf(want, sizeof want, "%s:20: ", f);
    cr_assert(strstr(err, want), "%s", err);
    snprintf(want, sizeof want, "%s:21: ", f);
    cr_assert(!strstr(err, want), "%s", err);
    cr_assert(strstr(err, "(5 more rejected items not shown)"), "%s", err);
    free(out);
    free(err);
}

Test(ingest_cli, reimport_with_event_ids_stores_nothing_twice)
{
    char *out, *err;
    const char *f = write_file("again.ndjson", NDJSON);
    cr_assert_eq(ingest(&out, &err, f, NULL), 0, "stderr: %s", err);
    free(out);
    free(err);
    cr_assert_eq(ingest(&out, &err, f, NULL), 0, "duplicates count as accepted: %s", err);
    cr_assert(strstr(out, "imported 3 items (3 accepted, 0 rejected, 3 duplicates)"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(query_count("plant1"), 3);
    cr_assert_eq(diff_count("plant1"), 3);
}

Test(ingest_cli, data_dir_import_into_a_stopped_servers_folder)
{
    char data[400], *out, *err, token[sizeof srv.token];
    snprintf(data, sizeof data, "%s/data", srv.dir);
    const char *f = write_file("hist.ndjson", NDJSON);

    /* refused while the server runs there */
    cr_assert_eq(ingest(&out, &err, "--data-dir", data, f, NULL), 1);
    cr_assert(strstr(err, "in use by another opstwin process"), "%s", err);
    free(out);
    free(err);

    snprintf(token, sizeof token, "%s", srv.token);
    cr_assert_eq(bb_stop(&srv, 1), 0);
    cr_assert_eq(ingest(&out, &err, "--data-dir", data, f, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 3 items (3 accepted, 0 rejected, 0 duplicates)"), "%s", out);
    free(out);
    free(err);
    /* again, and with an event_id twice in one file: the stored ones and
     * the repeat are duplicates, as over HTTP (the whole batch failed on
     * the UNIQUE constraint, the new item with it) */
    cr_assert_eq(ingest(&out, &err, "--data-dir", data, f, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 3 items (3 accepted, 0 rejected, 3 duplicates)"), "%s", out);
    free(out);
    free(err);
    const char *rep = write_file("rep.ndjson",
                                 "{\"twin_id\":\"plant1\",\"asset_id\":\"r\",\"event_id\":\"rep-1\","
                                 "\"metrics\":{\"temp_c\":1}}\n"
                                 "{\"twin_id\":\"plant1\",\"asset_id\":\"r\",\"event_id\":\"rep-1\","
                                 "\"metrics\":{\"temp_c\":1}}\n"
                                 "{\"twin_id\":\"plant1\",\"asset_id\":\"r\",\"event_id\":\"rep-2\","
                                 "\"metrics\":{\"temp_c\":2}}\n");
    cr_assert_eq(ingest(&out, &err, "--data-dir", data, rep, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 3 items (3 accepted, 0 rejected, 1 duplicates)"), "%s", out);
    free(out);
    free(err);
    /* the same rules as the server: a bad item is rejected the same way */
    const char *bad = write_file("bad.ndjson", "{\"twin_id\":\"plant1\",\"asset_id\":\"x\","
                                               "\"metrics\":{\"temp_c\":\"hot\"}}\n");
    cr_assert_eq(ingest(&out, &err, "--data-dir", data, bad, NULL), 1);
    cr_assert(strstr(err, ":1: $.metrics.temp_c: "), "%s", err);
    free(out);
    free(err);

    char dir[256];
    snprintf(dir, sizeof dir, "%s", srv.dir);
    bb_start(&srv, NULL, NULL, dir);
    if (!srv.token[0]) /* a restarted server does not print its token again */
        snprintf(srv.token, sizeof srv.token, "%s", token);
    cr_assert_eq(query_count("plant1"), 5);
    json_t *j = get_json("/telemetry/query?twin_id=plant1&asset_id=pump_2");
    json_t *row = json_array_get(json_object_get(j, "rows"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(row, "event_id")), "ev-3");
    json_decref(j);

    /* and importing the same file over HTTP now finds every item stored */
    cr_assert_eq(ingest(&out, &err, f, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "(3 accepted, 0 rejected, 3 duplicates)"), "%s", out);
    free(out);
    free(err);
}

Test(ingest_cli, ten_thousand_lines_import_and_count_right)
{
    size_t cap = 10000 * 160;
    char *text = malloc(cap), *p = text;
    for (int i = 0; i < 10000; i++)
        p += snprintf(p, cap - (size_t)(p - text),
                      "{\"twin_id\":\"plant7\",\"asset_id\":\"a%d\",\"metrics\":{\"v\":%d},"
                      "\"ts\":%d,\"event_id\":\"big-%d\"}\n",
                      i % 10, i, 1767528000 + i, i);
    const char *f = write_file("big.ndjson", text);
    free(text);
    char *out, *err;
    cr_assert_eq(ingest(&out, &err, f, NULL), 0, "stderr: %s", err);
    cr_assert(strstr(out, "imported 10000 items (10000 accepted, 0 rejected, 0 duplicates)"),
              "%s", out);
    free(out);
    free(err);
    cr_assert_eq(query_count("plant7"), 10000);
    json_t *j = get_json("/telemetry/aggregate?twin_id=plant7&metric_name=v&window=1%20day"
                         "&function=count");
    long total = 0;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "buckets"), i, b)
        total += (long)json_number_value(json_object_get(b, "value"));
    cr_assert_eq(total, 10000);
    json_decref(j);
}

Test(ingest_cli, usage_errors_exit_2_and_an_unreachable_server_exits_1)
{
    const char *f = write_file("u.ndjson", NDJSON);
    const char *csv = write_file("noids.csv", "ts,temp_c\n2026-01-04 12:00:00,1\n");
    struct { const char *a, *b, *expect; } cases[] = {
        {"--bogus", f, "unknown option '--bogus'"},
        {"--batch", "0", "--batch '0'"},
        {"--format", "xml", "use csv or ndjson"},
        {"--twin-id", "bad id", "--twin-id 'bad id'"},
        {csv, NULL, "no twin_id column: add one or pass --twin-id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {bb_bin(), "ingest", cases[i].a, cases[i].b, cases[i].b ? f : NULL,
                              NULL};
        char *out, *err;
        cr_assert_eq(bb_run(argv, srv.dir, NULL, &out, &err), 2, "%s: %s", cases[i].a, err);
        cr_assert(strstr(err, cases[i].expect), "stderr: %s", err);
        free(out);
        free(err);
    }
    const char *help[] = {bb_bin(), "ingest", "--help", NULL};
    char *out, *err;
    cr_assert_eq(bb_run(help, NULL, NULL, &out, &err), 0);
    cr_assert(strstr(out, "usage: opstwin ingest"), "%s", out);
    free(out);
    free(err);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", bb_free_port());
    const char *argv[] = {bb_bin(), "ingest", "--url", url, f, NULL};
    cr_assert_eq(bb_run(argv, srv.dir, NULL, &out, &err), 1);
    cr_assert(strstr(err, "cannot reach the server"), "%s", err);
    free(out);
    free(err);
}
