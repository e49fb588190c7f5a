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

Test(rollup, which_aggregates_read_rollups)
{
    cr_assert(ot_agg_use_rollups(INT64_MIN, INT64_MAX, OT_MINUTE_US));
    cr_assert(ot_agg_use_rollups(0, 60 * OT_MINUTE_US, 5 * OT_MINUTE_US));
    cr_assert_not(ot_agg_use_rollups(0, 60 * OT_MINUTE_US, 10000000), "10 s windows");
    cr_assert_not(ot_agg_use_rollups(1, 60 * OT_MINUTE_US, OT_MINUTE_US), "start inside a minute");
}

Test(rollup, bucket_values_by_function)
{
    json_t *out = json_array();
    ot_agg_append(out, OT_AGG_AVG, 0, 4, 10, 30, 1, 4);
    ot_agg_append(out, OT_AGG_STDDEV, 0, 4, 10, 30, 1, 4);
    ot_agg_append(out, OT_AGG_STDDEV, 0, 1, 3, 9, 3, 3);
    ot_agg_append(out, OT_AGG_COUNT, OT_MINUTE_US, 4, 10, 30, 1, 4);
    cr_assert_float_eq(json_real_value(json_object_get(json_array_get(out, 0), "value")), 2.5,
                       1e-12);
    /* 1,2,3,4: sample variance 5/3 */
    cr_assert_float_eq(json_real_value(json_object_get(json_array_get(out, 1), "value")),
                       1.2909944487358056, 1e-12);
    cr_assert(json_is_null(json_object_get(json_array_get(out, 2), "value")));
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(out, 3), "value")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 3), "bucket")),
                     "1970-01-01T00:01:00.000000Z");
    json_decref(out);

    json_t *latest = json_object();
    ot_latest_put(latest, "t", "a", "m", 1.5, 0);
    ot_latest_put(latest, "t", "a", "n", 2.5, 0);
    cr_assert_eq(json_object_size(json_object_get(json_object_get(latest, "t"), "a")), 2);
    json_decref(latest);
}
