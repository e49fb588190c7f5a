/* expr_ast.h - internal to the expression module (expr_parse.c builds the
 * tree, expr_vm.c compiles it). Not for use outside src/sim/expr_*.c.
 *
 * The tree is an array of nodes; children are indices into it, so freeing
 * is one free() and there are no pointer cycles to get wrong.
 */
#ifndef OT_SIM_EXPR_AST_H
#define OT_SIM_EXPR_AST_H

#include <stddef.h>

#include "core/error.h"
#include "sim/expr.h"

enum ex_op {
    EX_NUM, EX_VAR,
    /* unary */
    EX_NEG, EX_NOT, EX_ABS, EX_EXP, EX_LOG, EX_SQRT,
    /* binary */
    EX_ADD, EX_SUB, EX_MUL, EX_DIV, EX_POW, EX_LT, EX_LE, EX_GT, EX_GE, EX_EQ, EX_NE,
    EX_AND, EX_OR, EX_MIN, EX_MAX,
    /* ternary */
    EX_CLIP, EX_IF,
    /* random draws (deterministic given the stream) */
    EX_NORMAL, EX_UNIFORM, EX_LOGNORMAL, EX_TRIANGULAR,
    /* compiler-only */
    EX_MOV,
    EX_NOPS
};

typedef struct ex_node {
    int op;      /* enum ex_op */
    int pos;     /* 1-based source position, for messages */
    int nargs;   /* 0..3 */
    int arg[3];  /* child node indices */
    int var;     /* EX_VAR */
    int height;  /* 1 + max child height */
    double num;  /* EX_NUM */
} ex_node;

typedef struct ex_tree {
    ex_node *nodes;
    int n, cap;
    int root;
    int *vars; /* unique sorted variable indices referenced */
    int nvars_used;
} ex_tree;

/* Parse src into t (caller frees with ex_tree_free, also on failure). */
int ex_parse(const char *src, ot_expr_resolve_fn resolve, void *ctx, ex_tree *t, ot_error *err);
void ex_tree_free(ex_tree *t);

/* Number of operands of op, and whether it draws random numbers. */
int ex_arity(int op);
int ex_is_random(int op);

#endif
