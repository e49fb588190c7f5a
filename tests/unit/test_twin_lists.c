/* test_twin_lists.c - growable arrays by twin (twin_lists.h). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "store/twin_lists.h"

/* Elements land in their twin's list in order; sort orders the lists by
 * twin; empty keeps the lists (and resets in_order) until there are more
 * than OT_TWIN_LISTS_KEEP twins. */
Test(twin_lists, lists_per_twin_sorted_emptied_and_dropped)
{
    ot_twin_lists t;
    ot_twin_lists_init(&t, sizeof(int64_t));
    static const char *twins[] = {"c", "a", "b", "a", "c", "a"};
    for (int i = 0; i < 600; i++) {
        ot_twin_list *l;
        int64_t *v = ot_twin_lists_push(&t, twins[i % 6], &l);
        cr_assert_not_null(v);
        *v = i;
        l->in_order = 0;
    }
    cr_assert_eq(t.nall, 3);
    ot_twin_lists_sort(&t);
    cr_assert_str_eq(t.all[0]->twin, "a");
    cr_assert_str_eq(t.all[1]->twin, "b");
    cr_assert_str_eq(t.all[2]->twin, "c");
    cr_assert_eq(t.all[0]->n, 300);
    cr_assert_eq(t.all[1]->n, 100);
    const int64_t *a = t.all[0]->v;
    for (size_t k = 0; k < 300; k++)
        cr_assert_eq(a[k], (int64_t)(k / 3 * 6 + (int64_t[]){1, 3, 5}[k % 3]));
    ot_twin_lists_empty(&t);
    cr_assert_eq(t.nall, 3, "kept for the next round");
    for (size_t k = 0; k < 3; k++)
        cr_assert(t.all[k]->n == 0 && t.all[k]->in_order == 1);
    for (int i = 0; i < OT_TWIN_LISTS_KEEP + 1; i++) {
        char twin[16];
        snprintf(twin, sizeof twin, "t%d", i);
        cr_assert_not_null(ot_twin_lists_push(&t, twin, NULL));
    }
    ot_twin_lists_empty(&t);
    cr_assert_eq(t.nall, 0, "past OT_TWIN_LISTS_KEEP twins the lists go");
    int64_t *v = ot_twin_lists_push(&t, "a", NULL);
    cr_assert_not_null(v);
    cr_assert_eq(t.nall, 1);
    ot_twin_lists_free(&t);
}
