/* jsonschema_json.h - JSON value helpers of the jsonschema module
 * (internal; see jsonschema_json.c for the contract). */
#ifndef OT_AIW_JSONSCHEMA_JSON_H
#define OT_AIW_JSONSCHEMA_JSON_H

#include <jansson.h>
#include <stdint.h>

/* -1, 0, 1 comparing two numbers exactly where jansson keeps integers. */
int js_num_cmp(const json_t *a, const json_t *b);
/* 1 when number v is a multiple of m (m > 0). */
int js_multiple_of(const json_t *v, const json_t *m);
uint64_t js_json_hash(const json_t *v);
/* 1 unique, 0 duplicates (first pair in *dup_a < *dup_b), -1 OOM. */
int js_unique_items(const json_t *arr, size_t *dup_a, size_t *dup_b);
/* Number of code points in valid UTF-8. */
size_t js_utf8_length(const char *s, size_t len);

#endif
