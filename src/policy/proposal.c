/* proposal.c - see proposal.h.
 *
 * Sections: validation (the schema, field by field), creation, the state
 * machine. Each transition deep-copies the stored document, so the caller's
 * copy is never modified.
 */
#include "policy/proposal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "policy/pcheck.h"

static const char *const status_names[] = {"pending",  "approved", "modified",
                                           "rejected", "expired",  "executed"};
#define NSTATUS 6

const char *ot_proposal_status_name(enum ot_proposal_status s)
{
    return (unsigned)s < NSTATUS ? status_names[s] : "pending";
}

int ot_proposal_status_of(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "status"));
    for (int i = 0; s && i < NSTATUS; i++)
        if (!strcmp(s, status_names[i]))
            return i;
    return -1;
}

/* --- Validation -------------------------------------------------------------- */

static int bad(const char *key, const char *msg, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    return ot_error_set(err, OT_EINVAL, ot_pcheck_path(p, sizeof p, "$", key), "%s: %s", key, msg);
}

static int check_ids(const json_t *doc, ot_error *err)
{
    static const struct {
        const char *key, *prefix;
    } ids[] = {{"proposal_id", "prop"}, {"anomaly_id", "ano"}, {"sim_id", "sim"},
               {"decision_id", "dec"}, {"action_id", "act"}};
    static const char *const times[] = {"created_at", "expires_at", "decided_at"};
    static const char *const strings[] = {"proposed_by", "decided_by", "reason"};
    const json_t *v;
    char msg[96];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if ((v = json_object_get(doc, ids[i].key)) &&
            (!json_is_string(v) || !ot_pcheck_prefixed_ulid(json_string_value(v), ids[i].prefix))) {
            snprintf(msg, sizeof msg, "must be \"%s_\" followed by a ULID", ids[i].prefix);
            return bad(ids[i].key, msg, err);
        }
    for (size_t i = 0; i < 3; i++)
        if ((v = json_object_get(doc, times[i])) &&
            (!json_is_string(v) || !ot_pcheck_date_time(json_string_value(v))))
            return bad(times[i], "must be an RFC 3339 date-time", err);
    for (size_t i = 0; i < 3; i++)
        if ((v = json_object_get(doc, strings[i])) && !json_is_string(v))
            return bad(strings[i], "must be a string", err);
    if ((v = json_object_get(doc, "status")) && ot_proposal_status_of(doc) < 0)
        return bad("status", "must be pending, approved, modified, rejected, expired or executed",
                   err);
    return 0;
}

static int check_votes(const json_t *votes, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    size_t i;
    json_t *v;
    const char *s;
    int has, rc;
    double d;
    if (!json_is_array(votes) || json_array_size(votes) > 1000)
        return bad("votes", "must be an array of at most 1000 {\"agent_id\", \"recommendation\"}",
                   err);
    json_array_foreach(votes, i, v) {
        ot_pcheck_path_index(p, sizeof p, "$.votes", i);
        if (!json_is_object(v))
            return ot_error_set(err, OT_EINVAL, p,
                                "must be an object {\"agent_id\", \"recommendation\"}");
        static const char *const req[] = {"agent_id", "recommendation"};
        for (int k = 0; k < 2; k++) {
            if ((rc = ot_pcheck_opt_string(v, req[k], 1, (size_t)-1, p, &s, err)))
                return rc;
            if (!s) {
                char kp[OT_ERROR_PATH_MAX];
                return ot_error_set(err, OT_EINVAL, ot_pcheck_path(kp, sizeof kp, p, req[k]),
                                    "%s: required, a non-empty string", req[k]);
            }
        }
        if ((rc = ot_pcheck_opt_number(v, "confidence", 0, 1, p, &has, &d, err)))
            return rc;
    }
    return 0;
}

int ot_proposal_validate(const json_t *doc, ot_error *err)
{
    ot_action a;
    const json_t *v;
    const char *s;
    int rc, has;
    double d;
    if (!json_is_object(doc))
        return ot_error_set(err, OT_EINVAL, "$",
                            "a proposal must be an object {\"twin_id\", \"summary\", "
                            "\"recommended_action\", ...}");
    v = json_object_get(doc, "twin_id");
    if (!v)
        return bad("twin_id", "required, the twin the action is for", err);
    if (!json_is_string(v) || !ot_pcheck_id(json_string_value(v)))
        return bad("twin_id", "must be 1 to 128 characters of [A-Za-z0-9_.:-]", err);
    if ((rc = ot_pcheck_opt_string(doc, "summary", 1, 2000, "$", &s, err)))
        return rc;
    if (!s)
        return bad("summary", "required, 1 to 2000 characters saying what and why", err);
    if ((v = json_object_get(doc, "evidence")) &&
        (!json_is_array(v) || json_array_size(v) > 100))
        return bad("evidence", "must be an array of at most 100 items", err);
    if (!(v = json_object_get(doc, "recommended_action")))
        return bad("recommended_action", "required, an action.v1 object", err);
    if ((rc = ot_action_parse(v, "$.recommended_action", &a, err)))
        return rc;
    ot_action_free(&a);
    if ((v = json_object_get(doc, "approved_action"))) {
        if ((rc = ot_action_parse(v, "$.approved_action", &a, err)))
            return rc;
        ot_action_free(&a);
    }
    if ((rc = ot_pcheck_opt_number(doc, "confidence", 0, 1, "$", &has, &d, err)))
        return rc;
    if ((v = json_object_get(doc, "votes")) && (rc = check_votes(v, err)))
        return rc;
    return check_ids(doc, err);
}

/* --- Creation ---------------------------------------------------------------- */

static const char *const server_owned[] = {"proposal_id", "status", "proposed_by", "decided_by",
                                           "decided_at", "reason", "approved_action",
                                           "decision_id", "action_id", "created_at",
                                           "expires_at"};

int ot_proposal_create(const json_t *body, const char *proposed_by, int64_t now_us,
                       int64_t ttl_us, json_t **out, ot_error *err)
{
    char id[OT_ID_BUFSZ], created[OT_TS_BUFSZ], expires[OT_TS_BUFSZ];
    json_t *doc = NULL;
    int rc;
    *out = NULL;
    if ((rc = ot_proposal_validate(body, err)))
        return rc;
    for (size_t i = 0; i < sizeof server_owned / sizeof server_owned[0]; i++)
        if (json_object_get(body, server_owned[i]))
            return bad(server_owned[i], "set by the server; leave it out of the request", err);
    if (!proposed_by || !*proposed_by)
        return ot_error_set(err, OT_EINVAL, NULL, "a proposal needs its proposer");
    if (ttl_us <= 0)
        ttl_us = OT_PROPOSAL_DEFAULT_TTL_US;
    doc = json_deep_copy(body);
    if (!doc || json_object_set_new(doc, "proposal_id", json_string(ot_id_new("prop", id))) ||
        json_object_set_new(doc, "status", json_string("pending")) ||
        json_object_set_new(doc, "proposed_by", json_string(proposed_by)) ||
        json_object_set_new(doc, "created_at", json_string(ot_ts_format(now_us, created))) ||
        json_object_set_new(doc, "expires_at",
                            json_string(ot_ts_format(now_us + ttl_us, expires)))) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    json_decref(doc);
    return rc;
}

int ot_proposal_action(const json_t *doc, ot_action *out, ot_error *err)
{
    const json_t *a = json_object_get(doc, "approved_action");
    if (a)
        return ot_action_parse(a, "$.approved_action", out, err);
    return ot_action_parse(json_object_get(doc, "recommended_action"), "$.recommended_action",
                           out, err);
}

/* --- State machine ----------------------------------------------------------- */

int ot_proposal_is_expired(const json_t *doc, int64_t now_us)
{
    int64_t exp;
    const char *s = json_string_value(json_object_get(doc, "expires_at"));
    return ot_proposal_status_of(doc) == OT_PROPOSAL_PENDING && s && ot_ts_parse(s, &exp) == 0 &&
           now_us >= exp;
}

/* OT_ECONFLICT unless doc is pending and not past its expiry. */
static int must_be_open(const json_t *doc, int64_t now_us, ot_error *err)
{
    int st = ot_proposal_status_of(doc);
    if (st < 0)
        return ot_error_set(err, OT_EINVAL, "$.status", "the stored proposal has no valid status");
    if (st != OT_PROPOSAL_PENDING)
        return ot_error_set(err, OT_ECONFLICT, "$.status", "proposal is already %s",
                            status_names[st]);
    if (ot_proposal_is_expired(doc, now_us))
        return ot_error_set(err, OT_ECONFLICT, "$.expires_at", "proposal expired at %s",
                            json_string_value(json_object_get(doc, "expires_at")));
    return 0;
}

/* A copy of doc with status, decided_by and decided_at set. */
static int decided(const json_t *doc, enum ot_proposal_status st, const char *by, int64_t now_us,
                   json_t **out, ot_error *err)
{
    char ts[OT_TS_BUFSZ];
    json_t *d = json_deep_copy(doc);
    if (!d || json_object_set_new(d, "status", json_string(status_names[st])) ||
        (by && json_object_set_new(d, "decided_by", json_string(by))) ||
        (now_us && json_object_set_new(d, "decided_at", json_string(ot_ts_format(now_us, ts))))) {
        json_decref(d);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    *out = d;
    return 0;
}

/* The approved action: recommended_action with params merged over its
 * params; *changed when they differ. New reference in *out. */
static int merged_action(const json_t *doc, const json_t *params, json_t **out, int *changed,
                         ot_error *err)
{
    ot_action a;
    json_t *act = json_deep_copy(json_object_get(doc, "recommended_action"));
    int rc = 0;
    *changed = 0;
    if (!act)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    if (params) {
        json_t *orig = json_object_get(act, "params");
        json_t *np = orig ? json_deep_copy(orig) : json_object();
        if (!np || json_object_update(np, (json_t *)params)) {
            json_decref(np);
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
            goto out;
        }
        *changed = !orig || !json_equal(orig, np);
        if ((rc = json_object_set_new(act, "params", np) ? OT_ENOMEM : 0)) {
            ot_error_set(err, rc, NULL, "out of memory");
            goto out;
        }
    }
    if ((rc = ot_action_parse(act, "$", &a, err)))
        goto out;
    ot_action_free(&a);
out:
    if (rc)
        json_decref(act);
    else
        *out = act;
    return rc;
}

int ot_proposal_approve(const json_t *doc, const char *by, const json_t *params, int64_t now_us,
                        json_t **out, ot_error *err)
{
    json_t *act = NULL, *d = NULL;
    int changed, rc;
    *out = NULL;
    if (!by || !*by)
        return ot_error_set(err, OT_EINVAL, NULL, "an approval needs its approver");
    const char *proposer = json_string_value(json_object_get(doc, "proposed_by"));
    if (proposer && !strcmp(proposer, by))
        return ot_error_set(err, OT_EFORBIDDEN, NULL,
                            "the proposer cannot approve its own proposal; ask another "
                            "supervisor");
    if ((rc = must_be_open(doc, now_us, err)))
        return rc;
    if (params && !json_is_object(params))
        return ot_error_set(err, OT_EINVAL, "$.params",
                            "params: must be an object of parameters to change");
    if ((rc = merged_action(doc, params, &act, &changed, err)))
        return rc;
    if ((rc = decided(doc, changed ? OT_PROPOSAL_MODIFIED : OT_PROPOSAL_APPROVED, by, now_us, &d,
                      err)))
        goto out;
    if (json_object_set(d, "approved_action", act)) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    *out = d;
    d = NULL;
out:
    json_decref(act);
    json_decref(d);
    return rc;
}

static int blank(const char *s)
{
    while (s && *s && isspace((unsigned char)*s))
        s++;
    return !s || !*s;
}

int ot_proposal_reject(const json_t *doc, const char *by, const char *reason, int64_t now_us,
                       json_t **out, ot_error *err)
{
    json_t *d = NULL;
    int rc;
    *out = NULL;
    if (!by || !*by)
        return ot_error_set(err, OT_EINVAL, NULL, "a rejection needs the person rejecting");
    if (blank(reason))
        return ot_error_set(err, OT_EINVAL, "$.reason",
                            "reason: required, say why the proposal is rejected");
    if ((rc = must_be_open(doc, now_us, err)) ||
        (rc = decided(doc, OT_PROPOSAL_REJECTED, by, now_us, &d, err)))
        return rc;
    if (json_object_set_new(d, "reason", json_string(reason))) {
        json_decref(d);
        return ot_error_set(err, OT_EINVAL, "$.reason", "reason: must be valid UTF-8 text");
    }
    *out = d;
    return 0;
}

int ot_proposal_expire(const json_t *doc, int64_t now_us, json_t **out, ot_error *err)
{
    *out = NULL;
    int st = ot_proposal_status_of(doc);
    if (st != OT_PROPOSAL_PENDING)
        return ot_error_set(err, OT_ECONFLICT, "$.status", "proposal is already %s",
                            st < 0 ? "invalid" : status_names[st]);
    if (!ot_proposal_is_expired(doc, now_us))
        return ot_error_set(err, OT_ECONFLICT, "$.expires_at", "proposal is not due to expire");
    return decided(doc, OT_PROPOSAL_EXPIRED, NULL, now_us, out, err);
}

int ot_proposal_mark_executed(const json_t *doc, const char *action_id, json_t **out,
                              ot_error *err)
{
    *out = NULL;
    int st = ot_proposal_status_of(doc);
    if (!action_id || !ot_pcheck_prefixed_ulid(action_id, "act"))
        return ot_error_set(err, OT_EINVAL, "$.action_id",
                            "action_id: must be \"act_\" followed by a ULID");
    if (st == OT_PROPOSAL_PENDING)
        return ot_error_set(err, OT_ECONFLICT, "$.status", "proposal is not approved yet");
    if (st != OT_PROPOSAL_APPROVED && st != OT_PROPOSAL_MODIFIED)
        return ot_error_set(err, OT_ECONFLICT, "$.status", "proposal is already %s",
                            st < 0 ? "invalid" : status_names[st]);
    if (json_object_get(doc, "action_id"))
        return ot_error_set(err, OT_ECONFLICT, "$.action_id", "proposal is already executed");
    /* the status stays approved or modified (what the approver decided);
     * the action's own status tells how it ran */
    json_t *d = json_deep_copy(doc);
    if (!d || json_object_set_new(d, "action_id", json_string(action_id))) {
        json_decref(d);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    *out = d;
    return 0;
}
