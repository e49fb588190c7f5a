/* cmd_ingest.c - `opstwin ingest FILE|-`: bulk-import NDJSON or CSV
 * telemetry history into a running server (HTTP) or a stopped server's data
 * folder (direct).
 *
 * Contract: items are read in order and sent in batches of --batch; each
 * item is accepted, a duplicate (its event_id was stored before: nothing is
 * stored twice) or rejected with its line and the server's reason. Rejected
 * items store nothing; their neighbours are stored. The first 20 rejections
 * are printed to stderr as FILE:LINE: message, all are counted. When
 * stderr is a terminal a progress line is redrawn at most 10 times a second.
 * The summary goes to stdout:
 *   imported N items (A accepted, R rejected, D duplicates) in T s (X items/s)
 * Exit 0 every item accepted (duplicates count as accepted), 1 some rejected
 * or the input, server or data folder failed part-way (what was sent before
 * stays stored), 2 usage error (flags, or a CSV header that cannot be read).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/import.h"
#include "core/clock.h"
#include "core/log.h"
#include "telemetry/names.h"

#define DEFAULT_URL "http://127.0.0.1:8000"
#define DEFAULT_BATCH 1000
#define MAX_BATCH 100000
#define SHOW_REJECTED 20
#define REDRAW_NS (100 * 1000000LL)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: opstwin ingest [options] FILE|-\n"
            "\n"
            "Bulk-import telemetry history, into a running server over HTTP (the\n"
            "default) or straight into the data folder of a stopped server (--data-dir).\n"
            "\n"
            "input (FILE, or '-' for standard input):\n"
            "  NDJSON  one telemetry.v1 object per line: {\"twin_id\", \"asset_id\",\n"
            "          \"metrics\": {name: number}, \"ts\"?, \"tags\"?, \"event_id\"?}\n"
            "  CSV     a header row naming ts (or timestamp), twin_id, asset_id and\n"
            "          optionally event_id; every other column is a metric, an empty\n"
            "          cell leaves it out. Timestamps: RFC 3339, 'YYYY-MM-DD HH:MM:SS'\n"
            "          (UTC), or Unix seconds/milliseconds.\n"
            "  The format is --format, else the extension (.csv; .ndjson .jsonl .json),\n"
            "  else the first byte ('{' is NDJSON).\n"
            "\n"
            "options:\n"
            "  --url URL       server to send to (default $OPSTWIN_URL, else\n"
            "                  " DEFAULT_URL ")\n"
            "  --token T       bearer token for the server (default $OPSTWIN_TOKEN)\n"
            "  --data-dir DIR  write into DIR directly instead; refused while a server\n"
            "                  runs on it. With $DATABASE_URL set (postgresql://...),\n"
            "                  into that database, as the server would\n"
            "  --batch N       items per request or transaction (default %d, max %d)\n"
            "  --format F      csv or ndjson\n"
            "  --twin-id ID    twin_id for items (rows) that have none\n"
            "  --asset-id ID   asset_id for items (rows) that have none\n"
            "  --metric NAME   CSV: the name of the one metric column, e.g. for a\n"
            "                  timestamp,value file (which may then lack a header)\n"
            "  -h, --help      this help\n"
            "\n"
            "Both modes check items exactly as POST /telemetry/ingest does. Rejected\n"
            "items are reported as FILE:LINE: why (the first %d) and store nothing;\n"
            "items with an event_id are stored once however often they are imported.\n"
            "Exit status: 0 every item accepted (duplicates included), 1 some rejected\n"
            "or the server or data folder could not be used, 2 usage error.\n",
            DEFAULT_BATCH, MAX_BATCH, SHOW_REJECTED);
}

typedef struct ingest_opts {
    const char *path, *url, *data_dir, *token;
    long batch;
    ot_import_source_opts src;
} ingest_opts;

/* What happened so far, and the progress line's state. */
typedef struct tally {
    const char *name;    /* input name in messages */
    long items, accepted, rejected, duplicates;
    int64_t t0_ns, drawn_ns;
    int tty, drawn;
} tally;

/* --- output ------------------------------------------------------------- */

static void progress_clear(tally *t)
{
    if (t->drawn) {
        fputs("\r\033[K", stderr);
        t->drawn = 0;
    }
}

static double elapsed_s(const tally *t) { return (double)(ot_mono_ns() - t->t0_ns) / 1e9; }

static void progress_draw(tally *t, int force)
{
    int64_t now = ot_mono_ns();
    if (!t->tty || (!force && now - t->drawn_ns < REDRAW_NS))
        return;
    double s = elapsed_s(t);
    fprintf(stderr, "\r%ld items  %.0f items/s  %ld accepted  %ld rejected\033[K", t->items,
            s > 0 ? (double)t->items / s : 0.0, t->accepted, t->rejected);
    fflush(stderr);
    t->drawn_ns = now;
    t->drawn = 1;
}

static void count(tally *t, long line, int status, const char *why)
{
    t->items++;
    if (status != OT_IMPORT_REJECTED) {
        t->accepted++;
        t->duplicates += status == OT_IMPORT_DUPLICATE;
        return;
    }
    if (++t->rejected <= SHOW_REJECTED) {
        progress_clear(t);
        fprintf(stderr, "%s:%ld: %s\n", t->name, line, why);
    }
}

static void summary(tally *t)
{
    progress_clear(t);
    if (t->rejected > SHOW_REJECTED)
        fprintf(stderr, "(%ld more rejected items not shown)\n", t->rejected - SHOW_REJECTED);
    double s = elapsed_s(t);
    printf("imported %ld items (%ld accepted, %ld rejected, %ld duplicates) in %.2f s "
           "(%.0f items/s)\n",
           t->items, t->accepted, t->rejected, t->duplicates, s,
           s > 0 ? (double)t->items / s : 0.0);
    fflush(stdout);
}

/* --- the import loop ---------------------------------------------------- */

typedef struct batch {
    ot_import_item *items; /* in input order; some rejected locally (obj NULL) */
    json_t **objs;         /* the items' objects, in order */
    ot_import_result *res; /* one per obj */
    size_t n, nobj;
} batch;

/* Send the batch, count every item in line order, empty the batch. */
static int flush(batch *b, ot_import_sink *sink, tally *t, ot_error *err)
{
    int rc = b->nobj ? ot_import_sink_send(sink, b->objs, b->nobj, b->res, err) : 0;
    for (size_t i = 0, k = 0; i < b->n; i++) {
        ot_import_item *it = &b->items[i];
        if (!rc && it->obj) {
            count(t, it->line, b->res[k].status, b->res[k].message);
            k++;
        } else if (!rc) {
            count(t, it->line, OT_IMPORT_REJECTED, it->error);
        }
        ot_import_item_clear(it);
    }
    b->n = b->nobj = 0;
    progress_draw(t, 0);
    return rc;
}

/* Read, batch and send until the input ends. Returns the exit status. */
static int run(const ingest_opts *o, ot_import_source *src, ot_import_sink *sink, tally *t)
{
    batch b = {0};
    ot_error serr, kerr; /* source, sink */
    ot_error_clear(&serr);
    ot_error_clear(&kerr);
    int src_rc = 0, sink_rc = 0, status = 1;
    size_t cap = (size_t)o->batch;
    b.items = calloc(cap, sizeof *b.items);
    b.objs = calloc(cap, sizeof *b.objs);
    b.res = calloc(cap, sizeof *b.res);
    if (!b.items || !b.objs || !b.res) {
        fprintf(stderr, "opstwin ingest: out of memory\n");
        goto out;
    }
    for (;;) {
        src_rc = ot_import_source_next(src, &b.items[b.n], &serr);
        if (src_rc <= 0)
            break;
        if (b.items[b.n].obj)
            b.objs[b.nobj++] = b.items[b.n].obj;
        if (++b.n == cap && (sink_rc = flush(&b, sink, t, &kerr)) != 0)
            break;
    }
    /* after an input error too: what came before it is stored */
    if (!sink_rc)
        sink_rc = flush(&b, sink, t, &kerr);
    progress_clear(t);
    if (sink_rc)
        fprintf(stderr, "opstwin ingest: %s\n", kerr.message);
    if (src_rc < 0)
        fprintf(stderr, "opstwin ingest: %s: %s\n", t->name, serr.message);
    status = sink_rc || src_rc < 0;
out:
    for (size_t i = 0; b.items && i < b.n; i++)
        ot_import_item_clear(&b.items[i]);
    free(b.items);
    free(b.objs);
    free(b.res);
    return status;
}

/* --- arguments ---------------------------------------------------------- */

/* argv[*i] is NAME (value in the next argument) or NAME=VALUE: 1 with *val
 * set (NULL when the value is missing), else 0. */
static int flag(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return 0;
    if (argv[*i][len] == '=')
        *val = argv[*i] + len + 1;
    else if (argv[*i][len] == '\0')
        *val = *i + 1 < argc ? argv[++*i] : NULL;
    else
        return 0;
    return 1;
}

static int parse_args(int argc, char **argv, ingest_opts *o)
{
    static const char *const names[] = {"--url",     "--token",   "--data-dir", "--batch",
                                        "--format",  "--twin-id", "--asset-id", "--metric"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] && !flag(argc, argv, &i, names[k], &v))
            k++;
        if (k == sizeof names / sizeof names[0]) {
            if (a[0] == '-' && a[1] != '\0')
                return ot_cli_usage_error("ingest", "unknown option '%s'", a);
            if (o->path)
                return ot_cli_usage_error("ingest", "one input at a time ('%s' and '%s')",
                                          o->path, a);
            o->path = a;
            continue;
        }
        if (!v)
            return ot_cli_usage_error("ingest", "%s needs a value", names[k]);
        switch (k) {
        case 0: o->url = v; break;
        case 1: o->token = v; break;
        case 2: o->data_dir = v; break;
        case 3: {
            char *end;
            errno = 0;
            o->batch = strtol(v, &end, 10);
            if (*end || errno || o->batch < 1 || o->batch > MAX_BATCH)
                return ot_cli_usage_error("ingest", "--batch '%s': a number from 1 to %d", v,
                                          MAX_BATCH);
            break;
        }
        case 4:
            if (strcmp(v, "csv") == 0)
                o->src.format = OT_IMPORT_CSV;
            else if (strcmp(v, "ndjson") == 0 || strcmp(v, "jsonl") == 0)
                o->src.format = OT_IMPORT_NDJSON;
            else
                return ot_cli_usage_error("ingest", "--format '%s': use csv or ndjson", v);
            break;
        case 5: o->src.twin_id = v; break;
        case 6: o->src.asset_id = v; break;
        default: o->src.metric = v; break;
        }
    }
    return 0;
}

/* Cross-checks and defaults after parsing. */
static int check_args(ingest_opts *o, int url_flag)
{
    if (!o->path)
        return ot_cli_usage_error("ingest", "missing FILE (or '-' for standard input)");
    if (o->data_dir && url_flag)
        return ot_cli_usage_error("ingest", "--url and --data-dir exclude each other: send to a "
                                            "server, or write its stopped data folder");
    if (!o->url || !*o->url)
        o->url = DEFAULT_URL;
    if (!o->data_dir && strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
        return ot_cli_usage_error("ingest", "--url '%s': expected http://HOST:PORT", o->url);
    const struct { const char *v, *flag; size_t max; } ids[] = {
        {o->src.twin_id, "--twin-id", OT_TEL_ID_LEN},
        {o->src.asset_id, "--asset-id", OT_TEL_ID_LEN},
        {o->src.metric, "--metric", OT_METRIC_NAME_LEN},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].v && !ot_tel_token_ok(ids[i].v, strlen(ids[i].v), ids[i].max))
            return ot_cli_usage_error("ingest", "%s '%s': 1-%zu characters of A-Z a-z 0-9 _ . : -",
                                      ids[i].flag, ids[i].v, ids[i].max);
    if (o->src.format == OT_IMPORT_AUTO)
        o->src.format = ot_import_format_of(o->path);
    return 0;
}

int ot_cmd_ingest(int argc, char **argv)
{
    ingest_opts o = {.batch = DEFAULT_BATCH};
    for (int i = 1; i < argc; i++)
        if (ot_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    int url_flag = o.url != NULL;
    if (!o.url)
        o.url = getenv("OPSTWIN_URL");
    if (!o.token)
        o.token = getenv("OPSTWIN_TOKEN");
    if ((rc = check_args(&o, url_flag)))
        return rc;

    int stdin_in = strcmp(o.path, "-") == 0;
    FILE *in = stdin_in ? stdin : fopen(o.path, "rb");
    ot_import_source *src = NULL;
    ot_import_sink *sink = NULL;
    ot_error err;
    ot_error_clear(&err);
    tally t = {.name = stdin_in ? "<stdin>" : o.path, .tty = isatty(STDERR_FILENO)};
    int status = 1;
    if (!in) {
        fprintf(stderr, "opstwin ingest: cannot open %s: %s\n", o.path, strerror(errno));
        goto out;
    }
    if ((rc = ot_import_source_open(in, &o.src, &src, &err))) {
        fprintf(stderr, "opstwin ingest: %s: %s\n", t.name, err.message);
        status = rc == OT_EINVAL ? 2 : 1;
        goto out;
    }
    ot_log_set_level(OT_LOG_WARNING); /* the store's info lines are not ours to show */
    rc = o.data_dir ? ot_import_direct_open(o.data_dir, &sink, &err)
                    : ot_import_http_open(o.url, o.token, &sink, &err);
    if (rc) {
        if (rc == OT_EBUSY)
            fprintf(stderr, "opstwin ingest: %s; stop it first, or import through it with "
                            "--url http://HOST:PORT\n", err.message);
        else
            fprintf(stderr, "opstwin ingest: %s\n", err.message);
        goto out;
    }
    t.t0_ns = ot_mono_ns();
    status = run(&o, src, sink, &t);
    ot_import_sink_close(sink); /* direct: waits until everything is durable */
    sink = NULL;
    summary(&t);
    if (status == 0 && t.rejected)
        status = 1;
out:
    ot_import_sink_close(sink);
    ot_import_source_close(src);
    if (in && !stdin_in)
        fclose(in);
    return status;
}
