/* test_policy_confidence.c - the ConfidenceScorer: each component, the
 * 10-outcome rule, the ring of 1,000, weights and the reasoning text. */
#include <criterion/criterion.h>
#include <string.h>

#include "policy/confidence.h"

#define SIM_SPREAD                                                                                \
    "{\"status\":\"completed\",\"kpi_distribution\":{\"yield\":{\"mean\":0.8,\"std\":0.08}," \
    "\"cost\":{\"mean\":10,\"std\":9}}}"
#define SIM_SCENARIOS                                                                               \
    "{\"status\":\"completed\",\"objective\":{\"kpi\":\"cost\",\"goal\":\"minimize\"},"           \
    "\"kpi_distribution\":{\"yield\":{\"mean\":0.8,\"std\":0.08},\"cost\":{\"mean\":10,\"std\":2}}," \
    "\"scenarios\":[{\"name\":\"cooler\",\"p_improvement\":0.83},{\"name\":\"hotter\","            \
    "\"p_improvement\":0.1}]}"

static ot_confidence score(const ot_confidence_input *in)
{
    ot_confidence c;
    ot_error err;
    cr_assert_eq(ot_confidence_score(in, &c, &err), 0, "%s", err.message);
    cr_assert(c.score >= 0 && c.score <= 1);
    return c;
}

static double sim_component(const char *sim_text, const char *scenario, char *why, size_t cap)
{
    json_t *sim = json_loads(sim_text, 0, NULL);
    cr_assert(sim);
    ot_confidence_input in = {.sim = sim, .scenario = scenario};
    ot_confidence c = score(&in);
    snprintf(why, cap, "%s", c.reasoning);
    json_decref(sim);
    return c.simulation;
}

Test(policy_confidence, outcome_ring)
{
    ot_outcomes o;
    ot_outcomes_init(&o);
    cr_assert_float_eq(ot_outcomes_rate(&o), 0, 0);
    for (int i = 0; i < 1000; i++)
        ot_outcomes_add(&o, 0);
    cr_assert_eq(o.count, 1000);
    cr_assert_float_eq(ot_outcomes_rate(&o), 0, 0);
    for (int i = 0; i < 250; i++)
        ot_outcomes_add(&o, 1); /* overwrites the 250 oldest failures */
    cr_assert_eq(o.count, 1000);
    cr_assert_eq(o.successes, 250);
    cr_assert_float_eq(ot_outcomes_rate(&o), 0.25, 1e-12);
    for (int i = 0; i < 1000; i++)
        ot_outcomes_add(&o, 7); /* any nonzero is a success */
    cr_assert_float_eq(ot_outcomes_rate(&o), 1, 0);
}

Test(policy_confidence, nothing_known_is_neutral)
{
    ot_confidence_input in = {0};
    ot_confidence c = score(&in);
    cr_assert_float_eq(c.historical, 0.5, 0);
    cr_assert_float_eq(c.data_quality, 0.5, 0);
    cr_assert_float_eq(c.simulation, 0.5, 0);
    cr_assert_float_eq(c.consensus, 0.5, 0);
    cr_assert_float_eq(c.score, 0.5, 0);
    cr_assert(strstr(c.reasoning, "historical success 0.50 (no outcomes yet, 0/10 needed) x 0.25"),
              "%s", c.reasoning);
    cr_assert(strstr(c.reasoning, "data quality 0.50 (telemetry quality unknown) x 0.25"), "%s",
              c.reasoning);
    cr_assert(strstr(c.reasoning, "simulation consistency 0.50 (no simulation) x 0.30"), "%s",
              c.reasoning);
    cr_assert(strstr(c.reasoning, "AI consensus 0.50 (no votes) x 0.20"), "%s", c.reasoning);
}

Test(policy_confidence, historical_needs_ten_outcomes)
{
    ot_outcomes o;
    ot_outcomes_init(&o);
    ot_confidence_input in = {.outcomes = &o};
    for (int i = 0; i < 9; i++)
        ot_outcomes_add(&o, 1);
    ot_confidence c = score(&in);
    cr_assert_float_eq(c.historical, 0.5, 0, "9 outcomes must not count");
    cr_assert(strstr(c.reasoning, "only 9 outcomes, 10 needed"), "%s", c.reasoning);
    ot_outcomes_add(&o, 0);
    c = score(&in);
    cr_assert_float_eq(c.historical, 0.9, 1e-12, "10 outcomes count: 9/10");
    cr_assert(strstr(c.reasoning, "9 of the last 10 actions succeeded"), "%s", c.reasoning);
    cr_assert_float_eq(c.score, 0.25 * 0.9 + 0.75 * 0.5, 1e-6);
}

Test(policy_confidence, data_quality)
{
    ot_confidence_input in = {.has_data_quality = 1, .data_quality = 0.98};
    ot_confidence c = score(&in);
    cr_assert_float_eq(c.data_quality, 0.98, 1e-12);
    cr_assert(strstr(c.reasoning, "data quality 0.98 (mean quality score of recent telemetry)"),
              "%s", c.reasoning);
    in.data_quality = 1.7;
    cr_assert_float_eq(score(&in).data_quality, 1, 0);
    in.data_quality = -3;
    cr_assert_float_eq(score(&in).data_quality, 0, 0);
}

Test(policy_confidence, simulation_consistency)
{
    char why[OT_CONF_REASONING_MAX];
    /* No scenarios: 1 - std/|mean| of the first KPI (yield: .08/.8). */
    cr_assert_float_eq(sim_component(SIM_SPREAD, NULL, why, sizeof why), 0.9, 1e-9);
    cr_assert(strstr(why, "yield std 0.08 vs |mean| 0.8"), "%s", why);
    /* The named scenario's p_improvement. */
    cr_assert_float_eq(sim_component(SIM_SCENARIOS, "cooler", why, sizeof why), 0.83, 1e-12);
    cr_assert(strstr(why, "P(improvement) of scenario 'cooler'"), "%s", why);
    cr_assert_float_eq(sim_component(SIM_SCENARIOS, "hotter", why, sizeof why), 0.1, 1e-12);
    /* Several scenarios, none named: the objective KPI's spread (cost 2/10). */
    cr_assert_float_eq(sim_component(SIM_SCENARIOS, NULL, why, sizeof why), 0.8, 1e-9);
    /* A named scenario that was not run falls back, saying so. */
    cr_assert_float_eq(sim_component(SIM_SCENARIOS, "warmer", why, sizeof why), 0.8, 1e-9);
    cr_assert(strstr(why, "scenario 'warmer' not in the run"), "%s", why);
    /* One scenario, unnamed: it is the one. */
    cr_assert_float_eq(sim_component("{\"kpi_distribution\":{\"y\":{\"mean\":1,\"std\":0}},"
                                     "\"scenarios\":[{\"name\":\"only\",\"p_improvement\":0.6}]}",
                                     NULL, why, sizeof why), 0.6, 1e-12);
    /* Spread larger than the scale, zero mean, no spread, failure. */
    cr_assert_float_eq(sim_component("{\"kpi_distribution\":{\"y\":{\"mean\":-2,\"std\":5}}}", NULL,
                                     why, sizeof why), 0, 0);
    cr_assert_float_eq(sim_component("{\"kpi_distribution\":{\"y\":{\"mean\":0,\"std\":0.1}}}", NULL,
                                     why, sizeof why), 0, 0);
    cr_assert_float_eq(sim_component("{\"kpi_distribution\":{\"y\":{\"mean\":0,\"std\":0}}}", NULL,
                                     why, sizeof why), 1, 0);
    cr_assert_float_eq(sim_component("{\"status\":\"failed\",\"kpi_distribution\":{\"y\":{\"mean\":1,"
                                     "\"std\":0}}}", NULL, why, sizeof why), 0.5, 0);
    cr_assert(strstr(why, "simulation failed"), "%s", why);
    cr_assert_float_eq(sim_component("{\"kpi_distribution\":{}}", NULL, why, sizeof why), 0.5, 0);
}

Test(policy_confidence, ai_consensus)
{
    json_t *votes = json_loads("[{\"agent_id\":\"a\",\"recommendation\":\"approve\"},"
                               "{\"agent_id\":\"b\",\"recommendation\":\"SET_PARAMETER\"},"
                               "{\"agent_id\":\"c\",\"recommendation\":\"restart\"},"
                               "{\"agent_id\":\"d\",\"recommendation\":\"yes\"},"
                               "{\"agent_id\":\"d\",\"recommendation\":\"no\"}]", 0, NULL);
    ot_confidence_input in = {.votes = votes, .action_type = "set_parameter"};
    ot_confidence c = score(&in);
    /* a, b agree; c disagrees; d's last vote (no) counts once. */
    cr_assert_float_eq(c.consensus, 0.5, 1e-12);
    cr_assert(strstr(c.reasoning, "2 of 4 agents agree"), "%s", c.reasoning);
    in.action_type = "restart";
    cr_assert_float_eq(score(&in).consensus, 0.5, 1e-12); /* a, c */
    json_decref(votes);

    votes = json_loads("[{\"agent_id\":\"a\",\"recommendation\":\"agree\"}]", 0, NULL);
    in.votes = votes;
    cr_assert_float_eq(score(&in).consensus, 1, 0);
    json_decref(votes);

    ot_error err;
    votes = json_loads("[{\"agent_id\":\"a\"}]", 0, NULL);
    in.votes = votes;
    cr_assert_eq(ot_confidence_score(&in, &c, &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$.votes[0]");
    json_decref(votes);
}

Test(policy_confidence, weights_and_client_confidence)
{
    ot_outcomes o;
    ot_outcomes_init(&o);
    for (int i = 0; i < 10; i++)
        ot_outcomes_add(&o, 1);
    json_t *sim = json_loads("{\"kpi_distribution\":{\"y\":{\"mean\":1,\"std\":0}}}", 0, NULL);
    json_t *votes = json_loads("[{\"agent_id\":\"a\",\"recommendation\":\"no\"}]", 0, NULL);
    /* 1 x .25 + 0 x .25 + 1 x .30 + 0 x .20 = .55: each weight shows once. */
    ot_confidence_input in = {.outcomes = &o, .has_data_quality = 1, .data_quality = 0, .sim = sim,
                              .votes = votes, .action_type = "restart",
                              .has_client_confidence = 1, .client_confidence = 0.99};
    ot_confidence c = score(&in);
    cr_assert_float_eq(c.score, 0.55, 1e-9);
    cr_assert(c.has_client_confidence);
    cr_assert(strstr(c.reasoning, "the proposer reported 0.99: recorded, not scored"), "%s",
              c.reasoning);
    json_t *w = ot_confidence_weights_json(), *cj = ot_confidence_components_json(&c);
    double sum = 0;
    const char *k;
    json_t *v;
    json_object_foreach(w, k, v) {
        sum += json_number_value(v);
        cr_assert(json_object_get(cj, k), "component %s missing", k);
    }
    cr_assert_float_eq(sum, 1, 1e-12);
    json_decref(w);
    json_decref(cj);
    in.client_confidence = 1.5;
    ot_error err;
    cr_assert_eq(ot_confidence_score(&in, &c, &err), OT_EINVAL);
    json_decref(sim);
    json_decref(votes);
}
