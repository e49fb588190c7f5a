#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/strmap.h"

static void count(void *ctx, const char *key, void *val)
{
    (void)key;
    (void)val;
    (*(int *)ctx)++;
}

Test(strmap, put_get_replace_grow_clear)
{
    ot_strmap m = {0};
    cr_assert_null(ot_strmap_get(&m, "absent"));
    static int vals[5000];
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "twin-%d", i);
        void *old = (void *)1;
        cr_assert_eq(ot_strmap_put(&m, key, &vals[i], &old), 0);
        cr_assert_null(old);
    }
    cr_assert_eq(m.n, 5000);
    cr_assert_leq(m.n * 2, m.cap);
    for (int i = 0; i < 5000; i += 97) {
        snprintf(key, sizeof key, "twin-%d", i);
        cr_assert_eq(ot_strmap_get(&m, key), &vals[i]);
    }
    int other = 0;
    void *old = NULL;
    cr_assert_eq(ot_strmap_put(&m, "twin-7", &other, &old), 0);
    cr_assert_eq(old, &vals[7]);
    cr_assert_eq(ot_strmap_get(&m, "twin-7"), &other);
    cr_assert_eq(m.n, 5000);
    int n = 0;
    ot_strmap_each(&m, count, &n);
    cr_assert_eq(n, 5000);
    ot_strmap_clear(&m, NULL);
    cr_assert_null(ot_strmap_get(&m, "twin-1"));
}
