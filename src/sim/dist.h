/* dist.h - parameter distributions: JSON specs, block samplers, CDFs.
 *
 * A spec is what twin_model.v1 puts under "parameters": a bare number (a
 * constant) or an object {"dist": KIND, ...}:
 *   constant   value
 *   normal     mean, std            (std >= 0)
 *   uniform    low, high            (low <= high)
 *   triangular left, mode, right    (left <= mode <= right, left < right)
 *   lognormal  mean, sigma          exp(N(mean, sigma)): "mean" and "sigma"
 *                                   are the mu and sigma of the underlying
 *                                   normal (of the log), not of the result
 *   telemetry  asset_id, metric, std = 0, default?   the latest value of that
 *                                   metric, plus N(0, std) noise
 *   setpoint   key, default?        the twin's current set-point
 * telemetry and setpoint are bindings: the caller resolves them to a value
 * (ot_dist_bind) before sampling; everything else is sampled directly.
 *
 * Ownership: ot_dist is a plain value (fixed-size strings), copy freely.
 * Thread-safety: all functions are reentrant; samplers touch only the rng
 * they are given.
 */
#ifndef OT_SIM_DIST_H
#define OT_SIM_DIST_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"
#include "sim/rng.h"

typedef enum ot_dist_kind {
    OT_DIST_CONSTANT,
    OT_DIST_NORMAL,
    OT_DIST_UNIFORM,
    OT_DIST_TRIANGULAR,
    OT_DIST_LOGNORMAL,
    OT_DIST_TELEMETRY,
    OT_DIST_SETPOINT
} ot_dist_kind;

#define OT_DIST_STR_MAX 128

typedef struct ot_dist {
    ot_dist_kind kind;
    /* constant: value; normal: mean, std; uniform: low, high; triangular:
     * left, mode, right; lognormal: mean (mu), sigma; telemetry: std. */
    double p[3];
    int has_default; /* telemetry, setpoint: value when nothing is known */
    double def;
    char asset_id[OT_DIST_STR_MAX]; /* telemetry */
    char metric[OT_DIST_STR_MAX];   /* telemetry */
    char key[OT_DIST_STR_MAX];      /* setpoint */
} ot_dist;

/* A constant distribution. */
ot_dist ot_dist_constant(double value);

/* Parse a spec (number or object) found at JSON path `path` (e.g.
 * "$.parameters.temperature"). Unknown fields, missing fields and invalid
 * values are OT_EINVAL with err->path naming the field. */
int ot_dist_parse(const json_t *spec, const char *path, ot_dist *out, ot_error *err);

/* The spec as JSON (new reference; NULL only on out of memory). */
json_t *ot_dist_to_json(const ot_dist *d);

/* "normal", "telemetry", ... */
const char *ot_dist_kind_name(ot_dist_kind k);

/* 1 for telemetry and setpoint, which need ot_dist_bind before sampling. */
int ot_dist_is_binding(const ot_dist *d);

/* 1 if every sample is the same value (a constant). */
int ot_dist_is_constant(const ot_dist *d);

/* Turn a binding into a samplable spec given the looked-up value:
 * telemetry -> normal(value, std) (constant when std == 0),
 * setpoint -> constant(value). Other kinds are copied unchanged. */
ot_dist ot_dist_bind(const ot_dist *d, double value);

/* Fill out[0..n) with samples of d (not a binding: those yield NaN). */
void ot_dist_fill(const ot_dist *d, ot_rng *r, double *out, size_t n);

/* n standard normal draws (256-layer ziggurat; about 1.02 64-bit words per
 * draw) and n uniform (0,1) draws. */
void ot_dist_fill_std_normal(ot_rng *r, double *out, size_t n);
void ot_dist_fill_uniform01(ot_rng *r, double *out, size_t n);

/* Inverse CDF of triangular(left, mode, right) at u in (0,1). */
double ot_dist_triangular_inv(double u, double left, double mode, double right);

/* CDF of d at x (for tests and diagnostics). Bindings return NaN. */
double ot_dist_cdf(const ot_dist *d, double x);

#endif
