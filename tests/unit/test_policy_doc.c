/* test_policy_doc.c - policy.v1: defaults, validation errors with paths,
 * rule matching by metric / kind / severity / asset / score, to_json. */
#include <criterion/criterion.h>
#include <string.h>

#include "policy/policy_doc.h"

#define EXAMPLE                                                                                     \
    "{\"thresholds\":{\"auto_execute\":0.9,\"require_approval\":0.7},\"safety\":{\"forbid\":"      \
    "[\"deploy\"],\"limits\":{\"chiller_1.setpoint\":{\"min\":10,\"max\":30}},"                    \
    "\"max_actions_per_hour\":20},\"rules\":[{\"name\":\"cool\",\"when\":{\"metric\":\"temp_c\","  \
    "\"kind\":[\"spike\",\"outlier\"],\"min_severity\":\"high\"},\"action\":{\"type\":"            \
    "\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\",\"value\":18}}," \
    "\"executor\":\"state\",\"scenario\":{\"name\":\"cooler\",\"set\":{\"coolant\":18}}},"         \
    "{\"when\":{\"kind\":\"drift\",\"asset_id\":\"press_2\",\"min_score\":0.5},\"action\":"        \
    "{\"type\":\"restart\",\"target\":\"press_2\"},\"executor\":\"webhook\",\"webhook\":"          \
    "{\"url\":\"https://ops.example/hook\",\"secret\":\"s3\",\"retries\":1}}]}"

static ot_policy *parse_ok(const char *text)
{
    ot_policy *p = NULL;
    ot_error err;
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert(doc, "bad test JSON: %s", text);
    cr_assert_eq(ot_policy_parse(doc, &p, &err), 0, "%s: %s", err.path, err.message);
    json_decref(doc);
    return p;
}

static void expect_error(const char *text, const char *path, const char *needle)
{
    ot_policy *p = (ot_policy *)1;
    ot_error err;
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert(doc, "bad test JSON: %s", text);
    cr_assert_eq(ot_policy_parse(doc, &p, &err), OT_EINVAL, "%s: accepted", text);
    cr_assert_null(p);
    cr_assert_str_eq(err.path, path, "%s: path %s (%s)", text, err.path, err.message);
    cr_assert(strstr(err.message, needle), "%s: '%s' lacks '%s'", text, err.message, needle);
    json_decref(doc);
}

Test(policy_doc, defaults)
{
    ot_policy *p = ot_policy_default();
    cr_assert(p);
    cr_assert_float_eq(p->auto_execute, 0.9, 0);
    cr_assert_float_eq(p->require_approval, 0.7, 0);
    cr_assert_float_eq(p->require_analysis, 0.5, 0);
    cr_assert_eq(p->forbid, 0);
    cr_assert_eq(p->nlimits, 0);
    cr_assert_eq(p->nrules, 0);
    cr_assert_eq(p->max_actions_per_hour, 20);
    ot_policy_free(p);
    /* require_analysis follows a low require_approval down. */
    p = parse_ok("{\"thresholds\":{\"require_approval\":0.3}}");
    cr_assert_float_eq(p->require_analysis, 0.3, 0);
    ot_policy_free(p);
}

Test(policy_doc, example_parses)
{
    ot_policy *p = parse_ok(EXAMPLE);
    cr_assert(ot_policy_forbids(p, OT_ACTION_DEPLOY));
    cr_assert_not(ot_policy_forbids(p, OT_ACTION_RESTART));
    const ot_policy_limit *l = ot_policy_limit_find(p, "chiller_1.setpoint");
    cr_assert(l && l->has_min && l->has_max && l->min == 10 && l->max == 30);
    cr_assert_null(ot_policy_limit_find(p, "chiller_2.setpoint"));
    cr_assert_eq(p->nrules, 2);
    cr_assert_str_eq(p->rules[0].name, "cool");
    cr_assert_str_eq(p->rules[0].scenario_name, "cooler");
    cr_assert_eq(p->rules[0].kinds, OT_POLICY_KIND_SPIKE | OT_POLICY_KIND_OUTLIER);
    cr_assert_eq(p->rules[1].executor, OT_EXEC_WEBHOOK);
    cr_assert_str_eq(p->rules[1].webhook.url, "https://ops.example/hook");
    cr_assert_eq(p->rules[1].webhook.timeout_ms, 5000);
    cr_assert_eq(p->rules[1].webhook.retries, 1);
    ot_policy_free(p);
}

Test(policy_doc, thresholds_errors)
{
    expect_error("{\"thresholds\":{\"auto_execute\":0.6,\"require_approval\":0.8}}",
                 "$.thresholds.require_approval", "must not exceed auto_execute");
    expect_error("{\"thresholds\":{\"auto_execute\":0.6}}", "$.thresholds.auto_execute",
                 "the default");
    expect_error("{\"thresholds\":{\"require_analysis\":0.8}}", "$.thresholds.require_analysis",
                 "must not exceed require_approval");
    expect_error("{\"thresholds\":{\"auto_execute\":1.5}}", "$.thresholds.auto_execute", "0 to 1");
    expect_error("{\"thresholds\":{\"auto_execute\":\"high\"}}", "$.thresholds.auto_execute", "number");
    expect_error("{\"thresholds\":{\"auto\":0.9}}", "$.thresholds.auto", "unknown field");
    expect_error("{\"thresholds\":[]}", "$.thresholds", "object");
    /* Equal thresholds are allowed: the order is <=. */
    ot_policy_free(parse_ok("{\"thresholds\":{\"auto_execute\":0.8,\"require_approval\":0.8,"
                            "\"require_analysis\":0.8}}"));
}

Test(policy_doc, safety_errors)
{
    expect_error("{\"safety\":{\"forbid\":[\"deploy\",\"explode\"]}}", "$.safety.forbid[1]",
                 "action type");
    expect_error("{\"safety\":{\"forbid\":[\"deploy\",\"deploy\"]}}", "$.safety.forbid[1]", "twice");
    expect_error("{\"safety\":{\"forbid\":\"deploy\"}}", "$.safety.forbid", "array");
    expect_error("{\"safety\":{\"limits\":{\"chiller_1.setpoint\":{\"min\":30,\"max\":10}}}}",
                 "$.safety.limits.chiller_1.setpoint.min", "must not exceed max");
    expect_error("{\"safety\":{\"limits\":{\"chiller_1.setpoint\":{}}}}",
                 "$.safety.limits.chiller_1.setpoint", "min");
    expect_error("{\"safety\":{\"limits\":{\"chiller_1.setpoint\":{\"min\":\"1\"}}}}",
                 "$.safety.limits.chiller_1.setpoint.min", "number");
    expect_error("{\"safety\":{\"limits\":{\"chiller_1.setpoint\":{\"low\":1}}}}",
                 "$.safety.limits.chiller_1.setpoint.low", "unknown field");
    expect_error("{\"safety\":{\"limits\":{\"setpoint\":{\"min\":1}}}}", "$.safety.limits.setpoint",
                 "set-point key");
    expect_error("{\"safety\":{\"limits\":{\"a/b.c\":{\"min\":1}}}}", "$.safety.limits[\"a/b.c\"]",
                 "set-point key");
    expect_error("{\"safety\":{\"max_actions_per_hour\":-1}}", "$.safety.max_actions_per_hour",
                 "integer >= 0");
    expect_error("{\"safety\":{\"max_actions_per_hour\":1.5}}", "$.safety.max_actions_per_hour",
                 "integer >= 0");
    expect_error("{\"safety\":{\"limit\":{}}}", "$.safety.limit", "unknown field");
    ot_policy *p = parse_ok("{\"safety\":{\"limits\":{\"a.b/c\":{\"max\":1}},\"max_actions_per_hour\":0}}");
    cr_assert_eq(p->max_actions_per_hour, 0);
    cr_assert(ot_policy_limit_find(p, "a.b/c") && !p->limits[0].has_min);
    ot_policy_free(p);
}

Test(policy_doc, rule_errors)
{
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"set_parameter\",\"target\":\"c\","
                 "\"params\":{\"name\":\"sp\",\"value\":\"x\"}}}]}",
                 "$.rules[0].action.params.value", "number");
    expect_error("{\"rules\":[{\"action\":{\"type\":\"restart\",\"target\":\"c\"}}]}", "$.rules[0].when",
                 "required");
    expect_error("{\"rules\":[{\"when\":{}}]}", "$.rules[0].action", "required");
    expect_error("{\"rules\":[{\"when\":{\"kind\":[\"spike\",\"wobble\"]},\"action\":{\"type\":"
                 "\"restart\",\"target\":\"c\"}}]}", "$.rules[0].when.kind[1]", "anomaly kind");
    expect_error("{\"rules\":[{\"when\":{\"kind\":[]},\"action\":{\"type\":\"restart\",\"target\":\"c\"}}]}",
                 "$.rules[0].when.kind", "non-empty");
    expect_error("{\"rules\":[{\"when\":{\"min_severity\":\"huge\"},\"action\":{\"type\":\"restart\","
                 "\"target\":\"c\"}}]}", "$.rules[0].when.min_severity", "critical");
    expect_error("{\"rules\":[{\"when\":{\"metric\":\"t\"},\"action\":{\"type\":\"restart\","
                 "\"target\":\"c\"},\"executor\":\"webhook\"}]}", "$.rules[0].webhook", "required");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"webhook\":{\"url\":\"https://x\"}}]}", "$.rules[0].webhook", "only allowed");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"executor\":\"webhook\",\"webhook\":{\"url\":\"ftp://x\"}}]}",
                 "$.rules[0].webhook.url", "http");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"executor\":\"webhook\",\"webhook\":{\"url\":\"https://x\",\"timeout_ms\":0}}]}",
                 "$.rules[0].webhook.timeout_ms", "1 to 60000");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"executor\":\"carrier-pigeon\"}]}", "$.rules[0].executor", "state, mqtt");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"scenario\":{\"name\":\"s\",\"set\":{}}}]}", "$.rules[0].scenario.set", "required");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"scenario\":{\"name\":\"s\",\"set\":{\"coolant\":\"cold\"}}}]}",
                 "$.rules[0].scenario.set.coolant", "number");
    expect_error("{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},"
                 "\"then\":1}]}", "$.rules[0].then", "unknown field");
    expect_error("{\"rules\":{}}", "$.rules", "array");
    expect_error("{\"colour\":\"red\"}", "$.colour", "unknown field");
    expect_error("{\"updated_at\":\"yesterday\"}", "$.updated_at", "RFC 3339");
    expect_error("[]", "$", "object");
}

/* Match an anomaly; returns the count and the first match's index. */
static int match(const ot_policy *p, const char *anomaly, int *first)
{
    const ot_policy_rule *out[4];
    ot_error err;
    json_t *a = json_loads(anomaly, 0, NULL);
    cr_assert(a);
    int n = ot_policy_match_rules(p, a, out, 4, &err);
    json_decref(a);
    if (n > 0 && first)
        *first = (int)(out[0] - p->rules);
    return n;
}

Test(policy_doc, rule_matching)
{
    ot_policy *p = parse_ok(EXAMPLE);
    int first = -1;
    cr_assert_eq(match(p, "{\"metric\":\"temp_c\",\"kind\":\"spike\",\"severity\":\"high\"}", &first), 1);
    cr_assert_eq(first, 0);
    cr_assert_eq(match(p, "{\"metric\":\"temp_c\",\"kind\":\"outlier\",\"severity\":\"critical\"}", NULL), 1);
    cr_assert_eq(match(p, "{\"metric\":\"temp_c\",\"kind\":\"spike\",\"severity\":\"medium\"}", NULL), 0);
    cr_assert_eq(match(p, "{\"metric\":\"temp_c\",\"kind\":\"drift\",\"severity\":\"high\"}", NULL), 0);
    cr_assert_eq(match(p, "{\"metric\":\"load\",\"kind\":\"spike\",\"severity\":\"critical\"}", NULL), 0);
    /* Rule 1: any metric, kind drift, asset press_2, score >= 0.5. */
    cr_assert_eq(match(p, "{\"metric\":\"x\",\"kind\":\"drift\",\"severity\":\"low\","
                          "\"asset_id\":\"press_2\",\"score\":0.5}", &first), 1);
    cr_assert_eq(first, 1);
    cr_assert_eq(match(p, "{\"metric\":\"x\",\"kind\":\"drift\",\"severity\":\"low\","
                          "\"asset_id\":\"press_2\",\"score\":0.49}", NULL), 0);
    cr_assert_eq(match(p, "{\"metric\":\"x\",\"kind\":\"drift\",\"severity\":\"low\","
                          "\"asset_id\":\"press_3\",\"score\":0.9}", NULL), 0);
    cr_assert_eq(match(p, "{\"metric\":\"x\",\"kind\":\"drift\",\"severity\":\"low\"}", NULL), 0);
    ot_policy_free(p);

    /* Severity order low < medium < high < critical; an empty when matches all. */
    p = parse_ok("{\"rules\":[{\"when\":{\"min_severity\":\"medium\"},\"action\":{\"type\":\"restart\","
                 "\"target\":\"c\"}},{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"d\"}}]}");
    cr_assert_eq(match(p, "{\"metric\":\"m\",\"kind\":\"pattern\",\"severity\":\"low\"}", &first), 1);
    cr_assert_eq(first, 1);
    cr_assert_eq(match(p, "{\"metric\":\"m\",\"kind\":\"pattern\",\"severity\":\"medium\"}", &first), 2);
    cr_assert_eq(first, 0);
    ot_error err;
    json_t *bad = json_loads("{\"metric\":\"m\",\"kind\":\"pattern\",\"severity\":\"dire\"}", 0, NULL);
    cr_assert_eq(ot_policy_match_rules(p, bad, NULL, 0, &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$.severity");
    json_decref(bad);
    bad = json_loads("{\"metric\":\"m\",\"severity\":\"low\"}", 0, NULL);
    cr_assert_eq(ot_policy_match_rules(p, bad, NULL, 0, &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$.kind");
    json_decref(bad);
    ot_policy_free(p);
}

Test(policy_doc, to_json_round_trip)
{
    ot_policy *p = parse_ok(EXAMPLE);
    json_t *j = ot_policy_to_json(p);
    cr_assert(j);
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(j, "thresholds"),
                                                         "require_analysis")), 0.5, 0);
    ot_policy *q = NULL;
    ot_error err;
    cr_assert_eq(ot_policy_parse(j, &q, &err), 0, "%s: %s", err.path, err.message);
    json_t *k = ot_policy_to_json(q);
    cr_assert(json_equal(j, k), "round trip differs");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(
                         json_object_get(k, "rules"), 1), "webhook"), "secret")), "s3");
    json_decref(j);
    json_decref(k);
    ot_policy_free(p);
    ot_policy_free(q);
}
