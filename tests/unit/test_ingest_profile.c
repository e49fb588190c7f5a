#include <criterion/criterion.h>
#include <string.h>

#include "telemetry/ingest_profile.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    cr_assert(j, "test JSON does not parse: %s (%s)", s, e.text);
    return j;
}

static ot_ingest_profile *parse_ok(const char *s)
{
    json_t *j = J(s);
    ot_ingest_profile *p = NULL;
    ot_error e;
    int rc = ot_ingest_profile_parse(j, &p, &e);
    json_decref(j);
    cr_assert_eq(rc, 0, "rejected %s: %s: %s", s, e.path, e.message);
    return p;
}

/* Rejected at exactly path; returns the message for further checks. */
static void parse_bad(const char *s, const char *path, const char *in_message)
{
    json_t *j = J(s);
    ot_ingest_profile *p = (ot_ingest_profile *)1;
    ot_error e;
    int rc = ot_ingest_profile_parse(j, &p, &e);
    json_decref(j);
    cr_assert_eq(rc, OT_EINVAL, "accepted %s", s);
    cr_assert_null(p);
    cr_assert_str_eq(e.path, path, "%s: path %s, want %s (%s)", s, e.path, path, e.message);
    if (in_message)
        cr_assert(strstr(e.message, in_message), "%s: message '%s' lacks '%s'", s, e.message,
                  in_message);
}

static double conv(const char *unit, double v)
{
    char doc[128];
    snprintf(doc, sizeof doc, "{\"convert\":{\"m\":{\"unit\":\"%s\"}}}", unit);
    ot_ingest_profile *p = parse_ok(doc);
    const char *name;
    cr_assert_eq(ot_ingest_profile_apply(p, "m", &v, &name), 0);
    cr_assert_str_eq(name, "m");
    ot_ingest_profile_free(p);
    return v;
}

Test(ingest_profile, named_conversions_are_exact)
{
    cr_assert_eq(conv("degF->degC", 212), 100.0);
    cr_assert_eq(conv("degF->degC", 32), 0.0);
    cr_assert_eq(conv("degF->degC", -40), -40.0);
    cr_assert_eq(conv("degC->degF", 100), 212.0);
    cr_assert_eq(conv("degC->degF", -40), -40.0);
    cr_assert_eq(conv("K->degC", 273.15), 0.0);
    cr_assert_eq(conv("K->degC", 0), -273.15);
    cr_assert_eq(conv("degC->K", 0), 273.15);
    cr_assert_eq(conv("degF->K", 32), 273.15);
    cr_assert_eq(conv("K->degF", 273.15), 32.0);
    cr_assert_float_eq(conv("psi->bar", 1), 0.06894757293168361, 1e-17);
    cr_assert_float_eq(conv("psi->bar", 14.503773773022), 1.0, 1e-12);
    cr_assert_float_eq(conv("bar->psi", 1), 14.503773773022, 1e-11);
    cr_assert_eq(conv("kPa->bar", 250), 2.5);
    cr_assert_eq(conv("bar->kPa", 2.5), 250.0);
    cr_assert_eq(conv("Pa->bar", 101325), 1.01325);
    cr_assert_eq(conv("bar->Pa", 1.01325), 101325.0);
    cr_assert_eq(conv("mbar->bar", 1013), 1.013);
    cr_assert_eq(conv("bar->mbar", 1.5), 1500.0);
    cr_assert_float_eq(conv("bar->mbar", 1.013), 1013.0, 1e-12); /* 1.013 is inexact */
    cr_assert_eq(conv("ms->s", 1500), 1.5);
    cr_assert_eq(conv("s->ms", 1.5), 1500.0);
    cr_assert_eq(conv("percent->ratio", 45), 0.45);
    cr_assert_eq(conv("ratio->percent", 0.45), 45.0);
}

Test(ingest_profile, linear_rename_and_lookup)
{
    ot_ingest_profile *p =
        parse_ok("{\"rename\":{\"temperature\":\"temp_c\",\"a\":\"b\",\"b\":\"c\"},"
                 "\"convert\":{\"p_psi\":{\"to\":\"pressure_bar\",\"scale\":0.5,\"offset\":2},"
                 "\"off\":{\"offset\":-1}},\"expected_metrics\":[\"z\",\"temp_c\"]}");
    const char *name;
    double v = 10;
    cr_assert_eq(ot_ingest_profile_apply(p, "p_psi", &v, &name), 0);
    cr_assert_str_eq(name, "pressure_bar");
    cr_assert_eq(v, 7.0);
    v = 10;
    cr_assert_eq(ot_ingest_profile_apply(p, "off", &v, &name), 0);
    cr_assert_str_eq(name, "off");
    cr_assert_eq(v, 9.0);
    cr_assert_eq(ot_ingest_profile_apply(p, "temperature", &v, &name), 0);
    cr_assert_str_eq(name, "temp_c");
    cr_assert_eq(ot_ingest_profile_apply(p, "a", &v, &name), 0);
    cr_assert_str_eq(name, "b"); /* not transitive */
    cr_assert_eq(ot_ingest_profile_apply(p, "other", &v, &name), 0);
    cr_assert_str_eq(name, "other");
    cr_assert_eq(ot_ingest_profile_apply(NULL, "x", &v, &name), 0);
    cr_assert_str_eq(name, "x");
    cr_assert_eq(ot_ingest_profile_nexpected(p), 2);
    cr_assert_str_eq(ot_ingest_profile_expected(p, 0), "temp_c"); /* sorted */
    cr_assert_str_eq(ot_ingest_profile_expected(p, 1), "z");
    cr_assert_eq(ot_ingest_profile_nexpected(NULL), 0);
    ot_ingest_profile_free(p);
    ot_ingest_profile_free(NULL);
}

Test(ingest_profile, canonical_json_round_trip)
{
    ot_ingest_profile *p =
        parse_ok("{\"expected_metrics\":[\"temp_c\",\"a\"],\"convert\":{\"temp_f\":{\"unit\":"
                 "\"degF->degC\",\"to\":\"temp_c\"},\"p\":{\"scale\":2}},"
                 "\"rename\":{\"temperature\":\"temp_c\"}}");
    json_t *j = ot_ingest_profile_to_json(p);
    char *s = json_dumps(j, JSON_COMPACT);
    cr_assert_str_eq(s, "{\"rename\":{\"temperature\":\"temp_c\"},\"convert\":{\"p\":{\"to\":\"p\","
                        "\"scale\":2.0,\"offset\":0.0},\"temp_f\":{\"to\":\"temp_c\",\"unit\":"
                        "\"degF->degC\"}},\"expected_metrics\":[\"a\",\"temp_c\"]}");
    ot_ingest_profile *q;
    ot_error e;
    cr_assert_eq(ot_ingest_profile_parse(j, &q, &e), 0);
    json_t *k = ot_ingest_profile_to_json(q);
    cr_assert(json_equal(j, k));
    json_decref(k);
    json_decref(j);
    free(s);
    ot_ingest_profile_free(q);
    ot_ingest_profile_free(p);
    p = parse_ok("{}");
    j = ot_ingest_profile_to_json(p);
    s = json_dumps(j, JSON_COMPACT);
    cr_assert_str_eq(s, "{\"rename\":{},\"convert\":{},\"expected_metrics\":[]}");
    free(s);
    json_decref(j);
    ot_ingest_profile_free(p);
}

Test(ingest_profile, overflow_reported)
{
    ot_ingest_profile *p = parse_ok("{\"convert\":{\"d\":{\"to\":\"d_ms\",\"unit\":\"s->ms\"}}}");
    const char *name;
    double v = 1e308;
    cr_assert_eq(ot_ingest_profile_apply(p, "d", &v, &name), OT_EINVAL);
    cr_assert_eq(v, 1e308);
    cr_assert_str_eq(name, "d_ms");
    ot_ingest_profile_free(p);
}

Test(ingest_profile, rejections_name_the_field)
{
    parse_bad("[]", "$", NULL);
    parse_bad("{\"foo\":1}", "$.foo", "allowed: rename, convert, expected_metrics");
    parse_bad("{\"rename\":[]}", "$.rename", NULL);
    parse_bad("{\"rename\":{\"a\":1}}", "$.rename.a", NULL);
    parse_bad("{\"rename\":{\"a\":\"b c\"}}", "$.rename.a", "allowed characters");
    parse_bad("{\"rename\":{\"a b\":\"c\"}}", "$.rename[\"a b\"]", NULL);
    parse_bad("{\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":\"degF->degK\"}}}",
              "$.convert.temp_f.unit", "unknown conversion 'degF->degK'; known: degF->degC");
    parse_bad("{\"convert\":{\"x\":{\"unit\":7}}}", "$.convert.x.unit", NULL);
    parse_bad("{\"convert\":{\"x\":\"degF->degC\"}}", "$.convert.x", NULL);
    parse_bad("{\"convert\":{\"x\":{}}}", "$.convert.x", "needs");
    parse_bad("{\"convert\":{\"x\":{\"to\":\"y\"}}}", "$.convert.x", "needs");
    parse_bad("{\"convert\":{\"x\":{\"unit\":\"ms->s\",\"scale\":2}}}", "$.convert.x", "not both");
    parse_bad("{\"convert\":{\"x\":{\"scale\":0}}}", "$.convert.x.scale", NULL);
    parse_bad("{\"convert\":{\"x\":{\"scale\":\"2\"}}}", "$.convert.x.scale", NULL);
    parse_bad("{\"convert\":{\"x\":{\"offset\":true}}}", "$.convert.x.offset", NULL);
    parse_bad("{\"convert\":{\"x\":{\"scale\":2,\"factor\":3}}}", "$.convert.x.factor",
              "allowed: to, unit, scale, offset");
    parse_bad("{\"convert\":{\"x\":{\"scale\":2,\"to\":\"\"}}}", "$.convert.x.to", NULL);
    parse_bad("{\"expected_metrics\":{}}", "$.expected_metrics", NULL);
    parse_bad("{\"expected_metrics\":[\"a\",3]}", "$.expected_metrics[1]", NULL);
    parse_bad("{\"expected_metrics\":[\"a\",\"b\",\"a\"]}", "$.expected_metrics[2]", "twice");
    json_t *r = json_object();
    for (int i = 0; i <= OT_PROFILE_RULES_MAX; i++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", i);
        json_object_set_new(r, k, json_string("x"));
    }
    json_t *doc = json_pack("{s:o}", "rename", r);
    ot_ingest_profile *p;
    ot_error e;
    cr_assert_eq(ot_ingest_profile_parse(doc, &p, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.rename");
    json_decref(doc);
}
