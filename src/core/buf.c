/* buf.c - see buf.h. */
#include "core/buf.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ot_buf_init(ot_buf *b) { memset(b, 0, sizeof *b); }

void ot_buf_free(ot_buf *b)
{
    free(b->data);
    ot_buf_init(b);
}

void ot_buf_reset(ot_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

int ot_buf_reserve(ot_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void ot_buf_append_grow(ot_buf *b, const void *data, size_t len)
{
    if (ot_buf_reserve(b, len))
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

size_t ot_fmt_u64(char *out, unsigned long long v)
{
    char d[20];
    size_t n = 0, k = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        out[k++] = d[--n];
    out[k] = '\0';
    return k;
}

void ot_buf_put_u64(ot_buf *b, unsigned long long v)
{
    char d[21];
    ot_buf_append(b, d, ot_fmt_u64(d, v));
}

size_t ot_strlcpy(char *dst, const char *src, size_t n)
{
    if (!src)
        src = "";
    size_t len = strlen(src), k = len < n ? len : n - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return len;
}

void ot_buf_printf(ot_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        ot_buf_append(b, small, (size_t)n);
        return;
    }
    if (ot_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int ot_buf_failed(const ot_buf *b) { return b->failed; }

char *ot_buf_steal(ot_buf *b, size_t *len)
{
    if (b->failed) {
        ot_buf_free(b);
        return NULL;
    }
    if (!b->data && ot_buf_reserve(b, 0))
        return NULL;
    char *d = b->data;
    if (len)
        *len = b->len;
    ot_buf_init(b);
    return d;
}

/* %.17g by hand for zero and 1e-6 <= |v| < 1e17 (every telemetry value a
 * sensor sends, and the 0 of a missing_rate), exactly as glibc rounds it:
 * v = m * 2^e, and the 17 significant
 * digits are floor(m * 10^k / 2^-e) (or m * 2^e * 10^k), computed in 128
 * bits (m < 2^53, 10^k <= 10^22: < 2^127), rounded half to even on the
 * exact remainder. Writes jansson's final form into t; returns its length,
 * or 0 outside the range (the caller then asks snprintf). */
static int real17(double v, char *t)
{
    static const uint64_t p10[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
        100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
        10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
        100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
    double a = v < 0 ? -v : v;
    if (a == 0) /* "0" or "-0", then jansson's ".0" */
        return (int)strlen(strcpy(t, signbit(v) ? "-0.0" : "0.0"));
    if (!(a >= 1e-6 && a < 1e17))
        return 0;
    int e2;
    double f = frexp(a, &e2); /* a = f * 2^e2, 0.5 <= f < 1 */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int e = e2 - 53;          /* a = m * 2^e exactly */
    int x = (int)floor((e2 - 1) * 0.30102999566398120); /* estimate of floor(log10 a) */
    unsigned __int128 q = 0;
    int carry = 0;
    for (int tries = 0;; tries++) {
        int k = 16 - x;       /* 17 digits: 10^16 <= a * 10^k < 10^17 */
        if (k < 0 || k > 22 || tries > 2)
            return 0;
        unsigned __int128 p = k <= 19 ? (unsigned __int128)p10[k]
                                      : (unsigned __int128)p10[19] * p10[k - 19];
        unsigned __int128 full = (unsigned __int128)m * p;
        int up = 0;
        if (e >= 0) {
            q = full << e;
        } else {
            int sh = -e;
            if (sh >= 127)
                return 0;
            q = full >> sh;
            unsigned __int128 rem = full - (q << sh), half = (unsigned __int128)1 << (sh - 1);
            up = rem > half || (rem == half && (q & 1));
        }
        if (q < p10[16])
            x--;              /* the estimate of x was one too high */
        else if (q >= p10[17])
            x++;              /* one too low */
        else {
            q += (unsigned)up;
            carry = q == p10[17]; /* 99...9.5 rounds up to the next power of ten */
            break;
        }
    }
    if (carry) {
        q = p10[16];
        if (++x > 16)
            return 0; /* 1e17: %g switches to an exponent */
    }
    char d[17];
    uint64_t r = (uint64_t)q;
    for (int i = 16; i >= 0; i--, r /= 10)
        d[i] = (char)('0' + r % 10);
    int nd = 17;
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    int n = 0;
    if (v < 0)
        t[n++] = '-';
    if (x < -4) {             /* 1.2345e-5 */
        t[n++] = d[0];
        if (nd > 1) {
            t[n++] = '.';
            memcpy(t + n, d + 1, (size_t)nd - 1);
            n += nd - 1;
        }
        n += sprintf(t + n, "e-%d", -x);
        return n;
    }
    if (x >= 0) {             /* 123.45, 120.0 */
        int intd = x + 1;
        for (int i = 0; i < intd; i++)
            t[n++] = i < 17 ? d[i] : '0';
        t[n++] = '.';
        if (nd > intd) {
            memcpy(t + n, d + intd, (size_t)(nd - intd));
            n += nd - intd;
        } else {
            t[n++] = '0';
        }
    } else {                  /* 0.00012345 */
        t[n++] = '0';
        t[n++] = '.';
        for (int i = 0; i < -x - 1; i++)
            t[n++] = '0';
        memcpy(t + n, d, (size_t)nd);
        n += nd;
    }
    t[n] = '\0';
    return n;
}

void ot_buf_json_real(ot_buf *b, double v)
{
    char t[40];
    int n = real17(v, t);
    if (n) {
        ot_buf_append(b, t, (size_t)n);
        return;
    }
    n = snprintf(t, sizeof t - 2, "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof t - 2) {
        b->failed = 1;
        return;
    }
    char *e = memchr(t, 'e', (size_t)n);
    if (!e && !memchr(t, '.', (size_t)n)) {
        memcpy(t + n, ".0", 3);
        n += 2;
    } else if (e) {
        char *d = e + 1, *s = d;
        if (*s == '+')
            s++;
        else if (*s == '-')
            s++, d++;
        while (*s == '0' && s[1])
            s++;
        memmove(d, s, (size_t)(t + n - s) + 1);
        n -= (int)(s - d);
    }
    ot_buf_append(b, t, (size_t)n);
}

static int dump_cb(const char *data, size_t len, void *b)
{
    ot_buf_append(b, data, len);
    return ot_buf_failed(b) ? -1 : 0;
}

void ot_buf_json(ot_buf *b, const json_t *v, size_t flags)
{
    if (json_dump_callback(v, dump_cb, b, flags | JSON_ENCODE_ANY))
        b->failed = 1;
}

/* 1 when one of the 8 bytes in w is below 0x20, '"' or '\\' (word at a
 * time, "hasless" and "haszero" from Bit Twiddling Hacks: exact as
 * yes/no answers). */
static int needs_escape8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high ? 1 : 0;
}

/* The first index >= i of a byte of s[0..len) that needs an escape, or len:
 * 8 bytes at a time, then byte by byte. */
static size_t plain_run(const char *s, size_t i, size_t len)
{
    uint64_t w;
    while (i + 8 <= len && (memcpy(&w, s + i, 8), !needs_escape8(w)))
        i += 8;
    while (i < len && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

void ot_buf_json_string(ot_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s), run = 0, i = plain_run(s, 0, len);
    if (ot_buf_reserve(b, len + 2))
        return;
    if (i == len) { /* most strings need no escape: one copy */
        char *p = b->data + b->len;
        p[0] = '"';
        memcpy(p + 1, s, len);
        p[len + 1] = '"';
        p[len + 2] = '\0';
        b->len += len + 2;
        return;
    }
    ot_buf_append(b, "\"", 1);
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        ot_buf_append(b, s + run, i - run);
        char esc[7] = {'\\', (char)c, 0};
        size_t n = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            n = 6;
        }
        ot_buf_append(b, esc, n);
        run = i + 1;
        i = plain_run(s, run, len);
    }
    ot_buf_append(b, s + run, len - run);
    ot_buf_append(b, "\"", 1);
}
