/* ingest_profiles.c - see ingest_profiles.h. */
#include "telemetry/ingest_profiles.h"

#include <pthread.h>
#include <stdlib.h>

#include "aiw/events.h"
#include "api/app.h"
#include "api/twin_doc.h"
#include "core/log.h"
#include "core/strmap.h"
#include "telemetry/ingest.h"

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

/* --- GET and PUT /twins/{twin_id}/ingest ------------------------------------ */

/* A stored profile takes effect: it replaces the twin's (taken from ctx,
 * a profile pointer, which is then NULL). */
static int profile_apply(ot_req *req, const char *twin, void *ctx, ot_error *err)
{
    ot_ingest_profile **p = ctx;
    ot_profiles *ps = req->app->profiles;
    ot_profile_ref *r = ref_new(*p);
    pthread_rwlock_wrlock(&ps->lock);
    int failed = !r || put_locked(ps, twin, r);
    pthread_rwlock_unlock(&ps->lock);
    if (failed) {
        free(r);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    *p = NULL;
    return 0;
}

static void profile_drop(void *ctx)
{
    ot_ingest_profile **p = ctx;
    ot_ingest_profile_free(*p);
    free(p);
}

static int profile_parse(const json_t *body, json_t **value, void **ctx, ot_error *err)
{
    ot_ingest_profile **p = malloc(sizeof *p);
    if (!p)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    if (ot_ingest_profile_parse(body, p, err)) {
        free(p);
        return err->code ? err->code : OT_EINVAL;
    }
    *value = ot_ingest_profile_to_json(*p);
    *ctx = p;
    return 0;
}

static const ot_twin_doc profile_doc = {.parse = profile_parse, .type = "ingest_profile",
                                        .key = "profile", .what = "the profile",
                                        .reply_value = 1, .apply = profile_apply,
                                        .drop = profile_drop};

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

void ot_h_ingest_profile_put(ot_req *req) { ot_twin_doc_handle(req, &profile_doc); }
