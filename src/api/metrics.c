/* metrics.c - see metrics.h. */
#include "api/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/router.h"
#include "core/buf.h"
#include "core/clock.h"

/* Status codes we count individually; anything else lands in "other". */
static const int statuses[] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409,
                               410, 413, 415, 422, 429, 500, 503, 504};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1)
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKET (sizeof buckets / sizeof buckets[0])

struct route_stats {
    atomic_ulong by_status[NSTATUS];
    atomic_ulong hist[NBUCKET + 1]; /* last = +Inf */
    atomic_ulong sum_us;
};

struct ot_metrics {
    size_t nroutes;              /* + 1 slot for unmatched */
    struct route_stats *routes;
    atomic_long inflight;
    int64_t started_us;
    int nsources;
    struct { ot_metrics_source fn; void *ctx; } sources[32];
};

ot_metrics *ot_metrics_new(size_t nroutes)
{
    ot_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nroutes = nroutes;
    m->routes = calloc(nroutes + 1, sizeof *m->routes);
    if (!m->routes) {
        free(m);
        return NULL;
    }
    m->started_us = ot_now_us();
    return m;
}

void ot_metrics_free(ot_metrics *m)
{
    if (!m)
        return;
    free(m->routes);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void ot_metrics_observe(ot_metrics *m, int route_index, int status, int64_t duration_ns)
{
    size_t r = route_index < 0 || (size_t)route_index >= m->nroutes ? m->nroutes
                                                                   : (size_t)route_index;
    struct route_stats *s = &m->routes[r];
    atomic_fetch_add_explicit(&s->by_status[status_slot(status)], 1, memory_order_relaxed);
    double secs = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < NBUCKET && secs > buckets[b])
        b++;
    atomic_fetch_add_explicit(&s->hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (unsigned long)(duration_ns / 1000),
                              memory_order_relaxed);
}

void ot_metrics_inflight_add(ot_metrics *m, int delta)
{
    atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
}

long ot_metrics_inflight(const ot_metrics *m)
{
    return atomic_load_explicit(&m->inflight, memory_order_relaxed);
}

void ot_metrics_add_source(ot_metrics *m, ot_metrics_source fn, void *ctx)
{
    if (m->nsources < 32) {
        m->sources[m->nsources].fn = fn;
        m->sources[m->nsources].ctx = ctx;
        m->nsources++;
    }
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void route_labels(const ot_metrics *m, size_t r, char *buf, size_t n)
{
    if (r < m->nroutes)
        snprintf(buf, n, "route=\"%s\",method=\"%s\",path=\"%s\"", ot_routes[r].name,
                 ot_routes[r].method, ot_routes[r].pattern);
    else
        snprintf(buf, n, "route=\"unmatched\",method=\"\",path=\"\"");
}

char *ot_metrics_render(ot_metrics *m, size_t *len)
{
    ot_buf b;
    ot_buf_init(&b);
    char labels[256];

    ot_buf_puts(&b, "# HELP opstwin_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE opstwin_http_requests_total counter\n");
    for (size_t r = 0; r <= m->nroutes; r++) {
        route_labels(m, r, labels, sizeof labels);
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long v = atomic_load_explicit(&m->routes[r].by_status[s],
                                                   memory_order_relaxed);
            if (!v)
                continue;
            if (s < NSTATUS - 1)
                ot_buf_printf(&b, "opstwin_http_requests_total{%s,status=\"%d\"} %lu\n", labels,
                              statuses[s], v);
            else
                ot_buf_printf(&b, "opstwin_http_requests_total{%s,status=\"other\"} %lu\n",
                              labels, v);
        }
    }

    ot_buf_puts(&b, "# HELP opstwin_http_request_duration_seconds Request latency.\n"
                    "# TYPE opstwin_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= m->nroutes; r++) {
        struct route_stats *s = &m->routes[r];
        unsigned long count = 0;
        for (size_t i = 0; i <= NBUCKET; i++)
            count += atomic_load_explicit(&s->hist[i], memory_order_relaxed);
        if (!count)
            continue;
        route_labels(m, r, labels, sizeof labels);
        unsigned long cum = 0;
        for (size_t i = 0; i <= NBUCKET; i++) {
            cum += atomic_load_explicit(&s->hist[i], memory_order_relaxed);
            if (i < NBUCKET)
                ot_buf_printf(&b, "opstwin_http_request_duration_seconds_bucket{%s,le=\"%g\"} %lu\n",
                              labels, buckets[i], cum);
            else
                ot_buf_printf(&b, "opstwin_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n",
                              labels, cum);
        }
        ot_buf_printf(&b, "opstwin_http_request_duration_seconds_sum{%s} %.6f\n", labels,
                      (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
        ot_buf_printf(&b, "opstwin_http_request_duration_seconds_count{%s} %lu\n", labels, cum);
    }

    ot_buf_printf(&b,
                  "# HELP opstwin_http_requests_in_flight Requests being served (streams included).\n"
                  "# TYPE opstwin_http_requests_in_flight gauge\n"
                  "opstwin_http_requests_in_flight %ld\n"
                  "# HELP process_resident_memory_bytes Resident set size.\n"
                  "# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %ld\n"
                  "# HELP opstwin_uptime_seconds Seconds since the server started.\n"
                  "# TYPE opstwin_uptime_seconds gauge\n"
                  "opstwin_uptime_seconds %.3f\n",
                  ot_metrics_inflight(m), rss_bytes(),
                  (double)(ot_now_us() - m->started_us) / 1e6);
    for (int i = 0; i < m->nsources; i++)
        m->sources[i].fn(m->sources[i].ctx, &b);
    return ot_buf_steal(&b, len);
}
