/* fuzz_jsonschema.c - libFuzzer target for src/aiw/jsonschema.
 *
 * Input: SCHEMA '\n' '\n' INSTANCE (both JSON; without the blank line the
 * whole input is the schema and it is validated against itself).  The
 * schema is compiled (with format assertion when the input's first byte is
 * odd) and, if valid, the instance is validated on the fast path and with
 * error collection; the two must agree.  Must not crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = size >= 2 ? memmem(text, size, "\n\n", 2) : NULL;
    size_t slen = sep ? (size_t)(sep - text) : size;
    json_t *schema = json_loadb(text, slen, JSON_DECODE_ANY, NULL), *inst = NULL, *errors = NULL;
    ot_schema_set *set = ot_jsonschema_set_new();
    ot_jsonschema *s = NULL;
    ot_error err;
    if (!schema || !set)
        goto out;
    s = ot_jsonschema_compile(set, schema, NULL, size && (data[0] & 1) ? OT_JSONSCHEMA_FORMAT_ASSERT : 0, &err);
    if (!s)
        goto out;
    inst = sep ? json_loadb(sep + 2, size - slen - 2, JSON_DECODE_ANY, NULL) : json_incref(schema);
    if (!inst)
        goto out;
    int fast = ot_jsonschema_validate(s, inst, NULL);
    int full = ot_jsonschema_validate(s, inst, &errors);
    if (fast != full || (full == 1) != (json_array_size(errors) == 0))
        abort();
out:
    json_decref(errors);
    json_decref(inst);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    json_decref(schema);
    return 0;
}
