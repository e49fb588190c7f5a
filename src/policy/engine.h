/* engine.h - the policy engine inside the server: policies per twin,
 * proposals and their approval workflow, decisions, and the loop from an
 * anomaly to an action.
 *
 *   POST /proposals (or a policy rule matching an anomaly, after the
 *   simulation that tests the rule's action)
 *     -> confidence (history of the twin's actions, recent data quality,
 *        the simulation, agent votes) -> safety, thresholds -> decision
 *     -> auto_execute: an action is created and queued (executor.h)
 *        require_approval / require_analysis: the proposal waits (pending)
 *        reject: the proposal is recorded as rejected
 *   POST /proposals/{id}/approve -> the action runs (exactly once: one lock
 *   orders transitions, and a transition is written before the lock is
 *   released); POST /proposals/{id}/reject; pending proposals expire.
 *
 * Every decision, proposal change and action is written with its event
 * (DecisionMade, ProposalCreated/Approved/Rejected/Expired) and an audit
 * record in one transaction.
 */
#ifndef OT_POLICY_ENGINE_H
#define OT_POLICY_ENGINE_H

#include <jansson.h>

#include "api/http.h"
#include "core/error.h"
#include "policy/policy_doc.h"

struct ot_app;
typedef struct ot_engine ot_engine;

int ot_engine_start(struct ot_app *app, ot_engine **out, ot_error *err);
void ot_engine_stop(ot_engine *e);

/* The twin's policy (stored, or the defaults). Caller frees. */
ot_policy *ot_engine_policy_for(struct ot_app *app, const char *twin_id, ot_error *err);

/* An anomaly was recorded (pipeline thread; anomaly borrowed): run the
 * matching policy rules. Returns 1 when a rule took it (the caller then
 * starts no simulation of its own). */
int ot_engine_on_anomaly(ot_engine *e, const json_t *anomaly);

void ot_h_policy_get(ot_req *req);
void ot_h_policy_put(ot_req *req);
void ot_h_proposals_list(ot_req *req);
void ot_h_proposal_post(ot_req *req);
void ot_h_proposal_get(ot_req *req);
void ot_h_proposal_approve(ot_req *req);
void ot_h_proposal_reject(ot_req *req);

#endif
