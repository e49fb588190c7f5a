/* import.h - the parts of `opstwin ingest`: an input source that turns NDJSON
 * or CSV lines into telemetry.v1 objects, and two sinks that store batches of
 * them, one over HTTP (a running server) and one straight into a data folder.
 *
 *   FILE|- --source--> items {line, object | local error}
 *                        --batch--> sink: http  (POST /telemetry/ingest)
 *                                         direct (ot_store_write_sync)
 *                        <-- one result per item: accepted, duplicate or
 *                            rejected with a message ("$.metrics.x: ...")
 *
 * Both sinks apply exactly the server's item rules (normalize.h, the twin's
 * ingest profile, the telemetry.v1 schema check), so a file is accepted or
 * rejected item by item the same way in either mode, and messages name
 * fields as "$.field" (never the index inside a batch).
 *
 * Ownership: items returned by the source belong to the caller
 * (ot_import_item_clear). Sinks borrow the batch for the call only.
 * Thread-safety: one source and one sink per thread; no shared state.
 */
#ifndef OT_CLI_IMPORT_H
#define OT_CLI_IMPORT_H

#include <jansson.h>
#include <stdio.h>

#include "core/error.h"

/* --- source ------------------------------------------------------------- */

enum ot_import_format { OT_IMPORT_AUTO, OT_IMPORT_NDJSON, OT_IMPORT_CSV };

typedef struct ot_import_source_opts {
    enum ot_import_format format; /* AUTO: by extension, else by the first byte */
    const char *twin_id;          /* fills an absent/empty twin_id, or NULL */
    const char *asset_id;         /* fills an absent/empty asset_id, or NULL */
    const char *metric;           /* CSV: the name of the one metric column */
} ot_import_source_opts;

typedef struct ot_import_item {
    long line;                     /* physical line (1-based) the item starts on */
    json_t *obj;                   /* the telemetry object, or NULL when ... */
    char error[OT_ERROR_MSG_MAX];  /* ... the line was rejected locally: why */
} ot_import_item;

typedef struct ot_import_source ot_import_source;

/* The format a file name implies: .csv -> CSV; .ndjson, .jsonl, .json ->
 * NDJSON; anything else (and "-") AUTO. */
enum ot_import_format ot_import_format_of(const char *path);

/* Read items from in (borrowed, the caller closes it). With AUTO the first
 * non-blank byte decides: '{' NDJSON, anything else CSV. For CSV the header
 * is read here: it must name ts (or timestamp), twin_id and asset_id unless
 * opts supplies them, may name event_id, and every other column is a
 * metric. A header-less two-column CSV is read as timestamp,value when
 * opts->metric is set. Returns 0, or OT_EINVAL (a usage problem: what is
 * missing and which flag supplies it), OT_EIO, OT_ENOMEM with err filled. */
int ot_import_source_open(FILE *in, const ot_import_source_opts *opts, ot_import_source **out,
                          ot_error *err);
void ot_import_source_close(ot_import_source *s);

/* The format in use (NDJSON or CSV) once open. */
enum ot_import_format ot_import_source_format(const ot_import_source *s);

/* Next item: 1 and *it filled (clear it after use), 0 at the end of input,
 * or a negative code when the input cannot be read further (malformed CSV
 * quoting, a read error): err says where ("line 7: ..."). */
int ot_import_source_next(ot_import_source *s, ot_import_item *it, ot_error *err);

void ot_import_item_clear(ot_import_item *it);

/* Build a telemetry object from one CSV row (pure; exposed for tests).
 * header/row have n fields; col_* are column indexes or -1. Empty cells are
 * absent. Metric values are passed as strings for the normalizer to judge;
 * ts is parsed with ot_tel_parse_ts_str and sent as RFC 3339. Returns the
 * object (caller owns), or NULL with why filled. */
json_t *ot_import_csv_row(char *const *header, char *const *row, size_t n, int col_ts,
                          int col_twin, int col_asset, int col_event,
                          const ot_import_source_opts *opts, char *why, size_t whylen);

/* A rejection as the user reads it: "PATH: MESSAGE" (just MESSAGE when it
 * already starts with PATH, or PATH is empty or NULL), with a batch index
 * taken out ("$[12].metrics.x" -> "$.metrics.x"), so an item's message is
 * the same whichever batch it was in and in either mode. */
void ot_import_describe(char *dst, size_t cap, const char *path, const char *msg);

/* --- sinks ------------------------------------------------------------- */

enum ot_import_status { OT_IMPORT_ACCEPTED, OT_IMPORT_DUPLICATE, OT_IMPORT_REJECTED };

typedef struct ot_import_result {
    int status;                     /* enum ot_import_status */
    char message[OT_ERROR_MSG_MAX]; /* REJECTED: why */
} ot_import_result;

/* A sink: each implementation embeds this struct as its first member. */
typedef struct ot_import_sink ot_import_sink;
struct ot_import_sink {
    int (*send)(ot_import_sink *k, json_t *const *objs, size_t n, ot_import_result *res,
                ot_error *err);
    void (*close)(ot_import_sink *k);
};

/* A running server at base_url (http://host:port, no path). token may be
 * NULL. The connection is made lazily and kept alive between batches. */
int ot_import_http_open(const char *base_url, const char *token, ot_import_sink **out,
                        ot_error *err);

/* The data folder dir, created if missing, for a stopped server. Fails with
 * OT_EBUSY when a server (or another import) holds the folder's lock. */
int ot_import_direct_open(const char *dir, ot_import_sink **out, ot_error *err);

/* Store objs[0..n) and fill res[0..n). Returns 0 when every item got a
 * result (some may be rejected), or a negative code when the batch could
 * not be stored at all (server unreachable, 5xx after retries, database
 * error): err says why, and res is unspecified. */
static inline int ot_import_sink_send(ot_import_sink *k, json_t *const *objs, size_t n,
                                      ot_import_result *res, ot_error *err)
{
    return k->send(k, objs, n, res, err);
}

/* Close the connection or the store (everything sent is durable). NULL ok. */
static inline void ot_import_sink_close(ot_import_sink *k)
{
    if (k)
        k->close(k);
}

#endif
