/* runsort.h - sorting arrays that arrive as a few ascending runs.
 *
 * The SQLite writer sorts what it gathered since its last bulk write (a
 * twin's records by time, a series' points by time) and those arrive as
 * runs: each request's items are in order, but requests reach the writer
 * in another order than their clocks. Merging neighbouring runs in rounds
 * costs n log(runs) comparisons where qsort costs n log(n); a sorted array
 * costs n - 1 and no copy. Stable. Pure and reentrant.
 */
#ifndef OT_CORE_RUNSORT_H
#define OT_CORE_RUNSORT_H

#include <stddef.h>

/* Sort base[0..n) of elements of size bytes by cmp (< 0, 0, > 0 as for
 * qsort_r; ctx is passed on). tmp: room for n elements, the caller's. */
void ot_runsort(void *base, size_t n, size_t size,
                int (*cmp)(const void *a, const void *b, void *ctx), void *ctx, void *tmp);

#endif
