/* The model language: precedence, associativity, functions, error
 * positions, limits, and the statistics of random draws. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/expr.h"

/* Variables: x = 3 in every lane, y = lane index. */
static int resolve(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    if (len == 1 && name[0] == 'x')
        return 0;
    if (len == 1 && name[0] == 'y')
        return 1;
    return -1;
}

static double xv[OT_EXPR_LANES], yv[OT_EXPR_LANES], out[OT_EXPR_LANES];

static void eval(const char *src, uint64_t block)
{
    ot_expr *e;
    ot_expr_exec *x;
    ot_error err;
    int rc = ot_expr_compile(src, resolve, NULL, 0, &e, &err);
    cr_assert_eq(rc, 0, "%s: %s", src, err.message);
    cr_assert_eq(ot_expr_exec_new(e, &x), 0);
    for (int i = 0; i < OT_EXPR_LANES; i++) {
        xv[i] = 3;
        yv[i] = i;
    }
    double *vars[2] = {xv, yv};
    ot_expr_exec_run(x, vars, 1234, block, out);
    ot_expr_exec_free(x);
    ot_expr_free(e);
}

static double val(const char *src)
{
    eval(src, 0);
    return out[0];
}

static void expect_error(const char *src, const char *msg)
{
    ot_expr *e = NULL;
    ot_error err;
    int rc = ot_expr_compile(src, resolve, NULL, 0, &e, &err);
    cr_assert_eq(rc, OT_EINVAL, "'%s' compiled", src);
    cr_assert_null(e);
    cr_assert(strstr(err.message, msg), "'%s': got '%s', want '%s'", src, err.message, msg);
}

Test(sim_expr, precedence_and_associativity)
{
    cr_assert_eq(val("1 + 2 * 3"), 7);
    cr_assert_eq(val("(1 + 2) * 3"), 9);
    cr_assert_eq(val("2 ^ 3 ^ 2"), 512, "^ is right-associative");
    cr_assert_eq(val("2 ** 3 ** 2"), 512);
    cr_assert_eq(val("-2 ^ 2"), -4, "^ binds tighter than unary minus");
    cr_assert_eq(val("2 ^ -1"), 0.5);
    cr_assert_eq(val("10 - 4 - 3"), 3, "- is left-associative");
    cr_assert_eq(val("48 / 4 / 2"), 6);
    cr_assert_eq(val("- - 3"), 3);
    cr_assert_eq(val("1 + 2 < 4"), 1, "arithmetic before comparison");
    cr_assert_eq(val("1 < 2 and 3 < 2"), 0);
    cr_assert_eq(val("1 < 2 or 3 < 2 and 0"), 1, "and before or");
    cr_assert_eq(val("not 0 and 0"), 0, "not before and");
    cr_assert_eq(val("not 1 == 2"), 1, "comparison before not");
    cr_assert_eq(val("1e-3 * 1000"), 1);
    cr_assert_eq(val(".5 + 2.5E1"), 25.5);
}

Test(sim_expr, operators_on_blocks)
{
    eval("x * y - 1", 0);
    for (int i = 0; i < OT_EXPR_LANES; i++)
        cr_assert_eq(out[i], 3.0 * i - 1);
    eval("if(y >= 10, y, -y)", 0);
    cr_assert_eq(out[9], -9);
    cr_assert_eq(out[10], 10);
    eval("clip(y, 5, 7)", 0);
    cr_assert(out[0] == 5 && out[6] == 6 && out[100] == 7);
    eval("min(y, 4, x) + max(1, y)", 0);
    cr_assert_eq(out[0], 0 + 1);
    cr_assert_eq(out[10], 3 + 10);
    eval("y == 3 or y != y", 0);
    cr_assert(out[3] == 1 && out[4] == 0);
}

Test(sim_expr, functions)
{
    cr_assert_float_eq(val("exp(1)"), M_E, 1e-15);
    cr_assert_float_eq(val("log(exp(2))"), 2, 1e-15);
    cr_assert_eq(val("sqrt(16) + abs(-2) + pow(2, 10)"), 4 + 2 + 1024);
    cr_assert_eq(val("max(7)"), 7);
    cr_assert_eq(val("clip(x, 0, 1)"), 1);
    cr_assert(isnan(val("clip(0/0, 0, 1)")), "clip keeps NaN visible");
    cr_assert(isinf(val("1/0")));
}

Test(sim_expr, syntax_errors_report_positions)
{
    expect_error("clip(x, 0, 1", "expected ',' or ')' in the argument list at position 13");
    expect_error("(x + 1", "expected ')' at position 7");
    expect_error("clipp(x, 0, 1)", "unknown function 'clipp' at position 1");
    expect_error("x + temp", "unknown identifier 'temp' at position 5");
    expect_error("clip(x, 0)", "'clip' takes 3 arguments, got 2 at position 1");
    expect_error("normal(1)", "'normal' takes 2 arguments, got 1");
    expect_error("min()", "'min' takes at least 1 argument(s), got 0");
    expect_error("1 +", "expected an expression at position 4");
    expect_error("1 2", "unexpected '2' (expected an operator) at position 3");
    expect_error("x)", "unmatched ')' at position 2");
    expect_error("1 < x < 3", "cannot be chained");
    expect_error("3 $ 4", "unexpected '$' (expected an operator) at position 3");
    expect_error("$", "unexpected character '$' at position 1");
    expect_error("1e", "malformed exponent in number at position 2");
    expect_error("1e999", "number out of range at position 1");
    expect_error("2x", "unexpected character after number at position 2");
    expect_error("", "empty expression");
    expect_error("   ", "empty expression");
}

Test(sim_expr, nesting_is_bounded)
{
    char deep[400], ok[200];
    int n = 0;
    for (int i = 0; i < 150; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 150; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    expect_error(deep, "nested too deeply");
    n = 0;
    for (int i = 0; i < 60; i++)
        ok[n++] = '(';
    ok[n++] = '2';
    for (int i = 0; i < 60; i++)
        ok[n++] = ')';
    ok[n] = '\0';
    cr_assert_eq(val(ok), 2);
    char minus[200];
    memset(minus, '-', 150);
    strcpy(minus + 150, "1");
    expect_error(minus, "nested too deeply");
    char sum[1200] = "1";
    for (int i = 0; i < 300; i++)
        strcat(sum, "+1");
    expect_error(sum, "too complex");
    char big[OT_EXPR_MAX_LEN + 10];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '1';
    expect_error(big, "too long");
}

Test(sim_expr, random_draws_are_independent_per_occurrence_and_reproducible)
{
    double sum = 0, sq = 0, cov = 0;
    size_t n = 0;
    double first[OT_EXPR_LANES];
    for (uint64_t b = 0; b < 200; b++) {
        eval("normal(3, 2)", b);
        double a[OT_EXPR_LANES];
        memcpy(a, out, sizeof a);
        if (b == 0)
            memcpy(first, out, sizeof first);
        eval("normal(3, 2) + 0 * normal(0, 1)", b); /* site 0 draws the same */
        for (int i = 0; i < OT_EXPR_LANES; i++)
            cr_assert_eq(out[i], a[i]);
        eval("normal(0, 1) - normal(0, 1)", b); /* sites 0 and 1: independent */
        for (int i = 0; i < OT_EXPR_LANES; i++) {
            sum += a[i];
            sq += (a[i] - 3) * (a[i] - 3);
            cov += out[i] * out[i];
            n++;
        }
    }
    cr_assert_lt(fabs(sum / n - 3), 5 * 2 / sqrt((double)n));
    cr_assert_lt(fabs(sqrt(sq / n) - 2), 0.03);
    cr_assert_lt(fabs(cov / n - 2), 0.05, "var(a - b) = 2 for independent draws");
    eval("normal(3, 2)", 0);
    cr_assert_arr_eq(out, first, sizeof first, "same (seed, block, site), same draws");
    eval("uniform(x, x + 1)", 0);
    for (int i = 0; i < OT_EXPR_LANES; i++)
        cr_assert(out[i] > 3 && out[i] < 4);
    eval("triangular(0, 1, 2) + lognormal(0, 0) * 0", 0);
    for (int i = 0; i < OT_EXPR_LANES; i++)
        cr_assert(out[i] > 0 && out[i] < 2);
}

Test(sim_expr, sites_and_variables_are_reported)
{
    ot_expr *e;
    ot_error err;
    cr_assert_eq(ot_expr_compile("y + normal(x, 1) + uniform(0, 1) + y", resolve, NULL, 5, &e,
                                 &err), 0);
    cr_assert_eq(ot_expr_sites(e), 2);
    const int *vars;
    cr_assert_eq(ot_expr_vars(e, &vars), 2);
    cr_assert(vars[0] == 0 && vars[1] == 1);
    cr_assert_eq(ot_expr_nvars(e), 2);
    ot_expr_free(e);
}
