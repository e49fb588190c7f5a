/* normalize_ts.c - telemetry timestamps: RFC 3339, "YYYY-MM-DD HH:MM:SS" and
 * Unix time by magnitude. The contract is in normalize.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "telemetry/names.h"
#include "telemetry/normalize.h"

/* Unit cut-offs: a Unix value below 1e11 is seconds (1e11 s is year 5138),
 * below 1e14 milliseconds, else microseconds. Nanoseconds (1.7e18 today) are
 * past OT_TS_MAX_US and so rejected rather than misread. */
#define TS_SECONDS_BELOW 100000000000LL     /* 1e11 */
#define TS_MILLIS_BELOW 100000000000000LL   /* 1e14 */

static const char ts_forms[] =
    "use RFC 3339 (2026-01-04T12:34:56Z, or with an offset such as +05:30), "
    "'YYYY-MM-DD HH:MM:SS' (UTC) or Unix seconds, milliseconds or microseconds";

static const char *unit_name(int64_t scale)
{
    return scale == 1000000 ? "seconds" : scale == 1000 ? "milliseconds" : "microseconds";
}

static int64_t unit_scale(double magnitude)
{
    return magnitude < (double)TS_SECONDS_BELOW ? 1000000
           : magnitude < (double)TS_MILLIS_BELOW ? 1000
                                                 : 1;
}

static int in_range(int64_t us)
{
    return us >= 0 && us <= OT_TS_MAX_US;
}

/* The error for a time outside 1970..9999. `what` shows the input and, for
 * Unix times, the unit it was read in. Formatting happens only here, never on
 * the success path. */
static int range_error(int64_t us, const char *what, ot_error *err, const char *path)
{
    if (us < 0)
        return ot_error_set(err, OT_EINVAL, path,
                            "%s is before 1970-01-01T00:00:00Z; telemetry that old is not accepted",
                            what);
    return ot_error_set(err, OT_EINVAL, path, "%s is after 9999-12-31T23:59:59.999999Z; %s", what,
                        ts_forms);
}

/* Unix time from "<digits>[.<digits>]", exact (no floating point). */
static int unix_digits(const char *ip, size_t ni, const char *fp, size_t nf, int64_t *us,
                       ot_error *err, const char *path)
{
    const char *text = ip;
    size_t tlen = ni + (nf ? nf + 1 : 0);
    int64_t v = 0, scale = 1, frac = 0;
    while (ni > 1 && *ip == '0') { /* leading zeros must not count as magnitude */
        ip++;
        ni--;
    }
    int too_big = ni > 18; /* >= 1e18: past year 9999 in any unit */
    if (!too_big) {
        for (size_t i = 0; i < ni; i++)
            v = v * 10 + (ip[i] - '0');
        scale = unit_scale((double)v);
        /* The fraction's digits down to 1 us; the rest are truncated. */
        size_t k = 0;
        for (int64_t s = scale / 10; s > 0 && k < nf; s /= 10, k++)
            frac += (fp[k] - '0') * s;
        v = v * scale + frac;
        if (in_range(v)) {
            *us = v;
            return 0;
        }
    }
    char what[128], q[64];
    snprintf(what, sizeof what, "'%s' (read as Unix %s)", ot_tel_quote(q, sizeof q, text, tlen),
             too_big ? "time" : unit_name(scale));
    return range_error(too_big ? OT_TS_MAX_US + 1 : v, what, err, path);
}

static int unix_double(double d, int64_t *us, ot_error *err, const char *path)
{
    if (!isfinite(d))
        return ot_error_set(err, OT_EINVAL, path, "must be a finite number; %s", ts_forms);
    int64_t scale = unit_scale(fabs(d));
    double v = d * (double)scale;
    /* The bound check comes first because llround overflows beyond int64. */
    if (v >= 0 && v <= (double)OT_TS_MAX_US) {
        int64_t r = llround(v);
        if (in_range(r)) {
            *us = r;
            return 0;
        }
    }
    char what[96], num[OT_FMT_REAL_MAX];
    ot_fmt_real(num, d);
    snprintf(what, sizeof what, "%s (read as Unix %s)", num, unit_name(scale));
    return range_error(v < 0 ? -1 : OT_TS_MAX_US + 1, what, err, path);
}

static int unix_integer(json_int_t i, int64_t *us, ot_error *err, const char *path)
{
    int64_t scale = unit_scale(i < 0 ? 0 : (double)i);
    if (i >= 0 && i <= OT_TS_MAX_US / scale) {
        *us = (int64_t)i * scale;
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "%lld (read as Unix %s)", (long long)i, unit_name(scale));
    return range_error(i < 0 ? -1 : OT_TS_MAX_US + 1, what, err, path);
}

/* Say what is wrong with a string shaped like a date-time that did not parse,
 * so "2026-02-30" gets a better answer than "cannot parse". */
static int explain(const char *s, const char *q, ot_error *err, const char *path)
{
    int Y, M, D, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &Y, &M, &D, &h, &mi, &sec, &n) == 6 &&
        n == 19) {
        if (M < 1 || M > 12)
            return ot_error_set(err, OT_EINVAL, path, "'%s': there is no month %02d", q, M);
        int64_t dim = ot_days_from_civil(Y + (M == 12), (unsigned)(M % 12 + 1), 1) -
                      ot_days_from_civil(Y, (unsigned)M, 1);
        if (D < 1 || D > dim)
            return ot_error_set(err, OT_EINVAL, path,
                                "'%s': %04d-%02d has %d days, there is no day %02d", q, Y, M,
                                (int)dim, D);
        if (h > 23 || mi > 59 || sec > 60)
            return ot_error_set(err, OT_EINVAL, path,
                                "'%s': time of day %02d:%02d:%02d is out of range", q, h, mi, sec);
    }
    return ot_error_set(err, OT_EINVAL, path, "cannot parse '%s' as a time; %s", q, ts_forms);
}

int ot_tel_parse_ts_str(const char *s, int64_t *us, ot_error *err, const char *path)
{
    char q[64];
    int neg = s[0] == '-';
    const char *ip = s + neg;
    size_t ni = strspn(ip, "0123456789");
    const char *dot = ip + ni;
    size_t nf = *dot == '.' ? strspn(dot + 1, "0123456789") : 0;
    if (ni > 0 && (*dot == '\0' || (nf > 0 && dot[1 + nf] == '\0'))) {
        if (neg)
            return ot_error_set(err, OT_EINVAL, path,
                                "'%s' is a negative Unix time; timestamps before 1970 are not "
                                "accepted",
                                ot_tel_quote(q, sizeof q, s, strlen(s)));
        return unix_digits(ip, ni, dot + 1, nf, us, err, path);
    }
    int64_t v;
    if (ot_ts_parse(s, &v) == 0 && in_range(v)) {
        *us = v;
        return 0;
    }
    ot_tel_quote(q, sizeof q, s, strlen(s));
    if (ot_ts_parse(s, &v) != 0)
        return explain(s, q, err, path);
    char what[80];
    snprintf(what, sizeof what, "'%s'", q);
    return range_error(v, what, err, path);
}

int ot_tel_parse_ts(const json_t *v, int64_t *us, ot_error *err, const char *path)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v))
            return ot_error_set(err, OT_EINVAL, path, "contains a NUL byte; %s", ts_forms);
        return ot_tel_parse_ts_str(json_string_value(v), us, err, path);
    case JSON_INTEGER:
        return unix_integer(json_integer_value(v), us, err, path);
    case JSON_REAL:
        return unix_double(json_real_value(v), us, err, path);
    case JSON_NULL:
        return ot_error_set(err, OT_EINVAL, path, "is required here; %s", ts_forms);
    default:
        return ot_error_set(err, OT_EINVAL, path, "must be a string or a number; %s", ts_forms);
    }
}
