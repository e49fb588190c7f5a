#include <criterion/criterion.h>
#include <stdint.h>
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

/* Deletions in crowded probe runs, checked against a plain array: every key
 * stays findable after its neighbours leave (backward-shift deletion). */
Test(strmap, delete_keeps_every_other_key_findable)
{
    enum { KEYS = 300, OPS = 200000 };
    static int vals[KEYS];
    int present[KEYS] = {0};
    ot_strmap m = {0};
    char key[32];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    size_t n = 0;
    for (int op = 0; op < OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % KEYS);
        snprintf(key, sizeof key, "k%d", k);
        if (x >> 63) {
            cr_assert_eq(ot_strmap_put(&m, key, &vals[k], NULL), 0);
            n += !present[k];
            present[k] = 1;
        } else {
            void *v = ot_strmap_del(&m, key);
            cr_assert_eq(v, present[k] ? (void *)&vals[k] : NULL, "op %d key %s", op, key);
            n -= present[k];
            present[k] = 0;
        }
        cr_assert_eq(m.n, n);
        if (op % 997 == 0)
            for (int j = 0; j < KEYS; j++) {
                snprintf(key, sizeof key, "k%d", j);
                cr_assert_eq(ot_strmap_get(&m, key), present[j] ? (void *)&vals[j] : NULL,
                             "op %d key %s", op, key);
            }
    }
    cr_assert_null(ot_strmap_del(&m, "never"));
    ot_strmap_clear(&m, NULL);
    cr_assert_null(ot_strmap_del(&m, "k1"));
}
