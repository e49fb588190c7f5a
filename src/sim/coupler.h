/* coupler.h - the hybrid coupler: which engine runs a simulation, and an
 * honest account of it in the result.
 *
 * Engines: "classical" (the Monte Carlo engine, always available),
 * "quantum" (amplitude estimation on a quantum backend; none is built into
 * this release, so ot_sim_backends.quantum_available is 0 unless a future
 * backend sets it), "hybrid" (the coupler decides).
 *
 * Hybrid rule: quantum amplitude estimation needs O(1/eps) oracle calls
 * where Monte Carlo needs O(1/eps^2) samples, which only pays off for
 * large runs over many uncertain inputs. Hybrid picks quantum when a
 * backend is available AND (n_samples >= OT_SIM_HYBRID_MIN_SAMPLES or the
 * model has >= OT_SIM_HYBRID_MIN_RANDOM random parameters); else classical.
 *
 * Whatever was asked, what ran is what the result says: engine = the engine
 * that ran, requested_engine = what was asked, engine_note = why they
 * differ, e.g. "no quantum backend configured; ran the classical Monte
 * Carlo engine".
 *
 * Thread-safety: reentrant; backends are read-only.
 */
#ifndef OT_SIM_COUPLER_H
#define OT_SIM_COUPLER_H

#include <jansson.h>

#include "sim/montecarlo.h"

#define OT_SIM_HYBRID_MIN_SAMPLES 1000000
#define OT_SIM_HYBRID_MIN_RANDOM 8

typedef struct ot_sim_backends {
    int quantum_available; /* 0 in this build */
    const char *quantum_name;
} ot_sim_backends;

typedef struct ot_sim_engine_choice {
    ot_sim_engine requested, chosen;
    char note[256]; /* "" when chosen == requested */
} ot_sim_engine_choice;

/* Decide which engine runs req on m. backends may be NULL (none). */
void ot_sim_coupler_select(const ot_sim_model *m, const ot_sim_request *req,
                           const ot_sim_backends *backends, ot_sim_engine_choice *out);

/* Select, run (the classical engine is the only one that can run today),
 * and record the choice in the result. Same errors as ot_sim_run. */
int ot_sim_coupler_run(const ot_sim_model *m, const ot_sim_request *req,
                       const ot_sim_backends *backends, const ot_sim_options *opt,
                       ot_sim_result **out, ot_error *err);

/* For the AIW manifest: [{"name", "available", "note"?}] (new reference). */
json_t *ot_sim_coupler_engines_json(const ot_sim_backends *backends);

#endif
