/* fuzz_normalize.c - libFuzzer target: the telemetry normalizer and ingest
 * profiles on arbitrary JSON.
 *
 * The input is parsed with jansson, then: normalized with and without a fixed
 * profile (each array item too, with a batch path prefix), normalized as a
 * bare MQTT payload, and parsed as a profile. Invariants (abort() otherwise):
 *   - a rejection is OT_EINVAL with a path under its prefix, a message, and
 *     both valid for a JSON error body;
 *   - an accepted record's ot_tel_to_json normalizes again (without a
 *     profile: the record is already past it) to the same values;
 *   - an accepted profile's canonical JSON parses to the same canonical JSON.
 * Leaks are caught by LeakSanitizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/normalize.h"

#define NOW 1767530096000000LL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built once before fuzzing starts and only read afterwards. */
static ot_ingest_profile *fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_t *doc = json_loads("{\"rename\":{\"temperature\":\"temp_c\",\"t2\":\"temp_f\"},"
                             "\"convert\":{\"temp_f\":{\"to\":\"temp_c\",\"unit\":\"degF->degC\"},"
                             "\"p_psi\":{\"to\":\"pressure_bar\",\"scale\":0.0689476},"
                             "\"d\":{\"unit\":\"s->ms\"}},"
                             "\"expected_metrics\":[\"temp_c\",\"pressure_bar\",\"rpm\"]}",
                             0, NULL);
    ot_error err;
    if (!doc || ot_ingest_profile_parse(doc, &fixed, &err) != 0)
        abort();
    json_decref(doc);
    return 0;
}

static void check_error(int rc, const ot_error *err, const char *prefix)
{
    if (rc != OT_EINVAL || !err->message[0] || strncmp(err->path, prefix, strlen(prefix)) != 0)
        abort();
    json_t *p = json_string(err->path), *m = json_string(err->message); /* NULL if not UTF-8 */
    if (!p || !m)
        abort();
    json_decref(p);
    json_decref(m);
}

static void check_same(const ot_tel *a, const ot_tel *b)
{
    if (strcmp(a->event_id, b->event_id) || strcmp(a->twin_id, b->twin_id) ||
        strcmp(a->asset_id, b->asset_id) || a->ts_us != b->ts_us || a->nmetrics != b->nmetrics ||
        a->data_quality_score != b->data_quality_score || a->missing_rate != b->missing_rate)
        abort();
    for (size_t i = 0; i < a->nmetrics; i++)
        if (strcmp(a->metrics[i].name, b->metrics[i].name) ||
            a->metrics[i].value != b->metrics[i].value)
            abort();
    if (!!a->tags != !!b->tags || (a->tags && !json_equal(a->tags, b->tags)))
        abort();
    if (!!a->quality != !!b->quality || (a->quality && !json_equal(a->quality, b->quality)))
        abort();
}

/* An accepted record survives to_json -> normalize unchanged. */
static void check_round_trip(const ot_tel *a)
{
    ot_tel b;
    ot_error err;
    json_t *out = ot_tel_to_json(a);
    if (!out)
        abort();
    if (ot_tel_normalize(out, NULL, NOW + 1, "$", &b, &err) != 0) {
        fprintf(stderr, "round trip rejected: %s: %s\n", err.path, err.message);
        abort();
    }
    check_same(a, &b);
    ot_tel_clear(&b);
    json_decref(out);
}

static void normalize_one(const json_t *j, const ot_ingest_profile *p, const char *prefix)
{
    ot_tel t;
    ot_error err;
    int rc = ot_tel_normalize(j, p, NOW, prefix, &t, &err);
    if (rc == 0)
        check_round_trip(&t);
    else
        check_error(rc, &err, prefix);
    ot_tel_clear(&t);
}

static void normalize_bare(const json_t *j, const ot_ingest_profile *p)
{
    ot_tel t;
    ot_error err;
    int rc = ot_tel_normalize_bare(j, "twin-1", "asset-1", p, NOW, &t, &err);
    if (rc == 0)
        check_round_trip(&t);
    else
        check_error(rc, &err, "$");
    ot_tel_clear(&t);
}

static void profile_round_trip(const json_t *j)
{
    ot_ingest_profile *p = NULL, *q = NULL;
    ot_error err;
    json_t *a = NULL, *b = NULL;
    int rc = ot_ingest_profile_parse(j, &p, &err);
    if (rc != 0) {
        check_error(rc, &err, "$");
        return;
    }
    if (!(a = ot_ingest_profile_to_json(p)) || ot_ingest_profile_parse(a, &q, &err) != 0 ||
        !(b = ot_ingest_profile_to_json(q)) || !json_equal(a, b))
        abort();
    normalize_one(j, p, "$"); /* a profile is no event, but exercises apply */
    json_decref(a);
    json_decref(b);
    ot_ingest_profile_free(q);
    ot_ingest_profile_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j)
        return 0;
    normalize_one(j, NULL, "$");
    normalize_one(j, fixed, "$");
    if (json_is_array(j)) {
        size_t i;
        json_t *item;
        json_array_foreach(j, i, item) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "$[%zu]", i);
            normalize_one(item, fixed, prefix);
        }
    }
    normalize_bare(j, NULL);
    normalize_bare(j, fixed);
    profile_round_trip(j);
    json_decref(j);
    return 0;
}
