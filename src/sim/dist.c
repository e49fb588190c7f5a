/* dist.c - see dist.h.
 *
 * The ziggurat tables live in zig_tables.h, generated once by a short
 * Python script (x[i+1] = sqrt(-2 log(v/x[i] + f(x[i]))) from r, v below)
 * and written as hex floats so they are bit-exact on every compiler.
 */
#include "sim/dist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/zig_tables.h"

/* --- Spec table --------------------------------------------------------- */

/* Numeric fields of each kind, in ot_dist.p[] order; the first nreq are
 * required. Bindings add string fields and "default", handled by name. */
static const struct kind_desc {
    const char *name;
    ot_dist_kind kind;
    const char *num[3];
    int nnum, nreq;
} kinds[] = {
    {"constant", OT_DIST_CONSTANT, {"value"}, 1, 1},
    {"normal", OT_DIST_NORMAL, {"mean", "std"}, 2, 2},
    {"uniform", OT_DIST_UNIFORM, {"low", "high"}, 2, 2},
    {"triangular", OT_DIST_TRIANGULAR, {"left", "mode", "right"}, 3, 3},
    {"lognormal", OT_DIST_LOGNORMAL, {"mean", "sigma"}, 2, 2},
    {"telemetry", OT_DIST_TELEMETRY, {"std"}, 1, 0},
    {"setpoint", OT_DIST_SETPOINT, {0}, 0, 0},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

const char *ot_dist_kind_name(ot_dist_kind k)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "unknown";
}

ot_dist ot_dist_constant(double value)
{
    ot_dist d;
    memset(&d, 0, sizeof d);
    d.kind = OT_DIST_CONSTANT;
    d.p[0] = value;
    return d;
}

int ot_dist_is_binding(const ot_dist *d)
{
    return d->kind == OT_DIST_TELEMETRY || d->kind == OT_DIST_SETPOINT;
}

int ot_dist_is_constant(const ot_dist *d)
{
    return d->kind == OT_DIST_CONSTANT;
}

/* --- Parsing ------------------------------------------------------------ */

/* "expected mean, std" style list of a kind's fields, for messages. */
static void field_list(const struct kind_desc *k, char *buf, size_t sz)
{
    size_t n = (size_t)snprintf(buf, sz, "dist");
    for (int i = 0; i < k->nnum && n < sz; i++)
        n += (size_t)snprintf(buf + n, sz - n, ", %s", k->num[i]);
    if (k->kind == OT_DIST_TELEMETRY && n < sz)
        snprintf(buf + n, sz - n, ", asset_id, metric, default");
    else if (k->kind == OT_DIST_SETPOINT && n < sz)
        snprintf(buf + n, sz - n, ", key, default");
}

static int parse_string(const json_t *v, const char *path, const char *field, char *dst,
                        ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    snprintf(p, sizeof p, "%s.%s", path, field);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return ot_error_set(err, OT_EINVAL, p, "%s: must be a non-empty string", field);
    if (json_string_length(v) >= OT_DIST_STR_MAX)
        return ot_error_set(err, OT_EINVAL, p, "%s: longer than %d characters", field,
                            OT_DIST_STR_MAX - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* Range checks after all fields are in; message names the first bad field. */
static int check_values(const ot_dist *d, const char *path, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    switch (d->kind) {
    case OT_DIST_NORMAL:
    case OT_DIST_TELEMETRY:
        if (d->p[d->kind == OT_DIST_NORMAL ? 1 : 0] < 0) {
            snprintf(p, sizeof p, "%s.std", path);
            return ot_error_set(err, OT_EINVAL, p, "std: must be >= 0");
        }
        break;
    case OT_DIST_LOGNORMAL:
        if (d->p[1] < 0) {
            snprintf(p, sizeof p, "%s.sigma", path);
            return ot_error_set(err, OT_EINVAL, p, "sigma: must be >= 0 (it is the std of the log)");
        }
        break;
    case OT_DIST_UNIFORM:
        if (d->p[0] > d->p[1]) {
            snprintf(p, sizeof p, "%s.high", path);
            return ot_error_set(err, OT_EINVAL, p, "high: must be >= low (%g)", d->p[0]);
        }
        break;
    case OT_DIST_TRIANGULAR:
        if (!(d->p[0] <= d->p[1] && d->p[1] <= d->p[2] && d->p[0] < d->p[2])) {
            snprintf(p, sizeof p, "%s.mode", path);
            return ot_error_set(err, OT_EINVAL, p,
                                "triangular needs left <= mode <= right and left < right "
                                "(got %g, %g, %g)", d->p[0], d->p[1], d->p[2]);
        }
        break;
    default:
        break;
    }
    return 0;
}

int ot_dist_parse(const json_t *spec, const char *path, ot_dist *out, ot_error *err)
{
    char p[OT_ERROR_PATH_MAX];
    memset(out, 0, sizeof *out);
    if (json_is_number(spec)) {
        *out = ot_dist_constant(json_number_value(spec));
        return 0;
    }
    if (!json_is_object(spec))
        return ot_error_set(err, OT_EINVAL, path,
                            "must be a number or an object like {\"dist\": \"normal\", "
                            "\"mean\": 25, \"std\": 2}");
    const json_t *jd = json_object_get(spec, "dist");
    snprintf(p, sizeof p, "%s.dist", path);
    if (!json_is_string(jd))
        return ot_error_set(err, OT_EINVAL, p,
                            "dist: required, one of constant, normal, uniform, triangular, "
                            "lognormal, telemetry, setpoint");
    const struct kind_desc *k = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(kinds[i].name, json_string_value(jd)))
            k = &kinds[i];
    if (!k)
        return ot_error_set(err, OT_EINVAL, p,
                            "dist: unknown distribution '%s' (use constant, normal, uniform, "
                            "triangular, lognormal, telemetry or setpoint)",
                            json_string_value(jd));
    out->kind = k->kind;

    int seen[3] = {0, 0, 0};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        snprintf(p, sizeof p, "%s.%s", path, key);
        if (!strcmp(key, "dist"))
            continue;
        int idx = -1;
        for (int i = 0; i < k->nnum; i++)
            if (!strcmp(key, k->num[i]))
                idx = i;
        int rc = 0;
        if (idx >= 0 || (ot_dist_is_binding(out) && !strcmp(key, "default"))) {
            if (!json_is_number(v))
                return ot_error_set(err, OT_EINVAL, p, "%s: must be a number", key);
            if (idx >= 0) {
                out->p[idx] = json_number_value(v);
                seen[idx] = 1;
            } else {
                out->has_default = 1;
                out->def = json_number_value(v);
            }
        } else if (k->kind == OT_DIST_TELEMETRY && !strcmp(key, "asset_id")) {
            rc = parse_string(v, path, key, out->asset_id, err);
        } else if (k->kind == OT_DIST_TELEMETRY && !strcmp(key, "metric")) {
            rc = parse_string(v, path, key, out->metric, err);
        } else if (k->kind == OT_DIST_SETPOINT && !strcmp(key, "key")) {
            rc = parse_string(v, path, key, out->key, err);
        } else {
            char fields[160];
            field_list(k, fields, sizeof fields);
            return ot_error_set(err, OT_EINVAL, p, "%s: unknown field for dist '%s' (expected %s)",
                                key, k->name, fields);
        }
        if (rc)
            return rc;
    }
    for (int i = 0; i < k->nreq; i++)
        if (!seen[i]) {
            snprintf(p, sizeof p, "%s.%s", path, k->num[i]);
            return ot_error_set(err, OT_EINVAL, p, "%s: required for dist '%s'", k->num[i],
                                k->name);
        }
    if (k->kind == OT_DIST_TELEMETRY && (!out->asset_id[0] || !out->metric[0])) {
        snprintf(p, sizeof p, "%s.%s", path, out->asset_id[0] ? "metric" : "asset_id");
        return ot_error_set(err, OT_EINVAL, p, "%s: required for dist 'telemetry'",
                            out->asset_id[0] ? "metric" : "asset_id");
    }
    if (k->kind == OT_DIST_SETPOINT && !out->key[0]) {
        snprintf(p, sizeof p, "%s.key", path);
        return ot_error_set(err, OT_EINVAL, p,
                            "key: required for dist 'setpoint' (e.g. \"chiller_1.setpoint\")");
    }
    return check_values(out, path, err);
}

json_t *ot_dist_to_json(const ot_dist *d)
{
    const struct kind_desc *k = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i].kind == d->kind)
            k = &kinds[i];
    if (!k)
        return NULL;
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new(o, "dist", json_string(k->name));
    if (d->kind == OT_DIST_TELEMETRY) {
        bad |= json_object_set_new(o, "asset_id", json_string(d->asset_id));
        bad |= json_object_set_new(o, "metric", json_string(d->metric));
    }
    if (d->kind == OT_DIST_SETPOINT)
        bad |= json_object_set_new(o, "key", json_string(d->key));
    for (int i = 0; i < k->nnum; i++)
        bad |= json_object_set_new(o, k->num[i], json_real(d->p[i]));
    if (d->has_default)
        bad |= json_object_set_new(o, "default", json_real(d->def));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

ot_dist ot_dist_bind(const ot_dist *d, double value)
{
    if (d->kind == OT_DIST_SETPOINT || (d->kind == OT_DIST_TELEMETRY && d->p[0] == 0))
        return ot_dist_constant(value);
    if (d->kind == OT_DIST_TELEMETRY) {
        ot_dist n = ot_dist_constant(value);
        n.kind = OT_DIST_NORMAL;
        n.p[1] = d->p[0];
        return n;
    }
    return *d;
}

/* --- Samplers ----------------------------------------------------------- */

static inline double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static inline uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* The uniform (0,1) value ((b >> 12) + 0.5) * 2^-52 -- the same value as
 * ot_rng_uniform -- built from the mantissa bits, without an int-to-double
 * conversion, so the loop below vectorises. */
static inline double mantissa_uniform(uint64_t b)
{
    return bits_to_double((b >> 12) | 0x3ff0000000000000ULL) - (1.0 - 0x1.0p-53);
}

/* Finish a draw whose fast-path candidate was rejected: the candidate was
 * in layer i at |z|; test the wedge or the tail, and start over with fresh
 * words while rejected (Marsaglia & Tsang 2000). */
static double zig_slow(ot_rng *r, unsigned i, double z, uint64_t sign)
{
    for (;;) {
        if (i == 0) {
            /* Tail beyond r (Marsaglia 1964). */
            double a, b;
            do {
                a = -log(ot_rng_uniform(r)) / OT_ZIG_R;
                b = -log(ot_rng_uniform(r));
            } while (b + b < a * a);
            z = OT_ZIG_R + a;
            break;
        }
        double y = zig_f[i] + ot_rng_uniform(r) * (zig_f[i + 1] - zig_f[i]);
        if (y < exp(-0.5 * z * z))
            break;
        uint64_t bits = ot_rng_next(r);
        i = (unsigned)(bits & 0xff);
        sign = (bits & 0x100) << 55;
        z = mantissa_uniform(bits) * zig_x[i];
        if (z < zig_x[i + 1])
            break;
    }
    return bits_to_double(double_to_bits(z) ^ sign);
}

/* Standard normals by a 256-layer ziggurat, two passes per chunk of
 * CHUNK: draw one 64-bit word per output, then turn every word into its
 * fast-path value branch-free -- low 8 bits pick the layer, bit 8 the sign,
 * the top 52 a uniform -- and note the ~1.2% that fall outside their
 * layer's inner rectangle; those are finished one by one with further words
 * from the same stream. Fixed-size chunks let gcc vectorise the middle pass
 * at -O2. A partial last chunk is computed whole into a buffer, so the
 * values depend only on the stream and n. */
#define CHUNK 256

static void normal_chunk(ot_rng *r, double *o)
{
    uint64_t w[CHUNK];
    unsigned char rej[CHUNK];
    for (size_t j = 0; j < CHUNK; j++)
        w[j] = ot_rng_next(r);
    for (size_t j = 0; j < CHUNK; j++) {
        unsigned i = (unsigned)(w[j] & 0xff);
        double z = mantissa_uniform(w[j]) * zig_x[i];
        rej[j] = !(z < zig_x[i + 1]);
        o[j] = bits_to_double(double_to_bits(z) ^ ((w[j] & 0x100) << 55));
    }
    for (size_t j = 0; j < CHUNK; j++)
        if (rej[j]) {
            unsigned i = (unsigned)(w[j] & 0xff);
            o[j] = zig_slow(r, i, mantissa_uniform(w[j]) * zig_x[i], (w[j] & 0x100) << 55);
        }
}

static void uniform_chunk(ot_rng *r, double *o)
{
    uint64_t w[CHUNK];
    for (size_t j = 0; j < CHUNK; j++)
        w[j] = ot_rng_next(r);
    for (size_t j = 0; j < CHUNK; j++)
        o[j] = mantissa_uniform(w[j]);
}

static void fill_chunked(ot_rng *r, double *out, size_t n, void (*chunk)(ot_rng *, double *))
{
    size_t base = 0;
    for (; base + CHUNK <= n; base += CHUNK)
        chunk(r, out + base);
    if (base < n) {
        double tmp[CHUNK];
        chunk(r, tmp);
        memcpy(out + base, tmp, (n - base) * sizeof *out);
    }
}

void ot_dist_fill_std_normal(ot_rng *r, double *out, size_t n)
{
    fill_chunked(r, out, n, normal_chunk);
}

void ot_dist_fill_uniform01(ot_rng *r, double *out, size_t n)
{
    fill_chunked(r, out, n, uniform_chunk);
}

double ot_dist_triangular_inv(double u, double left, double mode, double right)
{
    double w = right - left;
    if (u * w < mode - left)
        return left + sqrt(u * w * (mode - left));
    return right - sqrt((1.0 - u) * w * (right - mode));
}

void ot_dist_fill(const ot_dist *d, ot_rng *r, double *out, size_t n)
{
    const double *p = d->p;
    switch (d->kind) {
    case OT_DIST_CONSTANT:
        for (size_t i = 0; i < n; i++)
            out[i] = p[0];
        break;
    case OT_DIST_NORMAL:
        ot_dist_fill_std_normal(r, out, n);
        for (size_t i = 0; i < n; i++)
            out[i] = p[0] + p[1] * out[i];
        break;
    case OT_DIST_UNIFORM:
        ot_dist_fill_uniform01(r, out, n);
        for (size_t i = 0; i < n; i++)
            out[i] = p[0] + (p[1] - p[0]) * out[i];
        break;
    case OT_DIST_TRIANGULAR:
        ot_dist_fill_uniform01(r, out, n);
        for (size_t i = 0; i < n; i++)
            out[i] = ot_dist_triangular_inv(out[i], p[0], p[1], p[2]);
        break;
    case OT_DIST_LOGNORMAL:
        ot_dist_fill_std_normal(r, out, n);
        for (size_t i = 0; i < n; i++)
            out[i] = exp(p[0] + p[1] * out[i]);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            out[i] = NAN;
        break;
    }
}

/* --- CDFs --------------------------------------------------------------- */

static double normal_cdf(double x, double mean, double std)
{
    if (std == 0)
        return x < mean ? 0.0 : 1.0;
    return 0.5 * erfc(-(x - mean) / (std * M_SQRT2));
}

double ot_dist_cdf(const ot_dist *d, double x)
{
    const double *p = d->p;
    switch (d->kind) {
    case OT_DIST_CONSTANT:
        return x < p[0] ? 0.0 : 1.0;
    case OT_DIST_NORMAL:
        return normal_cdf(x, p[0], p[1]);
    case OT_DIST_UNIFORM:
        if (x < p[0])
            return 0.0;
        if (x >= p[1])
            return 1.0;
        return (x - p[0]) / (p[1] - p[0]);
    case OT_DIST_TRIANGULAR:
        if (x <= p[0])
            return 0.0;
        if (x >= p[2])
            return 1.0;
        if (x <= p[1])
            return (x - p[0]) * (x - p[0]) / ((p[2] - p[0]) * (p[1] - p[0]));
        return 1.0 - (p[2] - x) * (p[2] - x) / ((p[2] - p[0]) * (p[2] - p[1]));
    case OT_DIST_LOGNORMAL:
        return x <= 0 ? 0.0 : normal_cdf(log(x), p[0], p[1]);
    default:
        return NAN;
    }
}
