/* detector_json.c - the anomaly.v1 document for a detector event (contract
 * in detector.h). Stateless; the returned object belongs to the caller.
 */
#include "telemetry/detector.h"

#include <math.h>
#include <stdio.h>

#include "core/clock.h"
#include "core/ids.h"

/* Add features[metric + suffix] = v; skips non-finite values, which JSON
 * cannot carry. Returns 0 or -1 on OOM. */
static int add_feature(json_t *features, const char *metric, const char *suffix, double v)
{
    if (!isfinite(v))
        return 0;
    char key[256];
    snprintf(key, sizeof key, "%.200s%s", metric, suffix);
    return json_object_set_new(features, key, json_real(v));
}

json_t *ot_anomaly_to_json(const char *twin_id, const char *asset_id, const char *metric,
                           int64_t ts_us, double value, const ot_detection *d, char *id_out,
                           ot_error *err)
{
    if (!twin_id || !asset_id || !metric || !d) {
        ot_error_set(err, OT_EINVAL, NULL, "anomaly needs a twin_id, asset_id, metric and detection");
        return NULL;
    }
    char id[OT_ID_BUFSZ], ts[OT_TS_BUFSZ];
    ot_id_new("ano", id);
    ot_ts_format(ts_us, ts);

    json_t *features = json_object();
    int bad = !features;
    if (!bad && d->kind == OT_KIND_MISSING) {
        bad |= add_feature(features, metric, "_gap_s", (double)d->gap_us / 1e6);
    } else if (!bad) {
        bad |= add_feature(features, metric, "_z", d->z);
        bad |= add_feature(features, metric, "_value", value);
        bad |= add_feature(features, metric, "_expected", d->expected);
        if (d->drift > 0)
            bad |= add_feature(features, metric, "_drift", d->drift);
    }
    json_t *o = bad ? NULL
                    : json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:o, s:s}", "anomaly_id",
                                id, "twin_id", twin_id, "asset_id", asset_id, "metric", metric,
                                "ts", ts, "score", d->score, "kind",
                                ot_anomaly_kind_name(d->kind), "severity",
                                ot_severity_name(d->severity), "features", features,
                                "recommended_next", ot_detector_recommended_next(d->severity));
    if (!o) {
        if (bad)
            json_decref(features);
        ot_error_set(err, bad ? OT_ENOMEM : OT_EINVAL, NULL,
                     "could not build the anomaly: %s",
                     bad ? "out of memory" : "an id is not valid UTF-8 (or out of memory)");
        return NULL;
    }
    if (id_out)
        snprintf(id_out, OT_ID_BUFSZ, "%s", id);
    return o;
}
