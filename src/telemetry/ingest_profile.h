/* ingest_profile.h - a twin's ingest profile: metric renames, unit
 * conversions and the metrics every event is expected to carry.
 *
 * The operator sets it with PUT /twins/{twin_id}/ingest:
 *
 *   {"rename":  {"temperature": "temp_c"},
 *    "convert": {"temp_f": {"to": "temp_c", "unit": "degF->degC"},
 *                "p_psi":  {"to": "pressure_bar", "scale": 0.0689476, "offset": 0}},
 *    "expected_metrics": ["temp_c", "pressure_bar"]}
 *
 * Every key is optional. Semantics, per incoming metric:
 *   1. rename: if the name is a rename key, it becomes the value. Applied once,
 *      not transitively ({"a":"b","b":"c"} maps a->b and b->c, never a->c).
 *   2. convert: if the (renamed) name is a convert key, the value is converted
 *      and the metric becomes "to" (default: the same name, an in-place unit
 *      change). A conversion is either a named "unit" (ot_ingest_units lists
 *      them; each is exact arithmetic, so 212 degF -> 100 degC exactly) or a
 *      linear "scale" (default 1, non-zero) and "offset" (default 0):
 *      v * scale + offset. Not both.
 *   3. Two incoming metrics that end with the same name are a conflict: the
 *      normalizer rejects that event (a profile alone is never rejected for
 *      it, since a twin's devices may send one name or the other).
 *   expected_metrics: distinct names; the normalizer reports the fraction of
 *   them missing from an event (after rename/convert) as its missing_rate.
 * Each of rename, convert and expected_metrics holds at most
 * OT_PROFILE_RULES_MAX entries; names follow the metric-name rules (1..64
 * bytes of [A-Za-z0-9_.:-]).
 *
 * Ownership and threads: ot_ingest_profile_parse returns a profile the caller
 * frees with ot_ingest_profile_free. A profile is immutable after parse, so any
 * number of threads may use one concurrently without locks; replace it by
 * parsing a new one and swapping the pointer (freeing the old one only when no
 * thread still uses it).
 */
#ifndef OT_TELEMETRY_INGEST_PROFILE_H
#define OT_TELEMETRY_INGEST_PROFILE_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"

#define OT_PROFILE_RULES_MAX 256

typedef struct ot_ingest_profile ot_ingest_profile;

/* The named conversions, comma-separated ("degF->degC, degC->degF, ..."),
 * for documentation and error messages. Static storage. */
const char *ot_ingest_units(void);

/* Validate doc strictly and compile it. On success *out is a new profile
 * (caller frees). On failure returns OT_EINVAL (OT_ENOMEM) with err->path
 * naming the field, e.g. "$.convert.temp_f.unit", and *out is NULL. */
int ot_ingest_profile_parse(const json_t *doc, ot_ingest_profile **out, ot_error *err);

/* Free a profile. Accepts NULL. */
void ot_ingest_profile_free(ot_ingest_profile *p);

/* The canonical document (for GET): all three keys always present, names
 * sorted, every convert entry with an explicit "to" and either "unit" or both
 * "scale" and "offset". Parsing it gives an equal profile. Caller owns the
 * result; NULL only when out of memory. */
json_t *ot_ingest_profile_to_json(const ot_ingest_profile *p);

/* Map one incoming metric through the profile: *name_out becomes the final
 * name (borrowed from the profile or `name` itself) and *value is converted in
 * place. p may be NULL (identity). Returns 0, or OT_EINVAL without touching
 * *value when the converted value would not be finite (1e308 s->ms); the
 * caller, who knows the field's path, reports it. *name_out is set either way.
 * Used by the normalizer on every metric, so it neither allocates nor
 * formats. */
int ot_ingest_profile_apply(const ot_ingest_profile *p, const char *name, double *value,
                            const char **name_out);

/* The expected metrics, sorted: their count (0 when p is NULL) and the i-th
 * name (borrowed from p). */
size_t ot_ingest_profile_nexpected(const ot_ingest_profile *p);
const char *ot_ingest_profile_expected(const ot_ingest_profile *p, size_t i);

#endif
