/* pipeline.c - see pipeline.h. */
#include "telemetry/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aiw/events.h"
#include "api/app.h"
#include "api/twin_doc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/strmap.h"
#include "core/evtype.h"
#include "core/ids.h"
#include "core/log.h"
#include "policy/engine.h"
#include "sim/service.h"
#include "telemetry/detector.h"

/* --- per-twin detector settings ------------------------------------------ */

struct cfg_slot {
    char twin[OT_STORE_ID_MAX];
    ot_detector_config cfg;
};

typedef struct cfgmap {
    pthread_rwlock_t lock;
    struct cfg_slot *slots;
    size_t n, cap;
    atomic_uint version;
    ot_detector_config def;
} cfgmap;

static void cfg_lookup(cfgmap *m, const char *twin, ot_detector_config *out)
{
    pthread_rwlock_rdlock(&m->lock);
    *out = m->def;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->slots[i].twin, twin) == 0) {
            *out = m->slots[i].cfg;
            break;
        }
    pthread_rwlock_unlock(&m->lock);
}

static int cfg_set(cfgmap *m, const char *twin, const ot_detector_config *cfg)
{
    pthread_rwlock_wrlock(&m->lock);
    size_t i = 0;
    while (i < m->n && strcmp(m->slots[i].twin, twin) != 0)
        i++;
    if (i == m->n) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 16;
            struct cfg_slot *s = realloc(m->slots, cap * sizeof *s);
            if (!s) {
                pthread_rwlock_unlock(&m->lock);
                return OT_ENOMEM;
            }
            m->slots = s;
            m->cap = cap;
        }
        snprintf(m->slots[i].twin, sizeof m->slots[i].twin, "%s", twin);
        m->n++;
    }
    m->slots[i].cfg = *cfg;
    atomic_fetch_add(&m->version, 1);
    pthread_rwlock_unlock(&m->lock);
    return 0;
}

/* --- shards ---------------------------------------------------------------- */

/* A shard that found work looks for more this often instead of being woken
 * for every round of commits: under load a wake-up per round cost each
 * shard more than the detection it woke for (~20 us against ~2 per round
 * of 13 events with two metrics). Bounds how late a point is seen. */
#define POLL_MS 5

struct point {
    int64_t ts;
    double value;
    uint32_t twin, asset, metric; /* offsets into the batch's arena */
};

struct batch {
    struct batch *next;
    size_t n, cap_points;
    struct point *pts;
    ot_buf arena;
};

struct series {
    const char *twin, *asset, *metric; /* point into names */
    ot_series_state st;
    ot_detector_config cfg;
    unsigned cfg_version;
    json_t *open_doc;            /* the open anomaly, until resolved */
    json_t *missing_doc;         /* the open "missing" anomaly, until data returns */
    uint32_t calm;
    int64_t last_ts;             /* data time of the last point */
    int64_t last_arrival;        /* wall time it was processed */
    char names[];                /* "twin\0asset\0metric\0" */
};

typedef struct shard {
    struct ot_pipeline *p;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    struct batch *head, *tail;
    long queued;                 /* points */
    int busy, stopping;
    int unsignaled;              /* queued since the last wake-up (see ot_pipeline_kick) */
    int polling;                 /* waiting at most POLL_MS: kicks need not wake it */
    atomic_ulong processed, dropped, anomalies;
    /* owned by the shard thread */
    ot_strmap series;            /* twin \x1f asset \x1f metric -> struct series */
} shard;

struct ot_pipeline {
    ot_app *app;
    int nshards;
    shard *shards;
    cfgmap cfg;
};

static struct series *series_get(shard *sh, const char *twin, const char *asset,
                                 const char *metric)
{
    char key[512];
    size_t lt = strlen(twin), la = strlen(asset), lm = strlen(metric);
    if (lt + la + lm + 2 >= sizeof key)
        return NULL;
    memcpy(key, twin, lt);
    key[lt] = '\x1f';
    memcpy(key + lt + 1, asset, la);
    key[lt + 1 + la] = '\x1f';
    memcpy(key + lt + la + 2, metric, lm + 1);
    struct series *s = ot_strmap_get(&sh->series, key);
    if (s)
        return s;
    s = calloc(1, sizeof *s + lt + la + lm + 3);
    if (!s)
        return NULL;
    memcpy(s->names, twin, lt + 1);
    memcpy(s->names + lt + 1, asset, la + 1);
    memcpy(s->names + lt + la + 2, metric, lm + 1);
    s->twin = s->names;
    s->asset = s->names + lt + 1;
    s->metric = s->names + lt + la + 2;
    ot_series_state_init(&s->st);
    s->cfg_version = (unsigned)-1;
    if (ot_strmap_put(&sh->series, key, s, NULL)) {
        free(s);
        return NULL;
    }
    return s;
}

/* --- emitting anomalies ---------------------------------------------------- */

struct anomaly_write {
    ot_store_write w;
    ot_store_doc doc;
    ot_store_event ev;
    char *text;
    char id[OT_STORE_ID_MAX];
    char twin[OT_STORE_ID_MAX];
    json_t *extra;
};

static void anomaly_written(ot_store_write *w, void *ctx)
{
    struct anomaly_write *aw = ctx;
    if (w->rc)
        ot_log(OT_LOG_ERROR, "pipeline: anomaly %s not stored: %s", aw->id, w->err.message);
    json_decref(aw->extra);
    free(aw->text);
    free(aw);
}

/* Queue a write of doc (status open or resolved) and, for new anomalies,
 * the AnomalyDetected event. Never blocks: if the store's queue is full the
 * anomaly is logged and dropped. */
static void write_anomaly(ot_pipeline *p, json_t *doc, int with_event)
{
    struct anomaly_write *aw = calloc(1, sizeof *aw);
    if (!aw)
        return;
    snprintf(aw->id, sizeof aw->id, "%s", json_string_value(json_object_get(doc, "anomaly_id")));
    snprintf(aw->twin, sizeof aw->twin, "%s", json_string_value(json_object_get(doc, "twin_id")));
    const char *st = json_string_value(json_object_get(doc, "status"));
    aw->text = ot_json_dumps(doc, JSON_COMPACT);
    /* a static string: the doc is released before the write completes */
    aw->doc = (ot_store_doc){"anomaly", aw->id, aw->twin,
                             st && strcmp(st, "open") == 0 ? "open" : "resolved", aw->text};
    if (with_event) {
        aw->extra = json_pack("{s:O, s:O, s:O, s:O, s:O}", "asset_id",
                              json_object_get(doc, "asset_id"), "metric",
                              json_object_get(doc, "metric"), "kind", json_object_get(doc, "kind"),
                              "severity", json_object_get(doc, "severity"), "score",
                              json_object_get(doc, "score"));
        aw->ev = (ot_store_event){.type = OT_EV_ANOMALY_DETECTED, .twin_id = aw->twin,
                                  .id = aw->id, .ref_type = "anomaly", .extra = aw->extra};
        aw->w.events = &aw->ev;
        aw->w.nevents = 1;
    }
    aw->w.docs = &aw->doc;
    aw->w.ndocs = 1;
    aw->w.done = anomaly_written;
    aw->w.ctx = aw;
    if (!aw->text || ot_store_submit(p->app->store, &aw->w)) {
        ot_log(OT_LOG_WARNING, "pipeline: store busy, anomaly %s not recorded", aw->id);
        json_decref(aw->extra);
        free(aw->text);
        free(aw);
    }
}

static void maybe_simulate(ot_pipeline *p, const char *twin, const char *anomaly_id)
{
    char *model = ot_store_get_doc(p->app->store, "model", twin, NULL);
    if (!model)
        return; /* no model: nothing meaningful to simulate */
    free(model);
    json_t *body = json_pack("{s:s, s:s, s:I}", "twin_id", twin, "scenario", "anomaly response",
                             "n_samples", (json_int_t)10000);
    ot_error err;
    if (ot_sim_service_submit(p->app->sim, body, anomaly_id, NULL, NULL, &err))
        ot_log(OT_LOG_WARNING, "pipeline: simulation for %s not queued: %s", anomaly_id,
               err.message);
    json_decref(body);
}

static void emit(shard *sh, struct series *s, int64_t ts, double value, const ot_detection *d)
{
    ot_pipeline *p = sh->p;
    ot_error err;
    char id[OT_ID_BUFSZ];
    json_t *doc = ot_anomaly_to_json(s->twin, s->asset, s->metric, ts, value, d, id, &err);
    if (!doc)
        return;
    json_object_set_new(doc, "status", json_string("open"));
    write_anomaly(p, doc, 1);
    atomic_fetch_add(&sh->anomalies, 1);
    json_t **slot = d->kind == OT_KIND_MISSING ? &s->missing_doc : &s->open_doc;
    json_decref(*slot);
    *slot = json_incref(doc);
    s->calm = 0;
    /* a matching policy rule simulates its own action; otherwise an anomaly
     * that asks for a simulation gets the twin model's plain run */
    const char *next = json_string_value(json_object_get(doc, "recommended_next"));
    if (!ot_engine_on_anomaly(p->app->engine, doc) && next && strcmp(next, "sim_run") == 0)
        maybe_simulate(p, s->twin, id);
    json_decref(doc);
}

/* The series is back to normal: mark its open anomaly resolved. The doc is
 * kept in memory because its first write may not have committed yet. */
static void resolve(shard *sh, json_t **slot, int64_t ts)
{
    json_t *doc = *slot;
    *slot = NULL;
    if (!doc)
        return;
    char t[OT_TS_BUFSZ];
    json_object_set_new(doc, "status", json_string("resolved"));
    json_object_set_new(doc, "resolved_at", json_string(ot_ts_format(ts, t)));
    write_anomaly(sh->p, doc, 0);
    json_decref(doc);
}

static void process_point(shard *sh, const char *twin, const char *asset, const char *metric,
                          int64_t ts, double value)
{
    struct series *s = series_get(sh, twin, asset, metric);
    if (!s)
        return;
    unsigned v = atomic_load(&sh->p->cfg.version);
    if (s->cfg_version != v) {
        cfg_lookup(&sh->p->cfg, twin, &s->cfg);
        s->cfg_version = v;
    }
    ot_detection d;
    ot_detector_update(&s->cfg, &s->st, ts, value, &d);
    s->last_ts = ts;
    s->last_arrival = ot_now_us();
    if (s->missing_doc)
        resolve(sh, &s->missing_doc, ts); /* data is back */
    if (d.event) {
        if (s->open_doc && d.kind != OT_KIND_MISSING)
            resolve(sh, &s->open_doc, ts);
        emit(sh, s, ts, value, &d);
    } else if (s->open_doc) {
        s->calm = d.anomalous ? 0 : s->calm + 1;
        if (s->calm >= (s->cfg.calm_points > 0 ? (uint32_t)s->cfg.calm_points : 10u))
            resolve(sh, &s->open_doc, ts);
    }
}

/* A series that stopped reporting. Time is the series' own data time,
 * projected forward by the wall time since its last point arrived, so
 * imported history (old timestamps) does not look like a gap. */
static void check_missing(void *ctx, const char *key, void *val)
{
    shard *sh = ctx;
    struct series *s = val;
    (void)key;
    if (!s->last_arrival)
        return;
    int64_t now = s->last_ts + (ot_now_us() - s->last_arrival);
    ot_detection d;
    if (ot_detector_check_missing(&s->cfg, &s->st, now, &d) && d.event)
        emit(sh, s, now, 0.0, &d);
}

static void sweep_missing(shard *sh) { ot_strmap_each(&sh->series, check_missing, sh); }

static void batch_free(struct batch *b)
{
    free(b->pts);
    ot_buf_free(&b->arena);
    free(b);
}

static void *shard_main(void *arg)
{
    shard *sh = arg;
    int64_t last_sweep = ot_mono_ns();
    pthread_mutex_lock(&sh->mu);
    int worked = 0; /* found points after the last wait */
    for (;;) {
        while (!sh->head && !sh->stopping) {
            /* after work, look again in POLL_MS instead of waiting for a
             * kick; after a look that finds nothing, sleep until kicked */
            sh->polling = worked;
            worked = 0;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            if (sh->polling) {
                ts.tv_nsec += POLL_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
            } else {
                ts.tv_sec += 1;
            }
            pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
            sh->polling = 0;
            if (ot_mono_ns() - last_sweep >= 1000000000LL)
                break;
        }
        struct batch *b = sh->head;
        if (b) {
            worked = 1;
            sh->unsignaled = 0;
            sh->head = b->next;
            if (!sh->head)
                sh->tail = NULL;
            sh->busy = 1;
        } else if (sh->stopping) {
            break;
        }
        pthread_mutex_unlock(&sh->mu);
        if (b) {
            for (size_t i = 0; i < b->n; i++) {
                struct point *pt = &b->pts[i];
                process_point(sh, b->arena.data + pt->twin, b->arena.data + pt->asset,
                              b->arena.data + pt->metric, pt->ts, pt->value);
            }
            atomic_fetch_add(&sh->processed, b->n);
        }
        if (ot_mono_ns() - last_sweep >= 1000000000LL) {
            sweep_missing(sh);
            last_sweep = ot_mono_ns();
        }
        pthread_mutex_lock(&sh->mu);
        if (b) {
            sh->queued -= (long)b->n;
            batch_free(b);
        }
        sh->busy = 0;
        if (!sh->head)
            pthread_cond_broadcast(&sh->idle_cv);
    }
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

/* --- feeding ----------------------------------------------------------------- */

void ot_pipeline_feed(ot_pipeline *p, const ot_store_tel *tels, size_t n)
{
    struct batch *b[16] = {0};
    int ns = p->nshards;
    for (size_t i = 0; i < n; i++) {
        const ot_store_tel *t = &tels[i];
        if (t->duplicate)
            continue;
        int k = (int)(ot_hash_str(t->twin_id) % (uint64_t)ns);
        if (!b[k]) {
            b[k] = calloc(1, sizeof *b[k]);
            if (!b[k])
                continue;
            ot_buf_init(&b[k]->arena);
        }
        struct batch *bk = b[k];
        for (size_t m = 0; m < t->nmetrics; m++) {
            if (bk->n == bk->cap_points) {
                size_t cap = bk->cap_points ? bk->cap_points * 2 : 64;
                struct point *np = realloc(bk->pts, cap * sizeof *np);
                if (!np)
                    break;
                bk->pts = np;
                bk->cap_points = cap;
            }
            struct point *pt = &bk->pts[bk->n++];
            pt->ts = t->ts_us;
            pt->value = t->metric_values[m];
            pt->twin = (uint32_t)bk->arena.len;
            ot_buf_append(&bk->arena, t->twin_id, strlen(t->twin_id) + 1);
            pt->asset = (uint32_t)bk->arena.len;
            ot_buf_append(&bk->arena, t->asset_id, strlen(t->asset_id) + 1);
            pt->metric = (uint32_t)bk->arena.len;
            ot_buf_append(&bk->arena, t->metric_names[m], strlen(t->metric_names[m]) + 1);
        }
    }
    for (int k = 0; k < ns; k++) {
        if (!b[k])
            continue;
        shard *sh = &p->shards[k];
        if (ot_buf_failed(&b[k]->arena) || b[k]->n == 0) {
            batch_free(b[k]);
            continue;
        }
        pthread_mutex_lock(&sh->mu);
        if (sh->queued + (long)b[k]->n > OT_PIPELINE_QUEUE || sh->stopping) {
            pthread_mutex_unlock(&sh->mu);
            atomic_fetch_add(&sh->dropped, b[k]->n);
            batch_free(b[k]);
            continue;
        }
        if (sh->tail)
            sh->tail->next = b[k];
        else
            sh->head = b[k];
        sh->tail = b[k];
        sh->queued += (long)b[k]->n;
        /* one wake-up per round of commits (ot_pipeline_kick), not per
         * feed, unless a shard's queue is filling up */
        if (sh->queued >= OT_PIPELINE_QUEUE / 4)
            pthread_cond_signal(&sh->cv);
        else
            sh->unsignaled = 1;
        pthread_mutex_unlock(&sh->mu);
    }
}

/* Wake the shards fed since their last wake-up; with all, also those that
 * look again within POLL_MS anyway. */
static void kick(ot_pipeline *p, int all)
{
    for (int k = 0; k < p->nshards; k++) {
        shard *sh = &p->shards[k];
        pthread_mutex_lock(&sh->mu);
        if (sh->unsignaled && (all || !sh->polling)) {
            sh->unsignaled = 0;
            pthread_cond_signal(&sh->cv);
        }
        pthread_mutex_unlock(&sh->mu);
    }
}

void ot_pipeline_kick(void *pipeline) { kick(pipeline, 0); }

void ot_pipeline_flush(ot_pipeline *p)
{
    kick(p, 1);
    for (int k = 0; k < p->nshards; k++) {
        shard *sh = &p->shards[k];
        pthread_mutex_lock(&sh->mu);
        while (sh->head || sh->busy)
            pthread_cond_wait(&sh->idle_cv, &sh->mu);
        pthread_mutex_unlock(&sh->mu);
    }
}

/* --- life ------------------------------------------------------------------ */

int ot_pipeline_start(ot_app *app, int nshards, ot_pipeline **out, ot_error *err)
{
    if (nshards < 1)
        nshards = 1;
    if (nshards > 16)
        nshards = 16;
    ot_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    p->app = app;
    p->nshards = nshards;
    pthread_rwlock_init(&p->cfg.lock, NULL);
    ot_detector_config_default(&p->cfg.def);
    json_t *docs = ot_store_list_docs(app->store, "detector", NULL, NULL, 1000000, err);
    if (!docs) {
        pthread_rwlock_destroy(&p->cfg.lock);
        free(p);
        return err->code ? err->code : OT_EINVAL;
    }
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        ot_detector_config c;
        ot_error e;
        const char *twin = json_string_value(json_object_get(d, "twin_id"));
        if (twin && ot_detector_config_from_json(json_object_get(d, "detector"), &c, &e) == 0)
            cfg_set(&p->cfg, twin, &c);
    }
    json_decref(docs);
    p->shards = calloc((size_t)nshards, sizeof *p->shards);
    if (!p->shards) {
        free(p);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    for (int k = 0; k < nshards; k++) {
        shard *sh = &p->shards[k];
        sh->p = p;
        pthread_mutex_init(&sh->mu, NULL);
        pthread_cond_init(&sh->cv, NULL);
        pthread_cond_init(&sh->idle_cv, NULL);
        if (pthread_create(&sh->thread, NULL, shard_main, sh) == 0) {
            sh->started = 1;
            pthread_setname_np(sh->thread, "detect-shard");
        }
    }
    *out = p;
    return 0;
}

static void series_free(void *v)
{
    struct series *s = v;
    json_decref(s->open_doc);
    json_decref(s->missing_doc);
    free(s);
}

void ot_pipeline_stop(ot_pipeline *p)
{
    if (!p)
        return;
    for (int k = 0; k < p->nshards; k++) {
        shard *sh = &p->shards[k];
        pthread_mutex_lock(&sh->mu);
        sh->stopping = 1;
        pthread_cond_signal(&sh->cv);
        pthread_mutex_unlock(&sh->mu);
    }
    for (int k = 0; k < p->nshards; k++) {
        shard *sh = &p->shards[k];
        if (sh->started)
            pthread_join(sh->thread, NULL);
        for (struct batch *b = sh->head, *n; b; b = n) {
            n = b->next;
            batch_free(b);
        }
        ot_strmap_clear(&sh->series, series_free);
        pthread_mutex_destroy(&sh->mu);
        pthread_cond_destroy(&sh->cv);
        pthread_cond_destroy(&sh->idle_cv);
    }
    free(p->shards);
    free(p->cfg.slots);
    pthread_rwlock_destroy(&p->cfg.lock);
    free(p);
}

void ot_pipeline_metrics(void *ctx, ot_buf *out)
{
    ot_pipeline *p = ctx;
    unsigned long processed = 0, dropped = 0, anomalies = 0;
    for (int k = 0; k < p->nshards; k++) {
        processed += atomic_load(&p->shards[k].processed);
        dropped += atomic_load(&p->shards[k].dropped);
        anomalies += atomic_load(&p->shards[k].anomalies);
    }
    ot_buf_printf(out,
                  "# HELP opstwin_detector_points_total Metric points run through detection.\n"
                  "# TYPE opstwin_detector_points_total counter\n"
                  "opstwin_detector_points_total %lu\n"
                  "# HELP opstwin_detector_dropped_total Points not analysed (queue full).\n"
                  "# TYPE opstwin_detector_dropped_total counter\n"
                  "opstwin_detector_dropped_total %lu\n"
                  "# HELP opstwin_anomalies_total Anomaly episodes detected.\n"
                  "# TYPE opstwin_anomalies_total counter\n"
                  "opstwin_anomalies_total %lu\n",
                  processed, dropped, anomalies);
}

/* --- endpoints --------------------------------------------------------------- */

void ot_h_detector_get(ot_req *req)
{
    const char *twin = ot_req_param(req, "twin_id");
    if (!ot_name_valid(twin, 128)) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.twin_id", "no twin '%.60s'", twin);
        return;
    }
    ot_detector_config c;
    cfg_lookup(&req->app->pipeline->cfg, twin, &c);
    ot_reply_json(req, 200, json_pack("{s:s, s:o}", "twin_id", twin, "detector",
                                      ot_detector_config_to_json(&c)));
}

/* A stored setting takes effect: series read it at their next point. */
static int detector_apply(ot_req *req, const char *twin, void *ctx, ot_error *err)
{
    if (cfg_set(&req->app->pipeline->cfg, twin, ctx))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    return 0;
}

static int detector_parse(const json_t *body, json_t **value, void **ctx, ot_error *err)
{
    ot_detector_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    if (ot_detector_config_from_json(body, cfg, err)) {
        free(cfg);
        return err->code ? err->code : OT_EINVAL;
    }
    *value = ot_detector_config_to_json(cfg);
    *ctx = cfg;
    return 0;
}

static const ot_twin_doc detector_doc = {.parse = detector_parse, .type = "detector",
                                         .key = "detector", .what = "the setting",
                                         .apply = detector_apply, .drop = free};

void ot_h_detector_put(ot_req *req) { ot_twin_doc_handle(req, &detector_doc); }
