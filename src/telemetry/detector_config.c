/* detector_config.c - defaults and per-twin JSON configuration of the
 * anomaly detector (contract in detector.h). Validation names the field;
 * nothing here keeps state.
 */
#include "telemetry/detector.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

void ot_detector_config_default(ot_detector_config *cfg)
{
    *cfg = (ot_detector_config){
        .method = OT_DETECT_ROBUST,
        .threshold = 4.0,
        .spike_z = 6.0,
        .min_samples = 10,
        .window = 64,
        .scale_window = 256,
        .clip = 3.5,
        .base_window = 1024,
        .drift_window = 24,
        .trend = 0.1,
        .shift_points = 5,
        .calm_points = 12,
        .missing_factor = 5.0,
        .missing_timeout_us = 0,
    };
}

void ot_detector_config_zscore(ot_detector_config *cfg)
{
    ot_detector_config_default(cfg);
    cfg->method = OT_DETECT_ZSCORE;
    cfg->threshold = 3.0;
    cfg->spike_z = 4.0;
}

int ot_detector_method_parse(const char *s, ot_detector_method *m, ot_error *err)
{
    if (s && strcmp(s, "robust") == 0)
        *m = OT_DETECT_ROBUST;
    else if (s && strcmp(s, "zscore") == 0)
        *m = OT_DETECT_ZSCORE;
    else
        return ot_error_set(err, OT_EINVAL, "$.method",
                            "method: '%s' is not a detector; use \"robust\" or \"zscore\"",
                            s ? s : "(null)");
    return 0;
}

/* One numeric field: its JSON name, range, and where it goes. Integers are
 * checked to be whole numbers in range before the cast. */
typedef enum { F_DOUBLE, F_U32, F_SECONDS } field_type;
typedef struct {
    const char *name;
    field_type type;
    double lo, hi;
    size_t off;
} field_spec;

#define FIELD(n, t, lo, hi, member) {n, t, lo, hi, offsetof(ot_detector_config, member)}
static const field_spec fields[] = {
    FIELD("threshold", F_DOUBLE, 0.1, 1000.0, threshold),
    FIELD("spike_z", F_DOUBLE, 0.1, 1000.0, spike_z),
    FIELD("min_samples", F_U32, 1, 1000000, min_samples),
    FIELD("window", F_U32, 2, 10000000, window),
    FIELD("scale_window", F_U32, 2, 10000000, scale_window),
    FIELD("clip", F_DOUBLE, 1.0, 100.0, clip),
    FIELD("base_window", F_U32, 2, 100000000, base_window),
    FIELD("drift_window", F_U32, 2, 100000, drift_window),
    FIELD("trend", F_DOUBLE, 0.0, 1.0, trend),
    FIELD("shift_points", F_U32, 1, 127, shift_points),
    FIELD("calm_points", F_U32, 1, 65535, calm_points),
    FIELD("missing_factor", F_DOUBLE, 1.0, 1000000.0, missing_factor),
    FIELD("missing_timeout_s", F_SECONDS, 0.0, 1e9, missing_timeout_us),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static int set_field(const field_spec *f, const json_t *v, ot_detector_config *cfg,
                     ot_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "$.%s", f->name);
    if (!json_is_number(v))
        return ot_error_set(err, OT_EINVAL, path, "%s: must be a number", f->name);
    double d = json_number_value(v);
    if (!isfinite(d) || d < f->lo || d > f->hi)
        return ot_error_set(err, OT_EINVAL, path, "%s: %g is out of range [%g, %g]", f->name, d,
                            f->lo, f->hi);
    char *base = (char *)cfg + f->off;
    switch (f->type) {
    case F_DOUBLE:
        memcpy(base, &d, sizeof d);
        break;
    case F_U32: {
        if (d != floor(d))
            return ot_error_set(err, OT_EINVAL, path, "%s: must be a whole number", f->name);
        uint32_t u = (uint32_t)d;
        memcpy(base, &u, sizeof u);
        break;
    }
    case F_SECONDS: {
        int64_t us = (int64_t)llround(d * 1e6);
        memcpy(base, &us, sizeof us);
        break;
    }
    }
    return 0;
}

int ot_detector_config_from_json(const json_t *obj, ot_detector_config *cfg, ot_error *err)
{
    ot_detector_config_default(cfg);
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return ot_error_set(err, OT_EINVAL, "$", "detector configuration must be a JSON object");
    const json_t *m = json_object_get(obj, "method");
    if (m) {
        if (!json_is_string(m))
            return ot_error_set(err, OT_EINVAL, "$.method",
                                "method: must be \"robust\" or \"zscore\"");
        ot_detector_method meth;
        int rc = ot_detector_method_parse(json_string_value(m), &meth, err);
        if (rc)
            return rc;
        if (meth == OT_DETECT_ZSCORE)
            ot_detector_config_zscore(cfg);
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (strcmp(key, "method") == 0)
            continue;
        size_t i = 0;
        while (i < NFIELDS && strcmp(fields[i].name, key) != 0)
            i++;
        if (i == NFIELDS) {
            char path[OT_ERROR_PATH_MAX];
            snprintf(path, sizeof path, "$.%.200s", key);
            return ot_error_set(err, OT_EINVAL, path,
                                "%.200s: unknown detector setting (known: method, threshold, "
                                "spike_z, min_samples, window, scale_window, base_window, "
                                "drift_window, trend, clip, shift_points, calm_points, missing_factor, "
                                "missing_timeout_s)",
                                key);
        }
        int rc = set_field(&fields[i], v, cfg, err);
        if (rc)
            return rc;
    }
    return 0;
}

json_t *ot_detector_config_to_json(const ot_detector_config *cfg)
{
    return json_pack("{s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:f, s:f}",
                     "method", cfg->method == OT_DETECT_ZSCORE ? "zscore" : "robust",
                     "threshold", cfg->threshold, "spike_z", cfg->spike_z, "min_samples",
                     (json_int_t)cfg->min_samples, "window", (json_int_t)cfg->window,
                     "scale_window", (json_int_t)cfg->scale_window, "base_window",
                     (json_int_t)cfg->base_window, "drift_window", (json_int_t)cfg->drift_window,
                     "trend", cfg->trend, "clip", cfg->clip, "shift_points",
                     (json_int_t)cfg->shift_points, "calm_points", (json_int_t)cfg->calm_points,
                     "missing_factor", cfg->missing_factor, "missing_timeout_s",
                     (double)cfg->missing_timeout_us / 1e6);
}
