/* test_policy_proposal.c - proposal.v1 validation, creation and the
 * approval state machine: transitions, conflicts, expiry, self-approval. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/ids.h"
#include "policy/proposal.h"

#define T0 1767530096000000LL /* 2026-01-04T12:34:56Z */
#define HOUR 3600000000LL
#define BODY                                                                                       \
    "{\"twin_id\":\"plant-1\",\"summary\":\"cool the press\",\"evidence\":[{\"anomaly\":\"x\"}]," \
    "\"recommended_action\":{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":"    \
    "{\"name\":\"setpoint\",\"value\":18}},\"confidence\":0.8,\"votes\":[{\"agent_id\":\"a2\","  \
    "\"recommendation\":\"approve\"}],\"sim_id\":\"sim_01J9Z3K5V1X2Y3Z4A5B6C7D8E9\"}"

static json_t *create(void)
{
    json_t *body = json_loads(BODY, 0, NULL), *doc = NULL;
    ot_error err;
    cr_assert(body);
    cr_assert_eq(ot_proposal_create(body, "agent-1", T0, 0, &doc, &err), 0, "%s", err.message);
    json_decref(body);
    return doc;
}

static const char *str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static void expect_invalid(const char *text, const char *path)
{
    ot_error err;
    json_t *body = json_loads(text, 0, NULL), *doc = (json_t *)1;
    cr_assert(body, "bad test JSON %s", text);
    cr_assert_eq(ot_proposal_create(body, "agent-1", T0, 0, &doc, &err), OT_EINVAL, "%s: accepted", text);
    cr_assert_null(doc);
    cr_assert_str_eq(err.path, path, "%s: %s (%s)", text, err.path, err.message);
    json_decref(body);
}

Test(policy_proposal, create)
{
    json_t *doc = create();
    cr_assert(ot_id_valid(str(doc, "proposal_id"), "prop"));
    cr_assert_str_eq(str(doc, "status"), "pending");
    cr_assert_eq(ot_proposal_status_of(doc), OT_PROPOSAL_PENDING);
    cr_assert_str_eq(str(doc, "proposed_by"), "agent-1");
    cr_assert_str_eq(str(doc, "created_at"), "2026-01-04T12:34:56.000000Z");
    cr_assert_str_eq(str(doc, "expires_at"), "2026-01-05T12:34:56.000000Z");
    cr_assert_str_eq(str(doc, "summary"), "cool the press");
    ot_action a;
    ot_error err;
    cr_assert_eq(ot_proposal_action(doc, &a, &err), 0);
    cr_assert_float_eq(a.value, 18, 0);
    ot_action_free(&a);
    cr_assert_eq(ot_proposal_validate(doc, &err), 0, "%s", err.message);
    json_decref(doc);
}

Test(policy_proposal, body_errors)
{
    expect_invalid("{\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\",\"target\":\"c\"}}",
                   "$.twin_id");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"}}", "$.summary");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\"}", "$.recommended_action");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":"
                   "\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"sp\",\"value\":\"x\"}}}",
                   "$.recommended_action.params.value");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"},\"confidence\":1.2}", "$.confidence");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"},\"votes\":[{\"agent_id\":\"a\",\"recommendation\":\"\"}]}",
                   "$.votes[0].recommendation");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"},\"votes\":[{\"recommendation\":\"yes\"}]}", "$.votes[0].agent_id");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"},\"evidence\":{}}", "$.evidence");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"},\"anomaly_id\":\"ano_x\"}", "$.anomaly_id");
    expect_invalid("{\"twin_id\":\"t\",\"summary\":\"s\",\"recommended_action\":{\"type\":\"restart\","
                   "\"target\":\"c\"},\"status\":\"approved\"}", "$.status");
    expect_invalid("[]", "$");
}

Test(policy_proposal, approve)
{
    json_t *doc = create(), *out = NULL;
    ot_error err;
    cr_assert_eq(ot_proposal_approve(doc, "supervisor-1", NULL, T0 + HOUR, &out, &err), 0, "%s",
                 err.message);
    cr_assert_str_eq(str(out, "status"), "approved");
    cr_assert_str_eq(str(out, "decided_by"), "supervisor-1");
    cr_assert_str_eq(str(out, "decided_at"), "2026-01-04T13:34:56.000000Z");
    cr_assert(json_equal(json_object_get(out, "approved_action"),
                         json_object_get(doc, "recommended_action")));
    cr_assert_str_eq(str(doc, "status"), "pending", "the input must not change");
    /* Deciding again is a conflict, whichever way. */
    json_t *again = NULL;
    cr_assert_eq(ot_proposal_approve(out, "supervisor-2", NULL, T0 + HOUR, &again, &err), OT_ECONFLICT);
    cr_assert_str_eq(err.message, "proposal is already approved");
    cr_assert_null(again);
    cr_assert_eq(ot_proposal_reject(out, "supervisor-2", "no", T0 + HOUR, &again, &err), OT_ECONFLICT);
    cr_assert_eq(ot_proposal_expire(out, T0 + 48 * HOUR, &again, &err), OT_ECONFLICT);
    /* approved, with its action recorded once; the status stays approved */
    cr_assert_eq(ot_proposal_mark_executed(out, "act_01J9Z3K5V1X2Y3Z4A5B6C7D8E9", &again, &err), 0);
    cr_assert_str_eq(str(again, "status"), "approved");
    cr_assert_str_eq(str(again, "action_id"), "act_01J9Z3K5V1X2Y3Z4A5B6C7D8E9");
    json_t *twice = NULL;
    cr_assert_eq(ot_proposal_mark_executed(again, "act_01J9Z3K5V1X2Y3Z4A5B6C7D8E9", &twice, &err),
                 OT_ECONFLICT);
    cr_assert_eq(ot_proposal_mark_executed(doc, "act_01J9Z3K5V1X2Y3Z4A5B6C7D8E9", &twice, &err),
                 OT_ECONFLICT);
    cr_assert_eq(ot_proposal_mark_executed(out, "act_nope", &twice, &err), OT_EINVAL);
    json_decref(again);
    json_decref(out);
    json_decref(doc);
}

Test(policy_proposal, approve_modified)
{
    json_t *doc = create(), *out = NULL;
    ot_error err;
    json_t *same = json_loads("{\"value\":18}", 0, NULL);
    cr_assert_eq(ot_proposal_approve(doc, "sup", same, T0, &out, &err), 0);
    cr_assert_str_eq(str(out, "status"), "approved", "unchanged params are a plain approval");
    json_decref(out);
    json_t *mod = json_loads("{\"value\":20}", 0, NULL);
    cr_assert_eq(ot_proposal_approve(doc, "sup", mod, T0, &out, &err), 0, "%s", err.message);
    cr_assert_str_eq(str(out, "status"), "modified");
    json_t *p = json_object_get(json_object_get(out, "approved_action"), "params");
    cr_assert_float_eq(json_number_value(json_object_get(p, "value")), 20, 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "name")), "setpoint");
    ot_action a;
    cr_assert_eq(ot_proposal_action(out, &a, &err), 0);
    cr_assert_float_eq(a.value, 20, 0, "the approved action is what runs");
    ot_action_free(&a);
    cr_assert_eq(ot_proposal_validate(out, &err), 0, "%s", err.message);
    json_decref(out);
    json_t *bad = json_loads("{\"value\":\"warm\"}", 0, NULL);
    cr_assert_eq(ot_proposal_approve(doc, "sup", bad, T0, &out, &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$.params.value");
    json_t *notobj = json_loads("[1]", 0, NULL);
    cr_assert_eq(ot_proposal_approve(doc, "sup", notobj, T0, &out, &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$.params");
    json_decref(same);
    json_decref(mod);
    json_decref(bad);
    json_decref(notobj);
    json_decref(doc);
}

Test(policy_proposal, self_approval_forbidden)
{
    json_t *doc = create(), *out = NULL;
    ot_error err;
    cr_assert_eq(ot_proposal_approve(doc, "agent-1", NULL, T0, &out, &err), OT_EFORBIDDEN);
    cr_assert_null(out);
    cr_assert(strstr(err.message, "cannot approve its own proposal"));
    /* The proposer may withdraw it. */
    cr_assert_eq(ot_proposal_reject(doc, "agent-1", "withdrawn", T0, &out, &err), 0);
    json_decref(out);
    cr_assert_eq(ot_proposal_approve(doc, "", NULL, T0, &out, &err), OT_EINVAL);
    json_decref(doc);
}

Test(policy_proposal, reject_needs_reason)
{
    json_t *doc = create(), *out = NULL;
    ot_error err;
    cr_assert_eq(ot_proposal_reject(doc, "sup", NULL, T0, &out, &err), OT_EINVAL);
    cr_assert_str_eq(err.path, "$.reason");
    cr_assert_eq(ot_proposal_reject(doc, "sup", "  \t", T0, &out, &err), OT_EINVAL);
    cr_assert_eq(ot_proposal_reject(doc, "sup", "too risky at night", T0, &out, &err), 0);
    cr_assert_str_eq(str(out, "status"), "rejected");
    cr_assert_str_eq(str(out, "reason"), "too risky at night");
    json_t *again = NULL;
    cr_assert_eq(ot_proposal_approve(out, "sup2", NULL, T0, &again, &err), OT_ECONFLICT);
    cr_assert_str_eq(err.message, "proposal is already rejected");
    json_decref(out);
    json_decref(doc);
}

Test(policy_proposal, expiry)
{
    json_t *doc = create(), *out = NULL;
    ot_error err;
    int64_t due = T0 + 24 * HOUR;
    cr_assert_not(ot_proposal_is_expired(doc, due - 1));
    cr_assert(ot_proposal_is_expired(doc, due));
    cr_assert_eq(ot_proposal_expire(doc, due - 1, &out, &err), OT_ECONFLICT);
    cr_assert_eq(ot_proposal_approve(doc, "sup", NULL, due, &out, &err), OT_ECONFLICT);
    cr_assert(strstr(err.message, "expired at 2026-01-05T12:34:56"), "%s", err.message);
    cr_assert_eq(ot_proposal_reject(doc, "sup", "late", due, &out, &err), OT_ECONFLICT);
    cr_assert_eq(ot_proposal_expire(doc, due, &out, &err), 0);
    cr_assert_str_eq(str(out, "status"), "expired");
    cr_assert_not(ot_proposal_is_expired(out, due), "only pending proposals expire");
    json_t *again = NULL;
    cr_assert_eq(ot_proposal_approve(out, "sup", NULL, T0, &again, &err), OT_ECONFLICT);
    cr_assert_str_eq(err.message, "proposal is already expired");
    json_decref(out);
    /* A custom ttl. */
    json_t *body = json_loads(BODY, 0, NULL);
    cr_assert_eq(ot_proposal_create(body, "a", T0, HOUR, &out, &err), 0);
    cr_assert_str_eq(str(out, "expires_at"), "2026-01-04T13:34:56.000000Z");
    json_decref(out);
    json_decref(body);
    json_decref(doc);
}
