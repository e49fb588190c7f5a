/* strmap.c - see strmap.h. */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

static size_t find(const ot_strmap *m, const char *key)
{
    size_t j = (size_t)(ot_hash_str(key) & (m->cap - 1));
    while (m->slots[j].key && strcmp(m->slots[j].key, key) != 0)
        j = (j + 1) & (m->cap - 1);
    return j;
}

void *ot_strmap_get(const ot_strmap *m, const char *key)
{
    if (!m->n)
        return NULL;
    return m->slots[find(m, key)].val;
}

static int grow(ot_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct ot_strmap_slot *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    ot_strmap old = *m;
    m->slots = t;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            m->slots[find(m, old.slots[i].key)] = old.slots[i];
    free(old.slots);
    return 0;
}

int ot_strmap_put(ot_strmap *m, const char *key, void *val, void **old)
{
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return -1;
    struct ot_strmap_slot *s = &m->slots[find(m, key)];
    if (old)
        *old = s->key ? s->val : NULL;
    if (!s->key) {
        if (!(s->key = strdup(key)))
            return -1;
        m->n++;
    }
    s->val = val;
    return 0;
}

void *ot_strmap_del(ot_strmap *m, const char *key)
{
    if (!m->n)
        return NULL;
    size_t mask = m->cap - 1, i = find(m, key);
    if (!m->slots[i].key)
        return NULL;
    void *val = m->slots[i].val;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->slots[i].val = NULL;
    m->n--;
    /* backward shift: move later members of the probe run into the hole
     * when their home slot is at or before it, so no lookup stops early */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)(ot_hash_str(m->slots[j].key) & mask);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            m->slots[j].val = NULL;
            i = j;
        }
    }
    return val;
}

void ot_strmap_each(const ot_strmap *m, void (*fn)(void *ctx, const char *key, void *val),
                    void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            fn(ctx, m->slots[i].key, m->slots[i].val);
}

void ot_strmap_clear(ot_strmap *m, void (*free_val)(void *val))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        free(m->slots[i].key);
        if (free_val)
            free_val(m->slots[i].val);
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}
