/* executor.c - see executor.h. */
#include "action/executor.h"

#include <curl/curl.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aiw/events.h"
#include "api/app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/evtype.h"
#include "core/hex.h"
#include "core/ids.h"
#include "core/log.h"
#include "policy/decision.h"
#include "policy/engine.h"
#include "telemetry/mqtt_adapter.h"

#define RECENT_MAX 256 /* creation times kept per twin, for the hourly limit */

struct twin_hist {
    char twin[OT_STORE_ID_MAX];
    ot_outcomes outcomes;
    int64_t recent[RECENT_MAX];
    int nrecent, next;
};

struct job {
    json_t *doc;
    struct job *next;
};

struct ot_actions {
    ot_app *app;
    pthread_t thread;
    int started, stopping;
    pthread_mutex_t mu;          /* queue and histories */
    pthread_cond_t cv;
    struct job *head, *tail;
    struct twin_hist *hist;
    size_t nhist, caphist;
};

/* --- histories ----------------------------------------------------------- */

static struct twin_hist *hist_get(ot_actions *x, const char *twin)
{
    for (size_t i = 0; i < x->nhist; i++)
        if (strcmp(x->hist[i].twin, twin) == 0)
            return &x->hist[i];
    if (x->nhist == x->caphist) {
        size_t cap = x->caphist ? x->caphist * 2 : 16;
        struct twin_hist *h = realloc(x->hist, cap * sizeof *h);
        if (!h)
            return NULL;
        x->hist = h;
        x->caphist = cap;
    }
    struct twin_hist *h = &x->hist[x->nhist++];
    memset(h, 0, sizeof *h);
    snprintf(h->twin, sizeof h->twin, "%s", twin);
    ot_outcomes_init(&h->outcomes);
    return h;
}

static void note_created(ot_actions *x, const char *twin, int64_t at)
{
    pthread_mutex_lock(&x->mu);
    struct twin_hist *h = hist_get(x, twin);
    if (h) {
        h->recent[h->next] = at;
        h->next = (h->next + 1) % RECENT_MAX;
        if (h->nrecent < RECENT_MAX)
            h->nrecent++;
    }
    pthread_mutex_unlock(&x->mu);
}

static void note_outcome(ot_actions *x, const char *twin, int success)
{
    pthread_mutex_lock(&x->mu);
    struct twin_hist *h = hist_get(x, twin);
    if (h)
        ot_outcomes_add(&h->outcomes, success);
    pthread_mutex_unlock(&x->mu);
}

void ot_executor_outcomes(ot_actions *x, const char *twin, ot_outcomes *out)
{
    ot_outcomes_init(out);
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->nhist; i++)
        if (strcmp(x->hist[i].twin, twin) == 0)
            *out = x->hist[i].outcomes;
    pthread_mutex_unlock(&x->mu);
}

long long ot_executor_actions_last_hour(ot_actions *x, const char *twin)
{
    int64_t since = ot_now_us() - 3600LL * 1000000;
    long long n = 0;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->nhist; i++) {
        if (strcmp(x->hist[i].twin, twin) != 0)
            continue;
        for (int k = 0; k < x->hist[i].nrecent; k++)
            if (x->hist[i].recent[k] >= since)
                n++;
    }
    pthread_mutex_unlock(&x->mu);
    return n;
}

/* --- documents ------------------------------------------------------------- */

json_t *ot_action_doc_new(const char *twin_id, const ot_action *action, const ot_exec_target *t,
                          const char *requested_by, const char *proposal_id,
                          const char *decision_id)
{
    char id[OT_ID_BUFSZ], ts[OT_TS_BUFSZ];
    ot_id_new("act", id);
    json_t *doc = ot_action_to_json(action);
    if (!doc)
        return NULL;
    json_t *target = json_pack("{s:s}", "executor", t && t->executor ? t->executor : "state");
    if (t && t->webhook_url) {
        json_object_set_new(target, "url", json_string(t->webhook_url));
        if (t->webhook_secret)
            json_object_set_new(target, "secret", json_string(t->webhook_secret));
        json_object_set_new(target, "timeout_ms", json_integer(t->timeout_ms > 0 ? t->timeout_ms : 5000));
        json_object_set_new(target, "retries", json_integer(t->retries >= 0 ? t->retries : 2));
    }
    json_object_set_new(doc, "action_id", json_string(id));
    json_object_set_new(doc, "twin_id", json_string(twin_id));
    json_object_set_new(doc, "status", json_string("pending"));
    json_object_set_new(doc, "executor", target);
    json_object_set_new(doc, "requested_by", json_string(requested_by ? requested_by : "opstwin"));
    json_object_set_new(doc, "created_at", json_string(ot_ts_format(ot_now_us(), ts)));
    if (proposal_id)
        json_object_set_new(doc, "proposal_id", json_string(proposal_id));
    if (decision_id)
        json_object_set_new(doc, "decision_id", json_string(decision_id));
    return doc;
}

/* Store the action (status as in doc) with an event and an audit record.
 * Executor thread. */
static int save(ot_actions *x, json_t *doc, int evtype, const char *audit_action,
                ot_error *err)
{
    const char *id = json_string_value(json_object_get(doc, "action_id"));
    const char *twin = json_string_value(json_object_get(doc, "twin_id"));
    const char *status = json_string_value(json_object_get(doc, "status"));
    char *text = ot_json_dumps(doc, JSON_COMPACT);
    if (!text)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    json_t *extra = json_pack("{s:s, s:s}", "status", status, "action_type",
                              json_string_value(json_object_get(doc, "type")) ?: "");
    ot_store_doc d = {"action", id, twin, status, text};
    ot_store_event ev = {.type = evtype, .twin_id = twin, .id = id, .ref_type = "action",
                         .extra = extra};
    ot_store_audit a = {.actor = "opstwin-executor", .action = audit_action, .target = id};
    ot_store_write w = {.docs = &d, .ndocs = 1, .events = &ev, .nevents = 1, .audit = &a};
    int rc = ot_store_write_sync(x->app->store, &w);
    if (rc && err)
        *err = w.err;
    json_decref(extra);
    free(text);
    return rc;
}

/* --- targets ------------------------------------------------------------------ */

/* The set-point key an action changes, and the value it sets. */
static int state_change(const json_t *doc, char *key, size_t cap, json_t **value)
{
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *target = json_string_value(json_object_get(doc, "target"));
    json_t *params = json_object_get(doc, "params");
    if (!type || !target)
        return -1;
    if (strcmp(type, "set_parameter") == 0) {
        snprintf(key, cap, "%s.%s", target, json_string_value(json_object_get(params, "name")) ?: "value");
        *value = json_incref(json_object_get(params, "value"));
    } else if (strcmp(type, "scale") == 0) {
        snprintf(key, cap, "%s.replicas", target);
        *value = json_incref(json_object_get(params, "replicas"));
    } else if (strcmp(type, "deploy") == 0) {
        snprintf(key, cap, "%s.version", target);
        *value = json_incref(json_object_get(params, "version"));
    } else if (strcmp(type, "restart") == 0 || strcmp(type, "shutdown") == 0) {
        snprintf(key, cap, "%s.state", target);
        *value = json_string(strcmp(type, "restart") == 0 ? "restarted" : "shutdown");
    } else {
        return -1;
    }
    return *value ? 0 : -1;
}

/* Write one set-point of a twin; *previous receives the old value (or
 * null). Executor thread only, so read-modify-write is safe. */
static int set_point(ot_actions *x, const char *twin, const char *key, json_t *value,
                     json_t **previous, const char *actor, ot_error *err)
{
    char *text = ot_store_get_doc(x->app->store, "setpoints", twin, NULL);
    json_t *sp = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!sp)
        sp = json_pack("{s:s, s:{}}", "twin_id", twin, "values");
    json_t *values = json_object_get(sp, "values");
    if (previous) {
        json_t *old = json_object_get(values, key);
        *previous = old ? json_incref(old) : json_null();
    }
    if (json_is_null(value))
        json_object_del(values, key);
    else
        json_object_set(values, key, value);
    char ts[OT_TS_BUFSZ];
    json_object_set_new(sp, "updated_at", json_string(ot_ts_format(ot_now_us(), ts)));
    char *out = ot_json_dumps(sp, JSON_COMPACT);
    json_decref(sp);
    if (!out)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    ot_store_doc d = {"setpoints", twin, twin, NULL, out};
    json_t *ad = json_pack("{s:s, s:O}", "key", key, "value", value);
    ot_store_audit a = {.actor = actor, .action = "setpoint", .target = twin, .details = ad};
    ot_store_write w = {.docs = &d, .ndocs = 1, .audit = &a};
    int rc = ot_store_write_sync(x->app->store, &w);
    if (rc && err)
        *err = w.err;
    json_decref(ad);
    free(out);
    return rc;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* POST body to the webhook with its HMAC signature; retries with backoff. */
static int webhook_post(const json_t *target, const char *body, ot_error *err)
{
    const char *url = json_string_value(json_object_get(target, "url"));
    const char *secret = json_string_value(json_object_get(target, "secret"));
    long timeout = json_integer_value(json_object_get(target, "timeout_ms"));
    int retries = (int)json_integer_value(json_object_get(target, "retries"));
    if (!url)
        return ot_error_set(err, OT_EINVAL, "$.executor.url", "webhook target has no url");
    char sig[160] = "";
    if (secret) {
        unsigned char md[32];
        unsigned int n = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body,
             strlen(body), md, &n);
        strcpy(sig, "X-OpsTwin-Signature: sha256=");
        ot_hex_encode(md, n, sig + strlen(sig));
    }
    long status = 0;
    CURLcode cc = CURLE_OK;
    for (int attempt = 0; attempt <= retries; attempt++) {
        if (attempt) {
            struct timespec d = {0, (long)(100000000L << (attempt - 1 < 4 ? attempt - 1 : 4))};
            nanosleep(&d, NULL);
        }
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        if (sig[0])
            h = curl_slist_append(h, sig);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(c);
        status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (cc == CURLE_OK && status >= 200 && status < 300)
            return 0;
        if (cc == CURLE_OK && status >= 400 && status < 500 && status != 429)
            break; /* the receiver refused it: retrying will not help */
    }
    if (cc != CURLE_OK)
        return ot_error_set(err, OT_EUNAVAIL, NULL, "webhook %s: %s", url, curl_easy_strerror(cc));
    return ot_error_set(err, OT_EUNAVAIL, NULL, "webhook %s answered HTTP %ld", url, status);
}

/* Apply doc (status running) to its target. */
static int apply(ot_actions *x, json_t *doc, ot_error *err)
{
    const char *twin = json_string_value(json_object_get(doc, "twin_id"));
    json_t *target = json_object_get(doc, "executor");
    const char *kind = json_string_value(json_object_get(target, "executor"));
    if (!kind || strcmp(kind, "state") == 0) {
        char key[OT_SETPOINT_KEY_MAX];
        json_t *value = NULL, *previous = NULL;
        if (state_change(doc, key, sizeof key, &value))
            return ot_error_set(err, OT_EINVAL, "$.type", "the state executor cannot apply "
                                "this action type");
        int rc = set_point(x, twin, key, value, &previous, "opstwin-executor", err);
        if (!rc) {
            json_object_set_new(doc, "applied", json_pack("{s:s, s:o, s:o}", "key", key, "value",
                                                          value, "previous", previous));
        } else {
            json_decref(value);
            json_decref(previous);
        }
        return rc;
    }
    if (strcmp(kind, "webhook") == 0) {
        json_t *copy = json_deep_copy(doc);
        json_object_del(json_object_get(copy, "executor"), "secret");
        char *body = ot_json_dumps(copy, JSON_COMPACT);
        json_decref(copy);
        int rc = body ? webhook_post(target, body, err) : OT_ENOMEM;
        free(body);
        return rc;
    }
    if (strcmp(kind, "mqtt") == 0) {
        if (!x->app->mqtt)
            return ot_error_set(err, OT_EUNAVAIL, NULL, "the mqtt executor needs MQTT_URL (no "
                                "MQTT broker is configured)");
        json_t *copy = json_deep_copy(doc);
        json_object_del(json_object_get(copy, "executor"), "secret");
        char *body = ot_json_dumps(copy, JSON_COMPACT);
        json_decref(copy);
        int rc = body ? ot_mqtt_command(x->app->mqtt, twin,
                                        json_string_value(json_object_get(doc, "target")),
                                        json_string_value(json_object_get(doc, "action_id")),
                                        body, x->app->cfg.mqtt_ack_timeout_ms, err)
                      : OT_ENOMEM;
        free(body);
        return rc;
    }
    return ot_error_set(err, OT_EINVAL, "$.executor", "unknown executor '%s'", kind);
}

static void run(ot_actions *x, json_t *doc)
{
    char ts[OT_TS_BUFSZ];
    ot_error err;
    ot_error_clear(&err);
    const char *twin = json_string_value(json_object_get(doc, "twin_id"));
    json_object_set_new(doc, "status", json_string("running"));
    json_object_set_new(doc, "started_at", json_string(ot_ts_format(ot_now_us(), ts)));
    if (save(x, doc, OT_EV_ACTION_STARTED, "action.start", &err)) {
        ot_log(OT_LOG_ERROR, "executor: cannot record the start of an action: %s", err.message);
        return;
    }
    int rc = apply(x, doc, &err);
    json_object_set_new(doc, "status", json_string(rc ? "failed" : "success"));
    json_object_set_new(doc, "finished_at", json_string(ot_ts_format(ot_now_us(), ts)));
    if (rc)
        json_object_set_new(doc, "error", json_string(err.message));
    note_outcome(x, twin, rc == 0);
    if (save(x, doc, rc ? OT_EV_ACTION_FAILED : OT_EV_ACTION_SUCCEEDED,
             rc ? "action.fail" : "action.succeed", &err))
        ot_log(OT_LOG_ERROR, "executor: cannot record an action's outcome: %s", err.message);
}

static void *executor_main(void *arg)
{
    ot_actions *x = arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->head && !x->stopping)
            pthread_cond_wait(&x->cv, &x->mu);
        struct job *j = x->head;
        if (!j)
            break;
        x->head = j->next;
        if (!x->head)
            x->tail = NULL;
        pthread_mutex_unlock(&x->mu);
        run(x, j->doc);
        json_decref(j->doc);
        free(j);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

int ot_executor_enqueue(ot_actions *x, const json_t *action_doc, ot_error *err)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    j->doc = json_deep_copy(action_doc);
    const char *twin = json_string_value(json_object_get(j->doc, "twin_id"));
    if (twin)
        note_created(x, twin, ot_now_us());
    pthread_mutex_lock(&x->mu);
    if (x->tail)
        x->tail->next = j;
    else
        x->head = j;
    x->tail = j;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

int ot_executor_start(ot_app *app, ot_actions **out, ot_error *err)
{
    ot_actions *x = calloc(1, sizeof *x);
    if (!x)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    x->app = app;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    /* outcome histories from stored actions, oldest first */
    json_t *docs = ot_store_list_docs(app->store, "action", NULL, NULL, 100000, err);
    if (!docs) {
        free(x);
        return err->code;
    }
    int64_t hour_ago = ot_now_us() - 3600LL * 1000000;
    for (size_t i = json_array_size(docs); i-- > 0;) {
        json_t *d = json_array_get(docs, i);
        const char *twin = json_string_value(json_object_get(d, "twin_id"));
        const char *st = json_string_value(json_object_get(d, "status"));
        int64_t created = 0;
        const char *c = json_string_value(json_object_get(d, "created_at"));
        if (!twin || !st)
            continue;
        if (c && ot_ts_parse(c, &created) == 0 && created >= hour_ago)
            note_created(x, twin, created);
        if (strcmp(st, "success") == 0 || strcmp(st, "rolled_back") == 0)
            note_outcome(x, twin, 1);
        else if (strcmp(st, "failed") == 0)
            note_outcome(x, twin, 0);
        else if (strcmp(st, "pending") == 0 || strcmp(st, "running") == 0)
            ot_executor_enqueue(x, d, NULL); /* interrupted by a stop: run it now */
    }
    json_decref(docs);
    if (pthread_create(&x->thread, NULL, executor_main, x)) {
        free(x);
        return ot_error_set(err, OT_EIO, NULL, "cannot start the action executor");
    }
    pthread_setname_np(x->thread, "action-exec");
    x->started = 1;
    *out = x;
    return 0;
}

void ot_executor_stop(ot_actions *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->mu);
    x->stopping = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    if (x->started)
        pthread_join(x->thread, NULL);
    for (struct job *j = x->head, *n; j; j = n) {
        n = j->next;
        json_decref(j->doc);
        free(j);
    }
    free(x->hist);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    free(x);
}

/* --- endpoints ------------------------------------------------------------------ */

void ot_h_actions_list(ot_req *req)
{
    const char *twin, *status = ot_req_query(req, "status");
    if (ot_req_twin_query(req, &twin))
        return;
    ot_error err;
    ot_error_clear(&err);
    json_t *list = ot_store_list_docs(req->app->store, "action", twin,
                                      status && *status ? status : NULL, 500, &err);
    if (!list) {
        ot_reply_error(req, &err);
        return;
    }
    /* the webhook secret stays on the server */
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) json_object_del(json_object_get(d, "executor"), "secret");
    size_t n = json_array_size(ot_req_scope_filter(req, list));
    ot_reply_json(req, 200, json_pack("{s:o, s:I}", "actions", list, "count", (json_int_t)n));
}

static json_t *load_action(ot_req *req, const char *id)
{
    ot_error err;
    ot_error_clear(&err);
    char *text = ot_name_valid(id, 128) ? ot_store_get_doc(req->app->store, "action", id, &err)
                                        : NULL;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!doc)
        ot_reply_errorf(req, OT_ENOTFOUND, "$.action_id", "no action '%.60s'", id);
    return doc;
}

void ot_h_action_get(ot_req *req)
{
    json_t *doc = load_action(req, ot_req_param(req, "id"));
    if (!doc)
        return;
    if (!ot_req_scope_ok(req, json_string_value(json_object_get(doc, "twin_id")) ?: "")) {
        json_decref(doc);
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
        return;
    }
    json_object_del(json_object_get(doc, "executor"), "secret");
    ot_reply_json(req, 200, doc);
}

/* POST /actions {twin_id, action{...}, executor?, webhook?{url,secret,timeout_ms,retries}}:
 * an operator's direct action, still safety-checked against the policy. */
void ot_h_action_post(ot_req *req)
{
    ot_app *app = req->app;
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    ot_action act;
    ot_error err;
    ot_error_clear(&err);
    memset(&act, 0, sizeof act);
    ot_policy *policy = NULL;
    json_t *doc = NULL;
    const char *twin = json_string_value(json_object_get(body, "twin_id"));
    if (!twin || !ot_name_valid(twin, 128)) {
        ot_reply_errorf(req, OT_EINVAL, "$.twin_id", "twin_id is required (1-128 characters of "
                        "A-Z a-z 0-9 _ . : -)");
        goto out;
    }
    if (!ot_req_scope_ok(req, twin)) {
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
        goto out;
    }
    if (ot_action_parse(json_object_get(body, "action"), "$.action", &act, &err)) {
        ot_reply_error(req, &err);
        goto out;
    }
    ot_exec_target t = {.executor = json_string_value(json_object_get(body, "executor")),
                        .timeout_ms = 5000, .retries = 2};
    json_t *wh = json_object_get(body, "webhook");
    if (t.executor && strcmp(t.executor, "state") && strcmp(t.executor, "webhook") &&
        strcmp(t.executor, "mqtt")) {
        ot_reply_errorf(req, OT_EINVAL, "$.executor", "executor must be state, webhook or mqtt");
        goto out;
    }
    if (t.executor && strcmp(t.executor, "webhook") == 0) {
        t.webhook_url = json_string_value(json_object_get(wh, "url"));
        t.webhook_secret = json_string_value(json_object_get(wh, "secret"));
        if (!t.webhook_url || (strncmp(t.webhook_url, "http://", 7) &&
                               strncmp(t.webhook_url, "https://", 8))) {
            ot_reply_errorf(req, OT_EINVAL, "$.webhook.url", "a webhook executor needs an "
                            "http:// or https:// url");
            goto out;
        }
        if (json_is_integer(json_object_get(wh, "timeout_ms")))
            t.timeout_ms = (int)json_integer_value(json_object_get(wh, "timeout_ms"));
        if (json_is_integer(json_object_get(wh, "retries")))
            t.retries = (int)json_integer_value(json_object_get(wh, "retries"));
    }
    policy = ot_engine_policy_for(app, twin, &err);
    if (!policy) {
        ot_reply_error(req, &err);
        goto out;
    }
    ot_safety safety;
    ot_safety_check(policy, &act, ot_executor_actions_last_hour(app->executor, twin), &safety);
    if (!safety.ok) {
        json_t *details = json_array();
        for (size_t i = 0; i < safety.nviolations; i++)
            json_array_append_new(details, json_pack("{s:s, s:s}", "path", "$.action", "message",
                                                     safety.violations[i]));
        ot_reply_error_details(req, OT_ECONFLICT, "the action violates the twin's safety policy",
                               details);
        goto out;
    }
    doc = ot_action_doc_new(twin, &act, &t, ot_req_actor(req), NULL, NULL);
    char *text = doc ? ot_json_dumps(doc, JSON_COMPACT) : NULL;
    const char *id = json_string_value(json_object_get(doc, "action_id"));
    ot_store_doc d = {"action", id, twin, "pending", text};
    ot_store_write w = {.docs = &d, .ndocs = 1};
    ot_req_audit(req, &w, id);
    int rc = text ? ot_store_write_sync(app->store, &w) : OT_ENOMEM;
    free(text);
    if (rc) {
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "could not store the action: %s", w.err.message);
        goto out;
    }
    ot_executor_enqueue(app->executor, doc, NULL);
    json_object_del(json_object_get(doc, "executor"), "secret");
    ot_reply_json(req, 202, json_incref(doc));
out:
    json_decref(doc);
    ot_policy_free(policy);
    ot_action_free(&act);
    json_decref(body);
}

/* POST /rollback/{action_id}: restore what a successful action changed. */
void ot_h_rollback(ot_req *req)
{
    ot_app *app = req->app;
    ot_actions *x = app->executor;
    const char *id = ot_req_param(req, "action_id");
    json_t *doc = load_action(req, id);
    if (!doc)
        return;
    ot_error err;
    ot_error_clear(&err);
    const char *twin = json_string_value(json_object_get(doc, "twin_id"));
    const char *st = json_string_value(json_object_get(doc, "status"));
    json_t *applied = json_object_get(doc, "applied");
    json_t *target = json_object_get(doc, "executor");
    const char *kind = json_string_value(json_object_get(target, "executor"));
    if (!twin || !ot_req_scope_ok(req, twin)) {
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
        goto out;
    }
    if (!st || strcmp(st, "success") != 0) {
        ot_reply_errorf(req, OT_ECONFLICT, "$.status", "only a successful action can be rolled "
                        "back; this one is %s", st ? st : "unknown");
        goto out;
    }
    /* one rollback at a time per server: the executor lock orders them */
    pthread_mutex_lock(&x->mu);
    int rc;
    if (kind && strcmp(kind, "webhook") == 0) {
        json_t *msg = json_pack("{s:s, s:s, s:s}", "type", "rollback", "action_id", id, "twin_id",
                                twin);
        char *body = ot_json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
        rc = body ? webhook_post(target, body, &err) : OT_ENOMEM;
        free(body);
    } else if (applied && json_object_get(applied, "key")) {
        rc = set_point(x, twin, json_string_value(json_object_get(applied, "key")),
                       json_object_get(applied, "previous"), NULL, ot_req_actor(req), &err);
    } else {
        rc = ot_error_set(&err, OT_ECONFLICT, NULL, "this action changed nothing that can be "
                          "restored");
    }
    pthread_mutex_unlock(&x->mu);
    if (rc) {
        ot_reply_error(req, &err);
        goto out;
    }
    char ts[OT_TS_BUFSZ];
    json_object_set_new(doc, "status", json_string("rolled_back"));
    json_object_set_new(doc, "rolled_back_at", json_string(ot_ts_format(ot_now_us(), ts)));
    json_object_set_new(doc, "rolled_back_by", json_string(ot_req_actor(req)));
    char *text = ot_json_dumps(doc, JSON_COMPACT);
    ot_store_doc d = {"action", id, twin, "rolled_back", text};
    ot_store_event ev = {.type = OT_EV_ACTION_ROLLED_BACK, .twin_id = twin, .id = id,
                         .ref_type = "action"};
    ot_store_write w = {.docs = &d, .ndocs = 1, .events = &ev, .nevents = 1};
    ot_req_audit(req, &w, id);
    rc = text ? ot_store_write_sync(app->store, &w) : OT_ENOMEM;
    free(text);
    if (rc) {
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "rolled back, but could not record it: %s",
                        w.err.message);
        goto out;
    }
    json_object_del(json_object_get(doc, "executor"), "secret");
    ot_reply_json(req, 200, json_incref(doc));
out:
    json_decref(doc);
}
