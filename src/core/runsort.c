/* runsort.c - sorting arrays that arrive as a few ascending runs (see the
 * header). */
#include "core/runsort.h"

#include <string.h>

typedef int (*cmp_fn)(const void *a, const void *b, void *ctx);

/* The end of the ascending run of v that starts at i. */
static size_t run_end(const char *v, size_t i, size_t n, size_t size, cmp_fn cmp, void *ctx)
{
    while (++i < n && cmp(v + (i - 1) * size, v + i * size, ctx) <= 0)
        ;
    return i;
}

void ot_runsort(void *base, size_t n, size_t size, cmp_fn cmp, void *ctx, void *tmp)
{
    char *src = base, *dst = tmp;
    if (n < 2 || run_end(src, 0, n, size, cmp, ctx) == n)
        return;
    for (size_t runs = 2; runs > 1;) {
        runs = 0;
        /* each pair of neighbouring runs of src, merged into dst */
        for (size_t i = 0; i < n; runs++) {
            size_t a = i, am = run_end(src, i, n, size, cmp, ctx), b = am,
                   bm = am < n ? run_end(src, am, n, size, cmp, ctx) : n;
            char *o = dst + i * size;
            while (a < am && b < bm) {
                /* on a tie the first run's element goes first: stable */
                size_t k = cmp(src + b * size, src + a * size, ctx) < 0 ? b++ : a++;
                memcpy(o, src + k * size, size);
                o += size;
            }
            memcpy(o, src + a * size, (am - a) * size);
            o += (am - a) * size;
            memcpy(o, src + b * size, (bm - b) * size);
            i = bm;
        }
        char *t = src;
        src = dst;
        dst = t;
    }
    if (src != (char *)base)
        memcpy(base, src, n * size);
}
