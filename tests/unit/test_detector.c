/* test_detector.c - the streaming anomaly detector: the prototype's numbers,
 * the score map, configuration, anomaly.v1 JSON, and precision/recall on
 * generated streams (spikes, level shifts, slow drifts, gaps, seasonality).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/ids.h"
#include "telemetry/detector.h"

#define MIN_US 60000000LL

/* --- A deterministic generator (splitmix64 + Box-Muller) ---------------- */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_unit(rng_t *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(rng_t *r)
{
    return sqrt(-2.0 * log(rng_unit(r))) * cos(2.0 * M_PI * rng_unit(r));
}

/* Run a stream through a fresh state; record the indices where episodes
 * start. Returns the number of events (at most cap recorded). */
static int run_events(const ot_detector_config *cfg, const double *v, int n, int *ev, int cap)
{
    ot_series_state st;
    ot_series_state_init(&st);
    int k = 0;
    for (int i = 0; i < n; i++) {
        ot_detection d;
        ot_detector_update(cfg, &st, (int64_t)i * MIN_US, v[i], &d);
        if (d.event) {
            if (k < cap)
                ev[k] = i;
            k++;
        }
    }
    return k;
}

/* Precision and recall: an event is a hit if it starts within [a, a+lag]
 * of some anomaly start a; each anomaly is found at most once. */
static void pr(const int *ev, int nev, const int *an, int nan, int lag, double *prec,
               double *rec)
{
    int found = 0, good = 0;
    for (int j = 0; j < nan; j++)
        for (int i = 0; i < nev; i++)
            if (ev[i] >= an[j] && ev[i] <= an[j] + lag) {
                found++;
                break;
            }
    for (int i = 0; i < nev; i++)
        for (int j = 0; j < nan; j++)
            if (ev[i] >= an[j] && ev[i] <= an[j] + lag) {
                good++;
                break;
            }
    *prec = nev ? (double)good / nev : 1.0;
    *rec = nan ? (double)found / nan : 1.0;
}

/* --- The seed prototype's z-score, number for number ---------------------- */

Test(detector, zscore_matches_prototype)
{
    /* Expected values from the prototype's own arithmetic (anomaly_detector.py:
     * Welford including the point, population variance, round(z, 4),
     * round(min(1, |z|/5), 4)). */
    static const double v[] = {10, 10.5, 9.8, 10.2, 10.1, 9.9, 10.3, 10.0, 9.7,
                               10.4, 15.0, 10.1, 4.0, 10.2, 40.0, 10.0, -30.0};
    static const double z[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1.2562, 3.1192, -0.2908,
                               -2.7541, 0.0884, 3.6112, -0.251, -3.2151};
    static const double s[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0.2512, 0.6238, 0.0582,
                               0.5508, 0.0177, 0.7222, 0.0502, 0.643};
    ot_detector_config cfg;
    ot_detector_config_zscore(&cfg);
    cfg.calm_points = 1; /* the prototype reports every anomalous point */
    ot_series_state st;
    ot_series_state_init(&st);
    for (int i = 0; i < 17; i++) {
        ot_detection d;
        double score = ot_detector_update(&cfg, &st, i * MIN_US, v[i], &d);
        cr_assert_float_eq(d.z, z[i], 1e-12, "z at %d: %g", i, d.z);
        cr_assert_float_eq(score, s[i], 1e-12, "score at %d: %g", i, score);
        bool want = fabs(z[i]) >= 3.0;
        cr_assert_eq(d.anomalous, want, "anomalous at %d", i);
        if (i == 10 || i == 16) {
            cr_assert(d.event);
            cr_assert_eq(d.kind, OT_KIND_OUTLIER);
            cr_assert_eq(d.severity, OT_SEV_LOW); /* .6238, .643 < .70 */
        }
        if (i == 14) {
            cr_assert(d.event);
            cr_assert_eq(d.kind, OT_KIND_OUTLIER);
            cr_assert_eq(d.severity, OT_SEV_MEDIUM); /* .7222 */
        }
    }
}

Test(detector, zscore_severity_and_kind_cutoffs)
{
    cr_assert_eq(ot_detector_severity_of_score(0.95), OT_SEV_CRITICAL);
    cr_assert_eq(ot_detector_severity_of_score(0.9499), OT_SEV_HIGH);
    cr_assert_eq(ot_detector_severity_of_score(0.85), OT_SEV_HIGH);
    cr_assert_eq(ot_detector_severity_of_score(0.70), OT_SEV_MEDIUM);
    cr_assert_eq(ot_detector_severity_of_score(0.60), OT_SEV_LOW);
    cr_assert_str_eq(ot_detector_recommended_next(OT_SEV_HIGH), "sim_run");
    cr_assert_str_eq(ot_detector_recommended_next(OT_SEV_CRITICAL), "sim_run");
    cr_assert_str_eq(ot_detector_recommended_next(OT_SEV_MEDIUM), "monitor");

    /* a huge point after a flat-ish warm-up: spike (|z| > 4) */
    ot_detector_config cfg;
    ot_detector_config_zscore(&cfg);
    ot_series_state st;
    ot_series_state_init(&st);
    ot_detection d;
    for (int i = 0; i < 40; i++)
        ot_detector_update(&cfg, &st, i * MIN_US, 10.0 + (i % 2 ? 0.1 : -0.1), &d);
    ot_detector_update(&cfg, &st, 40 * MIN_US, 30.0, &d);
    cr_assert(d.event);
    cr_assert_eq(d.kind, OT_KIND_SPIKE);
    cr_assert_eq(d.score, 1.0);
    cr_assert_eq(d.severity, OT_SEV_CRITICAL);
}

/* --- The score map ---------------------------------------------------------- */

Test(detector, score_is_monotone_and_never_saturates)
{
    double prev = -1;
    for (double z = 0; z <= 200; z += 0.25) {
        double s = ot_detector_score_of_z(z);
        cr_assert(s >= 0 && s < 1.0, "score(%g) = %g", z, s);
        if (z > 0)
            cr_assert(s > prev, "not increasing at %g", z);
        prev = s;
    }
    /* every |z| >= 5 was 1.0 on the prototype's scale; here they still rank */
    cr_assert(ot_detector_score_of_z(10) < ot_detector_score_of_z(20));
    cr_assert(ot_detector_score_of_z(20) < ot_detector_score_of_z(40));
    cr_assert(ot_detector_score_of_z(40) < 1.0);
    /* the cut-offs keep roughly their meaning */
    cr_assert_float_eq(ot_detector_score_of_z(2.5), 0.5, 1e-12);
    cr_assert(ot_detector_score_of_z(3.0) > 0.65 && ot_detector_score_of_z(3.0) < 0.70);
    cr_assert(ot_detector_score_of_z(4.0) >= 0.85 && ot_detector_score_of_z(4.0) < 0.9);
    cr_assert(ot_detector_score_of_z(5.5) >= 0.95);
    cr_assert_eq(ot_detector_score_of_z(NAN), 0.0);
    cr_assert(ot_detector_score_of_z(INFINITY) < 1.0);
}

Test(detector, state_is_small_plain_data)
{
    cr_assert_leq(sizeof(ot_series_state), OT_SERIES_STATE_SIZE);
    cr_assert_leq(OT_SERIES_STATE_SIZE, 64);
}

/* --- Generated streams: precision and recall ---------------------------------- */

#define N 6000

/* Run the default detector over v[0..N) and require the precision and
 * recall of its events against the anomaly starts an[] (hit within lag). */
static void check_pr(const char *what, const double *v, const int *an, int nan, int lag,
                     double min_prec, double min_rec)
{
    int ev[64];
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    int nev = run_events(&cfg, v, N, ev, 64);
    double p, rc;
    pr(ev, nev < 64 ? nev : 64, an, nan, lag, &p, &rc);
    cr_log_info("%s: %d events, precision %.2f recall %.2f", what, nev, p, rc);
    cr_assert_geq(rc, min_rec, "%s: recall %.2f", what, rc);
    cr_assert_geq(p, min_prec, "%s: precision %.2f (%d events)", what, p, nev);
}

Test(detector, spikes_are_found_once_each)
{
    static double v[N];
    int an[20];
    rng_t r = {42};
    for (int i = 0; i < N; i++)
        v[i] = 100.0 + rng_gauss(&r);
    for (int j = 0; j < 20; j++) {
        an[j] = 300 + j * 280 + (int)(rng_next(&r) % 100);
        v[an[j]] += (j % 2 ? 8.0 : -8.0);
    }
    check_pr("spikes", v, an, 20, 0, 0.80, 0.95);
}

Test(detector, level_shifts_fire_once_and_the_new_level_becomes_normal)
{
    static double v[N];
    int an[6];
    rng_t r = {7};
    double level = 50;
    for (int j = 0; j < 6; j++)
        an[j] = 500 + j * 900;
    for (int i = 0, j = 0; i < N; i++) {
        if (j < 6 && i == an[j]) {
            level += (j % 2 ? -6.0 : 6.0);
            j++;
        }
        v[i] = level + rng_gauss(&r);
    }
    check_pr("shifts", v, an, 6, 3, 0.85, 1.0);
}

/* One slow ramp per stream (0.03 sigma per point for 400 points, 12 sigma
 * in all, too slow for any single point to stand out), on three streams. */
Test(detector, slow_drift_is_reported_as_drift)
{
    static double v[N];
    int found = 0, events = 0, drift_events = 0;
    for (int k = 0; k < 3; k++) {
        rng_t r = {11 + (uint64_t)k};
        int a = 2000 + 500 * k;
        double off = 0;
        for (int i = 0; i < N; i++) {
            if (i >= a && i < a + 400)
                off += 0.03;
            v[i] = 20 + off + rng_gauss(&r);
        }
        ot_detector_config cfg;
        ot_detector_config_default(&cfg);
        ot_series_state st;
        ot_series_state_init(&st);
        int hit = 0;
        for (int i = 0; i < N; i++) {
            ot_detection d;
            ot_detector_update(&cfg, &st, (int64_t)i * MIN_US, v[i], &d);
            if (!d.event)
                continue;
            events++;
            if (i >= a && i < a + 400) {
                hit = 1;
                drift_events += d.kind == OT_KIND_DRIFT;
            }
        }
        found += hit;
    }
    double rc = found / 3.0, p = events ? (double)found / events : 1.0;
    cr_log_info("drift: %d events, precision %.2f recall %.2f", events, p, rc);
    cr_assert_eq(found, 3, "recall %.2f", rc);
    cr_assert_geq(p, 0.5, "precision %.2f (%d events)", p, events);
    cr_assert_geq(drift_events, 2);
}

Test(detector, seasonality_with_noise_does_not_fire_constantly)
{
    static double v[3 * N];
    int ev[64];
    rng_t r = {3};
    for (int i = 0; i < 3 * N; i++) /* daily cycle of 288 points, amplitude 10 sigma */
        v[i] = 40 + 10 * sin(2 * M_PI * i / 288.0) + rng_gauss(&r);
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    int nev = run_events(&cfg, v, 3 * N, ev, 64);
    cr_log_info("seasonal: %d events in %d points", nev, 3 * N);
    cr_assert_leq(nev, 3 * N / 1000, "%d events on a clean seasonal stream", nev);

    /* and a real spike on top of it is still seen */
    v[12345] += 12;
    int k = run_events(&cfg, v, 3 * N, ev, 64), hit = 0;
    for (int i = 0; i < (k < 64 ? k : 64); i++)
        hit |= ev[i] == 12345;
    cr_assert(hit, "spike on a seasonal stream missed");
}

Test(detector, pure_noise_false_positive_rate)
{
    static double v[5 * N];
    int ev[64];
    rng_t r = {99};
    for (int i = 0; i < 5 * N; i++)
        v[i] = rng_gauss(&r) * 3 + 7;
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    int nev = run_events(&cfg, v, 5 * N, ev, 64);
    cr_log_info("noise: %d events in %d points", nev, 5 * N);
    cr_assert_leq(nev, 5 * N / 1000, "%d events on white noise", nev);
}

/* --- Missing data ------------------------------------------------------------ */

Test(detector, a_gap_is_reported_once)
{
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    ot_series_state st;
    ot_series_state_init(&st);
    ot_detection d;
    cr_assert_eq(ot_detector_check_missing(&cfg, &st, 1000 * MIN_US, &d), 0, "no basis yet");
    for (int i = 0; i < 50; i++)
        ot_detector_update(&cfg, &st, i * MIN_US, 5.0 + (i % 3), &d);
    int64_t last = 49 * MIN_US;
    cr_assert_eq(ot_detector_check_missing(&cfg, &st, last + 3 * MIN_US, &d), 0);
    cr_assert_eq(ot_detector_check_missing(&cfg, &st, last + 20 * MIN_US, &d), 1);
    cr_assert_eq(d.kind, OT_KIND_MISSING);
    cr_assert(d.event);
    cr_assert_eq(d.gap_us, 20 * MIN_US);
    cr_assert_eq(d.severity, OT_SEV_MEDIUM);
    cr_assert_eq(ot_detector_check_missing(&cfg, &st, last + 40 * MIN_US, &d), 0, "twice");

    /* the series comes back: no second report for the same gap */
    ot_detector_update(&cfg, &st, last + 41 * MIN_US, 6.0, &d);
    cr_assert_neq(d.kind, OT_KIND_MISSING);
    /* a new gap, never swept: the first point after it reports it */
    for (int i = 42; i < 60; i++)
        ot_detector_update(&cfg, &st, last + i * MIN_US, 5.0 + (i % 3), &d);
    ot_detector_update(&cfg, &st, last + 200 * MIN_US, 6.0, &d);
    cr_assert(d.event);
    cr_assert_eq(d.kind, OT_KIND_MISSING);
    cr_assert_eq(d.gap_us, 141 * MIN_US);
    cr_assert_eq(d.severity, OT_SEV_HIGH);
}

Test(detector, fixed_missing_timeout)
{
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    cfg.missing_timeout_us = 30 * 1000000LL;
    ot_series_state st;
    ot_series_state_init(&st);
    ot_detection d;
    ot_detector_update(&cfg, &st, 0, 1.0, &d);
    cr_assert_eq(ot_detector_check_missing(&cfg, &st, 29 * 1000000LL, &d), 0);
    cr_assert_eq(ot_detector_check_missing(&cfg, &st, 31 * 1000000LL, &d), 1);
}

Test(detector, non_finite_values_are_ignored)
{
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    ot_series_state st;
    ot_series_state_init(&st);
    ot_detection d;
    for (int i = 0; i < 30; i++)
        ot_detector_update(&cfg, &st, i * MIN_US, 1.0 + 0.01 * (i % 5), &d);
    ot_series_state before = st;
    cr_assert_eq(ot_detector_update(&cfg, &st, 31 * MIN_US, NAN, &d), 0.0);
    cr_assert_eq(ot_detector_update(&cfg, &st, 31 * MIN_US, INFINITY, &d), 0.0);
    cr_assert_eq(memcmp(&before, &st, sizeof st), 0);
}

Test(detector, flat_series_then_change_is_finite)
{
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    ot_series_state st;
    ot_series_state_init(&st);
    ot_detection d;
    for (int i = 0; i < 100; i++)
        ot_detector_update(&cfg, &st, i * MIN_US, 3.0, &d);
    double s = ot_detector_update(&cfg, &st, 100 * MIN_US, 1e300, &d);
    cr_assert(isfinite(s) && s < 1.0 && s > 0.99);
    cr_assert(d.event);
}

/* --- Configuration -------------------------------------------------------------- */

Test(detector, config_from_json)
{
    ot_detector_config cfg;
    ot_error err;
    json_t *j = json_loads("{\"method\":\"zscore\",\"threshold\":3.5,\"min_samples\":20,"
                           "\"missing_timeout_s\":1.5}",
                           0, NULL);
    cr_assert_eq(ot_detector_config_from_json(j, &cfg, &err), 0, "%s", err.message);
    cr_assert_eq(cfg.method, OT_DETECT_ZSCORE);
    cr_assert_eq(cfg.threshold, 3.5);
    cr_assert_eq(cfg.min_samples, 20);
    cr_assert_eq(cfg.missing_timeout_us, 1500000);
    json_decref(j);

    json_t *back = ot_detector_config_to_json(&cfg);
    ot_detector_config again;
    int rc = ot_detector_config_from_json(back, &again, &err);
    json_decref(back);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_eq(again.method, cfg.method);
    cr_assert_eq(again.threshold, cfg.threshold);
    cr_assert_eq(again.spike_z, cfg.spike_z);
    cr_assert_eq(again.window, cfg.window);
    cr_assert_eq(again.base_window, cfg.base_window);
    cr_assert_eq(again.trend, cfg.trend);
    cr_assert_eq(again.missing_timeout_us, cfg.missing_timeout_us);

    cr_assert_eq(ot_detector_config_from_json(NULL, &cfg, &err), 0);
    cr_assert_eq(cfg.method, OT_DETECT_ROBUST);
}

Test(detector, config_errors_name_the_field)
{
    static const struct {
        const char *json, *path;
    } bad[] = {
        {"{\"method\":\"magic\"}", "$.method"},
        {"{\"method\":3}", "$.method"},
        {"{\"threshold\":-1}", "$.threshold"},
        {"{\"threshold\":\"3\"}", "$.threshold"},
        {"{\"min_samples\":2.5}", "$.min_samples"},
        {"{\"window\":1}", "$.window"},
        {"{\"shift_points\":1000}", "$.shift_points"},
        {"{\"bogus\":1}", "$.bogus"},
        {"[1]", "$"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(j, "%s", bad[i].json);
        ot_detector_config cfg;
        ot_error err;
        ot_error_clear(&err);
        cr_assert_eq(ot_detector_config_from_json(j, &cfg, &err), OT_EINVAL, "%s", bad[i].json);
        cr_assert_str_eq(err.path, bad[i].path, "%s -> %s", bad[i].json, err.path);
        json_decref(j);
    }
}

/* --- anomaly.v1 ------------------------------------------------------------------ */

Test(detector, anomaly_json_shape)
{
    ot_detection d = {.score = 0.97, .z = 6.25, .expected = 20.0, .event = true,
                      .kind = OT_KIND_SPIKE, .severity = OT_SEV_CRITICAL};
    char id[OT_ID_BUFSZ];
    ot_error err;
    json_t *o = ot_anomaly_to_json("plant_1", "press_2", "temp_c", 1767530096123456LL, 27.5, &d,
                                   id, &err);
    cr_assert_not_null(o, "%s", err.message);
    cr_assert(ot_id_valid(json_string_value(json_object_get(o, "anomaly_id")), "ano"));
    cr_assert_str_eq(json_string_value(json_object_get(o, "anomaly_id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(o, "twin_id")), "plant_1");
    cr_assert_str_eq(json_string_value(json_object_get(o, "asset_id")), "press_2");
    cr_assert_str_eq(json_string_value(json_object_get(o, "metric")), "temp_c");
    cr_assert_str_eq(json_string_value(json_object_get(o, "ts")), "2026-01-04T12:34:56.123456Z");
    cr_assert_float_eq(json_real_value(json_object_get(o, "score")), 0.97, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "spike");
    cr_assert_str_eq(json_string_value(json_object_get(o, "severity")), "critical");
    cr_assert_str_eq(json_string_value(json_object_get(o, "recommended_next")), "sim_run");
    json_t *f = json_object_get(o, "features");
    cr_assert_float_eq(json_real_value(json_object_get(f, "temp_c_z")), 6.25, 1e-12);
    cr_assert_float_eq(json_real_value(json_object_get(f, "temp_c_value")), 27.5, 1e-12);
    json_decref(o);

    ot_detection m = {.score = 0.8, .event = true, .kind = OT_KIND_MISSING,
                      .severity = OT_SEV_MEDIUM, .gap_us = 90000000};
    o = ot_anomaly_to_json("t", "a", "rpm", 0, 0, &m, NULL, &err);
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(o, "features"), "rpm_gap_s")),
                       90.0, 1e-9);
    cr_assert_str_eq(json_string_value(json_object_get(o, "recommended_next")), "monitor");
    json_decref(o);

    cr_assert_null(ot_anomaly_to_json(NULL, "a", "m", 0, 0, &m, NULL, &err));
    cr_assert_eq(err.code, OT_EINVAL);
}
