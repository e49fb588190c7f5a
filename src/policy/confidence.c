/* confidence.c - see confidence.h. */
#include "policy/confidence.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "telemetry/names.h"

/* --- Outcome ring ------------------------------------------------------------ */

void ot_outcomes_init(ot_outcomes *o)
{
    memset(o, 0, sizeof *o);
}

void ot_outcomes_add(ot_outcomes *o, int success)
{
    if (o->count == OT_OUTCOMES_CAP)
        o->successes -= o->ok[o->next];
    else
        o->count++;
    o->ok[o->next] = success != 0;
    o->successes += o->ok[o->next];
    o->next = (o->next + 1) % OT_OUTCOMES_CAP;
}

double ot_outcomes_rate(const ot_outcomes *o)
{
    return o->count ? (double)o->successes / (double)o->count : 0;
}

/* --- Components -------------------------------------------------------------- */

/* Each component writes its value and a short "(why)" note. */
typedef struct part {
    double value;
    char why[300];
} part;

static double clamp01(double x)
{
    return x != x ? OT_CONF_NEUTRAL : x < 0 ? 0 : x > 1 ? 1 : x;
}

static void note(part *p, double value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(part *p, double value, const char *fmt, ...)
{
    va_list ap;
    p->value = clamp01(value);
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
}

static void historical(const ot_outcomes *o, part *p)
{
    size_t n = o ? o->count : 0;
    if (n == 0)
        note(p, OT_CONF_NEUTRAL, "no outcomes yet, 0/%d needed", OT_CONF_MIN_OUTCOMES);
    else if (n < OT_CONF_MIN_OUTCOMES)
        note(p, OT_CONF_NEUTRAL, "only %zu outcomes, %d needed", n, OT_CONF_MIN_OUTCOMES);
    else
        note(p, ot_outcomes_rate(o), "%zu of the last %zu actions succeeded", o->successes, n);
}

static void data_quality(const ot_confidence_input *in, part *p)
{
    if (!in->has_data_quality || in->data_quality != in->data_quality)
        note(p, OT_CONF_NEUTRAL, "telemetry quality unknown");
    else
        note(p, in->data_quality, "mean quality score of recent telemetry");
}

/* The scenario object testing the action, or NULL. */
static const json_t *pick_scenario(const json_t *scenarios, const char *name)
{
    size_t i;
    json_t *s;
    if (!json_is_array(scenarios))
        return NULL;
    if (!name)
        return json_array_size(scenarios) == 1 ? json_array_get(scenarios, 0) : NULL;
    json_array_foreach(scenarios, i, s)
        if (!strcmp(name, json_string_value(json_object_get(s, "name")) ?: ""))
            return s;
    return NULL;
}

static void simulation(const ot_confidence_input *in, part *p)
{
    char q[64], pre[128] = "";
    const json_t *sim = in->sim;
    if (!json_is_object(sim)) {
        note(p, OT_CONF_NEUTRAL, "no simulation");
        return;
    }
    const char *status = json_string_value(json_object_get(sim, "status"));
    if (status && strcmp(status, "completed")) {
        note(p, OT_CONF_NEUTRAL, "simulation %s, no result", ot_tel_quote(q, sizeof q, status,
                                                                         strlen(status)));
        return;
    }
    const json_t *sc = pick_scenario(json_object_get(sim, "scenarios"), in->scenario);
    const json_t *pi = json_object_get(sc, "p_improvement");
    const char *scn = json_string_value(json_object_get(sc, "name"));
    if (json_is_number(pi) && scn) {
        note(p, json_number_value(pi), "P(improvement) of scenario '%s' over doing nothing",
             ot_tel_quote(q, sizeof q, scn, strlen(scn)));
        return;
    }
    if (in->scenario)
        snprintf(pre, sizeof pre, "scenario '%s' not in the run; ",
                 ot_tel_quote(q, sizeof q, in->scenario, strlen(in->scenario)));
    const json_t *dists = json_object_get(sim, "kpi_distribution");
    const char *kpi = json_string_value(json_object_get(json_object_get(sim, "objective"), "kpi"));
    if (!kpi && json_is_object(dists) && json_object_size(dists))
        kpi = json_object_iter_key(json_object_iter((json_t *)dists));
    const json_t *d = kpi ? json_object_get(dists, kpi) : NULL;
    const json_t *jm = json_object_get(d, "mean"), *js = json_object_get(d, "std");
    if (!json_is_number(jm) || !json_is_number(js) || json_number_value(js) < 0) {
        note(p, OT_CONF_NEUTRAL, "%sno usable KPI distribution in the simulation", pre);
        return;
    }
    double mean = json_number_value(jm), sd = json_number_value(js);
    /* Spread relative to the KPI's scale; a zero mean has no scale, so any
     * spread there counts as fully inconsistent. */
    double rel = sd == 0 ? 0 : mean == 0 ? 1 : fmin(1, sd / fabs(mean));
    note(p, 1 - rel, "%s%s std %.3g vs |mean| %.3g", pre, ot_tel_quote(q, sizeof q, kpi,
                                                                      strlen(kpi)), sd, fabs(mean));
}

static int agrees(const char *rec, const char *action_type)
{
    return (action_type && !strcasecmp(rec, action_type)) || !strcasecmp(rec, "approve") ||
           !strcasecmp(rec, "agree") || !strcasecmp(rec, "yes");
}

static int consensus(const ot_confidence_input *in, part *p, ot_error *err)
{
    const json_t *votes = in->votes;
    size_t i, n = 0, yes = 0;
    json_t *v;
    if (votes && !json_is_array(votes))
        return ot_error_set(err, OT_EINVAL, "$.votes", "votes: must be an array");
    json_array_foreach(votes, i, v) {
        const char *agent = json_string_value(json_object_get(v, "agent_id"));
        const char *rec = json_string_value(json_object_get(v, "recommendation"));
        if (!agent || !rec) {
            char path[OT_ERROR_PATH_MAX];
            snprintf(path, sizeof path, "$.votes[%zu]", i);
            return ot_error_set(err, OT_EINVAL, path,
                                "must be {\"agent_id\": string, \"recommendation\": string}");
        }
        size_t j = i + 1; /* an agent's last vote is the one that counts */
        while (j < json_array_size(votes) &&
               strcmp(agent, json_string_value(json_object_get(json_array_get(votes, j),
                                                                "agent_id")) ?: ""))
            j++;
        if (j < json_array_size(votes))
            continue;
        n++;
        yes += (size_t)agrees(rec, in->action_type);
    }
    if (n == 0)
        note(p, OT_CONF_NEUTRAL, "no votes");
    else
        note(p, (double)yes / (double)n, "%zu of %zu agents agree", yes, n);
    return 0;
}

/* --- Scorer ------------------------------------------------------------------ */

int ot_confidence_score(const ot_confidence_input *in, ot_confidence *out, ot_error *err)
{
    part h, dq, sim, ai;
    int rc;
    memset(out, 0, sizeof *out);
    if (in->has_client_confidence &&
        !(in->client_confidence >= 0 && in->client_confidence <= 1))
        return ot_error_set(err, OT_EINVAL, "$.confidence", "confidence: must be a number from 0 to 1");
    if ((rc = consensus(in, &ai, err)))
        return rc;
    historical(in->outcomes, &h);
    data_quality(in, &dq);
    simulation(in, &sim);
    double s = OT_CONF_W_HISTORICAL * h.value + OT_CONF_W_DATA_QUALITY * dq.value +
               OT_CONF_W_SIMULATION * sim.value + OT_CONF_W_CONSENSUS * ai.value;
    out->score = clamp01(round(s * 1e6) / 1e6);
    out->historical = h.value;
    out->data_quality = dq.value;
    out->simulation = sim.value;
    out->consensus = ai.value;
    out->has_client_confidence = in->has_client_confidence;
    out->client_confidence = in->client_confidence;
    int n = snprintf(out->reasoning, sizeof out->reasoning,
                     "historical success %.2f (%s) x %.2f; data quality %.2f (%s) x %.2f; "
                     "simulation consistency %.2f (%s) x %.2f; AI consensus %.2f (%s) x %.2f; "
                     "confidence %.3f",
                     h.value, h.why, OT_CONF_W_HISTORICAL, dq.value, dq.why,
                     OT_CONF_W_DATA_QUALITY, sim.value, sim.why, OT_CONF_W_SIMULATION, ai.value,
                     ai.why, OT_CONF_W_CONSENSUS, out->score);
    if (in->has_client_confidence && n > 0 && (size_t)n < sizeof out->reasoning)
        snprintf(out->reasoning + n, sizeof out->reasoning - (size_t)n,
                 " (the proposer reported %.2f: recorded, not scored)", in->client_confidence);
    return 0;
}

json_t *ot_confidence_components_json(const ot_confidence *c)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "historical", c->historical, "data_quality",
                     c->data_quality, "simulation_consistency", c->simulation, "ai_consensus",
                     c->consensus);
}

json_t *ot_confidence_weights_json(void)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "historical", OT_CONF_W_HISTORICAL, "data_quality",
                     OT_CONF_W_DATA_QUALITY, "simulation_consistency", OT_CONF_W_SIMULATION,
                     "ai_consensus", OT_CONF_W_CONSENSUS);
}
