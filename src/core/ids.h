/* ids.h - resource identifiers: a type prefix plus a ULID.
 *
 * "tel_01J9Z3K5V1X2Y3Z4A5B6C7D8E9". ULIDs are 48 bits of milliseconds and 80
 * random bits in Crockford base32 (26 chars); within one millisecond they are
 * monotonic per process (the random part is incremented), so IDs sort by
 * creation. Thread-safe (one small mutex).
 */
#ifndef OT_CORE_IDS_H
#define OT_CORE_IDS_H

#include <stddef.h>

#define OT_ULID_LEN 26
#define OT_ID_BUFSZ 48 /* prefix (<= 16) + '_' + ULID + NUL */

/* Write prefix "_" ULID into buf (>= OT_ID_BUFSZ). Returns buf. */
char *ot_id_new(const char *prefix, char *buf);

/* 1 if s looks like prefix_ULID (prefix NULL: any short lowercase prefix). */
int ot_id_valid(const char *s, const char *prefix);

#endif
