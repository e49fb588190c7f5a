/* bench_sim.c - time the Monte Carlo engine on the default yield/quality
 * model: 1,000,000 samples on 1 thread and on 2 threads (statistics
 * included: mean, std, p5..p99 of both KPIs), best and median of 7 runs
 * after a warm-up. Compare with bench/sim_numpy.py (same model, same
 * statistics, NumPy).
 *
 * Build and run (after `make`, from the repository root):
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/bench_sim.c build/rel/libopstwin.a \
 *       -ljansson -lm -pthread -o build/bench_sim && build/bench_sim [n_samples] [runs]
 *
 * Standalone; owns nothing beyond main's locals; single-threaded driver
 * (the engine starts its own threads).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim/montecarlo.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Run the model `runs` times on `threads` threads; report best and median
 * wall time as measured by the engine (execution_time_ms). */
static int bench(const ot_sim_model *m, uint64_t n, unsigned threads, int runs, double *best,
                 double *median)
{
    double t[64];
    ot_sim_request req;
    ot_sim_request_init(&req);
    snprintf(req.twin_id, sizeof req.twin_id, "bench");
    req.n_samples = n;
    req.has_seed = 1;
    req.seed = 42;
    ot_sim_options opt = {.threads = threads};
    for (int i = -1; i < runs; i++) { /* i = -1: warm-up */
        ot_sim_result *r;
        ot_error err;
        if (ot_sim_run(m, &req, &opt, &r, &err)) {
            fprintf(stderr, "bench_sim: %s\n", err.message);
            return -1;
        }
        if (i >= 0)
            t[i] = r->execution_time_ms;
        if (i == runs - 1 && threads == 1)
            for (size_t k = 0; k < r->nkpis; k++)
                printf("  %-8s mean %.5f std %.5f p5 %.5f p50 %.5f p99 %.5f\n", r->kpi_names[k],
                       r->kpis[k].mean, r->kpis[k].std, r->kpis[k].q[0], r->kpis[k].q[2],
                       r->kpis[k].q[5]);
        ot_sim_result_free(r);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    *best = t[0];
    *median = t[runs / 2];
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (runs < 1 || runs > 64)
        runs = 7;
    ot_sim_model *m;
    ot_error err;
    if (ot_sim_model_default(&m, &err)) {
        fprintf(stderr, "bench_sim: %s\n", err.message);
        return 1;
    }
    double b1, m1, b2, m2;
    printf("C engine, default model, %llu samples, %d runs\n", (unsigned long long)n, runs);
    if (bench(m, n, 1, runs, &b1, &m1) || bench(m, n, 2, runs, &b2, &m2)) {
        ot_sim_model_free(m);
        return 1;
    }
    printf("  1 thread : best %8.2f ms  median %8.2f ms\n", b1, m1);
    printf("  2 threads: best %8.2f ms  median %8.2f ms  (speed-up %.2fx on best)\n", b2, m2,
           b1 / b2);
    ot_sim_model_free(m);
    return 0;
}
