/* Black-box tests of the read side: /telemetry/query, /telemetry/aggregate
 * (exact values on data with chosen timestamps), /twins, /twins/{id},
 * /r/{type}/{id}. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bb_server srv;

/* twin agg, asset a, metric v:
 *   12:00:05 1, 12:00:15 2, 12:00:25 3, 12:00:35 4     (minute 12:00)
 *   12:01:00 10, 12:01:30 20                            (minute 12:01)
 *   12:03:59.999 7                                      (minute 12:03)
 * asset b, metric v: 12:00:10 100 (filtered out by asset_id=a)
 * twin other: 12:00:20 v=1000 */
static void up(void)
{
    bb_start(&srv, NULL, NULL, NULL);
    json_decref(bb_req(
        &srv, "POST", "/telemetry/ingest",
        "[{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"ts\":\"2026-01-04T12:00:05Z\",\"event_id\":\"q1\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":2},\"ts\":\"2026-01-04T12:00:15Z\",\"event_id\":\"q2\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":3},\"ts\":\"2026-01-04T12:00:25Z\",\"event_id\":\"q3\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":4},\"ts\":\"2026-01-04T12:00:35Z\",\"event_id\":\"q4\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":10},\"ts\":\"2026-01-04T12:01:00Z\",\"event_id\":\"q5\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":20},\"ts\":\"2026-01-04T12:01:30Z\",\"event_id\":\"q6\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":7,\"w\":1},\"ts\":\"2026-01-04T12:03:59.999Z\",\"event_id\":\"q7\"},"
        "{\"twin_id\":\"agg\",\"asset_id\":\"b\",\"metrics\":{\"v\":100},\"ts\":\"2026-01-04T12:00:10Z\",\"event_id\":\"q8\"},"
        "{\"twin_id\":\"other\",\"asset_id\":\"a\",\"metrics\":{\"v\":1000},\"ts\":\"2026-01-04T12:00:20Z\",\"event_id\":\"q9\"}]",
        200));
}
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(query, .init = up, .fini = down, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

Test(query, by_twin_asset_and_time_range)
{
    json_t *q = bb_getf(&srv, 200, "/telemetry/query?twin_id=agg");
    cr_assert_eq(json_integer_value(json_object_get(q, "count")), 8);
    /* oldest first */
    json_t *rows = json_object_get(q, "rows");
    for (size_t i = 1; i < json_array_size(rows); i++)
        cr_assert_leq(strcmp(sget(json_array_get(rows, i - 1), "ts"),
                             sget(json_array_get(rows, i), "ts")),
                      0);
    json_decref(q);
    q = bb_getf(&srv, 200, "/telemetry/query?twin_id=agg&asset_id=a");
    cr_assert_eq(json_integer_value(json_object_get(q, "count")), 7);
    json_decref(q);
    /* [start, end): 12:00:15 .. 12:01:00 holds q2, q3, q4 */
    q = bb_getf(&srv, 200,
                "/telemetry/query?twin_id=agg&asset_id=a&start_time=2026-01-04T12:00:15Z"
                "&end_time=2026-01-04T12:01:00Z");
    rows = json_object_get(q, "rows");
    cr_assert_eq(json_array_size(rows), 3);
    cr_assert_str_eq(sget(json_array_get(rows, 0), "event_id"), "q2");
    cr_assert_str_eq(sget(json_array_get(rows, 2), "event_id"), "q4");
    json_decref(q);
    /* Unix seconds work as bounds too, and limit caps the rows */
    q = bb_getf(&srv, 200, "/telemetry/query?twin_id=agg&start_time=1767528060&limit=2");
    rows = json_object_get(q, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    cr_assert_str_eq(sget(json_array_get(rows, 0), "event_id"), "q5");
    json_decref(q);
    q = bb_getf(&srv, 200, "/telemetry/query?twin_id=nobody");
    cr_assert_eq(json_integer_value(json_object_get(q, "count")), 0);
    json_decref(q);

    static const struct { const char *q, *path; } bad[] = {
        {"", "$.twin_id"},
        {"twin_id=a%20b", "$.twin_id"},
        {"twin_id=agg&asset_id=a%2Fb", "$.asset_id"},
        {"twin_id=agg&start_time=yesterday", "$.start_time"},
        {"twin_id=agg&end_time=2026-02-30T00:00:00Z", "$.end_time"},
        {"twin_id=agg&start_time=2026-01-05T00:00:00Z&end_time=2026-01-04T00:00:00Z",
         "$.end_time"},
        {"twin_id=agg&limit=0", "$.limit"},
        {"twin_id=agg&limit=10001", "$.limit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/telemetry/query?%s", bad[i].q);
        bb_resp r;
        bb_http(&srv, "GET", path, NULL, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", bad[i].path);
        bb_resp_free(&r);
    }
}

/* The buckets of one aggregate, as (bucket, value, count). */
static json_t *agg(const char *fn, const char *extra)
{
    json_t *j = bb_getf(&srv, 200,
                        "/telemetry/aggregate?twin_id=agg&asset_id=a&metric_name=v"
                        "&window=1%%20minute&function=%s%s",
                        fn, extra);
    json_t *b = json_incref(json_object_get(j, "buckets"));
    cr_assert_str_eq(sget(j, "function"), fn);
    cr_assert_eq(json_integer_value(json_object_get(j, "window_seconds")), 60);
    json_decref(j);
    cr_assert_eq(json_array_size(b), 3, "%s: %zu buckets", fn, json_array_size(b));
    static const char *starts[] = {"2026-01-04T12:00:00", "2026-01-04T12:01:00",
                                   "2026-01-04T12:03:00"};
    static const int counts[] = {4, 2, 1};
    for (size_t i = 0; i < 3; i++) {
        json_t *k = json_array_get(b, i);
        cr_assert(strncmp(sget(k, "bucket"), starts[i], strlen(starts[i])) == 0,
                  "%s bucket %zu starts at %s", fn, i, sget(k, "bucket"));
        cr_assert_eq(json_integer_value(json_object_get(k, "count")), counts[i], "%s", fn);
    }
    return b;
}

static double val(json_t *b, size_t i)
{
    json_t *v = json_object_get(json_array_get(b, i), "value");
    cr_assert(json_is_number(v), "bucket %zu has no numeric value", i);
    return json_number_value(v);
}

Test(query, aggregate_functions_on_known_data)
{
    json_t *b = agg("avg", "");
    cr_assert_float_eq(val(b, 0), 2.5, 1e-12);
    cr_assert_float_eq(val(b, 1), 15.0, 1e-12);
    cr_assert_float_eq(val(b, 2), 7.0, 1e-12);
    json_decref(b);
    b = agg("min", "");
    cr_assert_float_eq(val(b, 0), 1.0, 1e-12);
    cr_assert_float_eq(val(b, 1), 10.0, 1e-12);
    json_decref(b);
    b = agg("max", "");
    cr_assert_float_eq(val(b, 0), 4.0, 1e-12);
    cr_assert_float_eq(val(b, 1), 20.0, 1e-12);
    json_decref(b);
    b = agg("sum", "");
    cr_assert_float_eq(val(b, 0), 10.0, 1e-12);
    cr_assert_float_eq(val(b, 1), 30.0, 1e-12);
    cr_assert_float_eq(val(b, 2), 7.0, 1e-12);
    json_decref(b);
    b = agg("count", "");
    cr_assert_float_eq(val(b, 0), 4.0, 1e-12);
    cr_assert_float_eq(val(b, 1), 2.0, 1e-12);
    cr_assert_float_eq(val(b, 2), 1.0, 1e-12);
    json_decref(b);
    /* sample standard deviation: sqrt(5/3) for 1..4, sqrt(50) for 10,20;
     * a single point has none (null) */
    b = agg("stddev", "");
    cr_assert_float_eq(val(b, 0), sqrt(5.0 / 3.0), 1e-9);
    cr_assert_float_eq(val(b, 1), sqrt(50.0), 1e-9);
    cr_assert(json_is_null(json_object_get(json_array_get(b, 2), "value")));
    json_decref(b);

    /* a time range and a wider window */
    json_t *j = bb_getf(&srv, 200,
                        "/telemetry/aggregate?twin_id=agg&asset_id=a&metric_name=v&window=1%%20hour"
                        "&function=sum&start_time=2026-01-04T12:00:15Z");
    b = json_object_get(j, "buckets");
    cr_assert_eq(json_array_size(b), 1);
    cr_assert_float_eq(val(b, 0), 2 + 3 + 4 + 10 + 20 + 7, 1e-12);
    json_decref(j);
    /* without asset_id: both assets */
    j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=agg&metric_name=v&window=1%%20day"
                           "&function=max");
    cr_assert_float_eq(val(json_object_get(j, "buckets"), 0), 100.0, 1e-12);
    json_decref(j);
}

/* Every series of the metric counts, however many assets the twin has
 * (the SQLite reader stopped at the first 256), on raw points and rollups. */
Test(query, aggregate_takes_every_asset_of_the_twin)
{
    size_t cap = 300 * 128, len = 0;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    len += (size_t)snprintf(body + len, cap - len, "[");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"twin_id\":\"many\",\"asset_id\":\"a%d\",\"metrics\":{\"x\":%d},"
                                "\"ts\":\"2026-01-04T12:00:00Z\"}",
                                i ? "," : "", i, i);
    snprintf(body + len, cap - len, "]");
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest", body, 200));
    free(body);
    static const char *windows[] = {"1%20minute", "10%20seconds"}; /* rollups, raw points */
    for (size_t w = 0; w < 2; w++) {
        json_t *j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=many&metric_name=x"
                                       "&window=%s&function=sum", windows[w]);
        json_t *b = json_object_get(j, "buckets");
        cr_assert_eq(json_array_size(b), 1);
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(b, 0), "count")), 300,
                     "window %s", windows[w]);
        cr_assert_float_eq(val(b, 0), 299.0 * 300 / 2, 1e-9);
        json_decref(j);
    }
}

/* A sum past the largest double has no value: the bucket still comes, with
 * its count and a null value (it was dropped from the reply). */
Test(query, an_overflowing_sum_is_null_not_a_missing_bucket)
{
    json_decref(bb_req(
        &srv, "POST", "/telemetry/ingest",
        "[{\"twin_id\":\"huge\",\"asset_id\":\"a\",\"metrics\":{\"x\":1e308},\"ts\":\"2026-01-04T12:00:01Z\"},"
        "{\"twin_id\":\"huge\",\"asset_id\":\"a\",\"metrics\":{\"x\":1e308},\"ts\":\"2026-01-04T12:00:02Z\"},"
        "{\"twin_id\":\"huge\",\"asset_id\":\"a\",\"metrics\":{\"x\":1},\"ts\":\"2026-01-04T12:05:00Z\"}]",
        200));
    static const char *fns[] = {"sum", "avg", "stddev"};
    for (size_t f = 0; f < 3; f++) {
        json_t *j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=huge&metric_name=x"
                                       "&window=1%%20minute&function=%s", fns[f]);
        json_t *b = json_object_get(j, "buckets");
        cr_assert_eq(json_array_size(b), 2, "%s: %zu buckets", fns[f], json_array_size(b));
        json_t *k = json_array_get(b, 0);
        cr_assert_eq(json_integer_value(json_object_get(k, "count")), 2);
        cr_assert(json_is_null(json_object_get(k, "value")), "%s", fns[f]);
        json_decref(j);
    }
    /* late points merged into that minute's stored row (inf + -inf is NaN,
     * which SQLite would store as NULL): still answered, still null */
    json_decref(bb_req(
        &srv, "POST", "/telemetry/ingest",
        "[{\"twin_id\":\"huge\",\"asset_id\":\"a\",\"metrics\":{\"x\":-1e308},\"ts\":\"2026-01-04T12:00:03Z\"},"
        "{\"twin_id\":\"huge\",\"asset_id\":\"a\",\"metrics\":{\"x\":-1e308},\"ts\":\"2026-01-04T12:00:04Z\"},"
        "{\"twin_id\":\"huge\",\"asset_id\":\"a\",\"metrics\":{\"x\":-1e308},\"ts\":\"2026-01-04T12:00:05Z\"}]",
        200));
    json_t *j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=huge&metric_name=x"
                                   "&window=1%%20minute&function=avg");
    json_t *k = json_array_get(json_object_get(j, "buckets"), 0);
    cr_assert_eq(json_integer_value(json_object_get(k, "count")), 5);
    cr_assert(json_is_null(json_object_get(k, "value")));
    json_decref(j);
    j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=huge&metric_name=x"
                           "&window=1%%20minute&function=min");
    cr_assert_float_eq(val(json_object_get(j, "buckets"), 0), -1e308, 1e292);
    json_decref(j);
    /* a late point whose squared distance from the minute's mean is past
     * the largest double, merged into a finite row: stored, stddev null */
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"huge\",\"asset_id\":\"b\",\"metrics\":{\"x\":1e200},"
                       "\"ts\":\"2026-01-04T12:07:01Z\"}", 200));
    json_decref(bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=huge&asset_id=b&metric_name=x"
                                   "&window=1%%20minute&function=sum"));
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"huge\",\"asset_id\":\"b\",\"metrics\":{\"x\":-1e200},"
                       "\"ts\":\"2026-01-04T12:07:02Z\"}", 200));
    j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=huge&asset_id=b&metric_name=x"
                           "&window=1%%20minute&function=stddev");
    k = json_array_get(json_object_get(j, "buckets"), 0);
    cr_assert_eq(json_integer_value(json_object_get(k, "count")), 2);
    cr_assert(json_is_null(json_object_get(k, "value")), "%s", json_dumps(k, 0));
    json_decref(j);
}

/* start_time and end_time take the ts forms of ingest, exactly: Unix
 * seconds with a fraction are not rounded down a microsecond, and what is
 * not a time (nan, hex, a leading space) is a 400 naming the parameter. */
Test(query, unix_time_parameters_are_exact_and_strict)
{
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"unix\",\"asset_id\":\"a\",\"metrics\":{\"x\":1},"
                       "\"ts\":\"1111452905.115850\"}",
                       200));
    json_t *j = bb_getf(&srv, 200, "/telemetry/query?twin_id=unix&start_time=1111452905.115851");
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 0);
    json_decref(j);
    j = bb_getf(&srv, 200, "/telemetry/query?twin_id=unix&start_time=1111452905.11585"
                           "&end_time=1111452905.115851");
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1);
    json_decref(j);
    static const char *bad[] = {"start_time=nan", "end_time=nan", "start_time=0x10",
                                "end_time=%201111452905", "start_time=1e9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/telemetry/query?twin_id=unix&%s", bad[i]);
        bb_resp r;
        bb_http(&srv, "GET", path, NULL, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed",
                        strncmp(bad[i], "start", 5) == 0 ? "$.start_time" : "$.end_time");
        bb_resp_free(&r);
    }
}

/* The sample stddev of values far from zero next to their spread keeps its
 * digits: from raw points, from one minute's rollup that late points were
 * merged into, and from rollups of two minutes merged into an hour. (From
 * the sum and the sum of squares it came out 1.41 for 1.58, or 0.) */
static double stddev_of(const char *window)
{
    json_t *j = bb_getf(&srv, 200, "/telemetry/aggregate?twin_id=big&metric_name=x"
                                   "&window=%s&function=stddev", window);
    json_t *b = json_object_get(j, "buckets");
    cr_assert_geq(json_array_size(b), 1);
    double v = val(b, 0);
    json_decref(j);
    return v;
}

static void ingest_big(const char *ts, double v)
{
    char body[256];
    snprintf(body, sizeof body, "{\"twin_id\":\"big\",\"asset_id\":\"a\",\"metrics\":{\"x\":%.17g},"
                                "\"ts\":\"%s\"}", v, ts);
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest", body, 200));
}

Test(query, stddev_of_large_values_keeps_its_digits)
{
    const double base = 1e9;
    double vs[] = {1.5, 2.5, 3.5, 4.5, 5.5, 1.5, 5.5};
    ingest_big("2026-01-04T12:00:01Z", base + vs[0]);
    ingest_big("2026-01-04T12:00:02Z", base + vs[1]);
    ingest_big("2026-01-04T12:00:03Z", base + vs[2]);
    cr_assert_float_eq(stddev_of("1%20minute"), 1.0, 1e-6); /* written as a rollup row */
    ingest_big("2026-01-04T12:00:04Z", base + vs[3]);
    ingest_big("2026-01-04T12:00:05Z", base + vs[4]);
    cr_assert_float_eq(stddev_of("1%20minute"), sqrt(2.5), 1e-6); /* merged into the row */
    cr_assert_float_eq(stddev_of("10%20seconds"), sqrt(2.5), 1e-6); /* raw points */
    ingest_big("2026-01-04T12:01:01Z", base + vs[5]);
    ingest_big("2026-01-04T12:01:02Z", base + vs[6]);
    double mean = 0, m2 = 0;
    for (int i = 0; i < 7; i++)
        mean += vs[i] / 7;
    for (int i = 0; i < 7; i++)
        m2 += (vs[i] - mean) * (vs[i] - mean);
    cr_assert_float_eq(stddev_of("1%20hour"), sqrt(m2 / 6), 1e-6); /* two minutes' rollups */
    cr_assert_float_eq(stddev_of("7%20minutes"), sqrt(m2 / 6), 1e-6);
}

Test(query, aggregate_bad_parameters_name_them)
{
    static const struct { const char *q, *path; } bad[] = {
        {"twin_id=agg&metric_name=v&window=fortnight", "$.window"},
        {"twin_id=agg&metric_name=v&window=0%20minutes", "$.window"},
        {"twin_id=agg&metric_name=v&window=5%20parsecs", "$.window"},
        {"twin_id=agg&metric_name=v&function=median", "$.function"},
        {"twin_id=agg&metric_name=v&function=AVG", "$.function"},
        {"twin_id=agg", "$.metric_name"},
        {"metric_name=v", "$.twin_id"},
        {"twin_id=agg&metric_name=v&start_time=never", "$.start_time"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/telemetry/aggregate?%s", bad[i].q);
        bb_resp r;
        bb_http(&srv, "GET", path, NULL, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", bad[i].path);
        bb_resp_free(&r);
    }
}

Test(query, twins_and_latest_values)
{
    json_t *l = bb_req(&srv, "GET", "/twins", NULL, 200);
    json_t *tw = json_object_get(l, "twins");
    cr_assert_eq(json_array_size(tw), 2);
    cr_assert_eq(json_integer_value(json_object_get(l, "count")), 2);
    json_t *a = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tw, i, t) if (strcmp(sget(t, "twin_id"), "agg") == 0) a = t;
    cr_assert_not_null(a, "twin agg not listed");
    cr_assert_eq(json_array_size(json_object_get(a, "assets")), 2);
    cr_assert_str_eq(sget(a, "last_seen"), "2026-01-04T12:03:59.999000Z");
    json_decref(l);

    json_t *d = bb_req(&srv, "GET", "/twins/agg", NULL, 200);
    cr_assert_str_eq(sget(d, "twin_id"), "agg");
    json_t *va = json_object_get(json_object_get(json_object_get(d, "assets"), "a"), "v");
    cr_assert_float_eq(json_number_value(json_object_get(va, "value")), 7.0, 1e-12,
                       "latest value of a.v");
    cr_assert_str_eq(sget(va, "ts"), "2026-01-04T12:03:59.999000Z");
    json_t *vb = json_object_get(json_object_get(json_object_get(d, "assets"), "b"), "v");
    cr_assert_float_eq(json_number_value(json_object_get(vb, "value")), 100.0, 1e-12);
    cr_assert(json_is_array(json_object_get(d, "open_anomalies")));
    cr_assert(json_is_array(json_object_get(d, "pending_proposals")));
    cr_assert(json_is_object(json_object_get(d, "parameters")));
    cr_assert_not_null(json_object_get(d, "model"));
    json_decref(d);

    /* an older point arriving later does not replace the latest value */
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"agg\",\"asset_id\":\"a\",\"metrics\":{\"v\":-1},"
                       "\"ts\":\"2026-01-04T11:00:00Z\"}",
                       200));
    d = bb_req(&srv, "GET", "/twins/agg", NULL, 200);
    va = json_object_get(json_object_get(json_object_get(d, "assets"), "a"), "v");
    cr_assert_float_eq(json_number_value(json_object_get(va, "value")), 7.0, 1e-12,
                       "a late, older point became the latest value");
    json_decref(d);

    bb_resp r;
    bb_http(&srv, "GET", "/twins/nosuchtwin", NULL, NULL, &r);
    bb_assert_error(&r, 404, "not_found", NULL);
    bb_resp_free(&r);
}

/* A stored double reads back as the same double from every read: the query,
 * the twin's latest value, the record by id and a one-point aggregate; and
 * as the same text it was sent as, the shortest that reads back (20.1, not
 * 20.100000000000001). */
Test(query, reals_read_back_exactly)
{
    static const char *lit[] = {"3.3333333333333335", "0.30000000000000004", "20.1",
                                "1.0000000000000002", "123456.78901234567"};
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"twin_id\":\"prec\",\"asset_id\":\"a%d\",\"metrics\":{\"v\":%s},"
                 "\"ts\":\"2026-01-04T12:0%d:00Z\",\"event_id\":\"p%d\"}",
                 i, lit[i], i, i);
        json_decref(bb_req(&srv, "POST", "/telemetry/ingest", body, 200));
    }
    json_t *q = bb_getf(&srv, 200, "/telemetry/query?twin_id=prec");
    json_t *d = bb_req(&srv, "GET", "/twins/prec", NULL, 200);
    for (int i = 0; i < 5; i++) {
        double want = strtod(lit[i], NULL);
        json_t *row = json_array_get(json_object_get(q, "rows"), (size_t)i);
        cr_assert_eq(json_real_value(json_object_get(json_object_get(row, "metrics"), "v")), want,
                     "query: %s", lit[i]);
        char asset[16];
        snprintf(asset, sizeof asset, "a%d", i);
        json_t *v = json_object_get(json_object_get(json_object_get(d, "assets"), asset), "v");
        cr_assert_eq(json_real_value(json_object_get(v, "value")), want, "latest: %s", lit[i]);
        json_t *r = bb_getf(&srv, 200, "/r/telemetry/p%d", i);
        cr_assert_eq(json_real_value(json_object_get(json_object_get(r, "metrics"), "v")), want,
                     "by id: %s", lit[i]);
        json_decref(r);
        char path[64], text[64];
        snprintf(path, sizeof path, "/r/telemetry/p%d", i);
        snprintf(text, sizeof text, "\"v\":%s}", lit[i]);
        bb_resp raw;
        cr_assert_eq(bb_http(&srv, "GET", path, NULL, NULL, &raw), 200);
        cr_assert(strstr(raw.body, text), "by id, as text: %s", raw.body);
        bb_resp_free(&raw);
        snprintf(path, sizeof path, "/telemetry/query?twin_id=prec&asset_id=a%d", i);
        cr_assert_eq(bb_http(&srv, "GET", path, NULL, NULL, &raw), 200);
        cr_assert(strstr(raw.body, text), "query, as text: %s", raw.body);
        bb_resp_free(&raw);
        json_t *a = bb_getf(&srv, 200,
                            "/telemetry/aggregate?twin_id=prec&asset_id=a%d&metric_name=v"
                            "&function=max&window=1%%20minute",
                            i);
        json_t *b = json_array_get(json_object_get(a, "buckets"), 0);
        cr_assert_eq(json_real_value(json_object_get(b, "value")), want, "max: %s", lit[i]);
        json_decref(a);
    }
    json_decref(d);
    json_decref(q);
}

Test(query, resources_by_type_and_id)
{
    json_t *t = bb_req(&srv, "GET", "/r/telemetry/q5", NULL, 200);
    cr_assert_str_eq(sget(t, "event_id"), "q5");
    cr_assert_str_eq(sget(t, "ts"), "2026-01-04T12:01:00.000000Z");
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(t, "metrics"), "v")),
                       10.0, 1e-12);
    json_decref(t);
    bb_resp r;
    bb_http(&srv, "GET", "/r/telemetry/nope", NULL, NULL, &r);
    bb_assert_error(&r, 404, "not_found", NULL);
    bb_resp_free(&r);
    bb_http(&srv, "GET", "/r/widget/q5", NULL, NULL, &r);
    bb_assert_error(&r, 404, "not_found", "$.type");
    bb_resp_free(&r);
    bb_http(&srv, "GET", "/r/sim/q5", NULL, NULL, &r); /* right id, wrong type */
    bb_assert_error(&r, 404, "not_found", NULL);
    bb_resp_free(&r);
}
