/* model.c - see model.h. */
#include "sim/model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The seed prototype's yield/quality model. base_yield and base_quality are
 * constants so that {"parameters": {"base_yield": 0.85}} overrides them;
 * yield degrades 1%/degC above 25 and rises 2% per bar of pressure, with 5%
 * process noise; quality loses 0.5%/degC and 10%/bar away from the nominal
 * point, with 2% noise. No objective: the prototype's threshold rule picks
 * the recommendation (montecarlo.h). */
static const char default_model_json[] =
    "{\"parameters\": {"
    "\"base_yield\": {\"dist\": \"constant\", \"value\": 0.85},"
    "\"base_quality\": {\"dist\": \"constant\", \"value\": 0.95},"
    "\"temperature\": {\"dist\": \"normal\", \"mean\": 25, \"std\": 2},"
    "\"pressure\": {\"dist\": \"uniform\", \"low\": 0.9, \"high\": 1.1}},"
    "\"kpis\": {"
    "\"yield\": \"clip(base_yield - 0.01*(temperature-25) + 0.02*(pressure-1)"
    " + normal(0, 0.05), 0, 1)\","
    "\"quality\": \"clip(base_quality - 0.005*abs(temperature-25) - 0.1*abs(pressure-1)"
    " + normal(0, 0.02), 0, 1)\"},"
    "\"description\": \"Default yield/quality model of the OpsTwin prototype\"}";

static const char *const reserved[] = {
    "and", "or", "not", "min", "max", "clip", "abs", "exp", "log", "sqrt", "pow", "if",
    "normal", "uniform", "lognormal", "triangular",
};

const char *ot_sim_model_default_json(void)
{
    return default_model_json;
}

void ot_sim_model_free(ot_sim_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nkpis; i++) {
        free(m->kpis[i].src);
        ot_expr_free(m->kpis[i].prog);
    }
    free(m->params);
    free(m->kpis);
    free(m->order);
    free(m->description);
    free(m);
}

int ot_sim_model_param_index(const ot_sim_model *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name))
            return (int)i;
    return -1;
}

int ot_sim_model_kpi_index(const ot_sim_model *m, const char *name)
{
    for (size_t i = 0; i < m->nkpis; i++)
        if (!strcmp(m->kpis[i].name, name))
            return (int)i;
    return -1;
}

/* --- Parsing ------------------------------------------------------------ */

static int check_name(const ot_sim_model *m, const char *name, const char *path, ot_error *err)
{
    size_t n = strlen(name);
    int ok = n > 0 && n < OT_SIM_NAME_MAX && (isalpha((unsigned char)name[0]) || name[0] == '_');
    for (size_t i = 1; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '_';
    if (!ok)
        return ot_error_set(err, OT_EINVAL, path,
                            "'%.64s' is not a valid name: use letters, digits and '_' (not "
                            "first), at most %d characters", name, OT_SIM_NAME_MAX - 1);
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcmp(name, reserved[i]))
            return ot_error_set(err, OT_EINVAL, path,
                                "'%s' is a reserved word of the model language; rename it", name);
    if (ot_sim_model_param_index(m, name) >= 0 || ot_sim_model_kpi_index(m, name) >= 0)
        return ot_error_set(err, OT_EINVAL, path,
                            "'%s' is declared twice (parameters and KPIs share one namespace)",
                            name);
    return 0;
}

/* Expression identifiers: parameter i is variable i, KPI j is nparams + j. */
static int resolve(void *ctx, const char *name, size_t len)
{
    const ot_sim_model *m = ctx;
    for (size_t i = 0; i < m->nparams; i++)
        if (strlen(m->params[i].name) == len && !memcmp(m->params[i].name, name, len))
            return (int)i;
    for (size_t j = 0; j < m->nkpis; j++)
        if (strlen(m->kpis[j].name) == len && !memcmp(m->kpis[j].name, name, len))
            return (int)(m->nparams + j);
    return -1;
}

static int parse_params(ot_sim_model *m, const json_t *jp, const char *path, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "%s.parameters", path);
    if (!jp)
        return 0;
    if (!json_is_object(jp))
        return ot_error_set(err, OT_EINVAL, p, "parameters: must be an object of name -> dist");
    if (json_object_size(jp) > OT_SIM_MAX_PARAMS)
        return ot_error_set(err, OT_EINVAL, p, "parameters: at most %d", OT_SIM_MAX_PARAMS);
    m->params = calloc(json_object_size(jp) + 1, sizeof *m->params);
    if (!m->params)
        return ot_error_set(err, OT_ENOMEM, p, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)jp, key, v) {
        snprintf(p, sizeof p, "%s.parameters.%s", path, key);
        int rc = check_name(m, key, p, err);
        if (!rc)
            rc = ot_dist_parse(v, p, &m->params[m->nparams].dist, err);
        if (rc)
            return rc;
        strcpy(m->params[m->nparams++].name, key);
    }
    return 0;
}

/* Depth-first topological sort; KPIs are few (<= 64), recursion is fine. */
static int visit(ot_sim_model *m, size_t j, int *state, size_t *n, const char *path,
                 ot_error *err)
{
    if (state[j] == 2)
        return 0;
    if (state[j] == 1) {
        char p[OT_ERROR_PATH_MAX];
        snprintf(p, sizeof p, "%s.kpis.%s", path, m->kpis[j].name);
        return ot_error_set(err, OT_EINVAL, p,
                            "%s: circular definition (the KPI depends on itself through the "
                            "KPIs it uses)", m->kpis[j].name);
    }
    state[j] = 1;
    const int *vars;
    size_t nv = ot_expr_vars(m->kpis[j].prog, &vars);
    for (size_t k = 0; k < nv; k++) {
        if ((size_t)vars[k] < m->nparams)
            continue;
        int rc = visit(m, (size_t)vars[k] - m->nparams, state, n, path, err);
        if (rc)
            return rc;
    }
    state[j] = 2;
    m->order[(*n)++] = j;
    return 0;
}

static int parse_kpis(ot_sim_model *m, const json_t *jk, const char *path, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "%s.kpis", path);
    if (!json_is_object(jk) || json_object_size(jk) == 0)
        return ot_error_set(err, OT_EINVAL, p,
                            "kpis: required, an object of name -> expression, e.g. "
                            "{\"yield\": \"clip(0.85 - 0.01*(temperature-25), 0, 1)\"}");
    if (json_object_size(jk) > OT_SIM_MAX_KPIS)
        return ot_error_set(err, OT_EINVAL, p, "kpis: at most %d", OT_SIM_MAX_KPIS);
    size_t cap = json_object_size(jk);
    m->kpis = calloc(cap, sizeof *m->kpis);
    m->order = calloc(cap, sizeof *m->order);
    if (!m->kpis || !m->order)
        return ot_error_set(err, OT_ENOMEM, p, "out of memory");
    const char *key;
    json_t *v;
    /* Names first, so a KPI may use one declared after it. */
    json_object_foreach((json_t *)jk, key, v) {
        snprintf(p, sizeof p, "%s.kpis.%s", path, key);
        int rc = check_name(m, key, p, err);
        if (rc)
            return rc;
        if (!json_is_string(v))
            return ot_error_set(err, OT_EINVAL, p, "%s: must be an expression string", key);
        strcpy(m->kpis[m->nkpis].name, key);
        if (!(m->kpis[m->nkpis++].src = strdup(json_string_value(v))))
            return ot_error_set(err, OT_ENOMEM, p, "out of memory");
    }
    uint32_t site = (uint32_t)m->nparams;
    for (size_t j = 0; j < m->nkpis; j++) {
        ot_error e2;
        ot_error_clear(&e2);
        if (ot_expr_compile(m->kpis[j].src, resolve, m, site, &m->kpis[j].prog, &e2)) {
            snprintf(p, sizeof p, "%s.kpis.%s", path, m->kpis[j].name);
            return ot_error_set(err, e2.code, p, "%s: %s", m->kpis[j].name, e2.message);
        }
        site += ot_expr_sites(m->kpis[j].prog);
    }
    m->nsites = site;
    int state[OT_SIM_MAX_KPIS] = {0};
    size_t n = 0;
    for (size_t j = 0; j < m->nkpis; j++) {
        int rc = visit(m, j, state, &n, path, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_objective(ot_sim_model *m, const json_t *jo, const char *path, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "%s.objective", path);
    if (!jo || json_is_null(jo))
        return 0;
    if (!json_is_object(jo))
        return ot_error_set(err, OT_EINVAL, p,
                            "objective: must be an object {\"kpi\", \"goal\", \"target\"?}");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)jo, key, v) {
        snprintf(p, sizeof p, "%s.objective.%s", path, key);
        if (!strcmp(key, "kpi")) {
            int k = json_is_string(v) ? ot_sim_model_kpi_index(m, json_string_value(v)) : -1;
            if (k < 0)
                return ot_error_set(err, OT_EINVAL, p, "kpi: must name one of the model's KPIs");
            m->objective.kpi = (size_t)k;
            m->objective.present = 1;
        } else if (!strcmp(key, "goal")) {
            const char *g = json_string_value(v);
            if (!g || (strcmp(g, "maximize") && strcmp(g, "minimize")))
                return ot_error_set(err, OT_EINVAL, p, "goal: must be \"maximize\" or \"minimize\"");
            m->objective.goal = strcmp(g, "maximize") ? OT_SIM_MINIMIZE : OT_SIM_MAXIMIZE;
        } else if (!strcmp(key, "target")) {
            if (!json_is_number(v))
                return ot_error_set(err, OT_EINVAL, p, "target: must be a number");
            m->objective.has_target = 1;
            m->objective.target = json_number_value(v);
        } else {
            return ot_error_set(err, OT_EINVAL, p,
                                "%s: unknown field (expected kpi, goal, target)", key);
        }
    }
    if (!m->objective.present) {
        snprintf(p, sizeof p, "%s.objective.kpi", path);
        return ot_error_set(err, OT_EINVAL, p, "kpi: required in an objective");
    }
    return 0;
}

int ot_sim_model_parse(const json_t *doc, const char *path, ot_sim_model **out, ot_error *err)
{
    int rc;
    char p[OT_ERROR_PATH_MAX];
    *out = NULL;
    if (!path)
        path = "$";
    if (!json_is_object(doc))
        return ot_error_set(err, OT_EINVAL, path,
                            "a model must be an object with \"parameters\" and \"kpis\"");
    ot_sim_model *m = calloc(1, sizeof *m);
    if (!m)
        return ot_error_set(err, OT_ENOMEM, path, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v) {
        if (strcmp(key, "parameters") && strcmp(key, "kpis") && strcmp(key, "objective") &&
            strcmp(key, "description")) {
            snprintf(p, sizeof p, "%s.%s", path, key);
            rc = ot_error_set(err, OT_EINVAL, p,
                              "%s: unknown field (expected parameters, kpis, objective, "
                              "description)", key);
            goto out;
        }
    }
    const json_t *jd = json_object_get(doc, "description");
    if (jd && !json_is_string(jd)) {
        snprintf(p, sizeof p, "%s.description", path);
        rc = ot_error_set(err, OT_EINVAL, p, "description: must be a string");
        goto out;
    }
    if (jd && !(m->description = strdup(json_string_value(jd)))) {
        rc = ot_error_set(err, OT_ENOMEM, path, "out of memory");
        goto out;
    }
    if ((rc = parse_params(m, json_object_get(doc, "parameters"), path, err)) ||
        (rc = parse_kpis(m, json_object_get(doc, "kpis"), path, err)) ||
        (rc = parse_objective(m, json_object_get(doc, "objective"), path, err)))
        goto out;
    *out = m;
    m = NULL;
out:
    ot_sim_model_free(m);
    return rc;
}

int ot_sim_model_default(ot_sim_model **out, ot_error *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(default_model_json, 0, &jerr);
    if (!doc)
        return ot_error_set(err, OT_EINTERNAL, NULL, "default model: %s", jerr.text);
    int rc = ot_sim_model_parse(doc, "$", out, err);
    json_decref(doc);
    return rc;
}

json_t *ot_sim_model_to_json(const ot_sim_model *m)
{
    json_t *o = json_object(), *jp = json_object(), *jk = json_object();
    int bad = !o || !jp || !jk;
    for (size_t i = 0; !bad && i < m->nparams; i++)
        bad |= json_object_set_new(jp, m->params[i].name, ot_dist_to_json(&m->params[i].dist));
    for (size_t j = 0; !bad && j < m->nkpis; j++)
        bad |= json_object_set_new(jk, m->kpis[j].name, json_string(m->kpis[j].src));
    if (!bad) {
        bad |= json_object_set(o, "parameters", jp) | json_object_set(o, "kpis", jk);
    }
    if (!bad && m->objective.present) {
        json_t *jo = json_pack("{s:s, s:s}", "kpi", m->kpis[m->objective.kpi].name, "goal",
                               m->objective.goal == OT_SIM_MAXIMIZE ? "maximize" : "minimize");
        if (jo && m->objective.has_target)
            bad |= json_object_set_new(jo, "target", json_real(m->objective.target));
        bad |= json_object_set_new(o, "objective", jo);
    }
    if (!bad && m->description)
        bad |= json_object_set_new(o, "description", json_string(m->description));
    json_decref(jp);
    json_decref(jk);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* --- Binding ------------------------------------------------------------ */

int ot_sim_model_bind(const ot_sim_model *m, const ot_sim_override *ov, size_t nov,
                      const ot_sim_lookup *lookup, const char *twin_id, ot_dist *out,
                      ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    for (size_t i = 0; i < m->nparams; i++)
        out[i] = m->params[i].dist;
    for (size_t k = 0; k < nov; k++) {
        int i = ot_sim_model_param_index(m, ov[k].name);
        if (i < 0) {
            char names[256];
            size_t n = 0;
            names[0] = '\0';
            for (size_t j = 0; j < m->nparams && n < sizeof names; j++)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", j ? ", " : "",
                                      m->params[j].name);
            snprintf(p, sizeof p, "$.parameters.%s", ov[k].name);
            return ot_error_set(err, OT_EINVAL, p,
                                "%s: the model has no such parameter (it has: %s)", ov[k].name,
                                m->nparams ? names : "none");
        }
        out[i] = ov[k].dist;
    }
    for (size_t i = 0; i < m->nparams; i++) {
        ot_dist *d = &out[i];
        if (!ot_dist_is_binding(d))
            continue;
        double v = 0;
        int rc = OT_ENOTFOUND;
        if (d->kind == OT_DIST_TELEMETRY && lookup && lookup->telemetry)
            rc = lookup->telemetry(lookup->ctx, twin_id, d->asset_id, d->metric, &v);
        else if (d->kind == OT_DIST_SETPOINT && lookup && lookup->setpoint)
            rc = lookup->setpoint(lookup->ctx, twin_id, d->key, &v);
        snprintf(p, sizeof p, "$.parameters.%s", m->params[i].name);
        if (rc == OT_ENOTFOUND && d->has_default) {
            v = d->def;
            rc = 0;
        }
        if (rc == OT_ENOTFOUND) {
            if (d->kind == OT_DIST_TELEMETRY)
                return ot_error_set(err, OT_ECONFLICT, p,
                                    "%s: no telemetry yet for %s/%s on twin '%s'; ingest some "
                                    "or give the parameter a \"default\"", m->params[i].name,
                                    d->asset_id, d->metric, twin_id ? twin_id : "");
            return ot_error_set(err, OT_ECONFLICT, p,
                                "%s: set-point '%s' is not set on twin '%s'; set it or give "
                                "the parameter a \"default\"", m->params[i].name, d->key,
                                twin_id ? twin_id : "");
        }
        if (rc)
            return ot_error_set(err, rc, p, "%s: could not read its %s value: %s",
                                m->params[i].name, ot_dist_kind_name(d->kind), ot_strerror(rc));
        *d = ot_dist_bind(d, v);
    }
    return 0;
}
