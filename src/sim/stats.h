/* stats.h - summary statistics of Monte Carlo samples.
 *
 * Mean, population standard deviation (ddof = 0, as numpy.std) and exact
 * quantiles with linear interpolation between order statistics (numpy's
 * default "linear" method: h = q (n - 1), x[floor h] + (h - floor h) *
 * (x[floor h + 1] - x[floor h])). Only finite samples count; NaN and
 * infinities are tallied in n_invalid.
 *
 * Quantiles come from a histogram-guided selection, not a sort: one pass
 * finds min/max, one fills a value-range histogram, one gathers only the
 * buckets holding the wanted ranks, and a quickselect finishes inside those
 * (a sort takes over if the quickselect ever degrades). Exact, O(n).
 *
 * Ownership: inputs are borrowed and never modified. Thread-safety:
 * reentrant; scratch memory is allocated per call.
 */
#ifndef OT_SIM_STATS_H
#define OT_SIM_STATS_H

#include <stddef.h>
#include <stdint.h>

#define OT_SIM_NQUANTILES 6 /* p5, p25, p50, p75, p95, p99 */

typedef struct ot_sim_stats {
    double mean, std;
    double q[OT_SIM_NQUANTILES]; /* at ot_sim_stats_probs[] */
    uint64_t n_valid, n_invalid; /* finite / non-finite samples */
} ot_sim_stats;

/* {0.05, 0.25, 0.50, 0.75, 0.95, 0.99} and their names "p5".."p99". */
extern const double ot_sim_stats_probs[OT_SIM_NQUANTILES];
extern const char *const ot_sim_stats_names[OT_SIM_NQUANTILES];

/* A first pass over samples: count, min, max and sum of the finite ones.
 * The engine scans each block while it is still in cache and merges the
 * block scans in block order, which saves a pass over memory and keeps
 * the sum's rounding independent of threads. */
typedef struct ot_sim_scan {
    uint64_t cnt;
    double lo, hi, sum;
} ot_sim_scan;

/* An empty scan (cnt 0, lo +inf, hi -inf, sum 0). */
ot_sim_scan ot_sim_scan_empty(void);
/* Scan x[0..n) into a fresh result. */
ot_sim_scan ot_sim_scan_block(const double *x, size_t n);
/* Fold b into a (a's samples come first). */
void ot_sim_scan_merge(ot_sim_scan *a, const ot_sim_scan *b);

/* Statistics of x[0..n) given its scan (from ot_sim_scan_block/merge). */
int ot_sim_stats_from_scan(const double *x, size_t n, const ot_sim_scan *s, ot_sim_stats *out);

/* Statistics of x[0..n). With no finite sample, mean, std and quantiles are
 * NaN. Returns 0 or OT_ENOMEM. */
int ot_sim_stats_compute(const double *x, size_t n, ot_sim_stats *out);

/* Quantiles of the finite values of x at probs[0..np) (each in [0, 1]),
 * same interpolation as above. Returns 0 or OT_ENOMEM. */
int ot_sim_quantiles(const double *x, size_t n, const double *probs, size_t np, double *out);

#endif
