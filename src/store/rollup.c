/* rollup.c - see rollup.h. */
#include "store/rollup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/runsort.h"

int64_t ot_minute_of(int64_t ts)
{
    return (ts - (((ts % OT_MINUTE_US) + OT_MINUTE_US) % OT_MINUTE_US)) / OT_MINUTE_US;
}

static size_t slot(int64_t series, int64_t minute, size_t cap)
{
    return (size_t)((uint64_t)(series * 1000003 + minute) & (cap - 1));
}

static int keep_point(ot_rollups *r, ot_rollup *a, int64_t ts, int64_t seq, double v)
{
    if (r->npts == r->pts_cap) {
        size_t cap = r->pts_cap ? r->pts_cap * 2 : 1024;
        ot_rpoint *p = cap < UINT32_MAX ? realloc(r->pts, cap * sizeof *p) : NULL;
        if (!p)
            return -1;
        r->pts = p;
        r->pts_cap = cap;
    }
    r->pts[r->npts] = (ot_rpoint){ts, seq, v, 0};
    uint32_t k = (uint32_t)++r->npts;
    if (a->last)
        r->pts[a->last - 1].next = k;
    else
        a->first = k;
    a->last = k;
    return 0;
}

int ot_rollups_add(ot_rollups *r, int64_t series, int64_t ts, int64_t seq, double v)
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
        *a = (ot_rollup){.series = series, .minute = minute, .used = 1};
        r->n++;
    }
    if (r->keep_points && keep_point(r, a, ts, seq, v))
        return -1;
    ot_moments_add(&a->m, v);
    return 0;
}

void ot_rollups_clear(ot_rollups *r)
{
    if (r->n)
        memset(r->v, 0, r->cap * sizeof *r->v);
    r->n = 0;
    r->npts = 0;
}

void ot_rollups_free(ot_rollups *r)
{
    free(r->v);
    free(r->pts);
    free(r->sorted);
    free(r->blob);
    *r = (ot_rollups){.keep_points = r->keep_points};
}

static int cmp_rpoint(const void *x, const void *y, void *ctx)
{
    (void)ctx;
    const ot_rpoint *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static void put_le64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

int ot_rollup_blocks(ot_rollups *r, const ot_rollup *a,
                     int (*fn)(void *ctx, const ot_rollup *a, int64_t seq,
                               const unsigned char *data, size_t len),
                     void *ctx)
{
    if (!r->blob && !(r->blob = malloc(OT_POINT_BLOCK_MAX * OT_POINT_BYTES)))
        return -1;
    if (r->sorted_cap < r->pts_cap) { /* a's points are some of pts; twice, for ot_runsort */
        ot_rpoint *p = realloc(r->sorted, 2 * r->pts_cap * sizeof *p);
        if (!p)
            return -1;
        r->sorted = p;
        r->sorted_cap = r->pts_cap;
    }
    size_t n = 0;
    for (uint32_t k = a->first; k; k = r->pts[k - 1].next)
        r->sorted[n++] = r->pts[k - 1];
    /* a series' points come as runs, a request's each (runsort.h) */
    ot_runsort(r->sorted, n, sizeof *r->sorted, cmp_rpoint, NULL, r->sorted + r->sorted_cap);
    for (size_t off = 0; off < n; off += OT_POINT_BLOCK_MAX) {
        size_t m = n - off < OT_POINT_BLOCK_MAX ? n - off : OT_POINT_BLOCK_MAX;
        for (size_t i = 0; i < m; i++) {
            uint64_t bits;
            memcpy(&bits, &r->sorted[off + i].v, sizeof bits);
            put_le64(r->blob + i * OT_POINT_BYTES, (uint64_t)r->sorted[off + i].ts);
            put_le64(r->blob + i * OT_POINT_BYTES + 8, bits);
        }
        int rc = fn(ctx, a, r->sorted[off].seq, r->blob, m * OT_POINT_BYTES);
        if (rc)
            return rc;
    }
    return 0;
}

void ot_point_block_get(const unsigned char *data, size_t i, int64_t *ts_us, double *v)
{
    *ts_us = (int64_t)get_le64(data + i * OT_POINT_BYTES);
    uint64_t bits = get_le64(data + i * OT_POINT_BYTES + 8);
    memcpy(v, &bits, sizeof *v);
}

static int minute_aligned(int64_t t)
{
    return t == INT64_MIN || t == INT64_MAX || t % OT_MINUTE_US == 0;
}

int ot_agg_use_rollups(int64_t start_us, int64_t end_us, int64_t window_us)
{
    return window_us % OT_MINUTE_US == 0 && minute_aligned(start_us) && minute_aligned(end_us);
}

void ot_agg_append(json_t *out, enum ot_agg_fn fn, int64_t start_us, const ot_moments *m)
{
    double mean = m->sum / (double)m->count;
    json_t *v;
    switch (fn) {
    case OT_AGG_AVG: v = json_real(mean); break;
    case OT_AGG_MIN: v = json_real(m->min); break;
    case OT_AGG_MAX: v = json_real(m->max); break;
    case OT_AGG_SUM: v = json_real(m->sum); break;
    case OT_AGG_COUNT: v = json_integer(m->count); break;
    default:
        if (m->count < 2) {
            v = json_null(); /* sample stddev needs two points */
        } else {
            double var = m->m2 / (double)(m->count - 1);
            v = isfinite(var) ? json_real(var > 0 ? sqrt(var) : 0.0) : json_null();
        }
    }
    /* a sum (or sum of squares) past the largest double has no value to
     * give; the bucket and its count still come, with null */
    if (!v)
        v = json_null();
    char ts[OT_TS_BUFSZ];
    json_array_append_new(out, json_pack("{s:s, s:o, s:I}", "bucket", ot_ts_format(start_us, ts),
                                         "value", v, "count", (json_int_t)m->count));
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
