/* pipeline.h - what happens to telemetry after it is durable: streaming
 * anomaly detection per (twin, asset, metric), anomaly events, and the
 * simulation an anomaly asks for.
 *
 *   store syncer (after commit) --feed--> shard queue (by twin hash)
 *   shard thread: detector state per series (owned by this thread only,
 *     64 bytes each, no locks), ot_detector_update per point,
 *     a missing-data sweep every second
 *   anomaly episode -> anomaly doc (status open) + AnomalyDetected event
 *     -> if recommended_next is sim_run and the twin has a model: a
 *        simulation through the sim service (its result points back to the
 *        anomaly)
 *   the series back to normal for calm_points -> the anomaly is resolved
 *
 * Feeding never blocks the writer: each shard's queue is bounded
 * (OT_PIPELINE_QUEUE points); beyond it points are dropped from detection
 * (never from storage) and counted in /metrics.
 *
 * Per-twin detector settings (GET/PUT /twins/{twin_id}/detector) are kept in
 * memory behind a read-write lock with a version counter, so a shard
 * re-reads a series' settings only after a change.
 */
#ifndef OT_TELEMETRY_PIPELINE_H
#define OT_TELEMETRY_PIPELINE_H

#include <stddef.h>

#include "api/http.h"
#include "core/error.h"
#include "store/store.h"

#define OT_PIPELINE_QUEUE (1 << 20)

struct ot_app;
struct ot_buf;
typedef struct ot_pipeline ot_pipeline;

int ot_pipeline_start(struct ot_app *app, int nshards, ot_pipeline **out, ot_error *err);
/* Process what is queued, then stop the shard threads. */
void ot_pipeline_stop(ot_pipeline *p);

/* Hand committed telemetry to detection (copies; duplicates skipped).
 * Called on the store's completion (syncer) thread. The shards are woken
 * by the next ot_pipeline_kick (or when a queue fills up). */
void ot_pipeline_feed(ot_pipeline *p, const ot_store_tel *tels, size_t n);

/* Wake the shards that were fed since the last kick and sleep until
 * kicked. The store calls it after each round of completions
 * (ot_store_options.on_completed). A shard that found work after its last
 * wait looks again within 5 ms instead, so under load a point waits up to
 * that long for detection, and the shards do not wake per round. */
void ot_pipeline_kick(void *pipeline);

/* Wait until everything fed so far has been processed (tests, shutdown). */
void ot_pipeline_flush(ot_pipeline *p);

void ot_pipeline_metrics(void *p, struct ot_buf *out);

void ot_h_detector_get(ot_req *req);
void ot_h_detector_put(ot_req *req);

#endif
