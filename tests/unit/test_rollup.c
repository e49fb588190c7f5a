#include <criterion/criterion.h>
#include <math.h>

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
                cr_assert_eq(ot_rollups_add(&r, s, m * OT_MINUTE_US + k, k, s + m * 10 + k), 0);
    cr_assert_eq(r.n, 3000);
    size_t seen = 0;
    for (size_t i = 0; i < r.cap; i++) {
        ot_rollup *a = &r.v[i];
        if (!a->used)
            continue;
        seen++;
        double lo = (double)(a->series + a->minute * 10);
        cr_assert_eq(a->m.count, 2);
        cr_assert_float_eq(a->m.min, lo, 1e-9);
        cr_assert_float_eq(a->m.max, lo + 1, 1e-9);
        cr_assert_float_eq(a->m.sum, 2 * lo + 1, 1e-9);
        cr_assert_float_eq(a->m.m2, 0.5, 1e-9); /* (lo - mean)^2 + (lo + 1 - mean)^2 */
    }
    cr_assert_eq(seen, 3000);
    ot_rollups_clear(&r);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(ot_rollups_add(&r, 7, 5, 1, 1.5), 0);
    cr_assert_eq(r.n, 1);
    ot_rollups_free(&r);
}

struct seen_block {
    int64_t series, minute, seq;
    size_t n;
    int64_t ts[OT_POINT_BLOCK_MAX];
    double v[OT_POINT_BLOCK_MAX];
};

static int take_block(void *ctx, const ot_rollup *a, int64_t seq, const unsigned char *data,
                      size_t len)
{
    struct seen_block **next = ctx;
    struct seen_block *b = (*next)++;
    cr_assert_eq(len % OT_POINT_BYTES, 0);
    b->series = a->series;
    b->minute = a->minute;
    b->seq = seq;
    b->n = len / OT_POINT_BYTES;
    for (size_t i = 0; i < b->n; i++)
        ot_point_block_get(data, i, &b->ts[i], &b->v[i]);
    return 0;
}

static struct seen_block blocks[8];

Test(rollup, keeps_points_as_ordered_blocks_per_series_and_minute)
{
    ot_rollups r = {.keep_points = 1};
    /* series 1: 9,000 points in minute 5, added newest first, each record
     * (seq) its own; series 2: points in minutes -1 and 0, before 1970 too */
    for (int i = 8999; i >= 0; i--)
        cr_assert_eq(ot_rollups_add(&r, 1, 5 * OT_MINUTE_US + i * 1000, 100000 + i, i * 0.25), 0);
    cr_assert_eq(ot_rollups_add(&r, 2, -1, 7, -1e300), 0);
    cr_assert_eq(ot_rollups_add(&r, 2, 0, 9, 2.5), 0);
    cr_assert_eq(ot_rollups_add(&r, 2, 0, 8, -0.0), 0);
    for (int pass = 0; pass < 2; pass++) {
        size_t nb = 0;
        for (size_t i = 0; i < r.cap; i++) {
            if (!r.v[i].used)
                continue;
            struct seen_block *next = blocks + nb;
            cr_assert_eq(ot_rollup_blocks(&r, &r.v[i], take_block, &next), 0);
            nb = (size_t)(next - blocks);
        }
        cr_assert_eq(nb, 5, "9,000 points make three blocks, and two minutes of series 2");
        size_t total = 0;
        for (size_t k = 0; k < nb; k++) {
            struct seen_block *b = &blocks[k];
            if (b->series == 2) {
                cr_assert_eq(b->n, b->minute == -1 ? 1 : 2);
                if (b->minute == 0) {
                    /* same time: ordered by seq, -0.0 and its sign kept */
                    cr_assert_eq(b->seq, 8);
                    cr_assert(b->v[0] == 0.0 && signbit(b->v[0]));
                    cr_assert_eq(b->v[1], 2.5);
                } else {
                    cr_assert_eq(b->ts[0], -1);
                    cr_assert_eq(b->v[0], -1e300);
                }
                continue;
            }
            cr_assert_eq(b->minute, 5);
            cr_assert_leq(b->n, OT_POINT_BLOCK_MAX);
            cr_assert_eq(b->seq, 100000 + (b->ts[0] - 5 * OT_MINUTE_US) / 1000,
                         "a block's seq is its first point's");
            for (size_t i = 0; i < b->n; i++) {
                int64_t idx = (b->ts[i] - 5 * OT_MINUTE_US) / 1000;
                cr_assert_eq(b->v[i], (double)idx * 0.25);
                if (i)
                    cr_assert_gt(b->ts[i], b->ts[i - 1], "ordered by time");
            }
            total += b->n;
        }
        cr_assert_eq(total, 9000);
        /* cleared: the memory stays, nothing is kept */
        ot_rollups_clear(&r);
        cr_assert_eq(r.npts, 0);
        for (int i = 8999; i >= 0; i--)
            cr_assert_eq(ot_rollups_add(&r, 1, 5 * OT_MINUTE_US + i * 1000, 100000 + i, i * 0.25),
                         0);
        cr_assert_eq(ot_rollups_add(&r, 2, -1, 7, -1e300), 0);
        cr_assert_eq(ot_rollups_add(&r, 2, 0, 9, 2.5), 0);
        cr_assert_eq(ot_rollups_add(&r, 2, 0, 8, -0.0), 0);
    }
    ot_rollups_free(&r);
    ot_rollups plain = {0};
    cr_assert_eq(ot_rollups_add(&plain, 1, 0, 1, 1.0), 0);
    cr_assert_eq(plain.npts, 0, "points are kept only when asked");
    ot_rollups_free(&plain);
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
    const ot_moments four = {4, 10, 5, 1, 4}, one = {1, 3, 0, 3, 3}; /* m2 = 5 for 1..4 */
    ot_agg_append(out, OT_AGG_AVG, 0, &four);
    ot_agg_append(out, OT_AGG_STDDEV, 0, &four);
    ot_agg_append(out, OT_AGG_STDDEV, 0, &one);
    ot_agg_append(out, OT_AGG_COUNT, OT_MINUTE_US, &four);
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

Test(rollup, moments_add_and_merge_agree)
{
    srand(9);
    for (int round = 0; round < 200; round++) {
        ot_moments all = {0}, a = {0}, b = {0}, empty = {0};
        int n = 1 + rand() % 50, cut = rand() % (n + 1);
        double lo = INFINITY, hi = -INFINITY, sum = 0, vs[50];
        for (int i = 0; i < n; i++) {
            double v = (double)(rand() % 2001 - 1000) / 8.0; /* exact sums */
            ot_moments_add(&all, v);
            ot_moments_add(i < cut ? &a : &b, v);
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            sum += v;
            vs[i] = v;
        }
        double m2 = 0; /* two passes: the definition */
        for (int i = 0; i < n; i++)
            m2 += (vs[i] - sum / n) * (vs[i] - sum / n);
        ot_moments_merge(&a, &b);
        ot_moments_merge(&a, &empty);
        ot_moments_merge(&empty, &a);
        const ot_moments *ms[] = {&all, &a, &empty};
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(ms[k]->count, n);
            cr_assert_eq(ms[k]->min, lo, "round %d: %g != %g", round, ms[k]->min, lo);
            cr_assert_eq(ms[k]->max, hi);
            cr_assert_eq(ms[k]->sum, sum);
            cr_assert_float_eq(ms[k]->m2, m2, 1e-9 * (1 + m2), "round %d: m2 %.17g != %.17g",
                               round, ms[k]->m2, m2);
        }
    }
}

/* Values far from zero next to their spread: the sample stddev keeps its
 * digits (from sum and sum of squares it was 1.41 for the first set, 0 for
 * the second), added one by one or merged from parts. */
Test(rollup, stddev_of_large_values_keeps_its_digits)
{
    static const double base[] = {1e8, 1e9, 1e12};
    for (size_t k = 0; k < 3; k++) {
        ot_moments one = {0}, a = {0}, b = {0};
        for (int i = 0; i < 5; i++) {
            double v = base[k] + 1.5 + i;
            ot_moments_add(&one, v);
            ot_moments_add(i < 2 ? &a : &b, v);
        }
        ot_moments_merge(&a, &b);
        const ot_moments *ms[] = {&one, &a};
        for (int j = 0; j < 2; j++) {
            json_t *out = json_array();
            ot_agg_append(out, OT_AGG_STDDEV, 0, ms[j]);
            double sd = json_real_value(json_object_get(json_array_get(out, 0), "value"));
            cr_assert_float_eq(sd, sqrt(2.5), 1e-6, "base %g, %s: %.10g", base[k],
                               j ? "merged" : "added", sd);
            json_decref(out);
        }
    }
}
