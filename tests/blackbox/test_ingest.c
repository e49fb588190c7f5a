/* Black-box tests of POST /telemetry/ingest: single objects, batches (JSON
 * array and NDJSON), every timestamp form, a 400 naming the field for every
 * kind of bad input (and nothing stored for it), idempotent event ids, the
 * ingest profile, and the body size limit. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(ingest, .init = up, .fini = down, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The number of telemetry events in the log (detection may add anomaly
 * events of its own at any time). */
static size_t log_size(void)
{
    json_t *all = bb_diff_all(&srv, "types=TelemetryAppended", 1000);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

static size_t query_count(const char *twin)
{
    json_t *q = bb_getf(&srv, 200, "/telemetry/query?twin_id=%s", twin);
    size_t n = (size_t)json_integer_value(json_object_get(q, "count"));
    cr_assert_eq(n, json_array_size(json_object_get(q, "rows")));
    json_decref(q);
    return n;
}

Test(ingest, single_object_is_stored_and_logged)
{
    json_t *r = bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\",\"metrics\":"
                       "{\"temp_c\":21.5,\"load\":\"73\"},\"tags\":{\"line\":\"A\"},"
                       "\"ts\":\"2026-01-04T12:34:56Z\"}",
                       200);
    cr_assert_str_eq(sget(r, "status"), "accepted");
    cr_assert(json_is_string(json_object_get(r, "message")));
    cr_assert(json_is_false(json_object_get(r, "duplicate")));
    const char *id = sget(r, "event_id");
    cr_assert(id && strncmp(id, "tel_", 4) == 0, "event_id %s", id ? id : "(none)");
    cr_assert_str_eq(sget(r, "cursor"), "cursor_000001");

    json_t *t = bb_getf(&srv, 200, "/r/telemetry/%s", id);
    cr_assert_str_eq(sget(t, "event_id"), id);
    cr_assert_str_eq(sget(t, "twin_id"), "plant-1");
    cr_assert_str_eq(sget(t, "asset_id"), "press_2");
    cr_assert_str_eq(sget(t, "ts"), "2026-01-04T12:34:56.000000Z");
    json_t *m = json_object_get(t, "metrics");
    cr_assert_float_eq(json_number_value(json_object_get(m, "temp_c")), 21.5, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(m, "load")), 73.0, 1e-12);
    cr_assert_str_eq(sget(json_object_get(t, "tags"), "line"), "A");

    json_t *d = bb_getf(&srv, 200, "/diff");
    json_t *evs = json_object_get(d, "events");
    cr_assert_eq(json_array_size(evs), 1);
    json_t *e = json_array_get(evs, 0);
    cr_assert_str_eq(sget(e, "type"), "TelemetryAppended");
    cr_assert_str_eq(sget(e, "id"), id);
    cr_assert_str_eq(sget(e, "cursor"), "cursor_000001");
    cr_assert_str_eq(sget(e, "twin_id"), "plant-1");
    cr_assert_str_eq(sget(json_object_get(e, "data_ref"), "type"), "telemetry");
    cr_assert_str_eq(sget(json_object_get(e, "data_ref"), "id"), id);
    json_decref(d);
    json_decref(t);
    json_decref(r);
}

Test(ingest, batch_stores_valid_items_and_reports_invalid_ones)
{
    const char *body =
        "[{\"twin_id\":\"mix\",\"asset_id\":\"a\",\"metrics\":{\"x\":1}},"
        " {\"twin_id\":\"mix\",\"asset_id\":\"a\",\"metrics\":{\"x\":\"abc\"}},"
        " {\"twin_id\":\"mix\",\"asset_id\":\"a\",\"metrics\":{\"x\":3}},"
        " {\"twin_id\":\"mix\",\"metrics\":{\"x\":4}},"
        " 17]";
    json_t *r = bb_req(&srv, "POST", "/telemetry/ingest", body, 200);
    cr_assert_str_eq(sget(r, "status"), "partial");
    cr_assert_eq(json_integer_value(json_object_get(r, "accepted")), 2);
    cr_assert_eq(json_integer_value(json_object_get(r, "rejected")), 3);
    cr_assert_eq(json_integer_value(json_object_get(r, "duplicates")), 0);
    json_t *res = json_object_get(r, "results");
    cr_assert_eq(json_array_size(res), 5);
    const char *bad_paths[5] = {NULL, "$[1].metrics.x", NULL, "$[3].asset_id", "$[4]"};
    const char *ids[2];
    int k = 0;
    for (size_t i = 0; i < 5; i++) {
        json_t *it = json_array_get(res, i);
        cr_assert_eq(json_integer_value(json_object_get(it, "index")), (json_int_t)i);
        if (!bad_paths[i]) {
            cr_assert_str_eq(sget(it, "status"), "accepted");
            cr_assert(json_is_false(json_object_get(it, "duplicate")));
            ids[k++] = sget(it, "event_id");
            char want[32];
            snprintf(want, sizeof want, "cursor_%06d", k);
            cr_assert_str_eq(sget(it, "cursor"), want, "item %zu", i);
            continue;
        }
        cr_assert_str_eq(sget(it, "status"), "rejected");
        cr_assert_null(json_object_get(it, "event_id"));
        json_t *err = json_object_get(it, "error");
        cr_assert_str_eq(sget(err, "code"), "validation_failed");
        cr_assert(json_string_length(json_object_get(err, "message")) > 0);
        json_t *det = json_array_get(json_object_get(err, "details"), 0);
        cr_assert_str_eq(sget(det, "path"), bad_paths[i], "item %zu", i);
    }
    /* only the two valid items are stored and logged */
    json_t *all = bb_diff_all(&srv, "types=TelemetryAppended", 100);
    cr_assert_eq(json_array_size(all), 2);
    cr_assert_str_eq(sget(json_array_get(all, 0), "id"), ids[0]);
    cr_assert_str_eq(sget(json_array_get(all, 1), "id"), ids[1]);
    json_t *q = bb_getf(&srv, 200, "/telemetry/query?twin_id=mix");
    json_t *rows = json_object_get(q, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    double sum = 0;
    for (size_t i = 0; i < 2; i++)
        sum += json_number_value(
            json_object_get(json_object_get(json_array_get(rows, i), "metrics"), "x"));
    cr_assert_float_eq(sum, 4.0, 1e-12); /* x=1 and x=3, never 4 */
    json_decref(q);
    json_decref(all);
    json_decref(r);
}

static void ndjson_case(const char *ctype, const char *twin)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}\n"
             "\n"
             "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"v\":2}}\r\n"
             "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"v\":3}}\n",
             twin, twin, twin);
    const char *h[] = {ctype, NULL};
    bb_resp r;
    bb_http(&srv, "POST", "/telemetry/ingest", body, h, &r);
    cr_assert_eq(r.status, 200, "%s: %s", ctype, r.body);
    cr_assert_str_eq(sget(r.json, "status"), "accepted", "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "accepted")), 3, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "results")), 3);
    bb_resp_free(&r);
    cr_assert_eq(query_count(twin), 3, "%s", ctype);
}

Test(ingest, ndjson_with_and_without_its_content_type)
{
    ndjson_case("Content-Type: application/x-ndjson", "nd1");
    ndjson_case("Content-Type: application/json", "nd2");
    ndjson_case("Content-Type:", "nd3"); /* no Content-Type header at all */
    cr_assert_eq(log_size(), 9);
}

Test(ingest, ndjson_bad_line_is_rejected_with_its_index)
{
    const char *body = "{\"twin_id\":\"ndb\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}\n"
                       "{\"twin_id\":\"ndb\",\"asset_id\":\n"
                       "{\"twin_id\":\"ndb\",\"asset_id\":\"a\",\"metrics\":{\"v\":true}}\n"
                       "{\"twin_id\":\"ndb\",\"asset_id\":\"a\",\"metrics\":{\"v\":1e999}}\n";
    const char *h[] = {"Content-Type: application/x-ndjson", NULL};
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "POST", "/telemetry/ingest", body, h, &r), 200, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "accepted")), 1);
    json_t *res = json_object_get(r.json, "results");
    json_t *e1 = json_array_get(json_object_get(json_object_get(json_array_get(res, 1), "error"),
                                                "details"), 0);
    json_t *e2 = json_array_get(json_object_get(json_object_get(json_array_get(res, 2), "error"),
                                                "details"), 0);
    cr_assert_str_eq(sget(e1, "path"), "$[1]", "%s", r.body);
    cr_assert_str_eq(sget(e2, "path"), "$[2].metrics.v", "%s", r.body);
    /* a line that does not parse is its item; the message names the field */
    json_t *e3 = json_array_get(json_object_get(json_object_get(json_array_get(res, 3), "error"),
                                                "details"), 0);
    cr_assert_str_eq(sget(e3, "path"), "$[3]", "%s", r.body);
    cr_assert(strstr(sget(e3, "message"), "line 4 is not valid JSON at $[3].metrics.v: real number "
                     "overflow near '1e999'"), "%s", r.body);
    cr_assert(strstr(sget(e1, "message"), "line 2 is not valid JSON at $[1].asset_id"), "%s",
              r.body);
    bb_resp_free(&r);
    cr_assert_eq(query_count("ndb"), 1);
}

/* A string in a JSON array is an item like any other: rejected as not an
 * object, not taken for an NDJSON line that did not parse (its text was
 * given back as the error). */
Test(ingest, a_string_item_is_rejected_as_not_an_object)
{
    const char *ok = "{\"twin_id\":\"str\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}";
    char body[512];
    snprintf(body, sizeof body, "[\"x\", %s]", ok);
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "POST", "/telemetry/ingest", body, NULL, &r), 200, "%s", r.body);
    json_t *e0 = json_object_get(json_array_get(json_object_get(r.json, "results"), 0), "error");
    cr_assert_not_null(e0, "%s", r.body);
    cr_assert_str_neq(sget(e0, "message"), "x", "%s", r.body);
    cr_assert(strstr(sget(e0, "message"), "object"), "%s", r.body);
    bb_resp_free(&r);
    cr_assert_eq(query_count("str"), 1);
}

/* application/json-seq (RFC 7464): each record led by RS (0x1E) */
Test(ingest, json_seq_records_are_items)
{
    const char *body = "\x1e{\"twin_id\":\"seq\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}\n"
                       "\x1e{\"twin_id\":\"seq\",\"asset_id\":\"a\",\"metrics\":{\"v\":2}}\n";
    const char *h[] = {"Content-Type: application/json-seq", NULL};
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "POST", "/telemetry/ingest", body, h, &r), 200, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "accepted")), 2, "%s", r.body);
    bb_resp_free(&r);
    cr_assert_eq(query_count("seq"), 2);
}

Test(ingest, all_invalid_batch_is_400_and_stores_nothing)
{
    bb_resp r;
    bb_http(&srv, "POST", "/telemetry/ingest",
            "[{\"twin_id\":\"allbad\",\"asset_id\":\"a\",\"metrics\":{}},"
            " {\"twin_id\":\"allbad\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"ts\":\"soon\"}]",
            NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", "$[0].metrics");
    bb_assert_error(&r, 400, "validation_failed", "$[1].ts");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(r.json, "error"), "details")), 2);
    bb_resp_free(&r);
    /* an empty batch too */
    bb_http(&srv, "POST", "/telemetry/ingest", "[]", NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", NULL);
    bb_resp_free(&r);
    cr_assert_eq(log_size(), 0);
    cr_assert_eq(query_count("allbad"), 0);
}

Test(ingest, every_timestamp_form_is_stored_as_utc_microseconds)
{
    static const struct { const char *ts, *want; } cases[] = {
        {"\"2026-01-04T12:34:56Z\"", "2026-01-04T12:34:56.000000Z"},
        {"\"2026-01-04T12:34:56.123456Z\"", "2026-01-04T12:34:56.123456Z"},
        {"\"2026-01-04T18:04:56.5+05:30\"", "2026-01-04T12:34:56.500000Z"},
        {"\"2026-01-04T07:34:56-05:00\"", "2026-01-04T12:34:56.000000Z"},
        {"\"2026-01-04T12:34:56.123456789+00:00\"", "2026-01-04T12:34:56.123456Z"},
        {"\"2026-01-04 12:34:56\"", "2026-01-04T12:34:56.000000Z"},
        {"1767530096", "2026-01-04T12:34:56.000000Z"},          /* seconds */
        {"1767530096.25", "2026-01-04T12:34:56.250000Z"},       /* fractional seconds */
        {"\"1767530096\"", "2026-01-04T12:34:56.000000Z"},      /* digits in a string */
        {"1767530096250", "2026-01-04T12:34:56.250000Z"},       /* milliseconds */
        {"1767530096250125", "2026-01-04T12:34:56.250125Z"},    /* microseconds */
        {"\"2024-02-29T00:00:00Z\"", "2024-02-29T00:00:00.000000Z"}, /* leap day */
        {"0", "1970-01-01T00:00:00.000000Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512], path[64];
        snprintf(body, sizeof body,
                 "{\"twin_id\":\"tsf\",\"asset_id\":\"a\",\"metrics\":{\"v\":%zu},"
                 "\"event_id\":\"ts-%zu\",\"ts\":%s}",
                 i, i, cases[i].ts);
        json_decref(bb_req(&srv, "POST", "/telemetry/ingest", body, 200));
        snprintf(path, sizeof path, "/r/telemetry/ts-%zu", i);
        json_t *t = bb_req(&srv, "GET", path, NULL, 200);
        cr_assert_str_eq(sget(t, "ts"), cases[i].want, "ts %s", cases[i].ts);
        json_decref(t);
    }
    /* no ts: server time, close to now (the event's commit time) */
    json_t *r = bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"tsf\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
                       "\"event_id\":\"ts-now\"}",
                       200);
    json_t *t = bb_req(&srv, "GET", "/r/telemetry/ts-now", NULL, 200);
    json_t *d = bb_getf(&srv, 200, "/diff?since=%s&types=TelemetryAppended", "cursor_000000");
    json_t *last = json_array_get(json_object_get(d, "events"),
                                  json_array_size(json_object_get(d, "events")) - 1);
    cr_assert_str_eq(sget(last, "id"), "ts-now");
    /* same second as the commit (the event ts), as RFC 3339 with microseconds */
    cr_assert_eq(strlen(sget(t, "ts")), strlen("2026-01-04T12:34:56.000000Z"));
    cr_assert(strncmp(sget(t, "ts"), sget(last, "ts"), 16) == 0, "%s vs %s", sget(t, "ts"),
              sget(last, "ts"));
    json_decref(d);
    json_decref(t);
    json_decref(r);
}

Test(ingest, bad_input_is_400_naming_the_field_and_stores_nothing)
{
    static const struct { const char *body, *path; } cases[] = {
        {"{\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"{\"twin_id\":\"\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"{\"twin_id\":\"a b\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"{\"twin_id\":\"a/b\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"{\"twin_id\":7,\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"{\"twin_id\":\"t\",\"metrics\":{\"v\":1}}", "$.asset_id"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"\",\"metrics\":{\"v\":1}}", "$.asset_id"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a?\",\"metrics\":{\"v\":1}}", "$.asset_id"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"event_id\":\"x y\",\"metrics\":{\"v\":1}}",
         "$.event_id"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\"}", "$.metrics"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{}}", "$.metrics"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":[1]}", "$.metrics"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":\"abc\"}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":\"nan\"}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":\"NaN\"}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":\"inf\"}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":\"1e999\"}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":\" 1\"}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":true}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":null}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":{}}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"ok\":1,\"bad name\":1}}",
         "$.metrics[\"bad name\"]"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"ts\":\"yesterday\"}",
         "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
         "\"ts\":\"2026-02-30T00:00:00Z\"}", "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
         "\"ts\":\"2026-01-04T25:00:00Z\"}", "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
         "\"ts\":\"1969-12-31T23:59:59Z\"}", "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"ts\":-5}", "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"ts\":true}", "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"ts\":\"\"}", "$.ts"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"tags\":{\"k\":1}}",
         "$.tags.k"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"tags\":[\"k\"]}",
         "$.tags"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"tags\":{\"a b\":\"k\"}}",
         "$.tags[\"a b\"]"},
        {"{\"twin_id\":\"-t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"quality\":1.5}",
         "$.quality"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
         "\"quality\":{\"flags\":[\"ok\",3]}}", "$.quality.flags[1]"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"foo\":1}", "$.foo"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1e999}}", "$.metrics.v"},
        {"[{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}},"
         "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"w\":2,\"v\":-1e999}}]",
         "$[1].metrics.v"},
        {"{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"v\":1,\"v\":2}}", "$.metrics.v"},
        {"{\"twin_id\":\"t\",\"twin_id\":\"u\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", "$.twin_id"},
        {"[1,]", "$[1]"},
        {"{\"twin_id\":", "$.twin_id"},
        {"\"just a string\"", "$"},
        {"", "$"},
        {" \r\n\t\n", "$"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_resp r;
        bb_http(&srv, "POST", "/telemetry/ingest", cases[i].body, NULL, &r);
        cr_assert_eq(r.status, 400, "case %zu %s -> %ld %s", i, cases[i].body, r.status, r.body);
        bb_assert_error(&r, 400, "validation_failed", cases[i].path);
        bb_resp_free(&r);
    }
    /* a blank body is called empty, here and on the other endpoints */
    const char *blank[][2] = {{"POST", "/telemetry/ingest"}, {"PUT", "/twins/t/ingest"}};
    for (size_t i = 0; i < 2; i++) {
        bb_resp r;
        bb_http(&srv, blank[i][0], blank[i][1], " \n\t", NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", "$");
        cr_assert(strstr(r.body, "request body is empty"), "%s", r.body);
        bb_resp_free(&r);
    }
    cr_assert_eq(log_size(), 0, "a rejected request stored something");
    cr_assert_eq(query_count("t"), 0);
}

Test(ingest, event_id_makes_ingest_idempotent)
{
    const char *body = "{\"twin_id\":\"idem\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
                       "\"event_id\":\"dev-42-0001\"}";
    json_t *a = bb_req(&srv, "POST", "/telemetry/ingest", body, 200);
    json_t *b = bb_req(&srv, "POST", "/telemetry/ingest", body, 200);
    cr_assert_str_eq(sget(a, "event_id"), "dev-42-0001");
    cr_assert_str_eq(sget(b, "event_id"), "dev-42-0001");
    cr_assert(json_is_false(json_object_get(a, "duplicate")));
    cr_assert(json_is_true(json_object_get(b, "duplicate")));
    cr_assert_str_eq(sget(a, "cursor"), sget(b, "cursor"));
    /* the same id again inside a batch, next to a new one */
    json_t *c = bb_req(&srv, "POST", "/telemetry/ingest",
                       "[{\"twin_id\":\"idem\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
                       "\"event_id\":\"dev-42-0001\"},"
                       "{\"twin_id\":\"idem\",\"asset_id\":\"a\",\"metrics\":{\"v\":2},"
                       "\"event_id\":\"dev-42-0002\"}]",
                       200);
    cr_assert_eq(json_integer_value(json_object_get(c, "duplicates")), 1);
    json_t *r0 = json_array_get(json_object_get(c, "results"), 0);
    cr_assert(json_is_true(json_object_get(r0, "duplicate")));
    cr_assert_str_eq(sget(r0, "cursor"), sget(a, "cursor"));
    json_t *all = bb_diff_all(&srv, "twin_id=idem", 100);
    cr_assert_eq(json_array_size(all), 2, "one event per distinct event_id");
    cr_assert_str_eq(sget(json_array_get(all, 0), "id"), "dev-42-0001");
    cr_assert_str_eq(sget(json_array_get(all, 1), "id"), "dev-42-0002");
    cr_assert_eq(query_count("idem"), 2);
    json_decref(all);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

Test(ingest, profile_renames_and_converts_units)
{
    json_t *p = bb_req(&srv, "PUT", "/twins/prof/ingest",
                       "{\"rename\":{\"temperature\":\"temp_room\"},"
                       "\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":\"degF->degC\"}}}",
                       200);
    cr_assert_str_eq(sget(json_object_get(p, "rename"), "temperature"), "temp_room");
    json_decref(p);
    p = bb_req(&srv, "GET", "/twins/prof/ingest", NULL, 200);
    cr_assert_str_eq(
        sget(json_object_get(json_object_get(p, "convert"), "temp_f"), "unit"), "degF->degC");
    json_decref(p);
    json_t *r = bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"prof\",\"asset_id\":\"oven\",\"metrics\":"
                       "{\"temp_f\":212,\"temperature\":20.5},\"event_id\":\"p1\"}",
                       200);
    json_decref(r);
    json_t *t = bb_req(&srv, "GET", "/r/telemetry/p1", NULL, 200);
    json_t *m = json_object_get(t, "metrics");
    cr_assert_eq(json_object_size(m), 2);
    cr_assert_float_eq(json_number_value(json_object_get(m, "temp_c")), 100.0, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(m, "temp_room")), 20.5, 1e-12);
    cr_assert_null(json_object_get(m, "temp_f"));
    json_decref(t);
    /* other twins are not affected */
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"noprof\",\"asset_id\":\"oven\",\"metrics\":"
                       "{\"temp_f\":212},\"event_id\":\"p2\"}",
                       200));
    t = bb_req(&srv, "GET", "/r/telemetry/p2", NULL, 200);
    cr_assert_float_eq(
        json_number_value(json_object_get(json_object_get(t, "metrics"), "temp_f")), 212.0,
        1e-12);
    json_decref(t);
    /* a bad profile is a 400 naming the field, and the old one stays */
    bb_resp e;
    bb_http(&srv, "PUT", "/twins/prof/ingest",
            "{\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":\"furlongs\"}}}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.convert.temp_f.unit");
    bb_resp_free(&e);
    p = bb_req(&srv, "GET", "/twins/prof/ingest", NULL, 200);
    cr_assert_str_eq(sget(json_object_get(p, "rename"), "temperature"), "temp_room");
    json_decref(p);
}

Test(ingest, oversized_body_is_413_and_stores_nothing)
{
    /* a valid-looking batch just over the 1 MiB default */
    const char *item = "{\"twin_id\":\"big\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}},";
    size_t il = strlen(item), n = (1024 * 1024) / il + 10;
    char *body = malloc(n * il + 8);
    size_t k = 0;
    body[k++] = '[';
    for (size_t i = 0; i < n; i++, k += il)
        memcpy(body + k, item, il);
    body[k - 1] = ']';
    body[k] = '\0';
    bb_resp r;
    /* with 100-continue the client waits for the early 413 instead of
     * racing the server's close with its upload */
    const char *h[] = {"Expect: 100-continue", NULL};
    bb_http(&srv, "POST", "/telemetry/ingest", body, h, &r);
    bb_assert_error(&r, 413, "payload_too_large", NULL);
    bb_resp_free(&r);
    free(body);
    cr_assert_eq(log_size(), 0);
    /* the server still works */
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"big\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", 200));
}

/* Clients that leave before their writes are acknowledged: the writes are
 * stored all the same, and the server keeps nothing of the requests (under
 * ASan a leak makes the suite's server exit 1, which fails the run). */
Test(ingest, a_client_that_leaves_before_the_reply_costs_nothing)
{
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        char body[160], req[4096];
        int bl = snprintf(body, sizeof body,
                          "{\"twin_id\":\"gone\",\"asset_id\":\"a\",\"metrics\":{\"v\":%d}}", i);
        int n = snprintf(req, sizeof req,
                         "POST /telemetry/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         srv.token, bl, body);
        cr_assert_eq(write(fd, req, (size_t)n), n);
        close(fd);
    }
    size_t got = 0;
    for (int t = 0; t < 100 && got < N; t++) {
        json_t *all = bb_diff_all(&srv, "twin_id=gone", 100);
        got = json_array_size(all);
        json_decref(all);
        if (got < N)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
    cr_assert_eq(got, N, "%zu of %d writes stored", got, N);
}

/* A twin's settings documents (api/twin_doc.h): the detector setting, the
 * ingest profile and the model are each answered once stored, in effect at
 * once (the GET shows it), audited, refused whole when bad, and still there
 * after a restart. */
Test(ingest, twin_settings_are_stored_audited_and_survive_a_restart)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    json_t *d = bb_req(&s, "PUT", "/twins/set1/detector", "{\"method\":\"zscore\",\"threshold\":4.5}",
                       200);
    cr_assert_str_eq(sget(d, "twin_id"), "set1");
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(d, "detector"), "threshold")),
                       4.5, 1e-12);
    json_decref(d);
    json_decref(bb_req(&s, "PUT", "/twins/set1/ingest", "{\"rename\":{\"t\":\"temp_c\"}}", 200));
    json_decref(bb_req(&s, "PUT", "/twins/set1/model",
                       "{\"parameters\":{\"x\":{\"dist\":\"constant\",\"value\":2}},"
                       "\"kpis\":{\"out\":\"x\"}}",
                       200));
    /* in effect at once: the GETs read what is in memory */
    d = bb_req(&s, "GET", "/twins/set1/detector", NULL, 200);
    cr_assert_str_eq(sget(json_object_get(d, "detector"), "method"), "zscore");
    json_decref(d);
    json_t *p = bb_req(&s, "GET", "/twins/set1/ingest", NULL, 200);
    cr_assert_str_eq(sget(json_object_get(p, "rename"), "t"), "temp_c");
    json_decref(p);
    /* a bad setting is refused whole and the stored one stays */
    bb_resp e;
    bb_http(&s, "PUT", "/twins/set1/detector", "{\"threshold\":-1}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.threshold");
    bb_resp_free(&e);
    d = bb_req(&s, "GET", "/twins/set1/detector", NULL, 200);
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(d, "detector"), "threshold")),
                       4.5, 1e-12);
    json_decref(d);
    /* each PUT is in the audit chain */
    json_t *a = bb_req(&s, "GET", "/audit?limit=100", NULL, 200);
    int puts = 0;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(a, "records"), i, row) {
        const char *action = sget(json_object_get(row, "record"), "action");
        puts += action && strncmp(action, "PUT /twins/", 11) == 0;
    }
    cr_assert_eq(puts, 3, "%s", json_dumps(a, 0));
    json_decref(a);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    cr_assert_eq(bb_stop(&s, 1), 0);
    bb_start(&s, NULL, NULL, dir);
    d = bb_req(&s, "GET", "/twins/set1/detector", NULL, 200);
    json_t *det = json_object_get(d, "detector");
    cr_assert_str_eq(sget(det, "method"), "zscore");
    cr_assert_float_eq(json_number_value(json_object_get(det, "threshold")), 4.5, 1e-12);
    json_decref(d);
    p = bb_req(&s, "GET", "/twins/set1/ingest", NULL, 200);
    cr_assert_str_eq(sget(json_object_get(p, "rename"), "t"), "temp_c");
    json_decref(p);
    json_t *m = bb_req(&s, "GET", "/twins/set1/model", NULL, 200);
    cr_assert(json_is_false(json_object_get(m, "default")));
    json_decref(m);
    bb_stop_checked(&s);
}
