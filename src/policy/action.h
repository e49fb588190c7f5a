/* action.h - action.v1: what the twin can do to an asset.
 *
 *   {"type": "set_parameter", "target": "chiller_1",
 *    "params": {"name": "setpoint", "value": 18}, "emergency"?: false}
 *
 * Parsing accepts exactly what schemas/action.v1.json accepts and reports
 * the first problem at its JSON path under the caller's base path
 * ("$.recommended_action.params.value: must be a number"). Per type:
 *   set_parameter  params {name (telemetry name), value (number)}; sets the
 *                  twin's set-point "<target>.<name>" (chiller_1.setpoint)
 *   scale          params {replicas (integer >= 0)}
 *   deploy         params {version (non-empty string)}
 *   rollback       params {action_id ("act_" ULID)}: the action to undo
 *   shutdown       params {reason?}; the policy engine refuses it unless
 *                  "emergency" is true
 *   restart        no params required
 * Other params members are kept and passed to the executor. The stored
 * fields of an action (twin_id, action_id, status, executor, reason) are
 * checked when present but not kept: they belong to the action store.
 *
 * Ownership: an ot_action owns a private deep copy of its params (never
 * shared with the parsed document); release it with ot_action_free. Once
 * parsed an action is read-only, so concurrent readers are safe; to_json
 * returns a fresh document. All functions are reentrant.
 */
#ifndef OT_POLICY_ACTION_H
#define OT_POLICY_ACTION_H

#include <jansson.h>

#include "core/error.h"
#include "policy/pcheck.h"

enum ot_action_type {
    OT_ACTION_SET_PARAMETER = 0,
    OT_ACTION_RESTART,
    OT_ACTION_SCALE,
    OT_ACTION_DEPLOY,
    OT_ACTION_ROLLBACK,
    OT_ACTION_SHUTDOWN,
    OT_ACTION_NTYPES
};

/* A set-point key "<target>.<name>": 128 + 1 + 128 chars + NUL. */
#define OT_SETPOINT_KEY_MAX 258

typedef struct ot_action {
    enum ot_action_type type;
    char target[OT_PCHECK_ID_MAX];
    int emergency;   /* "emergency": true */
    json_t *params;  /* owned object, never NULL after a successful parse */
    /* Typed views of params, valid for the matching type only. */
    char name[OT_PCHECK_ID_MAX]; /* set_parameter */
    double value;                /* set_parameter */
    json_int_t replicas;         /* scale */
} ot_action;

/* "set_parameter", ...; NULL for an out-of-range type. */
const char *ot_action_type_name(enum ot_action_type t);

/* The type named s, or -1 when s is not an action type. */
int ot_action_type_from_name(const char *s);

/* Parse doc (borrowed) at JSON path base ("$", "$.recommended_action")
 * into *out. 0, OT_EINVAL (err names the path), OT_ENOMEM. On failure *out
 * holds nothing to free; on success free it with ot_action_free. */
int ot_action_parse(const json_t *doc, const char *base, ot_action *out, ot_error *err);

/* Release what an action owns (its params). Accepts NULL; idempotent. */
void ot_action_free(ot_action *a);

/* Deep copy src into *dst (free with ot_action_free). 0 or OT_ENOMEM. */
int ot_action_copy(ot_action *dst, const ot_action *src, ot_error *err);

/* The set-point key "<target>.<name>" of a set_parameter action into buf
 * (>= OT_SETPOINT_KEY_MAX). 0, or OT_EINVAL when a is not set_parameter. */
int ot_action_setpoint_key(const ot_action *a, char *buf, size_t cap);

/* {"type", "target", "params", "emergency" (only when true)}: a new
 * document that validates against action.v1. NULL on out-of-memory. */
json_t *ot_action_to_json(const ot_action *a);

#endif
