/* rollup.h - per-minute rollups and aggregate results, shared by the
 * backends (internal to src/store/).
 *
 * Both backends add every stored point here while a group is written and,
 * just before COMMIT, write one upsert per (series, minute) into rollup_1m;
 * then they clear the set. Open addressing, grown as needed; the caller
 * owns the struct (zero-initialised) and frees it with ot_rollups_free.
 *
 * With keep_points set, the set also keeps every point, so a backend can
 * store a group's raw points as one block per (series, minute) instead of
 * one row per point (SQLite's point_blocks). A point block is n points of
 * OT_POINT_BYTES each, ordered by time: the time in microseconds, then the
 * value's IEEE 754 bits, both 64-bit little-endian. Clearing keeps the
 * memory, so a busy writer does not allocate per group.
 */
#ifndef OT_STORE_ROLLUP_H
#define OT_STORE_ROLLUP_H

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define OT_MINUTE_US 60000000LL

/* Count, sum, the sum of squared deviations from the mean (m2), minimum
 * and maximum of some values: what every aggregate function is computed
 * from (ot_agg_append). m2, not the sum of squares: the variance from
 * sumsq - sum * mean cancels to noise when the values are large next to
 * their spread (1e8 + small, or counters), where m2 kept by Welford's
 * update and merged by Chan's keeps its digits. */
typedef struct ot_moments {
    long count;
    double sum, m2, min, max;
} ot_moments;

/* Values near the largest double can take sum or m2 past it, and then to
 * NaN (inf - inf), which SQLite stores as NULL: such a sum or m2 is kept
 * as infinity, and its aggregate answers null (ot_agg_append). */
static inline void ot_moments_settle(ot_moments *m)
{
    if (m->sum != m->sum)
        m->sum = (double)INFINITY;
    if (m->m2 != m->m2)
        m->m2 = (double)INFINITY;
}

/* Add v (the first value sets min and max). */
static inline void ot_moments_add(ot_moments *m, double v)
{
    if (m->count == 0 || v < m->min)
        m->min = v;
    if (m->count == 0 || v > m->max)
        m->max = v;
    double before = m->count ? m->sum / (double)m->count : 0.0;
    m->count++;
    m->sum += v;
    m->m2 += (v - before) * (v - m->sum / (double)m->count);
    ot_moments_settle(m);
}

/* Add what other counted. */
static inline void ot_moments_merge(ot_moments *m, const ot_moments *o)
{
    if (!o->count)
        return;
    if (m->count == 0) {
        *m = *o;
        return;
    }
    if (o->min < m->min)
        m->min = o->min;
    if (o->max > m->max)
        m->max = o->max;
    double na = (double)m->count, nb = (double)o->count;
    double d = o->sum / nb - m->sum / na;
    m->m2 += o->m2 + d * d * (na * nb / (na + nb));
    m->count += o->count;
    m->sum += o->sum;
    ot_moments_settle(m);
}

typedef struct ot_rollup {
    int64_t series, minute;
    ot_moments m;
    int used;                /* slot taken; iterate v[0..cap) and skip the rest */
    uint32_t first, last;    /* keep_points: its points, 1-based into pts, 0 = none */
} ot_rollup;

typedef struct ot_rpoint {
    int64_t ts, seq;
    double v;
    uint32_t next;           /* the next point of the same rollup, 1-based, 0 = none */
} ot_rpoint;

typedef struct ot_rollups {
    ot_rollup *v;
    size_t cap, n;
    int keep_points;                 /* set by the owner before the first add */
    ot_rpoint *pts, *sorted;         /* the points; scratch for ot_rollup_blocks (2 x sorted_cap) */
    size_t npts, pts_cap, sorted_cap;
    unsigned char *blob;             /* scratch: one encoded block */
} ot_rollups;

#define OT_POINT_BYTES 16
#define OT_POINT_BLOCK_MAX 4096      /* points per block at most */

/* The minute (floor of ts / 60 s, also for negative times) a point is in. */
int64_t ot_minute_of(int64_t ts_us);

/* Add value v of series at ts_us; seq tells points of one series at the
 * same time apart (the record's cursor). 0, or -1 when out of memory. */
int ot_rollups_add(ot_rollups *r, int64_t series, int64_t ts_us, int64_t seq, double v);

/* keep_points: a's points ordered by (ts, seq), encoded as blocks of at
 * most OT_POINT_BLOCK_MAX points. fn gets each block with the seq of its
 * first point (unique per series and minute: one point per record and
 * series); data is valid during the call. Stops at, and returns, the first
 * nonzero fn result; -1 when out of memory. */
int ot_rollup_blocks(ot_rollups *r, const ot_rollup *a,
                     int (*fn)(void *ctx, const ot_rollup *a, int64_t seq,
                               const unsigned char *data, size_t len),
                     void *ctx);

/* Point i of an encoded block. */
void ot_point_block_get(const unsigned char *data, size_t i, int64_t *ts_us, double *v);

void ot_rollups_clear(ot_rollups *r);
void ot_rollups_free(ot_rollups *r);

/* --- reads ----------------------------------------------------------------- */

/* 1 when an aggregate can be answered from rollup_1m: whole-minute windows
 * over bounds on whole minutes (INT64_MIN / INT64_MAX count as open). */
int ot_agg_use_rollups(int64_t start_us, int64_t end_us, int64_t window_us);

/* Append one bucket {"bucket","value","count"} to out, its value computed
 * by fn from the bucket's moments (sample stddev: sqrt(m2 / (count - 1)),
 * null below two points; null too where the value is past the largest
 * double). */
void ot_agg_append(json_t *out, enum ot_agg_fn fn, int64_t start_us, const ot_moments *m);

/* out[twin][asset][metric] = {"value","ts"}, creating the levels. */
void ot_latest_put(json_t *out, const char *twin, const char *asset, const char *metric,
                   double value, int64_t ts_us);

#endif
