/* url.h - small helpers for the service URLs in the configuration
 * (REDIS_URL, MQTT_URL): percent-decoding of their parts. */
#ifndef OT_CORE_URL_H
#define OT_CORE_URL_H

#include <stddef.h>

/* Decode the n bytes at s (%XX escapes) into out (cap bytes, always
 * NUL-terminated on success). 0, or -1 when the result does not fit or an
 * escape is malformed ("%4", "%zz"). */
int ot_pct_decode(const char *s, size_t n, char *out, size_t cap);

#endif
