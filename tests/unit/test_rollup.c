#include <criterion/criterion.h>

#include "store/rollup.h"

Test(rollup, minutes_floor_also_before_1970)
{
    cr_assert_eq(ot_minute_of(0), 0);
    cr_assert_eq(ot_minute_of(OT_MINUTE_US - 1), 0);
    cr_assert_eq(ot_minute_of(OT_MINUTE_US), 1);
    cr_assert_eq(ot_minute_of(-1), -1);
    cr_assert_eq(ot_minute_of(-OT_MINUTE_US), -1);
}

Test(rollup, accumulates_per_series_and_minute_across_growth)
{
    ot_rollups r = {0};
    /* 1,000 series x 3 minutes x 2 points: the table grows several times */
    for (int s = 0; s < 1000; s++)
        for (int m = 0; m < 3; m++)
            for (int k = 0; k < 2; k++)
                cr_assert_eq(ot_rollups_add(&r, s, m * OT_MINUTE_US + k, s + m * 10 + k), 0);
    cr_assert_eq(r.n, 3000);
    size_t seen = 0;
    for (size_t i = 0; i < r.cap; i++) {
        ot_rollup *a = &r.v[i];
        if (!a->used)
            continue;
        seen++;
        double lo = (double)(a->series + a->minute * 10);
        cr_assert_eq(a->count, 2);
        cr_assert_float_eq(a->min, lo, 1e-9);
        cr_assert_float_eq(a->max, lo + 1, 1e-9);
        cr_assert_float_eq(a->sum, 2 * lo + 1, 1e-9);
        cr_assert_float_eq(a->sumsq, lo * lo + (lo + 1) * (lo + 1), 1e-6);
    }
    cr_assert_eq(seen, 3000);
    ot_rollups_clear(&r);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(ot_rollups_add(&r, 7, 5, 1.5), 0);
    cr_assert_eq(r.n, 1);
    ot_rollups_free(&r);
}
