/* Exact quantiles and moments against a sort-based reference that follows
 * numpy.percentile's default (linear) method. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dist.h"
#include "sim/stats.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double ref_quantile(const double *sorted, size_t n, double q)
{
    double h = q * (double)(n - 1);
    size_t lo = (size_t)h;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double t = h - floor(h), a = sorted[lo], b = sorted[hi];
    return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

static void check(double *x, size_t n)
{
    ot_sim_stats st;
    cr_assert_eq(ot_sim_stats_compute(x, n, &st), 0);
    double *s = malloc(n * sizeof *s);
    size_t m = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            s[m++] = x[i];
            sum += x[i];
        }
    qsort(s, m, sizeof *s, cmp);
    cr_assert_eq(st.n_valid, m);
    cr_assert_eq(st.n_invalid, n - m);
    for (int q = 0; q < OT_SIM_NQUANTILES; q++) {
        double want = ref_quantile(s, m, ot_sim_stats_probs[q]);
        cr_assert_eq(st.q[q], want, "%s: %.17g != %.17g (n=%zu)", ot_sim_stats_names[q], st.q[q],
                     want, n);
    }
    double mean = sum / m, var = 0;
    for (size_t i = 0; i < m; i++)
        var += (s[i] - mean) * (s[i] - mean);
    cr_assert_float_eq(st.mean, mean, 1e-12 * (1 + fabs(mean)));
    cr_assert_float_eq(st.std, sqrt(var / m), 1e-9 * (1 + sqrt(var / m)));
    free(s);
}

Test(sim_stats, quantiles_match_sorted_reference)
{
    size_t sizes[] = {1, 2, 3, 100, 1001, 250000};
    ot_rng r;
    ot_rng_seed(&r, 3, 0, 0);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        double *x = malloc(n * sizeof *x);
        ot_dist_fill_std_normal(&r, x, n);
        check(x, n);
        for (size_t i = 0; i < n; i++) /* a point mass, as clip() makes */
            x[i] = x[i] > 0.5 ? 1.0 : exp(x[i]);
        check(x, n);
        free(x);
    }
}

Test(sim_stats, heavy_tails_duplicates_and_invalid)
{
    size_t n = 50000;
    double *x = malloc(n * sizeof *x);
    ot_rng r;
    ot_rng_seed(&r, 4, 0, 0);
    ot_dist_fill_std_normal(&r, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = exp(5 * x[i]); /* spans ~1e-40..1e40: most land in one bucket */
    x[10] = NAN;
    x[20] = INFINITY;
    x[30] = -INFINITY;
    check(x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(i % 3); /* three values only */
    check(x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = 7; /* constant */
    check(x, n);
    free(x);
}

Test(sim_stats, no_finite_values)
{
    double x[3] = {NAN, INFINITY, NAN};
    ot_sim_stats st;
    cr_assert_eq(ot_sim_stats_compute(x, 3, &st), 0);
    cr_assert(isnan(st.mean) && isnan(st.std) && isnan(st.q[2]));
    cr_assert_eq(st.n_invalid, 3);
}

Test(sim_stats, block_scans_merge_like_one_scan)
{
    double x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = sin(i);
    ot_sim_scan whole = ot_sim_scan_block(x, 1000), parts = ot_sim_scan_empty();
    for (int b = 0; b < 1000; b += 512) {
        ot_sim_scan s = ot_sim_scan_block(x + b, b + 512 <= 1000 ? 512 : 1000 - (size_t)b);
        ot_sim_scan_merge(&parts, &s);
    }
    cr_assert_eq(whole.cnt, parts.cnt);
    cr_assert(whole.lo == parts.lo && whole.hi == parts.hi);
    cr_assert_float_eq(whole.sum, parts.sum, 1e-12);
    double q[2], probs[2] = {0, 1};
    cr_assert_eq(ot_sim_quantiles(x, 1000, probs, 2, q), 0);
    cr_assert(q[0] == whole.lo && q[1] == whole.hi);
    probs[1] = 1.5;
    cr_assert_eq(ot_sim_quantiles(x, 1000, probs, 2, q), OT_EINVAL);
}
