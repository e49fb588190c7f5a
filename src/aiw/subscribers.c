/* subscribers.c - see subscribers.h. */
#include "aiw/subscribers.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/strmap.h"
#include "store/redis.h"
#include "store/store.h"

struct ot_subscribers {
    struct ot_store *store;
    struct ot_redis *redis;     /* NULL: the store keeps the cursors */
    pthread_mutex_t mu;
    ot_strmap map;              /* name -> (void *)(cursor + 1) */
};

/* One pending store write; freed by its completion. */
struct pending {
    ot_store_write w;
    ot_store_doc doc;
    char name[OT_SUBSCRIBER_NAME_MAX + 1];
    char json[256];
};

int ot_subscriber_name_valid(const char *name)
{
    return ot_name_valid(name, OT_SUBSCRIBER_NAME_MAX);
}

static void map_put(ot_subscribers *s, const char *name, int64_t cursor)
{
    ot_strmap_put(&s->map, name, (void *)(intptr_t)(cursor + 1), NULL);
}

int ot_subscribers_open(struct ot_store *store, struct ot_redis *redis, ot_subscribers **out,
                        ot_error *err)
{
    ot_subscribers *s = calloc(1, sizeof *s);
    if (!s)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    s->store = store;
    s->redis = redis;
    pthread_mutex_init(&s->mu, NULL);
    if (!redis) {
        json_t *docs = ot_store_list_docs(store, "subscriber", NULL, NULL, OT_SUBSCRIBERS_MAX, err);
        if (!docs) {
            ot_subscribers_free(s);
            return err->code ? err->code : OT_EIO;
        }
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d) {
            const char *name = json_string_value(json_object_get(d, "name"));
            json_t *c = json_object_get(d, "cursor");
            if (name && json_is_integer(c) && json_integer_value(c) >= 0)
                map_put(s, name, json_integer_value(c));
        }
        json_decref(docs);
    }
    *out = s;
    return 0;
}

void ot_subscribers_free(ot_subscribers *s)
{
    if (!s)
        return;
    ot_strmap_clear(&s->map, NULL);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int ot_subscribers_get(ot_subscribers *s, const char *name, int64_t *cursor, ot_error *err)
{
    if (s->redis)
        return ot_redis_cursor_get(s->redis, name, cursor, err);
    pthread_mutex_lock(&s->mu);
    intptr_t v = (intptr_t)ot_strmap_get(&s->map, name);
    pthread_mutex_unlock(&s->mu);
    *cursor = v ? (int64_t)v - 1 : 0;
    return 0;
}

static void write_done(ot_store_write *w, void *ctx)
{
    struct pending *p = ctx;
    if (w->rc)
        ot_log(OT_LOG_ERROR, "subscriber %s: its cursor could not be stored: %s", p->name,
               w->err.message);
    free(p);
}

int ot_subscribers_set(ot_subscribers *s, const char *name, int64_t cursor, ot_error *err)
{
    if (s->redis)
        return ot_redis_cursor_set(s->redis, name, cursor, err);
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    snprintf(p->name, sizeof p->name, "%s", name);
    char ts[OT_TS_BUFSZ];
    snprintf(p->json, sizeof p->json, "{\"name\":\"%s\",\"cursor\":%" PRId64 ",\"updated_at\":\"%s\"}",
             p->name, cursor, ot_ts_format(ot_now_us(), ts));
    p->doc = (ot_store_doc){.type = "subscriber", .id = p->name, .twin_id = "", .json = p->json};
    p->w = (ot_store_write){.docs = &p->doc, .ndocs = 1, .done = write_done, .ctx = p};
    /* The lock orders the submits of one name as their map updates. */
    pthread_mutex_lock(&s->mu);
    if (!ot_strmap_get(&s->map, name) && s->map.n >= OT_SUBSCRIBERS_MAX) {
        pthread_mutex_unlock(&s->mu);
        free(p);
        return ot_error_set(err, OT_ECONFLICT, "$.subscriber",
                            "this server already remembers %d subscriber names; reuse one",
                            OT_SUBSCRIBERS_MAX);
    }
    int rc = ot_store_submit(s->store, &p->w);
    if (rc == 0)
        map_put(s, name, cursor);
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        free(p);
        return ot_error_set(err, rc, NULL,
                            rc == OT_EBUSY ? "the store is busy; the subscriber's cursor could not "
                                             "be saved, retry later"
                                           : "the store is closing or failed; the subscriber's "
                                             "cursor could not be saved");
    }
    return 0;
}
