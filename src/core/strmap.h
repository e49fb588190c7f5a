/* strmap.h - a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are copied; values are the caller's pointers. The table grows to
 * keep at most half of its slots used. Not thread-safe: the owner locks
 * (or owns it from one thread). Used for the ingest profiles by twin and
 * the detector's series by (twin, asset, metric).
 */
#ifndef OT_CORE_STRMAP_H
#define OT_CORE_STRMAP_H

#include <stddef.h>

typedef struct ot_strmap {
    struct ot_strmap_slot { char *key; void *val; } *slots;
    size_t cap, n;
} ot_strmap;

/* A zeroed ot_strmap is empty and valid. */

/* The value for key, or NULL. */
void *ot_strmap_get(const ot_strmap *m, const char *key);

/* Set key to val. *old (may be NULL) receives the value it replaces, or
 * NULL. 0, or -1 when out of memory (the map is unchanged). */
int ot_strmap_put(ot_strmap *m, const char *key, void *val, void **old);

/* Remove key; returns its value (NULL if absent). */
void *ot_strmap_del(ot_strmap *m, const char *key);

/* Call fn for every entry (any order). */
void ot_strmap_each(const ot_strmap *m, void (*fn)(void *ctx, const char *key, void *val),
                    void *ctx);

/* Free the keys and the table; free_val (may be NULL) is called on each
 * value. The map is empty afterwards. */
void ot_strmap_clear(ot_strmap *m, void (*free_val)(void *val));

#endif
