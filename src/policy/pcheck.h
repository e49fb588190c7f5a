/* pcheck.h - the field checks shared by the policy engine's document parsers
 * (action.v1, policy.v1, proposal.v1).
 *
 * Each check mirrors one JSON Schema construct of the built-in schemas
 * exactly, so a hand-written parser accepts what its schema accepts: the id
 * and name patterns of telemetry.v1 $defs, prefixed ULIDs, date-times,
 * lengths in code points, integers (an integral real counts, as in JSON
 * Schema). The *_at helpers fill an ot_error (OT_EINVAL at the given path)
 * with a message that says what is expected.
 *
 * All functions are pure and reentrant.
 */
#ifndef OT_POLICY_PCHECK_H
#define OT_POLICY_PCHECK_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"

#define OT_PCHECK_ID_MAX 129 /* telemetry.v1 $defs/id and $defs/name: 128 chars + NUL */

/* 1 if s matches telemetry.v1 $defs/id: 1..128 chars of
 * ^[A-Za-z0-9][A-Za-z0-9_.:-]*$. */
int ot_pcheck_id(const char *s);

/* 1 if s matches telemetry.v1 $defs/name: 1..128 chars of
 * ^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$. */
int ot_pcheck_name(const char *s);

/* 1 if s is prefix "_" followed by 26 characters of [0-9A-HJKMNP-TV-Z]. */
int ot_pcheck_prefixed_ulid(const char *s, const char *prefix);

/* 1 if s is an RFC 3339 date-time ("2026-01-04T12:34:56Z"). */
int ot_pcheck_date_time(const char *s);

/* Number of Unicode code points of a valid UTF-8 string (what JSON Schema
 * minLength/maxLength count). */
size_t ot_pcheck_strlen(const char *s);

/* 1 if v is a JSON Schema "integer" (an integer, or a real with no fraction
 * in int64 range); *out receives it. */
int ot_pcheck_integer(const json_t *v, json_int_t *out);

/* dst = base + ".key" or base + "[\"key\"]" (see ot_tel_path_key). */
char *ot_pcheck_path(char *dst, size_t cap, const char *base, const char *key);

/* dst = base + "[i]". */
char *ot_pcheck_path_index(char *dst, size_t cap, const char *base, size_t i);

/* OT_EINVAL naming the first key of object o that is not in the
 * NULL-terminated list allowed ("$.safety.colour: unknown field (expected
 * forbid, limits, max_actions_per_hour)"); 0 when there is none. */
int ot_pcheck_known_keys(const json_t *o, const char *const *allowed, const char *base,
                         ot_error *err);

/* Optional string member key of o: absent -> 0 and *out NULL; present and
 * a string of minlen..maxlen code points -> 0 and *out borrowed from o;
 * otherwise OT_EINVAL at base.key. */
int ot_pcheck_opt_string(const json_t *o, const char *key, size_t minlen, size_t maxlen,
                         const char *base, const char **out, ot_error *err);

/* Optional number member in [min, max]: absent -> 0, *present 0; present ->
 * 0, *present 1, *out; otherwise OT_EINVAL at base.key. */
int ot_pcheck_opt_number(const json_t *o, const char *key, double min, double max,
                         const char *base, int *present, double *out, ot_error *err);

#endif
