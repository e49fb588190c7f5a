/* model.h - a twin's simulation model (twin_model.v1), compiled.
 *
 *   {"parameters": {"temperature": {"dist": "normal", "mean": 25, "std": 2},
 *                   "load": {"dist": "telemetry", "asset_id": "press_2",
 *                            "metric": "load_pct", "std": 1.5}, ...},
 *    "kpis": {"yield": "clip(0.85 - 0.01*(temperature-25) + ..., 0, 1)"},
 *    "objective": {"kpi": "yield", "goal": "maximize", "target": 0.8},
 *    "description": "optional text"}
 *
 * Parameters are distributions (dist.h). KPIs are expressions (expr.h) over
 * parameters and other KPIs; KPIs may refer to KPIs declared later, and are
 * evaluated in dependency order (cycles are errors). Names are identifiers
 * ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters), unique across parameters
 * and KPIs, and not a keyword (and, or, not) or function name.
 *
 * Random sources: parameter i draws from site i; the draws inside KPI
 * expressions use the sites after the parameters, in declaration order.
 * Sites are what make common random numbers work (rng.h).
 *
 * Bindings (telemetry, setpoint) are resolved per run by ot_sim_model_bind
 * through a caller-supplied ot_sim_lookup, so this module does not depend
 * on the store.
 *
 * Ownership: ot_sim_model_parse/ot_sim_model_default return a model the
 * caller frees with ot_sim_model_free. Thread-safety: a model is immutable
 * after parsing and may be shared by any number of concurrent runs.
 */
#ifndef OT_SIM_MODEL_H
#define OT_SIM_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "sim/dist.h"
#include "sim/expr.h"

#define OT_SIM_NAME_MAX 65 /* 64 characters + NUL */
#define OT_SIM_MAX_PARAMS 256
#define OT_SIM_MAX_KPIS 64

typedef struct ot_sim_param {
    char name[OT_SIM_NAME_MAX];
    ot_dist dist;
} ot_sim_param;

typedef struct ot_sim_kpi {
    char name[OT_SIM_NAME_MAX];
    char *src;    /* the expression text as given */
    ot_expr *prog;
} ot_sim_kpi;

typedef enum ot_sim_goal { OT_SIM_MAXIMIZE, OT_SIM_MINIMIZE } ot_sim_goal;

typedef struct ot_sim_objective {
    int present;
    size_t kpi;   /* index into kpis */
    ot_sim_goal goal;
    int has_target;
    double target;
} ot_sim_objective;

typedef struct ot_sim_model {
    size_t nparams;
    ot_sim_param *params;
    size_t nkpis;
    ot_sim_kpi *kpis;    /* declaration order (the first KPI is the primary one) */
    size_t *order;       /* evaluation order: indices into kpis */
    ot_sim_objective objective;
    uint32_t nsites;     /* random sites used in total */
    char *description;   /* or NULL */
} ot_sim_model;

/* Parse and compile a twin_model.v1 document. `path` is the JSON path of
 * doc in the request ("$" for a PUT body, "$.model" inside /sim/run) and
 * prefixes every error path, e.g. "$.kpis.yield" with message
 * "yield: unknown function 'clipp' at position 1". */
int ot_sim_model_parse(const json_t *doc, const char *path, ot_sim_model **out, ot_error *err);

/* The built-in model used when a twin has none: the seed prototype's
 * yield/quality model (see OT_SIM_DEFAULT_MODEL_JSON in model.c). */
int ot_sim_model_default(ot_sim_model **out, ot_error *err);

/* The default model's JSON text (static string). */
const char *ot_sim_model_default_json(void);

void ot_sim_model_free(ot_sim_model *m);

/* The model as a twin_model.v1 document (new reference; NULL on OOM). */
json_t *ot_sim_model_to_json(const ot_sim_model *m);

/* Index of a parameter / KPI by name, or -1. */
int ot_sim_model_param_index(const ot_sim_model *m, const char *name);
int ot_sim_model_kpi_index(const ot_sim_model *m, const char *name);

/* --- Run-time binding ----------------------------------------------------- */

/* How the engine learns live values. Either function may be NULL (then
 * every such parameter falls back to its "default"). Called only from the
 * thread that calls ot_sim_model_bind, before any sampling starts. Return
 * 0 and *value; OT_ENOTFOUND when there is no value yet; any other OT_E*
 * code (e.g. OT_EUNAVAIL) is passed through to the caller. */
typedef struct ot_sim_lookup {
    int (*telemetry)(void *ctx, const char *twin_id, const char *asset_id, const char *metric,
                     double *value);
    int (*setpoint)(void *ctx, const char *twin_id, const char *key, double *value);
    void *ctx;
} ot_sim_lookup;

/* A request's replacement for one parameter ("parameters" in /sim/run). */
typedef struct ot_sim_override {
    char name[OT_SIM_NAME_MAX];
    ot_dist dist;
} ot_sim_override;

/* Produce the concrete distribution of every parameter for one run:
 * overrides replace the model's spec (an unknown name is OT_EINVAL at
 * "$.parameters.<name>"), then bindings are looked up. A binding with no
 * value and no "default" is OT_ECONFLICT naming the parameter and what to
 * do. out has m->nparams entries. */
int ot_sim_model_bind(const ot_sim_model *m, const ot_sim_override *ov, size_t nov,
                      const ot_sim_lookup *lookup, const char *twin_id, ot_dist *out,
                      ot_error *err);

#endif
