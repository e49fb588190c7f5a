/* ingest_profile.c - see ingest_profile.h.
 *
 * A compiled profile is three arrays sorted by name, so the per-metric lookups
 * on the ingest path are binary searches over memory that nobody writes.
 */
#include "telemetry/ingest_profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/names.h"

/* --- Named conversions -------------------------------------------------- */

/* v' = (v + pre) * mul / div + post. Kept as separate steps rather than one
 * scale and offset because 5/9 and 0.01 are inexact in binary: (212-32)*5/9
 * is exactly 100, 212*0.5556-17.78 is not. */
static const struct unit {
    const char *name;
    double pre, mul, div, post;
} units[] = {
    {"degF->degC", -32, 5, 9, 0},
    {"degC->degF", 0, 9, 5, 32},
    {"K->degC", 0, 1, 1, -273.15},
    {"degC->K", 0, 1, 1, 273.15},
    {"degF->K", -32, 5, 9, 273.15},
    {"K->degF", -273.15, 9, 5, 32},
    /* 1 psi = 6894.757293168361 Pa (international avoirdupois pound-force). */
    {"psi->bar", 0, 6894.757293168361, 100000, 0},
    {"bar->psi", 0, 100000, 6894.757293168361, 0},
    {"kPa->bar", 0, 1, 100, 0},
    {"bar->kPa", 0, 100, 1, 0},
    {"Pa->bar", 0, 1, 100000, 0},
    {"bar->Pa", 0, 100000, 1, 0},
    {"mbar->bar", 0, 1, 1000, 0},
    {"bar->mbar", 0, 1000, 1, 0},
    {"ms->s", 0, 1, 1000, 0},
    {"s->ms", 0, 1000, 1, 0},
    {"percent->ratio", 0, 1, 100, 0},
    {"ratio->percent", 0, 100, 1, 0},
};
#define NUNITS (sizeof units / sizeof units[0])

const char *ot_ingest_units(void)
{
    return "degF->degC, degC->degF, K->degC, degC->K, degF->K, K->degF, psi->bar, bar->psi, "
           "kPa->bar, bar->kPa, Pa->bar, bar->Pa, mbar->bar, bar->mbar, ms->s, s->ms, "
           "percent->ratio, ratio->percent";
}

static int unit_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NUNITS; i++)
        if (strlen(units[i].name) == len && memcmp(units[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* --- The compiled profile ------------------------------------------------ */

struct rule {
    char from[OT_METRIC_NAME_MAX];
    char to[OT_METRIC_NAME_MAX];
    int unit;             /* index into units[]; -1 for linear, and for renames */
    double scale, offset; /* linear conversions only */
};

struct ot_ingest_profile {
    struct rule *rename, *convert;
    size_t nrename, nconvert, nexpected;
    char (*expected)[OT_METRIC_NAME_MAX];
};

static int rule_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rule *)a)->from, ((const struct rule *)b)->from);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int key_rule_cmp(const void *key, const void *r)
{
    return strcmp((const char *)key, ((const struct rule *)r)->from);
}

static const struct rule *rule_find(const struct rule *r, size_t n, const char *name)
{
    return n ? bsearch(name, r, n, sizeof *r, key_rule_cmp) : NULL;
}

void ot_ingest_profile_free(ot_ingest_profile *p)
{
    if (!p)
        return;
    free(p->rename);
    free(p->convert);
    free(p->expected);
    free(p);
}

/* --- Parsing --------------------------------------------------------------- */

/* Validate a metric name given as a JSON key or string and copy it to dst. */
static int copy_name(const char *s, size_t len, const char *what, const char *path,
                     char dst[OT_METRIC_NAME_MAX], ot_error *err)
{
    int rc = ot_tel_token_check(s, len, OT_METRIC_NAME_LEN, what, path, err);
    if (rc)
        return rc;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* A section that maps names to something: an object of at most
 * OT_PROFILE_RULES_MAX entries. Allocates *rules (zeroed) for them. */
static int section_alloc(const json_t *v, const char *path, struct rule **rules, size_t *n,
                         ot_error *err)
{
    if (!json_is_object(v))
        return ot_error_set(err, OT_EINVAL, path, "must be an object mapping metric names");
    *n = json_object_size(v);
    if (*n > OT_PROFILE_RULES_MAX)
        return ot_error_set(err, OT_EINVAL, path, "has %zu entries; at most %d allowed", *n,
                            OT_PROFILE_RULES_MAX);
    if (*n == 0)
        return 0;
    *rules = calloc(*n, sizeof **rules);
    return *rules ? 0 : ot_error_set(err, OT_ENOMEM, path, "out of memory");
}

static int parse_rename(const json_t *v, ot_ingest_profile *p, ot_error *err)
{
    int rc = section_alloc(v, "$.rename", &p->rename, &p->nrename, err);
    if (rc)
        return rc;
    const char *key;
    size_t klen, i = 0;
    json_t *to;
    json_object_keylen_foreach((json_t *)v, key, klen, to) {
        char path[OT_ERROR_PATH_MAX];
        struct rule *r = &p->rename[i++];
        ot_tel_path_key(path, sizeof path, "$.rename", key, klen);
        r->unit = -1;
        if ((rc = copy_name(key, klen, "metric name", path, r->from, err)))
            return rc;
        if (!json_is_string(to))
            return ot_error_set(err, OT_EINVAL, path, "must be the new metric name (a string)");
        if ((rc = copy_name(json_string_value(to), json_string_length(to), "new metric name",
                            path, r->to, err)))
            return rc;
    }
    if (p->nrename) /* qsort needs a non-NULL base even for zero items */
        qsort(p->rename, p->nrename, sizeof *p->rename, rule_cmp);
    return 0;
}

/* One convert entry: {"to"?, "unit"} or {"to"?, "scale"?, "offset"?}. */
static int parse_conversion(const json_t *v, const char *path, struct rule *r, ot_error *err)
{
    char fpath[OT_ERROR_PATH_MAX];
    const char *key;
    size_t klen;
    json_t *f;
    int rc, has_linear = 0;
    if (!json_is_object(v))
        return ot_error_set(err, OT_EINVAL, path,
                            "must be an object: {\"to\": name, \"unit\": \"degF->degC\"} or "
                            "{\"to\": name, \"scale\": number, \"offset\": number}");
    memcpy(r->to, r->from, sizeof r->to); /* no "to": convert in place */
    r->unit = -1;
    r->scale = 1;
    r->offset = 0;
    json_object_keylen_foreach((json_t *)v, key, klen, f) {
        ot_tel_path_key(fpath, sizeof fpath, path, key, klen);
        if (klen == 2 && !memcmp(key, "to", 2)) {
            if (!json_is_string(f))
                return ot_error_set(err, OT_EINVAL, fpath, "must be a metric name (a string)");
            if ((rc = copy_name(json_string_value(f), json_string_length(f), "metric name",
                                fpath, r->to, err)))
                return rc;
        } else if (klen == 4 && !memcmp(key, "unit", 4)) {
            char q[64];
            if (!json_is_string(f))
                return ot_error_set(err, OT_EINVAL, fpath, "must be a string; known: %s",
                                    ot_ingest_units());
            r->unit = unit_find(json_string_value(f), json_string_length(f));
            if (r->unit < 0)
                return ot_error_set(err, OT_EINVAL, fpath, "unknown conversion '%s'; known: %s",
                                    ot_tel_quote(q, sizeof q, json_string_value(f),
                                                 json_string_length(f)),
                                    ot_ingest_units());
        } else if ((klen == 5 && !memcmp(key, "scale", 5)) ||
                   (klen == 6 && !memcmp(key, "offset", 6))) {
            double d = json_number_value(f);
            if (!json_is_number(f) || !isfinite(d))
                return ot_error_set(err, OT_EINVAL, fpath, "must be a finite number");
            if (klen == 5 && d == 0)
                return ot_error_set(err, OT_EINVAL, fpath,
                                    "must not be 0 (that would discard every reading)");
            *(klen == 5 ? &r->scale : &r->offset) = d;
            has_linear = 1;
        } else {
            return ot_error_set(err, OT_EINVAL, fpath,
                                "unknown field; allowed: to, unit, scale, offset");
        }
    }
    if (r->unit >= 0 && has_linear)
        return ot_error_set(err, OT_EINVAL, path,
                            "give either \"unit\" or \"scale\"/\"offset\", not both");
    if (r->unit < 0 && !has_linear)
        return ot_error_set(err, OT_EINVAL, path,
                            "needs \"unit\" (one of: %s) or \"scale\"/\"offset\"",
                            ot_ingest_units());
    return 0;
}

static int parse_convert(const json_t *v, ot_ingest_profile *p, ot_error *err)
{
    int rc = section_alloc(v, "$.convert", &p->convert, &p->nconvert, err);
    if (rc)
        return rc;
    const char *key;
    size_t klen, i = 0;
    json_t *c;
    json_object_keylen_foreach((json_t *)v, key, klen, c) {
        char path[OT_ERROR_PATH_MAX];
        struct rule *r = &p->convert[i++];
        ot_tel_path_key(path, sizeof path, "$.convert", key, klen);
        if ((rc = copy_name(key, klen, "metric name", path, r->from, err)) ||
            (rc = parse_conversion(c, path, r, err)))
            return rc;
    }
    if (p->nconvert)
        qsort(p->convert, p->nconvert, sizeof *p->convert, rule_cmp);
    return 0;
}

static int parse_expected(const json_t *v, ot_ingest_profile *p, ot_error *err)
{
    const char *base = "$.expected_metrics";
    if (!json_is_array(v))
        return ot_error_set(err, OT_EINVAL, base, "must be an array of metric names");
    size_t n = json_array_size(v);
    if (n > OT_PROFILE_RULES_MAX)
        return ot_error_set(err, OT_EINVAL, base, "has %zu entries; at most %d allowed", n,
                            OT_PROFILE_RULES_MAX);
    if (n == 0)
        return 0;
    if (!(p->expected = calloc(n, sizeof *p->expected)))
        return ot_error_set(err, OT_ENOMEM, base, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[OT_ERROR_PATH_MAX];
        json_t *s = json_array_get(v, i);
        snprintf(path, sizeof path, "%s[%zu]", base, i);
        if (!json_is_string(s))
            return ot_error_set(err, OT_EINVAL, path, "must be a metric name (a string)");
        int rc = copy_name(json_string_value(s), json_string_length(s), "metric name", path,
                           p->expected[i], err);
        if (rc)
            return rc;
        /* Quadratic, but at most 256 names and only when an operator saves. */
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->expected[j], p->expected[i]))
                return ot_error_set(err, OT_EINVAL, path, "'%s' is listed twice (also at [%zu])",
                                    p->expected[i], j);
        p->nexpected++;
    }
    if (p->nexpected)
        qsort(p->expected, p->nexpected, sizeof *p->expected, name_cmp);
    return 0;
}

int ot_ingest_profile_parse(const json_t *doc, ot_ingest_profile **out, ot_error *err)
{
    int rc = 0;
    ot_ingest_profile *p = NULL;
    const char *key;
    size_t klen;
    json_t *v;
    *out = NULL;
    if (!json_is_object(doc)) {
        rc = ot_error_set(err, OT_EINVAL, "$",
                          "an ingest profile must be an object with rename, convert and/or "
                          "expected_metrics");
        goto out;
    }
    if (!(p = calloc(1, sizeof *p))) {
        rc = ot_error_set(err, OT_ENOMEM, "$", "out of memory");
        goto out;
    }
    json_object_keylen_foreach((json_t *)doc, key, klen, v) {
        if (klen == 6 && !memcmp(key, "rename", 6)) {
            rc = parse_rename(v, p, err);
        } else if (klen == 7 && !memcmp(key, "convert", 7)) {
            rc = parse_convert(v, p, err);
        } else if (klen == 16 && !memcmp(key, "expected_metrics", 16)) {
            rc = parse_expected(v, p, err);
        } else {
            char path[OT_ERROR_PATH_MAX];
            rc = ot_error_set(err, OT_EINVAL, ot_tel_path_key(path, sizeof path, "$", key, klen),
                              "unknown field; allowed: rename, convert, expected_metrics");
        }
        if (rc)
            goto out;
    }
    *out = p;
    p = NULL;
out:
    ot_ingest_profile_free(p);
    return rc;
}

/* --- Output ----------------------------------------------------------------- */

json_t *ot_ingest_profile_to_json(const ot_ingest_profile *p)
{
    json_t *doc = json_object(), *rename = json_object(), *convert = json_object(),
           *expected = json_array();
    int bad = !doc || !rename || !convert || !expected;
    for (size_t i = 0; !bad && i < p->nrename; i++)
        bad |= json_object_set_new(rename, p->rename[i].from, json_string(p->rename[i].to));
    for (size_t i = 0; !bad && i < p->nconvert; i++) {
        const struct rule *r = &p->convert[i];
        json_t *c = r->unit >= 0 ? json_pack("{s:s, s:s}", "to", r->to, "unit", units[r->unit].name)
                                 : json_pack("{s:s, s:f, s:f}", "to", r->to, "scale", r->scale,
                                             "offset", r->offset);
        bad |= json_object_set_new(convert, r->from, c);
    }
    for (size_t i = 0; !bad && i < p->nexpected; i++)
        bad |= json_array_append_new(expected, json_string(p->expected[i]));
    bad = bad || json_object_set(doc, "rename", rename) ||
          json_object_set(doc, "convert", convert) ||
          json_object_set(doc, "expected_metrics", expected);
    json_decref(rename);
    json_decref(convert);
    json_decref(expected);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* --- Applying ---------------------------------------------------------------- */

static double convert(const struct rule *r, double v)
{
    if (r->unit < 0)
        return v * r->scale + r->offset;
    const struct unit *u = &units[r->unit];
    return (v + u->pre) * u->mul / u->div + u->post;
}

int ot_ingest_profile_apply(const ot_ingest_profile *p, const char *name, double *value,
                            const char **name_out)
{
    *name_out = name;
    if (!p)
        return 0;
    const struct rule *r = rule_find(p->rename, p->nrename, name);
    if (r)
        *name_out = r->to;
    r = rule_find(p->convert, p->nconvert, *name_out);
    if (r) {
        double v = convert(r, *value);
        *name_out = r->to;
        if (!isfinite(v))
            return OT_EINVAL;
        *value = v;
    }
    return 0;
}

size_t ot_ingest_profile_nexpected(const ot_ingest_profile *p)
{
    return p ? p->nexpected : 0;
}

const char *ot_ingest_profile_expected(const ot_ingest_profile *p, size_t i)
{
    return p->expected[i];
}
