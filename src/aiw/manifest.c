/* manifest.c - see manifest.h. */
#include "aiw/manifest.h"

#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/router.h"
#include "aiw/registry.h"
#include "sim/service.h"
#include "core/evtype.h"

json_t *ot_manifest_document(const ot_app *app)
{
    json_t *endpoints = json_object();
    for (size_t i = 0; i < ot_routes_count; i++) {
        const struct ot_route *r = &ot_routes[i];
        json_object_set_new(endpoints, r->name,
                            json_pack("{s:s, s:s, s:s, s:s}", "method", r->method, "path",
                                      r->pattern, "permission", ot_perm_name(r->perm), "summary",
                                      r->summary));
    }
    json_t *types = json_array();
    for (int t = 0; t < OT_EV_COUNT; t++)
        json_array_append_new(types, json_string(ot_evtype_name(t)));
    const char *read = app->cfg.public_read ? "none" : "bearer";
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:s, s:o, s:o, s:{s:s, s:s, s:s, s:s, s:s, s:s}, "
        "s:{s:i, s:i, s:I}, s:o, s:{s:o, s:s}}",
        "aiw_version", OT_AIW_VERSION,
        "service", "name", "OpsTwin", "version", OT_VERSION, "description",
        "operations digital twin: telemetry, anomalies, simulation, policy, actions",
        "site_type", "digital_twin",
        "endpoints", endpoints,
        "schemas", ot_registry_list(app->registry),
        "auth", "type", "bearer", "format", "JWT HS256", "read", read, "write", "bearer",
        "action", "bearer", "roles", "viewer, agent, executor, supervisor, admin",
        "limits", "max_sse_connections", app->cfg.max_sse_connections, "max_diff_page_size",
        app->cfg.max_diff_page_size, "max_body_bytes", (json_int_t)app->cfg.max_body_bytes,
        "event_types", types,
        "simulation", "engines", ot_sim_service_engines(), "default_engine", "classical");
}

void ot_h_manifest(ot_req *req) { ot_reply_json(req, 200, ot_manifest_document(req->app)); }
