#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

Test(clock, format_epoch_and_micros)
{
    char b[OT_TS_BUFSZ];
    cr_assert_str_eq(ot_ts_format(0, b), "1970-01-01T00:00:00.000000Z");
    cr_assert_str_eq(ot_ts_format(1767530096123456LL, b), "2026-01-04T12:34:56.123456Z");
    cr_assert_str_eq(ot_ts_format(-1, b), "1969-12-31T23:59:59.999999Z");
}

Test(clock, parse_forms)
{
    int64_t us;
    cr_assert_eq(ot_ts_parse("2026-01-04T12:34:56.123456Z", &us), 0);
    cr_assert_eq(us, 1767530096123456LL);
    cr_assert_eq(ot_ts_parse("2026-01-04 12:34:56", &us), 0);
    cr_assert_eq(us, 1767530096000000LL);
    cr_assert_eq(ot_ts_parse("2026-01-04T14:34:56.5+02:00", &us), 0);
    cr_assert_eq(us, 1767530096500000LL);
    cr_assert_eq(ot_ts_parse("2026-01-04t12:34:56z", &us), 0);
    cr_assert_eq(ot_ts_parse("2016-12-31T23:59:60Z", &us), 0);
    cr_assert_eq(ot_ts_parse("2016-12-31T15:59:60-08:00", &us), 0);
}

Test(clock, parse_rejects_impossible)
{
    int64_t us;
    const char *bad[] = {"", "yesterday", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
                         "2026-01-01T24:00:00Z", "2026-01-01T12:00:60Z", "2025-02-29 00:00:00",
                         "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+0100",
                         "2026-01-01T00:00:00Zjunk", "2026-1-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(ot_ts_parse(bad[i], &us), 0, "accepted %s", bad[i]);
    cr_assert_eq(ot_ts_parse("2024-02-29 00:00:00", &us), 0);
}

Test(clock, roundtrip)
{
    char b[OT_TS_BUFSZ];
    int64_t vals[] = {0, 1, 999999, 1767530096123456LL, 4102444800000000LL - 1};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int64_t back;
        cr_assert_eq(ot_ts_parse(ot_ts_format(vals[i], b), &back), 0);
        cr_assert_eq(back, vals[i]);
    }
}

Test(clock, format_agrees_with_gmtime)
{
    /* an independent reference: the C library's calendar, years 0001-9999 */
    char b[OT_TS_BUFSZ], want[64];
    uint64_t x = 88172645463325252ULL;
    const int64_t lo = -62135596800LL, hi = 253402300799LL; /* 0001-01-01 .. 9999-12-31 */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t secs = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        int64_t us = secs * 1000000 + (int64_t)(x >> 40) % 1000000;
        time_t t = (time_t)secs;
        struct tm tm;
        cr_assert(gmtime_r(&t, &tm));
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%06dZ", (int)(us - secs * 1000000));
        if (tm.tm_year + 1900 < 1000) { /* strftime does not pad %Y */
            char pad[64];
            snprintf(pad, sizeof pad, "%04d%s", tm.tm_year + 1900, strchr(want, '-'));
            strcpy(want, pad);
        }
        cr_assert_str_eq(ot_ts_format(us, b), want, "us=%lld", (long long)us);
    }
    cr_assert_str_eq(ot_ts_format(253402300800000000LL, b), "9999-01-01T00:00:00.000000Z"
                     /* clamped year, as before: only the year is clamped */);
}

/* A walk through time in steps of 0 to ~1.5 s, forward and back: many calls
 * fall in the second formatted just before (ot_ts_format keeps its prefix),
 * the others in the next, the previous or another day. */
Test(clock, format_matches_libc_within_and_across_seconds)
{
    char b[OT_TS_BUFSZ], want[64];
    uint64_t x = 2463534242ULL;
    int64_t us = 1795800563121962LL; /* 2026-11-27T... */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t step = (int64_t)(x % 1500000);
        us += (x >> 32) % 8 == 0 ? -step : step;
        if ((x >> 40) % 1000 == 0)
            us += 86400000000LL * (int64_t)((x >> 50) % 400); /* another day */
        int64_t secs = us / 1000000;
        time_t t = (time_t)secs;
        struct tm tm;
        cr_assert(gmtime_r(&t, &tm));
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%06dZ", (int)(us - secs * 1000000));
        cr_assert_str_eq(ot_ts_format(us, b), want, "us=%lld", (long long)us);
    }
}
