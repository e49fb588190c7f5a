/* expr.h - the model language: KPI expressions compiled to block bytecode.
 *
 * Grammar (lowest precedence first; all binary operators left-associative
 * except ^, which is right-associative and binds tighter than unary minus,
 * so -2^2 = -4 and 2^3^2 = 512):
 *   or:      and ('or' and)*
 *   and:     not ('and' not)*
 *   not:     'not' not | cmp
 *   cmp:     add (('<' | '<=' | '>' | '>=' | '==' | '!=') add)?   (no chaining)
 *   add:     mul (('+' | '-') mul)*
 *   mul:     unary (('*' | '/') unary)*
 *   unary:   ('-' | '+') unary | power
 *   power:   primary (('^' | '**') unary)?
 *   primary: NUMBER | NAME | NAME '(' args ')' | '(' or ')'
 * Comparisons and and/or/not yield 1 or 0; any nonzero value is true.
 * Functions: min(x, ...), max(x, ...), clip(x, lo, hi), abs, exp, log, sqrt,
 * pow(x, y), if(cond, a, b) (both branches are evaluated), and random draws
 * normal(mean, std), uniform(lo, hi), triangular(left, mode, right),
 * lognormal(mu, sigma): each occurrence is an independent draw per sample.
 * NaN propagates through arithmetic and clip(); the engine counts non-finite
 * samples instead of using them.
 *
 * Limits: OT_EXPR_MAX_LEN characters, nesting depth OT_EXPR_MAX_DEPTH, tree
 * height OT_EXPR_MAX_HEIGHT -- so hostile input cannot exhaust the stack.
 * Errors are OT_EINVAL with a message ending "at position N" (1-based).
 *
 * Evaluation: an ot_expr is a straight-line program over slots of
 * OT_EXPR_LANES doubles; every instruction processes a whole block of
 * samples, so interpretation costs are amortised and the loops vectorise.
 *
 * Ownership: ot_expr_compile returns a program the caller frees with
 * ot_expr_free; ot_expr_exec likewise. Thread-safety: a compiled program is
 * immutable and may be shared by threads; each thread needs its own exec.
 */
#ifndef OT_SIM_EXPR_H
#define OT_SIM_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define OT_EXPR_LANES 512
#define OT_EXPR_MAX_LEN 4096
#define OT_EXPR_MAX_DEPTH 64
#define OT_EXPR_MAX_HEIGHT 256

typedef struct ot_expr ot_expr;
typedef struct ot_expr_exec ot_expr_exec;

/* Resolve an identifier (not NUL-terminated) to a variable index >= 0, or
 * return -1 if the name is unknown. Indices must be < 32768. */
typedef int (*ot_expr_resolve_fn)(void *ctx, const char *name, size_t len);

/* Parse and compile src. Random draws use sites site_base, site_base+1, ...
 * (ot_expr_sites tells how many). */
int ot_expr_compile(const char *src, ot_expr_resolve_fn resolve, void *ctx,
                    uint32_t site_base, ot_expr **out, ot_error *err);
void ot_expr_free(ot_expr *e);

/* Number of random draw sites the program uses. */
uint32_t ot_expr_sites(const ot_expr *e);

/* Variables referenced (sorted, unique); borrowed, valid while e lives. */
size_t ot_expr_vars(const ot_expr *e, const int **vars);

/* One past the largest variable index referenced (0 if none). */
size_t ot_expr_nvars(const ot_expr *e);

/* Scratch state for evaluating e on one thread (constants pre-filled). */
int ot_expr_exec_new(const ot_expr *e, ot_expr_exec **out);
void ot_expr_exec_free(ot_expr_exec *x);

/* Evaluate one block: vars[i] points at OT_EXPR_LANES doubles of variable
 * i (at least ot_expr_nvars entries); random draws use the streams of
 * (seed, block, site); out receives OT_EXPR_LANES results and may not alias
 * a variable. */
void ot_expr_exec_run(ot_expr_exec *x, double *const *vars, uint64_t seed, uint64_t block,
                      double *out);

#endif
