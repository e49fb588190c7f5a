/* montecarlo.c - the classical engine: sampling threads, statistics,
 * scenario comparison. See montecarlo.h for the contract.
 *
 * A run has two parallel phases, each a pool of threads pulling work from
 * an atomic counter (the calling thread works too):
 *   1. sampling: work items are chunks of blocks; a block fills every
 *      parameter from its stream, then evaluates the KPIs in dependency
 *      order for the baseline and for each scenario, writing straight into
 *      the per-(variant, KPI) sample arrays at the block's offset;
 *   2. statistics: one work item per (variant, KPI) array.
 * Nothing a thread computes depends on which thread it is, so results are
 * identical for any thread count.
 */
#include "sim/montecarlo.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clock.h"
#include "sim/rng.h"

#define L OT_EXPR_LANES
#define CHUNK 4 /* blocks per work item */

typedef struct run_ctx {
    const ot_sim_model *m;
    const ot_dist *dists;     /* bound parameter distributions */
    size_t nv;                /* variants: baseline + scenarios */
    const double *fixed;      /* [v * nparams + p]: scenario constant or NaN */
    unsigned char *affected;  /* [v * nkpis + k]: KPI differs from baseline */
    double **out;             /* [v * nkpis + k]: nblocks * L samples */
    ot_sim_scan *scans;       /* [(v * nkpis + k) * nblocks + b]: per-block first pass */
    uint64_t seed, n, nblocks;
    atomic_uint_fast64_t next;
    atomic_int stop;          /* 0, or the OT_E* code that stopped the run */
    atomic_int *cancel;
    int64_t deadline_ns;      /* 0: none */
    ot_sim_result *res;
} run_ctx;

const char *ot_sim_engine_name(ot_sim_engine e)
{
    switch (e) {
    case OT_SIM_ENGINE_QUANTUM: return "quantum";
    case OT_SIM_ENGINE_HYBRID: return "hybrid";
    default: return "classical";
    }
}

/* Sample arrays are large (8 MB per million samples) and written once;
 * with 4 KiB pages the first-touch page faults cost more than sampling
 * (measured: ~25% of a 1M-sample run in a VM). Transparent huge pages cut
 * them 512-fold; memory from this is released with free(). */
static double *alloc_samples(uint64_t count)
{
    const size_t huge = 2u << 20;
    size_t bytes = (size_t)count * sizeof(double);
    if (bytes < huge)
        return aligned_alloc(64, (bytes + 63) / 64 * 64);
    bytes = (bytes + huge - 1) / huge * huge;
    double *p = aligned_alloc(huge, bytes);
    if (p)
        madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is harmless */
    return p;
}

/* --- Thread pool -------------------------------------------------------- */

/* Run fn(ctx) on nthreads threads (this one included) and wait. If a
 * thread cannot be started the others simply do its share. */
static void parallel(unsigned nthreads, void *(*fn)(void *), void *ctx)
{
    pthread_t tid[256];
    unsigned started = 0;
    if (nthreads > 256)
        nthreads = 256;
    for (unsigned t = 1; t < nthreads; t++)
        if (pthread_create(&tid[started], NULL, fn, ctx) == 0)
            started++;
    fn(ctx);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}

static int should_stop(run_ctx *c)
{
    if (atomic_load_explicit(&c->stop, memory_order_relaxed))
        return 1;
    int code = 0;
    if (c->cancel && atomic_load_explicit(c->cancel, memory_order_relaxed))
        code = OT_ECANCELED;
    else if (c->deadline_ns && ot_mono_ns() > c->deadline_ns)
        code = OT_ETIMEOUT;
    if (code) {
        int zero = 0;
        atomic_compare_exchange_strong(&c->stop, &zero, code);
        return 1;
    }
    return 0;
}

/* --- Phase 1: sampling -------------------------------------------------- */

typedef struct worker {
    double *mem;          /* parameter blocks, then scenario constant blocks */
    double **params;      /* [p] */
    double **consts;      /* [v * nparams + p] or NULL */
    double **vars;        /* expression variable table */
    ot_expr_exec **exec;  /* [k] */
} worker;

static void worker_free(worker *w, const ot_sim_model *m)
{
    if (w->exec)
        for (size_t k = 0; k < m->nkpis; k++)
            ot_expr_exec_free(w->exec[k]);
    free(w->exec);
    free(w->vars);
    free(w->consts);
    free(w->params);
    free(w->mem);
}

static int worker_init(worker *w, run_ctx *c)
{
    const ot_sim_model *m = c->m;
    size_t np = m->nparams, nfixed = 0;
    memset(w, 0, sizeof *w);
    for (size_t i = 0; i < c->nv * np; i++)
        nfixed += !isnan(c->fixed[i]);
    w->mem = aligned_alloc(64, (np + nfixed + 1) * L * sizeof(double));
    w->params = calloc(np + 1, sizeof *w->params);
    w->consts = calloc(c->nv * np + 1, sizeof *w->consts);
    w->vars = calloc(np + m->nkpis, sizeof *w->vars);
    w->exec = calloc(m->nkpis, sizeof *w->exec);
    if (!w->mem || !w->params || !w->consts || !w->vars || !w->exec)
        return OT_ENOMEM;
    for (size_t k = 0; k < m->nkpis; k++)
        if (ot_expr_exec_new(m->kpis[k].prog, &w->exec[k]))
            return OT_ENOMEM;
    double *p = w->mem;
    for (size_t i = 0; i < np; i++, p += L) {
        w->params[i] = p;
        if (ot_dist_is_constant(&c->dists[i])) /* fill once, not per block */
            for (size_t j = 0; j < L; j++)
                p[j] = c->dists[i].p[0];
    }
    for (size_t i = 0; i < c->nv * np; i++) {
        if (isnan(c->fixed[i]))
            continue;
        w->consts[i] = p;
        for (size_t j = 0; j < L; j++)
            p[j] = c->fixed[i];
        p += L;
    }
    return 0;
}

static void sample_block(run_ctx *c, worker *w, uint64_t b)
{
    const ot_sim_model *m = c->m;
    size_t np = m->nparams, nk = m->nkpis;
    size_t lanes = b + 1 < c->nblocks ? L : (size_t)(c->n - b * L);
    for (size_t i = 0; i < np; i++) {
        if (ot_dist_is_constant(&c->dists[i]))
            continue;
        ot_rng r;
        ot_rng_seed(&r, c->seed, b, i);
        ot_dist_fill(&c->dists[i], &r, w->params[i], L);
    }
    for (size_t v = 0; v < c->nv; v++) {
        for (size_t i = 0; i < np; i++)
            w->vars[i] = w->consts[v * np + i] ? w->consts[v * np + i] : w->params[i];
        for (size_t k = 0; k < nk; k++)
            w->vars[np + k] = c->out[v * nk + k] + b * L;
        for (size_t j = 0; j < nk; j++) {
            size_t k = m->order[j];
            double *dst = c->out[v * nk + k] + b * L;
            if (v > 0 && !c->affected[v * nk + k]) /* same streams, same inputs */
                memcpy(dst, c->out[k] + b * L, L * sizeof *dst);
            else
                ot_expr_exec_run(w->exec[k], w->vars, c->seed, b, dst);
            /* Lanes past n (last block) are computed but not samples. */
            c->scans[(v * nk + k) * c->nblocks + b] = ot_sim_scan_block(dst, lanes);
        }
    }
}

static void *sample_thread(void *arg)
{
    run_ctx *c = arg;
    worker w;
    if (worker_init(&w, c)) {
        int zero = 0;
        atomic_compare_exchange_strong(&c->stop, &zero, OT_ENOMEM);
        goto out;
    }
    for (;;) {
        uint64_t b0 = atomic_fetch_add(&c->next, CHUNK);
        if (b0 >= c->nblocks || should_stop(c))
            break;
        uint64_t b1 = b0 + CHUNK < c->nblocks ? b0 + CHUNK : c->nblocks;
        for (uint64_t b = b0; b < b1; b++)
            sample_block(c, &w, b);
    }
out:
    worker_free(&w, c->m);
    return NULL;
}

/* --- Phase 2: statistics ------------------------------------------------ */

static uint64_t count_better(const double *s, const double *b, uint64_t n, ot_sim_goal g)
{
    uint64_t cnt = 0;
    for (uint64_t i = 0; i < n; i++)
        cnt += g == OT_SIM_MAXIMIZE ? s[i] > b[i] : s[i] < b[i];
    return cnt;
}

static uint64_t count_target(const double *x, uint64_t n, ot_sim_goal g, double target)
{
    uint64_t cnt = 0;
    for (uint64_t i = 0; i < n; i++)
        cnt += g == OT_SIM_MAXIMIZE ? x[i] >= target : x[i] <= target;
    return cnt;
}

static void stats_item(run_ctx *c, size_t item)
{
    ot_sim_result *r = c->res;
    size_t nk = c->m->nkpis, v = item / nk, k = item % nk;
    const double *x = c->out[item];
    ot_sim_stats *st = v == 0 ? &r->kpis[k] : &r->scenarios[v - 1].kpis[k];
    ot_sim_scan sc = ot_sim_scan_empty();
    for (uint64_t b = 0; b < c->nblocks; b++) /* block order: same sum for any thread count */
        ot_sim_scan_merge(&sc, &c->scans[item * c->nblocks + b]);
    if (ot_sim_stats_from_scan(x, c->n, &sc, st)) {
        int zero = 0;
        atomic_compare_exchange_strong(&c->stop, &zero, OT_ENOMEM);
        return;
    }
    if (k != r->primary_kpi)
        return;
    double pt = r->has_target ? (double)count_target(x, c->n, r->goal, r->target) / (double)c->n
                              : NAN;
    if (v == 0) {
        r->p_target = pt;
        r->p_rule[0] = (double)count_target(x, c->n, OT_SIM_MAXIMIZE, 0.7) / (double)c->n;
        r->p_rule[1] = 1.0 - (double)count_target(x, c->n, OT_SIM_MAXIMIZE, 0.8) / (double)c->n;
        return;
    }
    ot_sim_scenario_result *sr = &r->scenarios[v - 1];
    sr->p_target = pt;
    sr->p_improvement = (double)count_better(x, c->out[k], c->n, r->goal) / (double)c->n;
}

static void *stats_thread(void *arg)
{
    run_ctx *c = arg;
    size_t nitems = c->nv * c->m->nkpis;
    for (;;) {
        uint64_t i = atomic_fetch_add(&c->next, 1);
        if (i >= nitems || should_stop(c))
            break;
        stats_item(c, (size_t)i);
    }
    return NULL;
}

/* --- Setup -------------------------------------------------------------- */

static int check_request(const ot_sim_model *m, const ot_sim_request *req, ot_error *err)
{
    if (req->n_samples < OT_SIM_MIN_SAMPLES || req->n_samples > OT_SIM_MAX_SAMPLES)
        return ot_error_set(err, OT_EINVAL, "$.n_samples",
                            "n_samples: must be between %d and %d, got %llu", OT_SIM_MIN_SAMPLES,
                            OT_SIM_MAX_SAMPLES, (unsigned long long)req->n_samples);
    if (req->nscenarios > OT_SIM_MAX_SCENARIOS)
        return ot_error_set(err, OT_EINVAL, "$.scenarios", "scenarios: at most %d",
                            OT_SIM_MAX_SCENARIOS);
    for (size_t s = 0; s < req->nscenarios; s++)
        for (size_t j = 0; j < req->scenarios[s].nset; j++) {
            const char *name = req->scenarios[s].set[j].name;
            if (ot_sim_model_param_index(m, name) < 0) {
                char p[OT_ERROR_PATH_MAX];
                snprintf(p, sizeof p, "$.scenarios[%zu].set.%s", s, name);
                return ot_error_set(err, OT_EINVAL, p,
                                    "%s: the model has no such parameter (scenarios can set "
                                    "parameters only, not KPIs)", name);
            }
        }
    uint64_t values = req->n_samples * m->nkpis * (1 + req->nscenarios);
    if (values > OT_SIM_MAX_VALUES)
        return ot_error_set(err, OT_ETOOLARGE, "$.n_samples",
                            "n_samples x KPIs x (1 + scenarios) = %llu samples to keep, over the "
                            "limit of %llu; lower n_samples or run fewer scenarios at once",
                            (unsigned long long)values, (unsigned long long)OT_SIM_MAX_VALUES);
    return 0;
}

/* Which scenario KPIs can differ from the baseline: those that use a fixed
 * parameter or an affected KPI (dependency order makes one pass enough). */
static void mark_affected(run_ctx *c)
{
    const ot_sim_model *m = c->m;
    size_t np = m->nparams, nk = m->nkpis;
    for (size_t v = 1; v < c->nv; v++)
        for (size_t j = 0; j < nk; j++) {
            size_t k = m->order[j];
            const int *vars;
            size_t n = ot_expr_vars(m->kpis[k].prog, &vars);
            unsigned char a = 0;
            for (size_t t = 0; t < n && !a; t++)
                a = (size_t)vars[t] < np ? !isnan(c->fixed[v * np + (size_t)vars[t]])
                                         : c->affected[v * nk + (size_t)vars[t] - np];
            c->affected[v * nk + k] = a;
        }
}

static ot_sim_result *result_new(const ot_sim_model *m, const ot_sim_request *req)
{
    ot_sim_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->nkpis = m->nkpis;
    r->kpi_names = calloc(m->nkpis, sizeof *r->kpi_names);
    r->kpis = calloc(m->nkpis, sizeof *r->kpis);
    r->kpi_converged = calloc(m->nkpis, sizeof *r->kpi_converged);
    r->scenarios = calloc(req->nscenarios + 1, sizeof *r->scenarios);
    r->samples = calloc((1 + req->nscenarios) * m->nkpis, sizeof *r->samples);
    if (!r->kpi_names || !r->kpis || !r->kpi_converged || !r->scenarios || !r->samples) {
        ot_sim_result_free(r);
        return NULL;
    }
    for (size_t k = 0; k < m->nkpis; k++)
        memcpy(r->kpi_names[k], m->kpis[k].name, OT_SIM_NAME_MAX);
    r->nscenarios = req->nscenarios;
    for (size_t s = 0; s < req->nscenarios; s++) {
        ot_sim_scenario_result *sr = &r->scenarios[s];
        memcpy(sr->name, req->scenarios[s].name, OT_SIM_NAME_MAX);
        sr->kpis = calloc(m->nkpis, sizeof *sr->kpis);
        sr->set = calloc(req->scenarios[s].nset + 1, sizeof *sr->set);
        if (!sr->kpis || !sr->set) {
            ot_sim_result_free(r);
            return NULL;
        }
        sr->nset = req->scenarios[s].nset;
        memcpy(sr->set, req->scenarios[s].set, sr->nset * sizeof *sr->set);
    }
    snprintf(r->twin_id, sizeof r->twin_id, "%s", req->twin_id);
    snprintf(r->scenario, sizeof r->scenario, "%s", req->scenario);
    r->n_samples = req->n_samples;
    r->primary_kpi = m->objective.present ? m->objective.kpi : 0;
    r->goal = m->objective.present ? m->objective.goal : OT_SIM_MAXIMIZE;
    r->has_target = m->objective.present && m->objective.has_target;
    r->target = m->objective.target;
    r->p_target = NAN;
    r->engine = OT_SIM_ENGINE_CLASSICAL;
    r->requested_engine = req->engine;
    return r;
}

static int kpi_converged(const ot_sim_stats *s)
{
    if (s->n_valid == 0)
        return 0;
    double se = s->std / sqrt((double)s->n_valid);
    if (s->mean == 0)
        return s->std == 0 || se < 0.01 * s->std;
    return se / fabs(s->mean) < 0.01;
}

static unsigned pick_threads(const ot_sim_options *opt, uint64_t nblocks)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned t = opt && opt->threads ? opt->threads : (unsigned)(cpus > 0 ? cpus : 1);
    uint64_t items = (nblocks + CHUNK - 1) / CHUNK;
    if (t > items) /* no thread without work: small runs stay single-threaded */
        t = (unsigned)items;
    return t ? t : 1;
}

/* --- Entry point -------------------------------------------------------- */

int ot_sim_run(const ot_sim_model *m, const ot_sim_request *req, const ot_sim_options *opt,
               ot_sim_result **out, ot_error *err)
{
    int64_t t0 = ot_mono_ns();
    ot_sim_result *r = NULL;
    ot_dist *dists = NULL;
    double *fixed = NULL;
    run_ctx c;
    memset(&c, 0, sizeof c);
    *out = NULL;
    int rc = check_request(m, req, err);
    if (rc)
        goto out;
    size_t np = m->nparams, nk = m->nkpis, nv = 1 + req->nscenarios;
    rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory starting a simulation");
    dists = calloc(np + 1, sizeof *dists);
    fixed = malloc((nv * np + 1) * sizeof *fixed);
    c.affected = calloc(nv * nk, 1);
    if (!dists || !fixed || !c.affected || !(r = result_new(m, req)))
        goto out;
    rc = ot_sim_model_bind(m, req->overrides, req->noverrides, opt ? opt->lookup : NULL,
                           req->twin_id, dists, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < nv * np; i++)
        fixed[i] = NAN;
    for (size_t s = 0; s < req->nscenarios; s++)
        for (size_t j = 0; j < req->scenarios[s].nset; j++) {
            const ot_sim_override *o = &req->scenarios[s].set[j];
            fixed[(s + 1) * np + (size_t)ot_sim_model_param_index(m, o->name)] = o->dist.p[0];
        }
    c.m = m;
    c.dists = dists;
    c.nv = nv;
    c.fixed = fixed;
    c.n = req->n_samples;
    c.nblocks = (c.n + L - 1) / L;
    c.seed = req->has_seed ? req->seed : ot_rng_random_seed();
    c.cancel = opt ? opt->cancel : NULL;
    c.deadline_ns = opt && opt->time_limit_ms > 0 ? t0 + opt->time_limit_ms * 1000000 : 0;
    c.res = r;
    c.out = r->samples;
    mark_affected(&c);
    rc = ot_error_set(err, OT_ENOMEM, "$.n_samples",
                      "out of memory for %llu samples; lower n_samples",
                      (unsigned long long)c.n);
    if (!(c.scans = malloc(nv * nk * c.nblocks * sizeof *c.scans)))
        goto out;
    for (size_t i = 0; i < nv * nk; i++)
        if (!(c.out[i] = alloc_samples(c.nblocks * L)))
            goto out;

    r->seed = c.seed;
    r->threads = pick_threads(opt, c.nblocks);
    parallel(r->threads, sample_thread, &c);
    if (!atomic_load(&c.stop)) {
        atomic_store(&c.next, 0);
        parallel(r->threads < nv * nk ? r->threads : (unsigned)(nv * nk), stats_thread, &c);
    }
    rc = atomic_load(&c.stop);
    if (rc == OT_ECANCELED) {
        rc = ot_error_set(err, rc, NULL, "simulation cancelled");
        goto out;
    }
    if (rc == OT_ETIMEOUT) {
        rc = ot_error_set(err, rc, NULL,
                          "simulation exceeded its time limit of %lld ms; lower n_samples",
                          (long long)opt->time_limit_ms);
        goto out;
    }
    if (rc) {
        rc = ot_error_set(err, rc, NULL, "simulation failed: %s", ot_strerror(rc));
        goto out;
    }

    r->converged = 1;
    for (size_t k = 0; k < nk; k++) {
        r->kpi_converged[k] = kpi_converged(&r->kpis[k]);
        r->converged &= r->kpi_converged[k];
    }
    for (size_t s = 0; s < req->nscenarios; s++) {
        const ot_sim_stats *a = &r->scenarios[s].kpis[r->primary_kpi], *b = &r->kpis[r->primary_kpi];
        double d = a->mean - b->mean;
        r->scenarios[s].mean_improvement = r->goal == OT_SIM_MAXIMIZE ? d : -d;
    }
    ot_sim_recommend(r);
    if (!opt || !opt->keep_samples) {
        for (size_t i = 0; i < nv * nk; i++) {
            free(r->samples[i]);
            r->samples[i] = NULL;
        }
    }
    ot_id_new("sim", r->sim_id);
    r->timestamp_us = ot_now_us();
    r->execution_time_ms = (double)(ot_mono_ns() - t0) / 1e6;
    ot_error_clear(err);
    *out = r;
    r = NULL;
    rc = 0;
out:
    ot_sim_result_free(r);
    free(dists);
    free(fixed);
    free(c.affected);
    free(c.scans);
    return rc;
}
