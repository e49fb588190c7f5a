/* cmd_detect.c - `opstwin detect CSV_FILE`: backtest the server's anomaly
 * detector on a timestamp,value CSV.
 *
 * One series, streamed row by row through exactly the code path the ingest
 * shards use (ot_detector_update with ot_detector_config_default, or the
 * prototype's method with --method zscore): causal, each row scored before it
 * is learned. Prints `timestamp,value,anomaly_score` and one row per input
 * row, timestamp and value echoed as given, the score with 6 decimals.
 * Exit 0 done, 1 the file could not be read, 2 usage error or a bad row
 * (named by line; --skip-bad warns and skips it instead).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "telemetry/csv.h"
#include "telemetry/detector.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: opstwin detect [--method robust|zscore] [--config JSON_FILE] [--skip-bad]\n"
            "                      CSV_FILE\n"
            "\n"
            "Backtest the server's streaming anomaly detector on one series.\n"
            "CSV_FILE ('-' for standard input) has rows `timestamp,value`, with an\n"
            "optional header row. Timestamps: RFC 3339, 'YYYY-MM-DD HH:MM:SS' (UTC),\n"
            "or Unix seconds or milliseconds. Output on stdout, one row per input row:\n"
            "  timestamp,value,anomaly_score\n"
            "the score in [0,1) with 6 decimals (higher = more unusual; 0.5 is |z| 2.5,\n"
            "~0.87 the robust event threshold |z| 4, .70/.85/.95 the medium/high/\n"
            "critical cut-offs).\n"
            "\n"
            "options:\n"
            "  --method M   robust (default, what the server runs) or zscore (the\n"
            "               seed prototype: cumulative mean/variance, min(1,|z|/5))\n"
            "  --config F   detector settings as a twin would have them, a JSON object\n"
            "               such as {\"method\":\"robust\",\"threshold\":3.5}; absent\n"
            "               fields keep the defaults (overrides --method)\n"
            "  --skip-bad   warn about and skip rows whose timestamp or value does not\n"
            "               parse (default: stop with exit 2 naming the line)\n"
            "  -h, --help   this help\n");
}

/* Timestamps as the ingest API takes them: RFC 3339 / "YYYY-MM-DD HH:MM:SS",
 * or a plain number of Unix seconds (milliseconds when it is too large to
 * be seconds: beyond the year 5138). */
static int parse_ts(const char *s, int64_t *us)
{
    if (ot_ts_parse(s, us) == 0)
        return 0;
    if (!*s || strchr(s, 'e') || strchr(s, 'E') || strchr(s, 'x') || strchr(s, 'X'))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < 0)
        return -1;
    double usd = v >= 1e11 ? v * 1e3 : v * 1e6;
    if (usd > 9.0e18)
        return -1;
    *us = (int64_t)llround(usd);
    return 0;
}

static int parse_value(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return (*s && !*end && errno != ERANGE && isfinite(*v)) ? 0 : -1;
}

typedef struct {
    const char *path;
    ot_detector_config cfg;
    int skip_bad;
} detect_opts;

/* Why a row is bad, or NULL if it is good (then *ts and *v are set). */
static const char *check_row(const ot_csv_record *rec, int64_t *ts, double *v)
{
    if (rec->nfields != 2)
        return "expected 2 fields: timestamp,value";
    if (parse_ts(rec->fields[0], ts))
        return "timestamp is not RFC 3339, 'YYYY-MM-DD HH:MM:SS' or Unix seconds/ms";
    if (parse_value(rec->fields[1], v))
        return "value is not a finite number";
    return NULL;
}

/* Stream in through one series state to out. Returns the exit code. */
static int run(const detect_opts *o, FILE *in, FILE *out)
{
    ot_csv_reader *r = ot_csv_open(in, 0, 16);
    if (!r) {
        fprintf(stderr, "opstwin detect: out of memory\n");
        return 1;
    }
    ot_series_state st;
    ot_series_state_init(&st);
    ot_csv_record rec;
    ot_error err;
    ot_error_clear(&err);
    int rc, status = 0, first = 1;
    fprintf(out, "timestamp,value,anomaly_score\n");
    while ((rc = ot_csv_next(r, &rec, &err)) == 1) {
        if (first && ot_csv_is_header(&rec)) {
            first = 0;
            continue;
        }
        first = 0;
        int64_t ts;
        double v;
        const char *why = check_row(&rec, &ts, &v);
        if (why) {
            fprintf(stderr, "opstwin detect: %s:%ld: %s\n", o->path, rec.line, why);
            if (o->skip_bad)
                continue;
            status = 2;
            break;
        }
        ot_detection d;
        double score = ot_detector_update(&o->cfg, &st, ts, v, &d);
        fprintf(out, "%s,%s,%.6f\n", rec.fields[0], rec.fields[1], score);
    }
    if (rc < 0) {
        fprintf(stderr, "opstwin detect: %s: %s\n", o->path, err.message);
        status = rc == OT_EINVAL ? 2 : 1;
    }
    if (fflush(out) != 0 && status == 0) {
        fprintf(stderr, "opstwin detect: writing output: %s\n", strerror(errno));
        status = 1;
    }
    ot_csv_close(r);
    return status;
}

/* --config: a per-twin detector object, validated like the API does. */
static int load_config(const char *path, ot_detector_config *cfg)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        return ot_cli_usage_error("detect", "--config %s: line %d: %s", path, jerr.line,
                                  jerr.text);
    ot_error err;
    ot_error_clear(&err);
    int rc = ot_detector_config_from_json(j, cfg, &err);
    json_decref(j);
    if (rc)
        return ot_cli_usage_error("detect", "--config %s: %s", path, err.message);
    return 0;
}

int ot_cmd_detect(int argc, char **argv)
{
    detect_opts o = {0};
    ot_detector_config_default(&o.cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (ot_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--skip-bad") == 0) {
            o.skip_bad = 1;
        } else if (strcmp(a, "--method") == 0 || strncmp(a, "--method=", 9) == 0) {
            const char *m = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            ot_detector_method meth;
            if (!m)
                return ot_cli_usage_error("detect", "--method needs a value: robust or zscore");
            if (ot_detector_method_parse(m, &meth, NULL))
                return ot_cli_usage_error("detect", "unknown method '%s': use robust or zscore",
                                          m);
            if (meth == OT_DETECT_ZSCORE)
                ot_detector_config_zscore(&o.cfg);
            else
                ot_detector_config_default(&o.cfg);
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return ot_cli_usage_error("detect", "--config needs a JSON file");
            int rc = load_config(argv[++i], &o.cfg);
            if (rc)
                return rc;
        } else if (a[0] == '-' && a[1] != '\0') {
            return ot_cli_usage_error("detect", "unknown option '%s'", a);
        } else if (o.path) {
            return ot_cli_usage_error("detect", "one CSV file at a time ('%s' and '%s')", o.path,
                                      a);
        } else {
            o.path = a;
        }
    }
    if (!o.path)
        return ot_cli_usage_error("detect", "missing CSV_FILE");
    FILE *in = strcmp(o.path, "-") == 0 ? stdin : fopen(o.path, "rb");
    if (!in) {
        fprintf(stderr, "opstwin detect: cannot open %s: %s\n", o.path, strerror(errno));
        return 1;
    }
    int status = run(&o, in, stdout);
    if (in != stdin)
        fclose(in);
    return status;
}
