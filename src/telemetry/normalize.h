/* normalize.h - turn one incoming telemetry object into a canonical record,
 * or reject it with an error naming the offending field.
 *
 * Input (telemetry.v1): {twin_id, asset_id, metrics, tags?, ts?, quality?,
 * event_id?}. JSON null counts as absent for every optional field. Rules:
 *   twin_id, asset_id  required; 1..128 bytes of [A-Za-z0-9_.:-] (they appear
 *                      in URLs and MQTT topics).
 *   event_id           optional, same rules; makes the write idempotent. When
 *                      absent a "tel_" ULID is generated (event_id_given = 0).
 *   ts                 see ot_tel_parse_ts; absent -> now_us (ts_given = 0).
 *                      Never silently "now" for a value that does not parse.
 *   metrics            required object, 1..OT_TEL_METRICS_MAX entries; names
 *                      1..64 bytes of [A-Za-z0-9_.:-]; values finite numbers,
 *                      or strings holding exactly a decimal number ("21.5",
 *                      "-3", "1e3"; no spaces, hex, "nan" or "inf"; a string
 *                      that overflows to infinity is rejected).
 *   tags               optional object of at most 64 string values; keys
 *                      1..64 bytes of [A-Za-z0-9_.:/-], the first not one of
 *                      ".:/-"; values at most 256 bytes, no NUL bytes.
 *                      An empty object is the same as no tags.
 *   quality            optional: the client's score as a number in [0,1], or
 *                      an object with an optional "score" in [0,1], "flags"
 *                      (an array of strings), "source" (a string) and any
 *                      other fields (kept as they are). An object holding
 *                      "data_quality_score" or "missing_rate" is taken as this
 *                      module's own output (see ot_tel_to_json), so a canonical
 *                      record can be sent again: it may hold only those two
 *                      and "client" (the client's original quality); its
 *                      missing_rate is kept unless the profile declares
 *                      expected metrics, and data_quality_score is recomputed.
 *   anything else      rejected: "$.foo: unknown field; allowed: ...".
 * The ingest profile (ingest_profile.h) then renames and converts metrics;
 * two metrics ending with the same name are rejected at the later one's path.
 * Quality: missing_rate = fraction of the profile's expected metrics absent
 * (0 without any); data_quality_score = (client score, else 1) * (1 -
 * missing_rate).
 *
 * Errors: OT_EINVAL with err->path = path_prefix + the field's JSON path
 * ("$.metrics.temp_c"; keys that are not plain tokens are bracket-quoted:
 * "$.metrics[\"a b\"]"); OT_ENOMEM. The first problem found is reported,
 * checking unknown fields first, then twin_id, asset_id, event_id, ts,
 * metrics, tags, quality.
 *
 * Ownership: an ot_tel is filled by ot_tel_normalize* and released with
 * ot_tel_clear. Its tags and quality are references shared with the input
 * document (no copy on the hot path): do not modify the input afterwards.
 *
 * Thread-safety: every function is reentrant; there is no mutable shared
 * state (event ids come from ids.h, which locks internally). A profile may be
 * shared read-only by any number of threads.
 *
 * Cost: one allocation per record (the metrics array); errors cost nothing
 * until they happen.
 */
#ifndef OT_TELEMETRY_NORMALIZE_H
#define OT_TELEMETRY_NORMALIZE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "telemetry/ingest_profile.h"
#include "telemetry/names.h" /* OT_TEL_ID_MAX, OT_METRIC_NAME_MAX */

#define OT_TEL_METRICS_MAX 256
#define OT_TEL_TAGS_MAX 64
#define OT_TEL_TAG_KEY_LEN 64
#define OT_TEL_TAG_VALUE_LEN 256

typedef struct ot_tel_metric {
    char name[OT_METRIC_NAME_MAX];
    double value;
} ot_tel_metric;

typedef struct ot_tel {
    char event_id[OT_TEL_ID_MAX];
    int event_id_given; /* 1: the client's idempotency key; 0: generated */
    char twin_id[OT_TEL_ID_MAX];
    char asset_id[OT_TEL_ID_MAX];
    int64_t ts_us; /* microseconds since the epoch, UTC */
    int ts_given;  /* 0: ts was absent and ts_us is the server's now_us */
    size_t nmetrics;
    ot_tel_metric *metrics; /* owned; sorted by name (strcmp), names unique */
    json_t *tags;           /* owned reference to a non-empty object, or NULL */
    json_t *quality;        /* owned reference to the client's number/object, or NULL */
    double data_quality_score, missing_rate; /* both in [0,1] */
} ot_tel;

/* Normalize one telemetry object. path_prefix is prepended to error paths:
 * "$" (or NULL) for a single object, "$[3]" for the 4th item of a batch, which
 * then reports "$[3].ts". profile may be NULL. now_us is the server time used
 * when ts is absent. On success returns 0 and fills *out (caller calls
 * ot_tel_clear); on failure *out is left cleared (safe to ot_tel_clear). */
int ot_tel_normalize(const json_t *in, const ot_ingest_profile *profile, int64_t now_us,
                     const char *path_prefix, ot_tel *out, ot_error *err);

/* Normalize a bare metrics object (the MQTT payload {"temp_c": 21.5}) with
 * twin and asset ids taken from the topic. Same metric rules and profile;
 * errors name "$.<metric>" for the payload, and "twin_id"/"asset_id" (no "$",
 * they are not in the payload) for bad ids. ts = now_us, no tags or quality. */
int ot_tel_normalize_bare(const json_t *metrics, const char *twin_id, const char *asset_id,
                          const ot_ingest_profile *profile, int64_t now_us, ot_tel *out,
                          ot_error *err);

/* Release what t owns and zero it. Accepts a zeroed or already-cleared t. */
void ot_tel_clear(ot_tel *t);

/* The canonical telemetry.v1 object:
 *   {"event_id", "twin_id", "asset_id", "ts": "2026-01-04T12:34:56.123456Z",
 *    "metrics": {name: number, ...}, "tags": {...} (only if any),
 *    "quality": {"data_quality_score", "missing_rate", "client": <given> (only if any)}}
 * Normalizing it again without a profile gives the same record (except that
 * event_id_given and ts_given become 1). Caller owns; NULL when out of memory. */
json_t *ot_tel_to_json(const ot_tel *t);

/* ot_tel_to_json for a run of records (the schema check of a batch): the
 * tree of the previous call with its values replaced when t has the same
 * members (metric names in order, tags and the client's quality there or
 * not), else a new tree. Building a tree of ~15 members cost each record
 * more than the check itself. Zero-initialize; the tree belongs to c, valid
 * until the next call or ot_tel_json_clear. NULL when out of memory. One
 * thread at a time. */
typedef struct ot_tel_json {
    json_t *o, *m, *q;                         /* the tree, its metrics and quality */
    json_t *ev, *twin, *asset, *ts, *dqs, *mr; /* value nodes inside o */
} ot_tel_json;
const json_t *ot_tel_json_of(ot_tel_json *c, const ot_tel *t);
void ot_tel_json_clear(ot_tel_json *c);

/* The same object as JSON text, appended to b: byte-identical to
 * ot_json_dumps(ot_tel_to_json(t), JSON_COMPACT), without building it. 0,
 * or -1 when out of memory (b is then failed). */
int ot_tel_render(const ot_tel *t, ot_buf *b);

/* --- Timestamps (also used by the CSV/NDJSON importer) ---------------------
 * Accepted forms:
 *   - RFC 3339 with any offset, 'T' or ' ' separator, fraction up to 9 digits
 *     ("2026-01-04T18:04:56.5+05:30"); "YYYY-MM-DD HH:MM:SS" is UTC.
 *   - Unix time as a JSON number or a string of digits with an optional
 *     fraction ("1767530096.25"), its unit chosen by magnitude:
 *         v < 1e11          seconds       (up to year 5138)
 *         1e11 <= v < 1e14  milliseconds  (1973-03-03 .. 5138)
 *         v >= 1e14         microseconds  (1973-03-03 .. 9999)
 *     so milliseconds before 1973-03-03 read as seconds: send RFC 3339 there.
 *     Sub-microsecond digits are truncated in strings and rounded in JSON
 *     numbers (which are binary floating point). Strings take no sign,
 *     exponent or spaces.
 * Rejected with OT_EINVAL at path: any other type or text, impossible dates
 * (Feb 30, 25:00), negative values, and anything before 1970-01-01T00:00:00Z
 * or after 9999-12-31T23:59:59.999999Z. v must not be NULL or JSON null:
 * callers decide what absence means. */
#define OT_TS_MAX_US 253402300799999999LL /* 9999-12-31T23:59:59.999999Z */

int ot_tel_parse_ts(const json_t *v, int64_t *us, ot_error *err, const char *path);

/* The same for a NUL-terminated string (a CSV field); no trimming. */
int ot_tel_parse_ts_str(const char *s, int64_t *us, ot_error *err, const char *path);

#endif
