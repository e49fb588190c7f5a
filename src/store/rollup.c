/* rollup.c - see rollup.h. */
#include "store/rollup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

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

static int minute_aligned(int64_t t)
{
    return t == INT64_MIN || t == INT64_MAX || t % OT_MINUTE_US == 0;
}

int ot_agg_use_rollups(int64_t start_us, int64_t end_us, int64_t window_us)
{
    return window_us % OT_MINUTE_US == 0 && minute_aligned(start_us) && minute_aligned(end_us);
}

void ot_agg_append(json_t *out, enum ot_agg_fn fn, int64_t start_us, long count, double sum,
                   double sumsq, double min, double max)
{
    double mean = sum / (double)count;
    json_t *v;
    switch (fn) {
    case OT_AGG_AVG: v = json_real(mean); break;
    case OT_AGG_MIN: v = json_real(min); break;
    case OT_AGG_MAX: v = json_real(max); break;
    case OT_AGG_SUM: v = json_real(sum); break;
    case OT_AGG_COUNT: v = json_integer(count); break;
    default:
        if (count < 2) {
            v = json_null(); /* sample stddev needs two points */
        } else {
            double var = (sumsq - sum * mean) / (double)(count - 1);
            v = json_real(var > 0 ? sqrt(var) : 0.0);
        }
    }
    char ts[OT_TS_BUFSZ];
    json_array_append_new(out, json_pack("{s:s, s:o, s:I}", "bucket", ot_ts_format(start_us, ts),
                                         "value", v, "count", (json_int_t)count));
}

void ot_latest_put(json_t *out, const char *twin, const char *asset, const char *metric,
                   double value, int64_t ts_us)
{
    json_t *t = json_object_get(out, twin);
    if (!t) {
        t = json_object();
        json_object_set_new(out, twin, t);
    }
    json_t *a = json_object_get(t, asset);
    if (!a) {
        a = json_object();
        json_object_set_new(t, asset, a);
    }
    char ts[OT_TS_BUFSZ];
    json_object_set_new(a, metric, json_pack("{s:f, s:s}", "value", value, "ts",
                                             ot_ts_format(ts_us, ts)));
}
