/* sim_request.c - parse a POST /sim/run body into an ot_sim_request
 * (contract in montecarlo.h). Every error names the offending field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/montecarlo.h"

void ot_sim_request_init(ot_sim_request *req)
{
    memset(req, 0, sizeof *req);
    req->n_samples = OT_SIM_DEFAULT_SAMPLES;
    req->engine = OT_SIM_ENGINE_CLASSICAL;
}

void ot_sim_request_free(ot_sim_request *req)
{
    free(req->overrides);
    for (size_t s = 0; req->scenarios && s < req->nscenarios; s++)
        free(req->scenarios[s].set);
    free(req->scenarios);
    ot_sim_model_free(req->model);
    ot_sim_request_init(req);
}

static int parse_text(const json_t *v, const char *field, int required, char *dst, size_t sz,
                      ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "$.%s", field);
    if (!v) {
        if (required)
            return ot_error_set(err, OT_EINVAL, p, "%s: required", field);
        return 0;
    }
    if (!json_is_string(v) || (required && json_string_length(v) == 0))
        return ot_error_set(err, OT_EINVAL, p, "%s: must be a%s string", field,
                            required ? " non-empty" : "");
    if (json_string_length(v) >= sz)
        return ot_error_set(err, OT_EINVAL, p, "%s: longer than %zu characters", field, sz - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* An integer in [lo, hi]; integral reals (1e6) are accepted too. */
static int parse_uint(const json_t *v, const char *field, uint64_t lo, uint64_t hi,
                      uint64_t *out, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "$.%s", field);
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_number_value(v);
    int ok = json_is_number(v) && d == floor(d) && d >= (double)lo && d <= (double)hi;
    if (!ok)
        return ot_error_set(err, OT_EINVAL, p, "%s: must be an integer between %llu and %llu",
                            field, (unsigned long long)lo, (unsigned long long)hi);
    *out = json_is_integer(v) ? (uint64_t)json_integer_value(v) : (uint64_t)d;
    return 0;
}

static int parse_overrides(const json_t *v, ot_sim_request *req, ot_error *err)
{
    if (!v)
        return 0;
    if (!json_is_object(v))
        return ot_error_set(err, OT_EINVAL, "$.parameters",
                            "parameters: must be an object of name -> number or dist spec");
    req->overrides = calloc(json_object_size(v) + 1, sizeof *req->overrides);
    if (!req->overrides)
        return ot_error_set(err, OT_ENOMEM, "$.parameters", "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        char p[OT_ERROR_PATH_MAX];
        snprintf(p, sizeof p, "$.parameters.%s", key);
        ot_sim_override *o = &req->overrides[req->noverrides];
        if (strlen(key) >= sizeof o->name)
            return ot_error_set(err, OT_EINVAL, p, "parameter name too long");
        int rc = ot_dist_parse(val, p, &o->dist, err);
        if (rc)
            return rc;
        strcpy(o->name, key);
        req->noverrides++;
    }
    return 0;
}

static int parse_scenario(const json_t *v, size_t idx, ot_sim_scenario *sc,
                          const ot_sim_request *req, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "$.scenarios[%zu]", idx);
    if (!json_is_object(v))
        return ot_error_set(err, OT_EINVAL, p,
                            "must be an object {\"name\": ..., \"set\": {param: number}}");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        if (strcmp(key, "name") && strcmp(key, "set")) {
            snprintf(p, sizeof p, "$.scenarios[%zu].%s", idx, key);
            return ot_error_set(err, OT_EINVAL, p, "%s: unknown field (expected name, set)", key);
        }
    }
    const json_t *jn = json_object_get(v, "name");
    snprintf(p, sizeof p, "$.scenarios[%zu].name", idx);
    if (!json_is_string(jn) || json_string_length(jn) == 0 ||
        json_string_length(jn) >= sizeof sc->name)
        return ot_error_set(err, OT_EINVAL, p, "name: required, a string of 1 to %zu characters",
                            sizeof sc->name - 1);
    strcpy(sc->name, json_string_value(jn));
    for (size_t s = 0; s < idx; s++)
        if (!strcmp(req->scenarios[s].name, sc->name))
            return ot_error_set(err, OT_EINVAL, p, "name: '%s' is used by another scenario",
                                sc->name);
    const json_t *js = json_object_get(v, "set");
    snprintf(p, sizeof p, "$.scenarios[%zu].set", idx);
    if (!json_is_object(js) || json_object_size(js) == 0)
        return ot_error_set(err, OT_EINVAL, p,
                            "set: required, an object of parameter -> number, e.g. "
                            "{\"coolant\": 18}");
    sc->set = calloc(json_object_size(js), sizeof *sc->set);
    if (!sc->set)
        return ot_error_set(err, OT_ENOMEM, p, "out of memory");
    json_object_foreach((json_t *)js, key, val) {
        snprintf(p, sizeof p, "$.scenarios[%zu].set.%s", idx, key);
        if (!json_is_number(val))
            return ot_error_set(err, OT_EINVAL, p, "%s: must be a number (scenarios fix "
                                                   "parameters to constants)", key);
        if (strlen(key) >= sizeof sc->set[0].name)
            return ot_error_set(err, OT_EINVAL, p, "parameter name too long");
        strcpy(sc->set[sc->nset].name, key);
        sc->set[sc->nset++].dist = ot_dist_constant(json_number_value(val));
    }
    return 0;
}

static int parse_scenarios(const json_t *v, ot_sim_request *req, ot_error *err)
{
    if (!v)
        return 0;
    if (!json_is_array(v))
        return ot_error_set(err, OT_EINVAL, "$.scenarios",
                            "scenarios: must be an array of {\"name\", \"set\"}");
    if (json_array_size(v) > OT_SIM_MAX_SCENARIOS)
        return ot_error_set(err, OT_EINVAL, "$.scenarios", "scenarios: at most %d per run",
                            OT_SIM_MAX_SCENARIOS);
    req->scenarios = calloc(json_array_size(v) + 1, sizeof *req->scenarios);
    if (!req->scenarios)
        return ot_error_set(err, OT_ENOMEM, "$.scenarios", "out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        req->nscenarios = i + 1; /* so free() sees a partly built one */
        int rc = parse_scenario(json_array_get(v, i), i, &req->scenarios[i], req, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_engine(const json_t *v, ot_sim_engine *out, ot_error *err)
{
    static const ot_sim_engine all[] = {OT_SIM_ENGINE_CLASSICAL, OT_SIM_ENGINE_QUANTUM,
                                        OT_SIM_ENGINE_HYBRID};
    if (!v)
        return 0;
    for (size_t i = 0; json_is_string(v) && i < 3; i++)
        if (!strcmp(json_string_value(v), ot_sim_engine_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return ot_error_set(err, OT_EINVAL, "$.engine",
                        "engine: must be \"classical\", \"quantum\" or \"hybrid\"");
}

int ot_sim_request_parse(const json_t *body, ot_sim_request *req, ot_error *err)
{
    static const char *const fields[] = {"twin_id", "scenario", "parameters", "n_samples",
                                         "engine", "seed", "model", "scenarios"};
    int rc;
    ot_sim_request_init(req);
    if (!json_is_object(body))
        return ot_error_set(err, OT_EINVAL, "$", "the body must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        size_t i = 0;
        while (i < sizeof fields / sizeof fields[0] && strcmp(key, fields[i]))
            i++;
        if (i == sizeof fields / sizeof fields[0]) {
            char p[OT_ERROR_PATH_MAX];
            snprintf(p, sizeof p, "$.%s", key);
            return ot_error_set(err, OT_EINVAL, p,
                                "%s: unknown field (expected twin_id, scenario, parameters, "
                                "n_samples, engine, seed, model, scenarios)", key);
        }
    }
    const json_t *jn = json_object_get(body, "n_samples"), *js = json_object_get(body, "seed");
    const json_t *jm = json_object_get(body, "model");
    if ((rc = parse_text(json_object_get(body, "twin_id"), "twin_id", 1, req->twin_id,
                         sizeof req->twin_id, err)) ||
        (rc = parse_text(json_object_get(body, "scenario"), "scenario", 0, req->scenario,
                         sizeof req->scenario, err)) ||
        (jn && (rc = parse_uint(jn, "n_samples", OT_SIM_MIN_SAMPLES, OT_SIM_MAX_SAMPLES,
                                &req->n_samples, err))) ||
        (js && !json_is_null(js) &&
         (rc = parse_uint(js, "seed", 0, (uint64_t)INT64_MAX, &req->seed, err))) ||
        (rc = parse_engine(json_object_get(body, "engine"), &req->engine, err)) ||
        (rc = parse_overrides(json_object_get(body, "parameters"), req, err)) ||
        (rc = parse_scenarios(json_object_get(body, "scenarios"), req, err)) ||
        (jm && !json_is_null(jm) && (rc = ot_sim_model_parse(jm, "$.model", &req->model, err))))
        goto out;
    req->has_seed = js && !json_is_null(js);
out:
    if (rc)
        ot_sim_request_free(req);
    return rc;
}
