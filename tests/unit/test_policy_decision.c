/* test_policy_decision.c - the DecisionMaker: every safety rule, the
 * threshold boundaries (exactly .90 and .70, also through the scorer) and
 * the decision document. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/ids.h"
#include "policy/decision.h"

#define POLICY                                                                                 \
    "{\"safety\":{\"forbid\":[\"deploy\"],\"limits\":{\"chiller_1.setpoint\":{\"min\":10,"     \
    "\"max\":30}},\"max_actions_per_hour\":20}}"

static ot_policy *policy(const char *text)
{
    ot_policy *p = NULL;
    ot_error err;
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert(doc);
    cr_assert_eq(ot_policy_parse(doc, &p, &err), 0, "%s", err.message);
    json_decref(doc);
    return p;
}

static ot_action action(const char *text)
{
    ot_action a;
    ot_error err;
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert(doc);
    cr_assert_eq(ot_action_parse(doc, "$", &a, &err), 0, "%s", err.message);
    json_decref(doc);
    return a;
}

static ot_action setpoint(double v)
{
    char text[160];
    snprintf(text, sizeof text, "{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":"
                                "{\"name\":\"setpoint\",\"value\":%g}}", v);
    return action(text);
}

/* Safety of a on POLICY with n actions in the last hour; violation 0 must
 * contain needle when given (else the check must pass). */
static void safety(const char *a_text, long long n, const char *needle)
{
    ot_policy *p = policy(POLICY);
    ot_action a = action(a_text);
    ot_safety s;
    int ok = ot_safety_check(p, &a, n, &s);
    if (needle) {
        cr_assert_not(ok, "%s: passed", a_text);
        cr_assert_eq(s.nviolations, 1);
        cr_assert(strstr(s.violations[0], needle), "'%s' lacks '%s'", s.violations[0], needle);
        cr_assert_eq(ot_decision_classify(p, 1.0, &s), OT_DECIDE_REJECT, "unsafe must reject");
    } else {
        cr_assert(ok, "%s: %s", a_text, s.violations[0]);
        cr_assert_eq(s.nviolations, 0);
    }
    ot_action_free(&a);
    ot_policy_free(p);
}

Test(policy_decision, forbidden_types)
{
    safety("{\"type\":\"deploy\",\"target\":\"api\",\"params\":{\"version\":\"2\"}}", 0,
           "forbidden by policy: deploy");
    safety("{\"type\":\"restart\",\"target\":\"api\"}", 0, NULL);
}

Test(policy_decision, parameter_limits)
{
    ot_policy *p = policy(POLICY);
    ot_safety s;
    const struct {
        double v;
        const char *needle;
    } cases[] = {{10, NULL}, {30, NULL}, {18, NULL}, {9.999, "below the minimum 10"},
                 {30.001, "above the maximum 30"}, {-1e9, "chiller_1.setpoint = -1e+09"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_action a = setpoint(cases[i].v);
        int ok = ot_safety_check(p, &a, 0, &s);
        cr_assert_eq(ok, !cases[i].needle, "value %g", cases[i].v);
        if (cases[i].needle)
            cr_assert(strstr(s.violations[0], cases[i].needle), "%s", s.violations[0]);
        ot_action_free(&a);
    }
    /* Another parameter of the same target has no limit. */
    safety("{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"fan\","
           "\"value\":99}}", 0, NULL);
    ot_policy_free(p);
}

Test(policy_decision, shutdown_needs_emergency)
{
    safety("{\"type\":\"shutdown\",\"target\":\"line_1\"}", 0, "non-emergency shutdown forbidden");
    safety("{\"type\":\"shutdown\",\"target\":\"line_1\",\"emergency\":false}", 0,
           "non-emergency shutdown forbidden");
    safety("{\"type\":\"shutdown\",\"target\":\"line_1\",\"emergency\":true}", 0, NULL);
}

Test(policy_decision, rate_limit)
{
    safety("{\"type\":\"restart\",\"target\":\"api\"}", 19, NULL);
    safety("{\"type\":\"restart\",\"target\":\"api\"}", 20, "rate limit: 20 actions in the last hour (max 20)");
    ot_policy *p = policy("{\"safety\":{\"max_actions_per_hour\":0}}");
    ot_action a = action("{\"type\":\"restart\",\"target\":\"api\"}");
    ot_safety s;
    cr_assert_not(ot_safety_check(p, &a, 0, &s), "0 freezes the twin");
    ot_action_free(&a);
    ot_policy_free(p);
}

Test(policy_decision, every_violation_is_reported)
{
    ot_policy *p = policy("{\"safety\":{\"forbid\":[\"shutdown\"],\"max_actions_per_hour\":1}}");
    ot_action a = action("{\"type\":\"shutdown\",\"target\":\"line_1\"}");
    ot_safety s;
    cr_assert_not(ot_safety_check(p, &a, 5, &s));
    cr_assert_eq(s.nviolations, 3);
    cr_assert(strstr(s.violations[0], "forbidden"));
    cr_assert(strstr(s.violations[1], "non-emergency"));
    cr_assert(strstr(s.violations[2], "rate limit"));
    ot_action_free(&a);
    ot_policy_free(p);
}

Test(policy_decision, threshold_boundaries)
{
    ot_policy *p = ot_policy_default();
    ot_safety ok = {.ok = 1};
    const struct {
        double score;
        enum ot_decision_kind k;
    } cases[] = {{1.0, OT_DECIDE_AUTO_EXECUTE},     {0.90, OT_DECIDE_AUTO_EXECUTE},
                 {0.899999, OT_DECIDE_REQUIRE_APPROVAL}, {0.70, OT_DECIDE_REQUIRE_APPROVAL},
                 {0.699999, OT_DECIDE_REQUIRE_ANALYSIS}, {0.50, OT_DECIDE_REQUIRE_ANALYSIS},
                 {0.499999, OT_DECIDE_REJECT},          {0.0, OT_DECIDE_REJECT}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(ot_decision_classify(p, cases[i].score, &ok), cases[i].k, "score %.6f -> %s",
                     cases[i].score, ot_decision_name(ot_decision_classify(p, cases[i].score, &ok)));
    ot_policy_free(p);
    /* A policy's own thresholds. */
    p = policy("{\"thresholds\":{\"auto_execute\":0.8,\"require_approval\":0.6,\"require_analysis\":0.2}}");
    cr_assert_eq(ot_decision_classify(p, 0.8, &ok), OT_DECIDE_AUTO_EXECUTE);
    cr_assert_eq(ot_decision_classify(p, 0.6, &ok), OT_DECIDE_REQUIRE_APPROVAL);
    cr_assert_eq(ot_decision_classify(p, 0.2, &ok), OT_DECIDE_REQUIRE_ANALYSIS);
    cr_assert_eq(ot_decision_classify(p, 0.19, &ok), OT_DECIDE_REJECT);
    ot_policy_free(p);
}

/* Decide a restart on the default policy with the given scorer inputs. */
static json_t *decide(const ot_confidence_input *in, enum ot_decision_kind *k)
{
    ot_confidence c;
    ot_error err;
    json_t *out = NULL;
    cr_assert_eq(ot_confidence_score(in, &c, &err), 0);
    ot_action a = action("{\"type\":\"restart\",\"target\":\"press_2\"}");
    ot_decision_input di = {.twin_id = "plant-1", .action = &a, .confidence = &c,
                            .now_us = 1767530096123456LL, .sim_id = "sim_01J9Z3K5V1X2Y3Z4A5B6C7D8E9"};
    cr_assert_eq(ot_decide(&di, k, &out, &err), 0, "%s", err.message);
    ot_action_free(&a);
    return out;
}

Test(policy_decision, exact_thresholds_through_the_scorer)
{
    ot_outcomes o;
    ot_outcomes_init(&o);
    for (int i = 0; i < 10; i++)
        ot_outcomes_add(&o, 1);
    json_t *sim = json_loads("{\"kpi_distribution\":{\"y\":{\"mean\":1,\"std\":0}}}", 0, NULL);
    json_t *no = json_loads("[{\"agent_id\":\"a\",\"recommendation\":\"no\"}]", 0, NULL);
    enum ot_decision_kind k;
    /* .25*1 + .25*1 + .30*1 + .20*.5 = .90 exactly. */
    ot_confidence_input in = {.outcomes = &o, .has_data_quality = 1, .data_quality = 1, .sim = sim};
    json_t *d = decide(&in, &k);
    cr_assert_eq(k, OT_DECIDE_AUTO_EXECUTE, "%s", json_string_value(json_object_get(d, "reasoning")));
    cr_assert_float_eq(json_number_value(json_object_get(d, "confidence")), 0.9, 0);
    json_decref(d);
    /* .25*1 + .25*.6 + .30*1 + .20*0 = .70 exactly. */
    in.data_quality = 0.6;
    in.votes = no;
    in.action_type = "restart";
    d = decide(&in, &k);
    cr_assert_eq(k, OT_DECIDE_REQUIRE_APPROVAL, "%s", json_string_value(json_object_get(d, "reasoning")));
    json_decref(d);
    /* Nothing known: .50 -> analysis. */
    ot_confidence_input none = {0};
    d = decide(&none, &k);
    cr_assert_eq(k, OT_DECIDE_REQUIRE_ANALYSIS);
    cr_assert(strstr(json_string_value(json_object_get(d, "reasoning")), "require_analysis 0.50"));
    json_decref(d);
    json_decref(sim);
    json_decref(no);
}

Test(policy_decision, document)
{
    ot_confidence_input in = {.has_client_confidence = 1, .client_confidence = 0.97};
    enum ot_decision_kind k;
    json_t *d = decide(&in, &k);
    cr_assert(ot_id_valid(json_string_value(json_object_get(d, "decision_id")), "dec"));
    cr_assert_str_eq(json_string_value(json_object_get(d, "twin_id")), "plant-1");
    cr_assert_str_eq(json_string_value(json_object_get(d, "decision")), "require_analysis");
    cr_assert_str_eq(json_string_value(json_object_get(d, "created_at")), "2026-01-04T12:34:56.123456Z");
    cr_assert_str_eq(json_string_value(json_object_get(d, "sim_id")), "sim_01J9Z3K5V1X2Y3Z4A5B6C7D8E9");
    cr_assert_null(json_object_get(d, "proposal_id"));
    cr_assert_float_eq(json_number_value(json_object_get(d, "client_confidence")), 0.97, 1e-12);
    cr_assert(json_is_true(json_object_get(json_object_get(d, "safety"), "ok")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "action"), "type")), "restart");
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(d, "thresholds"), "auto_execute")),
                       0.9, 0);
    const char *why = json_string_value(json_object_get(d, "reasoning"));
    cr_assert(strstr(why, "historical success") && strstr(why, "data quality") &&
              strstr(why, "simulation consistency") && strstr(why, "AI consensus") &&
              strstr(why, "Safety checks passed"), "%s", why);
    json_decref(d);

    /* Unsafe: reject whatever the score, and say why. */
    ot_policy *p = policy(POLICY);
    ot_confidence c = {.score = 1.0};
    ot_action a = action("{\"type\":\"deploy\",\"target\":\"api\",\"params\":{\"version\":\"2\"}}");
    ot_decision_input di = {.twin_id = "plant-1", .policy = p, .action = &a, .confidence = &c};
    ot_error err;
    cr_assert_eq(ot_decide(&di, &k, &d, &err), 0);
    cr_assert_eq(k, OT_DECIDE_REJECT);
    json_t *v = json_object_get(json_object_get(d, "safety"), "violations");
    cr_assert_str_eq(json_string_value(json_array_get(v, 0)), "forbidden by policy: deploy");
    cr_assert(strstr(json_string_value(json_object_get(d, "reasoning")),
                     "Rejected by safety constraints: forbidden by policy: deploy"));
    json_decref(d);
    di.twin_id = NULL;
    cr_assert_eq(ot_decide(&di, &k, &d, &err), OT_EINVAL);
    cr_assert_null(d);
    ot_action_free(&a);
    ot_policy_free(p);
}
