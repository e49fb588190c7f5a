/* openapi.c - the OpenAPI 3.1 document, generated from the route table so
 * that every routed path is documented and nothing else is. */
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/router.h"
#include "api/system.h"

/* Path parameters of a pattern, as OpenAPI parameter objects. */
static void add_path_params(json_t *params, const char *pattern)
{
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e)
            break;
        json_array_append_new(params,
                              json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1,
                                        (size_t)(e - p - 1), "in", "path", "required", 1,
                                        "schema", "type", "string"));
    }
}

static void add_query_params(json_t *params, const char *query)
{
    if (!query)
        return;
    for (const char *p = query; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p, n, "in",
                                                "query", "required", 0, "schema", "type",
                                                "string"));
        p += n;
        if (*p == ',')
            p++;
    }
}

static json_t *operation(const struct ot_route *r)
{
    json_t *op = json_pack("{s:s, s:s, s:[s]}", "operationId", r->name, "summary", r->summary,
                           "tags", r->pattern[1] == '.' ? "aiw" : "opstwin");
    json_t *params = json_array();
    add_path_params(params, r->pattern);
    add_query_params(params, r->query);
    if (json_array_size(params))
        json_object_set(op, "parameters", params);
    json_decref(params);
    if (r->body_schema) {
        char ref[128];
        snprintf(ref, sizeof ref, "/schemas/%s", r->body_schema);
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "$ref", ref));
    }
    const char *ctype = r->response ? r->response : "application/json";
    json_t *responses = json_pack("{s:{s:s, s:{s:{}}}}", "200", "description", "success",
                                  "content", ctype);
    json_object_set_new(responses, "default",
                        json_pack("{s:s, s:{s:{s:{s:s}}}}", "description",
                                  "error envelope (4xx/5xx)", "content", "application/json",
                                  "schema", "$ref", "#/components/schemas/Error"));
    json_object_set_new(op, "responses", responses);
    if (r->perm != OT_PERM_PUBLIC) {
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
        json_object_set_new(op, "x-permission", json_string(ot_perm_name(r->perm)));
    } else {
        json_object_set_new(op, "security", json_array());
    }
    return op;
}

json_t *ot_openapi_document(const struct ot_app *app)
{
    (void)app;
    json_t *paths = json_object();
    for (size_t i = 0; i < ot_routes_count; i++) {
        const struct ot_route *r = &ot_routes[i];
        json_t *item = json_object_get(paths, r->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        char method[16];
        size_t k = 0;
        for (; r->method[k] && k < sizeof method - 1; k++)
            method[k] = (char)(r->method[k] | 0x20);
        method[k] = '\0';
        json_object_set_new(item, method, operation(r));
    }
    json_t *error = json_pack(
        "{s:s, s:[s], s:{s:{s:s, s:[s,s], s:{s:{s:s}, s:{s:s}, s:{s:s, s:{s:s, s:{s:{s:s}, s:{s:s}}}}}}}}",
        "type", "object", "required", "error", "properties", "error", "type", "object",
        "required", "code", "message", "properties", "code", "type", "string", "message",
        "type", "string", "details", "type", "array", "items", "type", "object", "properties",
        "path", "type", "string", "message", "type", "string");
    return json_pack("{s:s, s:{s:s, s:s, s:s, s:{s:s, s:s}}, s:o, s:{s:{s:o}, s:{s:{s:s, s:s, s:s}}}}",
                     "openapi", "3.1.0", "info", "title", "OpsTwin API", "version", OT_VERSION,
                     "description",
                     "Operations digital twin: telemetry, anomalies, simulation, policy and "
                     "actions, with the AIW protocol for AI agents.",
                     "license", "name", "Apache-2.0", "identifier", "Apache-2.0", "paths", paths,
                     "components", "schemas", "Error", error, "securitySchemes", "bearerAuth",
                     "type", "http", "scheme", "bearer", "bearerFormat", "JWT");
}
