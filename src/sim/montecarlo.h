/* montecarlo.h - the classical Monte Carlo what-if engine and /sim/run I/O.
 *
 * Flow for the HTTP layer (POST /sim/run):
 *   ot_sim_request req;
 *   ot_sim_request_parse(body, &req, &err)            -> 400 on error
 *   model = req.model ? req.model : twin's model ? : ot_sim_model_default()
 *   ot_sim_coupler_run(model, &req, &backends, &opt, &res, &err)   (coupler.h)
 *   json = ot_sim_result_to_json(res)                 -> 200
 *   ot_sim_result_free(res); ot_sim_request_free(&req);
 * Error codes: OT_EINVAL (400, err.path names the field), OT_ECONFLICT (a
 * telemetry/setpoint binding has no value), OT_ETOOLARGE (n_samples x KPIs
 * x variants over the memory budget), OT_ETIMEOUT, OT_ECANCELED, OT_ENOMEM.
 *
 * Sampling: samples are cut into blocks of OT_EXPR_LANES; block b's draws
 * for random site s come from the stream (seed, b, s), so the result for a
 * seed is bit-identical for any thread count, and statistics are computed
 * afterwards over the stored samples in a fixed order. Without a seed a
 * random one is drawn and reported.
 *
 * What-if scenarios ("scenarios": [{"name", "set": {param: number}}]) fix
 * parameters to constants and replay the SAME streams as the baseline
 * (common random numbers), so differences are due to the change alone.
 * p_improvement = fraction of samples where the scenario's objective KPI is
 * strictly better than the baseline's in the same sample.
 *
 * Recommendation (recommended{action, confidence, reasoning}); the primary
 * KPI is the objective's, else the first declared KPI, maximised:
 *  - objective with a target: P = P(kpi >= target) (<= for minimize).
 *    A scenario with p_improvement > 0.5 and a higher P than the baseline
 *    -> "apply_scenario" (recommended.scenario names it), confidence = its P;
 *    else baseline P >= 0.5 -> "maintain_current", confidence = P;
 *    else "adjust_parameters", confidence = 1 - P (how sure we are that the
 *    current setting misses). recommended.p_target always carries P of the
 *    recommended setting.
 *  - otherwise: a scenario with p_improvement > 0.5 -> "apply_scenario",
 *    confidence = its p_improvement; else the prototype's threshold rule on
 *    the primary KPI's mean m and std s (it assumes a 0..1 performance KPI,
 *    like the default model's yield -- declare an objective otherwise):
 *      s >= 0.1            -> "gather_more_data", confidence 0.5
 *      m >= 0.8            -> "maintain_current", confidence = P(kpi >= 0.7)
 *      m < 0.7             -> "adjust_parameters", confidence = P(kpi < 0.8)
 *      0.7 <= m < 0.8      -> "gather_more_data", confidence 0.5
 *  - not converged: the reasoning says so and asks for more samples.
 *
 * converged: for every baseline KPI, the relative standard error
 * std / sqrt(n) / |mean| < 1%. When mean == 0 the relative error is
 * undefined: the KPI counts as converged if std == 0 or the standard error
 * is below 1% of std (n > 10,000). A KPI with no finite sample never
 * converges.
 *
 * Ownership: the request owns its strings, overrides and inline model
 * (ot_sim_request_free); a result is the caller's (ot_sim_result_free);
 * the model is borrowed for the duration of the run.
 * Thread-safety: ot_sim_run may be called concurrently on the same model;
 * it starts up to opt->threads worker threads of its own and joins them
 * before returning.
 */
#ifndef OT_SIM_MONTECARLO_H
#define OT_SIM_MONTECARLO_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/error.h"
#include "core/ids.h"
#include "sim/model.h"
#include "sim/stats.h"

#define OT_SIM_MIN_SAMPLES 100
#define OT_SIM_MAX_SAMPLES 10000000
#define OT_SIM_DEFAULT_SAMPLES 1000
#define OT_SIM_MAX_SCENARIOS 16
#define OT_SIM_MAX_VALUES (1ULL << 26) /* samples kept in memory: 512 MiB */
#define OT_SIM_TEXT_MAX 128

typedef enum ot_sim_engine {
    OT_SIM_ENGINE_CLASSICAL,
    OT_SIM_ENGINE_QUANTUM,
    OT_SIM_ENGINE_HYBRID
} ot_sim_engine;

/* "classical", "quantum", "hybrid". */
const char *ot_sim_engine_name(ot_sim_engine e);

typedef struct ot_sim_scenario {
    char name[OT_SIM_NAME_MAX];
    size_t nset;
    ot_sim_override *set; /* constants */
} ot_sim_scenario;

typedef struct ot_sim_request {
    char twin_id[OT_SIM_TEXT_MAX];
    char scenario[OT_SIM_TEXT_MAX];  /* free-text label, echoed back */
    size_t noverrides;
    ot_sim_override *overrides;      /* "parameters" */
    uint64_t n_samples;
    int has_seed;
    uint64_t seed;
    ot_sim_engine engine;
    ot_sim_model *model;             /* inline "model", or NULL */
    size_t nscenarios;
    ot_sim_scenario *scenarios;
} ot_sim_request;

/* Defaults: no twin, 1000 samples, classical, no seed, nothing else. */
void ot_sim_request_init(ot_sim_request *req);

/* Parse a /sim/run body {twin_id, scenario?, parameters?, n_samples?,
 * engine?, seed?, model?, scenarios?}. Unknown fields and bad values are
 * OT_EINVAL with err->path naming the field. On error req is left freed.
 * parameters: name -> number (a constant) or a dist spec (dist.h). */
int ot_sim_request_parse(const json_t *body, ot_sim_request *req, ot_error *err);
void ot_sim_request_free(ot_sim_request *req);

typedef struct ot_sim_options {
    unsigned threads;        /* 0: one per online CPU */
    atomic_int *cancel;      /* optional; set nonzero to stop the run */
    int64_t time_limit_ms;   /* 0: none */
    const ot_sim_lookup *lookup; /* for telemetry / setpoint parameters */
    int keep_samples;        /* keep raw KPI samples in the result */
} ot_sim_options;

typedef struct ot_sim_scenario_result {
    char name[OT_SIM_NAME_MAX];
    size_t nset;
    ot_sim_override *set;    /* copy of the request's */
    ot_sim_stats *kpis;      /* nkpis, same order as the result's */
    double p_improvement;    /* on the primary KPI */
    double mean_improvement; /* mean(scenario - baseline), sign-adjusted: > 0 is better */
    double p_target;         /* NaN without a target */
} ot_sim_scenario_result;

typedef struct ot_sim_recommendation {
    char action[32];             /* maintain_current, adjust_parameters, gather_more_data, apply_scenario */
    char scenario[OT_SIM_NAME_MAX]; /* for apply_scenario */
    double confidence;           /* 0..1 */
    double p_target;             /* NaN without a target */
    char reasoning[512];
} ot_sim_recommendation;

typedef struct ot_sim_result {
    char sim_id[OT_ID_BUFSZ];
    char twin_id[OT_SIM_TEXT_MAX];
    char scenario[OT_SIM_TEXT_MAX];
    ot_sim_engine engine;            /* what ran */
    ot_sim_engine requested_engine;
    char engine_note[256];           /* why they differ, or "" */
    size_t nkpis;
    char (*kpi_names)[OT_SIM_NAME_MAX];
    ot_sim_stats *kpis;              /* baseline, declaration order */
    int *kpi_converged;
    int converged;
    size_t primary_kpi;
    ot_sim_goal goal;
    int has_target;
    double target;
    double p_target;                 /* baseline; NaN without a target */
    double p_rule[2];                /* P(primary >= 0.7), P(primary < 0.8): threshold rule */
    ot_sim_recommendation recommended;
    size_t nscenarios;
    ot_sim_scenario_result *scenarios;
    uint64_t seed, n_samples;
    unsigned threads;
    double execution_time_ms;
    int64_t timestamp_us;
    double **samples; /* keep_samples: [variant * nkpis + k], n_samples each; variant 0 = baseline */
} ot_sim_result;

/* Run the classical engine on model m (borrowed) for req. */
int ot_sim_run(const ot_sim_model *m, const ot_sim_request *req, const ot_sim_options *opt,
               ot_sim_result **out, ot_error *err);
void ot_sim_result_free(ot_sim_result *r);

/* Fill r->recommended from r's statistics (ot_sim_run calls it). */
void ot_sim_recommend(ot_sim_result *r);

/* The /sim/run response (new reference; NULL on out of memory):
 * {sim_id, twin_id, scenario, engine, requested_engine, engine_note?,
 *  status: "completed", kpi_distribution{kpi:{mean,std,p5,...,p99}},
 *  uncertainty{kpi:std}, converged, recommended{action, confidence,
 *  reasoning, scenario?, p_target?}, execution_time_ms, timestamp, seed,
 *  n_samples, objective?, scenarios?[{name, set, kpi_distribution,
 *  p_improvement, mean_improvement, p_target?}]}. A KPI with non-finite
 *  samples gets "invalid_samples": n; statistics with no value are null. */
json_t *ot_sim_result_to_json(const ot_sim_result *r);

#endif
