/* test_builtin_schemas.c - every built-in schema compiles (from the embedded
 * copy, by $id) and accepts the documents of DESIGN.md section 6 while
 * rejecting broken ones. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema.h"
#include "aiw/registry.h"
#include "store/store.h"

static const char *const names[] = {"telemetry.v1", "anomaly.v1", "policy.v1", "proposal.v1", "action.v1",
                                    "sim.v1", "decision.v1", "event.v1", "twin_model.v1"};

/* Validate text against built-in name with format assertion on. */
static int valid(const char *name, const char *text)
{
    char uri[128];
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    cr_assert_eq(ot_jsonschema_set_add_builtins(set, &err), 0, "%s", err.message);
    snprintf(uri, sizeof uri, "https://opstwin.dev/schemas/%s.json", name);
    ot_jsonschema *s = ot_jsonschema_compile_uri(set, uri, OT_JSONSCHEMA_FORMAT_ASSERT, &err);
    cr_assert(s, "%s: %s", name, err.message);
    json_t *inst = json_loads(text, 0, NULL);
    cr_assert(inst, "bad test JSON %s", text);
    int r = ot_jsonschema_validate(s, inst, NULL);
    json_decref(inst);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    return r;
}

Test(builtin_schemas, all_compile_and_carry_ids)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    cr_assert_eq(ot_jsonschema_set_add_builtins(set, &err), 0);
    json_t *meta = json_pack("{s:s}", "$ref", "https://json-schema.org/draft/2020-12/schema");
    ot_jsonschema *ms = ot_jsonschema_compile(set, meta, NULL, 0, &err);
    cr_assert(ms);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char uri[128];
        snprintf(uri, sizeof uri, "https://opstwin.dev/schemas/%s.json", names[i]);
        ot_jsonschema *s = ot_jsonschema_compile_uri(set, uri, OT_JSONSCHEMA_FORMAT_ASSERT, &err);
        cr_assert(s, "%s: %s", names[i], err.message);
        ot_jsonschema_free(s);
    }
    json_decref(meta);
    ot_jsonschema_free(ms);
    ot_jsonschema_set_free(set);
}

Test(builtin_schemas, telemetry)
{
    cr_assert(valid("telemetry.v1", "{\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\",\"metrics\":{\"temp_c\":71.5,"
                                    "\"load_pct\":80},\"tags\":{\"line\":\"A\"},\"ts\":\"2026-01-04T12:34:56.123456Z\","
                                    "\"event_id\":\"e-1\"}"));
    cr_assert(valid("telemetry.v1", "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"x\":1}}"));
    cr_assert_not(valid("telemetry.v1", "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{}}"));
    cr_assert_not(valid("telemetry.v1", "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"x\":\"hot\"}}"));
    cr_assert_not(valid("telemetry.v1", "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"x\":1},\"ts\":\"yesterday\"}"));
    cr_assert_not(valid("telemetry.v1", "{\"twin_id\":\"bad id\",\"asset_id\":\"a\",\"metrics\":{\"x\":1}}"));
    cr_assert_not(valid("telemetry.v1", "{\"asset_id\":\"a\",\"metrics\":{\"x\":1}}"));
    cr_assert_not(valid("telemetry.v1", "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"x\":1},\"tags\":{\"k\":1}}"));
}

Test(builtin_schemas, anomaly_and_event)
{
    const char *ano = "{\"anomaly_id\":\"ano_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\",\"twin_id\":\"t\",\"asset_id\":\"a\","
                      "\"metric\":\"temp_c\",\"ts\":\"2026-01-04T12:34:56.123456Z\",\"score\":0.97,\"kind\":\"spike\","
                      "\"severity\":\"critical\",\"features\":{\"z_score\":5.2},\"recommended_next\":\"sim_run\"}";
    cr_assert(valid("anomaly.v1", ano));
    cr_assert_not(valid("anomaly.v1", "{\"anomaly_id\":\"tel_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\",\"twin_id\":\"t\","
                                      "\"asset_id\":\"a\",\"metric\":\"m\",\"ts\":\"2026-01-04T12:34:56Z\",\"score\":1.5,"
                                      "\"kind\":\"weird\",\"severity\":\"low\"}"));
    cr_assert(valid("event.v1", "{\"type\":\"AnomalyDetected\",\"ts\":\"2026-01-04T12:34:56.123456Z\",\"twin_id\":\"t\","
                                "\"id\":\"ano_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\",\"cursor\":\"cursor_000123\","
                                "\"data_ref\":{\"type\":\"anomaly\",\"id\":\"ano_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\"}}"));
    cr_assert_not(valid("event.v1", "{\"type\":\"AnomalyDetected\",\"ts\":\"2026-01-04T12:34:56Z\",\"id\":\"x\","
                                    "\"cursor\":\"cursor_12\",\"data_ref\":{\"type\":\"anomaly\",\"id\":\"x\"}}"));
    cr_assert_not(valid("event.v1", "{\"type\":\"Nope\",\"ts\":\"2026-01-04T12:34:56Z\",\"id\":\"x\","
                                    "\"cursor\":\"cursor_000012\",\"data_ref\":{\"type\":\"anomaly\",\"id\":\"x\"}}"));
}

Test(builtin_schemas, policy_action_proposal_decision)
{
    const char *pol = "{\"thresholds\":{\"auto_execute\":0.9,\"require_approval\":0.7},\"safety\":{\"forbid\":[\"deploy\"],"
                      "\"limits\":{\"chiller_1.setpoint\":{\"min\":10,\"max\":30}},\"max_actions_per_hour\":20},"
                      "\"rules\":[{\"when\":{\"metric\":\"temp_c\",\"kind\":[\"spike\",\"outlier\"],\"min_severity\":\"high\"},"
                      "\"action\":{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\","
                      "\"value\":18}},\"executor\":\"state\"}]}";
    cr_assert(valid("policy.v1", pol));
    cr_assert_not(valid("policy.v1", "{\"thresholds\":{\"auto_execute\":1.5}}"));
    cr_assert_not(valid("policy.v1", "{\"safety\":{\"forbid\":[\"explode\"]}}"));
    cr_assert_not(valid("policy.v1", "{\"rules\":[{\"when\":{\"metric\":\"m\"},\"action\":{\"type\":\"scale\",\"target\":\"x\"}}]}"));
    cr_assert(valid("action.v1", "{\"type\":\"scale\",\"target\":\"web\",\"params\":{\"replicas\":3}}"));
    cr_assert_not(valid("action.v1", "{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"value\":18}}"));
    cr_assert(valid("proposal.v1", "{\"twin_id\":\"t\",\"summary\":\"cool down\",\"evidence\":[{\"anomaly\":\"x\"}],"
                                   "\"recommended_action\":{\"type\":\"restart\",\"target\":\"press_2\"},\"confidence\":0.8,"
                                   "\"votes\":[{\"agent_id\":\"a1\",\"recommendation\":\"approve\"}]}"));
    cr_assert_not(valid("proposal.v1", "{\"twin_id\":\"t\",\"summary\":\"\",\"recommended_action\":{\"type\":\"restart\"}}"));
    cr_assert(valid("decision.v1", "{\"decision\":\"require_approval\",\"confidence\":0.74,\"reasoning\":\"between thresholds\"}"));
    cr_assert_not(valid("decision.v1", "{\"decision\":\"maybe\",\"confidence\":0.74,\"reasoning\":\"x\"}"));
}

Test(builtin_schemas, sim_and_twin_model)
{
    cr_assert(valid("sim.v1", "{\"sim_id\":\"sim_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\",\"twin_id\":\"t\",\"engine\":\"classical\","
                              "\"status\":\"completed\",\"kpi_distribution\":{\"yield\":{\"mean\":0.8,\"std\":0.05,\"p5\":0.7,"
                              "\"p25\":0.77,\"p50\":0.8,\"p75\":0.83,\"p95\":0.88,\"p99\":0.9}},\"uncertainty\":{\"yield\":0.05},"
                              "\"converged\":true,\"recommended\":{\"action\":\"monitor\",\"confidence\":0.9,\"reasoning\":\"ok\"},"
                              "\"execution_time_ms\":12.5,\"timestamp\":\"2026-01-04T12:34:56.123456Z\"}"));
    cr_assert_not(valid("sim.v1", "{\"sim_id\":\"sim_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\",\"twin_id\":\"t\",\"engine\":\"analog\","
                                  "\"status\":\"completed\",\"kpi_distribution\":{},\"uncertainty\":{},\"converged\":true,"
                                  "\"execution_time_ms\":1,\"timestamp\":\"2026-01-04T12:34:56Z\"}"));
    const char *model = "{\"parameters\":{\"temperature\":{\"dist\":\"normal\",\"mean\":25,\"std\":2},"
                        "\"pressure\":{\"dist\":\"uniform\",\"low\":0.9,\"high\":1.1},"
                        "\"load\":{\"dist\":\"telemetry\",\"asset_id\":\"press_2\",\"metric\":\"load_pct\",\"std\":1.5},"
                        "\"coolant\":{\"dist\":\"setpoint\",\"key\":\"chiller_1.setpoint\",\"default\":20}},"
                        "\"kpis\":{\"yield\":\"clip(0.85 - 0.01*(temperature-25), 0, 1)\"},"
                        "\"objective\":{\"kpi\":\"yield\",\"goal\":\"maximize\",\"target\":0.8}}";
    cr_assert(valid("twin_model.v1", model));
    cr_assert_not(valid("twin_model.v1", "{\"parameters\":{\"t\":{\"dist\":\"normal\",\"mean\":1}},\"kpis\":{\"k\":\"t\"}}"));
    cr_assert_not(valid("twin_model.v1", "{\"parameters\":{\"t\":{\"dist\":\"cauchy\"}},\"kpis\":{\"k\":\"t\"}}"));
}

/* The ingest check against the registry's telemetry.v1: a valid record
 * passes; an invalid one fails with its first error's path under the
 * item's prefix (checked twice: once fast, once for the error). */
Test(builtin_schemas, the_registry_checks_telemetry_and_names_the_field)
{
    char dir[] = "/tmp/opstwin-reg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    ot_store_options o = {.data_dir = dir, .queue_limit = 16, .read_connections = 1};
    ot_store *st;
    ot_registry *r;
    ot_error err;
    cr_assert_eq(ot_store_open(&o, &st, &err), 0, "%s", err.message);
    cr_assert_eq(ot_registry_open(st, &r, &err), 0, "%s", err.message);
    json_t *ok = json_loads("{\"twin_id\":\"plant1\",\"asset_id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\","
                            "\"metrics\":{\"t\":1.5}}", 0, NULL);
    json_t *bad = json_loads("{\"twin_id\":\"plant1\",\"asset_id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\","
                             "\"metrics\":{\"t\":\"warm\"}}", 0, NULL);
    cr_assert_eq(ot_registry_check_telemetry(r, ok, "$[0]", &err), 0, "%s", err.message);
    cr_assert_eq(ot_registry_check_telemetry(r, bad, "$[3]", &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$[3].metrics.t");
    cr_assert(strstr(err.message, "telemetry.v1"), "%s", err.message);
    cr_assert(!strstr(err.message, "$[3]"), "the reply adds the path: %s", err.message);
    /* array items by index, keys that are not tokens quoted, and a key
     * that looks like an index stays a key */
    static const char *const cases[][2] = {
        {"\"quality\":{\"missing_rate\":0,\"client\":{\"flags\":[\"a\",7]}}",
         "$[3].quality.client"}, /* anyOf: the alternatives' common place */
        {"\"quality\":{\"flags\":[\"a\",\"b\",null]}", "$[3].quality.flags[2]"},
        {"\"tags\":{\"0\":1}", "$[3].tags.0"},
        {"\"tags\":{\"a/b~c\":[]}", "$[3].tags[\"a/b~c\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"twin_id\":\"plant1\",\"asset_id\":\"a\","
                 "\"metrics\":{\"t\":1},%s}", cases[i][0]);
        json_t *rec = json_loads(text, 0, NULL);
        cr_assert_not_null(rec, "%s", text);
        cr_assert_eq(ot_registry_check_telemetry(r, rec, "$[3]", &err), OT_EINVAL, "%s", text);
        cr_assert_str_eq(err.path, cases[i][1], "%s", err.message);
        json_decref(rec);
    }
    json_decref(ok);
    json_decref(bad);
    ot_registry_free(r);
    ot_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
