/* app.h - the server context: the one place that owns every component.
 *
 * main creates one ot_app (ot_app_start), which builds the components in
 * dependency order (store, event log, registry, pipeline, HTTP) and tears
 * them down in reverse (ot_app_stop). Handlers reach everything through
 * req->app. There is no other global mutable state.
 *
 * Components register a health probe (ot_app_add_health) that /health reads;
 * a probe returns "ok", "degraded" or "down" plus optional detail.
 */
#ifndef OT_API_APP_H
#define OT_API_APP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

struct ot_http;
struct ot_metrics;
struct ot_streams;
struct ot_store;
struct ot_ring;
struct ot_event;

/* A health probe: returns "ok", "degraded" or "down"; may add fields to
 * detail (borrowed). */
typedef const char *(*ot_health_fn)(void *ctx, json_t *detail);

/* A commit listener: called on the store's syncer thread after each durable
 * commit with the group's events in cursor order (borrowed for the call).
 * It must not block: copy what it needs and hand it to its own thread. */
typedef void (*ot_commit_fn)(void *ctx, const struct ot_event *evs, size_t n);

#define OT_APP_MAX_HEALTH 16
#define OT_APP_MAX_LISTENERS 8

typedef struct ot_app {
    ot_config cfg;
    struct ot_http *http;
    struct ot_metrics *metrics;
    struct ot_streams *streams;
    struct ot_store *store;
    struct ot_ring *ring;         /* recent events (aiw/events.h) */
    atomic_int sse_count;         /* live /subscribe streams */
    struct ot_registry *registry; /* schemas (aiw/registry.h) */
    struct ot_sim_service *sim;   /* simulation worker (sim/service.h) */
    struct ot_pipeline *pipeline; /* detection after commit (telemetry/pipeline.h) */
    struct ot_engine *engine;     /* policies, proposals, decisions (policy/engine.h) */
    struct ot_actions *executor;  /* actions (action/executor.h) */
    struct ot_profiles *profiles; /* twins' ingest profiles (telemetry/ingest.h) */
    struct ot_redis *redis;       /* REDIS_URL integration, or NULL (store/redis.h) */
    struct ot_subscribers *subscribers; /* /diff?subscriber= cursors (aiw/subscribers.h) */
    struct ot_kafka_sink *kafka;  /* event sink, NULL when off (store/kafka_sink.h) */
    struct ot_mqtt *mqtt;         /* MQTT adapter and command target, or NULL
                                     (telemetry/mqtt_adapter.h) */
    /* schema check of each canonical telemetry object before it is stored;
     * returns 0 or fills err (path prefixed with prefix) */
    int (*check_telemetry)(void *ctx, const json_t *tel, const char *prefix, ot_error *err);
    void *check_ctx;
    int64_t started_us;
    int cors_any;                 /* CORS_ORIGINS == "*" */
    char jwt_secret[OT_CFG_STR];  /* JWT_SECRET_KEY, or generated in DATA_DIR */
    struct ot_auth_cache *auth_cache; /* verified bearer tokens */
    int nhealth;
    struct { const char *name; ot_health_fn fn; void *ctx; } health[OT_APP_MAX_HEALTH];
    atomic_int nlisteners;        /* published after the entry is filled */
    struct { ot_commit_fn fn; void *ctx; } listeners[OT_APP_MAX_LISTENERS];
} ot_app;

/* Build and start everything; on failure everything built is torn down,
 * err says what failed, and NULL is returned. */
ot_app *ot_app_start(const ot_config *cfg, ot_error *err);

/* Graceful stop: stop accepting, end streams, let in-flight requests
 * finish (up to drain_ms), drain queues, commit, close. */
void ot_app_stop(ot_app *app, int drain_ms);

void ot_app_add_health(ot_app *app, const char *name, ot_health_fn fn, void *ctx);

/* Register a commit listener (during start-up, from one thread). Events
 * committed before it is registered are not replayed: a listener that must
 * see every event catches up from the store itself. 0, or -1 when full. */
int ot_app_add_commit_listener(ot_app *app, ot_commit_fn fn, void *ctx);

#endif
