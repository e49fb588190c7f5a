/* jsonschema_json.c - JSON value semantics JSON Schema needs beyond
 * jansson: numeric equality across integer and real (1 == 1.0), deep
 * equality, hashing consistent with that equality (for uniqueItems on big
 * arrays), number comparison and multipleOf.
 *
 * Contract: pure, read-only on their arguments; thread-safe.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "aiw/jsonschema_internal.h"
#include "aiw/jsonschema_json.h"

int js_is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return 1;
    if (!json_is_real(v))
        return 0;
    double d = json_real_value(v);
    return isfinite(d) && floor(d) == d;
}

int js_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    long double x = json_is_integer(a) ? (long double)json_integer_value(a) : (long double)json_real_value(a);
    long double y = json_is_integer(b) ? (long double)json_integer_value(b) : (long double)json_real_value(b);
    return (x > y) - (x < y);
}

/* The quotient must be integral up to the rounding of the decimal inputs
 * (a few ulps of the quotient): 0.0075 is a multiple of 0.0001 although
 * neither is exact in binary, 1e-20 is not a multiple of 1.  Quotients
 * beyond 2^53 are integral as doubles; an infinite one means the exact
 * quotient is huge and, with a fractional divisor, not integral. */
int js_multiple_of(const json_t *v, const json_t *m)
{
    if (json_is_integer(v) && json_is_integer(m)) {
        json_int_t d = json_integer_value(m);
        return d == 0 ? 0 : json_integer_value(v) % d == 0;
    }
    double x = json_number_value(v), d = json_number_value(m);
    double q = x / d;
    if (!isfinite(q))
        return 0;
    if (fabs(q) >= 9007199254740992.0)
        return 1;
    return fabs(q - nearbyint(q)) <= 4 * DBL_EPSILON * fabs(q);
}

int js_json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return js_num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!js_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, k, v) {
            size_t kl = json_object_iter_key_len(json_object_key_to_iter(k));
            json_t *o = json_object_getn(b, k, kl);
            if (!o || !js_json_equal(v, o))
                return 0;
        }
        return 1;
    }
    default:
        return 1; /* true, false, null */
    }
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Equal values (in the js_json_equal sense) hash equal. */
uint64_t js_json_hash(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return 1;
    case JSON_TRUE: return 2;
    case JSON_FALSE: return 3;
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(v);
        uint64_t bits;
        if (d == 0)
            d = 0; /* -0.0 == 0 */
        memcpy(&bits, &d, sizeof bits);
        return mix(bits ^ 4);
    }
    case JSON_STRING: return ot_hash_bytes(json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        uint64_t h = 5;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = mix(h * 31 + js_json_hash(json_array_get(v, i)));
        return h;
    }
    case JSON_OBJECT: {
        uint64_t h = 6;
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            size_t kl = json_object_iter_key_len(json_object_key_to_iter(k));
            h += mix(ot_hash_bytes(k, kl) * 31 + js_json_hash(e)); /* order-free */
        }
        return h;
    }
    }
    return 0;
}

struct hidx {
    uint64_t h;
    size_t i;
};

static int hidx_cmp(const void *a, const void *b)
{
    const struct hidx *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int js_unique_items(const json_t *arr, size_t *dup_a, size_t *dup_b)
{
    size_t n = json_array_size(arr);
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (js_json_equal(json_array_get(arr, i), json_array_get(arr, j))) {
                    *dup_a = i;
                    *dup_b = j;
                    return 0;
                }
        return 1;
    }
    struct hidx *h = malloc(n * sizeof *h);
    int rc = 1;
    if (!h)
        return -1;
    for (size_t i = 0; i < n; i++)
        h[i] = (struct hidx){js_json_hash(json_array_get(arr, i)), i};
    qsort(h, n, sizeof *h, hidx_cmp);
    for (size_t i = 0; i < n && rc == 1; i++)
        for (size_t j = i + 1; j < n && h[j].h == h[i].h; j++)
            if (js_json_equal(json_array_get(arr, h[i].i), json_array_get(arr, h[j].i))) {
                *dup_a = h[i].i < h[j].i ? h[i].i : h[j].i;
                *dup_b = h[i].i < h[j].i ? h[j].i : h[i].i;
                rc = 0;
                break;
            }
    free(h);
    return rc;
}

size_t js_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}
