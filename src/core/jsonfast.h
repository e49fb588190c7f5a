/* jsonfast.h - a fast path for parsing JSON request bodies into jansson
 * values.
 *
 * jansson's parser reads its input one character at a time through a
 * stream and a string buffer: about 200 instructions per byte, a fifth of
 * what a 1,000-event ingest request costs. ot_json_fast_loadb parses the
 * common subset of JSON directly from the buffer and builds the same
 * values with jansson's own constructors:
 *   - a top-level object or array, with nothing but whitespace after it;
 *   - strings without backslash escapes and without control characters
 *     (UTF-8 beyond ASCII is checked with ot_utf8_valid);
 *   - integers of up to 18 digits, reals that strtod reads finitely;
 *   - true, false, null; nesting up to 64 levels.
 * For such input the result is exactly what json_loadb(buf, len, flags)
 * returns: the same types, values, and key order, a later duplicate key
 * replacing the earlier value in place (flags 0), or no result with
 * JSON_REJECT_DUPLICATES. For anything else - invalid JSON included - it
 * returns NULL and the caller calls json_loadb, which gives the value or
 * jansson's error message. tests/fuzz/fuzz_jsonfast.c checks the two
 * against each other.
 *
 * Pure function, thread-safe; the caller owns the returned reference.
 */
#ifndef OT_CORE_JSONFAST_H
#define OT_CORE_JSONFAST_H

#include <jansson.h>
#include <stddef.h>

/* flags: 0 or JSON_REJECT_DUPLICATES (any other flag: NULL). */
json_t *ot_json_fast_loadb(const char *buf, size_t len, size_t flags);

/* ot_json_fast_loadb, else json_loadb(buf, len, flags, err). */
json_t *ot_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);

#endif
