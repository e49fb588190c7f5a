/* normalize.c - one telemetry object in, one canonical record out. The
 * contract is in normalize.h; timestamps are in normalize_ts.c.
 *
 * Hot path: one pass over the top-level keys, one malloc for the metrics,
 * no string formatting. Error paths are built only once something is wrong.
 */
#include "telemetry/normalize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"

/* --- Small helpers ------------------------------------------------------- */

enum field { F_TWIN, F_ASSET, F_METRICS, F_TAGS, F_TS, F_QUALITY, F_EVENT, NFIELDS };

static const char allowed_fields[] =
    "allowed: twin_id, asset_id, metrics, tags, ts, quality, event_id";

static int field_index(const char *k, size_t len)
{
    static const char *const names[NFIELDS] = {"twin_id", "asset_id", "metrics", "tags",
                                               "ts",      "quality",  "event_id"};
    for (int i = 0; i < NFIELDS; i++)
        if (strlen(names[i]) == len && memcmp(names[i], k, len) == 0)
            return i;
    return -1;
}

/* prefix + "." + field, e.g. "$[3].ts", into buf[OT_ERROR_PATH_MAX]. On the
 * success path too (for ts and metrics), hence memcpy rather than snprintf. */
static const char *fpath(char *buf, const char *prefix, const char *field)
{
    size_t np = strlen(prefix), nf = strlen(field);
    if (np + 1 + nf >= OT_ERROR_PATH_MAX) /* absurd prefix: keep what fits */
        np = OT_ERROR_PATH_MAX - 2 - nf;
    memcpy(buf, prefix, np);
    buf[np] = '.';
    memcpy(buf + np + 1, field, nf + 1);
    return buf;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A validated id (twin_id, asset_id, event_id) copied to dst. */
static int copy_id(const char *s, size_t len, const char *what, const char *path,
                   char dst[OT_TEL_ID_MAX], ot_error *err)
{
    int rc = ot_tel_token_check(s, len, OT_TEL_ID_LEN, what, path, err);
    if (rc)
        return rc;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int json_id(const json_t *v, const char *prefix, const char *field,
                   char dst[OT_TEL_ID_MAX], ot_error *err)
{
    char path[OT_ERROR_PATH_MAX];
    if (!v)
        return ot_error_set(err, OT_EINVAL, fpath(path, prefix, field), "is required");
    if (!json_is_string(v))
        return ot_error_set(err, OT_EINVAL, fpath(path, prefix, field),
                            "must be a string, not %s", json_type_name(v));
    if (ot_tel_token_ok(json_string_value(v), json_string_length(v), OT_TEL_ID_LEN)) {
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
        return 0;
    }
    return ot_tel_token_check(json_string_value(v), json_string_length(v), OT_TEL_ID_LEN, field,
                              fpath(path, prefix, field), err);
}

/* --- Metrics ------------------------------------------------------------- */

#define NUMERIC_STRING_MAX 64

/* A string that is exactly a decimal number: strtod's grammar minus leading
 * space, hex, "inf" and "nan". The process never changes LC_NUMERIC, so '.'
 * is the decimal point. */
static int numeric_string(const char *s, size_t len, double *out)
{
    if (len == 0 || len > NUMERIC_STRING_MAX || strspn(s, "0123456789+-.eE") != len)
        return -1;
    char *end;
    double d = strtod(s, &end);
    if (end != s + len || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int metric_value(const json_t *v, double *out)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        *out = (double)json_integer_value(v);
        return 0;
    case JSON_REAL:
        *out = json_real_value(v);
        return isfinite(*out) ? 0 : -1;
    case JSON_STRING:
        return numeric_string(json_string_value(v), json_string_length(v), out);
    default:
        return -1;
    }
}

static int metric_value_error(const json_t *v, const char *path, ot_error *err)
{
    char q[64];
    if (json_is_string(v))
        return ot_error_set(err, OT_EINVAL, path,
                            "'%s' is not a finite decimal number (like 21.5 or \"21.5\")",
                            ot_tel_quote(q, sizeof q, json_string_value(v),
                                         json_string_length(v)));
    return ot_error_set(err, OT_EINVAL, path,
                        "must be a finite number (or a string holding one), not %s",
                        json_type_name(v));
}

static int metric_cmp(const void *a, const void *b)
{
    return strcmp(((const ot_tel_metric *)a)->name, ((const ot_tel_metric *)b)->name);
}

/* A record has a few metrics: insertion sort, without qsort's set-up
 * (glibc's merge sort cost ~800 instructions for two), up to 8. */
static void sort_metrics(ot_tel_metric *m, size_t n)
{
    if (n > 8) {
        qsort(m, n, sizeof *m, metric_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        while (j > 0 && strcmp(m[j - 1].name, m[i].name) > 0)
            j--;
        if (j < i) {
            ot_tel_metric x = m[i];
            memmove(&m[j + 1], &m[j], (i - j) * sizeof *m);
            m[j] = x;
        }
    }
}

static int key_metric_cmp(const void *key, const void *m)
{
    return strcmp((const char *)key, ((const ot_tel_metric *)m)->name);
}

/* Two inputs became the same metric: find them again (in input order) to
 * name both. Only runs on this error, so it may repeat the mapping. */
static int conflict_error(const json_t *metrics, const ot_ingest_profile *profile,
                          const char *base, const char *dup, ot_error *err)
{
    char first[OT_ERROR_PATH_MAX] = "", path[OT_ERROR_PATH_MAX];
    const char *key, *final;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)metrics, key, klen, v) {
        double d = 0;
        metric_value(v, &d);
        ot_ingest_profile_apply(profile, key, &d, &final);
        if (strcmp(final, dup) != 0)
            continue;
        if (!first[0]) {
            ot_tel_path_key(first, sizeof first, base, key, klen);
            continue;
        }
        return ot_error_set(err, OT_EINVAL, ot_tel_path_key(path, sizeof path, base, key, klen),
                            "becomes metric '%s', and so does %s (after the twin's ingest "
                            "profile renames/conversions); send only one of them",
                            dup, first);
    }
    return ot_error_set(err, OT_EINVAL, base, "metric '%s' appears twice", dup);
}

/* Validate, rename/convert and sort the metrics object into t. base is the
 * path of the object itself ("$.metrics", or "$" for a bare payload). */
static int build_metrics(const json_t *m, const ot_ingest_profile *profile, const char *base,
                         ot_tel *t, ot_error *err)
{
    char path[OT_ERROR_PATH_MAX];
    const char *key, *final;
    size_t klen, n = json_object_size(m);
    json_t *v;
    if (!json_is_object(m))
        return ot_error_set(err, OT_EINVAL, base,
                            "must be an object of metric names to numbers, like "
                            "{\"temp_c\": 21.5}");
    if (n == 0)
        return ot_error_set(err, OT_EINVAL, base, "must hold at least one metric");
    if (n > OT_TEL_METRICS_MAX)
        return ot_error_set(err, OT_EINVAL, base, "has %zu metrics; at most %d per event", n,
                            OT_TEL_METRICS_MAX);
    if (!(t->metrics = malloc(n * sizeof *t->metrics)))
        return ot_error_set(err, OT_ENOMEM, base, "out of memory");
    json_object_keylen_foreach((json_t *)m, key, klen, v) {
        double d;
        if (!ot_tel_token_ok(key, klen, OT_METRIC_NAME_LEN))
            return ot_tel_token_check(key, klen, OT_METRIC_NAME_LEN, "metric name",
                                      ot_tel_path_key(path, sizeof path, base, key, klen), err);
        if (metric_value(v, &d))
            return metric_value_error(v, ot_tel_path_key(path, sizeof path, base, key, klen),
                                      err);
        if (ot_ingest_profile_apply(profile, key, &d, &final)) {
            char num[OT_FMT_REAL_MAX];
            ot_fmt_real(num, d);
            return ot_error_set(err, OT_EINVAL,
                                ot_tel_path_key(path, sizeof path, base, key, klen),
                                "%s converted to '%s' is out of range (not finite)", num,
                                final);
        }
        ot_tel_metric *out = &t->metrics[t->nmetrics++];
        memcpy(out->name, final, strlen(final) + 1);
        out->value = d;
    }
    /* Sorted names give a canonical order, and make duplicates adjacent. */
    sort_metrics(t->metrics, t->nmetrics);
    for (size_t i = 1; i < t->nmetrics; i++)
        if (!strcmp(t->metrics[i - 1].name, t->metrics[i].name))
            return conflict_error(m, profile, base, t->metrics[i].name, err);
    return 0;
}

/* --- Tags and quality ------------------------------------------------------ */

/* A tag name as telemetry.v1 has it: 1..64 bytes, [A-Za-z0-9_] and then
 * [A-Za-z0-9_.:/-]. */
static int tag_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > OT_TEL_TAG_KEY_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '_';
        if (!word && (i == 0 || !strchr(".:/-", c) || c == '\0'))
            return 0;
    }
    return 1;
}

static int check_tags(const json_t *tags, const char *prefix, ot_error *err)
{
    char path[OT_ERROR_PATH_MAX], base[OT_ERROR_PATH_MAX];
    const char *key;
    size_t klen;
    json_t *v;
    if (!json_is_object(tags))
        return ot_error_set(err, OT_EINVAL, fpath(base, prefix, "tags"),
                            "must be an object of strings, not %s", json_type_name(tags));
    if (json_object_size(tags) > OT_TEL_TAGS_MAX)
        return ot_error_set(err, OT_EINVAL, fpath(base, prefix, "tags"),
                            "has %zu tags; at most %d allowed", json_object_size(tags),
                            OT_TEL_TAGS_MAX);
    json_object_keylen_foreach((json_t *)tags, key, klen, v) {
        const char *why = NULL;
        if (!tag_name_ok(key, klen))
            why = "a tag name is 1 to 64 of A-Z a-z 0-9 _ . : / -, and starts with a letter, "
                  "a digit or _";
        else if (!json_is_string(v))
            why = "must be a string";
        else if (json_string_length(v) > OT_TEL_TAG_VALUE_LEN)
            why = "is longer than 256 bytes";
        else if (memchr(json_string_value(v), '\0', json_string_length(v)))
            why = "must not contain NUL bytes";
        if (why)
            return ot_error_set(err, OT_EINVAL,
                                ot_tel_path_key(path, sizeof path,
                                                fpath(base, prefix, "tags"), key, klen),
                                "%s", why);
    }
    return 0;
}

/* A score in [0,1], or an error at path. */
static int unit_score(const json_t *v, const char *path, double *out, ot_error *err)
{
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d >= 0 && d <= 1))
        return ot_error_set(err, OT_EINVAL, path, "must be a number from 0 to 1");
    *out = d;
    return 0;
}

/* The client's own quality object as telemetry.v1 describes it: score from
 * 0 to 1, flags an array of strings, source a string, each optional; other
 * members are kept as they are. */
static int client_quality(const json_t *q, const char *path, double *score, ot_error *err)
{
    char fp[OT_ERROR_PATH_MAX], at[OT_ERROR_PATH_MAX];
    const json_t *s = json_object_get(q, "score"), *flags = json_object_get(q, "flags"),
                 *source = json_object_get(q, "source");
    if (s && unit_score(s, fpath(fp, path, "score"), score, err))
        return OT_EINVAL;
    if (flags && !json_is_array(flags))
        return ot_error_set(err, OT_EINVAL, fpath(fp, path, "flags"),
                            "must be an array of strings, not %s", json_type_name(flags));
    for (size_t i = 0; i < json_array_size(flags); i++) {
        const json_t *f = json_array_get(flags, i);
        if (!json_is_string(f)) {
            snprintf(at, sizeof at, "%s[%zu]", fpath(fp, path, "flags"), i);
            return ot_error_set(err, OT_EINVAL, at, "a flag must be a string, not %s",
                                json_type_name(f));
        }
    }
    if (source && !json_is_string(source))
        return ot_error_set(err, OT_EINVAL, fpath(fp, path, "source"), "must be a string, not %s",
                            json_type_name(source));
    return 0;
}

/* Parse quality at path. The client's own quality goes to *client (borrowed)
 * and its score to *score. With `canonical` allowed, an object holding
 * data_quality_score or missing_rate is this module's output: its "client"
 * is the client's quality and its missing_rate goes to *missing. */
static int parse_quality(const json_t *q, const char *path, int canonical, const json_t **client,
                         double *score, double *missing, ot_error *err)
{
    char fp[OT_ERROR_PATH_MAX];
    if (json_is_number(q)) {
        *client = q;
        return unit_score(q, path, score, err);
    }
    if (!json_is_object(q))
        return ot_error_set(err, OT_EINVAL, path,
                            "must be a number from 0 to 1 or an object with an optional "
                            "\"score\" from 0 to 1, not %s",
                            json_type_name(q));
    if (!canonical || (!json_object_get(q, "data_quality_score") &&
                       !json_object_get(q, "missing_rate"))) {
        *client = q;
        return client_quality(q, path, score, err);
    }
    const char *key;
    size_t klen;
    json_t *v;
    double ignored;
    json_object_keylen_foreach((json_t *)q, key, klen, v) {
        int rc;
        ot_tel_path_key(fp, sizeof fp, path, key, klen);
        if (klen == 18 && !memcmp(key, "data_quality_score", 18))
            rc = unit_score(v, fp, &ignored, err); /* recomputed, never trusted */
        else if (klen == 12 && !memcmp(key, "missing_rate", 12))
            rc = unit_score(v, fp, missing, err);
        else if (klen == 6 && !memcmp(key, "client", 6))
            rc = json_is_null(v) ? 0 : parse_quality(v, fp, 0, client, score, missing, err);
        else
            rc = ot_error_set(err, OT_EINVAL, fp,
                              "unknown field in a server-computed quality object (one with "
                              "data_quality_score/missing_rate); allowed: data_quality_score, "
                              "missing_rate, client. Send the client's own quality as "
                              "{\"score\": ...}");
        if (rc)
            return rc;
    }
    return 0;
}

/* missing_rate from the profile's expected metrics (or `carried` from a
 * canonical record when the profile expects none), and the overall score. */
static void score_record(ot_tel *t, const ot_ingest_profile *profile, double client,
                         double carried)
{
    size_t nexp = ot_ingest_profile_nexpected(profile), missing = 0;
    for (size_t i = 0; i < nexp; i++)
        if (!bsearch(ot_ingest_profile_expected(profile, i), t->metrics, t->nmetrics,
                     sizeof *t->metrics, key_metric_cmp))
            missing++;
    t->missing_rate = nexp ? (double)missing / (double)nexp : carried;
    t->data_quality_score = client * (1 - t->missing_rate);
}

/* --- Entry points ------------------------------------------------------------ */

void ot_tel_clear(ot_tel *t)
{
    free(t->metrics);
    json_decref(t->tags);
    json_decref(t->quality);
    memset(t, 0, sizeof *t);
}

static void new_event_id(ot_tel *t)
{
    char id[OT_ID_BUFSZ];
    ot_id_new("tel", id);
    memcpy(t->event_id, id, strlen(id) + 1);
}

int ot_tel_normalize(const json_t *in, const ot_ingest_profile *profile, int64_t now_us,
                     const char *prefix, ot_tel *out, ot_error *err)
{
    char path[OT_ERROR_PATH_MAX];
    const json_t *f[NFIELDS] = {0}, *client = NULL;
    const char *key;
    size_t klen;
    json_t *v;
    double client_score = 1, carried_missing = 0;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!prefix)
        prefix = "$";
    if (!json_is_object(in)) {
        rc = ot_error_set(err, OT_EINVAL, prefix,
                          "a telemetry event must be an object {twin_id, asset_id, metrics, "
                          "tags?, ts?, quality?, event_id?}");
        goto out;
    }
    json_object_keylen_foreach((json_t *)in, key, klen, v) {
        int i = field_index(key, klen);
        if (i < 0) {
            rc = ot_error_set(err, OT_EINVAL, ot_tel_path_key(path, sizeof path, prefix, key, klen),
                              "unknown field; %s", allowed_fields);
            goto out;
        }
        f[i] = json_is_null(v) ? NULL : v;
    }
    if ((rc = json_id(f[F_TWIN], prefix, "twin_id", out->twin_id, err)) ||
        (rc = json_id(f[F_ASSET], prefix, "asset_id", out->asset_id, err)))
        goto out;
    if (f[F_EVENT]) {
        if ((rc = json_id(f[F_EVENT], prefix, "event_id", out->event_id, err)))
            goto out;
        out->event_id_given = 1;
    }
    out->ts_us = now_us;
    if (f[F_TS]) {
        if ((rc = ot_tel_parse_ts(f[F_TS], &out->ts_us, err, fpath(path, prefix, "ts"))))
            goto out;
        out->ts_given = 1;
    }
    if (!f[F_METRICS]) {
        rc = ot_error_set(err, OT_EINVAL, fpath(path, prefix, "metrics"),
                          "is required: an object of metric names to numbers");
        goto out;
    }
    if ((rc = build_metrics(f[F_METRICS], profile, fpath(path, prefix, "metrics"), out, err)))
        goto out;
    if (f[F_TAGS] && (rc = check_tags(f[F_TAGS], prefix, err)))
        goto out;
    if (f[F_QUALITY] && (rc = parse_quality(f[F_QUALITY], fpath(path, prefix, "quality"), 1,
                                            &client, &client_score, &carried_missing, err)))
        goto out;
    if (f[F_TAGS] && json_object_size(f[F_TAGS]) > 0)
        out->tags = json_incref((json_t *)f[F_TAGS]);
    out->quality = json_incref((json_t *)client);
    score_record(out, profile, client_score, carried_missing);
    if (!out->event_id_given)
        new_event_id(out);
out:
    if (rc)
        ot_tel_clear(out);
    return rc;
}

int ot_tel_normalize_bare(const json_t *metrics, const char *twin_id, const char *asset_id,
                          const ot_ingest_profile *profile, int64_t now_us, ot_tel *out,
                          ot_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = copy_id(twin_id ? twin_id : "", twin_id ? strlen(twin_id) : 0,
                      "twin_id (from the topic)", "twin_id", out->twin_id, err)) ||
        (rc = copy_id(asset_id ? asset_id : "", asset_id ? strlen(asset_id) : 0,
                      "asset_id (from the topic)", "asset_id", out->asset_id, err)) ||
        (rc = build_metrics(metrics, profile, "$", out, err)))
        goto out;
    out->ts_us = now_us;
    score_record(out, profile, 1, 0);
    new_event_id(out);
out:
    if (rc)
        ot_tel_clear(out);
    return rc;
}

/* --- Output ------------------------------------------------------------------- */

/* ids and metric names are tokens (A-Z a-z 0-9 _ . : -): nothing to escape */
static void put_key_token(ot_buf *b, const char *key, const char *token)
{
    ot_buf_puts(b, key);
    ot_buf_append(b, "\"", 1);
    ot_buf_puts(b, token);
    ot_buf_append(b, "\"", 1);
}

int ot_tel_render(const ot_tel *t, ot_buf *b)
{
    char ts[OT_TS_BUFSZ];
    put_key_token(b, "{\"event_id\":", t->event_id);
    put_key_token(b, ",\"twin_id\":", t->twin_id);
    put_key_token(b, ",\"asset_id\":", t->asset_id);
    put_key_token(b, ",\"ts\":", ot_ts_format(t->ts_us, ts));
    ot_buf_puts(b, ",\"metrics\":{");
    for (size_t i = 0; i < t->nmetrics; i++) {
        put_key_token(b, i ? "," : "", t->metrics[i].name);
        ot_buf_append(b, ":", 1);
        ot_buf_json_real(b, t->metrics[i].value);
    }
    ot_buf_append(b, "}", 1);
    size_t flags = JSON_COMPACT;
    if (t->tags) {
        ot_buf_puts(b, ",\"tags\":");
        ot_buf_json(b, t->tags, flags);
    }
    ot_buf_puts(b, ",\"quality\":{\"data_quality_score\":");
    ot_buf_json_real(b, t->data_quality_score);
    ot_buf_puts(b, ",\"missing_rate\":");
    ot_buf_json_real(b, t->missing_rate);
    if (t->quality) {
        ot_buf_puts(b, ",\"client\":");
        ot_buf_json(b, t->quality, flags);
    }
    ot_buf_puts(b, "}}");
    return ot_buf_failed(b) ? -1 : 0;
}

json_t *ot_tel_to_json(const ot_tel *t)
{
    char ts[OT_TS_BUFSZ];
    json_t *o = json_object(), *m = json_object(), *q = json_object();
    int bad = !o || !m || !q;
    /* Keys are ASCII tokens we validated, so the UTF-8 check can be skipped. */
    bad = bad || json_object_set_new_nocheck(o, "event_id", json_string_nocheck(t->event_id)) ||
          json_object_set_new_nocheck(o, "twin_id", json_string_nocheck(t->twin_id)) ||
          json_object_set_new_nocheck(o, "asset_id", json_string_nocheck(t->asset_id)) ||
          json_object_set_new_nocheck(o, "ts", json_string_nocheck(ot_ts_format(t->ts_us, ts)));
    for (size_t i = 0; !bad && i < t->nmetrics; i++)
        bad = json_object_set_new_nocheck(m, t->metrics[i].name, json_real(t->metrics[i].value));
    bad = bad || json_object_set_nocheck(o, "metrics", m) ||
          (t->tags && json_object_set_nocheck(o, "tags", t->tags)) ||
          json_object_set_new_nocheck(q, "data_quality_score", json_real(t->data_quality_score)) ||
          json_object_set_new_nocheck(q, "missing_rate", json_real(t->missing_rate)) ||
          (t->quality && json_object_set_nocheck(q, "client", t->quality)) ||
          json_object_set_nocheck(o, "quality", q);
    json_decref(m);
    json_decref(q);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void ot_tel_json_clear(ot_tel_json *c)
{
    json_decref(c->o);
    memset(c, 0, sizeof *c);
}

/* The cached tree has t's members: the same metric names in the same order,
 * tags and the client's quality there or not. */
static int same_members(const ot_tel_json *c, const ot_tel *t)
{
    if (!t->tags != !json_object_get(c->o, "tags") ||
        !t->quality != !json_object_get(c->q, "client") || json_object_size(c->m) != t->nmetrics)
        return 0;
    size_t i = 0;
    for (void *it = json_object_iter(c->m); it; it = json_object_iter_next(c->m, it), i++)
        if (strcmp(json_object_iter_key(it), t->metrics[i].name) != 0)
            return 0;
    return 1;
}

/* t's values into the cached tree (same_members holds); -1 out of memory. */
static int refill(ot_tel_json *c, const ot_tel *t)
{
    char ts[OT_TS_BUFSZ];
    if (json_string_set_nocheck(c->ev, t->event_id) ||
        json_string_set_nocheck(c->twin, t->twin_id) ||
        json_string_set_nocheck(c->asset, t->asset_id) ||
        json_string_set_nocheck(c->ts, ot_ts_format(t->ts_us, ts)))
        return -1;
    size_t i = 0;
    for (void *it = json_object_iter(c->m); it; it = json_object_iter_next(c->m, it), i++)
        json_real_set(json_object_iter_value(it), t->metrics[i].value);
    json_real_set(c->dqs, t->data_quality_score);
    json_real_set(c->mr, t->missing_rate);
    /* replacing a member keeps its place */
    if ((t->tags && json_object_set_nocheck(c->o, "tags", t->tags)) ||
        (t->quality && json_object_set_nocheck(c->q, "client", t->quality)))
        return -1;
    return 0;
}

const json_t *ot_tel_json_of(ot_tel_json *c, const ot_tel *t)
{
    if (c->o && same_members(c, t) && refill(c, t) == 0)
        return c->o;
    ot_tel_json_clear(c);
    if (!(c->o = ot_tel_to_json(t)))
        return NULL;
    c->m = json_object_get(c->o, "metrics");
    c->q = json_object_get(c->o, "quality");
    c->ev = json_object_get(c->o, "event_id");
    c->twin = json_object_get(c->o, "twin_id");
    c->asset = json_object_get(c->o, "asset_id");
    c->ts = json_object_get(c->o, "ts");
    c->dqs = json_object_get(c->q, "data_quality_score");
    c->mr = json_object_get(c->q, "missing_rate");
    return c->o;
}
