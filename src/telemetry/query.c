/* query.c - see query.h. */
#include "telemetry/query.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aiw/events.h"
#include "api/app.h"
#include "core/clock.h"
#include "store/store.h"
#include "telemetry/normalize.h"

#define QUERY_MAX_ROWS 10000
#define AGG_MAX_BUCKETS 100000

int ot_window_parse(const char *s, int64_t *us)
{
    static const struct { const char *name; int64_t us; } units[] = {
        {"second", 1000000LL}, {"minute", 60000000LL}, {"hour", 3600000000LL},
        {"day", 86400000000LL}, {"s", 1000000LL}, {"m", 60000000LL}, {"h", 3600000000LL},
        {"d", 86400000000LL}, {"sec", 1000000LL}, {"min", 60000000LL},
    };
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    long n = strtol(s, &end, 10);
    if (n < 1 || n > 1000000)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    size_t len = strlen(end);
    while (len && isspace((unsigned char)end[len - 1]))
        len--;
    /* exact unit, or a plural of a long unit ("minutes", "secs") */
    for (int plural = 0; plural < 2; plural++) {
        size_t l = plural ? len - 1 : len;
        if (plural && (len < 3 || (end[len - 1] != 's' && end[len - 1] != 'S')))
            break;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].name) == l && (!plural || l > 1) &&
                strncasecmp(end, units[i].name, l) == 0) {
                *us = n * units[i].us;
                return 0;
            }
    }
    return -1;
}

/* Common parameters; replies and returns -1 on bad input. start_time and
 * end_time take the forms a record's ts does (ot_tel_parse_ts_str: RFC
 * 3339, "YYYY-MM-DD HH:MM:SS", Unix time with its unit by magnitude),
 * read exactly to the microsecond, and are refused with its reasons. */
static int time_range(ot_req *req, int64_t *start, int64_t *end)
{
    const char *s = ot_req_query(req, "start_time"), *e = ot_req_query(req, "end_time");
    *start = INT64_MIN;
    *end = INT64_MAX;
    ot_error err;
    if ((s && *s && ot_tel_parse_ts_str(s, start, &err, "$.start_time")) ||
        (e && *e && ot_tel_parse_ts_str(e, end, &err, "$.end_time"))) {
        ot_reply_error(req, &err);
        return -1;
    }
    if (*start > *end) {
        ot_reply_errorf(req, OT_EINVAL, "$.end_time", "end_time is before start_time");
        return -1;
    }
    return 0;
}

static const char *name_param(ot_req *req, const char *name, int required)
{
    const char *v = ot_req_query(req, name);
    char path[64];
    snprintf(path, sizeof path, "$.%s", name);
    if (!v || !*v) {
        if (required)
            ot_reply_errorf(req, OT_EINVAL, path, "%s is required", name);
        return NULL;
    }
    if (!ot_name_valid(v, 128)) {
        ot_reply_errorf(req, OT_EINVAL, path, "%s must be 1-128 characters of A-Z a-z 0-9 _ . : -",
                        name);
        return NULL;
    }
    return v;
}

/* The optional asset_id: *asset is NULL when absent or empty. -1 when it
 * was refused (the reply is sent). */
static int asset_param(ot_req *req, const char **asset)
{
    const char *a = ot_req_query(req, "asset_id");
    if (a && *a && !(a = name_param(req, "asset_id", 0)))
        return -1;
    *asset = a && *a ? a : NULL;
    return 0;
}

/* --- reads of derived data --------------------------------------------------
 * Telemetry queries, aggregates and latest values come from the store's
 * derived data, which may wait in memory for a while (store.h). A request
 * reads it once it holds every record acknowledged before the request
 * came, and waits for that without holding its HTTP thread. */

typedef void (*derived_handler)(ot_req *req, int64_t upto);

struct derived_wait {
    ot_store_write w;     /* flush_derived only */
    ot_req *req;
    int64_t upto;
    derived_handler h;
};

static void derived_written(ot_store_write *w, void *ctx)
{
    (void)w;
    ot_req_complete(((struct derived_wait *)ctx)->req);
}

static void derived_resume(ot_req *req)
{
    struct derived_wait *dw = req->defer_ctx;
    derived_handler h = dw->h;
    int64_t upto = dw->upto;
    ot_error e = dw->w.err;
    int failed = dw->w.rc != 0;
    free(dw);
    if (failed) { /* the database failed: nothing to read yet, retry */
        e.code = OT_EUNAVAIL;
        ot_reply_error(req, &e);
        return;
    }
    h(req, upto);
}

static void with_derived(ot_req *req, derived_handler h)
{
    ot_store *st = req->app->store;
    int64_t upto = ot_store_last_cursor(st);
    if (ot_store_derived_ready(st, upto)) {
        h(req, upto);
        return;
    }
    struct derived_wait *dw = calloc(1, sizeof *dw);
    if (!dw) {
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    *dw = (struct derived_wait){.w = {.flush_derived = 1, .done = derived_written, .ctx = dw},
                                .req = req, .upto = upto, .h = h};
    ot_req_defer(req, derived_resume, dw);
    int rc = ot_store_submit(st, &dw->w);
    if (rc) {
        ot_req_undefer(req);
        free(dw);
        ot_reply_errorf(req, rc, NULL, "the store cannot take the request now; retry");
    }
}

static void aggregate_read(ot_req *req, int64_t upto);
static void twins_read(ot_req *req, int64_t upto);
static void twin_read(ot_req *req, int64_t upto);
static void telemetry_query_read(ot_req *req, int64_t upto);

void ot_h_telemetry_query(ot_req *req) { with_derived(req, telemetry_query_read); }

void ot_h_telemetry_aggregate(ot_req *req) { with_derived(req, aggregate_read); }
void ot_h_twins(ot_req *req) { with_derived(req, twins_read); }
void ot_h_twin(ot_req *req) { with_derived(req, twin_read); }

static void telemetry_query_read(ot_req *req, int64_t upto)
{
    const char *twin = name_param(req, "twin_id", 1);
    if (!twin)
        return;
    const char *asset;
    if (asset_param(req, &asset))
        return;
    int64_t start, end;
    if (time_range(req, &start, &end))
        return;
    int limit = 1000;
    const char *ls = ot_req_query(req, "limit");
    if (ls) {
        char *e;
        long v = strtol(ls, &e, 10);
        if (!*ls || *e || v < 1 || v > QUERY_MAX_ROWS) {
            ot_reply_errorf(req, OT_EINVAL, "$.limit", "limit must be an integer from 1 to %d",
                            QUERY_MAX_ROWS);
            return;
        }
        limit = (int)v;
    }
    ot_error err;
    ot_error_clear(&err);
    json_t *rows = ot_store_query_telemetry(req->app->store, upto, twin, asset, start, end, limit,
                                            &err);
    if (!rows) {
        ot_reply_error(req, &err);
        return;
    }
    size_t n = json_array_size(rows);
    ot_reply_json(req, 200, json_pack("{s:o, s:I}", "rows", rows, "count", (json_int_t)n));
}

static void aggregate_read(ot_req *req, int64_t upto)
{
    static const struct { const char *name; enum ot_agg_fn fn; } fns[] = {
        {"avg", OT_AGG_AVG}, {"min", OT_AGG_MIN}, {"max", OT_AGG_MAX},
        {"sum", OT_AGG_SUM}, {"count", OT_AGG_COUNT}, {"stddev", OT_AGG_STDDEV},
    };
    const char *twin = name_param(req, "twin_id", 1);
    if (!twin)
        return;
    const char *metric = name_param(req, "metric_name", 1);
    if (!metric)
        return;
    const char *asset;
    if (asset_param(req, &asset))
        return;
    int64_t window = 60000000LL, start, end;
    const char *w = ot_req_query(req, "window");
    if (w && ot_window_parse(w, &window)) {
        ot_reply_errorf(req, OT_EINVAL, "$.window",
                        "window '%.40s' is not a count and a unit such as '10 seconds', "
                        "'1 minute', '1 hour', '1 day'",
                        w);
        return;
    }
    const char *fs = ot_req_query(req, "function");
    enum ot_agg_fn fn = OT_AGG_AVG;
    if (fs) {
        int found = 0;
        for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
            if (strcmp(fs, fns[i].name) == 0) {
                fn = fns[i].fn;
                found = 1;
            }
        if (!found) {
            ot_reply_errorf(req, OT_EINVAL, "$.function",
                            "function '%.40s' is not one of avg, min, max, sum, count, stddev", fs);
            return;
        }
    }
    if (time_range(req, &start, &end))
        return;
    ot_error err;
    ot_error_clear(&err);
    json_t *b = ot_store_aggregate(req->app->store, upto, twin, asset, metric, start, end,
                                   window, fn, AGG_MAX_BUCKETS, &err);
    if (!b) {
        ot_reply_error(req, &err);
        return;
    }
    ot_reply_json(req, 200,
                  json_pack("{s:s, s:s, s:s, s:I, s:o}", "twin_id", twin, "metric_name", metric,
                            "function", fs ? fs : "avg", "window_seconds",
                            (json_int_t)(window / 1000000), "buckets", b));
}

static void twins_read(ot_req *req, int64_t upto)
{
    ot_error err;
    ot_error_clear(&err);
    json_t *latest = ot_store_latest(req->app->store, upto, NULL, &err);
    if (!latest) {
        ot_reply_error(req, &err);
        return;
    }
    json_t *list = json_array();
    const char *twin;
    json_t *assets;
    json_object_foreach(latest, twin, assets) {
        json_t *names = json_array();
        const char *asset;
        json_t *metrics;
        const char *last_seen = NULL;
        json_object_foreach(assets, asset, metrics) {
            json_array_append_new(names, json_string(asset));
            const char *m;
            json_t *v;
            json_object_foreach(metrics, m, v) {
                const char *ts = json_string_value(json_object_get(v, "ts"));
                if (ts && (!last_seen || strcmp(ts, last_seen) > 0))
                    last_seen = ts;
            }
        }
        json_array_append_new(list, json_pack("{s:s, s:o, s:s?}", "twin_id", twin, "assets",
                                              names, "last_seen", last_seen));
    }
    json_decref(latest);
    size_t n = json_array_size(ot_req_scope_filter(req, list));
    ot_reply_json(req, 200, json_pack("{s:o, s:I}", "twins", list, "count", (json_int_t)n));
}

/* The set-points ({"key": value}) out of the stored setpoints document.
 * Steals doc. */
static json_t *parameters_of(json_t *doc)
{
    json_t *v = json_incref(json_object_get(doc, "values"));
    json_decref(doc);
    return v ? v : json_object();
}

static void twin_read(ot_req *req, int64_t upto)
{
    const char *twin = ot_req_param(req, "twin_id");
    if (!ot_name_valid(twin, 128)) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.twin_id", "no twin '%.60s'", twin);
        return;
    }
    ot_store *st = req->app->store;
    ot_error err;
    ot_error_clear(&err);
    json_t *latest = ot_store_latest(st, upto, twin, &err);
    if (!latest) {
        ot_reply_error(req, &err);
        return;
    }
    json_t *assets = json_incref(json_object_get(latest, twin));
    json_decref(latest);
    json_t *anomalies = ot_store_list_docs(st, "anomaly", twin, "open", 100, &err);
    json_t *proposals = ot_store_list_docs(st, "proposal", twin, "pending", 100, &err);
    char *params = ot_store_get_doc(st, "setpoints", twin, NULL);
    char *model = ot_store_get_doc(st, "model", twin, NULL);
    char *profile = ot_store_get_doc(st, "ingest_profile", twin, NULL);
    json_t *jp = params ? json_loads(params, 0, NULL) : NULL;
    json_t *jm = model ? json_loads(model, 0, NULL) : NULL;
    json_t *ji = profile ? json_loads(profile, 0, NULL) : NULL;
    free(params);
    free(model);
    free(profile);
    if (!assets && !jm && !ji && !jp) {
        json_decref(anomalies);
        json_decref(proposals);
        ot_reply_errorf(req, OT_ENOTFOUND, "$.twin_id",
                        "no twin '%s': it has sent no telemetry and has no model", twin);
        return;
    }
    ot_reply_json(req, 200,
                  json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "twin_id", twin, "assets",
                            assets ? assets : json_object(), "open_anomalies",
                            anomalies ? anomalies : json_array(), "pending_proposals",
                            proposals ? proposals : json_array(), "parameters",
                            jp ? parameters_of(jp) : json_object(), "model",
                            jm ? jm : json_null(),
                            "ingest_profile", ji ? ji : json_null()));
}
