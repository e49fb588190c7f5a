/* routes.c - THE route table: every endpoint, its handler, the permission
 * it needs and its documentation. One row per method and path. */
#include "aiw/manifest.h"
#include "api/router.h"
#include "api/system.h"

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
};
const size_t ot_routes_count = sizeof ot_routes / sizeof ot_routes[0];
