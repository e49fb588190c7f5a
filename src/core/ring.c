/* ring.c - see ring.h. */
#include "core/ring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/strmap.h"

struct ot_ring {
    pthread_rwlock_t lock;
    ot_event *slots;
    size_t cap;
    int64_t oldest, last;  /* cursors held; oldest = last + 1 when empty */
    /* twin -> cursor of its last event appended (as a pointer-sized
     * integer): a read filtered on a twin with nothing after `after`
     * answers at once instead of examining every later event (a quiet
     * twin's subscriber, visited for its heartbeat, examined the whole
     * ring). Entries whose event left the ring are dropped now and then. */
    ot_strmap twins;
    int twins_lost;        /* out of memory once: the map is not trusted */
};

ot_ring *ot_ring_new(size_t capacity)
{
    ot_ring *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    /* zeroed pages straight from the kernel: a slot costs memory only once
     * an event has been in it (calloc may take the block from the heap and
     * clear all of it at once: 15 MB for the default 65,536 slots) */
    void *m = mmap(NULL, capacity * sizeof *r->slots, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(r);
        return NULL;
    }
    r->slots = m;
    r->cap = capacity;
    r->oldest = 1;
    r->last = 0;
    pthread_rwlock_init(&r->lock, NULL);
    return r;
}

void ot_ring_free(ot_ring *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++)
        free((char *)r->slots[i].frame);
    ot_strmap_clear(&r->twins, NULL);
    munmap(r->slots, r->cap * sizeof *r->slots);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

/* The SSE frame of an event, with the JSON inside it: one allocation that
 * serves /diff (the JSON part) and every subscriber (the whole frame). */
static char *frame_of(const ot_event *e, size_t *len, size_t *json_off)
{
    /* "id: cursor_N\nevent: TYPE\ndata: ", without printf (once per event) */
    char head[96], cur[OT_CURSOR_BUFSZ];
    const char *name = ot_evtype_name(e->type);
    size_t cl, nl = name ? strlen(name) : 0;
    ot_cursor_format_n(e->cursor, cur, &cl);
    if (!name || 4 + cl + 8 + nl + 7 > sizeof head)
        return NULL;
    size_t hl = 0;
    memcpy(head, "id: ", 4), hl += 4;
    memcpy(head + hl, cur, cl), hl += cl;
    memcpy(head + hl, "\nevent: ", 8), hl += 8;
    memcpy(head + hl, name, nl), hl += nl;
    memcpy(head + hl, "\ndata: ", 7), hl += 7;
    char *f = malloc(hl + e->json_len + 3);
    if (!f)
        return NULL;
    memcpy(f, head, hl);
    memcpy(f + hl, e->json, e->json_len);
    memcpy(f + hl + e->json_len, "\n\n", 3);
    *len = hl + e->json_len + 2;
    *json_off = hl;
    return f;
}

struct stale {
    char **keys;
    size_t n;
    int64_t oldest;
};

static void collect_stale(void *ctx, const char *key, void *val)
{
    struct stale *st = ctx;
    if ((int64_t)(intptr_t)val < st->oldest)
        st->keys[st->n++] = (char *)key;
}

/* Remember that twin's last event is cursor; when the map holds twice as
 * many twins as the ring holds events, drop those whose last event left the
 * ring (at most `cap` remain, so a scan of the map comes once per `cap` new
 * twins at most: constant work per event, however many twins come and go).
 * Out of memory: the map is no longer trusted and reads scan as before.
 * Write lock held. */
static void twin_seen(ot_ring *r, const char *twin, int64_t cursor)
{
    if (r->twins_lost || ot_strmap_put(&r->twins, twin, (void *)(intptr_t)cursor, NULL)) {
        r->twins_lost = 1;
        return;
    }
    if (r->twins.n <= 2 * r->cap)
        return;
    struct stale st = {malloc(r->twins.n * sizeof *st.keys), 0, r->oldest};
    if (!st.keys)
        return;
    ot_strmap_each(&r->twins, collect_stale, &st);
    for (size_t i = 0; i < st.n; i++)
        ot_strmap_del(&r->twins, st.keys[i]); /* frees only that key */
    free(st.keys);
}

/* The cursor of twin's last event appended (0: none in the ring), or -1
 * when not known. Lock held. */
static int64_t twin_last(const ot_ring *r, const char *twin)
{
    return r->twins_lost ? -1 : (int64_t)(intptr_t)ot_strmap_get(&r->twins, twin);
}

void ot_ring_append(ot_ring *r, const ot_event *evs, size_t n)
{
    /* render outside the lock; only the pointer swap happens inside */
    char **copies = malloc(n * sizeof *copies);
    size_t *lens = malloc(n * sizeof *lens), *offs = malloc(n * sizeof *offs);
    if (!copies || !lens || !offs) {
        free(copies);
        free(lens);
        free(offs);
        return;
    }
    for (size_t i = 0; i < n; i++)
        copies[i] = frame_of(&evs[i], &lens[i], &offs[i]);
    pthread_rwlock_wrlock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        const ot_event *e = &evs[i];
        if (!copies[i] || (r->last >= r->oldest && e->cursor != r->last + 1)) {
            /* out of memory or not contiguous: drop everything held so
             * readers go to the store rather than see a gap */
            for (size_t k = 0; k < r->cap; k++) {
                free((char *)r->slots[k].frame);
                r->slots[k].frame = NULL;
                r->slots[k].json = NULL;
            }
            r->oldest = e->cursor + 1;
            r->last = e->cursor;
            ot_strmap_clear(&r->twins, NULL);
            r->twins_lost = 0;
            free(copies[i]);
            continue;
        }
        if (r->last < r->oldest)
            r->oldest = e->cursor;
        ot_event *s = &r->slots[(size_t)e->cursor % r->cap];
        free((char *)s->frame);
        *s = *e;
        s->frame = copies[i];
        s->frame_len = lens[i];
        s->json = copies[i] + offs[i];
        r->last = e->cursor;
        if (r->last - r->oldest + 1 > (int64_t)r->cap)
            r->oldest = r->last - (int64_t)r->cap + 1;
        if (i + 1 == n || strcmp(evs[i + 1].twin_id, e->twin_id) != 0)
            twin_seen(r, e->twin_id, e->cursor); /* once per run of one twin */
    }
    pthread_rwlock_unlock(&r->lock);
    free(copies);
    free(lens);
    free(offs);
}

void ot_ring_range(ot_ring *r, int64_t *oldest, int64_t *last)
{
    pthread_rwlock_rdlock(&r->lock);
    *oldest = r->oldest;
    *last = r->last;
    pthread_rwlock_unlock(&r->lock);
}

int ot_ring_read(ot_ring *r, int64_t after, int limit, const ot_event_filter *f,
                 int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to)
{
    int n = 0;
    *scanned_to = after;
    pthread_rwlock_rdlock(&r->lock);
    if (after + 1 < r->oldest && !(r->last < r->oldest && after >= r->last)) {
        pthread_rwlock_unlock(&r->lock);
        return -1;
    }
    /* a twin's events end at its last one: nothing later can match */
    int64_t end = r->last, tl = f && f->twin_id ? twin_last(r, f->twin_id) : -1;
    if (tl >= 0 && tl < end)
        end = tl;
    int64_t c = after + 1;
    for (; c <= end && n < limit; c++) {
        const ot_event *e = &r->slots[(size_t)c % r->cap];
        *scanned_to = c;
        if (!ot_event_match(f, e->type, e->twin_id))
            continue;
        n++;
        if (fn(ctx, e))
            break;
    }
    if (c > end && n < limit && r->last > *scanned_to)
        *scanned_to = r->last; /* the rest holds nothing for this filter */
    pthread_rwlock_unlock(&r->lock);
    return n;
}
