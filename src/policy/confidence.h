/* confidence.h - the ConfidenceScorer: how sure the twin is that an action
 * will help, as a weighted sum of four components in [0, 1]:
 *
 *   historical success       .25  success rate of the twin's last (up to)
 *                                 1,000 action outcomes; 0.5 until there are
 *                                 10 of them
 *   data quality             .25  mean data_quality_score of the twin's
 *                                 recent telemetry; 0.5 when unknown
 *   simulation consistency   .30  from a sim.v1 result: p_improvement of the
 *                                 scenario that tests the action when one
 *                                 was run, else 1 - min(1, std/|mean|) of the
 *                                 objective KPI; 0.5 without a usable result
 *   AI consensus             .20  share of distinct agents whose vote agrees
 *                                 with the action; 0.5 without votes
 *
 * Which scenario tests the action: the one named by the caller (a policy
 * rule's scenario); without a name, the only scenario of a run that had
 * exactly one. Otherwise (no scenarios, or several and none named) the KPI
 * spread is used. The objective KPI is the result's "objective.kpi", else
 * its first KPI (the simulator's primary KPI). A failed run counts as no
 * result.
 *
 * A vote agrees when its recommendation equals (ignoring case) the action's
 * type or one of "approve", "agree", "yes"; anything else disagrees. Each
 * agent counts once: its last vote wins.
 *
 * A proposer's self-reported confidence is recorded and mentioned in the
 * reasoning but never enters the score: the score is built from evidence the
 * twin can check, so an agent cannot talk its way to auto-execution.
 *
 * The score is rounded to 6 decimals so that thresholds compare as written
 * (.25*a + .25*b + .30*c + .20*d lands exactly on .90 when it should).
 *
 * Thread-safety: ot_confidence_score is pure and reentrant. An ot_outcomes
 * ring is a plain value with no lock: its owner (the twin's policy state)
 * serialises add and reads, e.g. under the lock that guards that state.
 */
#ifndef OT_POLICY_CONFIDENCE_H
#define OT_POLICY_CONFIDENCE_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"

#define OT_CONF_W_HISTORICAL 0.25
#define OT_CONF_W_DATA_QUALITY 0.25
#define OT_CONF_W_SIMULATION 0.30
#define OT_CONF_W_CONSENSUS 0.20
#define OT_CONF_NEUTRAL 0.5    /* a component with no evidence */
#define OT_CONF_MIN_OUTCOMES 10
#define OT_OUTCOMES_CAP 1000

/* --- Outcome ring ------------------------------------------------------------ */

/* The last OT_OUTCOMES_CAP action outcomes of a twin, oldest overwritten. */
typedef struct ot_outcomes {
    unsigned char ok[OT_OUTCOMES_CAP]; /* 1 success, 0 failure */
    size_t next;                       /* slot of the next outcome */
    size_t count;                      /* <= OT_OUTCOMES_CAP */
    size_t successes;                  /* among the count kept */
} ot_outcomes;

/* An empty ring. */
void ot_outcomes_init(ot_outcomes *o);

/* Record one outcome (success nonzero), dropping the oldest when full. */
void ot_outcomes_add(ot_outcomes *o, int success);

/* successes / count over the kept outcomes; 0 when there are none. */
double ot_outcomes_rate(const ot_outcomes *o);

/* --- Scorer ------------------------------------------------------------------ */

typedef struct ot_confidence_input {
    const ot_outcomes *outcomes; /* the twin's history; NULL = none */
    int has_data_quality;
    double data_quality;         /* mean quality 0..1 (clamped) */
    const json_t *sim;           /* sim.v1 result, or NULL */
    const char *scenario;        /* the scenario testing the action, or NULL */
    const json_t *votes;         /* proposal.v1 votes array, or NULL */
    const char *action_type;     /* "set_parameter"...: what votes agree with */
    int has_client_confidence;
    double client_confidence;    /* the proposer's own, 0..1 */
} ot_confidence_input;

#define OT_CONF_REASONING_MAX 1024

typedef struct ot_confidence {
    double score;                /* weighted sum, in [0, 1] */
    double historical, data_quality, simulation, consensus;
    int has_client_confidence;
    double client_confidence;
    char reasoning[OT_CONF_REASONING_MAX];
} ot_confidence;

/* Score in. 0, or OT_EINVAL when votes is not an array of {agent_id,
 * recommendation} strings (path "$.votes[i]") or client_confidence is
 * outside 0..1. */
int ot_confidence_score(const ot_confidence_input *in, ot_confidence *out, ot_error *err);

/* {"historical", "data_quality", "simulation_consistency", "ai_consensus"}
 * of c: new document, NULL on out-of-memory. */
json_t *ot_confidence_components_json(const ot_confidence *c);

/* The same keys with their weights. */
json_t *ot_confidence_weights_json(void);

#endif
