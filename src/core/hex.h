/* hex.h - lowercase hexadecimal encoding of bytes (digests, secrets,
 * signatures). Pure function, no allocation: out receives 2 * n characters
 * and a NUL, so it must hold 2 * n + 1 bytes. */
#ifndef OT_CORE_HEX_H
#define OT_CORE_HEX_H

#include <stddef.h>

static inline char *ot_hex_encode(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

#endif
