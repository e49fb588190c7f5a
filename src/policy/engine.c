/* engine.c - see engine.h. */
#include "policy/engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "action/executor.h"
#include "aiw/events.h"
#include "api/app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/evtype.h"
#include "core/log.h"
#include "policy/confidence.h"
#include "policy/decision.h"
#include "policy/proposal.h"
#include "sim/service.h"
#include "store/store.h"

#define RULE_SIM_SAMPLES 4000
#define EXPIRY_EVERY_S 2
#define POLICY_ACTOR "opstwin-policy"
#define RULES_ACTOR "opstwin-rules"

struct ot_engine {
    ot_app *app;
    pthread_mutex_t mu;          /* orders proposal transitions and action creation */
    pthread_t expiry;
    int started, stopping;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
};

/* --- helpers ---------------------------------------------------------------- */

static char *dump(const json_t *j) { return ot_json_dumps(j, JSON_COMPACT); }

static json_t *load_doc(ot_app *app, const char *type, const char *id, ot_error *err)
{
    char *text = ot_store_get_doc(app->store, type, id, err);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return doc;
}

ot_policy *ot_engine_policy_for(ot_app *app, const char *twin, ot_error *err)
{
    json_t *doc = load_doc(app, "policy", twin, NULL);
    ot_policy *p = NULL;
    if (!doc) {
        p = ot_policy_default();
        if (!p)
            ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return p;
    }
    if (ot_policy_parse(doc, &p, err))
        p = NULL;
    json_decref(doc);
    return p;
}

/* Mean data_quality_score of the twin's telemetry in the last hour. */
static int recent_quality(ot_app *app, const char *twin, double *out)
{
    int64_t now = ot_now_us();
    json_t *rows = ot_store_query_telemetry(app->store, ot_store_last_cursor(app->store), twin,
                                            NULL, now - 3600LL * 1000000, now + 1, 1000, NULL);
    double sum = 0;
    size_t n = 0, i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        json_t *q = json_object_get(json_object_get(r, "quality"), "data_quality_score");
        if (json_is_number(q)) {
            sum += json_number_value(q);
            n++;
        }
    }
    json_decref(rows);
    if (!n)
        return 0;
    *out = sum / (double)n;
    return 1;
}

/* Write documents (type/id/status taken from each), events and an audit
 * record in one transaction, synchronously. */
struct batch {
    ot_store_doc docs[4];
    char *texts[4];
    size_t ndocs;
    ot_store_event evs[4];
    size_t nevs;
};

static void batch_doc(struct batch *b, const char *type, const char *id, const char *twin,
                      const char *status, const json_t *doc)
{
    b->texts[b->ndocs] = dump(doc);
    b->docs[b->ndocs] = (ot_store_doc){type, id, twin, status, b->texts[b->ndocs]};
    b->ndocs++;
}

static void batch_event(struct batch *b, int type, const char *twin, const char *id,
                        const char *ref_type, json_t *extra)
{
    b->evs[b->nevs++] = (ot_store_event){.type = type, .twin_id = twin, .id = id,
                                         .ref_type = ref_type, .extra = extra};
}

static int batch_commit(ot_app *app, struct batch *b, const char *actor, const char *action,
                        const char *target, ot_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < b->ndocs; i++)
        if (!b->texts[i])
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    ot_store_audit a = {.actor = actor, .action = action, .target = target};
    ot_store_write w = {.docs = b->docs, .ndocs = b->ndocs, .events = b->evs,
                        .nevents = b->nevs, .audit = &a};
    if (!rc && (rc = ot_store_write_sync(app->store, &w)))
        *err = w.err, err->code = err->code == OT_EINVAL ? OT_EINVAL : OT_EUNAVAIL;
    for (size_t i = 0; i < b->ndocs; i++)
        free(b->texts[i]);
    for (size_t i = 0; i < b->nevs; i++)
        json_decref(b->evs[i].extra);
    return rc;
}

static const char *str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* --- proposals -------------------------------------------------------------------- */

/* Score, decide and record a proposal; returns {"decision","proposal",
 * "action"?} (caller owns) or NULL with err. Takes e->mu. */
static json_t *propose(ot_engine *e, const json_t *body, const char *proposer,
                       const char *scenario, const ot_exec_target *target, ot_error *err)
{
    ot_app *app = e->app;
    int64_t now = ot_now_us();
    json_t *prop = NULL, *dec = NULL, *act_doc = NULL, *sim = NULL, *out = NULL, *next = NULL;
    ot_policy *policy = NULL;
    ot_action act;
    memset(&act, 0, sizeof act);
    pthread_mutex_lock(&e->mu);
    if (ot_proposal_create(body, proposer, now, (int64_t)app->cfg.proposal_ttl_s * 1000000, &prop,
                           err) ||
        ot_proposal_action(prop, &act, err))
        goto out;
    const char *twin = str(prop, "twin_id"), *pid = str(prop, "proposal_id");
    if (!(policy = ot_engine_policy_for(app, twin, err)))
        goto out;
    if (str(prop, "sim_id"))
        sim = load_doc(app, "sim", str(prop, "sim_id"), NULL);
    ot_outcomes hist;
    ot_executor_outcomes(app->executor, twin, &hist);
    ot_confidence_input in = {.outcomes = &hist, .sim = sim, .scenario = scenario,
                              .votes = json_object_get(prop, "votes"),
                              .action_type = ot_action_type_name(act.type)};
    in.has_data_quality = recent_quality(app, twin, &in.data_quality);
    json_t *cc = json_object_get(prop, "confidence");
    if (json_is_number(cc)) {
        in.has_client_confidence = 1;
        in.client_confidence = json_number_value(cc);
    }
    ot_confidence conf;
    if (ot_confidence_score(&in, &conf, err))
        goto out;
    ot_decision_input di = {.twin_id = twin, .policy = policy, .action = &act,
                            .confidence = &conf,
                            .actions_last_hour = ot_executor_actions_last_hour(app->executor, twin),
                            .now_us = now, .proposal_id = pid,
                            .anomaly_id = str(prop, "anomaly_id"), .sim_id = str(prop, "sim_id")};
    enum ot_decision_kind kind;
    if (ot_decide(&di, &kind, &dec, err))
        goto out;
    const char *did = str(dec, "decision_id");
    json_object_set_new(prop, "decision_id", json_string(did));
    json_object_set_new(prop, "decision", json_string(ot_decision_name(kind)));
    json_object_set_new(prop, "score", json_real(conf.score));

    if (kind == OT_DECIDE_AUTO_EXECUTE) {
        if (ot_proposal_approve(prop, POLICY_ACTOR, NULL, now, &next, err))
            goto out;
        act_doc = ot_action_doc_new(twin, &act, target, proposer, pid, did);
        json_t *done = NULL;
        if (!act_doc || ot_proposal_mark_executed(next, str(act_doc, "action_id"), &done, err))
            goto out;
        json_decref(next);
        next = done;
    } else if (kind == OT_DECIDE_REJECT) {
        const char *why = conf.reasoning;
        json_t *viol = json_object_get(json_object_get(dec, "safety"), "violations");
        if (json_array_size(viol))
            why = json_string_value(json_array_get(viol, 0));
        if (ot_proposal_reject(prop, POLICY_ACTOR, why, now, &next, err))
            goto out;
    } else {
        next = json_incref(prop);
    }
    if (target && target->executor)
        json_object_set_new(next, "executor", json_string(target->executor));

    struct batch b = {0};
    batch_doc(&b, "decision", did, twin, ot_decision_name(kind), dec);
    batch_doc(&b, "proposal", pid, twin, str(next, "status"), next);
    batch_event(&b, OT_EV_DECISION_MADE, twin, did, "decision",
                json_pack("{s:s, s:f, s:s}", "decision", ot_decision_name(kind), "confidence",
                          conf.score, "proposal_id", pid));
    batch_event(&b, OT_EV_PROPOSAL_CREATED, twin, pid, "proposal",
                json_pack("{s:s}", "status", str(next, "status")));
    if (kind == OT_DECIDE_AUTO_EXECUTE)
        batch_event(&b, OT_EV_PROPOSAL_APPROVED, twin, pid, "proposal",
                    json_pack("{s:s}", "decided_by", POLICY_ACTOR));
    else if (kind == OT_DECIDE_REJECT)
        batch_event(&b, OT_EV_PROPOSAL_REJECTED, twin, pid, "proposal",
                    json_pack("{s:s}", "decided_by", POLICY_ACTOR));
    if (act_doc)
        batch_doc(&b, "action", str(act_doc, "action_id"), twin, "pending", act_doc);
    if (batch_commit(app, &b, proposer, "proposal", pid, err))
        goto out;
    if (act_doc)
        ot_executor_enqueue(app->executor, act_doc, NULL);
    out = json_pack("{s:O, s:O}", "decision", dec, "proposal", next);
    if (act_doc) {
        json_object_del(json_object_get(act_doc, "executor"), "secret");
        json_object_set(out, "action", act_doc);
    }
out:
    pthread_mutex_unlock(&e->mu);
    ot_action_free(&act);
    ot_policy_free(policy);
    json_decref(prop);
    json_decref(next);
    json_decref(dec);
    json_decref(act_doc);
    json_decref(sim);
    return out;
}

void ot_h_proposal_post(ot_req *req)
{
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    const char *twin = str(body, "twin_id");
    if (twin && !ot_req_scope_ok(req, twin)) {
        json_decref(body);
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
        return;
    }
    ot_error err;
    ot_error_clear(&err);
    json_t *out = propose(req->app->engine, body, ot_req_actor(req), NULL, NULL, &err);
    json_decref(body);
    if (!out)
        ot_reply_error(req, &err);
    else
        ot_reply_json(req, 201, out);
}

void ot_h_proposals_list(ot_req *req)
{
    const char *twin, *status = ot_req_query(req, "status");
    if (ot_req_twin_query(req, &twin))
        return;
    json_t *probe = status && *status ? json_pack("{s:s}", "status", status) : NULL;
    int known = !probe || ot_proposal_status_of(probe) >= 0;
    json_decref(probe);
    if (!known) {
        ot_reply_errorf(req, OT_EINVAL, "$.status", "status must be pending, approved, modified, "
                        "rejected, expired or executed");
        return;
    }
    ot_error err;
    ot_error_clear(&err);
    json_t *list = ot_store_list_docs(req->app->store, "proposal", twin,
                                      status && *status ? status : NULL, 500, &err);
    if (!list) {
        ot_reply_error(req, &err);
        return;
    }
    size_t n = json_array_size(ot_req_scope_filter(req, list));
    ot_reply_json(req, 200, json_pack("{s:o, s:I}", "proposals", list, "count", (json_int_t)n));
}

static json_t *proposal_or_404(ot_req *req)
{
    const char *id = ot_req_param(req, "id");
    json_t *doc = ot_name_valid(id, 128) ? load_doc(req->app, "proposal", id, NULL) : NULL;
    if (!doc)
        ot_reply_errorf(req, OT_ENOTFOUND, "$.proposal_id", "no proposal '%.60s'", id);
    else if (!ot_req_scope_ok(req, str(doc, "twin_id"))) {
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

void ot_h_proposal_get(ot_req *req)
{
    json_t *doc = proposal_or_404(req);
    if (doc)
        ot_reply_json(req, 200, doc);
}

/* Expire doc if due. e->mu held. Returns 1 when it expired it. */
static int expire_locked(ot_engine *e, const json_t *doc)
{
    int64_t now = ot_now_us();
    if (!ot_proposal_is_expired(doc, now))
        return 0;
    json_t *next = NULL;
    ot_error err;
    if (ot_proposal_expire(doc, now, &next, &err))
        return 0;
    const char *twin = str(next, "twin_id"), *pid = str(next, "proposal_id");
    struct batch b = {0};
    batch_doc(&b, "proposal", pid, twin, "expired", next);
    batch_event(&b, OT_EV_PROPOSAL_EXPIRED, twin, pid, "proposal", NULL);
    int rc = batch_commit(e->app, &b, POLICY_ACTOR, "proposal.expire", pid, &err);
    json_decref(next);
    return rc == 0;
}

void ot_h_proposal_approve(ot_req *req)
{
    ot_engine *e = req->app->engine;
    json_t *body = req->body_len ? ot_req_json(req) : json_object();
    if (!body)
        return;
    json_t *params = json_object_get(body, "params");
    if (params && !json_is_object(params)) {
        json_decref(body);
        ot_reply_errorf(req, OT_EINVAL, "$.params", "params must be an object of the action "
                        "parameters to change");
        return;
    }
    ot_error err;
    ot_error_clear(&err);
    json_t *doc = NULL, *next = NULL, *act_doc = NULL;
    ot_policy *policy = NULL;
    ot_action act;
    memset(&act, 0, sizeof act);
    pthread_mutex_lock(&e->mu);
    if (!(doc = proposal_or_404(req)))
        goto out;
    if (expire_locked(e, doc)) {
        ot_reply_errorf(req, OT_ECONFLICT, "$.status", "the proposal expired at %s",
                        str(doc, "expires_at"));
        goto out;
    }
    int64_t now = ot_now_us();
    if (ot_proposal_approve(doc, ot_req_actor(req), params, now, &next, &err) ||
        ot_proposal_action(next, &act, &err)) {
        ot_reply_error(req, &err);
        goto out;
    }
    /* from doc, which lives to the end (next is replaced below) */
    const char *twin = str(doc, "twin_id"), *pid = str(doc, "proposal_id");
    if (!(policy = ot_engine_policy_for(req->app, twin, &err))) {
        ot_reply_error(req, &err);
        goto out;
    }
    ot_safety safety;
    ot_safety_check(policy, &act, ot_executor_actions_last_hour(req->app->executor, twin), &safety);
    if (!safety.ok) {
        json_t *details = json_array();
        for (size_t i = 0; i < safety.nviolations; i++)
            json_array_append_new(details, json_pack("{s:s, s:s}", "path", "$.params", "message",
                                                     safety.violations[i]));
        ot_reply_error_details(req, OT_ECONFLICT, "the approved action violates the twin's "
                               "safety policy; nothing was approved", details);
        goto out;
    }
    ot_exec_target t = {.executor = str(next, "executor"), .timeout_ms = 5000, .retries = 2};
    act_doc = ot_action_doc_new(twin, &act, &t, ot_req_actor(req), pid, str(next, "decision_id"));
    json_t *done = NULL;
    if (!act_doc || ot_proposal_mark_executed(next, str(act_doc, "action_id"), &done, &err)) {
        ot_reply_error(req, &err);
        goto out;
    }
    json_t *approved_status = json_string(str(next, "status")); /* approved or modified */
    json_decref(next);
    next = done;
    struct batch b = {0};
    batch_doc(&b, "proposal", pid, twin, str(next, "status"), next);
    batch_doc(&b, "action", str(act_doc, "action_id"), twin, "pending", act_doc);
    batch_event(&b, OT_EV_PROPOSAL_APPROVED, twin, pid, "proposal",
                json_pack("{s:s, s:o, s:s}", "decided_by", ot_req_actor(req), "status",
                          approved_status, "action_id", str(act_doc, "action_id")));
    int rc = batch_commit(req->app, &b, ot_req_actor(req), "proposal.approve", pid, &err);
    if (rc) {
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "could not record the approval: %s", err.message);
        goto out;
    }
    ot_executor_enqueue(req->app->executor, act_doc, NULL);
    json_object_del(json_object_get(act_doc, "executor"), "secret");
    ot_reply_json(req, 200, json_pack("{s:O, s:O}", "proposal", next, "action", act_doc));
out:
    pthread_mutex_unlock(&e->mu);
    ot_action_free(&act);
    ot_policy_free(policy);
    json_decref(doc);
    json_decref(next);
    json_decref(act_doc);
    json_decref(body);
}

void ot_h_proposal_reject(ot_req *req)
{
    ot_engine *e = req->app->engine;
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    const char *reason = str(body, "reason");
    ot_error err;
    ot_error_clear(&err);
    json_t *doc = NULL, *next = NULL;
    pthread_mutex_lock(&e->mu);
    if (!(doc = proposal_or_404(req)))
        goto out;
    if (expire_locked(e, doc)) {
        ot_reply_errorf(req, OT_ECONFLICT, "$.status", "the proposal expired at %s",
                        str(doc, "expires_at"));
        goto out;
    }
    if (ot_proposal_reject(doc, ot_req_actor(req), reason, ot_now_us(), &next, &err)) {
        ot_reply_error(req, &err);
        goto out;
    }
    const char *twin = str(doc, "twin_id"), *pid = str(doc, "proposal_id");
    struct batch b = {0};
    batch_doc(&b, "proposal", pid, twin, "rejected", next);
    batch_event(&b, OT_EV_PROPOSAL_REJECTED, twin, pid, "proposal",
                json_pack("{s:s}", "decided_by", ot_req_actor(req)));
    if (batch_commit(req->app, &b, ot_req_actor(req), "proposal.reject", pid, &err)) {
        ot_reply_error(req, &err);
        goto out;
    }
    ot_reply_json(req, 200, json_incref(next));
out:
    pthread_mutex_unlock(&e->mu);
    json_decref(doc);
    json_decref(next);
    json_decref(body);
}

/* --- policies ------------------------------------------------------------------------- */

/* Webhook secrets stay on the server: a read shows "secret_set": true
 * instead, and a PUT that leaves a rule's secret out keeps the stored one
 * (keep_secrets), so reading a policy and writing it back loses nothing. */
static void hide_secrets(json_t *policy)
{
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(policy, "rules"), i, rule) {
        json_t *wh = json_object_get(rule, "webhook");
        if (json_object_get(wh, "secret")) {
            json_object_del(wh, "secret");
            json_object_set_new(wh, "secret_set", json_true());
        }
    }
}

static void keep_secrets(json_t *body, const json_t *old)
{
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(body, "rules"), i, rule) {
        json_t *wh = json_object_get(rule, "webhook");
        if (!wh)
            continue;
        json_t *keep = json_object_get(wh, "secret_set");
        json_object_del(wh, "secret_set");
        if (json_object_get(wh, "secret") || !json_is_true(keep))
            continue;
        const json_t *ow = json_object_get(json_array_get(json_object_get(old, "rules"), i),
                                           "webhook");
        const char *url = json_string_value(json_object_get(wh, "url"));
        const char *ourl = json_string_value(json_object_get(ow, "url"));
        if (url && ourl && strcmp(url, ourl) == 0 && json_object_get(ow, "secret"))
            json_object_set(wh, "secret", json_object_get(ow, "secret"));
    }
}

void ot_h_policy_get(ot_req *req)
{
    const char *twin = ot_req_twin_path(req);
    if (!twin)
        return;
    json_t *doc = load_doc(req->app, "policy", twin, NULL);
    if (doc) {
        hide_secrets(doc);
        ot_reply_json(req, 200, doc);
        return;
    }
    ot_policy *p = ot_policy_default();
    json_t *j = p ? ot_policy_to_json(p) : NULL;
    ot_policy_free(p);
    if (!j) {
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    json_object_set_new(j, "twin_id", json_string(twin));
    json_object_set_new(j, "default", json_true());
    ot_reply_json(req, 200, j);
}

void ot_h_policy_put(ot_req *req)
{
    const char *twin = ot_req_twin_path(req);
    if (!twin)
        return;
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    ot_error err;
    ot_error_clear(&err);
    ot_policy *p = NULL;
    json_t *canon = NULL, *old = NULL;
    /* bookkeeping members are the server's */
    json_object_del(body, "version");
    json_object_del(body, "updated_at");
    json_object_del(body, "updated_by");
    json_object_del(body, "default");
    json_object_set_new(body, "twin_id", json_string(twin));
    old = load_doc(req->app, "policy", twin, NULL);
    keep_secrets(body, old);
    if (ot_policy_parse(body, &p, &err)) {
        ot_reply_error(req, &err);
        goto out;
    }
    canon = ot_policy_to_json(p);
    char ts[OT_TS_BUFSZ];
    json_object_set_new(canon, "twin_id", json_string(twin));
    json_object_set_new(canon, "version",
                        json_integer(json_integer_value(json_object_get(old, "version")) + 1));
    json_object_set_new(canon, "updated_at", json_string(ot_ts_format(ot_now_us(), ts)));
    json_object_set_new(canon, "updated_by", json_string(ot_req_actor(req)));
    struct batch b = {0};
    batch_doc(&b, "policy", twin, twin, NULL, canon);
    batch_event(&b, OT_EV_POLICY_UPDATED, twin, twin, "policy",
                json_pack("{s:O}", "version", json_object_get(canon, "version")));
    pthread_mutex_lock(&req->app->engine->mu);
    int rc = batch_commit(req->app, &b, ot_req_actor(req), "policy.update", twin, &err);
    pthread_mutex_unlock(&req->app->engine->mu);
    if (rc) {
        ot_reply_error(req, &err);
    } else {
        json_t *shown = json_deep_copy(canon);
        hide_secrets(shown);
        ot_reply_json(req, 200, shown);
    }
out:
    ot_policy_free(p);
    json_decref(canon);
    json_decref(old);
    json_decref(body);
}

/* --- the loop: anomaly -> rule -> simulation -> proposal ------------------------------ */

struct rule_run {
    ot_engine *e;
    json_t *anomaly;
    json_t *action;              /* the rule's action.v1 */
    char *scenario;
    char executor[16];
    char *webhook_url, *webhook_secret;
    int timeout_ms, retries;
    char summary[512];
};

static void rule_run_free(struct rule_run *r)
{
    json_decref(r->anomaly);
    json_decref(r->action);
    free(r->scenario);
    free(r->webhook_url);
    free(r->webhook_secret);
    free(r);
}

/* Simulation finished (sim worker thread): propose the rule's action. */
static void rule_sim_done(void *ctx, const json_t *result, const ot_error *sim_err)
{
    struct rule_run *r = ctx;
    json_t *evidence = json_pack("[{s:O, s:O}]", "anomaly_id", json_object_get(r->anomaly, "anomaly_id"),
                                 "anomaly", r->anomaly);
    json_t *body = json_pack("{s:O, s:s, s:o, s:O, s:O}", "twin_id",
                             json_object_get(r->anomaly, "twin_id"), "summary", r->summary,
                             "evidence", evidence, "recommended_action", r->action, "anomaly_id",
                             json_object_get(r->anomaly, "anomaly_id"));
    if (result && str(result, "sim_id"))
        json_object_set_new(body, "sim_id", json_string(str(result, "sim_id")));
    else if (sim_err)
        ot_log(OT_LOG_WARNING, "policy: the rule's simulation failed (%s); proposing without it",
               sim_err->message);
    ot_exec_target t = {.executor = r->executor, .webhook_url = r->webhook_url,
                        .webhook_secret = r->webhook_secret, .timeout_ms = r->timeout_ms,
                        .retries = r->retries};
    ot_error err;
    ot_error_clear(&err);
    json_t *out = propose(r->e, body, RULES_ACTOR, r->scenario, &t, &err);
    if (!out)
        ot_log(OT_LOG_ERROR, "policy: could not propose the rule's action: %s", err.message);
    json_decref(out);
    json_decref(body);
    rule_run_free(r);
}

int ot_engine_on_anomaly(ot_engine *e, const json_t *anomaly)
{
    const char *twin = str(anomaly, "twin_id");
    ot_error err;
    ot_error_clear(&err);
    if (!twin)
        return 0;
    ot_policy *p = ot_engine_policy_for(e->app, twin, &err);
    if (!p)
        return 0;
    const ot_policy_rule *rules[4];
    int n = ot_policy_match_rules(p, anomaly, rules, 4, &err);
    if (n <= 0) {
        ot_policy_free(p);
        return 0;
    }
    const ot_policy_rule *rule = rules[0];
    struct rule_run *r = calloc(1, sizeof *r);
    if (!r) {
        ot_policy_free(p);
        return 0;
    }
    r->e = e;
    r->anomaly = json_deep_copy(anomaly);
    r->action = ot_action_to_json(&rule->action);
    r->scenario = rule->scenario_name ? strdup(rule->scenario_name) : NULL;
    snprintf(r->executor, sizeof r->executor, "%s", ot_executor_name(rule->executor));
    if (rule->has_webhook) {
        r->webhook_url = rule->webhook.url ? strdup(rule->webhook.url) : NULL;
        r->webhook_secret = rule->webhook.secret ? strdup(rule->webhook.secret) : NULL;
        r->timeout_ms = rule->webhook.timeout_ms;
        r->retries = rule->webhook.retries;
    }
    snprintf(r->summary, sizeof r->summary, "rule %s: %s %s on %s/%s (score %.2f)",
             rule->name ? rule->name : "(unnamed)", str(anomaly, "severity") ?: "",
             str(anomaly, "kind") ?: "", str(anomaly, "asset_id") ?: "", str(anomaly, "metric") ?: "",
             json_number_value(json_object_get(anomaly, "score")));
    /* the simulation compares the rule's scenario with doing nothing */
    json_t *sim = json_pack("{s:s, s:s, s:I}", "twin_id", twin, "scenario", r->summary,
                            "n_samples", (json_int_t)RULE_SIM_SAMPLES);
    if (rule->scenario_name && rule->scenario_set)
        json_object_set_new(sim, "scenarios", json_pack("[{s:s, s:O}]", "name",
                                                        rule->scenario_name, "set",
                                                        rule->scenario_set));
    ot_policy_free(p);
    if (ot_sim_service_submit(e->app->sim, sim, str(anomaly, "anomaly_id"), rule_sim_done, r,
                              &err)) {
        /* no simulation: propose at once, without its evidence */
        ot_log(OT_LOG_WARNING, "policy: %s; proposing without a simulation", err.message);
        rule_sim_done(r, NULL, &err);
    }
    json_decref(sim);
    return 1;
}

/* --- expiry ------------------------------------------------------------------------------ */

static void *expiry_main(void *arg)
{
    ot_engine *e = arg;
    pthread_mutex_lock(&e->stop_mu);
    while (!e->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += EXPIRY_EVERY_S;
        pthread_cond_timedwait(&e->stop_cv, &e->stop_mu, &ts);
        if (e->stopping)
            break;
        pthread_mutex_unlock(&e->stop_mu);
        json_t *pending = ot_store_list_docs(e->app->store, "proposal", NULL, "pending", 1000, NULL);
        size_t i;
        json_t *d;
        int64_t now = ot_now_us();
        json_array_foreach(pending, i, d) {
            if (!ot_proposal_is_expired(d, now))
                continue;
            pthread_mutex_lock(&e->mu);
            json_t *cur = load_doc(e->app, "proposal", str(d, "proposal_id"), NULL);
            if (cur)
                expire_locked(e, cur);
            json_decref(cur);
            pthread_mutex_unlock(&e->mu);
        }
        json_decref(pending);
        pthread_mutex_lock(&e->stop_mu);
    }
    pthread_mutex_unlock(&e->stop_mu);
    return NULL;
}

int ot_engine_start(ot_app *app, ot_engine **out, ot_error *err)
{
    ot_engine *e = calloc(1, sizeof *e);
    if (!e)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    e->app = app;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->stop_mu, NULL);
    pthread_cond_init(&e->stop_cv, NULL);
    if (pthread_create(&e->expiry, NULL, expiry_main, e) == 0) {
        e->started = 1;
        pthread_setname_np(e->expiry, "policy-expiry");
    }
    *out = e;
    return 0;
}

void ot_engine_stop(ot_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->stop_mu);
    e->stopping = 1;
    pthread_cond_signal(&e->stop_cv);
    pthread_mutex_unlock(&e->stop_mu);
    if (e->started)
        pthread_join(e->expiry, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->stop_mu);
    pthread_cond_destroy(&e->stop_cv);
    free(e);
}
