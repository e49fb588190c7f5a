/* pcheck.c - see pcheck.h. */
#include "policy/pcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "telemetry/names.h"

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* first: the characters allowed first; rest: every later one (besides
 * alphanumerics, which both patterns allow everywhere). */
static int token(const char *s, const char *first, const char *rest)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || ot_pcheck_strlen(s) > 128)
        return 0;
    if (!is_alnum((unsigned char)s[0]) && !strchr(first, s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && !strchr(rest, s[i]))
            return 0;
    return 1;
}

int ot_pcheck_id(const char *s)
{
    return token(s, "", "_.:-");
}

int ot_pcheck_name(const char *s)
{
    return token(s, "_", "_.:/-");
}

int ot_pcheck_prefixed_ulid(const char *s, const char *prefix)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    size_t pl = strlen(prefix);
    if (!s || strncmp(s, prefix, pl) || s[pl] != '_' || strlen(s + pl + 1) != 26)
        return 0;
    for (const char *u = s + pl + 1; *u; u++)
        if (!strchr(b32, *u))
            return 0;
    return 1;
}

int ot_pcheck_date_time(const char *s)
{
    int64_t us;
    size_t n = s ? strlen(s) : 0;
    if (n < 20 || (s[10] != 'T' && s[10] != 't'))
        return 0;
    /* ot_ts_parse also takes zone-less forms; RFC 3339 needs an offset. */
    int zulu = s[n - 1] == 'Z' || s[n - 1] == 'z';
    int offset = n >= 25 && (s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':';
    return (zulu || offset) && ot_ts_parse(s, &us) == 0;
}

size_t ot_pcheck_strlen(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int ot_pcheck_integer(const json_t *v, json_int_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    double d = json_real_value(v);
    if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
        return 0;
    *out = (json_int_t)d;
    return 1;
}

char *ot_pcheck_path(char *dst, size_t cap, const char *base, const char *key)
{
    return ot_tel_path_key(dst, cap, base, key, strlen(key));
}

char *ot_pcheck_path_index(char *dst, size_t cap, const char *base, size_t i)
{
    snprintf(dst, cap, "%s[%zu]", base, i);
    return dst;
}

int ot_pcheck_known_keys(const json_t *o, const char *const *allowed, const char *base,
                         ot_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key))
            i++;
        if (allowed[i])
            continue;
        char p[OT_ERROR_PATH_MAX], q[64], list[256] = "";
        size_t used = 0;
        for (i = 0; allowed[i] && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     allowed[i]);
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, key),
                            "%s: unknown field (expected %s)",
                            ot_tel_quote(q, sizeof q, key, strlen(key)), list);
    }
    return 0;
}

int ot_pcheck_opt_string(const json_t *o, const char *key, size_t minlen, size_t maxlen,
                         const char *base, const char **out, ot_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return 0;
    size_t n = json_is_string(v) ? ot_pcheck_strlen(json_string_value(v)) : 0;
    if (!json_is_string(v) || n < minlen || n > maxlen) {
        char p[OT_ERROR_PATH_MAX];
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, key),
                            "%s: must be a string of %zu to %zu characters", key, minlen, maxlen);
    }
    *out = json_string_value(v);
    return 0;
}

int ot_pcheck_opt_number(const json_t *o, const char *key, double min, double max,
                         const char *base, int *present, double *out, ot_error *err)
{
    const json_t *v = json_object_get(o, key);
    *present = 0;
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
        char p[OT_ERROR_PATH_MAX];
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, key),
                            "%s: must be a number from %g to %g", key, min, max);
    }
    *present = 1;
    *out = json_number_value(v);
    return 0;
}
