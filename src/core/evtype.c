/* evtype.c - see evtype.h. */
#include "core/evtype.h"

#include <string.h>

static const char *const names[OT_EV_COUNT] = {
    "TelemetryAppended", "AnomalyDetected",  "SimulationCompleted", "DecisionMade",
    "ProposalCreated",   "ProposalApproved", "ProposalRejected",    "ProposalExpired",
    "ActionStarted",     "ActionSucceeded",  "ActionFailed",        "ActionRolledBack",
    "SchemaRegistered",  "PolicyUpdated",
};

const char *ot_evtype_name(int type)
{
    return type >= 0 && type < OT_EV_COUNT ? names[type] : NULL;
}

int ot_evtype_parse(const char *name, int len)
{
    size_t n = len < 0 ? strlen(name) : (size_t)len;
    for (int i = 0; i < OT_EV_COUNT; i++)
        if (strlen(names[i]) == n && strncmp(names[i], name, n) == 0)
            return i;
    return -1;
}

int ot_event_match(const ot_event_filter *f, int type, const char *twin_id)
{
    if (!f)
        return 1;
    if (f->types && !(f->types & (1u << type)))
        return 0;
    return !f->twin_id || strcmp(f->twin_id, twin_id) == 0;
}
