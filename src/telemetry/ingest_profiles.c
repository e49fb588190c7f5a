/* ingest_profiles.c - see ingest_profiles.h. */
#include "telemetry/ingest_profiles.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "aiw/events.h"
#include "api/app.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/strmap.h"
#include "telemetry/ingest.h"
#include "telemetry/names.h"

struct ot_profiles {
    pthread_rwlock_t lock;
    ot_strmap by_twin;           /* twin_id -> ot_profile_ref */
};

void ot_profile_ref_release(ot_profile_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        ot_ingest_profile_free(r->p);
        free(r);
    }
}

/* Insert or replace; takes over the caller's reference. Write lock held. */
static int put_locked(ot_profiles *ps, const char *twin, ot_profile_ref *ref)
{
    void *old = NULL;
    if (ot_strmap_put(&ps->by_twin, twin, ref, &old))
        return OT_ENOMEM;
    ot_profile_ref_release(old);
    return 0;
}

static ot_profile_ref *ref_new(ot_ingest_profile *p)
{
    ot_profile_ref *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->p = p;
    return r;
}

ot_profile_ref *ot_profiles_acquire(ot_profiles *ps, const char *twin)
{
    pthread_rwlock_rdlock(&ps->lock);
    ot_profile_ref *r = ot_strmap_get(&ps->by_twin, twin);
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_rwlock_unlock(&ps->lock);
    return r;
}

int ot_profiles_open(ot_store *store, ot_profiles **out, ot_error *err)
{
    ot_profiles *ps = calloc(1, sizeof *ps);
    if (!ps)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    pthread_rwlock_init(&ps->lock, NULL);
    json_t *docs = ot_store_list_docs(store, "ingest_profile", NULL, NULL, 1000000, err);
    if (!docs) {
        ot_profiles_free(ps);
        return err ? err->code : OT_EIO;
    }
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        ot_ingest_profile *p;
        ot_error e;
        const char *twin = json_string_value(json_object_get(d, "twin_id"));
        if (!twin || ot_ingest_profile_parse(json_object_get(d, "profile"), &p, &e)) {
            ot_log(OT_LOG_WARNING, "ingest: skipping an unreadable stored profile");
            continue;
        }
        ot_profile_ref *r = ref_new(p);
        if (!r || put_locked(ps, twin, r)) {
            ot_ingest_profile_free(p);
            free(r);
        }
    }
    json_decref(docs);
    *out = ps;
    return 0;
}

static void release_val(void *v) { ot_profile_ref_release(v); }

void ot_profiles_free(ot_profiles *ps)
{
    if (!ps)
        return;
    ot_strmap_clear(&ps->by_twin, release_val);
    pthread_rwlock_destroy(&ps->lock);
    free(ps);
}

static void on_done(ot_store_write *w, void *ctx)
{
    (void)w;
    ot_req_complete(ctx);
}

/* --- GET and PUT /twins/{twin_id}/ingest ------------------------------------ */

static void profile_saved(ot_req *req);

struct profile_put {
    ot_store_write w;
    ot_store_doc doc;
    ot_store_event ev;
    char *json;
    ot_ingest_profile *p;
    char twin[OT_TEL_ID_MAX];
};

void ot_h_ingest_profile_get(ot_req *req)
{
    const char *twin = ot_req_twin_path(req);
    if (!twin)
        return;
    ot_profile_ref *r = ot_profiles_acquire(req->app->profiles, twin);
    if (!r) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.twin_id", "twin '%s' has no ingest profile", twin);
        return;
    }
    ot_reply_json(req, 200, ot_ingest_profile_to_json(r->p));
    ot_profile_ref_release(r);
}

void ot_h_ingest_profile_put(ot_req *req)
{
    const char *twin = ot_req_twin_path(req);
    if (!twin)
        return;
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    struct profile_put *pp = calloc(1, sizeof *pp);
    ot_error err;
    ot_error_clear(&err);
    if (!pp) {
        json_decref(body);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    if (ot_ingest_profile_parse(body, &pp->p, &err)) {
        json_decref(body);
        free(pp);
        ot_reply_error(req, &err);
        return;
    }
    json_decref(body);
    snprintf(pp->twin, sizeof pp->twin, "%s", twin);
    json_t *canon = ot_ingest_profile_to_json(pp->p);
    json_t *stored = json_pack("{s:s, s:O}", "twin_id", twin, "profile", canon);
    pp->json = ot_json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    json_decref(canon);
    pp->doc = (ot_store_doc){"ingest_profile", pp->twin, pp->twin, NULL, pp->json};
    pp->w.docs = &pp->doc;
    pp->w.ndocs = 1;
    pp->w.done = on_done;
    pp->w.ctx = req;
    ot_req_audit(req, &pp->w, twin);
    ot_req_defer(req, profile_saved, pp);
    int rc = pp->json ? ot_store_submit(req->app->store, &pp->w) : OT_ENOMEM;
    if (rc) {
        ot_req_undefer(req);
        ot_ingest_profile_free(pp->p);
        free(pp->json);
        free(pp);
        ot_reply_errorf(req, rc, NULL, "could not store the profile; retry");
    }
}

static void profile_saved(ot_req *req)
{
    struct profile_put *pp = req->defer_ctx;
    if (pp->w.rc) {
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "could not store the profile: %s",
                        pp->w.err.message);
        ot_ingest_profile_free(pp->p);
    } else {
        ot_profiles *ps = req->app->profiles;
        ot_profile_ref *r = ref_new(pp->p);
        json_t *out = ot_ingest_profile_to_json(pp->p);
        pthread_rwlock_wrlock(&ps->lock);
        if (!r || put_locked(ps, pp->twin, r)) {
            ot_ingest_profile_free(pp->p);
            free(r);
        }
        pthread_rwlock_unlock(&ps->lock);
        ot_reply_json(req, 200, out);
    }
    free(pp->json);
    free(pp);
}
