/* rollup.h - per-minute rollups and aggregate results, shared by the
 * backends (internal to src/store/).
 *
 * Both backends add every stored point here while a group is written and,
 * just before COMMIT, write one upsert per (series, minute) into rollup_1m;
 * then they clear the set. Open addressing, grown as needed; the caller
 * owns the struct (zero-initialised) and frees it with ot_rollups_free.
 */
#ifndef OT_STORE_ROLLUP_H
#define OT_STORE_ROLLUP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define OT_MINUTE_US 60000000LL

typedef struct ot_rollup {
    int64_t series, minute;
    long count;
    double sum, sumsq, min, max;
    int used;                /* slot taken; iterate v[0..cap) and skip the rest */
} ot_rollup;

typedef struct ot_rollups {
    ot_rollup *v;
    size_t cap, n;
} ot_rollups;

/* The minute (floor of ts / 60 s, also for negative times) a point is in. */
int64_t ot_minute_of(int64_t ts_us);

/* Add value v of series at ts_us. 0, or -1 when out of memory. */
int ot_rollups_add(ot_rollups *r, int64_t series, int64_t ts_us, double v);

void ot_rollups_clear(ot_rollups *r);
void ot_rollups_free(ot_rollups *r);

/* --- reads ----------------------------------------------------------------- */

/* 1 when an aggregate can be answered from rollup_1m: whole-minute windows
 * over bounds on whole minutes (INT64_MIN / INT64_MAX count as open). */
int ot_agg_use_rollups(int64_t start_us, int64_t end_us, int64_t window_us);

/* Append one bucket {"bucket","value","count"} to out, its value computed
 * by fn from the bucket's totals (sample stddev: null below two points). */
void ot_agg_append(json_t *out, enum ot_agg_fn fn, int64_t start_us, long count, double sum,
                   double sumsq, double min, double max);

/* out[twin][asset][metric] = {"value","ts"}, creating the levels. */
void ot_latest_put(json_t *out, const char *twin, const char *asset, const char *metric,
                   double value, int64_t ts_us);

#endif
