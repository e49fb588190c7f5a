/* stats.c - see stats.h. */
#include "sim/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const double ot_sim_stats_probs[OT_SIM_NQUANTILES] = {0.05, 0.25, 0.50, 0.75, 0.95, 0.99};
const char *const ot_sim_stats_names[OT_SIM_NQUANTILES] = {"p5", "p25", "p50", "p75", "p95",
                                                           "p99"};

#define MAX_RANKS 64 /* two order statistics per quantile */

/* --- Selection ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* k-th smallest of a[0..n) (reorders a). Quickselect with median-of-three
 * and a three-way partition, so runs of equal values (a KPI clipped at 1)
 * cost O(n); after 2 log2(n) + 8 rounds without finishing, sort the rest. */
static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* [lo, hi) holds rank k */
    int budget = 8;
    for (size_t m = n; m > 1; m >>= 1)
        budget += 2;
    while (hi - lo > 16) {
        if (budget-- == 0) {
            qsort(a + lo, hi - lo, sizeof *a, cmp_double);
            return a[k];
        }
        double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        double piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        /* Dutch flag: [lo, lt) < piv, [lt, i) == piv, (gt, hi) > piv */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            double v = a[i];
            if (v < piv) {
                a[i++] = a[lt];
                a[lt++] = v;
            } else if (v > piv) {
                a[i] = a[--gt];
                a[gt] = v;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return piv;
    }
    qsort(a + lo, hi - lo, sizeof *a, cmp_double);
    return a[k];
}

/* --- Histogram-guided quantiles ----------------------------------------- */

typedef ot_sim_scan scan;

ot_sim_scan ot_sim_scan_empty(void)
{
    return (ot_sim_scan){0, INFINITY, -INFINITY, 0};
}

void ot_sim_scan_merge(ot_sim_scan *a, const ot_sim_scan *b)
{
    a->cnt += b->cnt;
    a->lo = b->lo < a->lo ? b->lo : a->lo;
    a->hi = b->hi > a->hi ? b->hi : a->hi;
    a->sum += b->sum;
}

/* Careful version: skips NaN and infinities. */
static ot_sim_scan scan_slow(const double *x, size_t n)
{
    scan s = ot_sim_scan_empty();
    double acc[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v))
            continue;
        s.cnt++;
        acc[i & 3] += v;
        s.lo = v < s.lo ? v : s.lo;
        s.hi = v > s.hi ? v : s.hi;
    }
    s.sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    return s;
}

/* Fast path for the usual all-finite data: branch-free, four independent
 * partial sums (lane i goes to sum i mod 4, exactly as in scan_slow, so
 * both paths round alike); any NaN/infinity falls back to scan_slow. */
ot_sim_scan ot_sim_scan_block(const double *x, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, lo = INFINITY, hi = -INFINITY;
    size_t fin = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        double v0 = x[i], v1 = x[i + 1], v2 = x[i + 2], v3 = x[i + 3];
        s0 += v0;
        s1 += v1;
        s2 += v2;
        s3 += v3;
        double l01 = v0 < v1 ? v0 : v1, l23 = v2 < v3 ? v2 : v3;
        double h01 = v0 > v1 ? v0 : v1, h23 = v2 > v3 ? v2 : v3;
        double l = l01 < l23 ? l01 : l23, h = h01 > h23 ? h01 : h23;
        lo = l < lo ? l : lo;
        hi = h > hi ? h : hi;
        fin += (v0 - v0 == 0) + (v1 - v1 == 0) + (v2 - v2 == 0) + (v3 - v3 == 0);
    }
    if (fin != i)
        return scan_slow(x, n);
    double acc[4] = {s0, s1, s2, s3};
    for (; i < n; i++) {
        double v = x[i];
        if (!isfinite(v))
            return scan_slow(x, n);
        acc[i & 3] += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return (ot_sim_scan){n, lo, hi, (acc[0] + acc[1]) + (acc[2] + acc[3])};
}

static inline size_t bucket_of(double v, double lo, double scale, size_t nb)
{
    double t = (v - lo) * scale; /* monotone in v, so buckets keep order */
    return t < (double)nb ? (size_t)(int64_t)t : nb - 1; /* signed: one instruction */
}

/* numpy's _lerp: symmetric form that is exact at both ends. */
static double lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

static int quantiles_scanned(const double *x, size_t n, const scan *s, const double *probs,
                             size_t np, double *out, double mean, double *m2)
{
    int rc = OT_ENOMEM;
    size_t *hist = NULL, *fill = NULL;
    uint32_t *h4 = NULL; /* n <= OT_SIM_MAX_SAMPLES fits 32 bits per copy */
    int32_t *slot = NULL;
    double *buf = NULL;
    int bad = np > MAX_RANKS / 2;
    for (size_t j = 0; j < np && !bad; j++)
        bad = !(probs[j] >= 0 && probs[j] <= 1);
    if (s->cnt == 0 || bad) {
        for (size_t j = 0; j < np; j++)
            out[j] = NAN;
        rc = bad ? OT_EINVAL : 0;
        goto out;
    }
    /* Up to 4096 buckets (16 KiB of counts per copy) keep the histogram
     * in L1; four interleaved copies break the store-to-load chains on
     * the busy buckets near the mode. */
    size_t nb = s->cnt / 256;
    nb = nb < 64 ? 64 : (nb > 4096 ? 4096 : nb);
    double scale = (double)nb / (s->hi - s->lo);
    if (!(scale < INFINITY)) /* hi == lo, or a subnormal range */
        scale = 0;
    hist = calloc(nb, sizeof *hist);
    h4 = calloc(4 * nb, sizeof *h4);
    slot = malloc(nb * sizeof *slot);
    if (!hist || !h4 || !slot)
        goto out;
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    /* Unrolled by four with independent accumulators and histogram copies:
     * no loop-carried chain through memory. */
#define HIST_ONE(j, k, acc)                                                                      \
    do {                                                                                         \
        double v = x[j];                                                                         \
        if (isfinite(v)) {                                                                       \
            acc += (v - mean) * (v - mean);                                                      \
            h4[(k) * nb + bucket_of(v, s->lo, scale, nb)]++;                                     \
        }                                                                                        \
    } while (0)
    for (; i + 4 <= n; i += 4) {
        HIST_ONE(i, 0, a0);
        HIST_ONE(i + 1, 1, a1);
        HIST_ONE(i + 2, 2, a2);
        HIST_ONE(i + 3, 3, a3);
    }
    for (; i < n; i++)
        HIST_ONE(i, 0, a0);
#undef HIST_ONE
    for (size_t b = 0; b < nb; b++)
        hist[b] = (size_t)h4[b] + h4[nb + b] + h4[2 * nb + b] + h4[3 * nb + b];
    if (m2)
        *m2 = (a0 + a1) + (a2 + a3);

    /* Which bucket holds each wanted rank, and where that bucket starts. */
    size_t rank[MAX_RANKS], rb[MAX_RANKS], rstart[MAX_RANKS], nr = 0;
    for (size_t j = 0; j < np; j++) {
        double h = probs[j] * (double)(s->cnt - 1);
        size_t r0 = (size_t)h;
        rank[nr++] = r0;
        rank[nr++] = r0 + 1 < s->cnt ? r0 + 1 : r0;
    }
    memset(slot, 0xff, nb * sizeof *slot);
    size_t nslots = 0, total = 0, bstart[MAX_RANKS], bcount[MAX_RANKS];
    for (size_t b = 0, cum = 0; b < nb; b++) { /* hist becomes bucket start ranks */
        size_t c = hist[b];
        hist[b] = cum;
        cum += c;
    }
    for (size_t r = 0; r < nr; r++) {
        size_t lo = 0, hi = nb; /* last bucket whose start <= rank */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (hist[mid] <= rank[r])
                lo = mid;
            else
                hi = mid;
        }
        size_t b = lo, cum = hist[b];
        size_t cnt_b = (b + 1 < nb ? hist[b + 1] : s->cnt) - cum;
        if (slot[b] < 0) {
            slot[b] = (int32_t)nslots;
            bcount[nslots] = cnt_b;
            bstart[nslots] = total;
            total += cnt_b;
            nslots++;
        }
        rb[r] = (size_t)slot[b];
        rstart[r] = cum;
    }
    buf = malloc(total * sizeof *buf);
    fill = calloc(nslots, sizeof *fill);
    if (!buf || !fill)
        goto out;
    for (size_t j = 0; j < n; j++) {
        double v = x[j];
        if (!isfinite(v))
            continue;
        int32_t sl = slot[bucket_of(v, s->lo, scale, nb)];
        if (sl >= 0)
            buf[bstart[sl] + fill[sl]++] = v;
    }
    double val[MAX_RANKS];
    for (size_t r = 0; r < nr; r++)
        val[r] = select_kth(buf + bstart[rb[r]], bcount[rb[r]], rank[r] - rstart[r]);
    for (size_t j = 0; j < np; j++) {
        double h = probs[j] * (double)(s->cnt - 1);
        out[j] = lerp(val[2 * j], val[2 * j + 1], h - floor(h));
    }
    rc = 0;
out:
    free(hist);
    free(h4);
    free(slot);
    free(buf);
    free(fill);
    return rc;
}

int ot_sim_quantiles(const double *x, size_t n, const double *probs, size_t np, double *out)
{
    scan s = ot_sim_scan_block(x, n);
    return quantiles_scanned(x, n, &s, probs, np, out, 0, NULL);
}

int ot_sim_stats_compute(const double *x, size_t n, ot_sim_stats *out)
{
    scan s = ot_sim_scan_block(x, n);
    return ot_sim_stats_from_scan(x, n, &s, out);
}

int ot_sim_stats_from_scan(const double *x, size_t n, const ot_sim_scan *sp, ot_sim_stats *out)
{
    scan s = *sp;
    memset(out, 0, sizeof *out);
    out->n_valid = s.cnt;
    out->n_invalid = n - s.cnt;
    out->mean = s.cnt ? s.sum / (double)s.cnt : NAN;
    double m2 = 0;
    int rc = quantiles_scanned(x, n, &s, ot_sim_stats_probs, OT_SIM_NQUANTILES, out->q,
                               s.cnt ? out->mean : 0, &m2);
    out->std = s.cnt ? sqrt(m2 / (double)s.cnt) : NAN;
    return rc;
}
