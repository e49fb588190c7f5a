/* rollup.c - see rollup.h. */
#include "store/rollup.h"

#include <stdlib.h>
#include <string.h>

int64_t ot_minute_of(int64_t ts)
{
    return (ts - (((ts % OT_MINUTE_US) + OT_MINUTE_US) % OT_MINUTE_US)) / OT_MINUTE_US;
}

static size_t slot(int64_t series, int64_t minute, size_t cap)
{
    return (size_t)((uint64_t)(series * 1000003 + minute) & (cap - 1));
}

int ot_rollups_add(ot_rollups *r, int64_t series, int64_t ts, double v)
{
    int64_t minute = ot_minute_of(ts);
    if ((r->n + 1) * 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        ot_rollup *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->v[i].used)
                continue;
            size_t j = slot(r->v[i].series, r->v[i].minute, cap);
            while (t[j].used)
                j = (j + 1) & (cap - 1);
            t[j] = r->v[i];
        }
        free(r->v);
        r->v = t;
        r->cap = cap;
    }
    size_t j = slot(series, minute, r->cap);
    while (r->v[j].used && (r->v[j].series != series || r->v[j].minute != minute))
        j = (j + 1) & (r->cap - 1);
    ot_rollup *a = &r->v[j];
    if (!a->used) {
        *a = (ot_rollup){series, minute, 0, 0, 0, v, v, 1};
        r->n++;
    }
    a->count++;
    a->sum += v;
    a->sumsq += v * v;
    if (v < a->min)
        a->min = v;
    if (v > a->max)
        a->max = v;
    return 0;
}

void ot_rollups_clear(ot_rollups *r)
{
    if (r->n)
        memset(r->v, 0, r->cap * sizeof *r->v);
    r->n = 0;
}

void ot_rollups_free(ot_rollups *r)
{
    free(r->v);
    r->v = NULL;
    r->cap = r->n = 0;
}
