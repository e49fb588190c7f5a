/* The Monte Carlo engine end to end: request parsing, statistics of known
 * models, reproducibility across thread counts, common random numbers,
 * recommendations, cancellation, time limits, limits, JSON, coupler. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "sim/coupler.h"

static json_t *load(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    cr_assert_not_null(j, "%s: %s", json, je.text);
    return j;
}

static int request(const char *json, ot_sim_request *req, ot_error *err)
{
    json_t *j = load(json);
    int rc = ot_sim_request_parse(j, req, err);
    json_decref(j);
    return rc;
}

/* Parse body, run it on its inline model or the default one. */
static int run(const char *body, const ot_sim_options *opt, ot_sim_result **res, ot_error *err)
{
    ot_sim_request req;
    int rc = request(body, &req, err);
    cr_assert_eq(rc, 0, "%s: %s %s", body, err->path, err->message);
    ot_sim_model *def = NULL;
    if (!req.model)
        cr_assert_eq(ot_sim_model_default(&def, err), 0);
    rc = ot_sim_coupler_run(req.model ? req.model : def, &req, NULL, opt, res, err);
    ot_sim_model_free(def);
    ot_sim_request_free(&req);
    return rc;
}

static ot_sim_result *run_ok(const char *body, const ot_sim_options *opt)
{
    ot_sim_result *r = NULL;
    ot_error e;
    cr_assert_eq(run(body, opt, &r, &e), 0, "%s: %s %s", body, e.path, e.message);
    return r;
}

Test(sim_engine, default_model_statistics)
{
    ot_sim_result *r = run_ok("{\"twin_id\":\"t1\",\"parameters\":{\"base_yield\":0.85},"
                              "\"n_samples\":200000,\"seed\":1}", NULL);
    /* yield ~ 0.85 + N(0, sqrt(0.02^2 + (0.02*0.2/sqrt(12))^2 + 0.05^2)), barely clipped */
    const ot_sim_stats *y = &r->kpis[0];
    double sd = sqrt(0.0004 + pow(0.004 / sqrt(12), 2) + 0.0025);
    cr_assert_str_eq(r->kpi_names[0], "yield");
    cr_assert_lt(fabs(y->mean - 0.85), 0.001, "mean %g", y->mean);
    cr_assert_lt(fabs(y->std - sd), 0.001, "std %g vs %g", y->std, sd);
    cr_assert_lt(fabs(y->q[2] - 0.85), 0.001, "p50 %g", y->q[2]);
    cr_assert_lt(fabs(y->q[0] - (0.85 - 1.6449 * sd)), 0.002, "p5 %g", y->q[0]);
    cr_assert_lt(fabs(y->q[4] - (0.85 + 1.6449 * sd)), 0.002, "p95 %g", y->q[4]);
    cr_assert(y->q[0] < y->q[1] && y->q[1] < y->q[2] && y->q[2] < y->q[3] && y->q[3] < y->q[4] &&
              y->q[4] < y->q[5]);
    cr_assert(r->converged);
    cr_assert_str_eq(r->recommended.action, "maintain_current");
    cr_assert_gt(r->recommended.confidence, 0.99);
    cr_assert_eq(r->seed, 1);
    ot_sim_result_free(r);
}

Test(sim_engine, known_model_quantiles)
{
    /* k = 10 + 2 z exactly: p5 = 10 - 2*1.6449 */
    ot_sim_result *r = run_ok("{\"twin_id\":\"t\",\"n_samples\":400000,\"seed\":9,\"model\":{"
                              "\"parameters\":{\"z\":{\"dist\":\"normal\",\"mean\":0,\"std\":1}},"
                              "\"kpis\":{\"k\":\"10 + 2*z\",\"u\":\"uniform(0, 4)\"}}}", NULL);
    const double zq[6] = {-1.644854, -0.674490, 0, 0.674490, 1.644854, 2.326348};
    for (int q = 0; q < 6; q++) {
        cr_assert_lt(fabs(r->kpis[0].q[q] - (10 + 2 * zq[q])), 0.02, "q%d", q);
        double uq = 4 * ot_sim_stats_probs[q];
        cr_assert_lt(fabs(r->kpis[1].q[q] - uq), 0.02, "u q%d %g", q, r->kpis[1].q[q]);
    }
    cr_assert_lt(fabs(r->kpis[1].std - 4 / sqrt(12)), 0.005);
    ot_sim_result_free(r);
}

/* Same seed, 1, 2 and 4 threads: every sample and statistic bit-identical. */
Test(sim_engine, seed_reproducible_across_thread_counts)
{
    const char *body = "{\"twin_id\":\"t\",\"n_samples\":100003,\"seed\":77,"
                       "\"scenarios\":[{\"name\":\"hot\",\"set\":{\"temperature\":28}}]}";
    ot_sim_result *r[3];
    unsigned threads[3] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        ot_sim_options opt = {.threads = threads[i], .keep_samples = 1};
        r[i] = run_ok(body, &opt);
    }
    cr_assert_eq(r[0]->threads, 1);
    cr_assert_eq(r[2]->threads, 4);
    for (int i = 1; i < 3; i++) {
        for (size_t k = 0; k < 2 * r[0]->nkpis; k++)
            cr_assert_arr_eq(r[0]->samples[k], r[i]->samples[k], 100003 * sizeof(double),
                             "samples differ with %u threads", threads[i]);
        cr_assert_arr_eq(r[0]->kpis, r[i]->kpis, r[0]->nkpis * sizeof(ot_sim_stats));
        cr_assert_arr_eq(r[0]->scenarios[0].kpis, r[i]->scenarios[0].kpis,
                         r[0]->nkpis * sizeof(ot_sim_stats));
        cr_assert_eq(r[0]->scenarios[0].p_improvement, r[i]->scenarios[0].p_improvement);
    }
    ot_sim_result *other = run_ok("{\"twin_id\":\"t\",\"n_samples\":100003,\"seed\":78}", NULL);
    cr_assert_neq(other->kpis[0].mean, r[0]->kpis[0].mean, "another seed, other numbers");
    ot_sim_result_free(other);
    for (int i = 0; i < 3; i++)
        ot_sim_result_free(r[i]);
}

Test(sim_engine, no_seed_reports_the_random_one)
{
    ot_sim_result *a = run_ok("{\"twin_id\":\"t\"}", NULL);
    char body[128];
    snprintf(body, sizeof body, "{\"twin_id\":\"t\",\"seed\":%llu}", (unsigned long long)a->seed);
    ot_sim_result *b = run_ok(body, NULL);
    cr_assert_eq(a->kpis[0].mean, b->kpis[0].mean, "the reported seed replays the run");
    cr_assert_eq(a->n_samples, 1000);
    ot_sim_result_free(a);
    ot_sim_result_free(b);
}

/* With common random numbers a scenario that raises yield in every sample
 * has p_improvement 1; with independent draws it would be ~0.6 here. */
Test(sim_engine, crn_scenarios)
{
    const char *model = "\"model\":{\"parameters\":{\"base\":0.8,"
                        "\"t\":{\"dist\":\"normal\",\"mean\":25,\"std\":2}},"
                        "\"kpis\":{\"yield\":\"base - 0.01*(t-25) + normal(0, 0.05)\","
                        "\"cost\":\"t * 2\"}}";
    char body[1024];
    snprintf(body, sizeof body,
             "{\"twin_id\":\"t\",\"n_samples\":20000,\"seed\":5,%s,\"scenarios\":["
             "{\"name\":\"better\",\"set\":{\"base\":0.81}},"
             "{\"name\":\"worse\",\"set\":{\"base\":0.79}},"
             "{\"name\":\"cool\",\"set\":{\"t\":22}}]}", model);
    ot_sim_options opt = {.keep_samples = 1};
    ot_sim_result *r = run_ok(body, &opt);
    cr_assert_eq(r->nscenarios, 3);
    cr_assert_eq(r->scenarios[0].p_improvement, 1.0);
    cr_assert_eq(r->scenarios[1].p_improvement, 0.0);
    cr_assert_float_eq(r->scenarios[0].mean_improvement, 0.01, 1e-9);
    /* cool: improves yield exactly when t > 22 (P = Phi(1.5) = 0.9332) */
    cr_assert_lt(fabs(r->scenarios[2].p_improvement - 0.9332), 0.01);
    /* cost does not use base: identical to the baseline for 'better' */
    cr_assert_arr_eq(r->samples[1 * 2 + 1], r->samples[1], 20000 * sizeof(double));
    cr_assert_eq(r->scenarios[2].kpis[1].std, 0, "cost is constant when t is fixed");
    cr_assert_str_eq(r->recommended.action, "apply_scenario");
    cr_assert_str_eq(r->recommended.scenario, "better");
    ot_sim_result_free(r);
}

Test(sim_engine, objective_target_confidence)
{
    const char *model = "\"model\":{\"parameters\":{\"base\":0.8},"
                        "\"kpis\":{\"yield\":\"base + normal(0, 0.1)\"},"
                        "\"objective\":{\"kpi\":\"yield\",\"goal\":\"maximize\",\"target\":0.8}}";
    char body[1024];
    snprintf(body, sizeof body, "{\"twin_id\":\"t\",\"n_samples\":100000,\"seed\":3,%s,"
                                "\"parameters\":{\"base\":0.9}}", model);
    ot_sim_result *r = run_ok(body, NULL);
    /* P(N(0.9, 0.1) >= 0.8) = Phi(1) = 0.8413 */
    cr_assert_lt(fabs(r->recommended.confidence - 0.8413), 0.005);
    cr_assert_str_eq(r->recommended.action, "maintain_current");
    cr_assert_eq(r->recommended.confidence, r->p_target);
    ot_sim_result_free(r);

    snprintf(body, sizeof body, "{\"twin_id\":\"t\",\"n_samples\":100000,\"seed\":3,%s,"
                                "\"parameters\":{\"base\":0.7},\"scenarios\":[{\"name\":\"up\","
                                "\"set\":{\"base\":0.85}}]}", model);
    r = run_ok(body, NULL);
    cr_assert_str_eq(r->recommended.action, "apply_scenario");
    cr_assert_lt(fabs(r->recommended.confidence - 0.6915), 0.005, "Phi(0.5)");
    cr_assert_lt(fabs(r->p_target - 0.1587), 0.005, "baseline Phi(-1)");
    ot_sim_result_free(r);
}

Test(sim_engine, threshold_rule_actions)
{
    ot_sim_result *r = run_ok("{\"twin_id\":\"t\",\"seed\":1,\"parameters\":{\"base_yield\":0.6}}",
                              NULL);
    cr_assert_str_eq(r->recommended.action, "adjust_parameters");
    cr_assert_gt(r->recommended.confidence, 0.99);
    ot_sim_result_free(r);
    r = run_ok("{\"twin_id\":\"t\",\"seed\":1,\"parameters\":{\"base_yield\":0.75}}", NULL);
    cr_assert_str_eq(r->recommended.action, "gather_more_data");
    ot_sim_result_free(r);
    r = run_ok("{\"twin_id\":\"t\",\"seed\":1,\"parameters\":{\"base_yield\":0.85,"
               "\"temperature\":{\"dist\":\"normal\",\"mean\":25,\"std\":20}}}", NULL);
    cr_assert_str_eq(r->recommended.action, "gather_more_data", "std >= 0.1");
    ot_sim_result_free(r);
}

Test(sim_engine, convergence_rule)
{
    ot_sim_result *r = run_ok("{\"twin_id\":\"t\",\"seed\":1,\"n_samples\":1000,\"model\":{"
                              "\"kpis\":{\"zero\":\"0 * normal(0, 1)\",\"noise\":\"normal(0, 1)\","
                              "\"big\":\"100 + normal(0, 1)\"}}}", NULL);
    cr_assert(r->kpi_converged[0], "constant 0: converged");
    cr_assert_not(r->kpi_converged[1], "mean ~0, n <= 10000: not converged");
    cr_assert(r->kpi_converged[2]);
    cr_assert_not(r->converged);
    cr_assert(strstr(r->recommended.reasoning, "Not converged"));
    ot_sim_result_free(r);
}

Test(sim_engine, invalid_samples_are_counted)
{
    ot_sim_result *r = run_ok("{\"twin_id\":\"t\",\"seed\":1,\"model\":{\"kpis\":"
                              "{\"k\":\"log(normal(1, 1))\"}}}", NULL);
    cr_assert_gt(r->kpis[0].n_invalid, 100); /* P(N(1,1) <= 0) = 0.16 */
    cr_assert_eq(r->kpis[0].n_invalid + r->kpis[0].n_valid, 1000);
    cr_assert(isfinite(r->kpis[0].mean));
    json_t *j = ot_sim_result_to_json(r);
    cr_assert(json_is_integer(json_object_get(
        json_object_get(json_object_get(j, "kpi_distribution"), "k"), "invalid_samples")));
    json_decref(j);
    ot_sim_result_free(r);
}

static void expect_request_error(const char *body, const char *path, const char *msg)
{
    ot_sim_request req;
    ot_error e;
    cr_assert_eq(request(body, &req, &e), OT_EINVAL, "%s", body);
    cr_assert_str_eq(e.path, path, "%s", body);
    cr_assert(strstr(e.message, msg), "got '%s', want '%s'", e.message, msg);
}

Test(sim_engine, request_validation)
{
    expect_request_error("{\"n_samples\":1000}", "$.twin_id", "required");
    expect_request_error("{\"twin_id\":\"t\",\"n_samples\":99}", "$.n_samples", "between 100");
    expect_request_error("{\"twin_id\":\"t\",\"n_samples\":10000001}", "$.n_samples",
                         "10000000");
    expect_request_error("{\"twin_id\":\"t\",\"n_samples\":1000.5}", "$.n_samples", "integer");
    expect_request_error("{\"twin_id\":\"t\",\"n_samples\":\"1000\"}", "$.n_samples", "integer");
    expect_request_error("{\"twin_id\":\"t\",\"seed\":-1}", "$.seed", "integer");
    expect_request_error("{\"twin_id\":\"t\",\"engine\":\"gpu\"}", "$.engine", "classical");
    expect_request_error("{\"twin_id\":\"t\",\"n_sample\":1000}", "$.n_sample", "unknown field");
    expect_request_error("{\"twin_id\":\"t\",\"parameters\":{\"x\":\"hot\"}}", "$.parameters.x",
                         "number or an object");
    expect_request_error("{\"twin_id\":\"t\",\"scenarios\":[{\"name\":\"a\",\"set\":{\"x\":1}},"
                         "{\"name\":\"a\",\"set\":{\"x\":2}}]}", "$.scenarios[1].name",
                         "used by another");
    expect_request_error("{\"twin_id\":\"t\",\"scenarios\":[{\"name\":\"a\",\"set\":{\"x\":\"y\"}}]}",
                         "$.scenarios[0].set.x", "must be a number");
    expect_request_error("{\"twin_id\":\"t\",\"model\":{\"kpis\":{\"y\":\"clipp(1)\"}}}",
                         "$.model.kpis.y", "unknown function 'clipp' at position 1");
    ot_sim_request req;
    ot_error e;
    cr_assert_eq(request("{\"twin_id\":\"t\",\"n_samples\":1e6,\"seed\":12,\"engine\":\"hybrid\","
                         "\"scenario\":\"what_if\"}", &req, &e), 0, "%s", e.message);
    cr_assert_eq(req.n_samples, 1000000);
    cr_assert(req.has_seed && req.seed == 12);
    cr_assert_eq(req.engine, OT_SIM_ENGINE_HYBRID);
    cr_assert_str_eq(req.scenario, "what_if");
    ot_sim_request_free(&req);
}

Test(sim_engine, run_time_validation)
{
    ot_sim_result *r = NULL;
    ot_error e;
    cr_assert_eq(run("{\"twin_id\":\"t\",\"parameters\":{\"nope\":1}}", NULL, &r, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.parameters.nope");
    cr_assert_eq(run("{\"twin_id\":\"t\",\"scenarios\":[{\"name\":\"s\",\"set\":{\"yield\":1}}]}",
                     NULL, &r, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.scenarios[0].set.yield");
    /* 10M x 2 KPIs x 5 variants = 100M samples > budget */
    cr_assert_eq(run("{\"twin_id\":\"t\",\"n_samples\":10000000,\"scenarios\":["
                     "{\"name\":\"a\",\"set\":{\"pressure\":1}},{\"name\":\"b\",\"set\":{\"pressure\":1}},"
                     "{\"name\":\"c\",\"set\":{\"pressure\":1}},{\"name\":\"d\",\"set\":{\"pressure\":1}}]}",
                     NULL, &r, &e), OT_ETOOLARGE);
    cr_assert_str_eq(e.path, "$.n_samples");
    cr_assert_null(r);
    /* bounds hold for programmatic requests too */
    ot_sim_request req;
    ot_sim_request_init(&req);
    req.n_samples = 99;
    ot_sim_model *m;
    cr_assert_eq(ot_sim_model_default(&m, &e), 0);
    cr_assert_eq(ot_sim_run(m, &req, NULL, &r, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "$.n_samples");
    req.n_samples = 100;
    cr_assert_eq(ot_sim_run(m, &req, NULL, &r, &e), 0);
    ot_sim_result_free(r);
    ot_sim_model_free(m);
}

static void *cancel_soon(void *arg)
{
    usleep(20000);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

Test(sim_engine, cancellation_and_time_limit)
{
    ot_sim_result *r = NULL;
    ot_error e;
    atomic_int cancel = 1;
    ot_sim_options opt = {.cancel = &cancel};
    cr_assert_eq(run("{\"twin_id\":\"t\",\"n_samples\":100000}", &opt, &r, &e), OT_ECANCELED);
    cr_assert_null(r);

    atomic_store(&cancel, 0);
    pthread_t th;
    pthread_create(&th, NULL, cancel_soon, &cancel);
    cr_assert_eq(run("{\"twin_id\":\"t\",\"n_samples\":10000000}", &opt, &r, &e), OT_ECANCELED);
    pthread_join(th, NULL);
    cr_assert(strstr(e.message, "cancelled"));

    ot_sim_options lim = {.time_limit_ms = 5};
    cr_assert_eq(run("{\"twin_id\":\"t\",\"n_samples\":10000000}", &lim, &r, &e), OT_ETIMEOUT);
    cr_assert(strstr(e.message, "time limit of 5 ms"), "%s", e.message);
    cr_assert_null(r);
}

Test(sim_engine, result_json_shape)
{
    ot_sim_result *r = run_ok("{\"twin_id\":\"t1\",\"seed\":4,\"engine\":\"quantum\","
                              "\"scenario\":\"baseline\",\"scenarios\":[{\"name\":\"cooler\","
                              "\"set\":{\"temperature\":22}}]}", NULL);
    json_t *j = ot_sim_result_to_json(r);
    cr_assert_not_null(j);
    cr_assert(ot_id_valid(json_string_value(json_object_get(j, "sim_id")), "sim"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "twin_id")), "t1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "engine")), "classical");
    cr_assert_str_eq(json_string_value(json_object_get(j, "requested_engine")), "quantum");
    cr_assert_str_eq(json_string_value(json_object_get(j, "engine_note")),
                     "no quantum backend configured; ran the classical Monte Carlo engine");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "completed");
    json_t *y = json_object_get(json_object_get(j, "kpi_distribution"), "yield");
    const char *keys[] = {"mean", "std", "p5", "p25", "p50", "p75", "p95", "p99"};
    for (int i = 0; i < 8; i++)
        cr_assert(json_is_number(json_object_get(y, keys[i])), "%s", keys[i]);
    cr_assert(json_is_number(json_object_get(json_object_get(j, "uncertainty"), "quality")));
    cr_assert(json_is_boolean(json_object_get(j, "converged")));
    json_t *rec = json_object_get(j, "recommended");
    cr_assert(json_is_string(json_object_get(rec, "action")));
    cr_assert(json_is_number(json_object_get(rec, "confidence")));
    cr_assert(json_is_string(json_object_get(rec, "reasoning")));
    cr_assert(json_is_number(json_object_get(j, "execution_time_ms")));
    int64_t us;
    cr_assert_eq(ot_ts_parse(json_string_value(json_object_get(j, "timestamp")), &us), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "seed")), 4);
    cr_assert_eq(json_integer_value(json_object_get(j, "n_samples")), 1000);
    json_t *sc = json_array_get(json_object_get(j, "scenarios"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(sc, "name")), "cooler");
    cr_assert_eq(json_number_value(json_object_get(json_object_get(sc, "set"), "temperature")), 22);
    cr_assert(json_is_number(json_object_get(sc, "p_improvement")));
    cr_assert(json_is_object(json_object_get(json_object_get(sc, "kpi_distribution"), "yield")));
    json_decref(j);
    ot_sim_result_free(r);
}

Test(sim_engine, coupler_selection)
{
    ot_sim_model *m;
    ot_error e;
    cr_assert_eq(ot_sim_model_default(&m, &e), 0);
    ot_sim_request req;
    ot_sim_request_init(&req);
    ot_sim_engine_choice ch;
    ot_sim_coupler_select(m, &req, NULL, &ch);
    cr_assert(ch.chosen == OT_SIM_ENGINE_CLASSICAL && ch.note[0] == '\0');
    req.engine = OT_SIM_ENGINE_HYBRID;
    ot_sim_coupler_select(m, &req, NULL, &ch);
    cr_assert_eq(ch.chosen, OT_SIM_ENGINE_CLASSICAL);
    cr_assert(strstr(ch.note, "classical chosen"), "%s", ch.note);
    req.n_samples = 2000000;
    ot_sim_coupler_select(m, &req, NULL, &ch);
    cr_assert(strstr(ch.note, "would suit the quantum engine"), "%s", ch.note);
    ot_sim_backends q = {.quantum_available = 1, .quantum_name = "test"};
    ot_sim_coupler_select(m, &req, &q, &ch);
    cr_assert_eq(ch.chosen, OT_SIM_ENGINE_QUANTUM);
    req.n_samples = 1000;
    ot_sim_coupler_select(m, &req, &q, &ch);
    cr_assert_eq(ch.chosen, OT_SIM_ENGINE_CLASSICAL, "small problem stays classical");
    json_t *eng = ot_sim_coupler_engines_json(NULL);
    cr_assert_eq(json_array_size(eng), 3);
    cr_assert(json_is_false(json_object_get(json_array_get(eng, 1), "available")));
    json_decref(eng);
    ot_sim_model_free(m);
}
