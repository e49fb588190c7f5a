/* app.c - build and tear down the server's components, in order. */
#include "api/app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/http.h"
#include "api/metrics.h"
#include "api/router.h"
#include "api/stream.h"
#include "core/clock.h"
#include "core/log.h"

/* How often suspended streams are woken to send heartbeats and notice
 * closed sockets. SSE heartbeats go out at least every 15 s. */
#define OT_STREAM_TICK_MS 5000

static int mkdir_p(const char *path, ot_error *err)
{
    char tmp[OT_CFG_STR];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return ot_error_set(err, OT_EIO, "DATA_DIR", "cannot create %s: %s", tmp,
                                strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return ot_error_set(err, OT_EIO, "DATA_DIR", "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

void ot_app_add_health(ot_app *app, const char *name, ot_health_fn fn, void *ctx)
{
    if (app->nhealth < OT_APP_MAX_HEALTH) {
        app->health[app->nhealth].name = name;
        app->health[app->nhealth].fn = fn;
        app->health[app->nhealth].ctx = ctx;
        app->nhealth++;
    }
}

ot_app *ot_app_start(const ot_config *cfg, ot_error *err)
{
    ot_app *app = calloc(1, sizeof *app);
    if (!app) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    app->cfg = *cfg;
    app->started_us = ot_now_us();
    app->cors_any = strcmp(cfg->cors_origins, "*") == 0;
    if (mkdir_p(cfg->data_dir, err))
        goto fail;
    app->metrics = ot_metrics_new(ot_routes_count);
    app->streams = ot_streams_new(OT_STREAM_TICK_MS);
    if (!app->metrics || !app->streams) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    app->http = ot_http_start(app, err);
    if (!app->http)
        goto fail;
    return app;
fail:
    ot_app_stop(app, 0);
    return NULL;
}

void ot_app_stop(ot_app *app, int drain_ms)
{
    if (!app)
        return;
    if (app->http) {
        ot_http_quiesce(app->http);
        if (app->streams)
            ot_streams_close_all(app->streams, 2000);
        int64_t deadline = ot_mono_ns() + (int64_t)drain_ms * 1000000;
        while (ot_http_inflight(app->http) > 0 && ot_mono_ns() < deadline)
            usleep(10000);
        ot_http_stop(app->http);
    }
    ot_streams_free(app->streams);
    ot_metrics_free(app->metrics);
    free(app);
}
