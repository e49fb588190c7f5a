/* fuzz_expr.c - libFuzzer target for the model language: parse, compile
 * and evaluate arbitrary expressions on one block of samples.
 *
 * Input: the expression text (NUL-terminated copy). Names a, b, c resolve
 * to variables (a = lane index, b = -1e300, c = NaN) so arithmetic
 * overflow, NaN and infinities are all reachable. A successful compile must
 * evaluate without sanitizer reports; a failed one must leave a message
 * ending in "at position N" within the input (or a limit message).
 *
 * Build: make fuzz; run: build/fuzz/fuzz_expr tests/fuzz/corpus/expr
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int resolve(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    if (len == 1 && name[0] >= 'a' && name[0] <= 'c')
        return name[0] - 'a';
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > OT_EXPR_MAX_LEN + 16)
        return 0;
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    ot_expr *e = NULL;
    ot_error err;
    if (ot_expr_compile(src, resolve, NULL, 0, &e, &err) == 0) {
        static double a[OT_EXPR_LANES], b[OT_EXPR_LANES], c[OT_EXPR_LANES], out[OT_EXPR_LANES];
        for (int i = 0; i < OT_EXPR_LANES; i++) {
            a[i] = i;
            b[i] = -1e300;
            c[i] = NAN;
        }
        double *vars[3] = {a, b, c};
        ot_expr_exec *x;
        if (ot_expr_exec_new(e, &x) == 0) {
            ot_expr_exec_run(x, vars, 42, 7, out);
            ot_expr_exec_free(x);
        }
        ot_expr_free(e);
    } else {
        const char *p = strstr(err.message, "at position ");
        if (p) {
            size_t pos = strtoul(p + 12, NULL, 10);
            if (pos < 1 || pos > strlen(src) + 1)
                abort(); /* a position outside the input is a bug */
        } else if (!strstr(err.message, "too long") && !strstr(err.message, "empty") &&
                   !strstr(err.message, "too complex") && !strstr(err.message, "memory")) {
            abort(); /* every other error must say where */
        }
    }
    free(src);
    return 0;
}
