/* utf8.c - see utf8.h. */
#include "core/utf8.h"

/* Length of the well-formed sequence at p (1-4), or 0 if there is none. */
static size_t seq_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = *p;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

int ot_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t len = seq_len(p, end);
        if (!len)
            return 0;
        p += len;
    }
    return 1;
}

size_t ot_utf8_sanitize(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)in, *end = p;
    while (*end)
        end++;
    size_t o = 0;
    if (!cap)
        return 0;
    while (p < end) {
        size_t len = seq_len(p, end);
        size_t need = len ? len : 4;
        if (o + need >= cap)
            break;
        if (len) {
            for (size_t i = 0; i < len; i++)
                out[o++] = (char)p[i];
            p += len;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
            p++;
        }
    }
    out[o] = '\0';
    return o;
}
