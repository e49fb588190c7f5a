/* router.h - the route table and path matching.
 *
 * Every endpoint of OpsTwin is one row of the table in routes.c: method,
 * path pattern ("/r/{type}/{id}"), handler, a stable name, the permission it
 * needs and its documentation (summary, query parameters, body schema). The
 * manifest, the OpenAPI document, /metrics labels and the auth layer all read
 * that one table, so none of them can drift from what is routed.
 *
 * Matching splits the path on '/' and compares segment by segment; a
 * "{name}" segment matches any non-empty segment. A literal segment beats a
 * parameter when both match. Thread-safety: the table is immutable after
 * start-up; ot_router_match is reentrant.
 */
#ifndef OT_API_ROUTER_H
#define OT_API_ROUTER_H

#include <stddef.h>

#include "api/http.h"
#include "policy/auth.h" /* enum ot_perm */

struct ot_route {
    const char *method;       /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern;      /* "/r/{type}/{id}" */
    ot_handler handler;
    const char *name;         /* stable id: "resource_get" */
    enum ot_perm perm;
    const char *summary;      /* one line for OpenAPI and the manifest */
    const char *query;        /* documented query params, comma-separated, or NULL */
    const char *body_schema;  /* registry schema name of the request body, or NULL */
    const char *response;     /* content type when not JSON, or NULL */
};

/* The table (routes.c); ot_routes_count entries. */
extern const struct ot_route ot_routes[];
extern const size_t ot_routes_count;

enum ot_match { OT_MATCH_OK = 0, OT_MATCH_NONE = 1, OT_MATCH_METHOD = 2 };

#define OT_ROUTER_MAX_SEGMENTS 16

/* Match method+path against routes[0..n). On OT_MATCH_OK, *out is the route
 * and path params are stored in req (req->path_copy must be a writable copy
 * of the path; values point into it). On OT_MATCH_METHOD, allow receives a
 * comma-separated list of the methods the path does accept ("GET, PUT"). */
enum ot_match ot_router_match(const struct ot_route *routes, size_t n, const char *method,
                              ot_req *req, const struct ot_route **out, char *allow,
                              size_t allow_len);

/* Index of a route in ot_routes (for metrics); -1 if not from the table. */
int ot_route_index(const struct ot_route *r);

#endif
