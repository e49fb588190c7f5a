/* expr_parse.c - recursive-descent parser for the model language (see
 * expr.h for the grammar). Produces an ex_tree; expr_vm.c compiles it.
 *
 * Recursion is bounded: every rule that can nest (parentheses, calls,
 * unary operators, the right operand of ^) counts depth against
 * OT_EXPR_MAX_DEPTH, and left-associative chains are loops whose tree
 * height is checked against OT_EXPR_MAX_HEIGHT as nodes are made.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/expr_ast.h"

typedef struct parser {
    const char *s;
    size_t len, i;
    int depth;
    ex_tree *t;
    ot_expr_resolve_fn resolve;
    void *ctx;
    ot_error *err;
} parser;

static const struct func {
    const char *name;
    int op, min_args, max_args; /* max_args -1: n-ary, folded pairwise */
} funcs[] = {
    {"min", EX_MIN, 1, -1},          {"max", EX_MAX, 1, -1},
    {"clip", EX_CLIP, 3, 3},         {"abs", EX_ABS, 1, 1},
    {"exp", EX_EXP, 1, 1},           {"log", EX_LOG, 1, 1},
    {"sqrt", EX_SQRT, 1, 1},         {"pow", EX_POW, 2, 2},
    {"if", EX_IF, 3, 3},             {"normal", EX_NORMAL, 2, 2},
    {"uniform", EX_UNIFORM, 2, 2},   {"lognormal", EX_LOGNORMAL, 2, 2},
    {"triangular", EX_TRIANGULAR, 3, 3},
};

int ex_arity(int op)
{
    switch (op) {
    case EX_NUM:
    case EX_VAR:
        return 0;
    case EX_NEG: case EX_NOT: case EX_ABS: case EX_EXP: case EX_LOG: case EX_SQRT:
    case EX_MOV:
        return 1;
    case EX_CLIP: case EX_IF: case EX_TRIANGULAR:
        return 3;
    default:
        return 2;
    }
}

int ex_is_random(int op)
{
    return op == EX_NORMAL || op == EX_UNIFORM || op == EX_LOGNORMAL || op == EX_TRIANGULAR;
}

void ex_tree_free(ex_tree *t)
{
    free(t->nodes);
    free(t->vars);
    memset(t, 0, sizeof *t);
}

/* --- Helpers ------------------------------------------------------------ */

static int fail(parser *p, size_t at, const char *what)
{
    if (p->err && p->err->code == OT_OK)
        ot_error_set(p->err, OT_EINVAL, NULL, "%s at position %zu", what, at + 1);
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->i < p->len && isspace((unsigned char)p->s[p->i]))
        p->i++;
}

static int is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static int is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Is the next token the keyword kw (not a prefix of a longer name)? */
static int at_keyword(parser *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->i + n <= p->len && !memcmp(p->s + p->i, kw, n) &&
           (p->i + n == p->len || !is_name_char(p->s[p->i + n]));
}

static int new_node(parser *p, int op, size_t at, int a, int b, int c)
{
    ex_tree *t = p->t;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 32;
        ex_node *nn = realloc(t->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            if (p->err && p->err->code == OT_OK)
                ot_error_set(p->err, OT_ENOMEM, NULL, "out of memory parsing an expression");
            return -1;
        }
        t->nodes = nn;
        t->cap = cap;
    }
    ex_node *nd = &t->nodes[t->n];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->pos = (int)at + 1;
    int args[3] = {a, b, c}, h = 0;
    for (int k = 0; k < 3 && args[k] >= 0; k++) {
        nd->arg[nd->nargs++] = args[k];
        if (t->nodes[args[k]].height > h)
            h = t->nodes[args[k]].height;
    }
    nd->height = h + 1;
    if (nd->height > OT_EXPR_MAX_HEIGHT)
        return fail(p, at, "expression too complex (tree height over 256; split it into "
                           "several KPIs)");
    return t->n++;
}

static int add_var(parser *p, int var)
{
    ex_tree *t = p->t;
    for (int k = 0; k < t->nvars_used; k++)
        if (t->vars[k] == var)
            return 0;
    int *nv = realloc(t->vars, (size_t)(t->nvars_used + 1) * sizeof *nv);
    if (!nv)
        return -1;
    t->vars = nv;
    int k = t->nvars_used++;
    while (k > 0 && t->vars[k - 1] > var) { /* keep sorted */
        t->vars[k] = t->vars[k - 1];
        k--;
    }
    t->vars[k] = var;
    return 0;
}

static int enter(parser *p)
{
    if (++p->depth > OT_EXPR_MAX_DEPTH)
        return fail(p, p->i, "expression nested too deeply (limit 64 levels)");
    return 0;
}

/* --- Grammar ------------------------------------------------------------ */

static int parse_or(parser *p);
static int parse_unary(parser *p);

static int parse_number(parser *p)
{
    size_t start = p->i, j = p->i;
    while (j < p->len && isdigit((unsigned char)p->s[j]))
        j++;
    if (j < p->len && p->s[j] == '.') {
        j++;
        while (j < p->len && isdigit((unsigned char)p->s[j]))
            j++;
    }
    if (j == start + 1 && p->s[start] == '.')
        return fail(p, start, "malformed number");
    if (j < p->len && (p->s[j] == 'e' || p->s[j] == 'E')) {
        size_t k = j + 1;
        if (k < p->len && (p->s[k] == '+' || p->s[k] == '-'))
            k++;
        if (k >= p->len || !isdigit((unsigned char)p->s[k]))
            return fail(p, j, "malformed exponent in number");
        while (k < p->len && isdigit((unsigned char)p->s[k]))
            k++;
        j = k;
    }
    if (j < p->len && is_name_char(p->s[j]))
        return fail(p, j, "unexpected character after number");
    char buf[64];
    if (j - start >= sizeof buf)
        return fail(p, start, "number too long");
    memcpy(buf, p->s + start, j - start);
    buf[j - start] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return fail(p, start, "number out of range");
    p->i = j;
    int n = new_node(p, EX_NUM, start, -1, -1, -1);
    if (n >= 0)
        p->t->nodes[n].num = v;
    return n;
}

/* NAME '(' args ')' once NAME is known to be followed by '('. */
static int parse_call(parser *p, size_t start, size_t nlen)
{
    const struct func *f = NULL;
    for (size_t k = 0; k < sizeof funcs / sizeof funcs[0]; k++)
        if (strlen(funcs[k].name) == nlen && !memcmp(funcs[k].name, p->s + start, nlen))
            f = &funcs[k];
    if (!f) {
        char msg[160];
        snprintf(msg, sizeof msg, "unknown function '%.*s'", (int)(nlen > 64 ? 64 : nlen),
                 p->s + start);
        return fail(p, start, msg);
    }
    p->i++; /* '(' */
    int args[3] = {-1, -1, -1}, nargs = 0, acc = -1;
    skip_ws(p);
    if (p->i < p->len && p->s[p->i] == ')') {
        p->i++;
    } else {
        for (;;) {
            int a = parse_or(p);
            if (a < 0)
                return -1;
            nargs++;
            if (f->max_args < 0) /* n-ary min/max: fold as we go */
                acc = acc < 0 ? a : new_node(p, f->op, start, acc, a, -1);
            else if (nargs <= 3)
                args[nargs - 1] = a;
            if (acc < 0 && f->max_args < 0)
                return -1;
            skip_ws(p);
            if (p->i < p->len && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->len && p->s[p->i] == ')') {
                p->i++;
                break;
            }
            return fail(p, p->i, "expected ',' or ')' in the argument list");
        }
    }
    if (nargs < f->min_args || (f->max_args >= 0 && nargs > f->max_args)) {
        char msg[160];
        if (f->max_args < 0)
            snprintf(msg, sizeof msg, "'%s' takes at least %d argument(s), got %d", f->name,
                     f->min_args, nargs);
        else
            snprintf(msg, sizeof msg, "'%s' takes %d argument%s, got %d", f->name,
                     f->max_args, f->max_args == 1 ? "" : "s", nargs);
        return fail(p, start, msg);
    }
    if (f->max_args < 0)
        return acc;
    return new_node(p, f->op, start, args[0], args[1], args[2]);
}

static int parse_primary(parser *p)
{
    skip_ws(p);
    if (p->i >= p->len)
        return fail(p, p->i, "expected an expression");
    char c = p->s[p->i];
    size_t start = p->i;
    if (isdigit((unsigned char)c) || c == '.')
        return parse_number(p);
    if (c == '(') {
        if (enter(p))
            return -1;
        p->i++;
        int n = parse_or(p);
        if (n < 0)
            return -1;
        skip_ws(p);
        if (p->i >= p->len || p->s[p->i] != ')')
            return fail(p, p->i, "expected ')'");
        p->i++;
        p->depth--;
        return n;
    }
    if (is_name_start(c)) {
        while (p->i < p->len && is_name_char(p->s[p->i]))
            p->i++;
        size_t nlen = p->i - start;
        skip_ws(p);
        if (p->i < p->len && p->s[p->i] == '(') {
            if (enter(p))
                return -1;
            int n = parse_call(p, start, nlen);
            p->depth--;
            return n;
        }
        int var = p->resolve ? p->resolve(p->ctx, p->s + start, nlen) : -1;
        if (var < 0 || var >= 32768) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown identifier '%.*s'",
                     (int)(nlen > 64 ? 64 : nlen), p->s + start);
            return fail(p, start, msg);
        }
        if (add_var(p, var))
            return fail(p, start, "out of memory");
        int n = new_node(p, EX_VAR, start, -1, -1, -1);
        if (n >= 0)
            p->t->nodes[n].var = var;
        return n;
    }
    char msg[64];
    if (isprint((unsigned char)c))
        snprintf(msg, sizeof msg, "unexpected character '%c'", c);
    else
        snprintf(msg, sizeof msg, "unexpected byte 0x%02x", (unsigned char)c);
    return fail(p, start, msg);
}

static int parse_power(parser *p)
{
    int base = parse_primary(p);
    if (base < 0)
        return -1;
    skip_ws(p);
    size_t at = p->i;
    if (p->i < p->len && (p->s[p->i] == '^' ||
                          (p->s[p->i] == '*' && p->i + 1 < p->len && p->s[p->i + 1] == '*'))) {
        p->i += p->s[p->i] == '^' ? 1 : 2;
        if (enter(p))
            return -1;
        int e = parse_unary(p); /* right-assoc: 2^3^2 = 2^(3^2); 2^-1 allowed */
        p->depth--;
        if (e < 0)
            return -1;
        return new_node(p, EX_POW, at, base, e, -1);
    }
    return base;
}

static int parse_unary(parser *p)
{
    skip_ws(p);
    if (p->i < p->len && (p->s[p->i] == '-' || p->s[p->i] == '+')) {
        size_t at = p->i;
        int neg = p->s[p->i] == '-';
        p->i++;
        if (enter(p))
            return -1;
        int a = parse_unary(p);
        p->depth--;
        if (a < 0 || !neg)
            return a;
        return new_node(p, EX_NEG, at, a, -1, -1);
    }
    return parse_power(p);
}

static int parse_mul(parser *p)
{
    int l = parse_unary(p);
    while (l >= 0) {
        skip_ws(p);
        size_t at = p->i;
        if (at >= p->len || (p->s[at] != '*' && p->s[at] != '/') ||
            (p->s[at] == '*' && at + 1 < p->len && p->s[at + 1] == '*'))
            break;
        p->i++;
        int r = parse_unary(p);
        if (r < 0)
            return -1;
        l = new_node(p, p->s[at] == '*' ? EX_MUL : EX_DIV, at, l, r, -1);
    }
    return l;
}

static int parse_add(parser *p)
{
    int l = parse_mul(p);
    while (l >= 0) {
        skip_ws(p);
        size_t at = p->i;
        if (at >= p->len || (p->s[at] != '+' && p->s[at] != '-'))
            break;
        p->i++;
        int r = parse_mul(p);
        if (r < 0)
            return -1;
        l = new_node(p, p->s[at] == '+' ? EX_ADD : EX_SUB, at, l, r, -1);
    }
    return l;
}

/* Comparison operator at p->i: returns its op and length, or 0. */
static int cmp_op(parser *p, size_t *oplen)
{
    const char *s = p->s + p->i;
    size_t rest = p->len - p->i;
    static const struct { const char *tok; int op; } ops[] = {
        {"<=", EX_LE}, {">=", EX_GE}, {"==", EX_EQ}, {"!=", EX_NE}, {"<", EX_LT}, {">", EX_GT},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t n = strlen(ops[k].tok);
        if (rest >= n && !memcmp(s, ops[k].tok, n)) {
            *oplen = n;
            return ops[k].op;
        }
    }
    return 0;
}

static int parse_cmp(parser *p)
{
    int l = parse_add(p);
    if (l < 0)
        return -1;
    skip_ws(p);
    size_t oplen, at = p->i;
    int op = cmp_op(p, &oplen);
    if (!op)
        return l;
    p->i += oplen;
    int r = parse_add(p);
    if (r < 0)
        return -1;
    skip_ws(p);
    if (cmp_op(p, &oplen))
        return fail(p, p->i, "comparison operators cannot be chained (combine them with 'and')");
    return new_node(p, op, at, l, r, -1);
}

static int parse_not(parser *p)
{
    skip_ws(p);
    if (at_keyword(p, "not")) {
        size_t at = p->i;
        p->i += 3;
        if (enter(p))
            return -1;
        int a = parse_not(p);
        p->depth--;
        return a < 0 ? -1 : new_node(p, EX_NOT, at, a, -1, -1);
    }
    return parse_cmp(p);
}

/* A left-associative level joined by a keyword: sub (kw sub)*. */
static int parse_kw_chain(parser *p, const char *kw, int op, int (*sub)(parser *))
{
    int l = sub(p);
    while (l >= 0) {
        skip_ws(p);
        size_t at = p->i;
        if (!at_keyword(p, kw))
            break;
        p->i += strlen(kw);
        int r = sub(p);
        if (r < 0)
            return -1;
        l = new_node(p, op, at, l, r, -1);
    }
    return l;
}

static int parse_and(parser *p)
{
    return parse_kw_chain(p, "and", EX_AND, parse_not);
}

static int parse_or(parser *p)
{
    return parse_kw_chain(p, "or", EX_OR, parse_and);
}

int ex_parse(const char *src, ot_expr_resolve_fn resolve, void *ctx, ex_tree *t, ot_error *err)
{
    parser p = {.s = src, .len = strlen(src), .t = t, .resolve = resolve, .ctx = ctx, .err = err};
    memset(t, 0, sizeof *t);
    if (err)
        ot_error_clear(err);
    if (p.len > OT_EXPR_MAX_LEN)
        return ot_error_set(err, OT_EINVAL, NULL, "expression too long (%zu characters, limit %d)",
                            p.len, OT_EXPR_MAX_LEN);
    skip_ws(&p);
    if (p.i == p.len)
        return ot_error_set(err, OT_EINVAL, NULL, "empty expression");
    t->root = parse_or(&p);
    if (t->root >= 0) {
        skip_ws(&p);
        if (p.i < p.len) {
            char msg[96];
            char c = p.s[p.i];
            if (c == ')')
                snprintf(msg, sizeof msg, "unmatched ')'");
            else
                snprintf(msg, sizeof msg, "unexpected '%c' (expected an operator)",
                         isprint((unsigned char)c) ? c : '?');
            fail(&p, p.i, msg);
            t->root = -1;
        }
    }
    if (t->root < 0)
        return err && err->code ? err->code : OT_EINVAL;
    return 0;
}
