/* proposal.h - proposal.v1 documents and the approval state machine.
 *
 * A proposal is an agent's recommended action for a twin:
 *   {"twin_id", "summary", "evidence"?: [...], "recommended_action": {action.v1},
 *    "confidence"?: 0..1, "votes"?: [{"agent_id", "recommendation"}],
 *    "anomaly_id"?, "sim_id"?}
 * The server adds proposal_id ("prop_" ULID), status, proposed_by,
 * created_at and expires_at (24 h by default), and on a decision
 * decided_by, decided_at, approved_action or reason.
 *
 *   pending --approve--------------------> approved  (approved_action = recommended)
 *           --approve with other params--> modified  (approved_action = merged params)
 *           --reject (reason required)---> rejected
 *           --expire (now >= expires_at)-> expired
 *   approved | modified --mark_executed--> same status, action_id set (once)
 * Any other transition is OT_ECONFLICT ("proposal is already approved");
 * approving or rejecting a pending proposal past its expires_at is
 * OT_ECONFLICT too ("proposal expired at ..."). The proposer cannot approve
 * its own proposal (OT_EFORBIDDEN); it may reject (withdraw) it.
 *
 * Transitions are pure: they take the stored document (borrowed) and return
 * a new one in *out, leaving the input untouched, so the caller can commit
 * the new version with a compare-and-set on status (which is what makes
 * two concurrent approvals execute once). All functions are reentrant.
 */
#ifndef OT_POLICY_PROPOSAL_H
#define OT_POLICY_PROPOSAL_H

#include <jansson.h>
#include <stdint.h>

#include "core/error.h"
#include "policy/action.h"

#define OT_PROPOSAL_DEFAULT_TTL_US (24LL * 3600 * 1000000)

enum ot_proposal_status {
    OT_PROPOSAL_PENDING = 0,
    OT_PROPOSAL_APPROVED,
    OT_PROPOSAL_MODIFIED,
    OT_PROPOSAL_REJECTED,
    OT_PROPOSAL_EXPIRED,
    OT_PROPOSAL_EXECUTED
};

/* "pending", ... */
const char *ot_proposal_status_name(enum ot_proposal_status s);

/* The status of a stored proposal; -1 when it has none or an unknown one. */
int ot_proposal_status_of(const json_t *doc);

/* Validate doc (borrowed) against proposal.v1: 0 or OT_EINVAL naming the
 * path ("$.recommended_action.params.value"). Accepts bodies and stored
 * proposals alike. */
int ot_proposal_validate(const json_t *doc, ot_error *err);

/* A new pending proposal from a POST body: validated, then given
 * proposal_id, status "pending", proposed_by, created_at = now and
 * expires_at = now + ttl_us (<= 0: 24 h). Fields the server owns (status,
 * proposal_id, proposed_by, decided_*, reason, approved_action,
 * decision_id, action_id, created_at, expires_at) are refused in the body
 * (OT_EINVAL at their path). *out receives a new document. */
int ot_proposal_create(const json_t *body, const char *proposed_by, int64_t now_us,
                       int64_t ttl_us, json_t **out, ot_error *err);

/* The action a proposal runs: approved_action when decided, else
 * recommended_action, parsed into *out (caller ot_action_free). */
int ot_proposal_action(const json_t *doc, ot_action *out, ot_error *err);

/* 1 if doc is pending and now_us >= its expires_at. */
int ot_proposal_is_expired(const json_t *doc, int64_t now_us);

/* Approve as `by`. params NULL approves the recommended action as is; an
 * object is merged over recommended_action.params (same type and target)
 * and the result validated (errors at "$.params.<key>"); when it differs
 * from the original the status is "modified", else "approved".
 * OT_EFORBIDDEN (by is the proposer), OT_ECONFLICT (not pending, or
 * expired), OT_EINVAL. */
int ot_proposal_approve(const json_t *doc, const char *by, const json_t *params, int64_t now_us,
                        json_t **out, ot_error *err);

/* Reject as `by` with a non-blank reason (OT_EINVAL at "$.reason").
 * OT_ECONFLICT (not pending, or expired). */
int ot_proposal_reject(const json_t *doc, const char *by, const char *reason, int64_t now_us,
                       json_t **out, ot_error *err);

/* pending -> expired, for the expiry sweeper. OT_ECONFLICT when not
 * pending or not yet due. */
int ot_proposal_expire(const json_t *doc, int64_t now_us, json_t **out, ot_error *err);

/* Record the action_id ("act_" ULID) of an approved or modified proposal
 * whose action was created; the status is kept. OT_ECONFLICT when it is not
 * approved/modified or already has an action, OT_EINVAL for a bad id. */
int ot_proposal_mark_executed(const json_t *doc, const char *action_id, json_t **out,
                              ot_error *err);

#endif
