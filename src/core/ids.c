/* ids.c - see ids.h. */
#include "core/ids.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/buf.h"
#include "core/clock.h"

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint8_t last_rand[10];

char *ot_id_new(const char *prefix, char *buf)
{
    uint8_t b[16];
    uint64_t ms = (uint64_t)(ot_now_us() / 1000);
    pthread_mutex_lock(&lock);
    if (ms <= last_ms) {
        ms = last_ms;
        for (int i = 9; i >= 0; i--)
            if (++last_rand[i] != 0)
                break;
    } else {
        last_ms = ms;
        if (getrandom(last_rand, sizeof last_rand, 0) != (ssize_t)sizeof last_rand) {
            for (int i = 0; i < 10; i++) /* entropy pool unavailable: still unique */
                last_rand[i] = (uint8_t)(ms >> (i % 6 * 8)) ^ (uint8_t)(i * 37);
        }
    }
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    memcpy(b + 6, last_rand, 10);
    pthread_mutex_unlock(&lock);

    size_t n = ot_strlcpy(buf, prefix, 17); /* <= 16 chars (ids.h) */
    n = n < 16 ? n : 16;
    buf[n++] = '_';
    /* 128 bits -> 26 base32 chars; the first char carries the top 3 bits. */
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 8) | b[i];
    for (int i = OT_ULID_LEN - 1; i >= 0; i--) {
        buf[n + (size_t)i] = b32[(unsigned)(v & 31)];
        v >>= 5;
    }
    buf[n + OT_ULID_LEN] = '\0';
    return buf;
}

int ot_id_valid(const char *s, const char *prefix)
{
    const char *us = strchr(s, '_');
    if (!us || us == s || us - s > 16)
        return 0;
    if (prefix && (strlen(prefix) != (size_t)(us - s) || strncmp(s, prefix, (size_t)(us - s))))
        return 0;
    for (const char *p = s; p < us; p++)
        if (*p < 'a' || *p > 'z')
            return 0;
    const char *u = us + 1;
    if (strlen(u) != OT_ULID_LEN || u[0] > '7')
        return 0;
    for (; *u; u++)
        if (!strchr(b32, *u))
            return 0;
    return 1;
}
