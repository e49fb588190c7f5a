/* bench_jsonschema.c - validations per second of telemetry.v1 on one core.
 *
 * Compiles the built-in telemetry.v1 schema (format assertion on, as the
 * server uses it), then validates a set of typical telemetry objects (all
 * valid) in a loop on the fast path (no error list) for about 2 seconds.
 * Prints one line: "jsonschema_c telemetry.v1 <validations/s> <ns/validation>".
 *
 * Build (bench/bench.mk does this):
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -Isrc -Ibuild/gen bench/bench_jsonschema.c \
 *       build/rel/libopstwin.a $(pkg-config --libs jansson libpcre2-8) -lm -pthread \
 *       -o build/bench_jsonschema
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aiw/jsonschema.h"

/* The instances, shared with bench/jsonschema_py.py. */
static const char *const instances[] = {
    "{\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\",\"metrics\":{\"temp_c\":71.5,\"load_pct\":80.2,"
    "\"vibration_mm_s\":2.1},\"tags\":{\"line\":\"A\",\"site\":\"lyon\"},\"ts\":\"2026-01-04T12:34:56.123456Z\","
    "\"event_id\":\"evt-000001\"}",
    "{\"twin_id\":\"plant-1\",\"asset_id\":\"chiller_1\",\"metrics\":{\"temp_c\":18.0,\"power_kw\":12.5},"
    "\"ts\":\"2026-01-04T12:34:57.000001Z\"}",
    "{\"twin_id\":\"plant-2\",\"asset_id\":\"pump-7\",\"metrics\":{\"flow_l_min\":120,\"pressure_bar\":3.2,"
    "\"rpm\":1450,\"temp_c\":40.1},\"quality\":{\"score\":0.98}}",
};
#define NINST (sizeof instances / sizeof instances[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *docs[NINST];
    if (ot_jsonschema_set_add_builtins(set, &err))
        return fprintf(stderr, "%s\n", err.message), 1;
    ot_jsonschema *s = ot_jsonschema_compile_uri(set, "https://opstwin.dev/schemas/telemetry.v1.json",
                                                 OT_JSONSCHEMA_FORMAT_ASSERT, &err);
    if (!s)
        return fprintf(stderr, "%s\n", err.message), 1;
    for (size_t i = 0; i < NINST; i++)
        if (!(docs[i] = json_loads(instances[i], 0, NULL)) || ot_jsonschema_validate(s, docs[i], NULL) != 1)
            return fprintf(stderr, "instance %zu is not valid\n", i), 1;
    long n = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < 1000; k++, n++)
            if (ot_jsonschema_validate(s, docs[n % NINST], NULL) != 1)
                return 1;
        t = now() - t0;
    } while (t < 2.0);
    printf("jsonschema_c telemetry.v1 %.0f validations/s %.0f ns/validation\n", (double)n / t, t * 1e9 / (double)n);
    for (size_t i = 0; i < NINST; i++)
        json_decref(docs[i]);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    return 0;
}
