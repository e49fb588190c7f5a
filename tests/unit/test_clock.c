#include <criterion/criterion.h>

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
