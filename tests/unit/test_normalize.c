#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "core/ids.h"
#include "telemetry/normalize.h"

#define NOW 1767530096000000LL /* 2026-01-04T12:34:56Z */
#define BASE "\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\""

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    cr_assert(j, "test JSON does not parse: %s (%s)", s, e.text);
    return j;
}

static int norm_p(const char *s, const ot_ingest_profile *p, const char *prefix, ot_tel *t,
                  ot_error *e)
{
    json_t *j = J(s);
    ot_error_clear(e);
    int rc = ot_tel_normalize(j, p, NOW, prefix, t, e);
    json_decref(j);
    return rc;
}

static void accept(const char *s, ot_tel *t)
{
    ot_error e;
    int rc = norm_p(s, NULL, "$", t, &e);
    cr_assert_eq(rc, 0, "rejected %s: %s: %s", s, e.path, e.message);
}

/* Rejected with OT_EINVAL at exactly `path`, with a message, and out cleared. */
static void reject_p(const char *s, const ot_ingest_profile *p, const char *prefix,
                     const char *path)
{
    ot_tel t;
    ot_error e;
    int rc = norm_p(s, p, prefix, &t, &e);
    cr_assert_eq(rc, OT_EINVAL, "accepted %s", s);
    cr_assert_str_eq(e.path, path, "%s: path %s, want %s (%s)", s, e.path, path, e.message);
    cr_assert(e.message[0], "no message for %s", s);
    cr_assert_null(t.metrics);
    ot_tel_clear(&t);
}

static void reject(const char *s, const char *path)
{
    reject_p(s, NULL, "$", path);
}

static ot_ingest_profile *profile(const char *s)
{
    json_t *j = J(s);
    ot_ingest_profile *p;
    ot_error e;
    int rc = ot_ingest_profile_parse(j, &p, &e);
    json_decref(j);
    cr_assert_eq(rc, 0, "profile rejected: %s: %s", e.path, e.message);
    return p;
}

/* --- Timestamps ---------------------------------------------------------- */

static int64_t ts_of(const char *json_value)
{
    char doc[512];
    ot_tel t;
    snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{\"a\":1},\"ts\":%s}", json_value);
    accept(doc, &t);
    cr_assert_eq(t.ts_given, 1);
    int64_t us = t.ts_us;
    ot_tel_clear(&t);
    return us;
}

Test(normalize_ts, rfc3339_forms)
{
    cr_assert_eq(ts_of("\"2026-01-04T12:34:56Z\""), NOW);
    cr_assert_eq(ts_of("\"2026-01-04T18:04:56+05:30\""), NOW);
    cr_assert_eq(ts_of("\"2026-01-04T07:34:56.25-05:00\""), NOW + 250000);
    cr_assert_eq(ts_of("\"2026-01-04T12:34:56.123456Z\""), NOW + 123456);
    cr_assert_eq(ts_of("\"2026-01-04T12:34:56.1234569Z\""), NOW + 123456); /* truncated */
    cr_assert_eq(ts_of("\"2026-01-04 12:34:56\""), NOW);
    cr_assert_eq(ts_of("\"1970-01-01T00:00:00Z\""), 0);
    cr_assert_eq(ts_of("\"9999-12-31T23:59:59.999999Z\""), OT_TS_MAX_US);
}

Test(normalize_ts, unix_numbers_by_magnitude)
{
    cr_assert_eq(ts_of("1767530096"), NOW);                /* seconds */
    cr_assert_eq(ts_of("1767530096.25"), NOW + 250000);    /* fractional seconds */
    cr_assert_eq(ts_of("1767530096.123456"), NOW + 123456);
    cr_assert_eq(ts_of("1767530096123"), NOW + 123000);    /* milliseconds */
    cr_assert_eq(ts_of("1767530096123.5"), NOW + 123500);
    cr_assert_eq(ts_of("1767530096123456"), NOW + 123456); /* microseconds */
    cr_assert_eq(ts_of("0"), 0);
    /* The documented cut-offs. */
    cr_assert_eq(ts_of("99999999999"), 99999999999000000LL);
    cr_assert_eq(ts_of("100000000000"), 100000000000000LL);
    cr_assert_eq(ts_of("99999999999999"), 99999999999999000LL);
    cr_assert_eq(ts_of("100000000000000"), 100000000000000LL);
}

Test(normalize_ts, unix_strings_by_magnitude)
{
    cr_assert_eq(ts_of("\"1767530096\""), NOW);
    cr_assert_eq(ts_of("\"1767530096.5\""), NOW + 500000);
    cr_assert_eq(ts_of("\"1767530096.1234569\""), NOW + 123456);
    cr_assert_eq(ts_of("\"1767530096123\""), NOW + 123000);
    cr_assert_eq(ts_of("\"1767530096123.25\""), NOW + 123250);
    cr_assert_eq(ts_of("\"1767530096123456\""), NOW + 123456);
    cr_assert_eq(ts_of("\"0001767530096\""), NOW); /* leading zeros are not magnitude */
    cr_assert_eq(ts_of("\"253402300799999999\""), OT_TS_MAX_US);
}

Test(normalize_ts, absent_or_null_is_server_time)
{
    ot_tel t;
    accept("{" BASE ",\"metrics\":{\"a\":1}}", &t);
    cr_assert_eq(t.ts_us, NOW);
    cr_assert_eq(t.ts_given, 0);
    ot_tel_clear(&t);
    accept("{" BASE ",\"metrics\":{\"a\":1},\"ts\":null}", &t);
    cr_assert_eq(t.ts_us, NOW);
    cr_assert_eq(t.ts_given, 0);
    ot_tel_clear(&t);
}

Test(normalize_ts, rejections_name_ts)
{
    const char *bad[] = {
        "\"yesterday\"", "\"\"", "\"2026-02-30T00:00:00Z\"", "\"2026-01-01T25:00:00Z\"",
        "\"2026-13-01T00:00:00Z\"", "\"2026-01-01T00:00:00+0530\"", "\" 1767530096\"",
        "\"1767530096 \"", "\"1.7e9\"", "\"0x10\"", "\"1767530096.\"", "\".5\"", "-1", "-0.5",
        "\"-5\"", "\"1969-12-31T23:59:59Z\"", "\"9999-12-31T23:59:59-01:00\"",
        "\"10000-01-01T00:00:00Z\"", "253402300800000000", "1e19", "1e300",
        "\"99999999999999999999\"", "true", "{}", "[]", "\"nan\"", "\"inf\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[256];
        snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{\"a\":1},\"ts\":%s}", bad[i]);
        reject(doc, "$.ts");
    }
}

Test(normalize_ts, messages_say_what_is_wrong)
{
    int64_t us;
    ot_error e;
    cr_assert_eq(ot_tel_parse_ts_str("2026-02-30T00:00:00Z", &us, &e, "$.ts"), OT_EINVAL);
    cr_assert(strstr(e.message, "2026-02 has 28 days"), "%s", e.message);
    cr_assert_eq(ot_tel_parse_ts_str("2026-01-01 25:00:00", &us, &e, "$.ts"), OT_EINVAL);
    cr_assert(strstr(e.message, "25:00:00 is out of range"), "%s", e.message);
    cr_assert_eq(ot_tel_parse_ts_str("-5", &us, &e, "$.ts"), OT_EINVAL);
    cr_assert(strstr(e.message, "negative"), "%s", e.message);
    json_t *n = json_integer(253402300800000000LL);
    cr_assert_eq(ot_tel_parse_ts(n, &us, &e, "x.ts"), OT_EINVAL);
    cr_assert(strstr(e.message, "after 9999"), "%s", e.message);
    cr_assert_str_eq(e.path, "x.ts");
    json_decref(n);
    cr_assert_eq(ot_tel_parse_ts(NULL, &us, &e, "$.ts"), OT_EINVAL);
    cr_assert_eq(ot_tel_parse_ts_str("2026-01-04T12:34:56Z", &us, &e, "$.ts"), 0);
    cr_assert_eq(us, NOW);
}

/* --- Ids, fields, metrics, tags, quality --------------------------------- */

Test(normalize, canonical_record)
{
    ot_tel t;
    accept("{" BASE ",\"metrics\":{\"z\":1,\"temp_c\":21.5,\"a\":\"-3\",\"e\":\"1e3\"},"
           "\"tags\":{\"site\":\"north\"},\"event_id\":\"evt-1\"}",
           &t);
    cr_assert_str_eq(t.twin_id, "plant-1");
    cr_assert_str_eq(t.asset_id, "press_2");
    cr_assert_str_eq(t.event_id, "evt-1");
    cr_assert_eq(t.event_id_given, 1);
    cr_assert_eq(t.nmetrics, 4);
    const char *names[] = {"a", "e", "temp_c", "z"}; /* sorted */
    double values[] = {-3, 1000, 21.5, 1};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(t.metrics[i].name, names[i]);
        cr_assert_eq(t.metrics[i].value, values[i]);
    }
    cr_assert_str_eq(json_string_value(json_object_get(t.tags, "site")), "north");
    cr_assert_null(t.quality);
    cr_assert_eq(t.data_quality_score, 1.0);
    cr_assert_eq(t.missing_rate, 0.0);
    ot_tel_clear(&t);
    ot_tel_clear(&t); /* idempotent */
}

/* Metric names come out sorted whatever their input order and count: the
 * insertion sort (up to 8) and qsort (more) give the same order. */
Test(normalize, metrics_are_sorted_for_every_count_and_order)
{
    static const char *const sorted[] = {"a", "a0", "b", "b_1", "c", "d", "e.x", "f", "g",
                                         "h", "i", "j", "k", "l", "m", "n"};
    for (size_t n = 1; n <= 16; n++) {
        for (unsigned seed = 1; seed <= 5; seed++) {
            size_t order[16];
            for (size_t i = 0; i < n; i++)
                order[i] = i;
            for (size_t i = n; i > 1; i--) { /* a fixed shuffle per seed */
                size_t j = (i * 7919u + seed * 104729u) % i;
                size_t x = order[i - 1];
                order[i - 1] = order[j];
                order[j] = x;
            }
            char doc[1024];
            int len = snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{");
            for (size_t i = 0; i < n; i++)
                len += snprintf(doc + len, sizeof doc - (size_t)len, "%s\"%s\":%zu",
                                i ? "," : "", sorted[order[i]], order[i]);
            snprintf(doc + len, sizeof doc - (size_t)len, "}}");
            ot_tel t;
            accept(doc, &t);
            cr_assert_eq(t.nmetrics, n);
            for (size_t i = 0; i < n; i++) {
                cr_assert_str_eq(t.metrics[i].name, sorted[i], "%zu metrics, seed %u", n, seed);
                cr_assert_eq(t.metrics[i].value, (double)i);
            }
            ot_tel_clear(&t);
        }
    }
}

Test(normalize, generated_event_ids_are_unique)
{
    char seen[200][OT_TEL_ID_MAX];
    for (int i = 0; i < 200; i++) {
        ot_tel t;
        accept("{" BASE ",\"metrics\":{\"a\":1}}", &t);
        cr_assert_eq(t.event_id_given, 0);
        cr_assert(ot_id_valid(t.event_id, "tel"), "%s", t.event_id);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(seen[j], t.event_id);
        strcpy(seen[i], t.event_id);
        ot_tel_clear(&t);
    }
}

Test(normalize, bad_ids_and_fields)
{
    char long_id[200], doc[512];
    memset(long_id, 'x', 129);
    long_id[129] = '\0';
    reject("[1]", "$");
    reject("{\"asset_id\":\"a\",\"metrics\":{\"a\":1}}", "$.twin_id");
    reject("{\"twin_id\":\"\",\"asset_id\":\"a\",\"metrics\":{\"a\":1}}", "$.twin_id");
    reject("{\"twin_id\":\"a/b\",\"asset_id\":\"a\",\"metrics\":{\"a\":1}}", "$.twin_id");
    reject("{\"twin_id\":7,\"asset_id\":\"a\",\"metrics\":{\"a\":1}}", "$.twin_id");
    reject("{\"twin_id\":null,\"asset_id\":\"a\",\"metrics\":{\"a\":1}}", "$.twin_id");
    reject("{\"twin_id\":\"t\",\"asset_id\":\"caf\\u00e9\",\"metrics\":{\"a\":1}}", "$.asset_id");
    snprintf(doc, sizeof doc, "{\"twin_id\":\"t\",\"asset_id\":\"%s\",\"metrics\":{\"a\":1}}",
             long_id);
    reject(doc, "$.asset_id");
    long_id[128] = '\0'; /* exactly 128 is fine */
    snprintf(doc, sizeof doc, "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"a\":1}}",
             long_id);
    ot_tel t;
    accept(doc, &t);
    ot_tel_clear(&t);
    reject("{" BASE ",\"metrics\":{\"a\":1},\"event_id\":\"has space\"}", "$.event_id");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"event_id\":\"\"}", "$.event_id");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"foo\":1}", "$.foo");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"a b\":1}", "$[\"a b\"]");
    ot_error e;
    json_t *j = J("{" BASE ",\"metrics\":{\"a\":1},\"foo\":1}");
    cr_assert_eq(ot_tel_normalize(j, NULL, NOW, NULL, &t, &e), OT_EINVAL);
    cr_assert(strstr(e.message, "unknown field; allowed: twin_id, asset_id, metrics, tags, ts, "
                                "quality, event_id"),
              "%s", e.message);
    json_decref(j);
}

Test(normalize, metric_rejections)
{
    reject("{" BASE "}", "$.metrics");
    reject("{" BASE ",\"metrics\":{}}", "$.metrics");
    reject("{" BASE ",\"metrics\":[1]}", "$.metrics");
    reject("{" BASE ",\"metrics\":{\"t\":\"abc\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\" 7 \"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"nan\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"NaN\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"inf\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"-Infinity\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"1e999\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"0x10\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":\"21.5abc\"}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":true}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":null}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"t\":{}}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"ok\":1,\"t\":[1]}}", "$.metrics.t");
    reject("{" BASE ",\"metrics\":{\"a b\":1}}", "$.metrics[\"a b\"]");
    reject("{" BASE ",\"metrics\":{\"\":1}}", "$.metrics[\"\"]");
    reject("{" BASE ",\"metrics\":{\"q\\\"x\":1}}", "$.metrics[\"q\\x22x\"]");
    /* 65 bytes is one too many; 64 is fine. */
    reject("{" BASE ",\"metrics\":{\"x01234567890123456789012345678901234567890123456789"
           "01234567890123\":1}}",
           "$.metrics.x0123456789012345678901234567890123456789012345678901234567890123");
    ot_tel ok;
    accept("{" BASE ",\"metrics\":{\"x01234567890123456789012345678901234567890123456789"
           "0123456789012\":1}}",
           &ok);
    ot_tel_clear(&ok);
    /* NaN and infinities cannot come from JSON text; jansson refuses to make them. */
    cr_assert_null(json_real(NAN));
    json_t *m = json_object();
    for (int i = 0; i < OT_TEL_METRICS_MAX + 1; i++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", i);
        json_object_set_new(m, k, json_integer(i));
    }
    json_t *doc = json_pack("{s:s, s:s, s:o}", "twin_id", "t", "asset_id", "a", "metrics", m);
    ot_tel t;
    ot_error e;
    cr_assert_eq(ot_tel_normalize(doc, NULL, NOW, "$", &t, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.metrics");
    json_decref(doc);
}

Test(normalize, numeric_strings)
{
    ot_tel t;
    accept("{" BASE ",\"metrics\":{\"a\":\"21.5\",\"b\":\"-0.25\",\"c\":\"+4\",\"d\":\"2E2\","
           "\"e\":\".5\",\"f\":\"1e-400\"}}",
           &t);
    double want[] = {21.5, -0.25, 4, 200, 0.5, 0};
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(t.metrics[i].value, want[i], "%s", t.metrics[i].name);
    ot_tel_clear(&t);
}

Test(normalize, tags)
{
    ot_tel t;
    accept("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{}}", &t);
    cr_assert_null(t.tags); /* empty is no tags */
    ot_tel_clear(&t);
    accept("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"_site/line-2.b:c\":\"\"}}", &t);
    cr_assert_not_null(t.tags);
    ot_tel_clear(&t);
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":[]}", "$.tags");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":\"x\"}", "$.tags");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"site\":1}}", "$.tags.site");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"site\":null}}", "$.tags.site");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"\":\"x\"}}", "$.tags[\"\"]");
    /* telemetry.v1's tag names, refused here with the tag's own path */
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"line name\":\"x\"}}",
           "$.tags[\"line name\"]");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"/x\":\"x\"}}", "$.tags[\"/x\"]");
    char doc[2048], big[300];
    memset(big, 'v', 257);
    big[257] = '\0';
    snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"k\":\"%s\"}}", big);
    reject(doc, "$.tags.k");
    big[256] = '\0';
    snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"k\":\"%s\"}}", big);
    accept(doc, &t);
    ot_tel_clear(&t);
    memset(big, 'k', 65);
    big[65] = '\0';
    snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"%s\":\"v\"}}", big);
    reject(doc, "$.tags.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    size_t o = (size_t)snprintf(doc, sizeof doc, "{" BASE ",\"metrics\":{\"a\":1},\"tags\":{");
    for (int i = 0; i < OT_TEL_TAGS_MAX + 1; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(doc + o, sizeof doc - o, "}}");
    reject(doc, "$.tags");
}

Test(normalize, quality)
{
    ot_tel t;
    accept("{" BASE ",\"metrics\":{\"a\":1},\"quality\":0.8}", &t);
    cr_assert_eq(t.data_quality_score, 0.8);
    cr_assert_eq(json_real_value(t.quality), 0.8);
    ot_tel_clear(&t);
    accept("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"score\":0.5,\"source\":\"cal\"}}", &t);
    cr_assert_eq(t.data_quality_score, 0.5);
    cr_assert_str_eq(json_string_value(json_object_get(t.quality, "source")), "cal");
    ot_tel_clear(&t);
    accept("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"source\":\"cal\"}}", &t);
    cr_assert_eq(t.data_quality_score, 1.0);
    ot_tel_clear(&t);
    accept("{" BASE ",\"metrics\":{\"a\":1},\"quality\":1}", &t);
    cr_assert_eq(t.data_quality_score, 1.0);
    ot_tel_clear(&t);
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":1.5}", "$.quality");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":-0.1}", "$.quality");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":\"good\"}", "$.quality");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"score\":\"x\"}}", "$.quality.score");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"missing_rate\":0.5,\"score\":1}}",
           "$.quality.score");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"missing_rate\":2}}",
           "$.quality.missing_rate");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"missing_rate\":0,\"client\":2}}",
           "$.quality.client");
    /* flags and source as telemetry.v1 describes them */
    accept("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"flags\":[\"cal\",\"\"],\"x\":[1]}}",
           &t);
    cr_assert_eq(json_array_size(json_object_get(t.quality, "flags")), 2);
    ot_tel_clear(&t);
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"flags\":\"cal\"}}",
           "$.quality.flags");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"flags\":[\"cal\",3]}}",
           "$.quality.flags[1]");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"source\":{}}}", "$.quality.source");
    reject("{" BASE ",\"metrics\":{\"a\":1},\"quality\":{\"missing_rate\":0,"
           "\"client\":{\"flags\":[null]}}}", "$.quality.client.flags[0]");
}

Test(normalize, batch_path_prefix)
{
    reject_p("{" BASE ",\"metrics\":{\"a\":1},\"ts\":\"soon\"}", NULL, "$[3]", "$[3].ts");
    reject_p("{" BASE ",\"metrics\":{\"t\":\"abc\"}}", NULL, "$[3]", "$[3].metrics.t");
    reject_p("{" BASE ",\"metrics\":{\"a\":1},\"foo\":1}", NULL, "$[3]", "$[3].foo");
    reject_p("{" BASE ",\"metrics\":{\"a\":1},\"tags\":{\"k\":1}}", NULL, "$[3]",
             "$[3].tags.k");
    reject_p("{\"asset_id\":\"a\",\"metrics\":{\"a\":1}}", NULL, "$[3]", "$[3].twin_id");
    reject_p("7", NULL, "$[3]", "$[3]");
}

/* --- Profiles applied ------------------------------------------------------ */

Test(normalize, rename_convert_and_conflicts)
{
    ot_ingest_profile *p = profile(
        "{\"rename\":{\"temperature\":\"temp_c\",\"t2\":\"temp_f\"},"
        "\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":\"degF->degC\"},"
        "\"p_psi\":{\"to\":\"pressure_bar\",\"scale\":0.0689476,\"offset\":0},"
        "\"dur\":{\"unit\":\"ms->s\"}}}");
    ot_tel t;
    ot_error e;
    cr_assert_eq(norm_p("{" BASE ",\"metrics\":{\"temp_f\":212,\"p_psi\":100,\"dur\":1500,"
                        "\"x\":\"2\"}}",
                        p, "$", &t, &e),
                 0, "%s", e.message);
    cr_assert_eq(t.nmetrics, 4);
    cr_assert_str_eq(t.metrics[0].name, "dur"); /* converted in place */
    cr_assert_eq(t.metrics[0].value, 1.5);
    cr_assert_str_eq(t.metrics[1].name, "pressure_bar");
    cr_assert_float_eq(t.metrics[1].value, 6.89476, 1e-12);
    cr_assert_str_eq(t.metrics[2].name, "temp_c");
    cr_assert_eq(t.metrics[2].value, 100.0);
    cr_assert_str_eq(t.metrics[3].name, "x");
    ot_tel_clear(&t);
    /* Rename first, then convert: t2 -> temp_f -> temp_c. */
    cr_assert_eq(norm_p("{" BASE ",\"metrics\":{\"t2\":32}}", p, "$", &t, &e), 0);
    cr_assert_str_eq(t.metrics[0].name, "temp_c");
    cr_assert_eq(t.metrics[0].value, 0.0);
    ot_tel_clear(&t);
    /* Two inputs becoming one metric: the later one is named, with the other. */
    reject_p("{" BASE ",\"metrics\":{\"temp_c\":20,\"temperature\":21}}", p, "$",
             "$.metrics.temperature");
    reject_p("{" BASE ",\"metrics\":{\"temp_f\":70,\"temp_c\":20}}", p, "$", "$.metrics.temp_c");
    reject_p("{" BASE ",\"metrics\":{\"temperature\":1,\"temp_f\":2}}", p, "$[1]",
             "$[1].metrics.temp_f");
    cr_assert_eq(norm_p("{" BASE ",\"metrics\":{\"temp_c\":20,\"temperature\":21}}", p, "$", &t,
                        &e),
                 OT_EINVAL);
    cr_assert(strstr(e.message, "$.metrics.temp_c"), "%s", e.message);
    ot_ingest_profile_free(p);
}

Test(normalize, conversion_overflow_is_rejected)
{
    ot_ingest_profile *p = profile("{\"convert\":{\"d\":{\"unit\":\"s->ms\"}}}");
    reject_p("{" BASE ",\"metrics\":{\"d\":1e308}}", p, "$", "$.metrics.d");
    ot_ingest_profile_free(p);
}

Test(normalize, expected_metrics_and_quality_math)
{
    ot_ingest_profile *p = profile(
        "{\"rename\":{\"temperature\":\"temp_c\"},"
        "\"expected_metrics\":[\"temp_c\",\"pressure_bar\",\"rpm\",\"flow\"]}");
    ot_tel t;
    ot_error e;
    cr_assert_eq(norm_p("{" BASE ",\"metrics\":{\"temperature\":20},\"quality\":0.8}", p, "$",
                        &t, &e),
                 0);
    cr_assert_eq(t.missing_rate, 0.75);
    cr_assert_float_eq(t.data_quality_score, 0.8 * 0.25, 1e-15);
    ot_tel_clear(&t);
    cr_assert_eq(norm_p("{" BASE ",\"metrics\":{\"temp_c\":1,\"pressure_bar\":1,\"rpm\":1,"
                        "\"flow\":1,\"extra\":1}}",
                        p, "$", &t, &e),
                 0);
    cr_assert_eq(t.missing_rate, 0.0);
    cr_assert_eq(t.data_quality_score, 1.0);
    ot_tel_clear(&t);
    cr_assert_eq(norm_p("{" BASE ",\"metrics\":{\"x\":1},\"quality\":{\"score\":0.5}}", p, "$",
                        &t, &e),
                 0);
    cr_assert_eq(t.missing_rate, 1.0);
    cr_assert_eq(t.data_quality_score, 0.0);
    ot_tel_clear(&t);
    ot_ingest_profile_free(p);
}

/* --- Output ----------------------------------------------------------------- */

static void assert_same_record(const ot_tel *a, const ot_tel *b)
{
    cr_assert_str_eq(a->event_id, b->event_id);
    cr_assert_str_eq(a->twin_id, b->twin_id);
    cr_assert_str_eq(a->asset_id, b->asset_id);
    cr_assert_eq(a->ts_us, b->ts_us);
    cr_assert_eq(a->nmetrics, b->nmetrics);
    for (size_t i = 0; i < a->nmetrics; i++) {
        cr_assert_str_eq(a->metrics[i].name, b->metrics[i].name);
        cr_assert_eq(a->metrics[i].value, b->metrics[i].value);
    }
    cr_assert(json_equal(a->tags, b->tags) || (!a->tags && !b->tags));
    cr_assert(json_equal(a->quality, b->quality) || (!a->quality && !b->quality));
    cr_assert_eq(a->data_quality_score, b->data_quality_score);
    cr_assert_eq(a->missing_rate, b->missing_rate);
}

Test(normalize, to_json_round_trip)
{
    ot_ingest_profile *p = profile("{\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":"
                                   "\"degF->degC\"}},\"expected_metrics\":[\"temp_c\",\"rpm\","
                                   "\"flow\"]}");
    const char *inputs[] = {
        "{" BASE ",\"metrics\":{\"temp_f\":98.6,\"b\":\"0.1\"},\"ts\":\"2026-01-04T18:04:56.5+05:30\","
        "\"tags\":{\"site\":\"n\"},\"quality\":{\"score\":0.3,\"src\":[1,2]}}",
        "{" BASE ",\"metrics\":{\"rpm\":1e-300,\"flow\":-0.0},\"quality\":0.9}",
        "{" BASE ",\"metrics\":{\"a\":123456789012345678},\"event_id\":\"e:1\"}"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        ot_tel a, b;
        ot_error e;
        cr_assert_eq(norm_p(inputs[i], p, "$", &a, &e), 0, "%s: %s", e.path, e.message);
        json_t *out = ot_tel_to_json(&a);
        cr_assert_not_null(out);
        cr_assert_eq(ot_tel_normalize(out, NULL, NOW + 1, "$", &b, &e), 0, "%s: %s", e.path,
                     e.message);
        assert_same_record(&a, &b);
        cr_assert_eq(b.event_id_given, 1);
        cr_assert_eq(b.ts_given, 1);
        json_t *again = ot_tel_to_json(&b);
        cr_assert(json_equal(out, again), "second to_json differs");
        json_decref(again);
        json_decref(out);
        ot_tel_clear(&a);
        ot_tel_clear(&b);
    }
    ot_ingest_profile_free(p);
}

Test(normalize, to_json_shape)
{
    ot_tel t;
    accept("{" BASE ",\"metrics\":{\"a\":1},\"ts\":1767530096.123456,\"event_id\":\"e1\","
           "\"quality\":0.5}",
           &t);
    json_t *o = ot_tel_to_json(&t);
    char *s = json_dumps(o, JSON_COMPACT);
    cr_assert_str_eq(s, "{\"event_id\":\"e1\",\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\","
                        "\"ts\":\"2026-01-04T12:34:56.123456Z\",\"metrics\":{\"a\":1.0},"
                        "\"quality\":{\"data_quality_score\":0.5,\"missing_rate\":0.0,"
                        "\"client\":0.5}}");
    free(s);
    json_decref(o);
    ot_tel_clear(&t);
}

/* A random finite double: random bits (every exponent, subnormals, -0.0)
 * or a short decimal, as sensors send. */
static double random_double(void)
{
    if (rand() % 2) {
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double v;
        memcpy(&v, &bits, sizeof v);
        return isfinite(v) ? v : 0.0;
    }
    return (double)(rand() % 2000000 - 1000000) / (double)(1 + rand() % 1000);
}

Test(normalize, render_is_byte_identical_to_dumping_to_json)
{
    srand(4);
    ot_buf b;
    ot_buf_init(&b);
    const char *extras[] = {"", ",\"tags\":{\"site\":\"n\\u00e9\\n\",\"z\":\"\\t\"}",
                            ",\"quality\":0.25", ",\"quality\":{\"src\":[1,2e-7,\"\\\"\"]}"};
    static const double special[] = {0.0, -0.0, 5.0, 1e20, 1e-5, 1e16, 1e17, 123456789012345678.0,
                                     4.9e-324, 1.7976931348623157e308, 0.1, -2.5e-310, 100.0};
    for (int i = 0; i < 20000; i++) {
        char in[2048];
        int n = snprintf(in, sizeof in, "{" BASE ",\"event_id\":\"e:%d\",\"ts\":%d%s,"
                         "\"metrics\":{", i, 1767530096 + i, extras[i % 4]);
        int nm = 1 + i % 5;
        for (int m = 0; m < nm; m++)
            n += snprintf(in + n, sizeof in - (size_t)n, "%s\"m%d\":0", m ? "," : "", m);
        snprintf(in + n, sizeof in - (size_t)n, "}}");
        ot_tel t;
        accept(in, &t);
        for (size_t m = 0; m < t.nmetrics; m++)
            t.metrics[m].value = i < 13 ? special[i] : random_double();
        t.data_quality_score = i % 3 ? random_double() : 1.0;
        json_t *o = ot_tel_to_json(&t);
        char *want = ot_json_dumps(o, JSON_COMPACT);
        ot_buf_reset(&b);
        cr_assert_eq(ot_tel_render(&t, &b), 0);
        cr_assert_str_eq(b.data, want);
        free(want);
        json_decref(o);
        ot_tel_clear(&t);
    }
    ot_buf_free(&b);
}

/* The reused tree is, after every record of a random run (metric names,
 * tags and client quality changing now and then), the tree ot_tel_to_json
 * builds for that record: equal, and written the same. */
Test(normalize, the_reused_tree_is_the_record_s_own)
{
    srand(9);
    const char *extras[] = {"", ",\"tags\":{\"site\":\"n\",\"z\":\"t\"}", ",\"quality\":0.25",
                            ",\"tags\":{\"k\":\"v\"},\"quality\":{\"src\":[1]}"};
    const char *metric_sets[] = {"\"a\":1", "\"a\":1,\"b\":2", "\"b\":2,\"c\":3", "\"a\":1,\"c\":3"};
    ot_tel_json c = {0};
    for (int i = 0; i < 3000; i++) {
        char in[512];
        /* runs of one shape, as in a batch, then another */
        int shape = (i / (1 + rand() % 8)) % 16;
        snprintf(in, sizeof in,
                 "{\"twin_id\":\"tw%d\",\"asset_id\":\"as%d\",\"event_id\":\"e:%d\",\"ts\":%d%s,"
                 "\"metrics\":{%s}}",
                 rand() % 3, rand() % 5, i, 1767530096 + i, extras[shape % 4],
                 metric_sets[shape / 4]);
        ot_tel t;
        accept(in, &t);
        for (size_t m = 0; m < t.nmetrics; m++)
            t.metrics[m].value = random_double();
        t.data_quality_score = (double)(rand() % 1000) / 999;
        json_t *want = ot_tel_to_json(&t);
        const json_t *got = ot_tel_json_of(&c, &t);
        cr_assert_not_null(got);
        char *a = ot_json_dumps(want, JSON_COMPACT), *b = ot_json_dumps(got, JSON_COMPACT);
        cr_assert_str_eq(b, a, "record %d", i);
        cr_assert(json_equal(want, got));
        free(a);
        free(b);
        json_decref(want);
        ot_tel_clear(&t);
    }
    ot_tel_json_clear(&c);
    ot_tel_json_clear(&c); /* twice is harmless */
}

/* --- Bare MQTT payloads ------------------------------------------------------- */

Test(normalize, bare_metrics)
{
    ot_ingest_profile *p = profile("{\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":"
                                   "\"degF->degC\"}}}");
    json_t *m = J("{\"temp_f\":212,\"rpm\":\"1500\"}");
    ot_tel t;
    ot_error e;
    cr_assert_eq(ot_tel_normalize_bare(m, "plant-1", "press_2", p, NOW, &t, &e), 0);
    cr_assert_str_eq(t.twin_id, "plant-1");
    cr_assert_eq(t.ts_us, NOW);
    cr_assert_eq(t.ts_given, 0);
    cr_assert(ot_id_valid(t.event_id, "tel"));
    cr_assert_str_eq(t.metrics[1].name, "temp_c");
    cr_assert_eq(t.metrics[1].value, 100.0);
    ot_tel_clear(&t);
    cr_assert_eq(ot_tel_normalize_bare(m, "a/b", "x", p, NOW, &t, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "twin_id");
    cr_assert_eq(ot_tel_normalize_bare(m, "a", NULL, p, NOW, &t, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "asset_id");
    json_decref(m);
    m = J("{\"ok\":1,\"bad\":\"x\"}");
    cr_assert_eq(ot_tel_normalize_bare(m, "a", "b", NULL, NOW, &t, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.bad");
    json_decref(m);
    ot_ingest_profile_free(p);
}
