/* expr_vm.c - compile an ex_tree to block bytecode and run it.
 *
 * Slot layout of a program (each slot is OT_EXPR_LANES doubles):
 *   [0, nvars)                  variables, bound per run by the caller
 *   [nvars, nvars+nconst)       constants, filled once per exec
 *   [.., +ntemps)               temporaries: temp k holds the value of a
 *                               subtree evaluated at stack depth k
 *   out                         the caller's output array
 * Instructions are three-address (d = op(a, b, c)) over slot indices. A
 * subtree at depth k writes temp k and evaluates its children at depths
 * k, k+1, k+2, so a result is never overwritten before its parent reads it
 * and the number of temporaries is bounded by the tree height.
 *
 * Constant subtrees are folded at compile time with the same scalar kernels
 * the vector loops use, so folding never changes a result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dist.h"
#include "sim/expr_ast.h"
#include "sim/rng.h"

#define L OT_EXPR_LANES

typedef struct insn {
    uint8_t op;
    uint16_t d, a, b, c;
    uint32_t site;
} insn;

struct ot_expr {
    insn *code;
    int ncode;
    int nvars;  /* variable slots (max index referenced + 1) */
    int nconst;
    int ntemps;
    int out;    /* slot index of the output */
    double *consts;
    uint32_t nsites;
    int *vars;  /* referenced variables, sorted */
    int nvars_used;
};

struct ot_expr_exec {
    const ot_expr *e;
    double **tab; /* slot -> array */
    double *mem;  /* constants, temporaries and one draw buffer */
    double *draw;
};

/* --- Scalar kernels (shared by folding and the vector loops) ------------ */

static inline double k_min(double a, double b) { return a < b ? a : b; }
static inline double k_max(double a, double b) { return a > b ? a : b; }
static inline double k_clip(double x, double lo, double hi)
{
    return x < lo ? lo : (x > hi ? hi : x); /* NaN x stays NaN */
}
static inline double k_bool(int c) { return c ? 1.0 : 0.0; }

static double k_scalar(int op, double a, double b, double c)
{
    switch (op) {
    case EX_MOV: return a;
    case EX_NEG: return -a;
    case EX_NOT: return k_bool(a == 0);
    case EX_ABS: return fabs(a);
    case EX_EXP: return exp(a);
    case EX_LOG: return log(a);
    case EX_SQRT: return sqrt(a);
    case EX_ADD: return a + b;
    case EX_SUB: return a - b;
    case EX_MUL: return a * b;
    case EX_DIV: return a / b;
    case EX_POW: return pow(a, b);
    case EX_LT: return k_bool(a < b);
    case EX_LE: return k_bool(a <= b);
    case EX_GT: return k_bool(a > b);
    case EX_GE: return k_bool(a >= b);
    case EX_EQ: return k_bool(a == b);
    case EX_NE: return k_bool(a != b);
    case EX_AND: return k_bool(a != 0 && b != 0);
    case EX_OR: return k_bool(a != 0 || b != 0);
    case EX_MIN: return k_min(a, b);
    case EX_MAX: return k_max(a, b);
    case EX_CLIP: return k_clip(a, b, c);
    case EX_IF: return a != 0 ? b : c;
    default: return NAN;
    }
}

/* --- Compiler ----------------------------------------------------------- */

/* An instruction before slot layout is final (see TEMP below). */
typedef struct pre_insn {
    int op, d, a[3];
    uint32_t site;
} pre_insn;

typedef struct compiler {
    const ex_tree *t;
    ot_expr *e;
    pre_insn *pre;
    int npre, cap;
    int maxdepth;
    uint32_t site;
    double *cval; /* constant values, slot order */
    int ccap;
} compiler;

/* Fold constant subtrees in place (post-order); random draws never fold. */
static void fold(ex_tree *t, int n)
{
    ex_node *nd = &t->nodes[n];
    int all_const = 1;
    for (int k = 0; k < nd->nargs; k++) {
        fold(t, nd->arg[k]);
        if (t->nodes[nd->arg[k]].op != EX_NUM)
            all_const = 0;
    }
    nd = &t->nodes[n];
    if (nd->nargs == 0 || !all_const || ex_is_random(nd->op))
        return;
    double v[3] = {0, 0, 0};
    for (int k = 0; k < nd->nargs; k++)
        v[k] = t->nodes[nd->arg[k]].num;
    nd->num = k_scalar(nd->op, v[0], v[1], v[2]);
    nd->op = EX_NUM;
    nd->nargs = 0;
}

static int const_slot(compiler *c, double v)
{
    for (int k = 0; k < c->e->nconst; k++)
        if (memcmp(&c->cval[k], &v, sizeof v) == 0)
            return k; /* bitwise: keeps -0.0 and NaN distinct and exact */
    if (c->e->nconst == c->ccap) {
        int cap = c->ccap ? c->ccap * 2 : 8;
        double *nv = realloc(c->cval, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        c->cval = nv;
        c->ccap = cap;
    }
    c->cval[c->e->nconst] = v;
    return c->e->nconst++;
}

static int emit(compiler *c, int op, int d, const int a[3], uint32_t site)
{
    if (c->npre == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        pre_insn *np = realloc(c->pre, (size_t)cap * sizeof *np);
        if (!np)
            return -1;
        c->pre = np;
        c->cap = cap;
    }
    c->pre[c->npre++] = (pre_insn){op, d, {a[0], a[1], a[2]}, site};
    return 0;
}

/* Operands are encoded before the final layout is known: variables as
 * themselves (>= 0), constants as -(1 + k), temporaries as TEMP(depth),
 * the output as OUT. relocate() maps them to slots once counts are final. */
#define TEMP(depth) (-(1 << 20) - (depth))
#define OUT (-(1 << 30))

static int compile_node(compiler *c, int n, int depth, int *slot)
{
    const ex_node *nd = &c->t->nodes[n];
    if (nd->op == EX_VAR) {
        *slot = nd->var;
        return 0;
    }
    if (nd->op == EX_NUM) {
        int k = const_slot(c, nd->num);
        if (k < 0)
            return -1;
        *slot = -(1 + k);
        return 0;
    }
    int a[3] = {0, 0, 0};
    for (int k = 0; k < nd->nargs; k++)
        if (compile_node(c, nd->arg[k], depth + k, &a[k]))
            return -1;
    if (depth + 1 > c->maxdepth)
        c->maxdepth = depth + 1;
    *slot = TEMP(depth);
    int op = nd->op;
    /* x^2 is common in models ((t-25)^2) and x*x is much cheaper. */
    if (op == EX_POW && c->t->nodes[nd->arg[1]].op == EX_NUM && c->t->nodes[nd->arg[1]].num == 2) {
        op = EX_MUL;
        a[1] = a[0];
    }
    uint32_t site = 0;
    if (ex_is_random(op))
        site = c->site++;
    return emit(c, op, *slot, a, site);
}

static int relocate(const ot_expr *e, int v)
{
    if (v == OUT)
        return e->out;
    if (v >= 0)
        return v;
    if (v > TEMP(0))
        return e->nvars + (-v - 1);
    return e->nvars + e->nconst + (TEMP(0) - v);
}

int ot_expr_compile(const char *src, ot_expr_resolve_fn resolve, void *ctx, uint32_t site_base,
                    ot_expr **out, ot_error *err)
{
    ex_tree t;
    compiler c;
    ot_expr *e = NULL;
    memset(&c, 0, sizeof c);
    *out = NULL;
    int rc = ex_parse(src, resolve, ctx, &t, err);
    if (rc)
        goto out;
    rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory compiling an expression");
    e = calloc(1, sizeof *e);
    if (!e)
        goto out;
    c.t = &t;
    c.e = e;
    c.site = site_base;
    e->nvars = t.nvars_used ? t.vars[t.nvars_used - 1] + 1 : 0;
    fold(&t, t.root);
    int root;
    if (compile_node(&c, t.root, 0, &root))
        goto out;
    /* The last instruction computes the root into temp 0: redirect it to
     * the output. A bare variable or constant needs a copy. */
    if (root == TEMP(0)) {
        c.pre[c.npre - 1].d = OUT;
    } else {
        int a[3] = {root, 0, 0};
        if (emit(&c, EX_MOV, OUT, a, 0))
            goto out;
    }
    e->ntemps = c.maxdepth;
    e->out = e->nvars + e->nconst + e->ntemps;
    if (e->out >= 0xffff) {
        rc = ot_error_set(err, OT_EINVAL, NULL, "expression too complex (too many values)");
        goto out;
    }
    e->code = calloc((size_t)c.npre, sizeof *e->code);
    e->consts = malloc((size_t)(e->nconst ? e->nconst : 1) * sizeof *e->consts);
    e->vars = malloc((size_t)(t.nvars_used ? t.nvars_used : 1) * sizeof *e->vars);
    if (!e->code || !e->consts || !e->vars)
        goto out;
    for (int k = 0; k < c.npre; k++) {
        const pre_insn *p = &c.pre[k];
        int ar = ex_arity(p->op);
        insn *in = &e->code[k];
        in->op = (uint8_t)p->op;
        in->d = (uint16_t)relocate(e, p->d);
        in->a = (uint16_t)(ar > 0 ? relocate(e, p->a[0]) : 0);
        in->b = (uint16_t)(ar > 1 ? relocate(e, p->a[1]) : 0);
        in->c = (uint16_t)(ar > 2 ? relocate(e, p->a[2]) : 0);
        in->site = p->site;
    }
    e->ncode = c.npre;
    if (e->nconst)
        memcpy(e->consts, c.cval, (size_t)e->nconst * sizeof *e->consts);
    if (t.nvars_used)
        memcpy(e->vars, t.vars, (size_t)t.nvars_used * sizeof *e->vars);
    e->nvars_used = t.nvars_used;
    e->nsites = c.site - site_base;
    *out = e;
    e = NULL;
    rc = 0;
    if (err)
        ot_error_clear(err);
out:
    ot_expr_free(e);
    free(c.pre);
    free(c.cval);
    ex_tree_free(&t);
    return rc;
}

void ot_expr_free(ot_expr *e)
{
    if (!e)
        return;
    free(e->code);
    free(e->consts);
    free(e->vars);
    free(e);
}

uint32_t ot_expr_sites(const ot_expr *e)
{
    return e->nsites;
}

size_t ot_expr_vars(const ot_expr *e, const int **vars)
{
    *vars = e->vars;
    return (size_t)e->nvars_used;
}

size_t ot_expr_nvars(const ot_expr *e)
{
    return (size_t)e->nvars;
}

/* --- Execution ---------------------------------------------------------- */

int ot_expr_exec_new(const ot_expr *e, ot_expr_exec **out)
{
    *out = NULL;
    ot_expr_exec *x = calloc(1, sizeof *x);
    if (!x)
        return OT_ENOMEM;
    size_t nslots = (size_t)e->out + 1;
    size_t nmem = (size_t)(e->nconst + e->ntemps + 1) * L;
    x->e = e;
    x->tab = calloc(nslots, sizeof *x->tab);
    x->mem = aligned_alloc(64, nmem * sizeof(double));
    if (!x->tab || !x->mem) {
        ot_expr_exec_free(x);
        return OT_ENOMEM;
    }
    for (int k = 0; k < e->nconst + e->ntemps; k++)
        x->tab[e->nvars + k] = x->mem + (size_t)k * L;
    for (int k = 0; k < e->nconst; k++)
        for (size_t i = 0; i < L; i++)
            x->tab[e->nvars + k][i] = e->consts[k];
    /* Temporaries start as zeros: no lane is ever read before it is written,
     * but a defined value keeps sanitizers and fuzzers quiet. */
    memset(x->mem + (size_t)e->nconst * L, 0, (size_t)(e->ntemps + 1) * L * sizeof(double));
    x->draw = x->mem + (size_t)(e->nconst + e->ntemps) * L;
    *out = x;
    return 0;
}

void ot_expr_exec_free(ot_expr_exec *x)
{
    if (!x)
        return;
    free(x->tab);
    free(x->mem);
    free(x);
}

/* Element-wise loops over a block. Slots never partially overlap (d may
 * equal an operand exactly, which is safe element-wise), so ivdep lets gcc
 * vectorise at -O2 without alias checks. */
#if defined(__clang__)
#define IVDEP /* clang vectorises with a runtime alias check instead */
#else
#define IVDEP _Pragma("GCC ivdep")
#endif
#define LOOP(expr)                                                                               \
    do {                                                                                         \
        IVDEP for (size_t i = 0; i < L; i++) d[i] = (expr);                                      \
    } while (0)

void ot_expr_exec_run(ot_expr_exec *x, double *const *vars, uint64_t seed, uint64_t block,
                      double *out)
{
    const ot_expr *e = x->e;
    double **tab = x->tab;
    for (int k = 0; k < e->nvars; k++)
        tab[k] = vars[k];
    tab[e->out] = out;
    double *z = x->draw;
    for (int k = 0; k < e->ncode; k++) {
        const insn *in = &e->code[k];
        double *d = tab[in->d];
        const double *a = tab[in->a], *b = tab[in->b], *c = tab[in->c];
        ot_rng r;
        switch (in->op) {
        case EX_MOV: LOOP(a[i]); break;
        case EX_NEG: LOOP(-a[i]); break;
        case EX_NOT: LOOP(k_bool(a[i] == 0)); break;
        case EX_ABS: LOOP(fabs(a[i])); break;
        case EX_EXP: LOOP(exp(a[i])); break;
        case EX_LOG: LOOP(log(a[i])); break;
        case EX_SQRT: LOOP(sqrt(a[i])); break;
        case EX_ADD: LOOP(a[i] + b[i]); break;
        case EX_SUB: LOOP(a[i] - b[i]); break;
        case EX_MUL: LOOP(a[i] * b[i]); break;
        case EX_DIV: LOOP(a[i] / b[i]); break;
        case EX_POW: LOOP(pow(a[i], b[i])); break;
        case EX_LT: LOOP(k_bool(a[i] < b[i])); break;
        case EX_LE: LOOP(k_bool(a[i] <= b[i])); break;
        case EX_GT: LOOP(k_bool(a[i] > b[i])); break;
        case EX_GE: LOOP(k_bool(a[i] >= b[i])); break;
        case EX_EQ: LOOP(k_bool(a[i] == b[i])); break;
        case EX_NE: LOOP(k_bool(a[i] != b[i])); break;
        case EX_AND: LOOP(k_bool(a[i] != 0 && b[i] != 0)); break;
        case EX_OR: LOOP(k_bool(a[i] != 0 || b[i] != 0)); break;
        case EX_MIN: LOOP(k_min(a[i], b[i])); break;
        case EX_MAX: LOOP(k_max(a[i], b[i])); break;
        case EX_CLIP: LOOP(k_clip(a[i], b[i], c[i])); break;
        case EX_IF: LOOP(a[i] != 0 ? b[i] : c[i]); break;
        case EX_NORMAL:
            ot_rng_seed(&r, seed, block, in->site);
            ot_dist_fill_std_normal(&r, z, L);
            LOOP(a[i] + b[i] * z[i]);
            break;
        case EX_LOGNORMAL:
            ot_rng_seed(&r, seed, block, in->site);
            ot_dist_fill_std_normal(&r, z, L);
            LOOP(exp(a[i] + b[i] * z[i]));
            break;
        case EX_UNIFORM:
            ot_rng_seed(&r, seed, block, in->site);
            ot_dist_fill_uniform01(&r, z, L);
            LOOP(a[i] + (b[i] - a[i]) * z[i]);
            break;
        case EX_TRIANGULAR:
            ot_rng_seed(&r, seed, block, in->site);
            ot_dist_fill_uniform01(&r, z, L);
            LOOP(ot_dist_triangular_inv(z[i], a[i], b[i], c[i]));
            break;
        default:
            LOOP(NAN);
            break;
        }
    }
}
