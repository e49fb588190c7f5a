/* Black-box tests of the simulation service: POST /sim/run, seeded
 * reproducibility, stored results and events, the honest quantum engine,
 * and twin models (PUT/GET /twins/{id}/model). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(sim, .init = up, .fini = down, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const char *const STATS[] = {"mean", "std", "p5", "p25", "p50", "p75", "p95", "p99"};

#define SEEDED "{\"twin_id\":\"t\",\"parameters\":{\"base_yield\":0.85},\"seed\":7}"

Test(sim, run_returns_the_documented_shape)
{
    json_t *r = bb_req(&srv, "POST", "/sim/run", SEEDED, 200);
    const char *sid = sget(r, "sim_id");
    cr_assert(sid && strncmp(sid, "sim_", 4) == 0, "sim_id %s", sid ? sid : "(none)");
    cr_assert_str_eq(sget(r, "twin_id"), "t");
    cr_assert_str_eq(sget(r, "engine"), "classical");
    cr_assert(json_is_string(json_object_get(r, "status")));
    json_t *y = json_object_get(json_object_get(r, "kpi_distribution"), "yield");
    cr_assert(json_is_object(y), "no kpi_distribution.yield");
    double prev = -INFINITY;
    for (size_t i = 0; i < 8; i++) {
        json_t *v = json_object_get(y, STATS[i]);
        cr_assert(json_is_number(v), "yield.%s missing", STATS[i]);
        if (i >= 2) { /* percentiles are ordered */
            cr_assert_geq(json_number_value(v), prev, "%s < previous percentile", STATS[i]);
            prev = json_number_value(v);
        }
    }
    double mean = json_number_value(json_object_get(y, "mean"));
    cr_assert(mean > 0.8 && mean < 0.9, "yield mean %g with base_yield 0.85", mean);
    cr_assert(json_is_number(json_object_get(json_object_get(r, "uncertainty"), "yield")));
    cr_assert(json_is_boolean(json_object_get(r, "converged")));
    json_t *rec = json_object_get(r, "recommended");
    cr_assert(json_is_string(json_object_get(rec, "action")));
    double conf = json_number_value(json_object_get(rec, "confidence"));
    cr_assert(conf >= 0 && conf <= 1);
    cr_assert(json_string_length(json_object_get(rec, "reasoning")) > 0);
    cr_assert(json_is_number(json_object_get(r, "execution_time_ms")));
    cr_assert(json_is_string(json_object_get(r, "timestamp")));

    /* stored: GET /r/sim/{id} */
    json_t *g = bb_getf(&srv, 200, "/r/sim/%s", sid);
    cr_assert_str_eq(sget(g, "sim_id"), sid);
    json_t *gy = json_object_get(json_object_get(g, "kpi_distribution"), "yield");
    for (size_t i = 0; i < 8; i++)
        cr_assert_float_eq(json_number_value(json_object_get(gy, STATS[i])),
                           json_number_value(json_object_get(y, STATS[i])), 1e-9, "%s",
                           STATS[i]);
    json_decref(g);

    /* and a SimulationCompleted event pointing at it */
    json_t *ev = bb_diff_all(&srv, "types=SimulationCompleted", 100);
    cr_assert_eq(json_array_size(ev), 1);
    json_t *e = json_array_get(ev, 0);
    cr_assert_str_eq(sget(e, "id"), sid);
    cr_assert_str_eq(sget(e, "twin_id"), "t");
    cr_assert_str_eq(sget(json_object_get(e, "data_ref"), "type"), "sim");
    cr_assert_str_eq(sget(json_object_get(e, "data_ref"), "id"), sid);
    json_decref(ev);
    json_decref(r);
}

Test(sim, seeded_runs_are_reproducible)
{
    json_t *a = bb_req(&srv, "POST", "/sim/run", SEEDED, 200);
    json_t *b = bb_req(&srv, "POST", "/sim/run", SEEDED, 200);
    cr_assert(json_equal(json_object_get(a, "kpi_distribution"),
                         json_object_get(b, "kpi_distribution")),
              "same seed, different numbers");
    cr_assert(json_equal(json_object_get(a, "recommended"), json_object_get(b, "recommended")));
    /* also across a different worker order: a third run after another seed */
    json_t *c = bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"t\",\"parameters\":{\"base_yield\":0.85},\"seed\":8}", 200);
    cr_assert(!json_equal(json_object_get(a, "kpi_distribution"),
                          json_object_get(c, "kpi_distribution")),
              "a different seed gave identical numbers");
    json_t *d = bb_req(&srv, "POST", "/sim/run", SEEDED, 200);
    cr_assert(json_equal(json_object_get(a, "kpi_distribution"),
                         json_object_get(d, "kpi_distribution")));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

Test(sim, quantum_engine_is_honest)
{
    json_t *r = bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"t\",\"parameters\":{\"base_yield\":0.85},\"seed\":7,"
                       "\"engine\":\"quantum\"}",
                       200);
    cr_assert_str_eq(sget(r, "engine"), "classical");
    cr_assert(json_string_length(json_object_get(r, "engine_note")) > 0, "no engine_note");
    cr_assert(strstr(sget(r, "engine_note"), "quantum"), "%s", sget(r, "engine_note"));
    json_decref(r);
    bb_resp e;
    bb_http(&srv, "POST", "/sim/run", "{\"twin_id\":\"t\",\"engine\":\"analog\"}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.engine");
    bb_resp_free(&e);
}

Test(sim, bad_requests_name_the_field)
{
    static const struct { const char *body, *path; } cases[] = {
        {"{\"twin_id\":\"t\",\"n_samples\":5}", "$.n_samples"},
        {"{\"twin_id\":\"t\",\"n_samples\":\"many\"}", "$.n_samples"},
        {"{\"twin_id\":\"t\",\"n_samples\":100000000000}", "$.n_samples"},
        {"{\"parameters\":{}}", "$.twin_id"},
        {"{\"twin_id\":\"t\",\"seed\":-1}", "$.seed"},
        {"{\"twin_id\":\"t\",\"bogus\":1}", "$.bogus"},
        {"[1]", "$"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_resp r;
        bb_http(&srv, "POST", "/sim/run", cases[i].body, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", cases[i].path);
        bb_resp_free(&r);
    }
    bb_resp r;
    bb_http(&srv, "POST", "/sim/run", "{\"twin_id\":", NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", NULL);
    bb_resp_free(&r);
    /* nothing was simulated */
    json_t *ev = bb_diff_all(&srv, "types=SimulationCompleted", 100);
    cr_assert_eq(json_array_size(ev), 0);
    json_decref(ev);
}

Test(sim, twin_model_is_used_and_bad_expressions_are_located)
{
    json_t *m = bb_req(&srv, "PUT", "/twins/mt/model",
                       "{\"parameters\":{\"x\":{\"dist\":\"constant\",\"value\":2},"
                       "\"y\":{\"dist\":\"uniform\",\"low\":1,\"high\":1}},"
                       "\"kpis\":{\"out\":\"x * 3 + y\"}}",
                       200);
    json_decref(m);
    m = bb_req(&srv, "GET", "/twins/mt/model", NULL, 200);
    cr_assert(json_is_false(json_object_get(m, "default")));
    json_decref(m);
    json_t *r = bb_req(&srv, "POST", "/sim/run", "{\"twin_id\":\"mt\",\"seed\":1,\"n_samples\":200}",
                       200);
    json_t *o = json_object_get(json_object_get(r, "kpi_distribution"), "out");
    cr_assert(json_is_object(o), "the twin's model was not used");
    cr_assert_float_eq(json_number_value(json_object_get(o, "mean")), 7.0, 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(o, "std")), 0.0, 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(o, "p99")), 7.0, 1e-9);
    json_decref(r);
    /* the model shows on the twin */
    json_t *t = bb_req(&srv, "GET", "/twins/mt", NULL, 200);
    cr_assert(json_is_object(json_object_get(t, "model")));
    json_decref(t);

    static const char *bad[] = {"x * (3 +", "x * 3 $ 1", "3 x", "nosuchfn(x)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"parameters\":{\"x\":{\"dist\":\"constant\",\"value\":2}},"
                 "\"kpis\":{\"out\":\"%s\"}}",
                 bad[i]);
        bb_resp e;
        bb_http(&srv, "PUT", "/twins/mt/model", body, NULL, &e);
        bb_assert_error(&e, 400, "validation_failed", "$.kpis.out");
        const char *msg =
            json_string_value(json_object_get(json_object_get(e.json, "error"), "message"));
        cr_assert(strstr(msg, "position"), "'%s': message without a position: %s", bad[i], msg);
        bb_resp_free(&e);
    }
    bb_resp e;
    bb_http(&srv, "PUT", "/twins/mt/model",
            "{\"parameters\":{\"x\":{\"dist\":\"gaussian\",\"mean\":1}},\"kpis\":{\"o\":\"x\"}}",
            NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", NULL);
    cr_assert(strstr(e.body, "$.parameters.x"), "%s", e.body);
    bb_resp_free(&e);
    /* the good model is still in place */
    r = bb_req(&srv, "POST", "/sim/run", "{\"twin_id\":\"mt\",\"seed\":1,\"n_samples\":200}", 200);
    cr_assert_float_eq(json_number_value(json_object_get(
                           json_object_get(json_object_get(r, "kpi_distribution"), "out"),
                           "mean")),
                       7.0, 1e-9);
    json_decref(r);
}

/* A seeded run is cached by its request, its model and the live values it
 * binds: new telemetry for a bound parameter is a new result, not a hit. */
Test(sim, cached_seeded_results_follow_the_live_inputs)
{
    json_decref(bb_req(&srv, "PUT", "/twins/lv/model",
                       "{\"parameters\":{\"load\":{\"dist\":\"telemetry\",\"asset_id\":\"p\","
                       "\"metric\":\"load\",\"std\":0}},\"kpis\":{\"y\":\"load * 2\"}}",
                       200));
    const char *run = "{\"twin_id\":\"lv\",\"seed\":5,\"n_samples\":200}";
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"lv\",\"asset_id\":\"p\",\"metrics\":{\"load\":10}}", 200));
    json_t *a = bb_req(&srv, "POST", "/sim/run", run, 200);
    json_t *b = bb_req(&srv, "POST", "/sim/run", run, 200);
    cr_assert(json_is_true(json_object_get(b, "cached")), "same inputs: not served from the cache");
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"lv\",\"asset_id\":\"p\",\"metrics\":{\"load\":30}}", 200));
    json_t *c = bb_req(&srv, "POST", "/sim/run", run, 200);
    cr_assert_not(json_is_true(json_object_get(c, "cached")), "new telemetry, yet a cached result");
    double ma = json_number_value(json_object_get(
        json_object_get(json_object_get(a, "kpi_distribution"), "y"), "mean"));
    double mc = json_number_value(json_object_get(
        json_object_get(json_object_get(c, "kpi_distribution"), "y"), "mean"));
    cr_assert_float_eq(ma, 20, 1e-6);
    cr_assert_float_eq(mc, 60, 1e-6);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
