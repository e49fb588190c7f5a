/* twin_model.v1 parsing, errors with JSON paths, dependency order,
 * JSON round trip, and run-time binding of telemetry / set-points. */
#include <criterion/criterion.h>
#include <string.h>

#include "sim/model.h"

static int parse(const char *json, ot_sim_model **m, ot_error *err)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    int rc = ot_sim_model_parse(j, "$", m, err);
    json_decref(j);
    return rc;
}

static void expect_error(const char *json, int code, const char *path, const char *msg)
{
    ot_sim_model *m = NULL;
    ot_error e;
    cr_assert_eq(parse(json, &m, &e), code, "%s", json);
    cr_assert_null(m);
    cr_assert_str_eq(e.path, path);
    cr_assert(strstr(e.message, msg), "got '%s', want '%s'", e.message, msg);
}

Test(sim_model, default_model)
{
    ot_sim_model *m;
    ot_error e;
    cr_assert_eq(ot_sim_model_default(&m, &e), 0, "%s", e.message);
    cr_assert_eq(m->nkpis, 2);
    cr_assert_str_eq(m->kpis[0].name, "yield");
    cr_assert_geq(ot_sim_model_param_index(m, "base_yield"), 0);
    cr_assert_eq(m->params[ot_sim_model_param_index(m, "base_yield")].dist.p[0], 0.85);
    cr_assert_not(m->objective.present);
    ot_sim_model_free(m);
}

Test(sim_model, errors_name_path_expression_and_position)
{
    expect_error("{\"parameters\":{\"t\":1},\"kpis\":{\"yield\":\"clipp(t,0,1)\"}}", OT_EINVAL,
                 "$.kpis.yield", "yield: unknown function 'clipp' at position 1");
    expect_error("{\"parameters\":{\"t\":1},\"kpis\":{\"yield\":\"t + u\"}}", OT_EINVAL,
                 "$.kpis.yield", "yield: unknown identifier 'u' at position 5");
    expect_error("{\"parameters\":{\"t\":{\"dist\":\"normal\",\"mean\":1}},\"kpis\":{\"k\":\"t\"}}",
                 OT_EINVAL, "$.parameters.t.std", "required");
    expect_error("{\"parameters\":{\"t\":1}}", OT_EINVAL, "$.kpis", "kpis: required");
    expect_error("{\"parameters\":{\"t\":1},\"kpis\":{\"t\":\"1\"}}", OT_EINVAL, "$.kpis.t",
                 "declared twice");
    expect_error("{\"parameters\":{\"min\":1},\"kpis\":{\"k\":\"1\"}}", OT_EINVAL,
                 "$.parameters.min", "reserved");
    expect_error("{\"parameters\":{\"a-b\":1},\"kpis\":{\"k\":\"1\"}}", OT_EINVAL,
                 "$.parameters.a-b", "not a valid name");
    expect_error("{\"kpis\":{\"a\":\"b + 1\",\"b\":\"a * 2\"}}", OT_EINVAL, "$.kpis.a",
                 "circular");
    expect_error("{\"kpis\":{\"a\":\"a\"}}", OT_EINVAL, "$.kpis.a", "circular");
    expect_error("{\"kpis\":{\"a\":\"1\"},\"objective\":{\"kpi\":\"b\"}}", OT_EINVAL,
                 "$.objective.kpi", "must name one of the model's KPIs");
    expect_error("{\"kpis\":{\"a\":\"1\"},\"objective\":{\"kpi\":\"a\",\"goal\":\"up\"}}",
                 OT_EINVAL, "$.objective.goal", "maximize");
    expect_error("{\"kpis\":{\"a\":\"1\"},\"extra\":1}", OT_EINVAL, "$.extra", "unknown field");
    expect_error("{\"kpis\":{\"a\":7}}", OT_EINVAL, "$.kpis.a", "expression string");
}

Test(sim_model, kpis_in_dependency_order_and_sites)
{
    ot_sim_model *m;
    ot_error e;
    cr_assert_eq(parse("{\"parameters\":{\"p\":{\"dist\":\"uniform\",\"low\":0,\"high\":1}},"
                       "\"kpis\":{\"total\":\"a + b\",\"a\":\"p * 2 + normal(0, 1)\","
                       "\"b\":\"a + uniform(0, 1)\"}}", &m, &e), 0, "%s", e.message);
    cr_assert_eq(m->nkpis, 3);
    cr_assert_str_eq(m->kpis[0].name, "total", "declaration order is kept");
    /* evaluation order: a, b, total */
    cr_assert_str_eq(m->kpis[m->order[0]].name, "a");
    cr_assert_str_eq(m->kpis[m->order[1]].name, "b");
    cr_assert_str_eq(m->kpis[m->order[2]].name, "total");
    cr_assert_eq(m->nsites, 1 + 2, "one parameter site, two draws in KPIs");
    ot_sim_model_free(m);
}

Test(sim_model, json_round_trip)
{
    ot_sim_model *m, *m2;
    ot_error e;
    const char *doc =
        "{\"parameters\":{\"temperature\":{\"dist\":\"normal\",\"mean\":25,\"std\":2},"
        "\"load\":{\"dist\":\"telemetry\",\"asset_id\":\"press_2\",\"metric\":\"load_pct\","
        "\"std\":1.5},\"coolant\":{\"dist\":\"setpoint\",\"key\":\"chiller_1.setpoint\","
        "\"default\":20}},\"kpis\":{\"yield\":\"clip(0.85 - 0.01*(temperature-25), 0, 1)\"},"
        "\"objective\":{\"kpi\":\"yield\",\"goal\":\"maximize\",\"target\":0.8}}";
    cr_assert_eq(parse(doc, &m, &e), 0, "%s", e.message);
    json_t *j = ot_sim_model_to_json(m);
    cr_assert_not_null(j);
    cr_assert_eq(ot_sim_model_parse(j, "$", &m2, &e), 0, "%s", e.message);
    json_t *j2 = ot_sim_model_to_json(m2);
    cr_assert(json_equal(j, j2));
    cr_assert_eq(m2->objective.target, 0.8);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "kpis"), "yield")),
                     "clip(0.85 - 0.01*(temperature-25), 0, 1)");
    json_decref(j);
    json_decref(j2);
    ot_sim_model_free(m);
    ot_sim_model_free(m2);
}

/* A fake store: load_pct = 71.5 on press_2; no set-points at all. */
static int fake_telemetry(void *ctx, const char *twin, const char *asset, const char *metric,
                          double *v)
{
    (*(int *)ctx)++;
    if (!strcmp(twin, "t1") && !strcmp(asset, "press_2") && !strcmp(metric, "load_pct")) {
        *v = 71.5;
        return 0;
    }
    return OT_ENOTFOUND;
}

static int fake_setpoint(void *ctx, const char *twin, const char *key, double *v)
{
    (void)ctx, (void)twin, (void)key, (void)v;
    return OT_ENOTFOUND;
}

Test(sim_model, bind_telemetry_setpoint_and_overrides)
{
    ot_sim_model *m;
    ot_error e;
    cr_assert_eq(parse("{\"parameters\":{\"load\":{\"dist\":\"telemetry\",\"asset_id\":\"press_2\","
                       "\"metric\":\"load_pct\",\"std\":1.5},\"coolant\":{\"dist\":\"setpoint\","
                       "\"key\":\"chiller_1.setpoint\",\"default\":20},\"k\":0.5},"
                       "\"kpis\":{\"y\":\"load * k - coolant\"}}", &m, &e), 0, "%s", e.message);
    int calls = 0;
    ot_sim_lookup lk = {fake_telemetry, fake_setpoint, &calls};
    ot_dist out[3];
    ot_sim_override ov = {.name = "k", .dist = ot_dist_constant(2)};
    cr_assert_eq(ot_sim_model_bind(m, &ov, 1, &lk, "t1", out, &e), 0, "%s", e.message);
    cr_assert_eq(calls, 1);
    cr_assert_eq(out[0].kind, OT_DIST_NORMAL);
    cr_assert(out[0].p[0] == 71.5 && out[0].p[1] == 1.5);
    cr_assert_eq(out[1].kind, OT_DIST_CONSTANT);
    cr_assert_eq(out[1].p[0], 20, "set-point falls back to its default");
    cr_assert_eq(out[2].p[0], 2, "override replaces the constant");

    cr_assert_eq(ot_sim_model_bind(m, NULL, 0, &lk, "other_twin", out, &e), OT_ECONFLICT);
    cr_assert_str_eq(e.path, "$.parameters.load");
    cr_assert(strstr(e.message, "no telemetry yet for press_2/load_pct"), "%s", e.message);

    ot_sim_override bad = {.name = "nope", .dist = ot_dist_constant(1)};
    cr_assert_eq(ot_sim_model_bind(m, &bad, 1, &lk, "t1", out, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.nope");
    cr_assert(strstr(e.message, "it has: load, coolant, k"), "%s", e.message);
    ot_sim_model_free(m);
}
