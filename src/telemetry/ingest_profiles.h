/* ingest_profiles.h - the ingest profiles by twin (ingest_profile.h), and
 * GET / PUT /twins/{twin_id}/ingest.
 *
 * Loaded from the store's "ingest_profile" documents at start; a PUT
 * stores the new profile durably, then replaces the twin's in memory.
 * Readers (every ingest batch, per twin it sees) take a counted reference
 * under a read lock and keep it for the batch's life, so a profile replaced
 * meanwhile is freed only when its last batch lets it go.
 *
 * Threads: any. Ownership: ot_profiles owns the references it maps; an
 * acquired reference belongs to the caller until ot_profile_ref_release.
 */
#ifndef OT_TELEMETRY_INGEST_PROFILES_H
#define OT_TELEMETRY_INGEST_PROFILES_H

#include <stdatomic.h>

#include "api/http.h"
#include "core/error.h"
#include "telemetry/ingest_profile.h"

struct ot_store;
typedef struct ot_profiles ot_profiles;

typedef struct ot_profile_ref {
    atomic_int refs;
    ot_ingest_profile *p;
} ot_profile_ref;

/* Load every stored profile. */
int ot_profiles_open(struct ot_store *store, ot_profiles **out, ot_error *err);
void ot_profiles_free(ot_profiles *p);

/* A counted reference to the twin's profile, or NULL when it has none. */
ot_profile_ref *ot_profiles_acquire(ot_profiles *ps, const char *twin);
/* Drop a reference (NULL: nothing); the last one frees the profile. */
void ot_profile_ref_release(ot_profile_ref *r);

/* GET /twins/{twin_id}/ingest and PUT (stored, then in effect). */
void ot_h_ingest_profile_get(ot_req *req);
void ot_h_ingest_profile_put(ot_req *req);

#endif
