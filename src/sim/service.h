/* service.h - simulations inside the server: the job queue, the worker that
 * runs them, the cache of seeded results, and the HTTP endpoints
 * POST /sim/run, GET/PUT /twins/{twin_id}/model.
 *
 * A /sim/run request is parsed and checked on the HTTP thread, then queued
 * (bounded: 503 when full) for the simulation worker, which runs the Monte
 * Carlo engine (using every core), stores the result (GET /r/sim/{id}) with
 * a SimulationCompleted event, and only then completes the deferred reply.
 * Requests with a seed are deterministic, so their results are cached by
 * the request, the model they ran on and the live values it binds
 * (telemetry, set-points): in memory, and with REDIS_URL in Redis as a
 * shared second level (read before running, written after, with a TTL; a
 * hit says "cached": true). Redis trouble never fails a run.
 *
 * A run has a time limit (504 beyond) and is cancelled when the server
 * stops (its reply is then 409 "canceled").
 *
 * Other modules (the anomaly pipeline) submit runs with ot_sim_service_submit
 * and get a callback on the worker thread.
 */
#ifndef OT_SIM_SERVICE_H
#define OT_SIM_SERVICE_H

#include <jansson.h>

#include "api/http.h"
#include "core/error.h"

struct ot_app;
typedef struct ot_sim_service ot_sim_service;

int ot_sim_service_start(struct ot_app *app, ot_sim_service **out, ot_error *err);
/* Finish queued jobs (each completes or fails), stop the worker. */
void ot_sim_service_stop(ot_sim_service *s);

/* Run a simulation for an anomaly: body is a /sim/run request (borrowed),
 * anomaly_id is recorded in the result and the event. done (may be NULL)
 * runs on the worker thread with the result document (borrowed) or NULL. */
int ot_sim_service_submit(ot_sim_service *s, const json_t *body, const char *anomaly_id,
                          void (*done)(void *ctx, const json_t *result, const ot_error *err),
                          void *ctx, ot_error *err);

/* Engines for the manifest. Caller owns. */
json_t *ot_sim_service_engines(void);

void ot_h_sim_run(ot_req *req);
void ot_h_model_get(ot_req *req);
void ot_h_model_put(ot_req *req);

#endif
