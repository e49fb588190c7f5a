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
