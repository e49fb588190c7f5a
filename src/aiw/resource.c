/* resource.c - GET /r/{type}/{id}: any stored resource an event's data_ref
 * points to. */
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "aiw/resource.h"
#include "api/app.h"
#include "store/store.h"

static const char *const types[] = {"telemetry", "anomaly", "sim", "decision", "proposal", "action"};

void ot_h_resource(ot_req *req)
{
    const char *type = ot_req_param(req, "type"), *id = ot_req_param(req, "id");
    int known = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i]) == 0)
            known = 1;
    if (!known) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.type",
                        "unknown resource type '%.40s'; types are telemetry, anomaly, sim, "
                        "decision, proposal, action",
                        type);
        return;
    }
    if (!ot_name_valid(id, 128)) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.id", "no %s with id '%.60s'", type, id);
        return;
    }
    ot_error err;
    ot_error_clear(&err);
    char *doc = ot_store_get_doc(req->app->store, type, id, &err);
    if (!doc) {
        ot_reply_error(req, &err);
        return;
    }
    /* the same rules as the typed endpoints: the token's twin scope, and a
     * webhook action's secret stays on the server */
    json_t *j = json_loads(doc, 0, NULL);
    const char *twin = json_string_value(json_object_get(j, "twin_id"));
    if (twin && !ot_req_scope_ok(req, twin)) {
        ot_reply_errorf(req, OT_EFORBIDDEN, "$.twin_id", "twin is outside the token's scope");
    } else if (j && strcmp(type, "action") == 0 &&
               json_object_get(json_object_get(j, "executor"), "secret")) {
        json_object_del(json_object_get(j, "executor"), "secret");
        ot_reply_json(req, 200, json_incref(j));
    } else {
        ot_reply_data(req, 200, "application/json", doc, strlen(doc));
    }
    json_decref(j);
    free(doc);
}
