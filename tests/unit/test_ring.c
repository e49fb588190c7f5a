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
