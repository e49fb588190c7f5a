/* fuzz_jsonfast.c - libFuzzer target: the JSON fast path against jansson.
 *
 * For each input and each of the flags 0 and JSON_REJECT_DUPLICATES,
 * ot_json_fast_loadb either declines (NULL) or returns exactly what
 * json_loadb returns: jansson must parse the input too, to an equal value
 * whose compact dump (key order, number formatting) is byte-identical.
 * And OpsTwin's own writer (ot_json_dumps, shortest reals) writes text that
 * jansson reads back as an equal value. Where jansson fails, the error's
 * path (ot_tel_json_error) is a bounded path from "$". abort() otherwise;
 * leaks are caught by LeakSanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/jsonfast.h"
#include "telemetry/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *s, size_t n, size_t flags)
{
    json_t *fast = ot_json_fast_loadb(s, n, flags);
    json_error_t err;
    if (!fast) {
        json_t *v = json_loadb(s, n, flags, &err);
        ot_error e;
        if (!v && (ot_tel_json_error(&e, "$", "input", s, n, &err, 1) != OT_EINVAL ||
                   e.path[0] != '$' || strlen(e.path) >= sizeof e.path))
            abort();
        json_decref(v);
        return;
    }
    json_t *ref = json_loadb(s, n, flags, &err);
    if (!ref || !json_equal(fast, ref))
        abort();
    size_t dump = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    char *a = json_dumps(fast, dump), *b = json_dumps(ref, dump);
    if (!a || !b || strcmp(a, b) != 0)
        abort();
    free(a);
    free(b);
    char *own = ot_json_dumps(fast, JSON_COMPACT);
    json_t *back = own ? json_loads(own, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
    if (!back || !json_equal(back, fast))
        abort();
    json_decref(back);
    free(own);
    json_decref(fast);
    json_decref(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size, 0);
    check((const char *)data, size, JSON_REJECT_DUPLICATES);
    return 0;
}
