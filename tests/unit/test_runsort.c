/* test_runsort.c - ot_runsort against qsort: runs of every length, ties,
 * and that equal keys keep their order. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/runsort.h"

struct item {
    int key, pos;
};

static int by_key(const void *a, const void *b, void *calls)
{
    ++*(long *)calls;
    const struct item *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static int by_key_pos(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return x->key != y->key ? (x->key > y->key) - (x->key < y->key)
                            : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Sort v (n items) both ways; the results agree (stable: ties by pos).
 * Returns the comparisons ot_runsort made. */
static long check(struct item *v, size_t n)
{
    struct item *want = malloc((n + 1) * sizeof *want), *tmp = malloc((n + 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++)
        v[i].pos = (int)i;
    memcpy(want, v, n * sizeof *v);
    qsort(want, n, sizeof *want, by_key_pos);
    long calls = 0;
    ot_runsort(v, n, sizeof *v, by_key, &calls, tmp);
    for (size_t i = 0; i < n; i++)
        cr_assert(v[i].key == want[i].key && v[i].pos == want[i].pos,
                  "n=%zu at %zu: (%d, %d), want (%d, %d)", n, i, v[i].key, v[i].pos, want[i].key,
                  want[i].pos);
    free(want);
    free(tmp);
    return calls;
}

Test(runsort, sorts_like_qsort_and_keeps_ties_in_order)
{
    static struct item v[5000];
    unsigned seed = 7;
    for (size_t n = 0; n <= 5000; n = n < 20 ? n + 1 : n * 3 + 7) {
        for (int mode = 0; mode < 4; mode++) {
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int r = (int)(seed >> 16) % 50;
                v[i].key = mode == 0   ? r                      /* random, ties */
                           : mode == 1 ? (int)(n - i)           /* descending */
                           : mode == 2 ? (int)(i % 97) * 10 + r % 3 /* runs of 97 */
                                       : (int)i;                /* sorted */
            }
            check(v, n);
        }
    }
}

/* Eight ascending runs of 500: three rounds, each a scan for the runs
 * and a merge (2n), after the first scan (n): at most 7n, where qsort's
 * n log2(n) is 12n; a sorted array: n - 1. */
Test(runsort, runs_cost_n_log_runs)
{
    static struct item v[4000];
    for (int i = 0; i < 4000; i++)
        v[i].key = (i % 500) * 8 + (7 - i / 500);
    long calls = check(v, 4000);
    cr_assert_leq(calls, 4000 * 7, "%ld comparisons", calls);
    long sorted = check(v, 4000);
    cr_assert_eq(sorted, 3999);
}
