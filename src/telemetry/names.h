/* names.h - the token rules shared by telemetry and ingest profiles, and safe
 * rendering of untrusted keys into error paths and messages.
 *
 * Twin, asset and event ids and metric names end up in URLs, MQTT topics and
 * SQL identifiers' neighbourhoods, so they are restricted to [A-Za-z0-9_.:-].
 * Error paths and messages go back to clients as JSON strings: anything we echo
 * from input is rendered as printable ASCII (other bytes as \xHH) and bounded,
 * so a truncated message can never split a UTF-8 sequence.
 *
 * All functions are pure and reentrant.
 */
#ifndef OT_TELEMETRY_NAMES_H
#define OT_TELEMETRY_NAMES_H

#include <stddef.h>

#include "core/error.h"

#define OT_TEL_ID_LEN 128    /* max bytes of twin_id, asset_id, event_id */
#define OT_METRIC_NAME_LEN 64 /* max bytes of a metric name */
#define OT_TEL_ID_MAX (OT_TEL_ID_LEN + 1)            /* buffer size, with NUL */
#define OT_METRIC_NAME_MAX (OT_METRIC_NAME_LEN + 1)  /* buffer size, with NUL */

/* 1 if s[0..len) is 1..max bytes of [A-Za-z0-9_.:-], else 0. */
int ot_tel_token_ok(const char *s, size_t len, size_t max);

/* Like ot_tel_token_ok, but on failure fill err (OT_EINVAL at path) saying
 * why, with `what` naming the thing ("twin_id", "metric name"). Returns 0 or
 * OT_EINVAL. */
int ot_tel_token_check(const char *s, size_t len, size_t max, const char *what, const char *path,
                       ot_error *err);

/* Render s[0..len) for a message: printable ASCII kept except backslash and
 * double quote, other bytes as \xHH, cut with "..." beyond 48 input bytes.
 * Returns dst (cap >= 8). */
char *ot_tel_quote(char *dst, size_t cap, const char *s, size_t len);

/* dst = base + ".key" when key is a token, else base + "[\"<quoted key>\"]",
 * so every path is unambiguous ASCII. Returns dst. */
char *ot_tel_path_key(char *dst, size_t cap, const char *base, const char *key, size_t len);

#endif
