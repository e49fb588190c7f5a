/* coupler.c - see coupler.h. */
#include "sim/coupler.h"

#include <stdio.h>
#include <string.h>

static const char no_backend[] = "no quantum backend configured; ran the classical Monte Carlo "
                                 "engine";

static size_t random_params(const ot_sim_model *m, const ot_sim_request *req)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nparams; i++) {
        const ot_dist *d = &m->params[i].dist;
        for (size_t k = 0; k < req->noverrides; k++)
            if (!strcmp(req->overrides[k].name, m->params[i].name))
                d = &req->overrides[k].dist;
        n += !ot_dist_is_constant(d) && d->kind != OT_DIST_SETPOINT;
    }
    return n;
}

void ot_sim_coupler_select(const ot_sim_model *m, const ot_sim_request *req,
                           const ot_sim_backends *backends, ot_sim_engine_choice *out)
{
    int have_q = backends && backends->quantum_available;
    memset(out, 0, sizeof *out);
    out->requested = req->engine;
    out->chosen = OT_SIM_ENGINE_CLASSICAL;
    if (req->engine == OT_SIM_ENGINE_CLASSICAL)
        return;
    if (req->engine == OT_SIM_ENGINE_QUANTUM) {
        if (have_q)
            out->chosen = OT_SIM_ENGINE_QUANTUM;
        else
            snprintf(out->note, sizeof out->note, "%s", no_backend);
        return;
    }
    size_t nr = random_params(m, req);
    int helps = req->n_samples >= OT_SIM_HYBRID_MIN_SAMPLES || nr >= OT_SIM_HYBRID_MIN_RANDOM;
    if (helps && have_q) {
        out->chosen = OT_SIM_ENGINE_QUANTUM;
        snprintf(out->note, sizeof out->note,
                 "hybrid: quantum chosen (%llu samples, %zu random parameters)",
                 (unsigned long long)req->n_samples, nr);
    } else if (helps) {
        snprintf(out->note, sizeof out->note,
                 "hybrid: this problem would suit the quantum engine (%llu samples, %zu random "
                 "parameters) but %s", (unsigned long long)req->n_samples, nr, no_backend);
    } else {
        snprintf(out->note, sizeof out->note,
                 "hybrid: classical chosen; quantum pays off only from %d samples or %d random "
                 "parameters (this run: %llu, %zu)", OT_SIM_HYBRID_MIN_SAMPLES,
                 OT_SIM_HYBRID_MIN_RANDOM, (unsigned long long)req->n_samples, nr);
    }
}

int ot_sim_coupler_run(const ot_sim_model *m, const ot_sim_request *req,
                       const ot_sim_backends *backends, const ot_sim_options *opt,
                       ot_sim_result **out, ot_error *err)
{
    ot_sim_engine_choice ch;
    ot_sim_coupler_select(m, req, backends, &ch);
    if (ch.chosen == OT_SIM_ENGINE_QUANTUM) {
        /* A backend that claims availability but has no runner in this
         * build: fall back rather than fail the request. */
        ch.chosen = OT_SIM_ENGINE_CLASSICAL;
        snprintf(ch.note, sizeof ch.note,
                 "quantum backend '%s' has no runner in this build; ran the classical Monte "
                 "Carlo engine", backends && backends->quantum_name ? backends->quantum_name : "?");
    }
    int rc = ot_sim_run(m, req, opt, out, err);
    if (rc)
        return rc;
    (*out)->engine = ch.chosen;
    (*out)->requested_engine = ch.requested;
    snprintf((*out)->engine_note, sizeof (*out)->engine_note, "%s", ch.note);
    return 0;
}

json_t *ot_sim_coupler_engines_json(const ot_sim_backends *backends)
{
    int have_q = backends && backends->quantum_available;
    return json_pack("[{s:s, s:b}, {s:s, s:b, s:s}, {s:s, s:b, s:s}]", "name", "classical",
                     "available", 1, "name", "quantum", "available", have_q, "note",
                     have_q ? "quantum backend configured"
                            : "no quantum backend configured; requests run classically",
                     "name", "hybrid", "available", 1, "note",
                     "picks quantum for large problems when a backend is configured");
}
