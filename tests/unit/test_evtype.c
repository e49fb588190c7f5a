#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/evtype.h"

Test(evtype, cursor_format_pads_to_six_digits)
{
    const int64_t vals[] = {0, 1, 42, 999999, 1000000, 1234567890123LL, INT64_MAX};
    char b[OT_CURSOR_BUFSZ], want[64];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t len = 0;
        snprintf(want, sizeof want, "cursor_%06lld", (long long)vals[i]);
        cr_assert_str_eq(ot_cursor_format_n(vals[i], b, &len), want);
        cr_assert_eq(len, strlen(want));
        cr_assert_str_eq(ot_cursor_format(vals[i], b), want);
    }
    cr_assert_str_eq(ot_cursor_format(-5, b), "cursor_000000");
}

Test(evtype, names_round_trip)
{
    for (int t = 0; t < OT_EV_COUNT; t++)
        cr_assert_eq(ot_evtype_parse(ot_evtype_name(t), -1), t);
    cr_assert_null(ot_evtype_name(OT_EV_COUNT));
    cr_assert_eq(ot_evtype_parse("NoSuchEvent", -1), -1);
}

Test(evtype, a_filter_skips_telemetry_only_when_its_types_leave_it_out)
{
    ot_event_filter any = {0}, tel = {.types = 1u << OT_EV_TELEMETRY_APPENDED},
                    both = {.types = 1u << OT_EV_TELEMETRY_APPENDED | 1u << OT_EV_POLICY_UPDATED},
                    other = {.twin_id = "tw", .types = 1u << OT_EV_POLICY_UPDATED};
    cr_assert_not(ot_event_filter_skips_telemetry(NULL));
    cr_assert_not(ot_event_filter_skips_telemetry(&any), "no types: every type");
    cr_assert_not(ot_event_filter_skips_telemetry(&tel));
    cr_assert_not(ot_event_filter_skips_telemetry(&both));
    cr_assert(ot_event_filter_skips_telemetry(&other));
}
