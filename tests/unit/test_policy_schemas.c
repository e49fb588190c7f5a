/* test_policy_schemas.c - what the policy engine emits validates against its
 * built-in schema (decision.v1, proposal.v1, action.v1, policy.v1), and its
 * parsers accept exactly what those schemas accept (a corpus of documents
 * judged by both). */
#include <criterion/criterion.h>
#include <string.h>

#include "aiw/jsonschema.h"
#include "policy/decision.h"
#include "policy/proposal.h"

#define T0 1767530096000000LL

static ot_schema_set *set;
static ot_jsonschema *schemas[4];
enum { DECISION, PROPOSAL, ACTION, POLICY };

static void setup(void)
{
    static const char *const names[] = {"decision", "proposal", "action", "policy"};
    ot_error err;
    set = ot_jsonschema_set_new();
    cr_assert_eq(ot_jsonschema_set_add_builtins(set, &err), 0, "%s", err.message);
    for (int i = 0; i < 4; i++) {
        char uri[96];
        snprintf(uri, sizeof uri, "https://opstwin.dev/schemas/%s.v1.json", names[i]);
        schemas[i] = ot_jsonschema_compile_uri(set, uri, OT_JSONSCHEMA_FORMAT_ASSERT, &err);
        cr_assert(schemas[i], "%s: %s", names[i], err.message);
    }
}

static void teardown(void)
{
    for (int i = 0; i < 4; i++)
        ot_jsonschema_free(schemas[i]);
    ot_jsonschema_set_free(set);
}

/* Assert doc validates against schema s (and decref it). */
static void valid(int s, json_t *doc)
{
    json_t *errors = NULL;
    cr_assert(doc);
    int ok = ot_jsonschema_validate(schemas[s], doc, &errors);
    char *text = json_dumps(doc, JSON_COMPACT), *etext = json_dumps(errors, JSON_COMPACT);
    cr_assert_eq(ok, 1, "%s\n-> %s", text, etext);
    free(text);
    free(etext);
    json_decref(errors);
    json_decref(doc);
}

TestSuite(policy_schemas, .init = setup, .fini = teardown);

Test(policy_schemas, decisions_validate)
{
    static const char *const actions[] = {
        "{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\",\"value\":35}}",
        "{\"type\":\"shutdown\",\"target\":\"line\"}",
        "{\"type\":\"scale\",\"target\":\"web\",\"params\":{\"replicas\":0}}"};
    const char *ptext = "{\"safety\":{\"limits\":{\"chiller_1.setpoint\":{\"max\":30}}}}";
    json_t *pdoc = json_loads(ptext, 0, NULL);
    ot_policy *p = NULL;
    ot_error err;
    cr_assert_eq(ot_policy_parse(pdoc, &p, &err), 0);
    for (size_t i = 0; i < 3; i++) {
        json_t *adoc = json_loads(actions[i], 0, NULL);
        ot_action a;
        cr_assert_eq(ot_action_parse(adoc, "$", &a, &err), 0, "%s", err.message);
        for (double score = 0; score <= 1.0; score += 0.25) {
            ot_confidence c = {.score = score, .historical = 0.5, .data_quality = 1,
                               .simulation = score, .consensus = 0, .has_client_confidence = 1,
                               .client_confidence = 1};
            strcpy(c.reasoning, "test");
            ot_decision_input di = {.twin_id = "plant-1", .policy = i ? NULL : p, .action = &a,
                                    .confidence = &c, .actions_last_hour = (long long)i * 10,
                                    .now_us = T0, .proposal_id = "prop_01J9Z3K5V1X2Y3Z4A5B6C7D8E9",
                                    .anomaly_id = "ano_01J9Z3K5V1X2Y3Z4A5B6C7D8E9"};
            json_t *d = NULL;
            cr_assert_eq(ot_decide(&di, NULL, &d, &err), 0);
            valid(DECISION, d);
        }
        valid(ACTION, ot_action_to_json(&a));
        ot_action_free(&a);
        json_decref(adoc);
    }
    ot_policy_free(p);
    json_decref(pdoc);
}

Test(policy_schemas, proposals_validate)
{
    json_t *body = json_loads("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":"
                              "\"scale\",\"target\":\"web\",\"params\":{\"replicas\":2}},\"votes\":"
                              "[{\"agent_id\":\"b\",\"recommendation\":\"scale\"}]}", 0, NULL);
    json_t *doc, *out, *params = json_loads("{\"replicas\":4}", 0, NULL);
    ot_error err;
    cr_assert_eq(ot_proposal_create(body, "a", T0, 0, &doc, &err), 0);
    valid(PROPOSAL, json_incref(doc));
    cr_assert_eq(ot_proposal_approve(doc, "s", params, T0, &out, &err), 0);
    json_t *ex;
    cr_assert_eq(ot_proposal_mark_executed(out, "act_01J9Z3K5V1X2Y3Z4A5B6C7D8E9", &ex, &err), 0);
    valid(PROPOSAL, out);
    valid(PROPOSAL, ex);
    cr_assert_eq(ot_proposal_reject(doc, "s", "no", T0, &out, &err), 0);
    valid(PROPOSAL, out);
    cr_assert_eq(ot_proposal_expire(doc, T0 + 86400000000LL, &out, &err), 0);
    valid(PROPOSAL, out);
    json_decref(doc);
    json_decref(body);
    json_decref(params);
}

Test(policy_schemas, policies_validate)
{
    ot_policy *p = ot_policy_default();
    valid(POLICY, ot_policy_to_json(p));
    ot_policy_free(p);
    json_t *doc = json_loads(
        "{\"twin_id\":\"t\",\"version\":3,\"updated_at\":\"2026-01-04T12:34:56Z\",\"updated_by\":\"ops\","
        "\"safety\":{\"forbid\":[\"shutdown\",\"deploy\"],\"limits\":{\"a.b\":{\"min\":-1}}},\"rules\":"
        "[{\"name\":\"r\",\"when\":{\"kind\":\"spike\",\"min_score\":0.2},\"action\":{\"type\":\"restart\","
        "\"target\":\"c\",\"emergency\":true},\"executor\":\"webhook\",\"webhook\":{\"url\":"
        "\"http://h/x\"},\"scenario\":{\"name\":\"s\",\"set\":{\"k\":1.5}}}]}", 0, NULL);
    ot_error err;
    cr_assert_eq(ot_policy_parse(doc, &p, &err), 0, "%s", err.message);
    valid(POLICY, ot_policy_to_json(p));
    ot_policy_free(p);
    json_decref(doc);
}

/* --- Parsers agree with the schemas -------------------------------------------- */

static int parser_accepts(int s, const json_t *doc)
{
    ot_error err;
    if (s == ACTION) {
        ot_action a;
        int rc = ot_action_parse(doc, "$", &a, &err);
        ot_action_free(&a);
        return rc == 0;
    }
    if (s == POLICY) {
        ot_policy *p = NULL;
        int rc = ot_policy_parse(doc, &p, &err);
        ot_policy_free(p);
        return rc == 0;
    }
    return ot_proposal_validate(doc, &err) == 0;
}

static void agree(int s, const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert(doc, "bad test JSON %s", text);
    int schema = ot_jsonschema_validate(schemas[s], doc, NULL);
    cr_assert_eq(parser_accepts(s, doc), schema, "%s: schema says %s", text,
                 schema ? "valid" : "invalid");
    json_decref(doc);
}

#define RA "\"recommended_action\":{\"type\":\"restart\",\"target\":\"c\"}"

Test(policy_schemas, parsers_accept_exactly_the_schemas)
{
    static const char *const actions[] = {
        "{\"type\":\"restart\",\"target\":\"c\"}", "{\"type\":\"restart\"}", "{\"target\":\"c\"}",
        "{\"type\":\"restart\",\"target\":\"_c\"}", "{\"type\":\"restart\",\"target\":\"c\",\"x\":1}",
        "{\"type\":\"scale\",\"target\":\"w\",\"params\":{\"replicas\":2.0}}",
        "{\"type\":\"scale\",\"target\":\"w\",\"params\":{\"replicas\":\"2\"}}",
        "{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"_a/b\",\"value\":-0.5}}",
        "{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"/a\",\"value\":1}}",
        "{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"a\",\"value\":true}}",
        "{\"type\":\"deploy\",\"target\":\"c\",\"params\":{\"version\":\"v\"}}",
        "{\"type\":\"deploy\",\"target\":\"c\",\"params\":{}}",
        "{\"type\":\"rollback\",\"target\":\"c\",\"params\":{\"action_id\":\"act_01J9Z3K5V1X2Y3Z4A5B6C7D8EI\"}}",
        "{\"type\":\"rollback\",\"target\":\"c\",\"params\":{\"action_id\":\"act_ZZZZZZZZZZZZZZZZZZZZZZZZZZ\"}}",
        "{\"type\":\"shutdown\",\"target\":\"c\",\"params\":{\"reason\":\"fire\"}}",
        "{\"type\":\"shutdown\",\"target\":\"c\",\"emergency\":1}",
        "{\"type\":\"restart\",\"target\":\"c\",\"status\":\"cancelled\",\"executor\":\"mqtt\"}",
        "{\"type\":\"restart\",\"target\":\"c\",\"twin_id\":\"a b\"}"};
    static const char *const policies[] = {
        "{}", "{\"x\":1}", "{\"thresholds\":{\"auto_execute\":0,\"require_approval\":0}}",
        "{\"thresholds\":{\"require_analysis\":-0.1}}", "{\"safety\":{\"forbid\":[]}}",
        "{\"safety\":{\"forbid\":[\"restart\",\"restart\"]}}",
        "{\"safety\":{\"limits\":{\"a.b\":{\"min\":1}}}}", "{\"safety\":{\"limits\":{\"a.\":{\"min\":1}}}}",
        "{\"safety\":{\"limits\":{\".a.b\":{\"min\":1}}}}", "{\"safety\":{\"limits\":{\"a:b._c\":{\"max\":1}}}}",
        "{\"safety\":{\"limits\":{\"a-b.-c\":{\"max\":1}}}}", "{\"safety\":{\"limits\":{\"a.b\":{}}}}",
        "{\"safety\":{\"max_actions_per_hour\":5.0}}", "{\"rules\":[]}",
        "{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"}}]}",
        "{\"rules\":[{\"when\":{\"kind\":\"spike\"},\"action\":{\"type\":\"scale\",\"target\":\"c\"}}]}",
        "{\"rules\":[{\"when\":{\"kind\":[\"spike\",\"spike\"]},\"action\":{\"type\":\"restart\",\"target\":\"c\"}}]}",
        "{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},\"executor\":\"webhook\","
        "\"webhook\":{\"url\":\"https://a b\"}}]}",
        "{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},\"executor\":\"mqtt\"}]}",
        "{\"rules\":[{\"when\":{},\"action\":{\"type\":\"restart\",\"target\":\"c\"},\"scenario\":"
        "{\"name\":\"\",\"set\":{\"a\":1}}}]}",
        "{\"version\":-1}", "{\"updated_at\":\"2026-01-04 12:34:56\"}", "{\"updated_at\":\"2026-01-04T12:34:56+01:00\"}"};
    static const char *const proposals[] = {
        "{\"twin_id\":\"t\",\"summary\":\"s\"," RA "}", "{\"twin_id\":\"t\"," RA "}",
        "{\"twin_id\":\"t\",\"summary\":\"s\"," RA ",\"evidence\":[1,\"x\",null]}",
        "{\"twin_id\":\"t\",\"summary\":\"s\"," RA ",\"votes\":[{\"agent_id\":\"a\",\"recommendation\":\"y\","
        "\"confidence\":2}]}",
        "{\"twin_id\":\"t\",\"summary\":\"s\"," RA ",\"status\":\"modified\",\"approved_action\":{\"type\":\"restart\"}}",
        "{\"twin_id\":\"t\",\"summary\":\"s\"," RA ",\"expires_at\":\"tomorrow\"}",
        "{\"twin_id\":\"t\",\"summary\":\"s\"," RA ",\"decided_by\":7}",
        "{\"twin_id\":\"t\",\"summary\":\"\xc3\xa9\"," RA ",\"other\":{}}"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        agree(ACTION, actions[i]);
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
        agree(POLICY, policies[i]);
    for (size_t i = 0; i < sizeof proposals / sizeof proposals[0]; i++)
        agree(PROPOSAL, proposals[i]);
}
