/* evtype.c - see evtype.h. */
#include "core/evtype.h"

#include <string.h>

#include "core/buf.h"

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
    char d[21];
    size_t n = ot_fmt_u64(d, c > 0 ? (unsigned long long)c : 0), pad = n < 6 ? 6 - n : 0;
    memcpy(buf, "cursor_", 7);
    memset(buf + 7, '0', pad);
    memcpy(buf + 7 + pad, d, n + 1);
    if (len)
        *len = 7 + pad + n;
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

int ot_event_filter_skips_telemetry(const ot_event_filter *f)
{
    return f && f->types && !(f->types & (1u << OT_EV_TELEMETRY_APPENDED));
}
