/* hash.h - FNV-1a, the hash of the open-addressing tables (series ids,
 * ingest profiles, detector series, aggregate buckets). Not for anything
 * facing an attacker that could choose colliding keys at scale: the tables
 * hold server-side names. Pure functions. */
#ifndef OT_CORE_HASH_H
#define OT_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t ot_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static inline uint64_t ot_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

#endif
