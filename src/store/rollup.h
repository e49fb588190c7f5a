/* rollup.h - per-minute rollups gathered during one write transaction
 * (internal to src/store/).
 *
 * Both backends add every stored point here while a group is written and,
 * just before COMMIT, write one upsert per (series, minute) into rollup_1m;
 * then they clear the set. Open addressing, grown as needed; the caller
 * owns the struct (zero-initialised) and frees it with ot_rollups_free.
 */
#ifndef OT_STORE_ROLLUP_H
#define OT_STORE_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

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

#endif
