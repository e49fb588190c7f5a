/* test_policy_action.c - action.v1 parsing: per-type params, paths in
 * errors, the set-point key and to_json round trips. */
#include <criterion/criterion.h>
#include <string.h>

#include "policy/action.h"

/* Parse text at base; returns the code and leaves err filled. */
static int parse(const char *text, const char *base, ot_action *a, ot_error *err)
{
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert(doc, "bad test JSON: %s", text);
    int rc = ot_action_parse(doc, base, a, err);
    json_decref(doc);
    return rc;
}

static void expect_error(const char *text, const char *path, const char *needle)
{
    ot_action a;
    ot_error err;
    ot_error_clear(&err);
    int rc = parse(text, "$.recommended_action", &a, &err);
    cr_assert_eq(rc, OT_EINVAL, "%s: accepted", text);
    cr_assert_str_eq(err.path, path, "%s: path %s", text, err.path);
    cr_assert(strstr(err.message, needle), "%s: message '%s' lacks '%s'", text, err.message, needle);
    cr_assert_null(a.params);
}

Test(policy_action, set_parameter_and_setpoint_key)
{
    ot_action a;
    ot_error err;
    char key[OT_SETPOINT_KEY_MAX];
    cr_assert_eq(parse("{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":"
                       "\"setpoint\",\"value\":18.5,\"unit\":\"C\"}}", "$", &a, &err), 0, "%s",
                 err.message);
    cr_assert_eq(a.type, OT_ACTION_SET_PARAMETER);
    cr_assert_str_eq(a.name, "setpoint");
    cr_assert_float_eq(a.value, 18.5, 1e-12);
    cr_assert_not(a.emergency);
    cr_assert_eq(ot_action_setpoint_key(&a, key, sizeof key), 0);
    cr_assert_str_eq(key, "chiller_1.setpoint");
    json_t *j = ot_action_to_json(&a);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "params"), "unit")), "C");
    cr_assert_null(json_object_get(j, "emergency"));
    json_decref(j);
    ot_action_free(&a);
    ot_action_free(&a); /* idempotent */
}

Test(policy_action, param_errors_name_the_path)
{
    expect_error("{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"sp\",\"value\":\"18\"}}",
                 "$.recommended_action.params.value", "must be a number");
    expect_error("{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"sp\"}}",
                 "$.recommended_action.params.value", "required");
    expect_error("{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"value\":1}}",
                 "$.recommended_action.params.name", "required");
    expect_error("{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"-x\",\"value\":1}}",
                 "$.recommended_action.params.name", "parameter name");
    expect_error("{\"type\":\"set_parameter\",\"target\":\"c\"}", "$.recommended_action.params",
                 "required");
    expect_error("{\"type\":\"scale\",\"target\":\"web\",\"params\":{\"replicas\":-1}}",
                 "$.recommended_action.params.replicas", "integer >= 0");
    expect_error("{\"type\":\"scale\",\"target\":\"web\",\"params\":{\"replicas\":2.5}}",
                 "$.recommended_action.params.replicas", "integer >= 0");
    expect_error("{\"type\":\"scale\",\"target\":\"web\",\"params\":{}}",
                 "$.recommended_action.params.replicas", "required");
    expect_error("{\"type\":\"deploy\",\"target\":\"web\",\"params\":{\"version\":\"\"}}",
                 "$.recommended_action.params.version", "non-empty");
    expect_error("{\"type\":\"rollback\",\"target\":\"web\",\"params\":{\"action_id\":\"act_1\"}}",
                 "$.recommended_action.params.action_id", "ULID");
    expect_error("{\"type\":\"shutdown\",\"target\":\"web\",\"params\":{\"reason\":5}}",
                 "$.recommended_action.params.reason", "string");
    expect_error("{\"type\":\"explode\",\"target\":\"web\"}", "$.recommended_action.type", "one of");
    expect_error("{\"target\":\"web\"}", "$.recommended_action.type", "required");
    expect_error("{\"type\":\"restart\"}", "$.recommended_action.target", "required");
    expect_error("{\"type\":\"restart\",\"target\":\"bad target\"}", "$.recommended_action.target",
                 "characters");
    expect_error("{\"type\":\"restart\",\"target\":\"t\",\"params\":[]}", "$.recommended_action.params",
                 "object");
    expect_error("{\"type\":\"restart\",\"target\":\"t\",\"emergency\":\"yes\"}",
                 "$.recommended_action.emergency", "true or false");
    expect_error("{\"type\":\"restart\",\"target\":\"t\",\"status\":\"done\"}",
                 "$.recommended_action.status", "one of");
    expect_error("[1]", "$.recommended_action", "action object");
}

Test(policy_action, other_types)
{
    ot_action a;
    ot_error err;
    char key[OT_SETPOINT_KEY_MAX];
    cr_assert_eq(parse("{\"type\":\"scale\",\"target\":\"web\",\"params\":{\"replicas\":3.0}}", NULL,
                       &a, &err), 0, "%s", err.message);
    cr_assert_eq(a.replicas, 3);
    cr_assert_eq(ot_action_setpoint_key(&a, key, sizeof key), OT_EINVAL);
    ot_action_free(&a);
    cr_assert_eq(parse("{\"type\":\"restart\",\"target\":\"press_2\"}", NULL, &a, &err), 0);
    cr_assert(json_is_object(a.params) && json_object_size(a.params) == 0);
    ot_action_free(&a);
    cr_assert_eq(parse("{\"type\":\"shutdown\",\"target\":\"line\",\"emergency\":true}", NULL, &a,
                       &err), 0);
    cr_assert(a.emergency);
    json_t *j = ot_action_to_json(&a);
    cr_assert(json_is_true(json_object_get(j, "emergency")));
    json_decref(j);
    ot_action_free(&a);
    cr_assert_eq(parse("{\"type\":\"rollback\",\"target\":\"c\",\"params\":{\"action_id\":"
                       "\"act_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\"}}", NULL, &a, &err), 0, "%s", err.message);
    ot_action_free(&a);
    cr_assert_eq(parse("{\"type\":\"deploy\",\"target\":\"api\",\"params\":{\"version\":\"1.2.3\"},"
                       "\"twin_id\":\"t\",\"status\":\"pending\",\"x-extra\":1}", NULL, &a, &err), 0,
                 "%s", err.message);
    ot_action_free(&a);
}

Test(policy_action, names_and_copy)
{
    for (int t = 0; t < OT_ACTION_NTYPES; t++)
        cr_assert_eq(ot_action_type_from_name(ot_action_type_name(t)), t);
    cr_assert_eq(ot_action_type_from_name("Restart"), -1);
    cr_assert_null(ot_action_type_name(OT_ACTION_NTYPES));
    ot_action a, b;
    ot_error err;
    cr_assert_eq(parse("{\"type\":\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"sp\","
                       "\"value\":1}}", NULL, &a, &err), 0);
    cr_assert_eq(ot_action_copy(&b, &a, &err), 0);
    cr_assert_neq(a.params, b.params);
    ot_action_free(&a);
    cr_assert_float_eq(json_number_value(json_object_get(b.params, "value")), 1, 0);
    ot_action_free(&b);
}
