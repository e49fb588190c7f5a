/* service.c - see service.h. */
#include "sim/service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "api/app.h"
#include "api/twin_doc.h"
#include "core/buf.h"
#include "core/evtype.h"
#include "core/log.h"
#include "sim/coupler.h"
#include "sim/model.h"
#include "sim/montecarlo.h"
#include "store/redis.h"
#include "store/store.h"

#define SIM_QUEUE_MAX 64
#define SIM_CACHE_SLOTS 256
#define SIM_TIME_LIMIT_MS 120000

struct job {
    json_t *body;                 /* the request */
    char actor[OT_AUTH_SUB_MAX];  /* who asked, for the audit chain */
    char anomaly_id[64];
    ot_req *req;                  /* HTTP caller, or NULL */
    void (*done)(void *ctx, const json_t *result, const ot_error *err);
    void *ctx;
    /* results */
    json_t *result;
    ot_error err;
    struct job *next;
};

struct cache_slot {
    char *key;                    /* canonical request + model */
    char *result;                 /* result JSON text */
};

struct ot_sim_service {
    ot_app *app;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    int queued, stopping;
    atomic_int cancel;            /* set at stop: running and queued runs end now */
    pthread_mutex_t cache_mu;
    struct cache_slot cache[SIM_CACHE_SLOTS];
    unsigned cache_next;
};

/* --- lookups for telemetry / setpoint parameters --------------------------- */

static int lookup_telemetry(void *ctx, const char *twin, const char *asset, const char *metric,
                            double *value)
{
    ot_app *app = ctx;
    ot_error err;
    json_t *latest = ot_store_latest(app->store, ot_store_last_cursor(app->store), twin, &err);
    if (!latest)
        return err.code;
    json_t *v = json_object_get(
        json_object_get(json_object_get(json_object_get(latest, twin), asset), metric), "value");
    int rc = json_is_number(v) ? (*value = json_number_value(v), 0) : OT_ENOTFOUND;
    json_decref(latest);
    return rc;
}

static int lookup_setpoint(void *ctx, const char *twin, const char *key, double *value)
{
    ot_app *app = ctx;
    char *doc = ot_store_get_doc(app->store, "setpoints", twin, NULL);
    if (!doc)
        return OT_ENOTFOUND;
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    json_t *v = json_object_get(json_object_get(j, "values"), key);
    int rc = json_is_number(v) ? (*value = json_number_value(v), 0) : OT_ENOTFOUND;
    json_decref(j);
    return rc;
}

/* The model a request runs on: inline, the twin's, or the default. The
 * model's canonical text goes into the cache key. */
static int model_for(ot_app *app, const ot_sim_request *rq, ot_sim_model **owned,
                     const ot_sim_model **m, char **model_text, ot_error *err)
{
    *owned = NULL;
    *model_text = NULL;
    if (rq->model) {
        *m = rq->model;
    } else {
        char *doc = rq->twin_id[0] ? ot_store_get_doc(app->store, "model", rq->twin_id, NULL) : NULL;
        json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
        free(doc);
        int rc = j ? ot_sim_model_parse(json_object_get(j, "model"), "$.model", owned, err)
                   : ot_sim_model_default(owned, err);
        json_decref(j);
        if (rc)
            return rc;
        *m = *owned;
    }
    json_t *mj = ot_sim_model_to_json(*m);
    *model_text = mj ? ot_json_dumps(mj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(mj);
    return 0;
}

static char *cache_get(ot_sim_service *s, const char *key)
{
    char *out = NULL;
    pthread_mutex_lock(&s->cache_mu);
    for (int i = 0; i < SIM_CACHE_SLOTS; i++)
        if (s->cache[i].key && strcmp(s->cache[i].key, key) == 0) {
            out = strdup(s->cache[i].result);
            break;
        }
    pthread_mutex_unlock(&s->cache_mu);
    return out;
}

static void cache_put(ot_sim_service *s, const char *key, const char *result)
{
    char *k = strdup(key), *r = strdup(result);
    if (!k || !r) {
        free(k);
        free(r);
        return;
    }
    pthread_mutex_lock(&s->cache_mu);
    struct cache_slot *slot = &s->cache[s->cache_next++ % SIM_CACHE_SLOTS];
    free(slot->key);
    free(slot->result);
    slot->key = k;
    slot->result = r;
    pthread_mutex_unlock(&s->cache_mu);
}

static void live_input(ot_app *app, const char *twin, const char *name, const ot_dist *d,
                       ot_buf *out)
{
    if (!ot_dist_is_binding(d))
        return;
    double v;
    int rc = d->kind == OT_DIST_TELEMETRY
                 ? lookup_telemetry(app, twin, d->asset_id, d->metric, &v)
                 : lookup_setpoint(app, twin, d->key, &v);
    if (rc)
        ot_buf_printf(out, "|%s=?", name);
    else
        ot_buf_printf(out, "|%s=%.17g", name, v);
}

/* The live values a run binds (telemetry and set-point parameters of the
 * model and of the request's overrides), as text for the cache key: a
 * seeded result is only reproducible for the same inputs. Caller frees;
 * NULL on out of memory. */
static char *live_inputs(ot_app *app, const ot_sim_model *m, const ot_sim_request *rq)
{
    ot_buf b;
    ot_buf_init(&b);
    ot_buf_puts(&b, "live");
    for (size_t i = 0; i < m->nparams; i++)
        live_input(app, rq->twin_id, m->params[i].name, &m->params[i].dist, &b);
    for (size_t i = 0; i < rq->noverrides; i++)
        live_input(app, rq->twin_id, rq->overrides[i].name, &rq->overrides[i].dist, &b);
    if (ot_buf_failed(&b)) {
        ot_buf_free(&b);
        return NULL;
    }
    return ot_buf_steal(&b, NULL);
}

/* A result from the shared (Redis) cache: keep it in the local cache, and
 * store its document when this server has not (another instance, or a new
 * data folder, ran it) so GET /r/sim/{id} finds it. No event: nothing ran. */
static void adopt_shared(ot_sim_service *s, const char *key, const char *text)
{
    cache_put(s, key, text);
    json_t *doc = json_loads(text, 0, NULL);
    const char *sim_id = json_string_value(json_object_get(doc, "sim_id"));
    const char *twin = json_string_value(json_object_get(doc, "twin_id"));
    char *have = sim_id ? ot_store_get_doc(s->app->store, "sim", sim_id, NULL) : NULL;
    if (sim_id && !have) {
        ot_store_doc sd = {"sim", sim_id, twin ? twin : "", NULL, text};
        ot_store_write w = {.docs = &sd, .ndocs = 1};
        if (ot_store_write_sync(s->app->store, &w))
            ot_log(OT_LOG_WARNING, "sim %s from the Redis cache could not be stored: %s", sim_id,
                   w.err.message);
    }
    free(have);
    json_decref(doc);
}

/* Run one job on the worker thread: simulate, store, emit. */
static void run_job(ot_sim_service *s, struct job *j)
{
    ot_app *app = s->app;
    ot_sim_request rq;
    ot_sim_model *owned = NULL;
    const ot_sim_model *m = NULL;
    ot_sim_result *res = NULL;
    char *model_text = NULL, *key = NULL, *text = NULL;
    ot_error_clear(&j->err);
    if (ot_sim_request_parse(j->body, &rq, &j->err))
        return;
    if (model_for(app, &rq, &owned, &m, &model_text, &j->err))
        goto out;
    if (rq.has_seed && model_text) {
        char *req_text = ot_json_dumps(j->body, JSON_COMPACT | JSON_SORT_KEYS);
        char *live = live_inputs(app, m, &rq);
        if (req_text && live &&
            asprintf(&key, "%s|%s|%s|%s", req_text, model_text, j->anomaly_id, live) < 0)
            key = NULL;
        free(req_text);
        free(live);
        char *hit = key ? cache_get(s, key) : NULL;
        if (!hit && key && app->redis && (hit = ot_redis_sim_get(app->redis, key)))
            adopt_shared(s, key, hit);
        if (hit) {
            j->result = json_loads(hit, 0, NULL);
            json_object_set_new(j->result, "cached", json_true());
            free(hit);
            goto out;
        }
    }
    ot_sim_lookup lookup = {lookup_telemetry, lookup_setpoint, app};
    ot_sim_options opt = {.threads = 0, .time_limit_ms = SIM_TIME_LIMIT_MS, .lookup = &lookup,
                          .cancel = &s->cancel};
    if (ot_sim_coupler_run(m, &rq, NULL, &opt, &res, &j->err))
        goto out;
    json_t *doc = ot_sim_result_to_json(res);
    if (!doc) {
        ot_error_set(&j->err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (j->anomaly_id[0])
        json_object_set_new(doc, "anomaly_id", json_string(j->anomaly_id));
    text = ot_json_dumps(doc, JSON_COMPACT);
    const char *sim_id = json_string_value(json_object_get(doc, "sim_id"));
    json_t *extra = json_pack("{s:s, s:b}", "engine",
                              json_string_value(json_object_get(doc, "engine")) ?: "classical",
                              "converged", json_is_true(json_object_get(doc, "converged")));
    if (j->anomaly_id[0])
        json_object_set_new(extra, "anomaly_id", json_string(j->anomaly_id));
    ot_store_doc sd = {"sim", sim_id, rq.twin_id, NULL, text};
    ot_store_event ev = {.type = OT_EV_SIMULATION_COMPLETED, .twin_id = rq.twin_id,
                         .id = sim_id, .ref_type = "sim", .extra = extra};
    json_t *ad = json_pack("{s:s, s:s}", "sim_id", sim_id ? sim_id : "", "anomaly_id",
                           j->anomaly_id);
    ot_store_audit audit = {.actor = j->actor[0] ? j->actor : "opstwin", .action = "sim.run",
                            .target = rq.twin_id, .details = ad};
    ot_store_write w = {.docs = &sd, .ndocs = 1, .events = &ev, .nevents = 1, .audit = &audit};
    int rc = text && sim_id ? ot_store_write_sync(app->store, &w) : OT_ENOMEM;
    json_decref(extra);
    json_decref(ad);
    if (rc) {
        ot_error_set(&j->err, OT_EUNAVAIL, NULL, "the simulation ran but could not be stored: %s",
                     w.err.message);
        json_decref(doc);
        goto out;
    }
    if (key) {
        cache_put(s, key, text);
        ot_redis_sim_put(app->redis, key, text); /* NULL redis: nothing */
    }
    j->result = doc;
out:
    if (j->err.code == OT_OK && !j->result)
        ot_error_set(&j->err, OT_EINTERNAL, NULL, "simulation produced no result");
    ot_sim_result_free(res);
    ot_sim_model_free(owned);
    ot_sim_request_free(&rq);
    free(model_text);
    free(key);
    free(text);
}

static void job_free(struct job *j)
{
    json_decref(j->body);
    json_decref(j->result);
    free(j);
}

static void *worker_main(void *arg)
{
    ot_sim_service *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head)
            break;
        struct job *j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        pthread_mutex_unlock(&s->mu);
        run_job(s, j);
        if (j->done)
            j->done(j->ctx, j->result, j->result ? NULL : &j->err);
        if (j->req)
            ot_req_complete(j->req); /* the reply reads j, then frees it */
        else
            job_free(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int ot_sim_service_start(ot_app *app, ot_sim_service **out, ot_error *err)
{
    ot_sim_service *s = calloc(1, sizeof *s);
    if (!s)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    s->app = app;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->cache_mu, NULL);
    if (pthread_create(&s->thread, NULL, worker_main, s)) {
        free(s);
        return ot_error_set(err, OT_EIO, NULL, "cannot start the simulation worker");
    }
    pthread_setname_np(s->thread, "sim-worker");
    s->started = 1;
    *out = s;
    return 0;
}

void ot_sim_service_stop(ot_sim_service *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    atomic_store(&s->cancel, 1); /* a shutdown does not wait for long simulations */
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    for (int i = 0; i < SIM_CACHE_SLOTS; i++) {
        free(s->cache[i].key);
        free(s->cache[i].result);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->cache_mu);
    free(s);
}

static int enqueue(ot_sim_service *s, struct job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->queued >= SIM_QUEUE_MAX) {
        int rc = s->stopping ? OT_EUNAVAIL : OT_EBUSY;
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int ot_sim_service_submit(ot_sim_service *s, const json_t *body, const char *anomaly_id,
                          void (*done)(void *ctx, const json_t *result, const ot_error *err),
                          void *ctx, ot_error *err)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    j->body = json_deep_copy(body);
    snprintf(j->anomaly_id, sizeof j->anomaly_id, "%s", anomaly_id ? anomaly_id : "");
    j->done = done;
    j->ctx = ctx;
    int rc = j->body ? enqueue(s, j) : OT_ENOMEM;
    if (rc) {
        job_free(j);
        return ot_error_set(err, rc, NULL, "the simulation queue is full; retry later");
    }
    return 0;
}

json_t *ot_sim_service_engines(void) { return ot_sim_coupler_engines_json(NULL); }

/* --- endpoints ------------------------------------------------------------ */

static void sim_reply(ot_req *req)
{
    struct job *j = req->defer_ctx;
    if (j->result)
        ot_reply_json(req, 200, json_incref(j->result));
    else
        ot_reply_error(req, &j->err);
    job_free(j);
}

void ot_h_sim_run(ot_req *req)
{
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    /* parse now so bad input is a 400 without queueing */
    ot_sim_request rq;
    ot_error err;
    ot_error_clear(&err);
    if (ot_sim_request_parse(body, &rq, &err)) {
        json_decref(body);
        ot_reply_error(req, &err);
        return;
    }
    int in_scope = ot_req_scope_ok(req, rq.twin_id);
    ot_sim_request_free(&rq);
    if (!in_scope) {
        json_decref(body);
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(body);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    j->body = body;
    j->req = req;
    snprintf(j->actor, sizeof j->actor, "%s", ot_req_actor(req));
    ot_req_defer(req, sim_reply, j);
    int rc = enqueue(req->app->sim, j);
    if (rc) {
        ot_req_undefer(req);
        job_free(j);
        ot_reply_errorf(req, rc, NULL, "%s", rc == OT_EBUSY ? "too many simulations queued; "
                        "retry later" : "the simulation service is stopping");
    }
}

void ot_h_model_get(ot_req *req)
{
    const char *twin = ot_req_param(req, "twin_id");
    if (!ot_name_valid(twin, 128)) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.twin_id", "no twin '%.60s'", twin);
        return;
    }
    char *doc = ot_store_get_doc(req->app->store, "model", twin, NULL);
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    if (!j) {
        ot_sim_model *m = NULL;
        ot_error err;
        if (ot_sim_model_default(&m, &err)) {
            ot_reply_error(req, &err);
            return;
        }
        ot_reply_json(req, 200, json_pack("{s:s, s:o, s:b}", "twin_id", twin, "model",
                                          ot_sim_model_to_json(m), "default", 1));
        ot_sim_model_free(m);
        return;
    }
    json_object_set_new(j, "default", json_false());
    ot_reply_json(req, 200, j);
}

static int model_parse(const json_t *body, json_t **value, void **ctx, ot_error *err)
{
    (void)ctx;
    ot_sim_model *m = NULL;
    if (ot_sim_model_parse(body, "$", &m, err))
        return err->code ? err->code : OT_EINVAL;
    *value = ot_sim_model_to_json(m);
    ot_sim_model_free(m);
    return 0;
}

static const ot_twin_doc model_doc = {.parse = model_parse, .type = "model", .key = "model",
                                      .what = "the model"};

void ot_h_model_put(ot_req *req) { ot_twin_doc_handle(req, &model_doc); }
