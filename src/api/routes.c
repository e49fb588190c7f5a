/* routes.c - THE route table: every endpoint, its handler, the permission
 * it needs and its documentation. One row per method and path. */
#include "action/executor.h"
#include "aiw/events.h"
#include "aiw/manifest.h"
#include "aiw/registry.h"
#include "aiw/resource.h"
#include "api/router.h"
#include "api/system.h"
#include "policy/audit.h"
#include "policy/engine.h"
#include "sim/service.h"
#include "telemetry/ingest.h"
#include "telemetry/pipeline.h"
#include "telemetry/query.h"

const struct ot_route ot_routes[] = {
    /* method, pattern, handler, name, permission, summary, query, body schema, content type */
    {"GET", "/health", ot_h_health, "health", OT_PERM_PUBLIC,
     "Service health and the state of each component", NULL, NULL, NULL},
    {"GET", "/metrics", ot_h_metrics, "metrics", OT_PERM_PUBLIC,
     "Prometheus metrics", NULL, NULL, "text/plain"},
    {"GET", "/openapi.json", ot_h_openapi, "openapi", OT_PERM_PUBLIC,
     "This OpenAPI 3.1 document", NULL, NULL, NULL},
    {"GET", "/docs", ot_h_docs, "docs", OT_PERM_PUBLIC,
     "Human-readable API documentation", NULL, NULL, "text/html"},
    {"GET", "/.well-known/aiw-manifest.json", ot_h_manifest, "aiw_manifest", OT_PERM_PUBLIC,
     "AIW manifest: endpoints, schemas, auth, limits, event types", NULL, NULL, NULL},
    {"GET", "/schemas", ot_h_schemas_list, "schemas_list", OT_PERM_PUBLIC,
     "Every schema: built-in and registered", NULL, NULL, NULL},
    {"GET", "/schemas/{name}", ot_h_schema_get, "schema_get", OT_PERM_PUBLIC,
     "One schema document", NULL, NULL, NULL},
    {"POST", "/schemas", ot_h_schema_register, "schema_register", OT_PERM_ADMIN,
     "Register a custom schema {name, schema}", NULL, NULL, NULL},
    {"POST", "/schemas/{name}/validate", ot_h_schema_validate, "schema_validate",
     OT_PERM_PUBLIC, "Validate the body against a schema: {valid, errors}", NULL, NULL, NULL},
    {"GET", "/diff", ot_h_diff, "diff", OT_PERM_READ,
     "Events after a cursor, one page at a time; subscriber=NAME resumes after NAME's "
     "remembered cursor and remembers the page's next_cursor",
     "since,limit,twin_id,types,subscriber", NULL, NULL},
    {"GET", "/subscribe", ot_h_subscribe, "subscribe", OT_PERM_READ,
     "Server-Sent Events: backlog after since (or Last-Event-ID), then live events",
     "since,twin_id,types", NULL, "text/event-stream"},
    {"GET", "/r/{type}/{id}", ot_h_resource, "resource_get", OT_PERM_READ,
     "Any stored resource: telemetry, anomaly, sim, decision, proposal, action", NULL, NULL,
     NULL},
    {"GET", "/telemetry/query", ot_h_telemetry_query, "telemetry_query", OT_PERM_READ,
     "Stored telemetry of a twin in a time range", "twin_id,asset_id,start_time,end_time,limit",
     NULL, NULL},
    {"GET", "/telemetry/aggregate", ot_h_telemetry_aggregate, "telemetry_aggregate",
     OT_PERM_READ, "Time-bucketed aggregate of one metric",
     "twin_id,metric_name,asset_id,window,function,start_time,end_time", NULL, NULL},
    {"GET", "/twins", ot_h_twins, "twins_list", OT_PERM_READ,
     "Every twin with its assets and last report", NULL, NULL, NULL},
    {"GET", "/twins/{twin_id}", ot_h_twin, "twin_get", OT_PERM_READ,
     "A twin: latest values, open anomalies, pending proposals, parameters, model", NULL, NULL,
     NULL},
    {"POST", "/telemetry/ingest", ot_h_ingest, "telemetry_ingest", OT_PERM_PROPOSE,
     "Ingest one telemetry object, a JSON array, or NDJSON; replies once durable", NULL,
     "telemetry.v1", NULL},
    {"GET", "/twins/{twin_id}/ingest", ot_h_ingest_profile_get, "ingest_profile_get",
     OT_PERM_READ, "A twin's ingest profile: renames, unit conversions, expected metrics", NULL,
     NULL, NULL},
    {"PUT", "/twins/{twin_id}/ingest", ot_h_ingest_profile_put, "ingest_profile_put",
     OT_PERM_ADMIN, "Set a twin's ingest profile", NULL, NULL, NULL},
    {"POST", "/sim/run", ot_h_sim_run, "sim_run", OT_PERM_PROPOSE,
     "Monte Carlo what-if simulation on the twin's model", NULL, NULL, NULL},
    {"GET", "/twins/{twin_id}/model", ot_h_model_get, "model_get", OT_PERM_READ,
     "The twin's simulation model (the default model when none is set)", NULL, NULL, NULL},
    {"PUT", "/twins/{twin_id}/model", ot_h_model_put, "model_put", OT_PERM_ADMIN,
     "Set the twin's simulation model", NULL, "twin_model.v1", NULL},
    {"GET", "/twins/{twin_id}/detector", ot_h_detector_get, "detector_get", OT_PERM_READ,
     "The twin's anomaly detector settings (method, thresholds)", NULL, NULL, NULL},
    {"PUT", "/twins/{twin_id}/detector", ot_h_detector_put, "detector_put", OT_PERM_ADMIN,
     "Set the twin's anomaly detector settings", NULL, NULL, NULL},
    {"GET", "/policies/{twin_id}", ot_h_policy_get, "policy_get", OT_PERM_READ,
     "The twin's policy: thresholds, safety constraints, rules (defaults when none is set)",
     NULL, NULL, NULL},
    {"PUT", "/policies/{twin_id}", ot_h_policy_put, "policy_put", OT_PERM_ADMIN,
     "Set the twin's policy", NULL, "policy.v1", NULL},
    {"GET", "/proposals", ot_h_proposals_list, "proposals_list", OT_PERM_READ,
     "Proposals, newest first", "status,twin_id", NULL, NULL},
    {"POST", "/proposals", ot_h_proposal_post, "proposal_create", OT_PERM_PROPOSE,
     "Propose an action: scored, decided (auto_execute, require_approval, require_analysis, "
     "reject) and recorded", NULL, "proposal.v1", NULL},
    {"GET", "/proposals/{id}", ot_h_proposal_get, "proposal_get", OT_PERM_READ,
     "One proposal", NULL, NULL, NULL},
    {"POST", "/proposals/{id}/approve", ot_h_proposal_approve, "proposal_approve",
     OT_PERM_APPROVE, "Approve a pending proposal (optionally with modified params); its action "
     "runs", NULL, NULL, NULL},
    {"POST", "/proposals/{id}/reject", ot_h_proposal_reject, "proposal_reject", OT_PERM_APPROVE,
     "Reject a pending proposal {reason}", NULL, NULL, NULL},
    {"GET", "/actions", ot_h_actions_list, "actions_list", OT_PERM_READ,
     "Actions, newest first", "status,twin_id", NULL, NULL},
    {"GET", "/actions/{id}", ot_h_action_get, "action_get", OT_PERM_READ, "One action", NULL,
     NULL, NULL},
    {"POST", "/actions", ot_h_action_post, "action_create", OT_PERM_EXECUTE,
     "Execute an action directly {twin_id, action, executor?, webhook?} (safety-checked)", NULL,
     NULL, NULL},
    {"POST", "/rollback/{action_id}", ot_h_rollback, "action_rollback", OT_PERM_EXECUTE,
     "Restore what a successful action changed", NULL, NULL, NULL},
    {"GET", "/audit", ot_h_audit, "audit_list", OT_PERM_ADMIN,
     "The hash-chained audit log, in order", "after,limit", NULL, NULL},
    {"GET", "/audit/verify", ot_h_audit_verify, "audit_verify", OT_PERM_ADMIN,
     "Recompute the audit chain: {valid, length, head}", NULL, NULL, NULL},
};
const size_t ot_routes_count = sizeof ot_routes / sizeof ot_routes[0];
