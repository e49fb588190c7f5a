/* metrics.h - request counters and latency histograms, Prometheus text.
 *
 * Counters are lock-free atomics indexed by route (the router table's index;
 * one extra slot for unmatched requests) and status class, so recording a
 * request costs a few relaxed atomic adds and no allocation. Other modules
 * add their own gauges to the exposition through ot_metrics_add_source.
 *
 * Thread-safety: ot_metrics_observe and the gauges may be called from any
 * thread; ot_metrics_render allocates and returns a string the caller frees.
 */
#ifndef OT_API_METRICS_H
#define OT_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ot_metrics ot_metrics;
typedef struct ot_buf ot_buf;

/* A producer of extra exposition lines (store, ingest, SSE...). It appends
 * to out with ot_buf_printf. */
typedef void (*ot_metrics_source)(void *ctx, ot_buf *out);

ot_metrics *ot_metrics_new(size_t nroutes);
void ot_metrics_free(ot_metrics *m);

/* Record a finished request. route_index -1 = no route matched. */
void ot_metrics_observe(ot_metrics *m, int route_index, int status, int64_t duration_ns);

void ot_metrics_inflight_add(ot_metrics *m, int delta);
long ot_metrics_inflight(const ot_metrics *m);

/* Register a source (at start-up, before serving). At most 32. */
void ot_metrics_add_source(ot_metrics *m, ot_metrics_source fn, void *ctx);

/* Prometheus text exposition format 0.0.4. Caller frees. */
char *ot_metrics_render(ot_metrics *m, size_t *len);

#endif
