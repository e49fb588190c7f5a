/* action.c - see action.h. */
#include "policy/action.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[OT_ACTION_NTYPES] = {
    "set_parameter", "restart", "scale", "deploy", "rollback", "shutdown"};

#define TYPE_LIST "set_parameter, restart, scale, deploy, rollback, shutdown"

const char *ot_action_type_name(enum ot_action_type t)
{
    return (unsigned)t < OT_ACTION_NTYPES ? type_names[t] : NULL;
}

int ot_action_type_from_name(const char *s)
{
    for (int i = 0; s && i < OT_ACTION_NTYPES; i++)
        if (!strcmp(s, type_names[i]))
            return i;
    return -1;
}

/* --- Stored fields --------------------------------------------------------- */

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

/* The members a stored action adds: checked as the schema says, not kept. */
static int check_stored(const json_t *doc, const char *base, ot_error *err)
{
    static const char *const statuses[] = {"pending", "running", "succeeded", "failed",
                                           "cancelled", "rolled_back", NULL};
    static const char *const executors[] = {"state", "mqtt", "webhook", NULL};
    char p[OT_ERROR_PATH_MAX];
    const json_t *v;
    if ((v = json_object_get(doc, "twin_id")) &&
        (!json_is_string(v) || !ot_pcheck_id(json_string_value(v))))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, "twin_id"),
                            "twin_id: must be 1 to 128 characters of [A-Za-z0-9_.:-], "
                            "starting with a letter or digit");
    if ((v = json_object_get(doc, "action_id")) &&
        (!json_is_string(v) || !ot_pcheck_prefixed_ulid(json_string_value(v), "act")))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, "action_id"),
                            "action_id: must be \"act_\" followed by a ULID");
    if ((v = json_object_get(doc, "status")) &&
        (!json_is_string(v) || !in_list(json_string_value(v), statuses)))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, "status"),
                            "status: must be one of pending, running, succeeded, failed, "
                            "cancelled, rolled_back");
    if ((v = json_object_get(doc, "executor")) &&
        (!json_is_string(v) || !in_list(json_string_value(v), executors)))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, "executor"),
                            "executor: must be one of state, mqtt, webhook");
    if ((v = json_object_get(doc, "reason")) && !json_is_string(v))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, "reason"),
                            "reason: must be a string");
    if ((v = json_object_get(doc, "emergency")) && !json_is_boolean(v))
        return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, base, "emergency"),
                            "emergency: must be true or false");
    return 0;
}

/* --- Per-type params ------------------------------------------------------- */

/* params member key, required: OT_EINVAL at base.params.key saying `want`
 * when missing. */
static const json_t *need(const json_t *params, const char *key, const char *pbase,
                          const char *want, ot_error *err)
{
    const json_t *v = json_object_get(params, key);
    if (!v) {
        char p[OT_ERROR_PATH_MAX];
        ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, pbase, key),
                     "%s: required for this action type (%s)", key, want);
    }
    return v;
}

static int bad(const char *pbase, const char *key, const char *msg, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, pbase, key), "%s: %s", key,
                        msg);
}

static int check_params(ot_action *a, const char *pbase, ot_error *err)
{
    const json_t *v, *pr = a->params;
    switch (a->type) {
    case OT_ACTION_SET_PARAMETER:
        if (!(v = need(pr, "name", pbase, "the parameter to set, e.g. \"setpoint\"", err)))
            return OT_EINVAL;
        if (!json_is_string(v) || !ot_pcheck_name(json_string_value(v)))
            return bad(pbase, "name", "must be a parameter name: 1 to 128 characters of "
                                      "[A-Za-z0-9_.:/-], not starting with '.', ':', '/' or '-'",
                       err);
        strcpy(a->name, json_string_value(v));
        if (!(v = need(pr, "value", pbase, "the number to set it to", err)))
            return OT_EINVAL;
        if (!json_is_number(v))
            return bad(pbase, "value", "must be a number", err);
        a->value = json_number_value(v);
        return 0;
    case OT_ACTION_SCALE:
        if (!(v = need(pr, "replicas", pbase, "the number of replicas", err)))
            return OT_EINVAL;
        if (!ot_pcheck_integer(v, &a->replicas) || a->replicas < 0)
            return bad(pbase, "replicas", "must be an integer >= 0", err);
        return 0;
    case OT_ACTION_DEPLOY:
        if (!(v = need(pr, "version", pbase, "the version to deploy", err)))
            return OT_EINVAL;
        if (!json_is_string(v) || json_string_length(v) == 0)
            return bad(pbase, "version", "must be a non-empty string", err);
        return 0;
    case OT_ACTION_ROLLBACK:
        if (!(v = need(pr, "action_id", pbase, "the id of the action to undo", err)))
            return OT_EINVAL;
        if (!json_is_string(v) || !ot_pcheck_prefixed_ulid(json_string_value(v), "act"))
            return bad(pbase, "action_id", "must be an action id: \"act_\" followed by a ULID",
                       err);
        return 0;
    case OT_ACTION_SHUTDOWN:
        if ((v = json_object_get(pr, "reason")) && !json_is_string(v))
            return bad(pbase, "reason", "must be a string", err);
        return 0;
    default:
        return 0;
    }
}

/* --- Parse ------------------------------------------------------------------ */

int ot_action_parse(const json_t *doc, const char *base, ot_action *out, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX], pbase[OT_ERROR_PATH_MAX];
    int rc;
    memset(out, 0, sizeof *out);
    if (!base)
        base = "$";
    if (!json_is_object(doc))
        return ot_error_set(err, OT_EINVAL, base,
                            "must be an action object {\"type\", \"target\", \"params\"}");
    const json_t *jt = json_object_get(doc, "type");
    ot_pcheck_path(p, sizeof p, base, "type");
    if (!jt)
        return ot_error_set(err, OT_EINVAL, p, "type: required, one of " TYPE_LIST);
    int t = json_is_string(jt) ? ot_action_type_from_name(json_string_value(jt)) : -1;
    if (t < 0)
        return ot_error_set(err, OT_EINVAL, p, "type: must be one of " TYPE_LIST);
    out->type = (enum ot_action_type)t;

    const json_t *jg = json_object_get(doc, "target");
    ot_pcheck_path(p, sizeof p, base, "target");
    if (!jg)
        return ot_error_set(err, OT_EINVAL, p, "target: required, the asset or service acted on");
    if (!json_is_string(jg) || !ot_pcheck_id(json_string_value(jg)))
        return ot_error_set(err, OT_EINVAL, p,
                            "target: must be 1 to 128 characters of [A-Za-z0-9_.:-], starting "
                            "with a letter or digit");
    strcpy(out->target, json_string_value(jg));
    if ((rc = check_stored(doc, base, err)))
        goto out;
    out->emergency = json_is_true(json_object_get(doc, "emergency"));

    const json_t *jp = json_object_get(doc, "params");
    ot_pcheck_path(pbase, sizeof pbase, base, "params");
    if (jp && !json_is_object(jp)) {
        rc = ot_error_set(err, OT_EINVAL, pbase, "params: must be an object");
        goto out;
    }
    int required = out->type == OT_ACTION_SET_PARAMETER || out->type == OT_ACTION_SCALE ||
                   out->type == OT_ACTION_DEPLOY || out->type == OT_ACTION_ROLLBACK;
    if (!jp && required) {
        rc = ot_error_set(err, OT_EINVAL, pbase, "params: required for a %s action",
                          type_names[t]);
        goto out;
    }
    out->params = jp ? json_deep_copy(jp) : json_object();
    if (!out->params) {
        rc = ot_error_set(err, OT_ENOMEM, base, "out of memory");
        goto out;
    }
    rc = check_params(out, pbase, err);
out:
    if (rc)
        ot_action_free(out);
    return rc;
}

void ot_action_free(ot_action *a)
{
    if (!a)
        return;
    json_decref(a->params);
    a->params = NULL;
}

int ot_action_copy(ot_action *dst, const ot_action *src, ot_error *err)
{
    *dst = *src;
    dst->params = src->params ? json_deep_copy(src->params) : json_object();
    if (!dst->params)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    return 0;
}

int ot_action_setpoint_key(const ot_action *a, char *buf, size_t cap)
{
    if (a->type != OT_ACTION_SET_PARAMETER)
        return OT_EINVAL;
    int n = snprintf(buf, cap, "%s.%s", a->target, a->name);
    return n < 0 || (size_t)n >= cap ? OT_EINVAL : 0;
}

json_t *ot_action_to_json(const ot_action *a)
{
    json_t *params = a->params ? json_deep_copy(a->params) : json_object();
    json_t *o = json_pack("{s:s, s:s, s:o}", "type", type_names[a->type], "target", a->target,
                          "params", params);
    if (o && a->emergency && json_object_set_new(o, "emergency", json_true())) {
        json_decref(o);
        return NULL;
    }
    return o;
}
