/* buf.c - see buf.h. */
#include "core/buf.h"

#include <jansson.h>
#include <stdarg.h>
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

void ot_buf_append(ot_buf *b, const void *data, size_t len)
{
    if (ot_buf_reserve(b, len))
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void ot_buf_puts(ot_buf *b, const char *s) { ot_buf_append(b, s, strlen(s)); }

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

void ot_buf_json_real(ot_buf *b, double v)
{
    char t[40];
    int n = snprintf(t, sizeof t - 2, "%.17g", v);
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

void ot_buf_json_string(ot_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (ot_buf_reserve(b, strlen(s) + 2))
        return;
    ot_buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ot_buf_append(b, run, (size_t)(p - run));
        if (c == 0)
            break;
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
        run = p + 1;
    }
    ot_buf_append(b, "\"", 1);
}
