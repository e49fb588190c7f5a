/* system.c - /health, /metrics, /docs; the OpenAPI document is openapi.c. */
#include "api/system.h"

#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/embed.h"

void ot_h_health(ot_req *req)
{
    ot_app *app = req->app;
    json_t *components = json_object();
    int down = 0, degraded = 0;
    json_object_set_new(components, "http", json_pack("{s:s}", "status", "ok"));
    for (int i = 0; i < app->nhealth; i++) {
        json_t *detail = json_object();
        const char *st = app->health[i].fn(app->health[i].ctx, detail);
        json_object_set_new(detail, "status", json_string(st));
        json_object_set_new(components, app->health[i].name, detail);
        if (strcmp(st, "down") == 0)
            down = 1;
        else if (strcmp(st, "ok") != 0)
            degraded = 1;
    }
    char ts[OT_TS_BUFSZ];
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:f, s:o}", "status",
                             down ? "unhealthy" : degraded ? "degraded" : "healthy", "service",
                             "OpsTwin", "version", OT_VERSION, "timestamp",
                             ot_ts_format(ot_now_us(), ts), "uptime_s",
                             (double)(ot_now_us() - app->started_us) / 1e6, "components",
                             components);
    ot_reply_json(req, down ? 503 : 200, body);
}

void ot_h_metrics(ot_req *req)
{
    size_t len;
    char *text = ot_metrics_render(req->app->metrics, &len);
    if (!text) {
        ot_reply_errorf(req, OT_ENOMEM, NULL, "could not render metrics");
        return;
    }
    ot_reply_data(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

void ot_h_openapi(ot_req *req) { ot_reply_json(req, 200, ot_openapi_document(req->app)); }

void ot_h_docs(ot_req *req)
{
    const struct ot_embedded_file *f = ot_embed_find("docs/index.html");
    if (!f) {
        ot_reply_errorf(req, OT_ENOTFOUND, NULL, "documentation page not built in");
        return;
    }
    ot_reply_static(req, 200, "text/html; charset=utf-8", f->data, f->len);
}
