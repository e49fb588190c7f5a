/* import_source.c - NDJSON and CSV input for `opstwin ingest`; see import.h.
 *
 * NDJSON is read a line at a time (getline), CSV a record at a time through
 * the strict reader of telemetry/csv.h. Either way an item carries the line
 * it starts on, so every rejection can be reported as FILE:LINE.
 */
#include "cli/import.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/jsonfast.h"
#include "telemetry/csv.h"
#include "telemetry/names.h"
#include "telemetry/normalize.h"

struct ot_import_source {
    FILE *in;
    ot_import_source_opts opts;
    enum ot_import_format format;
    long line_base;         /* blank lines skipped while sniffing */
    /* NDJSON */
    char *buf;
    size_t cap;
    long line;
    /* CSV */
    ot_csv_reader *csv;
    char **header;          /* column names, owned; the metric renamed by --metric */
    size_t ncols;
    int col_ts, col_twin, col_asset, col_event;
    ot_import_item pending; /* a header-less CSV's first row */
    int has_pending;
};

enum ot_import_format ot_import_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return OT_IMPORT_AUTO;
    if (strcasecmp(dot, ".csv") == 0)
        return OT_IMPORT_CSV;
    if (strcasecmp(dot, ".ndjson") == 0 || strcasecmp(dot, ".jsonl") == 0 ||
        strcasecmp(dot, ".json") == 0)
        return OT_IMPORT_NDJSON;
    return OT_IMPORT_AUTO;
}

void ot_import_item_clear(ot_import_item *it)
{
    json_decref(it->obj);
    it->obj = NULL;
    it->error[0] = '\0';
}

/* "$[12]..." -> "$..." in place. */
static void unindex(char *s)
{
    if (s[0] != '$' || s[1] != '[' || !isdigit((unsigned char)s[2]))
        return;
    char *p = s + 2;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == ']')
        memmove(s + 1, p + 1, strlen(p + 1) + 1);
}

void ot_import_describe(char *dst, size_t cap, const char *path, const char *msg)
{
    char p[OT_ERROR_PATH_MAX], m[OT_ERROR_MSG_MAX];
    snprintf(p, sizeof p, "%s", path ? path : "");
    snprintf(m, sizeof m, "%s", msg && *msg ? msg : "rejected");
    unindex(p);
    unindex(m);
    size_t plen = strlen(p);
    if (plen && strncmp(m, p, plen) != 0)
        snprintf(dst, cap, "%s: %s", p, m);
    else
        snprintf(dst, cap, "%s", m);
}

/* Skip a byte-order mark and leading white space (counting the lines), and
 * return the first byte that matters (pushed back), EOF, or -2 when the
 * input starts like a BOM but is not one (three bytes cannot be pushed back;
 * neither format can start that way). */
static int skip_blank(FILE *in, long *lines)
{
    int c = getc(in);
    if (c == 0xEF) {
        if (getc(in) != 0xBB || getc(in) != 0xBF)
            return -2;
        c = getc(in);
    }
    while (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        if (c == '\n')
            (*lines)++;
        c = getc(in);
    }
    if (c != EOF)
        ungetc(c, in);
    return c;
}

/* --- NDJSON ------------------------------------------------------------- */

/* Set key to the default when the object lacks it (or holds null / ""). */
static void fill_default(json_t *obj, const char *key, const char *dflt)
{
    json_t *v = json_object_get(obj, key);
    if (dflt && (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v))))
        json_object_set_new(obj, key, json_string(dflt));
}

static int ndjson_next(ot_import_source *s, ot_import_item *it, ot_error *err)
{
    for (;;) {
        ssize_t n = getline(&s->buf, &s->cap, s->in);
        if (n < 0)
            return ferror(s->in) ? ot_error_set(err, OT_EIO, NULL, "line %ld: read error",
                                                s->line + 1)
                                 : 0;
        s->line++;
        const char *p = s->buf;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            continue;
        json_error_t jerr;
        it->line = s->line;
        it->obj = ot_json_loadb(s->buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
        if (!it->obj) {
            ot_error e;
            ot_tel_json_error(&e, "$", "the line", s->buf, (size_t)n, &jerr, 0);
            snprintf(it->error, sizeof it->error, "%s", e.message);
        } else if (!json_is_object(it->obj)) {
            ot_import_item_clear(it);
            snprintf(it->error, sizeof it->error, "$: a telemetry item must be a JSON object");
        } else {
            fill_default(it->obj, "twin_id", s->opts.twin_id);
            fill_default(it->obj, "asset_id", s->opts.asset_id);
        }
        return 1;
    }
}

/* --- CSV ---------------------------------------------------------------- */

json_t *ot_import_csv_row(char *const *header, char *const *row, size_t n, int col_ts,
                          int col_twin, int col_asset, int col_event,
                          const ot_import_source_opts *opts, char *why, size_t whylen)
{
    json_t *obj = json_object(), *metrics = json_object();
    if (!obj || !metrics) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    if (col_ts >= 0) {
        int64_t us;
        char ts[OT_TS_BUFSZ];
        ot_error e;
        if (!row[col_ts][0]) {
            snprintf(why, whylen, "$.ts: empty; every row needs a timestamp");
            goto fail;
        }
        if (ot_tel_parse_ts_str(row[col_ts], &us, &e, "$.ts")) {
            ot_import_describe(why, whylen, e.path, e.message);
            goto fail;
        }
        json_object_set_new(obj, "ts", json_string(ot_ts_format(us, ts)));
    }
    const struct { int col; const char *key, *dflt; } ids[] = {
        {col_twin, "twin_id", opts->twin_id},
        {col_asset, "asset_id", opts->asset_id},
        {col_event, "event_id", NULL},
    };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        const char *v = ids[k].col >= 0 && row[ids[k].col][0] ? row[ids[k].col] : ids[k].dflt;
        if (v)
            json_object_set_new(obj, ids[k].key, json_string(v));
    }
    for (size_t i = 0; i < n; i++) {
        int col = (int)i;
        if (col == col_ts || col == col_twin || col == col_asset || col == col_event ||
            !row[i][0])
            continue;
        /* the normalizer judges the text, exactly as it would from JSON */
        json_t *v = json_string(row[i]);
        if (!v) {
            snprintf(why, whylen, "$.metrics: a value is not valid UTF-8");
            goto fail;
        }
        json_object_set_new(metrics, header[i], v);
    }
    json_object_set_new(obj, "metrics", metrics);
    return obj;
fail:
    json_decref(metrics);
    json_decref(obj);
    return NULL;
}

static int csv_item(ot_import_source *s, const ot_csv_record *rec, ot_import_item *it)
{
    it->line = rec->line + s->line_base;
    if (rec->nfields != s->ncols) {
        snprintf(it->error, sizeof it->error, "expected %zu fields like the header, got %zu",
                 s->ncols, rec->nfields);
        return 1;
    }
    it->obj = ot_import_csv_row(s->header, rec->fields, rec->nfields, s->col_ts, s->col_twin,
                                s->col_asset, s->col_event, &s->opts, it->error,
                                sizeof it->error);
    return 1;
}

/* The next CSV record; a parse error's "line N" counts the blank lines
 * skipped before the CSV began (the reader starts after them). */
static int csv_record(ot_import_source *s, ot_csv_record *rec, ot_error *err)
{
    int rc = ot_csv_next(s->csv, rec, err);
    if (rc < 0 && s->line_base && strncmp(err->message, "line ", 5) == 0) {
        char msg[OT_ERROR_MSG_MAX];
        long line = strtol(err->message + 5, NULL, 10) + s->line_base;
        snprintf(msg, sizeof msg, "line %ld%s", line, strchr(err->message, ':') ?: "");
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return rc;
}

static int csv_next(ot_import_source *s, ot_import_item *it, ot_error *err)
{
    if (s->has_pending) {
        *it = s->pending;
        s->has_pending = 0;
        return 1;
    }
    ot_csv_record rec;
    int rc = csv_record(s, &rec, err);
    return rc == 1 ? csv_item(s, &rec, it) : rc;
}

/* Find the special columns and check the metric ones. */
static int csv_columns(ot_import_source *s, ot_error *err)
{
    size_t nmetric = 0, imetric = 0;
    s->col_ts = s->col_twin = s->col_asset = s->col_event = -1;
    for (size_t i = 0; i < s->ncols; i++) {
        const char *h = s->header[i];
        int *col = strcmp(h, "ts") == 0 || strcmp(h, "timestamp") == 0 ? &s->col_ts
                   : strcmp(h, "twin_id") == 0                         ? &s->col_twin
                   : strcmp(h, "asset_id") == 0                        ? &s->col_asset
                   : strcmp(h, "event_id") == 0                        ? &s->col_event
                                                                       : NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->header[j], h) == 0)
                return ot_error_set(err, OT_EINVAL, NULL, "the CSV header names '%s' twice", h);
        if (col && *col >= 0)
            return ot_error_set(err, OT_EINVAL, NULL,
                                "the CSV header has two timestamp columns (ts, timestamp)");
        if (col) {
            *col = (int)i;
            continue;
        }
        if (!ot_tel_token_ok(h, strlen(h), OT_METRIC_NAME_LEN))
            return ot_error_set(err, OT_EINVAL, NULL,
                                "CSV column '%.64s' is not a metric name (1-64 characters of "
                                "A-Z a-z 0-9 _ . : -)",
                                h);
        nmetric++;
        imetric = i;
    }
    if (s->col_ts < 0)
        return ot_error_set(err, OT_EINVAL, NULL, "the CSV header has no ts (or timestamp) column");
    if (s->col_twin < 0 && !s->opts.twin_id)
        return ot_error_set(err, OT_EINVAL, NULL,
                            "the CSV header has no twin_id column: add one or pass --twin-id");
    if (s->col_asset < 0 && !s->opts.asset_id)
        return ot_error_set(err, OT_EINVAL, NULL,
                            "the CSV header has no asset_id column: add one or pass --asset-id");
    if (nmetric == 0)
        return ot_error_set(err, OT_EINVAL, NULL, "the CSV header has no metric column");
    if (s->opts.metric) {
        if (nmetric != 1)
            return ot_error_set(err, OT_EINVAL, NULL,
                                "--metric names the one metric column, but the header has %zu",
                                nmetric);
        char *m = strdup(s->opts.metric);
        if (!m)
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        free(s->header[imetric]);
        s->header[imetric] = m;
    }
    return 0;
}

static int set_header(ot_import_source *s, char *const *names, size_t n, ot_error *err)
{
    s->header = calloc(n, sizeof *s->header);
    if (!s->header)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    s->ncols = n;
    for (size_t i = 0; i < n; i++)
        if (!(s->header[i] = strdup(names[i])))
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    return csv_columns(s, err);
}

/* The first record: a header, or (with --metric) the first timestamp,value row. */
static int csv_header(ot_import_source *s, ot_csv_record *first, ot_error *err)
{
    if (ot_csv_is_header(first))
        return set_header(s, first->fields, first->nfields, err);
    if (first->nfields == 2 && s->opts.metric) {
        char *names[2] = {"timestamp", (char *)s->opts.metric};
        int rc = set_header(s, names, 2, err);
        if (!rc) {
            csv_item(s, first, &s->pending);
            s->has_pending = 1;
        }
        return rc;
    }
    return ot_error_set(err, OT_EINVAL, NULL,
                        "line %ld: the CSV needs a header row (ts,twin_id,asset_id,<metric>...); "
                        "for header-less timestamp,value rows pass --metric NAME",
                        first->line + s->line_base);
}

/* --- public ------------------------------------------------------------- */

int ot_import_source_open(FILE *in, const ot_import_source_opts *opts, ot_import_source **out,
                          ot_error *err)
{
    ot_import_source *s = calloc(1, sizeof *s);
    int rc = 0;
    if (!s)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    s->in = in;
    s->opts = *opts;
    int c = skip_blank(in, &s->line_base);
    if (c == -2) {
        rc = ot_error_set(err, OT_EINVAL, NULL, "line 1: the input starts with bytes that are "
                          "neither a UTF-8 byte-order mark nor text");
        goto out;
    }
    s->format = opts->format != OT_IMPORT_AUTO ? opts->format
                : c == '{'                      ? OT_IMPORT_NDJSON
                                                : OT_IMPORT_CSV;
    s->line = s->line_base;
    if (s->format == OT_IMPORT_CSV && c != EOF) { /* empty input: no items, no header */
        s->csv = ot_csv_open(in, 0, 0);
        ot_csv_record first;
        if (!s->csv) {
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
            goto out;
        }
        rc = csv_record(s, &first, err);
        if (rc == 0)
            rc = ot_error_set(err, OT_EINVAL, NULL, "the CSV input is empty");
        if (rc < 0)
            goto out;
        rc = csv_header(s, &first, err);
    }
out:
    if (rc) {
        ot_import_source_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void ot_import_source_close(ot_import_source *s)
{
    if (!s)
        return;
    free(s->buf);
    ot_csv_close(s->csv);
    for (size_t i = 0; s->header && i < s->ncols; i++)
        free(s->header[i]);
    free(s->header);
    if (s->has_pending)
        ot_import_item_clear(&s->pending);
    free(s);
}

enum ot_import_format ot_import_source_format(const ot_import_source *s) { return s->format; }

int ot_import_source_next(ot_import_source *s, ot_import_item *it, ot_error *err)
{
    memset(it, 0, sizeof *it);
    if (s->format == OT_IMPORT_CSV)
        return s->csv ? csv_next(s, it, err) : 0;
    return ndjson_next(s, it, err);
}
