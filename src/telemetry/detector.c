/* detector.c - the streaming anomaly detector (see detector.h).
 *
 * Owns nothing: every byte of state lives in the caller's ot_series_state.
 * Configuration parsing lives in detector_config.c, the anomaly.v1 builder in
 * detector_json.c; this file is the per-point arithmetic and the episode
 * bookkeeping shared by both methods.
 */
#include "telemetry/detector.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(ot_series_state) <= OT_SERIES_STATE_SIZE,
               "ot_series_state grew past its documented size");

enum {
    OT_SS_EPISODE = 1u << 0, /* inside an anomaly episode */
    OT_SS_MISSING = 1u << 1, /* the current gap was already reported */
    OT_SS_REGIME = 1u << 2,  /* an adopted level shift left the baseline */
};

/* sigma = sqrt(pi/2) * mean absolute deviation, for Gaussian noise. */
#define MAD_TO_SIGMA 1.2533141373155003
/* Scores of the robust map: z^4 / (z^4 + Z50^4). */
#define SCORE_Z50 2.5
/* |z| beyond which a point counts towards a level shift (and a level that
 * far from the baseline is a regime of its own), whatever the event
 * threshold: a shift is about the level, not about what is worth a page. */
#define SHIFT_Z 3.0

/* --- Names and small maps ------------------------------------------------ */

const char *ot_anomaly_kind_name(ot_anomaly_kind k)
{
    switch (k) {
    case OT_KIND_DRIFT: return "drift";
    case OT_KIND_SPIKE: return "spike";
    case OT_KIND_OUTLIER: return "outlier";
    case OT_KIND_PATTERN: return "pattern";
    case OT_KIND_MISSING: return "missing";
    case OT_KIND_NONE: break;
    }
    return "none";
}

const char *ot_severity_name(ot_severity s)
{
    switch (s) {
    case OT_SEV_LOW: return "low";
    case OT_SEV_MEDIUM: return "medium";
    case OT_SEV_HIGH: return "high";
    case OT_SEV_CRITICAL: return "critical";
    case OT_SEV_NONE: break;
    }
    return "none";
}

const char *ot_detector_recommended_next(ot_severity s)
{
    return s >= OT_SEV_HIGH ? "sim_run" : "monitor";
}

/* The prototype's cut-offs; anything below .50 is still "low" there. */
ot_severity ot_detector_severity_of_score(double score)
{
    if (score >= 0.95)
        return OT_SEV_CRITICAL;
    if (score >= 0.85)
        return OT_SEV_HIGH;
    if (score >= 0.70)
        return OT_SEV_MEDIUM;
    return OT_SEV_LOW;
}

/* A logistic on log|z|: smooth, monotone, never reaching 1, so a 40-sigma
 * point still outranks a 20-sigma one (1 - score ~ (2.5/z)^4). Written as
 * 1 / (1 + (Z50/z)^4) so it cannot overflow for huge z. */
double ot_detector_score_of_z(double absz)
{
    if (!(absz > 0))
        return 0.0;
    if (isinf(absz))
        return 1.0 - 1e-12;
    double q = SCORE_Z50 / absz;
    q *= q;
    double s = 1.0 / (1.0 + q * q);
    return s < 1.0 ? s : nextafter(1.0, 0.0);
}

void ot_series_state_init(ot_series_state *st)
{
    memset(st, 0, sizeof *st);
}

/* --- Missing data --------------------------------------------------------- */

/* Bursts of points milliseconds apart (a batch upload, a replay) would make
 * any pause look like an outage: without a configured timeout, a series is
 * "missing" only after at least this much silence. */
#define MISSING_MIN_GAP_US (10LL * 1000000)

/* The gap (microseconds) after which a series counts as missing, or 0 when
 * there is no basis for one yet. */
static int64_t missing_limit(const ot_detector_config *cfg, const ot_series_state *st)
{
    if (cfg->missing_timeout_us > 0)
        return st->n >= 1 ? cfg->missing_timeout_us : 0;
    if (st->n < 3 || !(st->interval_us > 0))
        return 0;
    double lim = cfg->missing_factor * (double)st->interval_us;
    if (lim < (double)MISSING_MIN_GAP_US)
        lim = (double)MISSING_MIN_GAP_US;
    return lim < 9e18 ? (int64_t)lim : INT64_MAX;
}

/* Fill *out as a missing-data event for a gap of gap_us against limit. The
 * score grows with how many limits the gap spans, on the same z scale. */
static void fill_missing(const ot_detector_config *cfg, int64_t gap_us, int64_t limit,
                         ot_detection *out)
{
    double ratio = (double)gap_us / (double)limit;
    out->event = true;
    out->kind = OT_KIND_MISSING;
    out->gap_us = gap_us;
    out->score = ot_detector_score_of_z(cfg->threshold * ratio);
    out->severity = ratio >= 10.0 ? OT_SEV_HIGH : OT_SEV_MEDIUM;
}

int ot_detector_check_missing(const ot_detector_config *cfg, ot_series_state *st, int64_t now_us,
                              ot_detection *out)
{
    memset(out, 0, sizeof *out);
    int64_t limit = missing_limit(cfg, st);
    if (limit <= 0 || (st->flags & OT_SS_MISSING) || now_us <= st->last_ts)
        return 0;
    int64_t gap;
    if (__builtin_sub_overflow(now_us, st->last_ts, &gap))
        gap = INT64_MAX;
    if (gap <= limit)
        return 0;
    st->flags |= OT_SS_MISSING;
    fill_missing(cfg, gap, limit, out);
    return 1;
}

/* Track the typical inter-arrival time: an EW mean of the gaps, each clipped
 * to 4x the current estimate so one outage does not teach the detector that
 * outages are normal. */
static void learn_interval(ot_series_state *st, int64_t ts_us)
{
    if (st->n == 0 || ts_us <= st->last_ts)
        return;
    double dt = (double)ts_us - (double)st->last_ts;
    double cur = st->interval_us;
    if (st->n == 1 || !(cur > 0)) {
        st->interval_us = (float)dt;
        return;
    }
    if (dt > 4.0 * cur)
        dt = 4.0 * cur;
    double a = st->n < 10 ? 1.0 / (double)st->n : 0.05;
    st->interval_us = (float)(cur + a * (dt - cur));
}

/* --- Method: the seed prototype's z-score ---------------------------------- */

static double round4(double x)
{
    return round(x * 1e4) / 1e4;
}

/* Welford's update including the point, then z against the updated
 * population variance, exactly as the prototype does (so a point pulls the
 * mean towards itself). Returns |z| (0 when not scorable) and sets out->z. */
static double zscore_point(const ot_detector_config *cfg, ot_series_state *st, double x,
                           ot_detection *out)
{
    double n = (double)st->n + 1.0;
    double delta = x - st->level;
    st->level += delta / n;
    st->scale += delta * (x - st->level);
    out->expected = st->level;
    if (st->n + 1 < cfg->min_samples)
        return 0.0;
    double var = st->scale / n;
    if (var < 1e-10)
        return 0.0;
    out->z = round4((x - st->level) / sqrt(var));
    return fabs(out->z);
}

/* --- Method: robust -------------------------------------------------------- */

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* One robust step. The point is judged against the state BEFORE it is
 * learned (causal, one step ahead):
 *   z      = (x - level) / sigma, sigma from the EW mean absolute residual;
 *   drift  = an EWMA control chart of the clipped z over drift_window points,
 *            divided by its own spread (the null value sqrt(a/(2-a)), or the
 *            learned one when the residuals are autocorrelated), which sees a
 *            small sustained shift that no single point shows;
 *   the effective |z| is the larger of the two, except that after a level
 *   shift away from the long-run baseline was adopted (an anomalous regime),
 *   a point back near the baseline is a recovery, not a new anomaly.
 * Learning uses the residual clipped to clip sigmas, so one wild point moves
 * the level and scale only a little; a run of shift_points outliers on one
 * side is a new level, adopted at once instead of firing for the many points
 * an EW level would need to catch up. Returns the effective |z|. */
static double robust_point(const ot_detector_config *cfg, ot_series_state *st, double x,
                           ot_detection *out)
{
    if (st->n == 0) {
        st->level = st->base = x;
        st->scale = 0.0;
        out->expected = x;
        return 0.0;
    }
    double floor_sigma = 1e-9 * (fabs(st->level) > 1.0 ? fabs(st->level) : 1.0);
    double sigma = MAD_TO_SIGMA * st->scale;
    if (sigma < floor_sigma)
        sigma = floor_sigma;
    double pred = st->level + (double)st->slope;
    double r = x - pred;
    double z = r / sigma;
    double nn = (double)st->n + 1.0;
    out->expected = pred;

    if (st->n < cfg->min_samples) { /* warm-up: plain running means */
        r = x - st->level;
        st->level += r / nn;
        st->base = st->level;
        st->scale += (fabs(r) - st->scale) / (nn - 1.0);
        return 0.0;
    }
    double alpha = fmax(2.0 / ((double)cfg->window + 1.0), 1.0 / nn);
    double beta = fmax(2.0 / ((double)cfg->scale_window + 1.0), 1.0 / nn);
    double gamma = fmax(2.0 / ((double)cfg->base_window + 1.0), 1.0 / nn);
    double ad = 2.0 / ((double)cfg->drift_window + 1.0);

    double zc = clampd(z, -cfg->clip, cfg->clip);
    double zbar = (double)st->zbar + ad * (zc - (double)st->zbar);
    double zbar_sd = fmax(MAD_TO_SIGMA * (double)st->zbar_scale, sqrt(ad / (2.0 - ad)));
    double drift = fabs(zbar) / zbar_sd;
    out->z = z;

    double disp = pred - st->base;
    double disp_sd = fmax(MAD_TO_SIGMA * (double)st->disp_scale, sigma * sqrt(alpha / (2.0 - alpha)));
    double roam = fabs(disp) / disp_sd;
    double zeff = fmax(fabs(z), drift);
    if (fabs(disp) <= SHIFT_Z * sigma)
        st->flags &= (uint8_t)~OT_SS_REGIME;
    if (st->flags & OT_SS_REGIME) {
        zeff = fmin(zeff, fabs(x - st->base) / sigma);
    } else if (roam > drift) {
        drift = roam;
        zeff = fmax(zeff, roam);
    }
    out->drift = drift;

    int side = z >= SHIFT_Z ? 1 : z <= -SHIFT_Z ? -1 : 0;
    if (side != 0 && (st->run == 0 || (st->run > 0) == (side > 0))) {
        st->run = (int8_t)(st->run + side);
        st->shift_sum = (float)((double)st->shift_sum + r);
    } else {
        st->run = (int8_t)side;
        st->shift_sum = side ? (float)r : 0.0f;
    }
    if ((uint32_t)abs(st->run) >= cfg->shift_points) {
        st->level = pred + (double)st->shift_sum / (double)abs(st->run);
        st->slope = 0.0f;
        if (fabs(st->level - st->base) > SHIFT_Z * sigma)
            st->flags |= OT_SS_REGIME;
        st->run = 0;
        st->shift_sum = 0.0f;
        zbar = 0.0;
    } else {
        st->level = pred + alpha * sigma * zc;
        st->slope += (float)(alpha * cfg->trend * sigma * zc);
    }
    st->scale += beta * (fmin(fabs(r), cfg->clip * sigma) - st->scale);
    st->base += gamma * clampd(x - st->base, -cfg->clip * sigma, cfg->clip * sigma);
    st->disp_scale += (float)(gamma * (fmin(fabs(disp), cfg->clip * disp_sd) - st->disp_scale));
    st->zbar_scale += (float)(beta * (fmin(fabs(zbar), cfg->clip * zbar_sd) - st->zbar_scale));
    st->zbar = (float)zbar;
    return zeff;
}

/* --- The shared per-point driver ------------------------------------------ */

/* Kind of a value anomaly: the drift detector's if it is what crossed,
 * else the prototype's spike/outlier split on |z| (the prototype also calls
 * a point exactly at the threshold a drift). */
static ot_anomaly_kind kind_of(const ot_detector_config *cfg, const ot_detection *d,
                               double zeff)
{
    double az = fabs(d->z);
    if (cfg->method == OT_DETECT_ROBUST && az < zeff)
        return OT_KIND_DRIFT;
    if (az > cfg->spike_z)
        return OT_KIND_SPIKE;
    if (az > cfg->threshold)
        return OT_KIND_OUTLIER;
    return OT_KIND_DRIFT;
}

double ot_detector_update(const ot_detector_config *cfg, ot_series_state *st, int64_t ts_us,
                          double value, ot_detection *out)
{
    memset(out, 0, sizeof *out);
    if (!isfinite(value))
        return 0.0;

    int64_t limit = missing_limit(cfg, st), gap = 0;
    if (st->n > 0 && __builtin_sub_overflow(ts_us, st->last_ts, &gap))
        gap = ts_us > st->last_ts ? INT64_MAX : INT64_MIN;
    bool gap_unreported = limit > 0 && gap > limit && !(st->flags & OT_SS_MISSING);

    double zeff;
    if (cfg->method == OT_DETECT_ZSCORE) {
        zeff = zscore_point(cfg, st, value, out);
        out->score = round4(fmin(1.0, zeff / 5.0));
    } else {
        zeff = robust_point(cfg, st, value, out);
        out->score = ot_detector_score_of_z(zeff);
    }
    learn_interval(st, ts_us);
    if (st->n == 0 || ts_us > st->last_ts)
        st->last_ts = ts_us;
    if (st->n < UINT32_MAX)
        st->n++;
    st->flags &= (uint8_t)~OT_SS_MISSING;

    out->anomalous = st->n >= cfg->min_samples && zeff >= cfg->threshold;
    if (st->flags & OT_SS_EPISODE) {
        if (out->anomalous)
            st->calm = 0;
        else if (++st->calm >= cfg->calm_points)
            st->flags &= (uint8_t)~OT_SS_EPISODE;
    } else if (out->anomalous) {
        st->flags |= OT_SS_EPISODE;
        st->calm = 0;
        out->event = true;
        out->kind = kind_of(cfg, out, zeff);
        out->severity = ot_detector_severity_of_score(out->score);
    }
    if (gap_unreported && !out->event) {
        double score = out->score;
        fill_missing(cfg, gap, limit, out);
        out->score = score; /* the point's own score still ranks the point */
    }
    return out->score;
}
