/* policy_doc.c - see policy_doc.h.
 *
 * Sections: names; thresholds; safety; rules; the document; matching;
 * to_json. Every parse_* helper fills part of a zeroed ot_policy and returns
 * 0 or an OT_E* code with err naming the path; the caller frees the partial
 * policy on failure.
 */
#include "policy/policy_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/names.h"

/* --- Names ------------------------------------------------------------------ */

static const char *const severities[] = {"low", "medium", "high", "critical"};
static const char *const kinds[] = {"drift", "spike", "outlier", "pattern", "missing"};
static const char *const executors[] = {"state", "mqtt", "webhook"};

static int index_of(const char *s, const char *const *list, int n)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, list[i]))
            return i;
    return -1;
}

int ot_policy_severity_from_name(const char *s)
{
    return index_of(s, severities, 4);
}

const char *ot_executor_name(enum ot_executor e)
{
    return (unsigned)e < 3 ? executors[e] : "state";
}

static int kind_bit(const json_t *v)
{
    int i = json_is_string(v) ? index_of(json_string_value(v), kinds, 5) : -1;
    return i < 0 ? 0 : 1 << i;
}

static int need_object(const json_t *v, const char *path, const char *what, ot_error *err)
{
    return json_is_object(v) ? 0 : ot_error_set(err, OT_EINVAL, path, "must be an object %s", what);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* --- Thresholds ------------------------------------------------------------ */

static int parse_thresholds(ot_policy *p, const json_t *jt, ot_error *err)
{
    static const char *const keys[] = {"auto_execute", "require_approval", "require_analysis",
                                       NULL};
    const char *b = "$.thresholds";
    int ha = 0, hp = 0, hn = 0, rc;
    p->auto_execute = OT_POLICY_DEFAULT_AUTO;
    p->require_approval = OT_POLICY_DEFAULT_APPROVAL;
    if (jt) {
        if ((rc = need_object(jt, b, "{\"auto_execute\", \"require_approval\"}", err)) ||
            (rc = ot_pcheck_known_keys(jt, keys, b, err)) ||
            (rc = ot_pcheck_opt_number(jt, keys[0], 0, 1, b, &ha, &p->auto_execute, err)) ||
            (rc = ot_pcheck_opt_number(jt, keys[1], 0, 1, b, &hp, &p->require_approval, err)) ||
            (rc = ot_pcheck_opt_number(jt, keys[2], 0, 1, b, &hn, &p->require_analysis, err)))
            return rc;
    }
    if (!hn)
        p->require_analysis = p->require_approval < OT_POLICY_DEFAULT_ANALYSIS
                                  ? p->require_approval
                                  : OT_POLICY_DEFAULT_ANALYSIS;
    if (p->require_approval > p->auto_execute)
        return ot_error_set(err, OT_EINVAL,
                            hp ? "$.thresholds.require_approval" : "$.thresholds.auto_execute",
                            "require_approval (%g) must not exceed auto_execute (%g)%s",
                            p->require_approval, p->auto_execute,
                            hp && ha ? "" : "; the other one is the default, set both");
    if (p->require_analysis > p->require_approval)
        return ot_error_set(err, OT_EINVAL, "$.thresholds.require_analysis",
                            "require_analysis (%g) must not exceed require_approval (%g)",
                            p->require_analysis, p->require_approval);
    return 0;
}

/* --- Safety ------------------------------------------------------------------ */

static int parse_forbid(ot_policy *p, const json_t *jf, ot_error *err)
{
    const char *b = "$.safety.forbid";
    char path[OT_ERROR_PATH_MAX];
    size_t i;
    json_t *v;
    if (!json_is_array(jf))
        return ot_error_set(err, OT_EINVAL, b, "forbid: must be an array of action types");
    json_array_foreach(jf, i, v) {
        int t = json_is_string(v) ? ot_action_type_from_name(json_string_value(v)) : -1;
        ot_pcheck_path_index(path, sizeof path, b, i);
        if (t < 0)
            return ot_error_set(err, OT_EINVAL, path,
                                "must be an action type: set_parameter, restart, scale, "
                                "deploy, rollback or shutdown");
        if (p->forbid & (1u << t))
            return ot_error_set(err, OT_EINVAL, path, "'%s' is listed twice; items must be unique",
                                json_string_value(v));
        p->forbid |= 1u << t;
    }
    return 0;
}

/* A set-point key per the schema's propertyNames: "<id>.<name>" where the
 * id part may itself hold dots, so some dot must split it that way. */
static int setpoint_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n > 257 || n < 3 || k[0] == '_' || k[0] == '.' || k[0] == ':' || k[0] == '/' ||
        k[0] == '-' || strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789_.:/-") != n)
        return 0;
    for (size_t i = 1; i + 1 < n && k[i - 1] != '/'; i++) {
        unsigned char c = (unsigned char)k[i + 1];
        int name_start = c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
        if (k[i] == '.' && name_start)
            return 1;
    }
    return 0;
}

static int parse_limits(ot_policy *p, const json_t *jl, ot_error *err)
{
    static const char *const keys[] = {"min", "max", NULL};
    char path[OT_ERROR_PATH_MAX], q[64];
    const char *key;
    json_t *v;
    int rc;
    if (!json_is_object(jl))
        return ot_error_set(err, OT_EINVAL, "$.safety.limits",
                            "limits: must be an object of set-point key -> {\"min\", \"max\"}");
    p->limits = calloc(json_object_size(jl) + 1, sizeof *p->limits);
    if (!p->limits)
        return ot_error_set(err, OT_ENOMEM, "$.safety.limits", "out of memory");
    json_object_foreach((json_t *)jl, key, v) {
        ot_policy_limit *l = &p->limits[p->nlimits];
        ot_pcheck_path(path, sizeof path, "$.safety.limits", key);
        if (!setpoint_key_ok(key))
            return ot_error_set(err, OT_EINVAL, path,
                                "%s: must be a set-point key \"<target>.<parameter>\", e.g. "
                                "\"chiller_1.setpoint\"",
                                ot_tel_quote(q, sizeof q, key, strlen(key)));
        if ((rc = need_object(v, path, "{\"min\", \"max\"}", err)) ||
            (rc = ot_pcheck_known_keys(v, keys, path, err)) ||
            (rc = ot_pcheck_opt_number(v, "min", -1e308, 1e308, path, &l->has_min, &l->min, err)) ||
            (rc = ot_pcheck_opt_number(v, "max", -1e308, 1e308, path, &l->has_max, &l->max, err)))
            return rc;
        if (!l->has_min && !l->has_max)
            return ot_error_set(err, OT_EINVAL, path, "needs \"min\", \"max\" or both");
        if (l->has_min && l->has_max && l->min > l->max) {
            char mp[OT_ERROR_PATH_MAX];
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(mp, sizeof mp, path, "min"),
                                "min (%g) must not exceed max (%g)", l->min, l->max);
        }
        strcpy(l->key, key);
        p->nlimits++;
    }
    return 0;
}

static int parse_safety(ot_policy *p, const json_t *js, ot_error *err)
{
    static const char *const keys[] = {"forbid", "limits", "max_actions_per_hour", NULL};
    const json_t *v;
    int rc;
    p->max_actions_per_hour = OT_POLICY_DEFAULT_MAX_PER_HOUR;
    if (!js)
        return 0;
    if ((rc = need_object(js, "$.safety", "{\"forbid\", \"limits\", \"max_actions_per_hour\"}",
                          err)) ||
        (rc = ot_pcheck_known_keys(js, keys, "$.safety", err)))
        return rc;
    if ((v = json_object_get(js, "forbid")) && (rc = parse_forbid(p, v, err)))
        return rc;
    if ((v = json_object_get(js, "limits")) && (rc = parse_limits(p, v, err)))
        return rc;
    if ((v = json_object_get(js, "max_actions_per_hour")) &&
        (!ot_pcheck_integer(v, &p->max_actions_per_hour) || p->max_actions_per_hour < 0))
        return ot_error_set(err, OT_EINVAL, "$.safety.max_actions_per_hour",
                            "max_actions_per_hour: must be an integer >= 0 (0 freezes the twin)");
    return 0;
}

/* --- Rules ------------------------------------------------------------------- */

static int parse_when(ot_policy_rule *r, const json_t *jw, const char *b, ot_error *err)
{
    static const char *const keys[] = {"metric", "asset_id", "kind", "min_severity", "min_score",
                                       NULL};
    char path[OT_ERROR_PATH_MAX];
    const json_t *v;
    int rc;
    if ((rc = need_object(jw, b, "{\"metric\", \"kind\", \"min_severity\", ...}", err)) ||
        (rc = ot_pcheck_known_keys(jw, keys, b, err)))
        return rc;
    if ((v = json_object_get(jw, "metric"))) {
        if (!json_is_string(v) || !ot_pcheck_name(json_string_value(v)))
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "metric"),
                                "metric: must be a metric name (1 to 128 characters of "
                                "[A-Za-z0-9_.:/-])");
        strcpy(r->metric, json_string_value(v));
    }
    if ((v = json_object_get(jw, "asset_id"))) {
        if (!json_is_string(v) || !ot_pcheck_id(json_string_value(v)))
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "asset_id"),
                                "asset_id: must be 1 to 128 characters of [A-Za-z0-9_.:-]");
        strcpy(r->asset_id, json_string_value(v));
    }
    if ((v = json_object_get(jw, "kind"))) {
        ot_pcheck_path(path, sizeof path, b, "kind");
        const char *msg = "must be an anomaly kind (drift, spike, outlier, pattern, missing) or "
                          "a non-empty array of them";
        if (json_is_array(v)) {
            size_t i;
            json_t *k;
            if (json_array_size(v) == 0)
                return ot_error_set(err, OT_EINVAL, path, "kind: %s", msg);
            json_array_foreach(v, i, k) {
                char ip[OT_ERROR_PATH_MAX];
                if (!kind_bit(k))
                    return ot_error_set(err, OT_EINVAL,
                                        ot_pcheck_path_index(ip, sizeof ip, path, i), "%s", msg);
                r->kinds |= (unsigned)kind_bit(k);
            }
        } else if (!(r->kinds = (unsigned)kind_bit(v))) {
            return ot_error_set(err, OT_EINVAL, path, "kind: %s", msg);
        }
    }
    if ((v = json_object_get(jw, "min_severity"))) {
        int s = json_is_string(v) ? ot_policy_severity_from_name(json_string_value(v)) : -1;
        if (s < 0)
            return ot_error_set(err, OT_EINVAL,
                                ot_pcheck_path(path, sizeof path, b, "min_severity"),
                                "min_severity: must be low, medium, high or critical");
        r->has_min_severity = 1;
        r->min_severity = (enum ot_policy_severity)s;
    }
    return ot_pcheck_opt_number(jw, "min_score", 0, 1, b, &r->has_min_score, &r->min_score, err);
}

static int parse_scenario(ot_policy_rule *r, const json_t *js, const char *b, ot_error *err)
{
    static const char *const keys[] = {"name", "set", NULL};
    char path[OT_ERROR_PATH_MAX];
    const char *name, *key;
    json_t *v;
    int rc;
    if ((rc = need_object(js, b, "{\"name\", \"set\": {parameter: number}}", err)) ||
        (rc = ot_pcheck_known_keys(js, keys, b, err)) ||
        (rc = ot_pcheck_opt_string(js, "name", 1, 64, b, &name, err)))
        return rc;
    if (!name)
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "name"),
                            "name: required, the scenario's name in the simulation");
    const json_t *set = json_object_get(js, "set");
    ot_pcheck_path(path, sizeof path, b, "set");
    if (!json_is_object(set) || json_object_size(set) == 0)
        return ot_error_set(err, OT_EINVAL, path,
                            "set: required, an object of model parameter -> number, e.g. "
                            "{\"coolant\": 18}");
    json_object_foreach((json_t *)set, key, v)
        if (!json_is_number(v)) {
            char kp[OT_ERROR_PATH_MAX];
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(kp, sizeof kp, path, key),
                                "must be a number");
        }
    r->scenario_name = strdup(name);
    r->scenario_set = json_deep_copy(set);
    if (!r->scenario_name || !r->scenario_set)
        return ot_error_set(err, OT_ENOMEM, b, "out of memory");
    return 0;
}

static int url_ok(const char *u)
{
    size_t skip = !strncmp(u, "https://", 8) ? 8 : !strncmp(u, "http://", 7) ? 7 : 0;
    if (!skip || !u[skip])
        return 0;
    for (u += skip; *u; u++)
        if (*u < '!' || *u > '~')
            return 0;
    return 1;
}

static int parse_webhook(ot_policy_rule *r, const json_t *jw, const char *b, ot_error *err)
{
    static const char *const keys[] = {"url", "secret", "timeout_ms", "retries", NULL};
    char path[OT_ERROR_PATH_MAX];
    const char *url, *secret;
    json_int_t n;
    const json_t *v;
    int rc;
    if ((rc = need_object(jw, b, "{\"url\", \"secret\"?, \"timeout_ms\"?, \"retries\"?}", err)) ||
        (rc = ot_pcheck_known_keys(jw, keys, b, err)) ||
        (rc = ot_pcheck_opt_string(jw, "url", 0, 2048, b, &url, err)) ||
        (rc = ot_pcheck_opt_string(jw, "secret", 1, 512, b, &secret, err)))
        return rc;
    if (!url || !url_ok(url))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "url"),
                            "url: required, an http:// or https:// URL without spaces");
    r->webhook.timeout_ms = 5000;
    r->webhook.retries = 3;
    if ((v = json_object_get(jw, "timeout_ms"))) {
        if (!ot_pcheck_integer(v, &n) || n < 1 || n > 60000)
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "timeout_ms"),
                                "timeout_ms: must be an integer from 1 to 60000");
        r->webhook.timeout_ms = (int)n;
    }
    if ((v = json_object_get(jw, "retries"))) {
        if (!ot_pcheck_integer(v, &n) || n < 0 || n > 10)
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "retries"),
                                "retries: must be an integer from 0 to 10");
        r->webhook.retries = (int)n;
    }
    r->has_webhook = 1;
    r->webhook.url = strdup(url);
    r->webhook.secret = dup_or_null(secret);
    if (!r->webhook.url || (secret && !r->webhook.secret))
        return ot_error_set(err, OT_ENOMEM, b, "out of memory");
    return 0;
}

static int parse_rule(ot_policy_rule *r, const json_t *jr, const char *b, ot_error *err)
{
    static const char *const keys[] = {"name", "when", "action", "executor", "scenario",
                                       "webhook", NULL};
    char path[OT_ERROR_PATH_MAX];
    const char *name;
    const json_t *v;
    int rc;
    if ((rc = need_object(jr, b, "{\"when\", \"action\", \"executor\"?, \"scenario\"?}", err)) ||
        (rc = ot_pcheck_known_keys(jr, keys, b, err)) ||
        (rc = ot_pcheck_opt_string(jr, "name", 0, 128, b, &name, err)))
        return rc;
    if (name && !(r->name = strdup(name)))
        return ot_error_set(err, OT_ENOMEM, b, "out of memory");
    ot_pcheck_path(path, sizeof path, b, "when");
    if (!(v = json_object_get(jr, "when")))
        return ot_error_set(err, OT_EINVAL, path,
                            "when: required, e.g. {\"metric\": \"temp_c\", \"min_severity\": "
                            "\"high\"}");
    if ((rc = parse_when(r, v, path, err)))
        return rc;
    ot_pcheck_path(path, sizeof path, b, "action");
    if (!(v = json_object_get(jr, "action")))
        return ot_error_set(err, OT_EINVAL, path, "action: required, an action.v1 object");
    if ((rc = ot_action_parse(v, path, &r->action, err)))
        return rc;
    if ((v = json_object_get(jr, "executor"))) {
        int e = json_is_string(v) ? index_of(json_string_value(v), executors, 3) : -1;
        if (e < 0)
            return ot_error_set(err, OT_EINVAL, ot_pcheck_path(path, sizeof path, b, "executor"),
                                "executor: must be state, mqtt or webhook");
        r->executor = (enum ot_executor)e;
    }
    ot_pcheck_path(path, sizeof path, b, "scenario");
    if ((v = json_object_get(jr, "scenario")) && (rc = parse_scenario(r, v, path, err)))
        return rc;
    ot_pcheck_path(path, sizeof path, b, "webhook");
    v = json_object_get(jr, "webhook");
    if (r->executor == OT_EXEC_WEBHOOK && !v)
        return ot_error_set(err, OT_EINVAL, path,
                            "webhook: required with executor \"webhook\", e.g. {\"url\": "
                            "\"https://ops.example/hook\"}");
    if (v && r->executor != OT_EXEC_WEBHOOK)
        return ot_error_set(err, OT_EINVAL, path,
                            "webhook: only allowed with \"executor\": \"webhook\"");
    return v ? parse_webhook(r, v, path, err) : 0;
}

static int parse_rules(ot_policy *p, const json_t *jr, ot_error *err)
{
    char path[OT_ERROR_PATH_MAX];
    size_t i;
    json_t *v;
    int rc;
    if (!json_is_array(jr) || json_array_size(jr) > OT_POLICY_MAX_RULES)
        return ot_error_set(err, OT_EINVAL, "$.rules", "rules: must be an array of at most %d rules",
                            OT_POLICY_MAX_RULES);
    p->rules = calloc(json_array_size(jr) + 1, sizeof *p->rules);
    if (!p->rules)
        return ot_error_set(err, OT_ENOMEM, "$.rules", "out of memory");
    json_array_foreach(jr, i, v) {
        ot_pcheck_path_index(path, sizeof path, "$.rules", i);
        p->nrules++; /* counted first so a partial rule is freed */
        if ((rc = parse_rule(&p->rules[i], v, path, err)))
            return rc;
    }
    return 0;
}

/* --- The document ------------------------------------------------------------ */

static int parse_bookkeeping(ot_policy *p, const json_t *doc, ot_error *err)
{
    const json_t *v;
    const char *s;
    int rc;
    if ((v = json_object_get(doc, "twin_id"))) {
        if (!json_is_string(v) || !ot_pcheck_id(json_string_value(v)))
            return ot_error_set(err, OT_EINVAL, "$.twin_id",
                                "twin_id: must be 1 to 128 characters of [A-Za-z0-9_.:-]");
        strcpy(p->twin_id, json_string_value(v));
    }
    if ((v = json_object_get(doc, "version"))) {
        if (!ot_pcheck_integer(v, &p->version) || p->version < 0)
            return ot_error_set(err, OT_EINVAL, "$.version", "version: must be an integer >= 0");
        p->has_version = 1;
    }
    if ((v = json_object_get(doc, "updated_at"))) {
        if (!json_is_string(v) || !ot_pcheck_date_time(json_string_value(v)) ||
            json_string_length(v) >= sizeof p->updated_at)
            return ot_error_set(err, OT_EINVAL, "$.updated_at",
                                "updated_at: must be an RFC 3339 date-time");
        strcpy(p->updated_at, json_string_value(v));
    }
    if ((rc = ot_pcheck_opt_string(doc, "updated_by", 0, (size_t)-1, "$", &s, err)))
        return rc;
    if (s && !(p->updated_by = strdup(s)))
        return ot_error_set(err, OT_ENOMEM, "$", "out of memory");
    return 0;
}

int ot_policy_parse(const json_t *doc, ot_policy **out, ot_error *err)
{
    static const char *const keys[] = {"twin_id", "version", "updated_at", "updated_by",
                                       "thresholds", "safety", "rules", NULL};
    const json_t *v;
    int rc;
    *out = NULL;
    if (!json_is_object(doc))
        return ot_error_set(err, OT_EINVAL, "$",
                            "a policy must be an object {\"thresholds\", \"safety\", \"rules\"}");
    ot_policy *p = calloc(1, sizeof *p);
    if (!p)
        return ot_error_set(err, OT_ENOMEM, "$", "out of memory");
    if ((rc = ot_pcheck_known_keys(doc, keys, "$", err)) ||
        (rc = parse_bookkeeping(p, doc, err)) ||
        (rc = parse_thresholds(p, json_object_get(doc, "thresholds"), err)) ||
        (rc = parse_safety(p, json_object_get(doc, "safety"), err)))
        goto out;
    if ((v = json_object_get(doc, "rules")) && (rc = parse_rules(p, v, err)))
        goto out;
    *out = p;
    p = NULL;
out:
    ot_policy_free(p);
    return rc;
}

ot_policy *ot_policy_default(void)
{
    ot_policy *p = NULL;
    json_t *empty = json_object();
    if (empty)
        ot_policy_parse(empty, &p, NULL);
    json_decref(empty);
    return p;
}

void ot_policy_free(ot_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++) {
        ot_policy_rule *r = &p->rules[i];
        free(r->name);
        ot_action_free(&r->action);
        free(r->scenario_name);
        json_decref(r->scenario_set);
        free(r->webhook.url);
        free(r->webhook.secret);
    }
    free(p->rules);
    free(p->limits);
    free(p->updated_by);
    free(p);
}

const ot_policy_limit *ot_policy_limit_find(const ot_policy *p, const char *key)
{
    for (size_t i = 0; i < p->nlimits; i++)
        if (!strcmp(p->limits[i].key, key))
            return &p->limits[i];
    return NULL;
}

int ot_policy_forbids(const ot_policy *p, enum ot_action_type t)
{
    return (unsigned)t < OT_ACTION_NTYPES && (p->forbid & (1u << t));
}

/* --- Matching ---------------------------------------------------------------- */

static int rule_matches(const ot_policy_rule *r, const char *metric, const char *asset,
                        unsigned kind, int severity, const json_t *score)
{
    if (r->metric[0] && strcmp(r->metric, metric))
        return 0;
    if (r->asset_id[0] && (!asset || strcmp(r->asset_id, asset)))
        return 0;
    if (r->kinds && !(r->kinds & kind))
        return 0;
    if (r->has_min_severity && severity < (int)r->min_severity)
        return 0;
    if (r->has_min_score && (!json_is_number(score) || json_number_value(score) < r->min_score))
        return 0;
    return 1;
}

int ot_policy_match_rules(const ot_policy *p, const json_t *anomaly,
                          const ot_policy_rule **out, size_t max, ot_error *err)
{
    const json_t *jm = json_object_get(anomaly, "metric");
    const json_t *jk = json_object_get(anomaly, "kind");
    const json_t *js = json_object_get(anomaly, "severity");
    const json_t *ja = json_object_get(anomaly, "asset_id");
    if (!json_is_string(jm))
        return ot_error_set(err, OT_EINVAL, "$.metric", "metric: required, a string");
    unsigned kind = (unsigned)kind_bit(jk);
    if (!kind)
        return ot_error_set(err, OT_EINVAL, "$.kind",
                            "kind: required, one of drift, spike, outlier, pattern, missing");
    int sev = json_is_string(js) ? ot_policy_severity_from_name(json_string_value(js)) : -1;
    if (sev < 0)
        return ot_error_set(err, OT_EINVAL, "$.severity",
                            "severity: required, one of low, medium, high, critical");
    int n = 0;
    for (size_t i = 0; i < p->nrules; i++) {
        if (!rule_matches(&p->rules[i], json_string_value(jm),
                          json_is_string(ja) ? json_string_value(ja) : NULL, kind, sev,
                          json_object_get(anomaly, "score")))
            continue;
        if ((size_t)n < max)
            out[n] = &p->rules[i];
        n++;
    }
    return n;
}

/* --- to_json ----------------------------------------------------------------- */

json_t *ot_policy_thresholds_json(const ot_policy *p)
{
    return json_pack("{s:f, s:f, s:f}", "auto_execute", p->auto_execute, "require_approval",
                     p->require_approval, "require_analysis", p->require_analysis);
}

static json_t *when_json(const ot_policy_rule *r)
{
    json_t *w = json_object(), *k = json_array();
    int bad = !w || !k;
    for (int i = 0; !bad && i < 5; i++)
        if (r->kinds & (1u << i))
            bad = json_array_append_new(k, json_string(kinds[i]));
    if (!bad && r->kinds)
        bad = json_object_set(w, "kind", k);
    if (!bad && r->metric[0])
        bad = json_object_set_new(w, "metric", json_string(r->metric));
    if (!bad && r->asset_id[0])
        bad = json_object_set_new(w, "asset_id", json_string(r->asset_id));
    if (!bad && r->has_min_severity)
        bad = json_object_set_new(w, "min_severity", json_string(severities[r->min_severity]));
    if (!bad && r->has_min_score)
        bad = json_object_set_new(w, "min_score", json_real(r->min_score));
    json_decref(k);
    if (bad) {
        json_decref(w);
        return NULL;
    }
    return w;
}

static json_t *rule_json(const ot_policy_rule *r)
{
    json_t *o = json_pack("{s:o, s:o, s:s}", "when", when_json(r), "action",
                          ot_action_to_json(&r->action), "executor", executors[r->executor]);
    int bad = !o;
    if (!bad && r->name)
        bad = json_object_set_new(o, "name", json_string(r->name));
    if (!bad && r->scenario_name)
        bad = json_object_set_new(o, "scenario",
                                  json_pack("{s:s, s:o}", "name", r->scenario_name, "set",
                                            json_deep_copy(r->scenario_set)));
    if (!bad && r->has_webhook) {
        json_t *w = json_pack("{s:s, s:i, s:i}", "url", r->webhook.url, "timeout_ms",
                              r->webhook.timeout_ms, "retries", r->webhook.retries);
        if (w && r->webhook.secret)
            bad = json_object_set_new(w, "secret", json_string(r->webhook.secret));
        bad |= json_object_set_new(o, "webhook", w);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ot_policy_to_json(const ot_policy *p)
{
    json_t *forbid = json_array(), *limits = json_object(), *rules = json_array();
    for (int t = 0; forbid && t < OT_ACTION_NTYPES; t++)
        if ((p->forbid & (1u << t)) &&
            json_array_append_new(forbid, json_string(ot_action_type_name(t))))
            goto fail;
    for (size_t i = 0; limits && i < p->nlimits; i++) {
        const ot_policy_limit *l = &p->limits[i];
        json_t *o = json_object();
        if (!o || (l->has_min && json_object_set_new(o, "min", json_real(l->min))) ||
            (l->has_max && json_object_set_new(o, "max", json_real(l->max))) ||
            json_object_set_new(limits, l->key, o))
            goto fail;
    }
    for (size_t i = 0; rules && i < p->nrules; i++)
        if (json_array_append_new(rules, rule_json(&p->rules[i])))
            goto fail;
    json_t *doc = json_pack("{s:o, s:{s:o, s:o, s:I}, s:o}", "thresholds",
                            ot_policy_thresholds_json(p), "safety", "forbid", forbid, "limits",
                            limits, "max_actions_per_hour", p->max_actions_per_hour, "rules",
                            rules);
    int bad = !doc;
    if (!bad && p->twin_id[0])
        bad = json_object_set_new(doc, "twin_id", json_string(p->twin_id));
    if (!bad && p->has_version)
        bad = json_object_set_new(doc, "version", json_integer(p->version));
    if (!bad && p->updated_at[0])
        bad = json_object_set_new(doc, "updated_at", json_string(p->updated_at));
    if (!bad && p->updated_by)
        bad = json_object_set_new(doc, "updated_by", json_string(p->updated_by));
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
fail:
    json_decref(forbid);
    json_decref(limits);
    json_decref(rules);
    return NULL;
}
