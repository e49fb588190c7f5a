/* decision.h - the DecisionMaker: safety first, then the thresholds.
 *
 * Safety constraints (all are checked; every violation is reported):
 *   - the action's type is in the policy's forbid list
 *       "forbidden by policy: deploy"
 *   - a set_parameter value outside the limit of its set-point key
 *       "chiller_1.setpoint = 35 is above the maximum 30"
 *   - a shutdown without "emergency": true
 *       "non-emergency shutdown forbidden"
 *   - actions_last_hour >= max_actions_per_hour (a sliding hour per twin)
 *       "rate limit: 20 actions in the last hour (max 20)"
 * Any violation makes the decision reject, whatever the confidence: a
 * human approval would run the same unsafe action, so asking is no better.
 *
 * Otherwise, with the twin's thresholds (see policy_doc.h) and the score:
 *   score >= auto_execute       auto_execute
 *   score >= require_approval   require_approval
 *   score >= require_analysis   require_analysis (recorded; nothing runs
 *                               until more evidence, e.g. a simulation)
 *   below                       reject
 * Comparisons are inclusive: exactly .90 auto-executes, exactly .70 asks.
 *
 * All functions are pure and reentrant; nothing here keeps state.
 */
#ifndef OT_POLICY_DECISION_H
#define OT_POLICY_DECISION_H

#include <jansson.h>
#include <stdint.h>

#include "core/error.h"
#include "policy/action.h"
#include "policy/confidence.h"
#include "policy/policy_doc.h"

enum ot_decision_kind {
    OT_DECIDE_AUTO_EXECUTE = 0,
    OT_DECIDE_REQUIRE_APPROVAL,
    OT_DECIDE_REQUIRE_ANALYSIS,
    OT_DECIDE_REJECT
};

#define OT_SAFETY_MAX_VIOLATIONS 4 /* one per kind of constraint */
#define OT_SAFETY_MSG_MAX 320

typedef struct ot_safety {
    int ok;
    size_t nviolations;
    char violations[OT_SAFETY_MAX_VIOLATIONS][OT_SAFETY_MSG_MAX];
} ot_safety;

/* "auto_execute", "require_approval", "require_analysis", "reject". */
const char *ot_decision_name(enum ot_decision_kind k);

/* Check action against policy's safety constraints given how many actions
 * the twin ran in the last hour. Fills *out; returns out->ok. */
int ot_safety_check(const ot_policy *policy, const ot_action *action,
                    long long actions_last_hour, ot_safety *out);

/* The decision for a score, given the safety result. */
enum ot_decision_kind ot_decision_classify(const ot_policy *policy, double score,
                                           const ot_safety *safety);

typedef struct ot_decision_input {
    const char *twin_id;              /* required */
    const ot_policy *policy;          /* NULL: the defaults */
    const ot_action *action;          /* required */
    const ot_confidence *confidence;  /* required */
    long long actions_last_hour;
    int64_t now_us;                   /* created_at */
    const char *proposal_id;          /* optional links, copied when set */
    const char *anomaly_id;
    const char *sim_id;
} ot_decision_input;

/* Decide and build the decision.v1 document: {decision_id ("dec_" ULID),
 * twin_id, decision, confidence, components, weights, client_confidence?,
 * reasoning (the score's parts, then the safety result or the threshold
 * that decided), safety {ok, violations}, action, thresholds, created_at,
 * proposal_id?, anomaly_id?, sim_id?}. *out receives a new document; *kind
 * (may be NULL) the decision. 0, OT_EINVAL (a missing required input),
 * OT_ENOMEM. */
int ot_decide(const ot_decision_input *in, enum ot_decision_kind *kind, json_t **out,
              ot_error *err);

#endif
