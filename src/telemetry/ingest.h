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
 * The same path serves the MQTT adapter (telemetry/mqtt_adapter.h): an
 * ot_ingest_batch collects normalized, scope-checked, schema-checked and
 * rendered records (with the twins' profiles held for the batch's life),
 * becomes ONE store write (idempotent by event_id), and after the commit
 * feeds the detection pipeline before its owner's completion runs.
 *
 * Profiles are kept in memory (loaded at start, replaced by PUT after the
 * write commits) behind a read-write lock; a profile in use by a request is
 * reference-counted so a concurrent PUT cannot free it.
 */
#ifndef OT_TELEMETRY_INGEST_H
#define OT_TELEMETRY_INGEST_H

#include <jansson.h>
#include <stdint.h>

#include "api/http.h"
#include "core/error.h"
#include "store/store.h"
#include "telemetry/ingest_profiles.h"
#include "telemetry/normalize.h"

struct ot_app;
struct ot_store;

/* --- the one ingest path (HTTP and MQTT) --------------------------------- */

typedef struct ot_ingest_batch ot_ingest_batch;

/* 1 when the twin may be written (e.g. the token's scope); NULL = any. */
typedef int (*ot_ingest_scope_fn)(void *ctx, const char *twin_id);

/* Called once on the store's syncer thread after the batch committed (and
 * detection was fed) or failed (ot_ingest_batch_rc). It may free the batch. */
typedef void (*ot_ingest_done_fn)(ot_ingest_batch *b, void *ctx);

/* An empty batch. Not thread-safe: one owner at a time. NULL: no memory. */
ot_ingest_batch *ot_ingest_batch_new(struct ot_app *app, ot_ingest_scope_fn scope_ok,
                                     void *scope_ctx);
void ot_ingest_batch_free(ot_ingest_batch *b);

/* Room for n records and the canonical texts of up to 4,096 of them, so a
 * batch of known size is not grown (and copied) step by step. A hint:
 * adding more still works. OT_ENOMEM, or 0. */
int ot_ingest_batch_reserve(ot_ingest_batch *b, size_t n);

/* Normalize one telemetry object (normalize.h, with its twin's profile),
 * check scope and the registry's telemetry schema, render the canonical
 * JSON and keep it. prefix leads error paths ("$", "$[3]"). Returns the
 * record's index in the batch (>= 0), or a negative OT_E* code with err
 * filled (nothing kept). doc is borrowed; tags/quality are referenced. */
int ot_ingest_batch_add(ot_ingest_batch *b, const json_t *doc, const char *prefix, int64_t now_us,
                        ot_error *err);

/* The same for a bare metrics object with ids from elsewhere (an MQTT
 * topic): ot_tel_normalize_bare. */
int ot_ingest_batch_add_bare(ot_ingest_batch *b, const json_t *metrics, const char *twin_id,
                             const char *asset_id, int64_t now_us, ot_error *err);

size_t ot_ingest_batch_count(const ot_ingest_batch *b);

/* The store's record of t (ot_tel, normalize.h): its strings and json
 * borrowed, its metric names and values copied into names[0..nmetrics)
 * and values[0..nmetrics), which must outlive the write. An event_id the
 * client gave is checked for a replay (client_id); one the server made is
 * not. The server's ingest and `opstwin ingest --data-dir` both store
 * records this way. */
void ot_ingest_store_tel(const ot_tel *t, const char *json, size_t json_len, const char **names,
                         double *values, ot_store_tel *st);

/* The store write over the records kept so far (built on first call), so
 * the caller can attach an audit record (w->audit, borrowed until done).
 * NULL: out of memory. */
ot_store_write *ot_ingest_batch_write(ot_ingest_batch *b);

/* Queue the write (ot_store_submit). 0: done() will run exactly once.
 * Otherwise OT_EBUSY (queue full), OT_EUNAVAIL or OT_ENOMEM: done() will
 * not run, the caller still owns the batch and may submit it again. */
int ot_ingest_batch_submit(ot_ingest_batch *b, ot_ingest_done_fn done, void *ctx);

/* After completion: the stored record i (cursor, duplicate, event_id), and
 * the write's result (0, or an error copied to err). */
const ot_store_tel *ot_ingest_batch_tel(const ot_ingest_batch *b, size_t i);
int ot_ingest_batch_rc(const ot_ingest_batch *b, ot_error *err);

/* --- endpoints ------------------------------------------------------------- */

void ot_h_ingest(ot_req *req);
/* the profile endpoints: ingest_profiles.h */

#endif
