/* evtype.h - the typed events of OpsTwin's one ordered log.
 *
 * Every step of the pipeline emits one of these into the event log; /diff,
 * /subscribe and the sinks read them. The names are the wire names.
 */
#ifndef OT_CORE_EVTYPE_H
#define OT_CORE_EVTYPE_H

#include <stddef.h>
#include <stdint.h>

#define OT_EVENT_TWIN_MAX 129

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

/* A committed event as kept in memory and served by /diff and /subscribe. */
typedef struct ot_event {
    int64_t cursor;
    int type;
    int64_t ts_us;
    char twin_id[OT_EVENT_TWIN_MAX];
    char *json;             /* the full event object */
    size_t json_len;
    /* In the ring: the event's whole SSE frame ("id: ...\nevent: ...\n
     * data: <json>\n\n"), rendered once for every subscriber; json then
     * points inside it. NULL elsewhere. */
    const char *frame;
    size_t frame_len;
} ot_event;

/* Event filter for reads: twin_id NULL = any; types a bitmask of
 * (1 << enum ot_evtype), 0 = any. */
typedef struct ot_event_filter {
    const char *twin_id;
    uint32_t types;
} ot_event_filter;

/* 1 if ev passes f (NULL = everything). */
int ot_event_match(const ot_event_filter *f, int type, const char *twin_id);

/* 1 if f names types and TelemetryAppended is not among them: the backends
 * then read by their indexes of the other events. */
int ot_event_filter_skips_telemetry(const ot_event_filter *f);

/* Wire name ("TelemetryAppended"); NULL for an out-of-range value. */
const char *ot_evtype_name(int type);

/* A cursor's wire form, "cursor_" and at least six digits, into buf
 * (>= OT_CURSOR_BUFSZ bytes). Returns buf; *len (if not NULL) gets its
 * length. Negative cursors are not cursors: they format as 0. */
#define OT_CURSOR_BUFSZ 32
char *ot_cursor_format_n(int64_t c, char *buf, size_t *len);
static inline char *ot_cursor_format(int64_t c, char *buf)
{
    return ot_cursor_format_n(c, buf, NULL);
}

/* Parse a wire name; -1 if unknown. */
int ot_evtype_parse(const char *name, int len);

#endif
