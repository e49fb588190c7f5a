/* policy_doc.h - policy.v1: a twin's thresholds, safety constraints and rules.
 *
 *   {"thresholds": {"auto_execute": 0.9, "require_approval": 0.7},
 *    "safety": {"forbid": ["deploy"],
 *               "limits": {"chiller_1.setpoint": {"min": 10, "max": 30}},
 *               "max_actions_per_hour": 20},
 *    "rules": [{"when": {"metric": "temp_c", "kind": ["spike"], "min_severity": "high"},
 *               "action": {action.v1}, "executor": "state",
 *               "scenario": {"name": "cooler", "set": {"coolant": 18}}}]}
 *
 * Parsing accepts exactly schemas/policy.v1.json plus the two rules a schema
 * cannot state: 0 <= require_analysis <= require_approval <= auto_execute
 * <= 1, and min <= max in every limit. The first problem is reported at its
 * JSON path ("$.thresholds.require_approval", "$.safety.forbid[1]",
 * "$.rules[0].action.params.value").
 *
 * Defaults (also the policy of a twin that has none, ot_policy_default):
 * thresholds .90 / .70 / require_analysis min(.50, require_approval); no
 * forbidden types; no limits; max_actions_per_hour 20 (a safety net against
 * a runaway loop; 0 freezes the twin); no rules; executor "state"; webhook
 * timeout 5000 ms and 3 retries.
 *
 * Ownership and thread-safety: a parsed ot_policy is immutable and owned by
 * its creator (ot_policy_free). Readers never touch reference counts (to_json
 * deep-copies), so any number of threads may read and match one policy
 * concurrently. All functions are reentrant.
 */
#ifndef OT_POLICY_POLICY_DOC_H
#define OT_POLICY_POLICY_DOC_H

#include <jansson.h>
#include <stdint.h>

#include "core/error.h"
#include "policy/action.h"

#define OT_POLICY_DEFAULT_AUTO 0.90
#define OT_POLICY_DEFAULT_APPROVAL 0.70
#define OT_POLICY_DEFAULT_ANALYSIS 0.50
#define OT_POLICY_DEFAULT_MAX_PER_HOUR 20
#define OT_POLICY_MAX_RULES 256

/* Own names: telemetry/detector.h has its own (with a "none") enum. */
enum ot_policy_severity {
    OT_POLICY_SEV_LOW = 0,
    OT_POLICY_SEV_MEDIUM,
    OT_POLICY_SEV_HIGH,
    OT_POLICY_SEV_CRITICAL
};

/* Anomaly kinds as bits of ot_policy_rule.kinds. */
enum ot_policy_kind_bit {
    OT_POLICY_KIND_DRIFT = 1 << 0,
    OT_POLICY_KIND_SPIKE = 1 << 1,
    OT_POLICY_KIND_OUTLIER = 1 << 2,
    OT_POLICY_KIND_PATTERN = 1 << 3,
    OT_POLICY_KIND_MISSING = 1 << 4
};

enum ot_executor { OT_EXEC_STATE = 0, OT_EXEC_MQTT, OT_EXEC_WEBHOOK };

typedef struct ot_policy_limit {
    char key[OT_SETPOINT_KEY_MAX]; /* "<target>.<parameter>" */
    int has_min, has_max;
    double min, max;               /* inclusive */
} ot_policy_limit;

typedef struct ot_policy_webhook {
    char *url;        /* http:// or https:// */
    char *secret;     /* NULL: unsigned */
    int timeout_ms;
    int retries;
} ot_policy_webhook;

typedef struct ot_policy_rule {
    char *name;                     /* NULL when unnamed */
    /* when: an empty field or 0 matches anything */
    char metric[OT_PCHECK_ID_MAX];
    char asset_id[OT_PCHECK_ID_MAX];
    unsigned kinds;                 /* OT_POLICY_KIND_* bits */
    int has_min_severity;
    enum ot_policy_severity min_severity;
    int has_min_score;
    double min_score;
    /* then */
    ot_action action;
    enum ot_executor executor;
    char *scenario_name;            /* NULL when the rule has no scenario */
    json_t *scenario_set;           /* owned {param: number}, with scenario_name */
    int has_webhook;
    ot_policy_webhook webhook;      /* when executor is webhook */
} ot_policy_rule;

typedef struct ot_policy {
    double auto_execute, require_approval, require_analysis;
    unsigned forbid;                /* bit (1 << enum ot_action_type) */
    size_t nlimits;
    ot_policy_limit *limits;
    json_int_t max_actions_per_hour;
    size_t nrules;
    ot_policy_rule *rules;
    /* Bookkeeping members of the document, kept for to_json. */
    char twin_id[OT_PCHECK_ID_MAX]; /* "" when absent */
    int has_version;
    json_int_t version;
    char updated_at[40];            /* "" when absent */
    char *updated_by;               /* NULL when absent */
} ot_policy;

/* The severity named s ("low" ... "critical"), or -1. */
int ot_policy_severity_from_name(const char *s);

/* "state", "mqtt", "webhook". */
const char *ot_executor_name(enum ot_executor e);

/* Parse and validate a policy.v1 document (borrowed). *out receives a new
 * policy (caller frees with ot_policy_free). 0, OT_EINVAL with the path,
 * OT_ENOMEM. */
int ot_policy_parse(const json_t *doc, ot_policy **out, ot_error *err);

/* A new policy with every default (for a twin without one). NULL on
 * out-of-memory. */
ot_policy *ot_policy_default(void);

/* Free a policy and everything it owns. Accepts NULL. */
void ot_policy_free(ot_policy *p);

/* The limit for a set-point key, or NULL (borrowed from p). */
const ot_policy_limit *ot_policy_limit_find(const ot_policy *p, const char *key);

/* 1 if action type t is forbidden by p. */
int ot_policy_forbids(const ot_policy *p, enum ot_action_type t);

/* The rules of p that match anomaly (anomaly.v1, borrowed; its metric, kind
 * and severity are required, asset_id and score are used when a rule asks
 * for them), in policy order: up to max pointers (borrowed from p) into
 * out. Returns how many matched (which may exceed max: only max were
 * stored), or OT_EINVAL when the anomaly lacks a field or has an unknown
 * kind or severity. */
int ot_policy_match_rules(const ot_policy *p, const json_t *anomaly,
                          const ot_policy_rule **out, size_t max, ot_error *err);

/* The policy as a complete policy.v1 document with every default spelled
 * out (so GET returns what is in force). NULL on out-of-memory. */
json_t *ot_policy_to_json(const ot_policy *p);

/* {"auto_execute", "require_approval", "require_analysis"} of p. */
json_t *ot_policy_thresholds_json(const ot_policy *p);

#endif
