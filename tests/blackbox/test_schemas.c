/* Black-box tests of the schema registry: GET/POST /schemas,
 * /schemas/{name}, /schemas/{name}/validate, persistence across a restart,
 * and the SchemaRegistered event. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(schemas, .init = up, .fini = down, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

#define PUMP_SCHEMA                                                                          \
    "{\"type\":\"object\",\"required\":[\"rpm\"],\"properties\":{\"rpm\":{\"type\":\"number\"," \
    "\"minimum\":0},\"state\":{\"enum\":[\"on\",\"off\"]}},\"additionalProperties\":false}"

Test(schemas, lists_the_nine_builtins)
{
    static const char *builtins[] = {"telemetry.v1", "anomaly.v1",  "policy.v1",
                                     "proposal.v1",  "action.v1",   "sim.v1",
                                     "decision.v1",  "event.v1",    "twin_model.v1"};
    json_t *l = bb_req(&srv, "GET", "/schemas", NULL, 200);
    json_t *arr = json_object_get(l, "schemas");
    cr_assert_eq(json_array_size(arr), 9);
    for (size_t b = 0; b < 9; b++) {
        int found = 0;
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e) {
            if (strcmp(sget(e, "name"), builtins[b]) == 0) {
                found = 1;
                cr_assert_str_eq(sget(e, "version"), "v1");
                cr_assert(json_is_true(json_object_get(e, "builtin")));
            }
        }
        cr_assert(found, "%s not listed", builtins[b]);
        /* each is served and is a JSON Schema document */
        json_t *d = bb_getf(&srv, 200, "/schemas/%s", builtins[b]);
        cr_assert(json_is_object(d));
        cr_assert(json_is_string(json_object_get(d, "$schema")) ||
                  json_is_string(json_object_get(d, "$id")), "%s", builtins[b]);
        json_decref(d);
    }
    json_decref(l);
}

Test(schemas, telemetry_v1_and_unknown_names)
{
    json_t *d = bb_req(&srv, "GET", "/schemas/telemetry.v1", NULL, 200);
    cr_assert_str_eq(sget(d, "type"), "object");
    json_t *req = json_object_get(d, "required");
    int has_twin = 0;
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v) has_twin |= strcmp(json_string_value(v), "twin_id") == 0;
    cr_assert(has_twin, "telemetry.v1 does not require twin_id");
    json_decref(d);
    bb_resp r;
    bb_http(&srv, "GET", "/schemas/nope.v1", NULL, NULL, &r);
    bb_assert_error(&r, 404, "not_found", NULL);
    bb_resp_free(&r);
    bb_http(&srv, "POST", "/schemas/nope.v1/validate", "{}", NULL, &r);
    bb_assert_error(&r, 404, "not_found", NULL);
    bb_resp_free(&r);
}

Test(schemas, register_same_different_builtin_invalid_malformed)
{
    json_t *r = bb_req(&srv, "POST", "/schemas", "{\"name\":\"pump.v1\",\"schema\":" PUMP_SCHEMA "}",
                       201);
    cr_assert_str_eq(sget(r, "name"), "pump.v1");
    cr_assert_str_eq(sget(r, "url"), "/schemas/pump.v1");
    json_decref(r);
    /* listed, served as given */
    json_t *d = bb_req(&srv, "GET", "/schemas/pump.v1", NULL, 200);
    json_t *want = json_loads(PUMP_SCHEMA, 0, NULL);
    cr_assert(json_equal(d, want));
    json_decref(want);
    json_decref(d);
    json_t *l = bb_req(&srv, "GET", "/schemas", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "schemas")), 10);
    json_decref(l);
    /* the same content again (keys in another order): 200, unchanged */
    r = bb_req(&srv, "POST", "/schemas",
               "{\"schema\":{\"additionalProperties\":false,\"properties\":{\"state\":{\"enum\":"
               "[\"on\",\"off\"]},\"rpm\":{\"minimum\":0,\"type\":\"number\"}},\"required\":"
               "[\"rpm\"],\"type\":\"object\"},\"name\":\"pump.v1\"}",
               200);
    json_decref(r);
    bb_resp e;
    bb_http(&srv, "POST", "/schemas",
            "{\"name\":\"pump.v1\",\"schema\":{\"type\":\"object\",\"required\":[\"rpm\",\"x\"]}}",
            NULL, &e);
    bb_assert_error(&e, 409, "conflict", "$.name");
    cr_assert(strstr(e.body, "pump.v2"), "409 should suggest the next version: %s", e.body);
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas", "{\"name\":\"telemetry.v1\",\"schema\":{}}", NULL, &e);
    bb_assert_error(&e, 409, "conflict", "$.name");
    bb_resp_free(&e);
    /* invalid schemas: 400 naming the problem */
    bb_http(&srv, "POST", "/schemas", "{\"name\":\"bad.v1\",\"schema\":{\"type\":\"objekt\"}}",
            NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", NULL);
    cr_assert(strstr(e.body, "type"), "%s", e.body);
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas",
            "{\"name\":\"bad.v1\",\"schema\":{\"properties\":{\"a\":{\"minimum\":\"x\"}}}}", NULL,
            &e);
    bb_assert_error(&e, 400, "validation_failed", NULL);
    cr_assert(strstr(e.body, "minimum"), "%s", e.body);
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas", "{\"name\":\"bad.v1\",\"schema\":42}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.schema");
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas", "{\"name\":\"bad name\",\"schema\":{}}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.name");
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas", "{\"schema\":{}}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.name");
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas", "{\"name\":\"x.v1\",\"schema\":{},\"extra\":1}", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.extra");
    bb_resp_free(&e);
    bb_http(&srv, "POST", "/schemas", "{\"name\":\"x.v1\",\"schema\":", NULL, &e);
    bb_assert_error(&e, 400, "validation_failed", "$.schema");
    bb_resp_free(&e);
    /* none of the rejected ones was registered */
    bb_http(&srv, "GET", "/schemas/bad.v1", NULL, NULL, &e);
    bb_assert_error(&e, 404, "not_found", NULL);
    bb_resp_free(&e);
    /* exactly one SchemaRegistered event */
    json_t *ev = bb_diff_all(&srv, "types=SchemaRegistered", 100);
    cr_assert_eq(json_array_size(ev), 1);
    json_t *e0 = json_array_get(ev, 0);
    cr_assert_str_eq(sget(e0, "id"), "pump.v1");
    cr_assert_str_eq(sget(json_object_get(e0, "data_ref"), "type"), "schema");
    cr_assert_str_eq(sget(json_object_get(e0, "data_ref"), "id"), "pump.v1");
    json_decref(ev);
}

Test(schemas, validate_reports_path_keyword_message)
{
    json_decref(bb_req(&srv, "POST", "/schemas",
                       "{\"name\":\"pump.v1\",\"schema\":" PUMP_SCHEMA "}", 201));
    json_t *v = bb_req(&srv, "POST", "/schemas/pump.v1/validate", "{\"rpm\":12.5,\"state\":\"on\"}",
                       200);
    cr_assert(json_is_true(json_object_get(v, "valid")));
    cr_assert_eq(json_array_size(json_object_get(v, "errors")), 0);
    json_decref(v);
    v = bb_req(&srv, "POST", "/schemas/pump.v1/validate", "{\"rpm\":-1}", 200);
    cr_assert(json_is_false(json_object_get(v, "valid")));
    json_t *e = json_array_get(json_object_get(v, "errors"), 0);
    cr_assert_str_eq(sget(e, "path"), "/rpm");
    cr_assert(strstr(sget(e, "keyword"), "minimum"), "keyword %s", sget(e, "keyword"));
    cr_assert(json_string_length(json_object_get(e, "message")) > 0);
    json_decref(v);
    v = bb_req(&srv, "POST", "/schemas/pump.v1/validate", "{\"state\":\"broken\",\"x\":1}", 200);
    cr_assert(json_is_false(json_object_get(v, "valid")));
    cr_assert_geq(json_array_size(json_object_get(v, "errors")), 3, "required, enum and "
                  "additionalProperties are all reported");
    size_t i;
    json_array_foreach(json_object_get(v, "errors"), i, e) {
        cr_assert(json_is_string(json_object_get(e, "path")));
        cr_assert(json_is_string(json_object_get(e, "keyword")));
        cr_assert(json_is_string(json_object_get(e, "message")));
    }
    json_decref(v);
    /* built-ins validate too */
    v = bb_req(&srv, "POST", "/schemas/telemetry.v1/validate",
               "{\"event_id\":\"e1\",\"twin_id\":\"t\",\"asset_id\":\"a\","
               "\"ts\":\"2026-01-04T12:34:56.000000Z\",\"metrics\":{\"v\":1}}",
               200);
    cr_assert(json_is_true(json_object_get(v, "valid")));
    json_decref(v);
    bb_resp r;
    bb_http(&srv, "POST", "/schemas/pump.v1/validate", "{\"rpm\":", NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", NULL);
    bb_resp_free(&r);
}

Test(schemas_restart, registered_schema_survives_a_restart, .timeout = 90)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    json_decref(bb_req(&s, "POST", "/schemas",
                       "{\"name\":\"pump.v1\",\"schema\":" PUMP_SCHEMA "}", 201));
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    cr_assert_eq(bb_stop(&s, 1), 0);
    bb_start(&s, NULL, NULL, dir);
    json_t *d = bb_req(&s, "GET", "/schemas/pump.v1", NULL, 200);
    json_t *want = json_loads(PUMP_SCHEMA, 0, NULL);
    cr_assert(json_equal(d, want));
    json_decref(want);
    json_decref(d);
    json_t *v = bb_req(&s, "POST", "/schemas/pump.v1/validate", "{\"rpm\":-1}", 200);
    cr_assert(json_is_false(json_object_get(v, "valid")));
    json_decref(v);
    json_t *l = bb_req(&s, "GET", "/schemas", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(l, "schemas")), 10);
    json_decref(l);
    /* still the same schema: re-registering it is a no-op, a change a 409 */
    json_decref(bb_req(&s, "POST", "/schemas", "{\"name\":\"pump.v1\",\"schema\":" PUMP_SCHEMA "}",
                       200));
    json_decref(bb_req(&s, "POST", "/schemas", "{\"name\":\"pump.v1\",\"schema\":{}}", 409));
    json_t *ev = bb_diff_all(&s, "types=SchemaRegistered", 100);
    cr_assert_eq(json_array_size(ev), 1);
    json_decref(ev);
    cr_assert_eq(bb_stop(&s, 0), 0);
}
