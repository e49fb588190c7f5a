/* subscribers.c - see subscribers.h. */
#include "aiw/subscribers.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/strmap.h"
#include "store/redis.h"
#include "store/store.h"

struct ot_subscribers {
    struct ot_store *store;
    struct ot_redis *redis;     /* NULL: the store keeps the cursors */
    pthread_mutex_t mu;
    ot_strmap map;              /* OWNER/NAME (or a NAME stored before owners)
                                   -> (void *)(cursor + 1) */
};

#define KEY_MAX (OT_SUBSCRIBER_OWNER_MAX + 1 + OT_SUBSCRIBER_NAME_MAX + 1)

/* One pending store write; freed by its completion. */
struct pending {
    ot_store_write w;
    ot_store_doc doc;
    char key[KEY_MAX];
    char *json;
};

/* "OWNER/NAME" into key (KEY_MAX bytes): names have no '/', so it is
 * unambiguous whatever the owner holds. */
static const char *key_of(char *key, const char *owner, const char *name)
{
    snprintf(key, KEY_MAX, "%.*s/%s", OT_SUBSCRIBER_OWNER_MAX, owner, name);
    return key;
}

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
            const char *owner = json_string_value(json_object_get(d, "owner"));
            json_t *c = json_object_get(d, "cursor");
            char key[KEY_MAX];
            if (name && json_is_integer(c) && json_integer_value(c) >= 0)
                map_put(s, owner ? key_of(key, owner, name) : name, json_integer_value(c));
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

/* The cursor kept under key, 0 when there is none. */
static int get_key(ot_subscribers *s, const char *key, int64_t *cursor, ot_error *err)
{
    if (s->redis)
        return ot_redis_cursor_get(s->redis, key, cursor, err);
    pthread_mutex_lock(&s->mu);
    intptr_t v = (intptr_t)ot_strmap_get(&s->map, key);
    pthread_mutex_unlock(&s->mu);
    *cursor = v ? (int64_t)v - 1 : 0;
    return 0;
}

int ot_subscribers_get(ot_subscribers *s, const char *owner, const char *name, int64_t *cursor,
                       ot_error *err)
{
    char key[KEY_MAX];
    int rc = get_key(s, key_of(key, owner, name), cursor, err);
    if (rc == 0 && *cursor == 0)
        rc = get_key(s, name, cursor, err); /* kept before owners (file comment) */
    return rc;
}

static void write_done(ot_store_write *w, void *ctx)
{
    struct pending *p = ctx;
    if (w->rc)
        ot_log(OT_LOG_ERROR, "subscriber %s: its cursor could not be stored: %s", p->key,
               w->err.message);
    free(p->json);
    free(p);
}

int ot_subscribers_set(ot_subscribers *s, const char *owner, const char *name, int64_t cursor,
                       ot_error *err)
{
    char key[KEY_MAX];
    key_of(key, owner, name);
    if (s->redis)
        return ot_redis_cursor_set(s->redis, key, cursor, err);
    struct pending *p = calloc(1, sizeof *p);
    char ts[OT_TS_BUFSZ];
    json_t *doc = json_pack("{s:s%, s:s, s:I, s:s}", "owner", owner,
                            strnlen(owner, OT_SUBSCRIBER_OWNER_MAX),
                            "name", name, "cursor", (json_int_t)cursor, "updated_at",
                            ot_ts_format(ot_now_us(), ts));
    if (p && doc)
        p->json = ot_json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!p || !p->json) {
        free(p);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    memcpy(p->key, key, sizeof key);
    p->doc = (ot_store_doc){.type = "subscriber", .id = p->key, .twin_id = "", .json = p->json};
    p->w = (ot_store_write){.docs = &p->doc, .ndocs = 1, .done = write_done, .ctx = p};
    /* The lock orders the submits of one key as their map updates. */
    pthread_mutex_lock(&s->mu);
    if (!ot_strmap_get(&s->map, key) && s->map.n >= OT_SUBSCRIBERS_MAX) {
        pthread_mutex_unlock(&s->mu);
        free(p->json);
        free(p);
        return ot_error_set(err, OT_ECONFLICT, "$.subscriber",
                            "this server already remembers %d subscriber names; reuse one",
                            OT_SUBSCRIBERS_MAX);
    }
    int rc = ot_store_submit(s->store, &p->w);
    if (rc == 0)
        map_put(s, key, cursor);
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        free(p->json);
        free(p);
        return ot_error_set(err, rc, NULL,
                            rc == OT_EBUSY ? "the store is busy; the subscriber's cursor could not "
                                             "be saved, retry later"
                                           : "the store is closing or failed; the subscriber's "
                                             "cursor could not be saved");
    }
    return 0;
}
