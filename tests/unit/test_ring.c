#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/ring.h"

static ot_event ev(int64_t cursor, int type, const char *twin)
{
    static char json[64][64];
    ot_event e;
    memset(&e, 0, sizeof e);
    e.cursor = cursor;
    e.type = type;
    snprintf(e.twin_id, sizeof e.twin_id, "%s", twin);
    char *j = json[cursor % 64];
    snprintf(j, 64, "{\"c\":%lld}", (long long)cursor);
    e.json = j;
    e.json_len = strlen(j);
    return e;
}

struct got {
    int64_t cursors[64];
    int n;
};

static int collect(void *ctx, const ot_event *e)
{
    struct got *g = ctx;
    g->cursors[g->n++] = e->cursor;
    return 0;
}

Test(ring, reads_in_order_with_filters)
{
    ot_ring *r = ot_ring_new(8);
    ot_event evs[5] = {ev(1, 0, "a"), ev(2, 1, "b"), ev(3, 0, "b"), ev(4, 0, "a"), ev(5, 1, "a")};
    ot_ring_append(r, evs, 5);
    struct got g = {0};
    int64_t scanned;
    cr_assert_eq(ot_ring_read(r, 0, 100, NULL, collect, &g, &scanned), 5);
    cr_assert_eq(g.cursors[0], 1);
    cr_assert_eq(g.cursors[4], 5);
    cr_assert_eq(scanned, 5);
    ot_event_filter f = {.twin_id = "a", .types = 1u << 0};
    memset(&g, 0, sizeof g);
    cr_assert_eq(ot_ring_read(r, 1, 100, &f, collect, &g, &scanned), 1);
    cr_assert_eq(g.cursors[0], 4);
    cr_assert_eq(scanned, 5);
    memset(&g, 0, sizeof g);
    cr_assert_eq(ot_ring_read(r, 0, 2, NULL, collect, &g, &scanned), 2); /* limit */
    cr_assert_eq(scanned, 2);
    ot_ring_free(r);
}

Test(ring, old_cursors_fall_back_to_the_store)
{
    ot_ring *r = ot_ring_new(4);
    for (int64_t c = 1; c <= 10; c++) {
        ot_event e = ev(c, 0, "t");
        ot_ring_append(r, &e, 1);
    }
    int64_t oldest, last, scanned;
    ot_ring_range(r, &oldest, &last);
    cr_assert_eq(oldest, 7);
    cr_assert_eq(last, 10);
    struct got g = {0};
    cr_assert_eq(ot_ring_read(r, 2, 10, NULL, collect, &g, &scanned), -1);
    cr_assert_eq(ot_ring_read(r, 6, 10, NULL, collect, &g, &scanned), 4);
    cr_assert_eq(g.cursors[0], 7);
    memset(&g, 0, sizeof g);
    cr_assert_eq(ot_ring_read(r, 10, 10, NULL, collect, &g, &scanned), 0); /* caught up */
    ot_ring_free(r);
}

Test(ring, a_gap_empties_the_ring)
{
    ot_ring *r = ot_ring_new(8);
    ot_event a[2] = {ev(1, 0, "t"), ev(2, 0, "t")};
    ot_ring_append(r, a, 2);
    ot_event b = ev(5, 0, "t"); /* not contiguous */
    ot_ring_append(r, &b, 1);
    struct got g = {0};
    int64_t scanned;
    /* what the ring cannot vouch for comes from the store */
    cr_assert_eq(ot_ring_read(r, 0, 10, NULL, collect, &g, &scanned), -1);
    ot_ring_free(r);
}

/* Reads filtered on a twin stop at that twin's last event (the ring keeps a
 * twin -> last cursor map, pruned once it holds more twins than events).
 * Checked against a plain scan of the same events: random twins (more than
 * the ring holds, so the map is pruned), wrap-around, limits and types. */
static int ref_read(const ot_event *all, int64_t last, int64_t oldest, int64_t after, int limit,
                    const ot_event_filter *f, struct got *g, int64_t *scanned)
{
    *scanned = after;
    for (int64_t c = after + 1; c <= last && g->n < limit; c++) {
        if (c < oldest)
            continue;
        *scanned = c;
        if (ot_event_match(f, all[c].type, all[c].twin_id))
            g->cursors[g->n++] = c;
    }
    return g->n;
}

Test(ring, twin_filtered_reads_agree_with_a_full_scan)
{
    enum { CAP = 16, N = 900 };
    static ot_event all[N + 8];
    ot_ring *r = ot_ring_new(CAP);
    unsigned seed = 7;
    int64_t c = 0;
    while (c < N) {
        /* groups of 1-5 events, runs of one twin included; a few busy twins
         * and often a new one (more twins than slots: the map is pruned) */
        seed = seed * 1103515245u + 12345u;
        int k = 1 + (int)((seed >> 16) % 5);
        ot_event grp[5];
        for (int i = 0; i < k; i++) {
            seed = seed * 1103515245u + 12345u;
            char twin[32];
            if (i > 0 && (seed >> 12) % 2 == 0)
                snprintf(twin, sizeof twin, "%s", grp[i - 1].twin_id);
            else if ((seed >> 16) % 3 == 0)
                snprintf(twin, sizeof twin, "new%lld", (long long)c + 1);
            else
                snprintf(twin, sizeof twin, "t%u", (seed >> 20) % 3);
            c++;
            grp[i] = all[c] = ev(c, (int)((seed >> 8) % 2), twin);
        }
        ot_ring_append(r, grp, (size_t)k);
        int64_t oldest = c - CAP + 1 > 1 ? c - CAP + 1 : 1;
        /* every twin in the ring, one that left it, and one never seen */
        for (int64_t q = oldest - 1; q <= c; q++) {
            const char *ask = q < oldest ? (q > 0 ? all[q].twin_id : "never") : all[q].twin_id;
            for (int64_t after = oldest - 1; after <= c; after += 2) {
                for (int limit = 1; limit <= 17; limit += 8) {
                    ot_event_filter f = {.twin_id = ask, .types = (q & 1) ? 1u << 1 : 0};
                    struct got g = {0}, want = {0};
                    int64_t s1, s2;
                    int n = ot_ring_read(r, after, limit, &f, collect, &g, &s1);
                    ref_read(all, c, oldest, after, limit, &f, &want, &s2);
                    cr_assert_eq(n, want.n, "c=%lld twin=%s after=%lld limit=%d", (long long)c,
                                 ask, (long long)after, limit);
                    for (int i = 0; i < n; i++)
                        cr_assert_eq(g.cursors[i], want.cursors[i]);
                    /* a read that ran out examined everything; a full one
                     * stops at its last event, as a plain scan does */
                    cr_assert_eq(s1, n < limit ? c : s2, "c=%lld", (long long)c);
                }
            }
        }
    }
    ot_ring_free(r);
}
