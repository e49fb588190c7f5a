#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"

static void h(ot_req *req) { (void)req; }

static const struct ot_route table[] = {
    {"GET", "/r/{type}/{id}", h, "res", OT_PERM_READ, "", NULL, NULL, NULL},
    {"GET", "/twins", h, "twins", OT_PERM_READ, "", NULL, NULL, NULL},
    {"GET", "/twins/{twin_id}", h, "twin", OT_PERM_READ, "", NULL, NULL, NULL},
    {"GET", "/twins/{twin_id}/model", h, "model_get", OT_PERM_READ, "", NULL, NULL, NULL},
    {"PUT", "/twins/{twin_id}/model", h, "model_put", OT_PERM_ADMIN, "", NULL, NULL, NULL},
    {"GET", "/schemas/{name}", h, "schema", OT_PERM_PUBLIC, "", NULL, NULL, NULL},
    {"POST", "/schemas/{name}/validate", h, "validate", OT_PERM_PUBLIC, "", NULL, NULL, NULL},
    {"GET", "/schemas/builtin", h, "builtin", OT_PERM_PUBLIC, "", NULL, NULL, NULL},
    {"GET", "/", h, "root", OT_PERM_PUBLIC, "", NULL, NULL, NULL},
};
#define N (sizeof table / sizeof table[0])

static enum ot_match run(const char *method, const char *path, ot_req *req,
                         const struct ot_route **out, char *allow)
{
    memset(req, 0, sizeof *req);
    req->path_copy = strdup(path);
    return ot_router_match(table, N, method, req, out, allow, 64);
}

Test(router, params_are_bound)
{
    ot_req req;
    const struct ot_route *r;
    char allow[64];
    cr_assert_eq(run("GET", "/r/telemetry/tel_123", &req, &r, allow), OT_MATCH_OK);
    cr_assert_str_eq(r->name, "res");
    cr_assert_str_eq(ot_req_param(&req, "type"), "telemetry");
    cr_assert_str_eq(ot_req_param(&req, "id"), "tel_123");
    cr_assert_null(ot_req_param(&req, "ty"));
    cr_assert_null(ot_req_param(&req, "twin_id"));
    free(req.path_copy);
}

Test(router, literal_beats_parameter)
{
    ot_req req;
    const struct ot_route *r;
    char allow[64];
    cr_assert_eq(run("GET", "/schemas/builtin", &req, &r, allow), OT_MATCH_OK);
    cr_assert_str_eq(r->name, "builtin");
    free(req.path_copy);
    cr_assert_eq(run("GET", "/schemas/telemetry.v1", &req, &r, allow), OT_MATCH_OK);
    cr_assert_str_eq(r->name, "schema");
    cr_assert_str_eq(ot_req_param(&req, "name"), "telemetry.v1");
    free(req.path_copy);
}

Test(router, method_mismatch_lists_allowed)
{
    ot_req req;
    const struct ot_route *r;
    char allow[64];
    cr_assert_eq(run("DELETE", "/twins/t1/model", &req, &r, allow), OT_MATCH_METHOD);
    cr_assert_str_eq(allow, "GET, PUT");
    free(req.path_copy);
    cr_assert_eq(run("HEAD", "/twins", &req, &r, allow), OT_MATCH_OK); /* HEAD = GET */
    free(req.path_copy);
}

Test(router, no_match_cases)
{
    ot_req req;
    const struct ot_route *r;
    char allow[64];
    const char *paths[] = {"/r/telemetry", "/r/telemetry/x/y", "/r//x", "/twinsx",
                           "/r/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        cr_assert_eq(run("GET", paths[i], &req, &r, allow), OT_MATCH_NONE, "%s", paths[i]);
        cr_assert_null(r);
        free(req.path_copy);
    }
}

Test(router, trailing_slash_and_root)
{
    ot_req req;
    const struct ot_route *r;
    char allow[64];
    cr_assert_eq(run("GET", "/twins/", &req, &r, allow), OT_MATCH_OK);
    cr_assert_str_eq(r->name, "twins");
    free(req.path_copy);
    cr_assert_eq(run("GET", "/", &req, &r, allow), OT_MATCH_OK);
    cr_assert_str_eq(r->name, "root");
    free(req.path_copy);
}

Test(router, real_table_has_unique_method_and_path)
{
    for (size_t i = 0; i < ot_routes_count; i++)
        for (size_t j = i + 1; j < ot_routes_count; j++) {
            cr_assert(strcmp(ot_routes[i].name, ot_routes[j].name) != 0, "name %s twice",
                      ot_routes[i].name);
            cr_assert(strcmp(ot_routes[i].pattern, ot_routes[j].pattern) != 0 ||
                          strcmp(ot_routes[i].method, ot_routes[j].method) != 0,
                      "%s %s twice", ot_routes[i].method, ot_routes[i].pattern);
        }
}
