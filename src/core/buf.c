/* buf.c - see buf.h. */
#include "core/buf.h"

#include <float.h>
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

void ot_buf_put_varint(ot_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    ot_buf_append(b, tmp, n);
}

int ot_varint_get(const unsigned char **at, const unsigned char *end, uint64_t *v)
{
    const unsigned char *p = *at;
    uint64_t x = 0;
    for (int shift = 0;; shift += 7) {
        if (p == end || shift > 63)
            return -1;
        unsigned char byte = *p++;
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            break;
    }
    *at = p;
    *v = x;
    return 0;
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

/* --- reals: the shortest text that reads back as the same double ---------- */

static const uint64_t p10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
static const double p10d[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* a (1e-6 <= a < 1e17) correctly rounded (half to even) to nd significant
 * digits, 15 <= nd <= 17: a ~ q * 10^(x - nd + 1), 10^(nd-1) <= q < 10^nd.
 * a = m * 2^e exactly (m < 2^53), so q = round(m * 2^e * 10^k) for
 * k = nd - 1 - x is a shift of m * 10^k (< 2^127) or, when k < 0 (a >=
 * 1e14), a division by 10^-k * 2^-e (<= 10^2 * 2^7). 0 when x would leave
 * %g's fixed-point range. */
static int round_digits(double a, int nd, uint64_t *qo, int *xo)
{
    int e2;
    double f = frexp(a, &e2); /* a = f * 2^e2, 0.5 <= f < 1 */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int e = e2 - 53;
    int x = (int)floor((e2 - 1) * 0.30102999566398120); /* estimate of floor(log10 a) */
    for (int tries = 0; tries < 3; tries++) {
        int k = nd - 1 - x;
        if (k < -19 || k > 22)
            return 0;
        unsigned __int128 num = m, den = 1, q, rem;
        if (k >= 0)
            num *= k <= 19 ? (unsigned __int128)p10[k] : (unsigned __int128)p10[19] * p10[k - 19];
        if (e >= 0)
            num <<= e;
        if (k >= 0 && e < 0) { /* the usual case: a power of two divides */
            if (-e >= 127)
                return 0;
            den <<= -e;
            q = num >> -e;
            rem = num & (den - 1);
        } else {
            if (k < 0)
                den = p10[-k];
            if (e < 0)
                den <<= -e; /* a >= 1e14 here: -e <= 7 */
            q = num / den;
            rem = num - q * den;
        }
        if (q < p10[nd - 1]) {
            x--; /* the estimate of x was one too high */
            continue;
        }
        if (q >= p10[nd]) {
            x++; /* one too low */
            continue;
        }
        q += rem > den - rem || (rem == den - rem && (q & 1));
        if (q == p10[nd]) { /* 99...9.5 rounds up to the next power of ten */
            q = p10[nd - 1];
            x++;
        }
        if (x > 16)
            return 0; /* 1e17: %g switches to an exponent */
        *qo = (uint64_t)q;
        *xo = x;
        return 1;
    }
    return 0;
}

/* Write -?q * 10^(x - nd + 1) as %g would (fixed point for -4 <= x <= 16,
 * else an exponent), trailing zeros dropped, then jansson's forms: ".0"
 * after an integer, the exponent without '+' or leading zeros. */
static int real_layout(int neg, uint64_t q, int nd, int x, char *t)
{
    char d[17];
    for (int i = nd - 1; i >= 0; i--, q /= 10)
        d[i] = (char)('0' + q % 10);
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    int n = 0;
    if (neg)
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
            t[n++] = i < nd ? d[i] : '0';
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

/* 1 when q * 10^(x - nd + 1) reads back as a, 0 when not, -1 when only
 * strtod can tell: one correctly rounded multiplication or division of two
 * exact doubles (q < 2^53, 10^k for |k| <= 22) is what strtod gives. */
static int reads_back(uint64_t q, int nd, int x, double a)
{
    int k = nd - 1 - x;
    if (q >= (1ULL << 53) || k < -22 || k > 22)
        return -1;
    return (k >= 0 ? (double)q / p10d[k] : (double)q * p10d[-k]) == a;
}

/* The shortest text for zero and 1e-6 <= |v| < 1e17 (every telemetry value
 * a sensor sends): the first of the 15-, 16- and 17-digit roundings that
 * reads back as v (17 always does). A decimal of fewer than 15 digits that
 * reads back as v is v's 15-digit rounding with zeros after it, so this is
 * the shortest, and of the shortest the nearest: what %.{p}g prints for the
 * least such p. Returns the length, or 0 outside the range. */
static int real_short(double v, char *t)
{
    double a = v < 0 ? -v : v;
    if (a == 0) /* "0" or "-0", then jansson's ".0" */
        return (int)strlen(strcpy(t, signbit(v) ? "-0.0" : "0.0"));
    if (!(a >= 1e-6 && a < 1e17))
        return 0;
    if (a < 1e15 && a == (double)(uint64_t)a) { /* an integer: its digits are the shortest */
        int n = 0;
        if (v < 0)
            t[n++] = '-';
        n += (int)ot_fmt_u64(t + n, (uint64_t)a);
        memcpy(t + n, ".0", 3);
        return n + 2;
    }
    uint64_t q;
    int x;
    for (int nd = 15; nd < 17; nd++) {
        if (!round_digits(a, nd, &q, &x))
            return 0;
        int same = reads_back(q, nd, x, a);
        if (same == 1)
            return real_layout(v < 0, q, nd, x, t);
        if (same < 0) {
            int n = real_layout(v < 0, q, nd, x, t);
            if (strtod(t, NULL) == v)
                return n;
        }
    }
    return round_digits(a, 17, &q, &x) ? real_layout(v < 0, q, 17, x, t) : 0;
}

/* The same for any finite v with printf: %.15g, %.16g or %.17g, the first
 * that reads back, in jansson's forms. A subnormal v has fewer significant
 * bits, so its shortest text may have fewer than 15 digits that are not
 * its 15-digit rounding: from %.1g up. */
static int real_printf(double v, char *t, size_t cap)
{
    int n = 0;
    for (int p = fabs(v) < DBL_MIN ? 1 : 15; p <= 17; p++) {
        n = snprintf(t, cap - 2, "%.*g", p, v);
        if (n <= 0 || (size_t)n >= cap - 2)
            return 0;
        if (strtod(t, NULL) == v)
            break;
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
    return n;
}

size_t ot_fmt_real(char *out, double v)
{
    if (!isfinite(v))
        return (size_t)sprintf(out, "%g", v);
    int n = real_short(v, out);
    if (!n)
        n = real_printf(v, out, OT_FMT_REAL_MAX);
    return n > 0 ? (size_t)n : 0;
}

void ot_buf_json_real(ot_buf *b, double v)
{
    char t[OT_FMT_REAL_MAX];
    size_t n = isfinite(v) ? ot_fmt_real(t, v) : 0;
    if (!n) {
        b->failed = 1;
        return;
    }
    ot_buf_append(b, t, n);
}

static int dump_cb(const char *data, size_t len, void *b)
{
    ot_buf_append(b, data, len);
    return ot_buf_failed(b) ? -1 : 0;
}

struct key {
    const char *k;
    size_t len;
    const json_t *v;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int c = memcmp(x->k, y->k, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void json_value(ot_buf *b, const json_t *v, size_t flags);

static void json_object_out(ot_buf *b, const json_t *o, size_t flags)
{
    const char *sep = flags & JSON_COMPACT ? "," : ", ";
    const char *colon = flags & JSON_COMPACT ? ":" : ": ";
    size_t n = json_object_size(o), i = 0;
    struct key few[16], *keys = few;
    if (n > 16 && !(keys = malloc(n * sizeof *keys))) {
        b->failed = 1;
        return;
    }
    for (void *it = json_object_iter((json_t *)o); it && i < n;
         it = json_object_iter_next((json_t *)o, it), i++)
        keys[i] = (struct key){json_object_iter_key(it), json_object_iter_key_len(it),
                               json_object_iter_value(it)};
    if (flags & JSON_SORT_KEYS)
        qsort(keys, i, sizeof *keys, key_cmp);
    ot_buf_append(b, "{", 1);
    for (size_t k = 0; k < i; k++) {
        if (k)
            ot_buf_puts(b, sep);
        ot_buf_json_stringn(b, keys[k].k, keys[k].len);
        ot_buf_puts(b, colon);
        json_value(b, keys[k].v, flags);
    }
    ot_buf_append(b, "}", 1);
    if (keys != few)
        free(keys);
}

static void json_value(ot_buf *b, const json_t *v, size_t flags)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_out(b, v, flags);
        break;
    case JSON_ARRAY:
        ot_buf_append(b, "[", 1);
        for (size_t i = 0, n = json_array_size(v); i < n; i++) {
            if (i)
                ot_buf_puts(b, flags & JSON_COMPACT ? "," : ", ");
            json_value(b, json_array_get(v, i), flags);
        }
        ot_buf_append(b, "]", 1);
        break;
    case JSON_STRING:
        ot_buf_json_stringn(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        json_int_t x = json_integer_value(v);
        if (x < 0)
            ot_buf_append(b, "-", 1);
        ot_buf_put_u64(b, x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x);
        break;
    }
    case JSON_REAL:
        ot_buf_json_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        ot_buf_puts(b, "true");
        break;
    case JSON_FALSE:
        ot_buf_puts(b, "false");
        break;
    case JSON_NULL:
        ot_buf_puts(b, "null");
        break;
    }
}

void ot_buf_json(ot_buf *b, const json_t *v, size_t flags)
{
    if (!v) {
        b->failed = 1;
        return;
    }
    /* indentation and \u escapes of non-ASCII text: jansson's writer, with
     * its %.17g reals (logs and the command line's output only) */
    if (flags & (JSON_MAX_INDENT | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH)) {
        size_t prec = flags & JSON_REAL_PRECISION(31) ? 0 : JSON_REAL_PRECISION(17);
        if (json_dump_callback(v, dump_cb, b, flags | JSON_ENCODE_ANY | prec))
            b->failed = 1;
        return;
    }
    json_value(b, v, flags);
}

char *ot_json_dumps(const json_t *v, size_t flags)
{
    ot_buf b;
    ot_buf_init(&b);
    ot_buf_json(&b, v, flags);
    return ot_buf_steal(&b, NULL);
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

void ot_buf_json_string(ot_buf *b, const char *s) { ot_buf_json_stringn(b, s, strlen(s)); }

void ot_buf_json_stringn(ot_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0, i = plain_run(s, 0, len);
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
