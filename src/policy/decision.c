/* decision.c - see decision.h. */
#include "policy/decision.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"

static const char *const kind_names[] = {"auto_execute", "require_approval", "require_analysis",
                                         "reject"};

/* Tolerance for threshold comparisons: the score is rounded to 1e-6. */
#define EPS 1e-9

const char *ot_decision_name(enum ot_decision_kind k)
{
    return (unsigned)k < 4 ? kind_names[k] : "reject";
}

/* --- Safety ------------------------------------------------------------------ */

static void violate(ot_safety *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violate(ot_safety *s, const char *fmt, ...)
{
    va_list ap;
    s->ok = 0;
    if (s->nviolations == OT_SAFETY_MAX_VIOLATIONS)
        return;
    va_start(ap, fmt);
    vsnprintf(s->violations[s->nviolations++], OT_SAFETY_MSG_MAX, fmt, ap);
    va_end(ap);
}

int ot_safety_check(const ot_policy *policy, const ot_action *a, long long actions_last_hour,
                    ot_safety *out)
{
    char key[OT_SETPOINT_KEY_MAX];
    memset(out, 0, sizeof *out);
    out->ok = 1;
    if (ot_policy_forbids(policy, a->type))
        violate(out, "forbidden by policy: %s", ot_action_type_name(a->type));
    if (a->type == OT_ACTION_SET_PARAMETER && ot_action_setpoint_key(a, key, sizeof key) == 0) {
        const ot_policy_limit *l = ot_policy_limit_find(policy, key);
        if (l && l->has_min && a->value < l->min)
            violate(out, "%s = %g is below the minimum %g", key, a->value, l->min);
        else if (l && l->has_max && a->value > l->max)
            violate(out, "%s = %g is above the maximum %g", key, a->value, l->max);
    }
    if (a->type == OT_ACTION_SHUTDOWN && !a->emergency)
        violate(out, "non-emergency shutdown forbidden (set \"emergency\": true for an emergency)");
    if (actions_last_hour >= policy->max_actions_per_hour)
        violate(out, "rate limit: %lld actions in the last hour (max %lld)", actions_last_hour,
                (long long)policy->max_actions_per_hour);
    return out->ok;
}

/* --- Thresholds -------------------------------------------------------------- */

enum ot_decision_kind ot_decision_classify(const ot_policy *p, double score,
                                           const ot_safety *safety)
{
    if (safety && !safety->ok)
        return OT_DECIDE_REJECT;
    if (score + EPS >= p->auto_execute)
        return OT_DECIDE_AUTO_EXECUTE;
    if (score + EPS >= p->require_approval)
        return OT_DECIDE_REQUIRE_APPROVAL;
    if (score + EPS >= p->require_analysis)
        return OT_DECIDE_REQUIRE_ANALYSIS;
    return OT_DECIDE_REJECT;
}

/* Why this decision, appended to the score's reasoning. */
static void explain(char *buf, size_t cap, const ot_policy *p, double score,
                    enum ot_decision_kind k, const ot_safety *s)
{
    size_t n = 0;
    if (!s->ok) {
        n += (size_t)snprintf(buf, cap, ". Rejected by safety constraints: ");
        for (size_t i = 0; i < s->nviolations && n < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "; " : "", s->violations[i]);
        if (n < cap)
            snprintf(buf + n, cap - n, ".");
        return;
    }
    switch (k) {
    case OT_DECIDE_AUTO_EXECUTE:
        snprintf(buf, cap, ". Safety checks passed; %.3f >= auto_execute %.2f: executing "
                           "automatically.", score, p->auto_execute);
        break;
    case OT_DECIDE_REQUIRE_APPROVAL:
        snprintf(buf, cap, ". Safety checks passed; %.3f is below auto_execute %.2f but >= "
                           "require_approval %.2f: a human must approve.",
                 score, p->auto_execute, p->require_approval);
        break;
    case OT_DECIDE_REQUIRE_ANALYSIS:
        snprintf(buf, cap, ". Safety checks passed; %.3f is below require_approval %.2f but >= "
                           "require_analysis %.2f: recorded for analysis, nothing executed "
                           "(more evidence, e.g. a simulation, can raise it).",
                 score, p->require_approval, p->require_analysis);
        break;
    default:
        snprintf(buf, cap, ". Safety checks passed; %.3f is below require_analysis %.2f: "
                           "rejected as too uncertain.", score, p->require_analysis);
    }
}

/* --- The document ------------------------------------------------------------ */

static json_t *safety_json(const ot_safety *s)
{
    json_t *v = json_array();
    for (size_t i = 0; v && i < s->nviolations; i++)
        if (json_array_append_new(v, json_string(s->violations[i]))) {
            json_decref(v);
            return NULL;
        }
    return json_pack("{s:b, s:o}", "ok", s->ok, "violations", v);
}

static int set_opt(json_t *o, const char *key, const char *val)
{
    return val ? json_object_set_new(o, key, json_string(val)) : 0;
}

int ot_decide(const ot_decision_input *in, enum ot_decision_kind *kind, json_t **out,
              ot_error *err)
{
    char id[OT_ID_BUFSZ], ts[OT_TS_BUFSZ], why[OT_CONF_REASONING_MAX + 1024];
    ot_policy *owned = NULL;
    ot_safety safety;
    json_t *doc = NULL;
    int rc = 0;
    *out = NULL;
    if (!in->twin_id || !in->action || !in->confidence)
        return ot_error_set(err, OT_EINVAL, NULL, "a decision needs a twin, an action and a score");
    const ot_policy *p = in->policy;
    if (!p && !(p = owned = ot_policy_default())) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    const ot_confidence *c = in->confidence;
    ot_safety_check(p, in->action, in->actions_last_hour, &safety);
    enum ot_decision_kind k = ot_decision_classify(p, c->score, &safety);
    size_t n = (size_t)snprintf(why, sizeof why, "%s", c->reasoning);
    explain(why + n, sizeof why - n, p, c->score, k, &safety);

    doc = json_pack("{s:s, s:s, s:s, s:f, s:o, s:o, s:s, s:o, s:o, s:o, s:s}", "decision_id",
                    ot_id_new("dec", id), "twin_id", in->twin_id, "decision", kind_names[k],
                    "confidence", c->score, "components", ot_confidence_components_json(c),
                    "weights", ot_confidence_weights_json(), "reasoning", why, "safety",
                    safety_json(&safety), "action", ot_action_to_json(in->action), "thresholds",
                    ot_policy_thresholds_json(p), "created_at", ot_ts_format(in->now_us, ts));
    if (!doc || (c->has_client_confidence &&
                 json_object_set_new(doc, "client_confidence", json_real(c->client_confidence))) ||
        set_opt(doc, "proposal_id", in->proposal_id) || set_opt(doc, "anomaly_id", in->anomaly_id) ||
        set_opt(doc, "sim_id", in->sim_id)) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (kind)
        *kind = k;
    *out = doc;
    doc = NULL;
out:
    json_decref(doc);
    ot_policy_free(owned);
    return rc;
}
