/* sim_result.c - what a run's numbers mean: the recommendation, the
 * /sim/run response JSON, and freeing results. Rules: montecarlo.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "sim/montecarlo.h"

void ot_sim_result_free(ot_sim_result *r)
{
    if (!r)
        return;
    if (r->samples)
        for (size_t i = 0; i < (1 + r->nscenarios) * r->nkpis; i++)
            free(r->samples[i]);
    free(r->samples);
    if (r->scenarios)
        for (size_t s = 0; s < r->nscenarios; s++) {
            free(r->scenarios[s].kpis);
            free(r->scenarios[s].set);
        }
    free(r->scenarios);
    free(r->kpi_names);
    free(r->kpis);
    free(r->kpi_converged);
    free(r);
}

/* --- Recommendation ----------------------------------------------------- */

static void set_action(ot_sim_recommendation *rec, const char *action, double conf)
{
    snprintf(rec->action, sizeof rec->action, "%s", action);
    rec->confidence = conf < 0 ? 0 : (conf > 1 ? 1 : conf);
}

/* Append to the reasoning, never overflowing it. */
static void say(ot_sim_recommendation *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(ot_sim_recommendation *rec, const char *fmt, ...)
{
    size_t n = strlen(rec->reasoning);
    if (n + 1 >= sizeof rec->reasoning)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec->reasoning + n, sizeof rec->reasoning - n, fmt, ap);
    va_end(ap);
}

static void recommend_target(ot_sim_result *r, ot_sim_recommendation *rec, const char *kn)
{
    const char *cmp = r->goal == OT_SIM_MAXIMIZE ? ">=" : "<=";
    int best = -1;
    double bp = r->p_target;
    for (size_t s = 0; s < r->nscenarios; s++) {
        const ot_sim_scenario_result *sc = &r->scenarios[s];
        if (sc->p_improvement > 0.5 && sc->p_target > bp) {
            best = (int)s;
            bp = sc->p_target;
        }
    }
    if (best >= 0) {
        const ot_sim_scenario_result *sc = &r->scenarios[best];
        set_action(rec, "apply_scenario", bp);
        snprintf(rec->scenario, sizeof rec->scenario, "%s", sc->name);
        rec->p_target = bp;
        say(rec, "scenario '%s' raises P(%s %s %g) from %.3f to %.3f and improves %s in %.1f%% "
                 "of samples.", sc->name, kn, cmp, r->target, r->p_target, bp, kn,
            100 * sc->p_improvement);
    } else if (r->p_target >= 0.5) {
        set_action(rec, "maintain_current", r->p_target);
        rec->p_target = r->p_target;
        say(rec, "P(%s %s %g) = %.3f with the current settings", kn, cmp, r->target, r->p_target);
        say(rec, r->nscenarios ? "; no scenario does better." : ".");
    } else {
        set_action(rec, "adjust_parameters", 1 - r->p_target);
        rec->p_target = r->p_target;
        say(rec, "P(%s %s %g) is only %.3f with the current settings", kn, cmp, r->target,
            r->p_target);
        say(rec, r->nscenarios ? " and no scenario reliably improves it; try other settings."
                               : "; try what-if scenarios to find better settings.");
    }
}

/* The seed prototype's rule, on a 0..1 performance KPI. */
static void recommend_threshold(ot_sim_result *r, ot_sim_recommendation *rec, const char *kn)
{
    const ot_sim_stats *st = &r->kpis[r->primary_kpi];
    double m = st->mean, s = st->std;
    int best = -1;
    double bi = 0.5;
    for (size_t i = 0; i < r->nscenarios; i++)
        if (r->scenarios[i].p_improvement > bi) {
            best = (int)i;
            bi = r->scenarios[i].p_improvement;
        }
    if (best >= 0) {
        set_action(rec, "apply_scenario", bi);
        snprintf(rec->scenario, sizeof rec->scenario, "%s", r->scenarios[best].name);
        say(rec, "scenario '%s' improves %s in %.1f%% of samples (mean %+.4g).",
            r->scenarios[best].name, kn, 100 * bi, r->scenarios[best].mean_improvement);
        return;
    }
    say(rec, "%s: mean %.4g, std %.4g; ", kn, m, s);
    if (s >= 0.1) {
        set_action(rec, "gather_more_data", 0.5);
        say(rec, "uncertainty is high (std >= 0.1): gather more data before acting.");
    } else if (m >= 0.8) {
        set_action(rec, "maintain_current", r->p_rule[0]);
        say(rec, "performance is good (mean >= 0.8, std < 0.1); P(%s >= 0.7) = %.3f.", kn,
            r->p_rule[0]);
    } else if (m < 0.7) {
        set_action(rec, "adjust_parameters", r->p_rule[1]);
        say(rec, "performance is poor (mean < 0.7); P(%s < 0.8) = %.3f.", kn, r->p_rule[1]);
    } else {
        set_action(rec, "gather_more_data", 0.5);
        say(rec, isnan(m) ? "no valid samples; check the model's expressions."
                          : "performance is marginal (0.7 <= mean < 0.8): gather more data or "
                            "try what-if scenarios.");
    }
}

void ot_sim_recommend(ot_sim_result *r)
{
    ot_sim_recommendation *rec = &r->recommended;
    memset(rec, 0, sizeof *rec);
    rec->p_target = NAN;
    const char *kn = r->kpi_names[r->primary_kpi];
    if (r->has_target)
        recommend_target(r, rec, kn);
    else
        recommend_threshold(r, rec, kn);
    uint64_t bad = r->kpis[r->primary_kpi].n_invalid;
    if (bad)
        say(rec, " %llu of %llu samples of %s were not finite (NaN or infinite) and were left "
                 "out; check the expression's domain.", (unsigned long long)bad,
            (unsigned long long)r->n_samples, kn);
    if (!r->converged)
        say(rec, " Not converged (relative standard error >= 1%%): run more samples.");
}

/* --- JSON --------------------------------------------------------------- */

/* A JSON number, or null for NaN/infinity (JSON has neither). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *dist_json(const ot_sim_stats *s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new(o, "mean", num(s->mean));
    bad |= json_object_set_new(o, "std", num(s->std));
    for (int q = 0; q < OT_SIM_NQUANTILES; q++)
        bad |= json_object_set_new(o, ot_sim_stats_names[q], num(s->q[q]));
    if (s->n_invalid)
        bad |= json_object_set_new(o, "invalid_samples", json_integer((json_int_t)s->n_invalid));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dists_json(const ot_sim_result *r, const ot_sim_stats *st)
{
    json_t *o = json_object();
    for (size_t k = 0; o && k < r->nkpis; k++)
        if (json_object_set_new(o, r->kpi_names[k], dist_json(&st[k]))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static json_t *scenario_json(const ot_sim_result *r, const ot_sim_scenario_result *sc)
{
    json_t *set = json_object();
    for (size_t j = 0; set && j < sc->nset; j++)
        if (json_object_set_new(set, sc->set[j].name, json_real(sc->set[j].dist.p[0]))) {
            json_decref(set);
            set = NULL;
        }
    json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", sc->name, "set", set,
                          "kpi_distribution", dists_json(r, sc->kpis), "p_improvement",
                          num(sc->p_improvement), "mean_improvement", num(sc->mean_improvement));
    if (o && r->has_target && json_object_set_new(o, "p_target", num(sc->p_target))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ot_sim_result_to_json(const ot_sim_result *r)
{
    char ts[OT_TS_BUFSZ];
    const ot_sim_recommendation *rc = &r->recommended;
    json_t *unc = json_object();
    for (size_t k = 0; unc && k < r->nkpis; k++)
        if (json_object_set_new(unc, r->kpi_names[k], num(r->kpis[k].std))) {
            json_decref(unc);
            unc = NULL;
        }
    json_t *rec = json_pack("{s:s, s:o, s:s}", "action", rc->action, "confidence",
                            num(rc->confidence), "reasoning", rc->reasoning);
    int bad = !rec;
    if (!bad && rc->scenario[0])
        bad = json_object_set_new(rec, "scenario", json_string(rc->scenario));
    if (!bad && r->has_target)
        bad = json_object_set_new(rec, "p_target", num(rc->p_target));
    if (bad) {
        json_decref(rec);
        rec = NULL; /* json_pack below then fails cleanly */
    }
    /* "o" steals its argument even when json_pack fails. */
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:s, s:I, s:I}", "sim_id", r->sim_id,
        "twin_id", r->twin_id, "engine", ot_sim_engine_name(r->engine), "requested_engine",
        ot_sim_engine_name(r->requested_engine), "kpi_distribution", dists_json(r, r->kpis),
        "uncertainty", unc, "converged", r->converged, "recommended", rec, "execution_time_ms",
        json_real(round(r->execution_time_ms * 1000) / 1000), "timestamp",
        ot_ts_format(r->timestamp_us, ts), "seed", (json_int_t)r->seed, "n_samples",
        (json_int_t)r->n_samples);
    if (!o)
        return NULL;
    bad = json_object_set_new(o, "status", json_string("completed"));
    if (r->scenario[0])
        bad |= json_object_set_new(o, "scenario", json_string(r->scenario));
    if (r->engine_note[0])
        bad |= json_object_set_new(o, "engine_note", json_string(r->engine_note));
    if (r->has_target || r->nscenarios) {
        json_t *obj = json_pack("{s:s, s:s}", "kpi", r->kpi_names[r->primary_kpi], "goal",
                                r->goal == OT_SIM_MAXIMIZE ? "maximize" : "minimize");
        if (obj && r->has_target)
            bad |= json_object_set_new(obj, "target", json_real(r->target)) |
                   json_object_set_new(obj, "p_target", num(r->p_target));
        bad |= json_object_set_new(o, "objective", obj);
    }
    if (r->nscenarios) {
        json_t *arr = json_array();
        for (size_t s = 0; arr && s < r->nscenarios; s++)
            if (json_array_append_new(arr, scenario_json(r, &r->scenarios[s]))) {
                json_decref(arr);
                arr = NULL;
            }
        bad |= json_object_set_new(o, "scenarios", arr);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
