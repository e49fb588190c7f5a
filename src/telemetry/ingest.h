/* ingest.h - POST /telemetry/ingest and the twins' ingest profiles.
 *
 * A request body is one telemetry object, a JSON array of them, or NDJSON
 * (one object per line). Each item is normalized (normalize.h) with its
 * twin's ingest profile, validated against telemetry.v1, and the valid items
 * go to the store as ONE write: they commit together in the next group, and
 * the reply is sent only when that group is durable (the HTTP connection is
 * suspended meanwhile, holding no thread). Invalid items are reported with
 * their index and error and store nothing. When every item is invalid the
 * reply is 400; when the store's queue is full, 503 with Retry-After.
 *
 * Profiles are kept in memory (loaded at start, replaced by PUT after the
 * write commits) behind a read-write lock; a profile in use by a request is
 * reference-counted so a concurrent PUT cannot free it.
 */
#ifndef OT_TELEMETRY_INGEST_H
#define OT_TELEMETRY_INGEST_H

#include "api/http.h"
#include "core/error.h"

struct ot_app;
struct ot_store;
typedef struct ot_profiles ot_profiles;

/* Load every stored profile. */
int ot_profiles_open(struct ot_store *store, ot_profiles **out, ot_error *err);
void ot_profiles_free(ot_profiles *p);

void ot_h_ingest(ot_req *req);
void ot_h_ingest_profile_get(ot_req *req);
void ot_h_ingest_profile_put(ot_req *req);

#endif
