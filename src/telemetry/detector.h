/* detector.h - streaming anomaly detector, one small state per series.
 *
 * A series is one (twin_id, asset_id, metric). Its caller (an ingest shard
 * thread) owns an ot_series_state per series and feeds it points in arrival
 * order; the detector keeps no global state and takes no locks, so states of
 * different series may be updated from different threads, and one state from
 * one thread at a time. Work per point is O(1); a state is OT_SERIES_STATE_SIZE
 * bytes (checked by a static assert), held by value, no heap.
 *
 * Methods
 *   robust (default)  forgetting statistics: a Holt level+trend forecast
 *                     (exponentially weighted, so seasonality slower than
 *                     the window is followed) and an exponentially weighted
 *                     mean absolute deviation with outlier clipping (one
 *                     wild point cannot blind the detector); an EWMA control
 *                     chart on the standardized residual and a "roam" check
 *                     of the level against a slow, clipped baseline for
 *                     drifts too slow for any one point to show; adoption of
 *                     a confirmed level shift so a new normal stops firing,
 *                     and a return to the baseline after it is a recovery,
 *                     not a new anomaly.
 *   zscore            the seed prototype, kept for compatibility: cumulative
 *                     mean and population variance including the point
 *                     itself, threshold 3.0, min 10 samples; its score is the
 *                     prototype's min(1, |z|/5) rounded to 4 places.
 *
 * Score. Each point gets a score in [0, 1) that ranks points by how unusual
 * they are and never saturates: for the robust method
 *     score = z^4 / (z^4 + 2.5^4)       (z = the effective |z|)
 * which keeps the prototype's severity cut-offs meaning roughly what they
 * meant on its min(1, |z|/5) scale:
 *     score  .50  .675  .70  .85  .95
 *     z      2.5  3.0   3.09 3.86 5.22      (prototype: 2.5 3.0 3.5 4.25 4.75)
 *
 * Events. The detector reports one event per anomaly EPISODE, not per point:
 * an episode starts when a point's effective |z| reaches the threshold after
 * warm-up, and ends once calm_points consecutive points stay below it. A
 * series that stops reporting yields one `missing` event per gap, from
 * ot_detector_check_missing (a periodic sweep) or, if no sweep saw the gap,
 * from the first point after it.
 */
#ifndef OT_TELEMETRY_DETECTOR_H
#define OT_TELEMETRY_DETECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef enum ot_detector_method {
    OT_DETECT_ROBUST = 0,
    OT_DETECT_ZSCORE = 1,
} ot_detector_method;

typedef enum ot_anomaly_kind {
    OT_KIND_NONE = 0,
    OT_KIND_DRIFT,
    OT_KIND_SPIKE,
    OT_KIND_OUTLIER,
    OT_KIND_PATTERN,
    OT_KIND_MISSING,
} ot_anomaly_kind;

typedef enum ot_severity {
    OT_SEV_NONE = 0,
    OT_SEV_LOW,
    OT_SEV_MEDIUM,
    OT_SEV_HIGH,
    OT_SEV_CRITICAL,
} ot_severity;

/* Per-twin configuration. Fill with ot_detector_config_default, or from JSON.
 * Read-only while states use it: share one among threads freely. */
typedef struct ot_detector_config {
    ot_detector_method method;
    double threshold;       /* effective |z| that starts an episode (robust 4.0, zscore 3.0) */
    double spike_z;         /* |z| above which a point anomaly is a spike (robust 6.0, zscore 4.0) */
    uint32_t min_samples;   /* warm-up: no score before this many points (10) */
    uint32_t window;        /* robust: points of memory of the level (64) */
    uint32_t scale_window;  /* robust: points of memory of the scale (256) */
    double clip;            /* robust: residuals clipped at clip*sigma when learning (3.5) */
    uint32_t base_window;   /* robust: points of memory of the long-run baseline (1024) */
    uint32_t drift_window;  /* robust: points averaged by the EWMA drift chart (24) */
    double trend;           /* robust: Holt trend gain, 0 = level only (0.1) */
    uint32_t shift_points;  /* robust: consecutive same-side outliers that make a new level (5) */
    uint32_t calm_points;   /* points below threshold that end an episode (12) */
    double missing_factor;  /* a gap > factor * typical interval, and >= 10 s, is missing data (5) */
    int64_t missing_timeout_us; /* fixed gap limit instead, 0 = use the factor */
} ot_detector_config;

/* Sizes: one state is this many bytes (a static assert in detector.c). */
#define OT_SERIES_STATE_SIZE 64

/* Per-series state: treat as opaque, zero it (or ot_series_state_init) to
 * start a series. Plain data: copy, store or memset it as you like. */
typedef struct ot_series_state {
    int64_t last_ts;      /* microseconds of the last point */
    double level;         /* robust: EW level; zscore: cumulative mean */
    double scale;         /* robust: EW mean |residual|; zscore: M2 */
    double base;          /* robust: slow, clipped long-run baseline */
    float zbar;           /* robust: EWMA of the clipped standardized residual */
    float zbar_scale;     /* robust: EW mean |zbar| (its empirical spread) */
    float slope;          /* robust: Holt trend, per point */
    float disp_scale;     /* robust: EW mean |level - base| (how far the level roams) */
    float interval_us;    /* EW typical inter-arrival time */
    float shift_sum;      /* robust: sum of residuals of the current run */
    uint32_t n;           /* points seen (saturates) */
    uint16_t calm;        /* points below threshold since the episode's last anomaly */
    int8_t run;           /* robust: signed run of same-side outliers */
    uint8_t flags;        /* episode / missing-reported bits */
} ot_series_state;

/* What one point (or one missing-data check) produced. */
typedef struct ot_detection {
    double score;          /* [0, 1), ranks points by how unusual they are */
    double z;              /* signed standardized residual (prototype's z for zscore) */
    double drift;          /* robust: the EWMA drift chart's |z| (0 for zscore) */
    double expected;       /* the level the point was compared with */
    bool anomalous;        /* this point is beyond the threshold */
    bool event;            /* an anomaly episode starts here: publish it */
    ot_anomaly_kind kind;  /* set when event (OT_KIND_NONE otherwise) */
    ot_severity severity;  /* set when event */
    int64_t gap_us;        /* missing events: the length of the gap */
} ot_detection;

/* Defaults: the robust method with the values in parentheses above. This is
 * what the server runs for a twin without a detector setting, and what
 * `opstwin detect` runs. The robust event threshold is 4.0, not the
 * prototype's 3.0: its z is a one-step-ahead forecast error, and 3.0 fires
 * on ~0.3% of the points of pure Gaussian noise (an event every ~300 points
 * per series); 4.0 (score ~.87) is also where the NAB-style backtests peak.
 * Scores do not depend on the threshold. */
void ot_detector_config_default(ot_detector_config *cfg);

/* The prototype-compatible defaults (method zscore: threshold 3.0, spike
 * above |z| 4, min 10 samples). */
void ot_detector_config_zscore(ot_detector_config *cfg);

/* Parse "robust" / "zscore" into *m. 0, or OT_EINVAL naming the method. */
int ot_detector_method_parse(const char *s, ot_detector_method *m, ot_error *err);

/* Fill cfg from a JSON object such as
 *   {"method":"robust","threshold":3.5,"min_samples":20,"window":256,
 *    "missing_timeout_s":300}
 * Absent fields keep the method's defaults ("method" is applied first).
 * Unknown fields and out-of-range values are OT_EINVAL with err->path naming
 * the field ("$.threshold"). obj is borrowed; NULL means all defaults. */
int ot_detector_config_from_json(const json_t *obj, ot_detector_config *cfg, ot_error *err);

/* The config as JSON (new reference, caller decrefs; NULL on OOM). */
json_t *ot_detector_config_to_json(const ot_detector_config *cfg);

/* Start a series afresh. */
void ot_series_state_init(ot_series_state *st);

/* Feed one point. ts_us must not go backwards (an older point is scored but
 * does not move the interval estimate); value must be finite (a NaN or
 * infinite value is ignored and scores 0). Fills *out (required) and returns
 * out->score. O(1), no allocation. */
double ot_detector_update(const ot_detector_config *cfg, ot_series_state *st, int64_t ts_us,
                          double value, ot_detection *out);

/* Periodic sweep: has the series gone quiet? Returns 1 and fills *out with a
 * `missing` event (once per gap) if no point arrived for longer than the
 * missing limit before now_us, else 0. A series with fewer than 3 points and
 * no fixed timeout has no typical interval yet and is never missing. */
int ot_detector_check_missing(const ot_detector_config *cfg, ot_series_state *st, int64_t now_us,
                              ot_detection *out);

/* The point's score for a given effective |z| (robust map above). */
double ot_detector_score_of_z(double absz);

/* Severity on the prototype's score cut-offs (.95/.85/.70/.50; below: low). */
ot_severity ot_detector_severity_of_score(double score);

/* "drift", "spike", ...; "low", "medium", ...; never NULL. */
const char *ot_anomaly_kind_name(ot_anomaly_kind k);
const char *ot_severity_name(ot_severity s);

/* "sim_run" for high and critical, else "monitor". */
const char *ot_detector_recommended_next(ot_severity s);

/* Build an anomaly.v1 object for an event:
 *   {anomaly_id, twin_id, asset_id, metric, ts, score, kind, severity,
 *    features{"<metric>_z", "<metric>_value", "<metric>_expected",
 *             "<metric>_drift" | "<metric>_gap_s"}, recommended_next}
 * anomaly_id is "ano_" + ULID, written to id_out too when not NULL
 * (>= OT_ID_BUFSZ). Returns a new reference (caller decrefs), or NULL with
 * err filled (OT_EINVAL for a NULL name, OT_ENOMEM). */
json_t *ot_anomaly_to_json(const char *twin_id, const char *asset_id, const char *metric,
                           int64_t ts_us, double value, const ot_detection *d, char *id_out,
                           ot_error *err);

#endif
