/* Distribution samplers checked against their CDFs (Kolmogorov-Smirnov),
 * plus spec parsing. Fixed seeds: a failure is reproducible, and at
 * alpha = 0.001 a correct sampler fails about once in a thousand seeds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dist.h"

#define N 100000

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* KS statistic D = sup |F_n(x) - F(x)| of n samples of d, drawn in blocks
 * of 512 from the streams (seed, block, site 0) as the engine does. */
static double ks(const ot_dist *d, uint64_t seed)
{
    double *x = malloc(N * sizeof *x);
    cr_assert_not_null(x);
    for (size_t b = 0; b * 512 < N; b++) {
        ot_rng r;
        ot_rng_seed(&r, seed, b, 0);
        size_t m = N - b * 512 < 512 ? N - b * 512 : 512;
        ot_dist_fill(d, &r, x + b * 512, m);
    }
    qsort(x, N, sizeof *x, cmp);
    double D = 0;
    for (size_t i = 0; i < N; i++) {
        double F = ot_dist_cdf(d, x[i]);
        double lo = F - (double)i / N, hi = (double)(i + 1) / N - F;
        D = fmax(D, fmax(lo, hi));
    }
    free(x);
    return D;
}

/* Critical value at alpha = 0.001: sqrt(-ln(alpha/2)/2) / sqrt(n). */
static double crit(void)
{
    return sqrt(-log(0.0005) / 2) / sqrt((double)N);
}

static ot_dist spec(ot_dist_kind k, double a, double b, double c)
{
    ot_dist d = ot_dist_constant(0);
    d.kind = k;
    d.p[0] = a;
    d.p[1] = b;
    d.p[2] = c;
    return d;
}

Test(sim_dist, ks_normal)
{
    ot_dist d = spec(OT_DIST_NORMAL, 25, 2, 0);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double D = ks(&d, seed);
        cr_assert_lt(D, crit(), "seed %llu: D = %g >= %g", (unsigned long long)seed, D, crit());
    }
}

Test(sim_dist, ks_uniform)
{
    ot_dist d = spec(OT_DIST_UNIFORM, 0.9, 1.1, 0);
    cr_assert_lt(ks(&d, 7), crit());
}

Test(sim_dist, ks_triangular)
{
    ot_dist d = spec(OT_DIST_TRIANGULAR, 1, 2, 5);
    cr_assert_lt(ks(&d, 11), crit());
    ot_dist e = spec(OT_DIST_TRIANGULAR, 0, 0, 1); /* mode at the edge */
    cr_assert_lt(ks(&e, 12), crit());
}

Test(sim_dist, ks_lognormal)
{
    ot_dist d = spec(OT_DIST_LOGNORMAL, 0.5, 0.75, 0);
    cr_assert_lt(ks(&d, 13), crit());
}

/* A broken sampler must fail: normal samples against a shifted CDF. */
Test(sim_dist, ks_detects_a_wrong_distribution)
{
    ot_dist d = spec(OT_DIST_NORMAL, 0, 1, 0);
    double *x = malloc(N * sizeof *x);
    ot_rng r;
    ot_rng_seed(&r, 5, 0, 0);
    ot_dist_fill(&d, &r, x, N);
    qsort(x, N, sizeof *x, cmp);
    ot_dist wrong = spec(OT_DIST_NORMAL, 0.03, 1, 0);
    double D = 0;
    for (size_t i = 0; i < N; i++)
        D = fmax(D, fabs(ot_dist_cdf(&wrong, x[i]) - (double)i / N));
    free(x);
    cr_assert_gt(D, crit());
}

/* The ziggurat's tail and wedges: P(|z| > r = 3.6541528853610088) and
 * P(|z| > 2) must match the normal law within 5 standard errors. */
Test(sim_dist, normal_tail_mass)
{
    size_t n = 2000000, tail = 0, two = 0;
    double *x = malloc(n * sizeof *x), sum = 0, sq = 0;
    ot_rng r;
    ot_rng_seed(&r, 99, 0, 0);
    ot_dist_fill_std_normal(&r, x, n);
    for (size_t i = 0; i < n; i++) {
        tail += fabs(x[i]) > 3.6541528853610088;
        two += fabs(x[i]) > 2;
        sum += x[i];
        sq += x[i] * x[i];
    }
    free(x);
    double p_tail = erfc(3.6541528853610088 / sqrt(2)), p_two = erfc(2 / sqrt(2));
    double se_tail = sqrt(p_tail * (1 - p_tail) / n), se_two = sqrt(p_two * (1 - p_two) / n);
    cr_assert_lt(fabs((double)tail / n - p_tail), 5 * se_tail, "tail %zu", tail);
    cr_assert_lt(fabs((double)two / n - p_two), 5 * se_two, "|z|>2: %zu", two);
    cr_assert_lt(fabs(sum / n), 5 / sqrt((double)n));
    cr_assert_lt(fabs(sq / n - 1), 5 * sqrt(2.0 / n));
}

Test(sim_dist, uniform_is_open_interval_and_streams_differ)
{
    ot_rng a, b;
    ot_rng_seed(&a, 1, 0, 0);
    ot_rng_seed(&b, 1, 0, 1);
    cr_assert_neq(ot_rng_next(&a), ot_rng_next(&b));
    ot_rng_seed(&a, 1, 1, 0);
    ot_rng_seed(&b, 1, 0, 1);
    cr_assert_neq(ot_rng_next(&a), ot_rng_next(&b), "(block, site) must not commute");
    for (int i = 0; i < 100000; i++) {
        double u = ot_rng_uniform(&a);
        cr_assert(u > 0 && u < 1);
    }
    cr_assert_lt(ot_rng_random_seed(), 1ULL << 53);
}

static int parse(const char *json, ot_dist *d, ot_error *err)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s", je.text);
    int rc = ot_dist_parse(j, "$.parameters.t", d, err);
    json_decref(j);
    return rc;
}

Test(sim_dist, parse_specs_and_errors)
{
    ot_dist d;
    ot_error e;
    cr_assert_eq(parse("3.5", &d, &e), 0);
    cr_assert_eq(d.kind, OT_DIST_CONSTANT);
    cr_assert_eq(parse("{\"dist\":\"normal\",\"mean\":25,\"std\":2}", &d, &e), 0);
    cr_assert_eq(d.p[1], 2);
    cr_assert_eq(parse("{\"dist\":\"telemetry\",\"asset_id\":\"press_2\",\"metric\":\"load_pct\","
                       "\"std\":1.5}", &d, &e), 0);
    cr_assert_str_eq(d.metric, "load_pct");
    cr_assert_eq(parse("{\"dist\":\"setpoint\",\"key\":\"chiller_1.setpoint\",\"default\":20}",
                       &d, &e), 0);
    cr_assert(d.has_default && d.def == 20);

    cr_assert_eq(parse("{\"dist\":\"normal\",\"mean\":25,\"sd\":2}", &d, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.t.sd");
    cr_assert_eq(parse("{\"dist\":\"normal\",\"mean\":25}", &d, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.t.std");
    cr_assert_eq(parse("{\"dist\":\"normal\",\"mean\":25,\"std\":-1}", &d, &e), OT_EINVAL);
    cr_assert_eq(parse("{\"dist\":\"uniform\",\"low\":2,\"high\":1}", &d, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.t.high");
    cr_assert_eq(parse("{\"dist\":\"triangular\",\"left\":0,\"mode\":3,\"right\":2}", &d, &e),
                 OT_EINVAL);
    cr_assert_eq(parse("{\"dist\":\"gamma\"}", &d, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.t.dist");
    cr_assert_eq(parse("{\"dist\":\"telemetry\",\"asset_id\":\"a\"}", &d, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.t.metric");
    cr_assert_eq(parse("\"x\"", &d, &e), OT_EINVAL);
}

Test(sim_dist, bind_and_json_round_trip)
{
    ot_dist d;
    ot_error e;
    cr_assert_eq(parse("{\"dist\":\"telemetry\",\"asset_id\":\"a\",\"metric\":\"m\",\"std\":1.5}",
                       &d, &e), 0);
    ot_dist b = ot_dist_bind(&d, 42);
    cr_assert_eq(b.kind, OT_DIST_NORMAL);
    cr_assert(b.p[0] == 42 && b.p[1] == 1.5);
    json_t *j = ot_dist_to_json(&d);
    ot_dist back;
    cr_assert_eq(ot_dist_parse(j, "$", &back, &e), 0, "%s", e.message);
    cr_assert_str_eq(back.asset_id, "a");
    json_decref(j);
}
