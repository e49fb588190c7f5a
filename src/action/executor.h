/* executor.h - actions: their documents, the thread that executes them,
 * rollback, and the endpoints GET /actions, GET /actions/{id}, POST /actions,
 * POST /rollback/{action_id}.
 *
 * Lifecycle (action.v1 document, "status"):
 *   pending -> running -> success | failed        (ActionStarted, then
 *                                                  ActionSucceeded/Failed)
 *   success -> rolled_back                        (ActionRolledBack)
 *
 * Executor targets:
 *   state    applies the action to the twin's set-points (GET /twins/{id}
 *            "parameters"): set_parameter sets "<target>.<name>", scale sets
 *            "<target>.replicas", deploy "<target>.version", restart and
 *            shutdown "<target>.state". The value before is captured in the
 *            action ("previous") so POST /rollback can restore it.
 *   webhook  POSTs the action as JSON to a URL with an
 *            X-OpsTwin-Signature: sha256=<HMAC-SHA256(secret, body)> header,
 *            a timeout and retries with exponential backoff; 2xx = success.
 *            Rollback POSTs {"type":"rollback","action_id",...} the same way.
 *   mqtt     publishes the action (JSON, as stored) with QoS 1 to
 *            opstwin/cmd/{twin_id}/{target} and waits up to
 *            MQTT_ACK_TIMEOUT_MS for opstwin/ack/{action_id}
 *            (telemetry/mqtt_adapter.h); no answer fails the action with
 *            "no acknowledgement on opstwin/ack/ID within N ms", an ack
 *            {"ok": false, "error": E} fails it with E. Without MQTT_URL it
 *            fails with that reason. The executor thread waits at most the
 *            timeout.
 *
 * Every outcome is added to the twin's history (policy/confidence.h
 * outcomes), which feeds the historical component of confidence.
 *
 * Threads: one executor thread runs queued actions in order; documents are
 * written through the store (synchronous writes on that thread). The
 * outcome history is guarded by the executor's lock.
 */
#ifndef OT_ACTION_EXECUTOR_H
#define OT_ACTION_EXECUTOR_H

#include <jansson.h>

#include "api/http.h"
#include "core/error.h"
#include "policy/action.h"
#include "policy/confidence.h"
#include "store/store.h"

struct ot_app;
typedef struct ot_actions ot_actions;

/* Where and how an action runs. */
typedef struct ot_exec_target {
    const char *executor;       /* "state" (default), "webhook", "mqtt" */
    const char *webhook_url;    /* webhook */
    const char *webhook_secret; /* may be NULL */
    int timeout_ms, retries;
} ot_exec_target;

int ot_executor_start(struct ot_app *app, ot_actions **out, ot_error *err);
void ot_executor_stop(ot_actions *x); /* finishes queued actions */

/* A new action document (status pending, "act_" id) for twin; the caller
 * stores it (with its other writes) and then calls ot_executor_enqueue. */
json_t *ot_action_doc_new(const char *twin_id, const ot_action *action, const ot_exec_target *t,
                          const char *requested_by, const char *proposal_id,
                          const char *decision_id);

/* Run a stored pending action (by its document; borrowed). */
int ot_executor_enqueue(ot_actions *x, const json_t *action_doc, ot_error *err);

/* Copy of the twin's outcome history (for confidence). */
void ot_executor_outcomes(ot_actions *x, const char *twin_id, ot_outcomes *out);

/* Actions of twin_id created in the last hour (safety rate limit). */
long long ot_executor_actions_last_hour(ot_actions *x, const char *twin_id);

void ot_h_actions_list(ot_req *req);
void ot_h_action_get(ot_req *req);
void ot_h_action_post(ot_req *req);
void ot_h_rollback(ot_req *req);

#endif
