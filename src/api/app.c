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
#include "action/executor.h"
#include "aiw/events.h"
#include "aiw/registry.h"
#include "aiw/subscribers.h"
#include "api/stream.h"
#include "core/buf.h"
#include "core/ring.h"
#include "store/kafka_sink.h"
#include "store/redis.h"
#include "store/store.h"
#include "sim/service.h"
#include "telemetry/ingest.h"
#include "telemetry/mqtt_adapter.h"
#include "telemetry/pipeline.h"
#include "core/clock.h"
#include "core/log.h"
#include "policy/auth.h"
#include "policy/engine.h"

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

static const char *store_health(void *ctx, json_t *detail)
{
    return ot_store_health(ctx, detail);
}

static void store_metrics(void *ctx, ot_buf *out) { ot_store_metrics(ctx, out); }

static void stream_metrics(void *ctx, ot_buf *out)
{
    ot_streams_stats st;
    ot_streams_get_stats(ctx, &st);
    ot_buf_printf(out,
                  "# HELP opstwin_sse_streams Open /subscribe streams.\n"
                  "# TYPE opstwin_sse_streams gauge\n"
                  "opstwin_sse_streams %ld\n"
                  "# HELP opstwin_sse_sent_bytes_total Bytes sent to subscribers.\n"
                  "# TYPE opstwin_sse_sent_bytes_total counter\n"
                  "opstwin_sse_sent_bytes_total %lu\n"
                  "# HELP opstwin_sse_socket_full_total Times a subscriber's socket was full "
                  "(the client reads more slowly than events come).\n"
                  "# TYPE opstwin_sse_socket_full_total counter\n"
                  "opstwin_sse_socket_full_total %lu\n",
                  st.streams, st.sent_bytes, st.socket_full);
}

/* The Kafka event sink, when KAFKA_BOOTSTRAP_SERVERS is set: it sees every
 * committed event through a commit listener. */
static int start_kafka(ot_app *app, ot_error *err)
{
    const ot_config *cfg = &app->cfg;
    if (!cfg->kafka_bootstrap[0])
        return 0;
    ot_kafka_options ko = {
        .bootstrap = cfg->kafka_bootstrap,
        .topic = cfg->kafka_topic,
        .properties = cfg->kafka_properties,
        .data_dir = cfg->data_dir,
        .flush_timeout_ms = cfg->kafka_flush_timeout_ms,
        .store = app->store,
    };
    if (ot_kafka_sink_start(&ko, &app->kafka, err))
        return err->code;
    if (ot_app_add_commit_listener(app, ot_kafka_sink_on_commit, app->kafka))
        return ot_error_set(err, OT_EINTERNAL, NULL, "too many commit listeners");
    ot_app_add_health(app, "kafka", ot_kafka_sink_health, app->kafka);
    ot_metrics_add_source(app->metrics, ot_kafka_sink_metrics, app->kafka);
    return 0;
}

/* JWT secret: configured, or generated once and kept in DATA_DIR, in which
 * case an admin token is printed when it is created. */
static int setup_secret(ot_app *app, ot_error *err)
{
    if (app->cfg.jwt_secret[0]) {
        snprintf(app->jwt_secret, sizeof app->jwt_secret, "%s", app->cfg.jwt_secret);
        return 0;
    }
    int created = 0;
    if (ot_auth_load_secret(app->cfg.data_dir, app->jwt_secret, sizeof app->jwt_secret,
                            &created, err))
        return err->code;
    if (created) {
        const char *roles[] = {"admin"};
        char *tok = ot_auth_mint(app->jwt_secret, "admin", roles, 1, NULL, 0,
                                 30LL * 86400, err); /* a bootstrap token: 30 days */
        if (!tok)
            return err->code;
        json_t *f = json_pack("{s:s}", "admin_token", tok);
        ot_log_fields(OT_LOG_CRITICAL,
                      "no JWT_SECRET_KEY: generated a secret in DATA_DIR/.jwt_secret; this admin "
                      "token is printed once (mint others with `opstwin token`)",
                      f);
        json_decref(f);
        free(tok);
    }
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

int ot_app_add_commit_listener(ot_app *app, ot_commit_fn fn, void *ctx)
{
    int n = atomic_load(&app->nlisteners);
    if (n >= OT_APP_MAX_LISTENERS)
        return -1;
    app->listeners[n].fn = fn;
    app->listeners[n].ctx = ctx;
    atomic_store(&app->nlisteners, n + 1);
    return 0;
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
    ot_redis_url ru;
    if (cfg->redis_url[0] && ot_redis_url_parse(cfg->redis_url, &ru, err))
        goto fail; /* before anything is opened */
    if (mkdir_p(cfg->data_dir, err))
        goto fail;
    if (setup_secret(app, err))
        goto fail;
    app->metrics = ot_metrics_new(ot_routes_count);
    app->streams = ot_streams_new(OT_STREAM_TICK_MS);
    app->auth_cache = ot_auth_cache_new();
    if (!app->metrics || !app->streams || !app->auth_cache) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    ot_metrics_add_source(app->metrics, stream_metrics, app->streams);
    app->ring = ot_ring_new((size_t)cfg->event_ring);
    if (!app->ring) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory for the event ring");
        goto fail;
    }
    ot_store_options so = {
        .data_dir = cfg->data_dir,
        .database_url = cfg->database_url,
        .queue_limit = cfg->ingest_queue,
        .read_connections = 8,
        .retention_days = cfg->retention_days,
        .on_commit = ot_events_on_commit,
        .on_commit_ctx = app,
    };
    if (ot_store_open(&so, &app->store, err))
        goto fail;
    if (start_kafka(app, err)) /* before anything else commits events */
        goto fail;
    if (cfg->redis_url[0]) {
        ot_redis_options ro = {.url = cfg->redis_url, .prefix = cfg->redis_prefix,
                               .stream = cfg->redis_stream,
                               .stream_maxlen = cfg->redis_stream_maxlen,
                               .sim_ttl_s = cfg->redis_sim_ttl_s, .store = app->store};
        if (ot_redis_start(&ro, &app->redis, err))
            goto fail;
        ot_app_add_commit_listener(app, ot_redis_on_commit, app->redis);
        ot_app_add_health(app, "redis", ot_redis_health, app->redis);
        ot_metrics_add_source(app->metrics, ot_redis_metrics, app->redis);
    }
    if (ot_subscribers_open(app->store, app->redis, &app->subscribers, err))
        goto fail;
    if (ot_profiles_open(app->store, &app->profiles, err))
        goto fail;
    if (ot_registry_open(app->store, &app->registry, err))
        goto fail;
    app->check_telemetry = ot_registry_check_telemetry;
    app->check_ctx = app->registry;
    if (ot_sim_service_start(app, &app->sim, err))
        goto fail;
    if (ot_mqtt_new(app, &app->mqtt, err)) /* before the executor: its mqtt target */
        goto fail;
    if (ot_executor_start(app, &app->executor, err))
        goto fail;
    if (ot_engine_start(app, &app->engine, err))
        goto fail;
    if (ot_pipeline_start(app, (int)sysconf(_SC_NPROCESSORS_ONLN), &app->pipeline, err))
        goto fail;
    ot_metrics_add_source(app->metrics, ot_pipeline_metrics, app->pipeline);
    /* wake the detector shards once per round of store completions */
    ot_store_set_on_completed(app->store, ot_pipeline_kick, app->pipeline);
    ot_app_add_health(app, "store", store_health, app->store);
    ot_metrics_add_source(app->metrics, store_metrics, app->store);
    if (ot_mqtt_start(app->mqtt, err)) /* feeds the pipeline after commits */
        goto fail;
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
    ot_mqtt_stop(app->mqtt); /* disconnects; commits what was received */
    if (app->store)
        ot_store_set_on_completed(app->store, NULL, NULL);
    ot_pipeline_stop(app->pipeline); /* analyses what was fed; queues anomaly writes */
    ot_sim_service_stop(app->sim); /* finishes queued runs (and their rule proposals) */
    ot_engine_stop(app->engine);
    ot_executor_stop(app->executor); /* runs queued actions to their outcome */
    ot_mqtt_free(app->mqtt);
    ot_redis_stop(app->redis); /* mirrors what is committed (bounded wait) */
    ot_kafka_sink_stop_reading(app->kafka); /* before the store goes */
    ot_store_close(app->store); /* drains: everything acknowledged is committed */
    ot_kafka_sink_close(app->kafka); /* flushes what the drain handed over */
    ot_redis_free(app->redis);
    ot_subscribers_free(app->subscribers);
    ot_profiles_free(app->profiles);
    ot_registry_free(app->registry);
    ot_ring_free(app->ring);
    ot_streams_free(app->streams);
    ot_metrics_free(app->metrics);
    ot_auth_cache_free(app->auth_cache);
    free(app);
}
