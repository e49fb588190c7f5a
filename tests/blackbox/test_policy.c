/* Black-box tests of the policy engine, proposals, approvals and actions:
 * the loop anomaly -> rule -> simulation -> decision -> proposal ->
 * approval -> action -> rollback driven over HTTP, the decision rules,
 * the proposal state machine (including concurrent approvals and expiry),
 * and the action executors (state, webhook with its HMAC signature, mqtt)
 * with the hourly limit. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy_util.h" /* and harness.h */

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(policy_loop, .init = up, .fini = down, .timeout = 90);
TestSuite(policy_proposals, .init = up, .fini = down, .timeout = 60);
TestSuite(policy_actions, .init = up, .fini = down, .timeout = 60);

#define sget pu_str

/* coolant is the chiller's set-point; the yield gets better as it drops */
#define MODEL                                                                                    \
    "{\"parameters\":{\"coolant\":{\"dist\":\"setpoint\",\"key\":\"chiller_1.setpoint\","       \
    "\"default\":20}},\"kpis\":{\"yield\":\"clip(0.9 - 0.01*(coolant-15) + normal(0,0.01), 0, "  \
    "1)\"},\"objective\":{\"kpi\":\"yield\",\"goal\":\"maximize\"}}"

#define SETPOINT_18                                                                              \
    "{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\","    \
    "\"value\":18}}"

static char *policy_doc(double auto_execute, double require_approval)
{
    char *p = NULL;
    int rc = asprintf(
        &p,
        "{\"thresholds\":{\"auto_execute\":%g,\"require_approval\":%g},"
        "\"safety\":{\"forbid\":[\"deploy\"],\"limits\":{\"chiller_1.setpoint\":{\"min\":10,"
        "\"max\":30}},\"max_actions_per_hour\":20},"
        "\"rules\":[{\"name\":\"cool-down\",\"when\":{\"metric\":\"temp_c\",\"kind\":[\"spike\","
        "\"outlier\"],\"min_severity\":\"high\"},\"action\":" SETPOINT_18 ",\"executor\":\"state\","
        "\"scenario\":{\"name\":\"cooler\",\"set\":{\"coolant\":18}}}]}",
        auto_execute, require_approval);
    cr_assert(rc > 0);
    return p;
}

/* Cursor number of an event. */
static long cur(const json_t *e)
{
    const char *c = sget(e, "cursor");
    return c ? strtol(c + strlen("cursor_"), NULL, 10) : -1;
}

/* Set up plant1 with the model and a policy, ingest calm points and a spike,
 * and wait for the rule's ProposalCreated. Returns the events of plant1. */
static json_t *run_loop_until_proposal(double auto_execute, double require_approval)
{
    json_decref(bb_req(&srv, "PUT", "/twins/plant1/model", MODEL, 200));
    char *pol = policy_doc(auto_execute, require_approval);
    json_t *p = bb_req(&srv, "PUT", "/policies/plant1", pol, 200);
    free(pol);
    cr_assert_eq(json_array_size(json_object_get(p, "rules")), 1);
    json_decref(p);
    pu_ingest_series(&srv, "plant1", "reactor_1", "temp_c", 200, 150);
    return pu_wait_events(&srv, "twin_id=plant1", "ProposalCreated", NULL, NULL, 1, 45);
}

/* The chain AnomalyDetected -> SimulationCompleted -> DecisionMade ->
 * ProposalCreated, each pointing at the one before. Returns the proposal
 * id (static buffer) and fills ano/sim/dec ids. */
static void check_chain(const json_t *ev, char *ano, char *sim, char *dec, char *prop,
                        const char *want_decision)
{
    size_t ia, is, id, ip;
    cr_assert_eq(pu_count_events(ev, "AnomalyDetected", NULL, NULL), 1, "one anomaly expected");
    json_t *a = pu_find_event(ev, "AnomalyDetected", NULL, NULL, &ia);
    cr_assert_str_eq(sget(a, "metric"), "temp_c");
    cr_assert(!strcmp(sget(a, "kind"), "spike") || !strcmp(sget(a, "kind"), "outlier"), "%s",
              sget(a, "kind"));
    strcpy(ano, sget(a, "id"));
    cr_assert(!strncmp(ano, "ano_", 4));

    json_t *s = pu_find_event(ev, "SimulationCompleted", "anomaly_id", ano, &is);
    cr_assert(s, "no SimulationCompleted for %s", ano);
    strcpy(sim, sget(s, "id"));
    json_t *sdoc = bb_getf(&srv, 200, "/r/sim/%s", sim);
    cr_assert_str_eq(sget(sdoc, "anomaly_id"), ano, "the simulation does not name the anomaly");
    json_t *sc = json_array_get(json_object_get(sdoc, "scenarios"), 0);
    cr_assert_str_eq(sget(sc, "name"), "cooler", "the rule's scenario was not simulated");
    cr_assert(json_is_number(json_object_get(sc, "p_improvement")));
    cr_assert_gt(json_number_value(json_object_get(sc, "p_improvement")), 0.9,
                 "a cooler chiller improves the yield in this model");
    json_decref(sdoc);

    json_t *d = pu_find_event(ev, "DecisionMade", NULL, NULL, &id);
    cr_assert(d, "no DecisionMade");
    strcpy(dec, sget(d, "id"));
    cr_assert_str_eq(sget(d, "decision"), want_decision);
    json_t *p = pu_find_event(ev, "ProposalCreated", NULL, NULL, &ip);
    strcpy(prop, sget(p, "id"));
    cr_assert_str_eq(sget(d, "proposal_id"), prop);
    cr_assert(ia < is && is < id && id < ip, "events out of order: %zu %zu %zu %zu", ia, is, id,
              ip);
    cr_assert(cur(a) < cur(s) && cur(s) < cur(d) && cur(d) < cur(p));

    json_t *ddoc = bb_getf(&srv, 200, "/r/decision/%s", dec);
    cr_assert_str_eq(sget(ddoc, "anomaly_id"), ano);
    cr_assert_str_eq(sget(ddoc, "sim_id"), sim);
    cr_assert_str_eq(sget(ddoc, "proposal_id"), prop);
    cr_assert_str_eq(sget(ddoc, "decision"), want_decision);
    cr_assert(strstr(sget(ddoc, "reasoning"), "cooler"), "reasoning does not use the scenario: %s",
              sget(ddoc, "reasoning"));
    json_decref(ddoc);
    json_t *pdoc = bb_getf(&srv, 200, "/r/proposal/%s", prop);
    cr_assert_str_eq(sget(pdoc, "anomaly_id"), ano);
    cr_assert_str_eq(sget(pdoc, "sim_id"), sim);
    cr_assert_str_eq(sget(pdoc, "decision_id"), dec);
    json_t *want = json_loads(SETPOINT_18, 0, NULL);
    cr_assert(json_equal(json_object_get(pdoc, "recommended_action"), want));
    json_decref(want);
    json_decref(pdoc);
}

Test(policy_loop, anomaly_to_approved_action_and_rollback)
{
    char ano[64], sim[64], dec[64], prop[64], act[64];
    json_t *ev = run_loop_until_proposal(0.9, 0.6);
    check_chain(ev, ano, sim, dec, prop, "require_approval");
    cr_assert_eq(pu_count_events(ev, "ActionStarted", NULL, NULL), 0, "nothing runs unapproved");
    json_decref(ev);

    json_t *pdoc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(pdoc, "status"), "pending");
    cr_assert_str_eq(sget(pdoc, "proposed_by"), "opstwin-rules");
    json_decref(pdoc);
    json_t *twin = bb_getf(&srv, 200, "/twins/plant1");
    cr_assert_eq(json_array_size(json_object_get(twin, "pending_proposals")), 1);
    json_decref(twin);
    json_t *sp = pu_setpoint(&srv, "plant1", "chiller_1.setpoint");
    cr_assert_null(sp, "set-point changed before the approval");

    /* a supervisor (not the proposer) approves */
    char *sue = pu_mint(&srv, "sue", "supervisor", NULL);
    char path[160];
    snprintf(path, sizeof path, "/proposals/%s/approve", prop);
    json_t *r = pu_req(&srv, sue, "POST", path, NULL, 200);
    json_t *action = json_object_get(r, "action");
    cr_assert(sget(action, "action_id"), "the approval names no action");
    strcpy(act, sget(action, "action_id"));
    cr_assert_str_eq(sget(action, "proposal_id"), prop);
    cr_assert_str_eq(sget(action, "requested_by"), "sue");
    cr_assert_str_eq(sget(json_object_get(r, "proposal"), "decided_by"), "sue");
    json_decref(r);

    ev = pu_wait_events(&srv, "twin_id=plant1", "ActionSucceeded", "id", act, 1, 20);
    size_t iapp, ist, isu;
    json_t *e = pu_find_event(ev, "ProposalApproved", "id", prop, &iapp);
    cr_assert(e, "no ProposalApproved");
    cr_assert_str_eq(sget(e, "decided_by"), "sue");
    cr_assert_str_eq(sget(e, "action_id"), act);
    cr_assert(pu_find_event(ev, "ActionStarted", "id", act, &ist));
    pu_find_event(ev, "ActionSucceeded", "id", act, &isu);
    cr_assert(iapp < ist && ist < isu);
    cr_assert_eq(pu_count_events(ev, "ActionFailed", NULL, NULL), 0);
    json_decref(ev);

    sp = pu_setpoint(&srv, "plant1", "chiller_1.setpoint");
    cr_assert(json_is_number(sp) && json_number_value(sp) == 18, "set-point is not 18");
    json_decref(sp);
    json_t *adoc = bb_getf(&srv, 200, "/actions/%s", act);
    cr_assert_str_eq(sget(adoc, "status"), "success");
    json_decref(adoc);
    pdoc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(pdoc, "action_id"), act);
    cr_assert(strcmp(sget(pdoc, "status"), "pending"), "still pending after the approval");
    json_decref(pdoc);

    /* rollback: the set-point was absent before, so it is absent again */
    snprintf(path, sizeof path, "/rollback/%s", act);
    r = bb_req(&srv, "POST", path, NULL, 200);
    cr_assert_str_eq(sget(r, "status"), "rolled_back");
    json_decref(r);
    ev = pu_wait_events(&srv, "twin_id=plant1", "ActionRolledBack", "id", act, 1, 10);
    json_decref(ev);
    sp = pu_setpoint(&srv, "plant1", "chiller_1.setpoint");
    cr_assert_null(sp, "the set-point was not restored");
    adoc = bb_getf(&srv, 200, "/actions/%s", act);
    cr_assert_str_eq(sget(adoc, "status"), "rolled_back");
    json_decref(adoc);

    bb_resp rr;
    bb_http(&srv, "POST", path, NULL, NULL, &rr);
    bb_assert_error(&rr, 409, "conflict", NULL);
    bb_resp_free(&rr);
    ev = bb_diff_all(&srv, "types=ActionRolledBack", 100);
    cr_assert_eq(json_array_size(ev), 1, "a second rollback was recorded");
    json_decref(ev);
    free(sue);
}

Test(policy_loop, auto_execute_needs_no_approval_and_rollback_restores_previous)
{
    /* an earlier value for the set-point, so the rollback has one to restore */
    json_decref(bb_req(&srv, "POST", "/actions",
                       "{\"twin_id\":\"plant1\",\"action\":{\"type\":\"set_parameter\","
                       "\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\",\"value\":"
                       "21}}}",
                       202));
    json_t *ev = pu_wait_events(&srv, "twin_id=plant1", "ActionSucceeded", NULL, NULL, 1, 20);
    json_decref(ev);
    json_t *sp = pu_setpoint(&srv, "plant1", "chiller_1.setpoint");
    cr_assert(json_number_value(sp) == 21);
    json_decref(sp);

    char ano[64], sim[64], dec[64], prop[64];
    ev = run_loop_until_proposal(0.5, 0.4);
    check_chain(ev, ano, sim, dec, prop, "auto_execute");
    json_decref(ev);
    ev = pu_wait_events(&srv, "twin_id=plant1", "ActionSucceeded", NULL, NULL, 2, 20);
    json_t *ap = pu_find_event(ev, "ProposalApproved", "id", prop, NULL);
    cr_assert(ap, "no ProposalApproved for the auto-executed proposal");
    cr_assert_str_eq(sget(ap, "decided_by"), "opstwin-policy");
    json_decref(ev);

    json_t *pdoc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(pdoc, "status"), "approved");
    const char *act = sget(pdoc, "action_id");
    cr_assert(act && !strncmp(act, "act_", 4));
    json_t *adoc = pu_wait_action(&srv, act, 20);
    cr_assert_str_eq(sget(adoc, "status"), "success");
    cr_assert_str_eq(sget(adoc, "proposal_id"), prop);
    json_decref(adoc);
    sp = pu_setpoint(&srv, "plant1", "chiller_1.setpoint");
    cr_assert(json_number_value(sp) == 18, "auto-executed set-point is not 18");
    json_decref(sp);

    char path[160];
    snprintf(path, sizeof path, "/rollback/%s", act);
    json_decref(bb_req(&srv, "POST", path, NULL, 200));
    sp = pu_setpoint(&srv, "plant1", "chiller_1.setpoint");
    cr_assert(json_is_number(sp) && json_number_value(sp) == 21,
              "rollback did not restore the previous value 21");
    json_decref(sp);
    bb_resp rr;
    bb_http(&srv, "POST", path, NULL, NULL, &rr);
    bb_assert_error(&rr, 409, "conflict", NULL);
    bb_resp_free(&rr);
    json_decref(pdoc);
}

/* --- proposals ------------------------------------------------------------------ */

static json_t *propose(const char *token, const char *twin, const char *action,
                       const char *extra, long expect)
{
    char *body = NULL;
    cr_assert(asprintf(&body,
                       "{\"twin_id\":\"%s\",\"summary\":\"test proposal\",\"evidence\":[],"
                       "\"recommended_action\":%s%s%s}",
                       twin, action, extra ? "," : "", extra ? extra : "") > 0);
    json_t *r = pu_req(&srv, token ? token : srv.token, "POST", "/proposals", body, expect);
    free(body);
    return r;
}

static void put_policy(const char *twin, const char *doc)
{
    char path[128];
    snprintf(path, sizeof path, "/policies/%s", twin);
    json_decref(bb_req(&srv, "PUT", path, doc, 200));
}

#define LIMITS_POLICY                                                                            \
    "{\"safety\":{\"forbid\":[\"deploy\"],\"limits\":{\"chiller_1.setpoint\":{\"min\":10,"       \
    "\"max\":30}}}}"

Test(policy_proposals, agent_proposal_is_scored_with_every_component)
{
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    json_t *r = propose(ann, "p1", SETPOINT_18, NULL, 201);
    json_t *dec = json_object_get(r, "decision"), *prop = json_object_get(r, "proposal");
    /* no evidence at all: every component is neutral, 0.5 */
    cr_assert_float_eq(json_number_value(json_object_get(dec, "confidence")), 0.5, 1e-9);
    cr_assert_str_eq(sget(dec, "decision"), "require_analysis", "0.5 is below approval 0.70");
    const char *why = sget(dec, "reasoning");
    cr_assert(why, "no reasoning");
    static const char *const parts[] = {"historical", "data quality", "simulation",
                                        "consensus"};
    for (size_t i = 0; i < 4; i++)
        cr_assert(strcasestr(why, parts[i]), "reasoning does not mention %s: %s", parts[i], why);
    json_t *c = json_object_get(dec, "components");
    cr_assert_eq(json_object_size(c), 4);
    cr_assert_str_eq(sget(prop, "status"), "pending");
    cr_assert_str_eq(sget(prop, "proposed_by"), "ann");
    cr_assert_str_eq(sget(prop, "decision_id"), sget(dec, "decision_id"));
    cr_assert_null(json_object_get(r, "action"));

    /* votes for the action and good recent telemetry raise it to approval */
    pu_ingest_series(&srv, "p1", "m1", "temp_c", 20, 0);
    json_decref(r);
    r = propose(ann, "p1", SETPOINT_18,
                "\"votes\":[{\"agent_id\":\"a1\",\"recommendation\":\"approve\"},"
                "{\"agent_id\":\"a2\",\"recommendation\":\"set_parameter\"}]",
                201);
    dec = json_object_get(r, "decision");
    double score = json_number_value(json_object_get(dec, "confidence"));
    json_t *comp = json_object_get(dec, "components");
    cr_assert_float_eq(json_number_value(json_object_get(comp, "ai_consensus")), 1.0, 1e-9);
    double dq = json_number_value(json_object_get(comp, "data_quality"));
    cr_assert_float_eq(score, 0.25 * 0.5 + 0.25 * dq + 0.30 * 0.5 + 0.20 * 1.0, 1e-4,
                       "score %g is not the weighted sum (dq %g)", score, dq);
    cr_assert_gt(dq, 0.8, "recent telemetry quality should count: %g", dq);
    cr_assert_str_eq(sget(dec, "decision"), "require_approval", "score %g", score);
    cr_assert(strstr(sget(dec, "reasoning"), "2 of 2"), "%s", sget(dec, "reasoning"));
    json_decref(r);
    free(ann);
}

Test(policy_proposals, safety_rejects_forbidden_out_of_limits_and_shutdown)
{
    put_policy("p2", LIMITS_POLICY);
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    static const struct {
        const char *action, *needle;
    } cases[] = {
        {"{\"type\":\"deploy\",\"target\":\"svc\",\"params\":{\"version\":\"2.0\"}}", "forbidden"},
        {"{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\","
         "\"value\":40}}",
         "maximum"},
        {"{\"type\":\"set_parameter\",\"target\":\"chiller_1\",\"params\":{\"name\":\"setpoint\","
         "\"value\":5}}",
         "minimum"},
        {"{\"type\":\"shutdown\",\"target\":\"line_1\"}", "shutdown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r = propose(ann, "p2", cases[i].action,
                            "\"votes\":[{\"agent_id\":\"a1\",\"recommendation\":\"approve\"}]",
                            201);
        json_t *dec = json_object_get(r, "decision"), *prop = json_object_get(r, "proposal");
        cr_assert_str_eq(sget(dec, "decision"), "reject", "case %zu", i);
        json_t *viol = json_object_get(json_object_get(dec, "safety"), "violations");
        cr_assert_geq(json_array_size(viol), 1, "case %zu: no violation", i);
        cr_assert(strstr(json_string_value(json_array_get(viol, 0)), cases[i].needle),
                  "case %zu: %s", i, json_string_value(json_array_get(viol, 0)));
        cr_assert(strstr(sget(dec, "reasoning"), cases[i].needle), "case %zu: %s", i,
                  sget(dec, "reasoning"));
        cr_assert_str_eq(sget(prop, "status"), "rejected", "case %zu", i);
        cr_assert_null(json_object_get(r, "action"));
        json_decref(r);
    }
    /* an emergency shutdown passes the safety check */
    json_t *r = propose(ann, "p2", "{\"type\":\"shutdown\",\"target\":\"line_1\",\"emergency\":true}",
                        NULL, 201);
    cr_assert_neq(strcmp(sget(json_object_get(r, "decision"), "decision"), "reject"), 0,
                  "emergency shutdown rejected: %s",
                  sget(json_object_get(r, "decision"), "reasoning"));
    json_decref(r);
    json_t *ev = bb_diff_all(&srv, "twin_id=p2&types=ProposalRejected", 100);
    cr_assert_eq(json_array_size(ev), 4);
    json_decref(ev);
    json_t *acts = bb_getf(&srv, 200, "/actions?twin_id=p2");
    cr_assert_eq(json_array_size(json_object_get(acts, "actions")), 0);
    json_decref(acts);
    free(ann);
}

Test(policy_proposals, who_may_approve_and_state_conflicts)
{
    put_policy("p3", LIMITS_POLICY);
    char *sue = pu_mint(&srv, "sue", "supervisor", NULL);
    char *sam = pu_mint(&srv, "sam", "supervisor", NULL);
    char *vic = pu_mint(&srv, "vic", "viewer", NULL);
    json_t *r = propose(sue, "p3", SETPOINT_18, NULL, 201);
    char prop[64], path[160];
    strcpy(prop, sget(json_object_get(r, "proposal"), "proposal_id"));
    json_decref(r);
    snprintf(path, sizeof path, "/proposals/%s/approve", prop);

    bb_resp e;
    pu_http(&srv, sue, "POST", path, NULL, &e);
    bb_assert_error(&e, 403, "forbidden", NULL);
    cr_assert(strstr(e.body, "proposer"), "%s", e.body);
    bb_resp_free(&e);
    pu_http(&srv, vic, "POST", path, NULL, &e);
    bb_assert_error(&e, 403, "forbidden", NULL);
    bb_resp_free(&e);
    json_t *doc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(doc, "status"), "pending", "a refused approval changed the proposal");
    json_decref(doc);

    r = pu_req(&srv, sam, "POST", path, "{}", 200);
    json_decref(r);
    pu_http(&srv, sam, "POST", path, NULL, &e);
    bb_assert_error(&e, 409, "conflict", NULL);
    bb_resp_free(&e);
    char reject[160];
    snprintf(reject, sizeof reject, "/proposals/%s/reject", prop);
    pu_http(&srv, sam, "POST", reject, "{\"reason\":\"too late\"}", &e);
    bb_assert_error(&e, 409, "conflict", NULL);
    bb_resp_free(&e);

    /* unknown proposal */
    pu_http(&srv, sam, "POST", "/proposals/prop_01ARZ3NDEKTSV4RRFFQ69G5FAV/approve", NULL, &e);
    bb_assert_error(&e, 404, "not_found", NULL);
    bb_resp_free(&e);
    free(sue);
    free(sam);
    free(vic);
}

Test(policy_proposals, reject_needs_a_reason_then_approve_is_409)
{
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    char *sam = pu_mint(&srv, "sam", "supervisor", NULL);
    json_t *r = propose(ann, "p4", SETPOINT_18, NULL, 201);
    char prop[64], path[160];
    strcpy(prop, sget(json_object_get(r, "proposal"), "proposal_id"));
    json_decref(r);
    snprintf(path, sizeof path, "/proposals/%s/reject", prop);
    static const char *const bad[] = {"{}", "{\"reason\":\"\"}", "{\"reason\":\"   \"}",
                                      "{\"reason\":5}"};
    for (size_t i = 0; i < 4; i++) {
        bb_resp e;
        pu_http(&srv, sam, "POST", path, bad[i], &e);
        bb_assert_error(&e, 400, "validation_failed", "$.reason");
        bb_resp_free(&e);
    }
    json_t *doc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(doc, "status"), "pending");
    json_decref(doc);
    r = pu_req(&srv, sam, "POST", path, "{\"reason\":\"not now\"}", 200);
    cr_assert_str_eq(sget(r, "status"), "rejected");
    cr_assert_str_eq(sget(r, "reason"), "not now");
    cr_assert_str_eq(sget(r, "decided_by"), "sam");
    json_decref(r);
    json_t *ev = pu_wait_events(&srv, "twin_id=p4", "ProposalRejected", "id", prop, 1, 5);
    json_decref(ev);

    snprintf(path, sizeof path, "/proposals/%s/approve", prop);
    bb_resp e;
    pu_http(&srv, sam, "POST", path, NULL, &e);
    bb_assert_error(&e, 409, "conflict", NULL);
    cr_assert(strstr(e.body, "rejected"), "%s", e.body);
    bb_resp_free(&e);
    json_t *acts = bb_getf(&srv, 200, "/actions?twin_id=p4");
    cr_assert_eq(json_array_size(json_object_get(acts, "actions")), 0);
    json_decref(acts);
    free(ann);
    free(sam);
}

Test(policy_proposals, approve_with_modified_params)
{
    put_policy("p5", LIMITS_POLICY);
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    char *sam = pu_mint(&srv, "sam", "supervisor", NULL);
    json_t *r = propose(ann, "p5", SETPOINT_18, NULL, 201);
    char prop[64], path[160], act[64];
    strcpy(prop, sget(json_object_get(r, "proposal"), "proposal_id"));
    json_decref(r);
    snprintf(path, sizeof path, "/proposals/%s/approve", prop);

    /* outside the limits: 409, nothing changes */
    bb_resp e;
    pu_http(&srv, sam, "POST", path, "{\"params\":{\"value\":50}}", &e);
    bb_assert_error(&e, 409, "conflict", NULL);
    cr_assert(strstr(e.body, "maximum"), "%s", e.body);
    bb_resp_free(&e);
    pu_http(&srv, sam, "POST", path, "{\"params\":[1]}", &e);
    bb_assert_error(&e, 400, "validation_failed", "$.params");
    bb_resp_free(&e);
    json_t *doc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(doc, "status"), "pending");
    cr_assert_null(json_object_get(doc, "approved_action"));
    json_decref(doc);
    json_t *acts = bb_getf(&srv, 200, "/actions?twin_id=p5");
    cr_assert_eq(json_array_size(json_object_get(acts, "actions")), 0);
    json_decref(acts);
    json_t *ev = bb_diff_all(&srv, "twin_id=p5&types=ProposalApproved", 100);
    cr_assert_eq(json_array_size(ev), 0);
    json_decref(ev);

    r = pu_req(&srv, sam, "POST", path, "{\"params\":{\"value\":22}}", 200);
    json_t *action = json_object_get(r, "action");
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(action, "params"),
                                                         "value")),
                       22, 1e-9, "the action does not use the modified value");
    json_t *aa = json_object_get(json_object_get(r, "proposal"), "approved_action");
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(aa, "params"), "value")),
                       22, 1e-9);
    cr_assert_str_eq(sget(json_object_get(aa, "params"), "name"), "setpoint");
    /* the recommendation itself is kept as it was */
    json_t *ra = json_object_get(json_object_get(r, "proposal"), "recommended_action");
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(ra, "params"), "value")),
                       18, 1e-9);
    strcpy(act, sget(action, "action_id"));
    json_decref(r);
    ev = pu_wait_events(&srv, "twin_id=p5", "ProposalApproved", "id", prop, 1, 5);
    cr_assert_str_eq(sget(pu_find_event(ev, "ProposalApproved", "id", prop, NULL), "status"),
                     "modified", "the approval is not recorded as modified");
    json_decref(ev);
    json_t *mods = bb_getf(&srv, 200, "/proposals?status=modified&twin_id=p5");
    cr_assert_eq(json_integer_value(json_object_get(mods, "count")), 1,
                 "the stored proposal is not modified");
    json_decref(mods);
    json_t *a = pu_wait_action(&srv, act, 20);
    cr_assert_str_eq(sget(a, "status"), "success");
    json_decref(a);
    json_t *sp = pu_setpoint(&srv, "p5", "chiller_1.setpoint");
    cr_assert(json_number_value(sp) == 22, "set-point is not the modified 22");
    json_decref(sp);
    free(ann);
    free(sam);
}

struct approver {
    const bb_server *s;
    const char *token, *path;
    pthread_barrier_t *go;
    long status;
};

static void *approve_thread(void *arg)
{
    struct approver *a = arg;
    bb_resp r;
    pthread_barrier_wait(a->go);
    pu_http(a->s, a->token, "POST", a->path, NULL, &r);
    a->status = r.status;
    bb_resp_free(&r);
    return NULL;
}

Test(policy_proposals, concurrent_approvals_execute_once)
{
    enum { N = 8 };
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    char *sups[N];
    for (int i = 0; i < N; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "sup%d", i);
        sups[i] = pu_mint(&srv, sub, "supervisor", NULL);
    }
    for (int round = 0; round < 3; round++) {
        char twin[16];
        snprintf(twin, sizeof twin, "pc%d", round);
        json_t *r = propose(ann, twin, SETPOINT_18, NULL, 201);
        char prop[64], path[160];
        strcpy(prop, sget(json_object_get(r, "proposal"), "proposal_id"));
        json_decref(r);
        snprintf(path, sizeof path, "/proposals/%s/approve", prop);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        pthread_t th[N];
        struct approver ap[N];
        for (int i = 0; i < N; i++) {
            ap[i] = (struct approver){&srv, sups[i], path, &go, 0};
            cr_assert_eq(pthread_create(&th[i], NULL, approve_thread, &ap[i]), 0);
        }
        int ok = 0, conflict = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            ok += ap[i].status == 200;
            conflict += ap[i].status == 409;
        }
        pthread_barrier_destroy(&go);
        cr_assert_eq(ok, 1, "round %d: %d approvals succeeded", round, ok);
        cr_assert_eq(conflict, N - 1, "round %d: %d conflicts", round, conflict);
        json_t *ev = pu_wait_events(&srv, "", "ActionSucceeded", "twin_id", twin, 1, 20);
        cr_assert_eq(pu_count_events(ev, "ProposalApproved", "id", prop), 1);
        cr_assert_eq(pu_count_events(ev, "ActionStarted", "twin_id", twin), 1);
        json_decref(ev);
        char q[64];
        snprintf(q, sizeof q, "/actions?twin_id=%s", twin);
        json_t *acts = bb_req(&srv, "GET", q, NULL, 200);
        json_t *list = json_object_get(acts, "actions");
        cr_assert_eq(json_array_size(list), 1, "round %d: %zu actions", round,
                     json_array_size(list));
        cr_assert_str_eq(sget(json_array_get(list, 0), "proposal_id"), prop);
        json_decref(acts);
    }
    for (int i = 0; i < N; i++)
        free(sups[i]);
    free(ann);
}

Test(policy_proposals, list_filters_and_resources_validate)
{
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    char *sam = pu_mint(&srv, "sam", "supervisor", NULL);
    char ids[3][64];
    for (int i = 0; i < 3; i++) {
        json_t *r = propose(ann, i < 2 ? "fa" : "fb", SETPOINT_18, NULL, 201);
        strcpy(ids[i], sget(json_object_get(r, "proposal"), "proposal_id"));
        json_decref(r);
    }
    char path[160];
    snprintf(path, sizeof path, "/proposals/%s/reject", ids[0]);
    json_decref(pu_req(&srv, sam, "POST", path, "{\"reason\":\"no\"}", 200));

    json_t *l = bb_req(&srv, "GET", "/proposals?status=pending&twin_id=fa", NULL, 200);
    json_t *list = json_object_get(l, "proposals");
    cr_assert_eq(json_array_size(list), 1);
    cr_assert_str_eq(sget(json_array_get(list, 0), "proposal_id"), ids[1]);
    json_decref(l);
    l = bb_req(&srv, "GET", "/proposals?twin_id=fa", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "proposals")), 2);
    json_decref(l);
    l = bb_req(&srv, "GET", "/proposals?status=rejected", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "proposals")), 1);
    json_decref(l);
    l = bb_req(&srv, "GET", "/proposals?status=pending", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "proposals")), 2);
    json_decref(l);
    bb_resp e;
    bb_http(&srv, "GET", "/proposals?status=bogus", NULL, NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.status");
    bb_resp_free(&e);

    /* stored documents validate against their schemas */
    for (int i = 0; i < 3; i++) {
        json_t *p = bb_getf(&srv, 200, "/r/proposal/%s", ids[i]);
        char *body = json_dumps(p, JSON_COMPACT);
        json_t *v = bb_req(&srv, "POST", "/schemas/proposal.v1/validate", body, 200);
        cr_assert(json_is_true(json_object_get(v, "valid")), "proposal %s: %s", body,
                  json_dumps(v, 0));
        json_decref(v);
        free(body);
        json_t *d = bb_getf(&srv, 200, "/r/decision/%s", sget(p, "decision_id"));
        body = json_dumps(d, JSON_COMPACT);
        v = bb_req(&srv, "POST", "/schemas/decision.v1/validate", body, 200);
        cr_assert(json_is_true(json_object_get(v, "valid")), "decision %s: %s", body,
                  json_dumps(v, 0));
        json_decref(v);
        free(body);
        json_decref(d);
        json_decref(p);
    }
    json_t *bad = bb_req(&srv, "POST", "/schemas/proposal.v1/validate", "{\"summary\":1}", 200);
    cr_assert(json_is_false(json_object_get(bad, "valid")), "the schema accepts anything");
    json_decref(bad);
    free(ann);
    free(sam);
}

Test(policy_proposals, bad_proposals_are_400_and_store_nothing)
{
    static const struct {
        const char *body, *path;
    } cases[] = {
        {"{\"summary\":\"x\",\"recommended_action\":" SETPOINT_18 "}", "$.twin_id"},
        {"{\"twin_id\":\"pb\",\"recommended_action\":" SETPOINT_18 "}", "$.summary"},
        {"{\"twin_id\":\"pb\",\"summary\":\"x\"}", "$.recommended_action"},
        {"{\"twin_id\":\"pb\",\"summary\":\"x\",\"recommended_action\":" SETPOINT_18
         ",\"confidence\":2}",
         "$.confidence"},
        {"{\"twin_id\":\"pb\",\"summary\":\"x\",\"recommended_action\":" SETPOINT_18
         ",\"status\":\"executed\"}",
         "$.status"},
        {"{\"twin_id\":\"pb\",\"summary\":\"x\",\"recommended_action\":{\"type\":\"explode\","
         "\"target\":\"a\"}}",
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_resp e;
        bb_http(&srv, "POST", "/proposals", cases[i].body, NULL, &e);
        bb_assert_error(&e, 400, "validation_failed", cases[i].path);
        bb_resp_free(&e);
    }
    json_t *l = bb_req(&srv, "GET", "/proposals", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "proposals")), 0);
    json_decref(l);
    json_t *ev = bb_diff_all(&srv, "types=DecisionMade,ProposalCreated", 100);
    cr_assert_eq(json_array_size(ev), 0);
    json_decref(ev);
}

/* A server with a 2 s proposal lifetime. */
Test(policy_proposals, pending_proposals_expire)
{
    cr_assert_eq(bb_stop(&srv, 0), 0, "the suite's server did not exit 0 on SIGTERM");
    const char *args[] = {"--proposal-ttl", "2", NULL};
    bb_start(&srv, args, NULL, NULL);
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    char *sam = pu_mint(&srv, "sam", "supervisor", NULL);
    json_t *r = propose(ann, "px", SETPOINT_18, NULL, 201);
    char prop[64], path[160];
    strcpy(prop, sget(json_object_get(r, "proposal"), "proposal_id"));
    json_decref(r);
    /* expired by the background sweep, without anyone touching it */
    json_t *ev = pu_wait_events(&srv, "twin_id=px", "ProposalExpired", "id", prop, 1, 10);
    json_decref(ev);
    json_t *doc = bb_getf(&srv, 200, "/proposals/%s", prop);
    cr_assert_str_eq(sget(doc, "status"), "expired");
    json_decref(doc);
    snprintf(path, sizeof path, "/proposals/%s/approve", prop);
    bb_resp e;
    pu_http(&srv, sam, "POST", path, NULL, &e);
    bb_assert_error(&e, 409, "conflict", NULL);
    bb_resp_free(&e);
    json_t *acts = bb_getf(&srv, 200, "/actions?twin_id=px");
    cr_assert_eq(json_array_size(json_object_get(acts, "actions")), 0);
    json_decref(acts);
    ev = bb_diff_all(&srv, "twin_id=px&types=ProposalExpired", 100);
    cr_assert_eq(json_array_size(ev), 1, "expired twice");
    json_decref(ev);
    free(ann);
    free(sam);
}

/* --- actions ----------------------------------------------------------------------- */

Test(policy_actions, state_executor_applies_a_setpoint)
{
    char *ed = pu_mint(&srv, "ed", "executor", NULL);
    json_t *r = pu_req(&srv, ed, "POST", "/actions",
                       "{\"twin_id\":\"a1\",\"action\":" SETPOINT_18 ",\"executor\":\"state\"}",
                       202);
    char act[64];
    strcpy(act, sget(r, "action_id"));
    cr_assert_str_eq(sget(r, "requested_by"), "ed");
    json_decref(r);
    json_t *a = pu_wait_action(&srv, act, 20);
    cr_assert_str_eq(sget(a, "status"), "success");
    json_t *applied = json_object_get(a, "applied");
    cr_assert_str_eq(sget(applied, "key"), "chiller_1.setpoint");
    cr_assert(json_is_null(json_object_get(applied, "previous")));
    json_decref(a);
    json_t *sp = pu_setpoint(&srv, "a1", "chiller_1.setpoint");
    cr_assert(json_number_value(sp) == 18);
    json_decref(sp);
    json_t *ev = pu_wait_events(&srv, "twin_id=a1", "ActionSucceeded", "id", act, 1, 5);
    cr_assert(pu_find_event(ev, "ActionStarted", "id", act, NULL));
    json_decref(ev);
    json_t *l = bb_req(&srv, "GET", "/actions?twin_id=a1", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "actions")), 1);
    json_decref(l);

    /* bad requests */
    static const struct {
        const char *body, *path;
    } bad[] = {
        {"{\"action\":" SETPOINT_18 "}", "$.twin_id"},
        {"{\"twin_id\":\"a1\"}", NULL},
        {"{\"twin_id\":\"a1\",\"action\":" SETPOINT_18 ",\"executor\":\"carrier-pigeon\"}",
         "$.executor"},
        {"{\"twin_id\":\"a1\",\"action\":" SETPOINT_18 ",\"executor\":\"webhook\"}",
         "$.webhook.url"},
        {"{\"twin_id\":\"a1\",\"action\":" SETPOINT_18
         ",\"executor\":\"webhook\",\"webhook\":{\"url\":\"file:///etc/passwd\"}}",
         "$.webhook.url"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bb_resp e;
        pu_http(&srv, ed, "POST", "/actions", bad[i].body, &e);
        bb_assert_error(&e, 400, "validation_failed", bad[i].path);
        bb_resp_free(&e);
    }
    l = bb_req(&srv, "GET", "/actions?twin_id=a1", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "actions")), 1, "a bad request stored one");
    json_decref(l);
    bb_resp e;
    bb_http(&srv, "GET", "/actions/act_01ARZ3NDEKTSV4RRFFQ69G5FAV", NULL, NULL, &e);
    bb_assert_error(&e, 404, "not_found", NULL);
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/rollback/act_01ARZ3NDEKTSV4RRFFQ69G5FAV", NULL, NULL, &e);
    bb_assert_error(&e, 404, "not_found", NULL);
    bb_resp_free(&e);
    free(ed);
}

Test(policy_actions, forbidden_and_out_of_limit_actions_are_409)
{
    put_policy("a2", LIMITS_POLICY);
    bb_resp e;
    bb_http(&srv, "POST", "/actions",
            "{\"twin_id\":\"a2\",\"action\":{\"type\":\"deploy\",\"target\":\"svc\",\"params\":"
            "{\"version\":\"9\"}}}",
            NULL, &e);
    bb_assert_error(&e, 409, "conflict", "$.action");
    cr_assert(strstr(e.body, "forbidden by policy: deploy"), "%s", e.body);
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/actions",
            "{\"twin_id\":\"a2\",\"action\":{\"type\":\"set_parameter\",\"target\":\"chiller_1\","
            "\"params\":{\"name\":\"setpoint\",\"value\":31}}}",
            NULL, &e);
    bb_assert_error(&e, 409, "conflict", "$.action");
    cr_assert(strstr(e.body, "maximum"), "%s", e.body);
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/actions",
            "{\"twin_id\":\"a2\",\"action\":{\"type\":\"shutdown\",\"target\":\"line\"}}", NULL,
            &e);
    bb_assert_error(&e, 409, "conflict", "$.action");
    bb_resp_free(&e);
    json_t *l = bb_req(&srv, "GET", "/actions?twin_id=a2", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "actions")), 0);
    json_decref(l);
}

Test(policy_actions, max_actions_per_hour)
{
    put_policy("a3", "{\"safety\":{\"max_actions_per_hour\":2}}");
    for (int i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"twin_id\":\"a3\",\"action\":{\"type\":\"set_parameter\",\"target\":\"c\","
                 "\"params\":{\"name\":\"v\",\"value\":%d}}}",
                 i);
        json_decref(bb_req(&srv, "POST", "/actions", body, 202));
    }
    bb_resp e;
    bb_http(&srv, "POST", "/actions",
            "{\"twin_id\":\"a3\",\"action\":{\"type\":\"set_parameter\",\"target\":\"c\","
            "\"params\":{\"name\":\"v\",\"value\":3}}}",
            NULL, &e);
    bb_assert_error(&e, 409, "conflict", "$.action");
    cr_assert(strstr(e.body, "rate limit"), "%s", e.body);
    bb_resp_free(&e);
    /* another twin has its own budget */
    json_decref(bb_req(&srv, "POST", "/actions",
                       "{\"twin_id\":\"a3b\",\"action\":{\"type\":\"restart\",\"target\":\"c\"}}",
                       202));
    /* and a proposal for a3 is rejected by the same limit */
    json_t *r = propose(NULL, "a3", SETPOINT_18, NULL, 201);
    json_t *dec = json_object_get(r, "decision");
    cr_assert_str_eq(sget(dec, "decision"), "reject");
    cr_assert(strstr(sget(dec, "reasoning"), "rate limit"), "%s", sget(dec, "reasoning"));
    json_decref(r);
    json_t *l = bb_req(&srv, "GET", "/actions?twin_id=a3", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "actions")), 2);
    json_decref(l);
}

/* --- a one-shot HTTP receiver for the webhook executor ------------------------- */

struct receiver {
    int fd, port, status, max_requests;
    int nrequests;
    char body[8192];
    char signature[256];
    pthread_t th;
};

static void *receiver_main(void *arg)
{
    struct receiver *rv = arg;
    for (int k = 0; k < rv->max_requests; k++) {
        struct pollfd pfd = {rv->fd, POLLIN, 0};
        if (poll(&pfd, 1, 30000) <= 0)
            break;
        int c = accept(rv->fd, NULL, NULL);
        if (c < 0)
            break;
        char buf[16384];
        size_t len = 0;
        long want = -1;
        char *hdr_end = NULL;
        while (len < sizeof buf - 1) {
            struct pollfd cp = {c, POLLIN, 0};
            if (poll(&cp, 1, 10000) <= 0)
                break;
            ssize_t n = read(c, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                want = cl ? strtol(cl + 17, NULL, 10) : 0;
            }
            if (hdr_end && (long)(len - (size_t)(hdr_end + 4 - buf)) >= want)
                break;
        }
        if (hdr_end) {
            size_t blen = len - (size_t)(hdr_end + 4 - buf);
            if (blen >= sizeof rv->body)
                blen = sizeof rv->body - 1;
            memcpy(rv->body, hdr_end + 4, blen);
            rv->body[blen] = '\0';
            *hdr_end = '\0';
            const char *sig = strcasestr(buf, "\r\nX-OpsTwin-Signature:");
            if (sig) {
                sig += strlen("\r\nX-OpsTwin-Signature:");
                while (*sig == ' ')
                    sig++;
                snprintf(rv->signature, sizeof rv->signature, "%.*s", (int)strcspn(sig, "\r\n"),
                         sig);
            }
        }
        __atomic_add_fetch(&rv->nrequests, 1, __ATOMIC_SEQ_CST);
        char resp[256];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                         "Connection: close\r\n\r\n{}",
                         rv->status);
        if (write(c, resp, (size_t)n) < 0) {
            /* the client went away */
        }
        close(c);
    }
    return NULL;
}

static void receiver_start(struct receiver *rv, int status, int max_requests)
{
    memset(rv, 0, sizeof *rv);
    rv->status = status;
    rv->max_requests = max_requests;
    rv->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(rv->fd >= 0);
    int one = 1;
    setsockopt(rv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(rv->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(rv->fd, (struct sockaddr *)&a, &al);
    rv->port = ntohs(a.sin_port);
    cr_assert_eq(listen(rv->fd, 8), 0);
    cr_assert_eq(pthread_create(&rv->th, NULL, receiver_main, rv), 0);
}

static void receiver_stop(struct receiver *rv)
{
    shutdown(rv->fd, SHUT_RDWR);
    pthread_join(rv->th, NULL);
    close(rv->fd);
}

Test(policy_actions, webhook_executor_signs_the_body)
{
    struct receiver rv;
    receiver_start(&rv, 200, 1);
    char body[512];
    snprintf(body, sizeof body,
             "{\"twin_id\":\"w1\",\"action\":" SETPOINT_18 ",\"executor\":\"webhook\","
             "\"webhook\":{\"url\":\"http://127.0.0.1:%d/hook\",\"secret\":\"s3cr3t-key\","
             "\"timeout_ms\":3000,\"retries\":0}}",
             rv.port);
    json_t *r = bb_req(&srv, "POST", "/actions", body, 202);
    cr_assert_null(json_object_get(json_object_get(r, "executor"), "secret"),
                   "the webhook secret was echoed");
    char act[64];
    strcpy(act, sget(r, "action_id"));
    json_decref(r);
    json_t *a = pu_wait_action(&srv, act, 20);
    cr_assert_str_eq(sget(a, "status"), "success", "webhook action: %s", sget(a, "error"));
    cr_assert_null(json_object_get(json_object_get(a, "executor"), "secret"));
    json_decref(a);
    /* nor through the generic resource endpoint or the list */
    bb_resp rr;
    char rpath[128];
    snprintf(rpath, sizeof rpath, "/r/action/%s", act);
    bb_http(&srv, "GET", rpath, NULL, NULL, &rr);
    cr_assert_eq(rr.status, 200);
    cr_assert(!strstr(rr.body, "s3cr3t-key"), "/r/action leaks the webhook secret: %s", rr.body);
    bb_resp_free(&rr);
    bb_http(&srv, "GET", "/actions?twin_id=w1", NULL, NULL, &rr);
    cr_assert(!strstr(rr.body, "s3cr3t-key"), "/actions leaks the webhook secret");
    bb_resp_free(&rr);
    receiver_stop(&rv);
    cr_assert_eq(rv.nrequests, 1);
    json_t *got = json_loads(rv.body, 0, NULL);
    cr_assert(got, "webhook body is not JSON: %s", rv.body);
    cr_assert_str_eq(sget(got, "action_id"), act);
    cr_assert_str_eq(sget(got, "type"), "set_parameter");
    cr_assert(!strstr(rv.body, "s3cr3t-key"), "the secret was sent in the body");
    json_decref(got);
    char hex[65], want[80];
    pu_hmac_hex("s3cr3t-key", rv.body, strlen(rv.body), hex);
    snprintf(want, sizeof want, "sha256=%s", hex);
    cr_assert_str_eq(rv.signature, want, "signature does not match HMAC-SHA256 of the body");
    /* the twin's state is not touched by a webhook action */
    json_t *l = bb_req(&srv, "GET", "/actions?twin_id=w1", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "actions")), 1);
    json_decref(l);
}

Test(policy_actions, webhook_that_fails_is_retried_then_failed)
{
    struct receiver rv;
    receiver_start(&rv, 500, 3);
    char body[512];
    snprintf(body, sizeof body,
             "{\"twin_id\":\"w2\",\"action\":" SETPOINT_18 ",\"executor\":\"webhook\","
             "\"webhook\":{\"url\":\"http://127.0.0.1:%d/hook\",\"secret\":\"k\","
             "\"timeout_ms\":3000,\"retries\":2}}",
             rv.port);
    json_t *r = bb_req(&srv, "POST", "/actions", body, 202);
    char act[64];
    strcpy(act, sget(r, "action_id"));
    json_decref(r);
    json_t *a = pu_wait_action(&srv, act, 30);
    cr_assert_str_eq(sget(a, "status"), "failed");
    cr_assert(sget(a, "error") && strstr(sget(a, "error"), "500"), "error: %s",
              sget(a, "error") ? sget(a, "error") : "(none)");
    json_decref(a);
    receiver_stop(&rv);
    cr_assert_eq(rv.nrequests, 3, "expected 1 try + 2 retries, got %d", rv.nrequests);
    json_t *ev = pu_wait_events(&srv, "twin_id=w2", "ActionFailed", "id", act, 1, 5);
    json_decref(ev);
    /* a failed action cannot be rolled back */
    char path[128];
    snprintf(path, sizeof path, "/rollback/%s", act);
    bb_resp e;
    bb_http(&srv, "POST", path, NULL, NULL, &e);
    bb_assert_error(&e, 409, "conflict", NULL);
    bb_resp_free(&e);
}

Test(policy_actions, mqtt_executor_fails_naming_mqtt_url)
{
    json_t *r = bb_req(&srv, "POST", "/actions",
                       "{\"twin_id\":\"m1\",\"action\":" SETPOINT_18 ",\"executor\":\"mqtt\"}",
                       202);
    char act[64];
    strcpy(act, sget(r, "action_id"));
    json_decref(r);
    json_t *a = pu_wait_action(&srv, act, 20);
    cr_assert_str_eq(sget(a, "status"), "failed");
    cr_assert(sget(a, "error") && strstr(sget(a, "error"), "MQTT_URL"), "error: %s",
              sget(a, "error") ? sget(a, "error") : "(none)");
    json_decref(a);
    json_t *ev = pu_wait_events(&srv, "twin_id=m1", "ActionFailed", "id", act, 1, 5);
    json_decref(ev);
}

/* GET /policies/{twin} needs only "read": it must not show webhook secrets. */
Test(policy_actions, policy_read_hides_webhook_secret)
{
    put_policy("ws", "{\"rules\":[{\"when\":{\"metric\":\"temp_c\"},\"action\":" SETPOINT_18
                     ",\"executor\":\"webhook\",\"webhook\":{\"url\":\"http://127.0.0.1:9/h\","
                     "\"secret\":\"policy-s3cret\"}}]}");
    char *vic = pu_mint(&srv, "vic", "viewer", NULL);
    bb_resp r;
    pu_http(&srv, vic, "GET", "/policies/ws", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(!strstr(r.body, "policy-s3cret"), "a viewer reads the webhook secret: %s", r.body);
    bb_resp_free(&r);
    free(vic);
}
