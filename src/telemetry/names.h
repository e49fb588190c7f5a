/* names.h - the token rules shared by telemetry and ingest profiles, and safe
 * rendering of untrusted keys into error paths and messages.
 *
 * Twin, asset and event ids and metric names end up in URLs, MQTT topics and
 * SQL identifiers' neighbourhoods, so they are restricted to [A-Za-z0-9_.:-].
 * Error paths and messages go back to clients as JSON strings: anything we echo
 * from input is rendered as printable ASCII (other bytes as \xHH) and bounded,
 * so a truncated message can never split a UTF-8 sequence. A body that does
 * not parse is named the same way: ot_tel_json_error finds the path of the
 * value jansson stopped in (every JSON body the API, MQTT and the importer
 * read reports its parse errors through it).
 *
 * All functions are pure and reentrant.
 */
#ifndef OT_TELEMETRY_NAMES_H
#define OT_TELEMETRY_NAMES_H

#include <jansson.h>
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

/* After jansson failed to parse text[0..len) (its error in je): the path of
 * the value the error is in, so that the message names the field where
 * jansson's names a line and column - "$.metrics.temp_c" for a number there
 * that overflows to infinity, "$[3]" for a malformed fourth item, "$" at the
 * top; base ("$", or "$[2]" for an NDJSON line) stands for the top. Keys as
 * ot_tel_path_key writes them; a path longer than OT_ERROR_PATH_MAX is cut.
 * Fills err (OT_EINVAL, that path) with "<what> is not valid JSON at <path>:
 * <jansson's text> (line L, column C)" ("at <path>" left out at the top,
 * the line too when with_line is 0) and returns OT_EINVAL. */
int ot_tel_json_error(ot_error *err, const char *base, const char *what, const char *text,
                      size_t len, const json_error_t *je, int with_line);

#endif
