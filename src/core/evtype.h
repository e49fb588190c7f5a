/* evtype.h - the typed events of OpsTwin's one ordered log.
 *
 * Every step of the pipeline emits one of these into the event log; /diff,
 * /subscribe and the sinks read them. The names are the wire names.
 */
#ifndef OT_CORE_EVTYPE_H
#define OT_CORE_EVTYPE_H

enum ot_evtype {
    OT_EV_TELEMETRY_APPENDED = 0,
    OT_EV_ANOMALY_DETECTED,
    OT_EV_SIMULATION_COMPLETED,
    OT_EV_DECISION_MADE,
    OT_EV_PROPOSAL_CREATED,
    OT_EV_PROPOSAL_APPROVED,
    OT_EV_PROPOSAL_REJECTED,
    OT_EV_PROPOSAL_EXPIRED,
    OT_EV_ACTION_STARTED,
    OT_EV_ACTION_SUCCEEDED,
    OT_EV_ACTION_FAILED,
    OT_EV_ACTION_ROLLED_BACK,
    OT_EV_SCHEMA_REGISTERED,
    OT_EV_POLICY_UPDATED,
    OT_EV_COUNT
};

/* Wire name ("TelemetryAppended"); NULL for an out-of-range value. */
const char *ot_evtype_name(int type);

/* Parse a wire name; -1 if unknown. */
int ot_evtype_parse(const char *name, int len);

#endif
