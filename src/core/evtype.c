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

char *ot_cursor_format_n(int64_t c, char *buf, size_t *len)
{
    char digits[24];
    int n = 0;
    uint64_t v = c > 0 ? (uint64_t)c : 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < 6)
        digits[n++] = '0';
    memcpy(buf, "cursor_", 7);
    for (int i = 0; i < n; i++)
        buf[7 + i] = digits[n - 1 - i];
    buf[7 + n] = '\0';
    if (len)
        *len = (size_t)(7 + n);
    return buf;
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
