/* jsonfast.c - a fast path for parsing JSON request bodies into jansson
 * values (jsonfast.h). Every function returns NULL (or -1) to mean "not
 * handled here": the caller falls back to jansson. */
#include "core/jsonfast.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

#define MAX_DEPTH 64
#define MAX_REAL 63 /* characters of a real handed to strtod */

struct parser {
    const char *s, *end;
    size_t flags;
    int depth;
};

static json_t *parse_value(struct parser *p);

static void skip_ws(struct parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t'))
        p->s++;
}

/* A string at p->s (its opening quote): its bytes in place, *len long.
 * Returns NULL for what is not handled here (escapes, control characters,
 * malformed UTF-8, no closing quote). */
static const char *parse_string(struct parser *p, size_t *len)
{
    const char *start = ++p->s;
    int ascii = 1;
    for (;;) {
        if (p->s >= p->end)
            return NULL;
        unsigned char c = (unsigned char)*p->s;
        if (c == '"')
            break;
        if (c < 0x20 || c == '\\')
            return NULL;
        ascii &= c < 0x80;
        p->s++;
    }
    *len = (size_t)(p->s - start);
    p->s++;
    if (!ascii && !ot_utf8_valid(start, *len))
        return NULL;
    return start;
}

static int is_digit(const char *s, const char *end) { return s < end && *s >= '0' && *s <= '9'; }

/* A number as jansson's lexer reads it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static json_t *parse_number(struct parser *p)
{
    const char *t = p->s, *end = p->end;
    int neg = t < end && *t == '-', real = 0;
    t += neg;
    const char *digits = t;
    if (!is_digit(t, end))
        return NULL;
    if (*t == '0')
        t++;
    else
        while (is_digit(t, end))
            t++;
    size_t ndigits = (size_t)(t - digits);
    if (t < end && *t == '.') {
        real = 1;
        if (!is_digit(++t, end))
            return NULL;
        while (is_digit(t, end))
            t++;
    }
    if (t < end && (*t == 'e' || *t == 'E')) {
        real = 1;
        t++;
        if (t < end && (*t == '+' || *t == '-'))
            t++;
        if (!is_digit(t, end))
            return NULL;
        while (is_digit(t, end))
            t++;
    }
    size_t n = (size_t)(t - p->s);
    json_t *v;
    if (!real) {
        if (ndigits > 18) /* may not fit json_int_t: jansson decides */
            return NULL;
        int64_t x = 0;
        for (const char *d = digits; d < t; d++)
            x = x * 10 + (*d - '0');
        v = json_integer(neg ? -x : x);
    } else {
        char tmp[MAX_REAL + 1], *e;
        if (n > MAX_REAL)
            return NULL;
        memcpy(tmp, p->s, n);
        tmp[n] = '\0';
        double x = strtod(tmp, &e);
        if (e != tmp + n || !isfinite(x)) /* overflow is jansson's error */
            return NULL;
        v = json_real(x);
    }
    p->s = t;
    return v;
}

static json_t *parse_literal(struct parser *p, const char *word, size_t n, json_t *v)
{
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0)
        return NULL;
    p->s += n;
    return v;
}

/* One "key": value member into obj; 0, or -1 (not handled here). A key
 * already there is replaced in place, which leaves the object's size as it
 * was: that is how a duplicate is seen, without a lookup of every key. */
static int object_member(struct parser *p, json_t *obj)
{
    size_t klen;
    const char *key = p->s < p->end && *p->s == '"' ? parse_string(p, &klen) : NULL;
    if (!key)
        return -1;
    skip_ws(p);
    if (p->s >= p->end || *p->s != ':')
        return -1;
    p->s++;
    skip_ws(p);
    json_t *v = parse_value(p);
    size_t size = json_object_size(obj);
    if (!v || json_object_setn_new_nocheck(obj, key, klen, v) != 0)
        return -1;
    return (p->flags & JSON_REJECT_DUPLICATES) && json_object_size(obj) == size ? -1 : 0;
}

static int array_member(struct parser *p, json_t *arr)
{
    json_t *v = parse_value(p);
    return v && json_array_append_new(arr, v) == 0 ? 0 : -1;
}

/* An object or array at p->s (its opening bracket) into c: members
 * separated by commas, then close. */
static json_t *parse_container(struct parser *p, json_t *c, char close,
                               int (*member)(struct parser *, json_t *))
{
    if (!c)
        return NULL;
    p->s++;
    skip_ws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return c;
    }
    while (member(p, c) == 0) {
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            skip_ws(p);
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return c;
        }
        break;
    }
    json_decref(c);
    return NULL;
}

static json_t *parse_value(struct parser *p)
{
    if (p->s >= p->end)
        return NULL;
    json_t *v = NULL;
    switch (*p->s) {
    case '{':
    case '[':
        if (++p->depth > MAX_DEPTH)
            return NULL;
        v = *p->s == '{' ? parse_container(p, json_object(), '}', object_member)
                         : parse_container(p, json_array(), ']', array_member);
        p->depth--;
        return v;
    case '"': {
        size_t len;
        const char *s = parse_string(p, &len);
        return s ? json_stringn_nocheck(s, len) : NULL;
    }
    case 't': return parse_literal(p, "true", 4, json_true());
    case 'f': return parse_literal(p, "false", 5, json_false());
    case 'n': return parse_literal(p, "null", 4, json_null());
    default: return parse_number(p);
    }
}

json_t *ot_json_fast_loadb(const char *buf, size_t len, size_t flags)
{
    if (!buf || (flags & ~(size_t)JSON_REJECT_DUPLICATES))
        return NULL;
    struct parser p = {.s = buf, .end = buf + len, .flags = flags};
    skip_ws(&p);
    if (p.s >= p.end || (*p.s != '{' && *p.s != '['))
        return NULL; /* jansson wants an object or array (no JSON_DECODE_ANY) */
    json_t *v = parse_value(&p);
    if (!v)
        return NULL;
    skip_ws(&p);
    if (p.s != p.end) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *ot_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    json_t *v = ot_json_fast_loadb(buf, len, flags);
    return v ? v : json_loadb(buf, len, flags, err);
}
