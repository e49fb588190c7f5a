/* bench_normalize.c - ns per telemetry normalize of a typical 3-metric event.
 *
 * Build and run (after `make`, which builds build/rel/libopstwin.a):
 *   gcc -std=c17 -O2 -D_GNU_SOURCE -Isrc bench/bench_normalize.c build/rel/libopstwin.a \
 *       $(pkg-config --libs jansson) -lm -pthread -o build/bench_normalize && build/bench_normalize
 *
 * Prints ns/op for: normalize of an already-parsed object (the HTTP handler
 * parses once anyway), the same with a client event_id (no ULID generated),
 * with an ingest profile, and JSON text -> parse -> normalize -> free. Single
 * thread; the normalizer has no shared state, so it scales with cores.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "telemetry/normalize.h"

#define N 1000000

static const char event[] =
    "{\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\",\"ts\":\"2026-01-04T12:34:56.123Z\","
    "\"metrics\":{\"temp_c\":21.5,\"pressure_bar\":1.02,\"rpm\":1500}}";
static const char event_with_id[] =
    "{\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\",\"ts\":1767530096123,"
    "\"event_id\":\"evt-000123\",\"metrics\":{\"temp_c\":21.5,\"pressure_bar\":1.02,"
    "\"rpm\":1500}}";
static const char event_profiled[] =
    "{\"twin_id\":\"plant-1\",\"asset_id\":\"press_2\",\"ts\":\"2026-01-04T12:34:56.123Z\","
    "\"metrics\":{\"temp_f\":70.7,\"p_psi\":14.8,\"rpm\":1500}}";
static const char profile_doc[] =
    "{\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":\"degF->degC\"},"
    "\"p_psi\":{\"to\":\"pressure_bar\",\"unit\":\"psi->bar\"}},"
    "\"expected_metrics\":[\"temp_c\",\"pressure_bar\",\"rpm\"]}";

static void die(const char *what, const ot_error *err)
{
    fprintf(stderr, "%s: %s: %s\n", what, err ? err->path : "", err ? err->message : "");
    exit(1);
}

static double bench_preparsed(const char *text, const ot_ingest_profile *p)
{
    json_t *j = json_loads(text, 0, NULL);
    ot_tel t;
    ot_error err;
    if (!j)
        die("parse", NULL);
    int64_t t0 = ot_mono_ns();
    for (int i = 0; i < N; i++) {
        if (ot_tel_normalize(j, p, 0, "$", &t, &err))
            die("normalize", &err);
        ot_tel_clear(&t);
    }
    int64_t dt = ot_mono_ns() - t0;
    json_decref(j);
    return (double)dt / N;
}

static double bench_with_parse(const char *text, const ot_ingest_profile *p)
{
    size_t len = strlen(text);
    ot_tel t;
    ot_error err;
    int64_t t0 = ot_mono_ns();
    for (int i = 0; i < N; i++) {
        json_t *j = json_loadb(text, len, 0, NULL);
        if (!j)
            die("parse", NULL);
        if (ot_tel_normalize(j, p, 0, "$", &t, &err))
            die("normalize", &err);
        ot_tel_clear(&t);
        json_decref(j);
    }
    return (double)(ot_mono_ns() - t0) / N;
}

int main(void)
{
    ot_ingest_profile *p;
    ot_error err;
    json_t *doc = json_loads(profile_doc, 0, NULL);
    if (!doc || ot_ingest_profile_parse(doc, &p, &err))
        die("profile", &err);
    json_decref(doc);
    printf("normalize, pre-parsed, generated event_id:  %7.1f ns/op\n",
           bench_preparsed(event, NULL));
    printf("normalize, pre-parsed, client event_id:     %7.1f ns/op\n",
           bench_preparsed(event_with_id, NULL));
    printf("normalize, pre-parsed, with ingest profile: %7.1f ns/op\n",
           bench_preparsed(event_profiled, p));
    printf("json parse + normalize + free:              %7.1f ns/op\n",
           bench_with_parse(event, NULL));
    ot_ingest_profile_free(p);
    return 0;
}
