/* subscribers.h - named subscriber cursors for GET /diff?subscriber=NAME
 * (the prototype's CursorManager): the server remembers where NAME got to.
 *
 * Each principal has its own names: a cursor is kept under its owner (the
 * token's subject, "anonymous" without a token) and its name, the key
 * "OWNER/NAME", so one reader cannot move, and make skip, another's cursor.
 * A cursor kept under NAME alone (before owners, 2026-11-27) is where
 * OWNER/NAME starts until OWNER first moves it.
 *
 * Where the cursors live:
 *   - REDIS_URL set: the Redis hash PREFIXcursors (store/redis.h), field
 *     OWNER/NAME, shared by every instance on that Redis. Redis unreachable:
 *     get/set fail with OT_EUNAVAIL (503): a page is not served when where it
 *     ends cannot be remembered, so a subscriber never skips events.
 *   - otherwise: the store, as documents of type "subscriber" (id =
 *     OWNER/NAME, {"owner","name","cursor","updated_at"}), loaded at start
 *     and kept in memory; a set updates memory at once and is committed by
 *     the store's writer shortly after (not waited for: a crash in between
 *     replays the page, it never skips one). At most OT_SUBSCRIBERS_MAX keys.
 *
 * Names: [A-Za-z0-9_.:-]{1,128}; owners: 1-127 bytes of UTF-8 (a JWT sub).
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef OT_AIW_SUBSCRIBERS_H
#define OT_AIW_SUBSCRIBERS_H

#include <stdint.h>

#include "core/error.h"

struct ot_store;
struct ot_redis;
typedef struct ot_subscribers ot_subscribers;

#define OT_SUBSCRIBERS_MAX 10000
#define OT_SUBSCRIBER_NAME_MAX 128
#define OT_SUBSCRIBER_OWNER_MAX 127

/* redis may be NULL (cursors in the store). Loads the stored names. */
int ot_subscribers_open(struct ot_store *store, struct ot_redis *redis, ot_subscribers **out,
                        ot_error *err);
/* After the store is closed (its pending writes no longer refer to s). */
void ot_subscribers_free(ot_subscribers *s);

/* 1 when name is a valid subscriber name. */
int ot_subscriber_name_valid(const char *name);

/* OWNER's cursor of NAME, 0 when new. 0 or an error. */
int ot_subscribers_get(ot_subscribers *s, const char *owner, const char *name, int64_t *cursor,
                       ot_error *err);

/* Remember OWNER's cursor of NAME. 0, OT_EUNAVAIL (Redis down), OT_EBUSY
 * (store queue full), OT_ECONFLICT (a new key beyond OT_SUBSCRIBERS_MAX) or
 * OT_ENOMEM. */
int ot_subscribers_set(ot_subscribers *s, const char *owner, const char *name, int64_t cursor,
                       ot_error *err);

#endif
