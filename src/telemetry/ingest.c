/* ingest.c - see ingest.h. */
#include "telemetry/ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "api/app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/jsonfast.h"
#include "store/store.h"
#include "telemetry/names.h"
#include "telemetry/normalize.h"
#include "telemetry/pipeline.h"

/* --- the one ingest path: normalize, validate, store, feed ------------------- */

/* The tree the schema check reads (normalize.h's ot_tel_json), one per
 * thread, kept between requests: a single-event request would otherwise
 * build and free a tree of ~15 nodes for its one record, which cost it more
 * than the check itself. Freed when the thread exits. */
static pthread_key_t canon_key;
static pthread_once_t canon_once = PTHREAD_ONCE_INIT;
static int canon_key_ok;

static void canon_free(void *p)
{
    ot_tel_json_clear(p);
    free(p);
}

static void canon_key_init(void) { canon_key_ok = pthread_key_create(&canon_key, canon_free) == 0; }

static ot_tel_json *thread_canon(void)
{
    pthread_once(&canon_once, canon_key_init);
    if (!canon_key_ok)
        return NULL;
    ot_tel_json *c = pthread_getspecific(canon_key);
    if (!c && (c = calloc(1, sizeof *c)) && pthread_setspecific(canon_key, c)) {
        free(c);
        c = NULL;
    }
    return c;
}

struct bitem {
    ot_tel tel;
    size_t json_off, json_len; /* its canonical text, stored: text.data + json_off */
};

struct ot_ingest_batch {
    ot_app *app;
    ot_ingest_scope_fn scope_ok;
    void *scope_ctx;
    size_t n, cap;
    struct bitem *items;
    ot_buf text;          /* the items' canonical texts, each NUL-terminated */
    ot_store_tel *stels;
    const char **names;
    double *values;
    struct { char twin[OT_TEL_ID_MAX]; ot_profile_ref *ref; } *refs; /* profiles in use */
    int nrefs, caprefs;
    int prepared;
    ot_ingest_done_fn done;
    void *done_ctx;
    ot_store_write w;
};

ot_ingest_batch *ot_ingest_batch_new(ot_app *app, ot_ingest_scope_fn scope_ok, void *scope_ctx)
{
    ot_ingest_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->app = app;
    b->scope_ok = scope_ok;
    b->scope_ctx = scope_ctx;
    return b;
}

void ot_ingest_batch_free(ot_ingest_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        ot_tel_clear(&b->items[i].tel);
    ot_buf_free(&b->text);
    for (int i = 0; i < b->nrefs; i++)
        ot_profile_ref_release(b->refs[i].ref);
    free(b->refs);
    free(b->items);
    free(b->stels);
    free(b->names);
    free(b->values);
    free(b);
}

size_t ot_ingest_batch_count(const ot_ingest_batch *b) { return b->n; }

/* The twin's profile, held for the batch's life (a batch names few twins,
 * so a linear search is fine). */
static const ot_ingest_profile *profile_for(ot_ingest_batch *b, const char *twin)
{
    for (int i = 0; i < b->nrefs; i++)
        if (strcmp(b->refs[i].twin, twin) == 0)
            return b->refs[i].ref ? b->refs[i].ref->p : NULL;
    if (b->nrefs == b->caprefs) {
        int cap = b->caprefs ? b->caprefs * 2 : 4;
        void *r = realloc(b->refs, (size_t)cap * sizeof *b->refs);
        if (!r)
            return NULL;
        b->refs = r;
        b->caprefs = cap;
    }
    ot_profile_ref *r = ot_profiles_acquire(b->app->profiles, twin);
    ot_strlcpy(b->refs[b->nrefs].twin, twin, OT_TEL_ID_MAX);
    b->refs[b->nrefs++].ref = r;
    return r ? r->p : NULL;
}

static int grow_items(ot_ingest_batch *b, size_t cap)
{
    void *p = realloc(b->items, cap * sizeof *b->items);
    if (!p)
        return OT_ENOMEM;
    b->items = p;
    b->cap = cap;
    return 0;
}

/* A canonical text is ~230 bytes for two metrics (ot_tel_render); texts
 * are reserved for at most TEXT_ITEMS records (1 MiB), so a request of many
 * tiny or invalid items does not reserve for texts it never writes. */
#define TEXT_PER_ITEM 256
#define TEXT_ITEMS 4096

int ot_ingest_batch_reserve(ot_ingest_batch *b, size_t n)
{
    if (n > b->cap && grow_items(b, n))
        return OT_ENOMEM;
    size_t texts = n < TEXT_ITEMS ? n : TEXT_ITEMS;
    return ot_buf_reserve(&b->text, texts * TEXT_PER_ITEM) ? OT_ENOMEM : 0;
}

/* A free slot at the end of items (not yet counted). */
static struct bitem *next_slot(ot_ingest_batch *b)
{
    if (b->n == b->cap && grow_items(b, b->cap ? b->cap * 2 : 8))
        return NULL;
    memset(&b->items[b->n], 0, sizeof b->items[b->n]);
    return &b->items[b->n];
}

/* Scope check, schema check and rendering of a normalized record; keeps it
 * on success. */
static int keep_item(ot_ingest_batch *b, struct bitem *it, const char *prefix, ot_error *err)
{
    if (b->scope_ok && !b->scope_ok(b->scope_ctx, it->tel.twin_id)) {
        char path[48];
        snprintf(path, sizeof path, "%s.twin_id", prefix);
        ot_error_set(err, OT_EFORBIDDEN, path, "twin '%s' is outside the token's scope",
                     it->tel.twin_id);
        goto fail;
    }
    if (b->app->check_telemetry) {
        ot_tel_json *tree = thread_canon();
        const json_t *canon = tree ? ot_tel_json_of(tree, &it->tel) : NULL;
        int rc = canon ? b->app->check_telemetry(b->app->check_ctx, canon, prefix, err)
                       : ot_error_set(err, OT_ENOMEM, prefix, "out of memory");
        if (rc)
            goto fail;
    }
    it->json_off = b->text.len;
    int rc = ot_tel_render(&it->tel, &b->text);
    it->json_len = b->text.len - it->json_off;
    if (rc || (ot_buf_append(&b->text, "", 1), b->text.failed)) {
        ot_error_set(err, OT_ENOMEM, prefix, "out of memory");
        goto fail;
    }
    b->prepared = 0;
    return (int)b->n++;
fail:
    ot_tel_clear(&it->tel);
    return err->code ? err->code : OT_EINVAL;
}

int ot_ingest_batch_add(ot_ingest_batch *b, const json_t *doc, const char *prefix, int64_t now_us,
                        ot_error *err)
{
    if (!prefix)
        prefix = "$";
    if (!json_is_object(doc))
        return ot_error_set(err, OT_EINVAL, prefix, "%s: a telemetry item must be a JSON object",
                            prefix);
    struct bitem *it = next_slot(b);
    if (!it)
        return ot_error_set(err, OT_ENOMEM, prefix, "out of memory");
    const char *twin = json_string_value(json_object_get(doc, "twin_id"));
    const ot_ingest_profile *prof =
        twin && ot_name_valid(twin, 128) ? profile_for(b, twin) : NULL;
    if (ot_tel_normalize(doc, prof, now_us, prefix, &it->tel, err))
        return err->code ? err->code : OT_EINVAL;
    return keep_item(b, it, prefix, err);
}

int ot_ingest_batch_add_bare(ot_ingest_batch *b, const json_t *metrics, const char *twin_id,
                             const char *asset_id, int64_t now_us, ot_error *err)
{
    struct bitem *it = next_slot(b);
    if (!it)
        return ot_error_set(err, OT_ENOMEM, "$", "out of memory");
    const ot_ingest_profile *prof =
        twin_id && ot_name_valid(twin_id, 128) ? profile_for(b, twin_id) : NULL;
    if (ot_tel_normalize_bare(metrics, twin_id, asset_id, prof, now_us, &it->tel, err))
        return err->code ? err->code : OT_EINVAL;
    return keep_item(b, it, "$", err);
}

void ot_ingest_store_tel(const ot_tel *t, const char *json, size_t json_len, const char **names,
                         double *values, ot_store_tel *st)
{
    for (size_t j = 0; j < t->nmetrics; j++) {
        names[j] = t->metrics[j].name;
        values[j] = t->metrics[j].value;
    }
    *st = (ot_store_tel){.event_id = t->event_id, .twin_id = t->twin_id,
                         .asset_id = t->asset_id, .ts_us = t->ts_us, .nmetrics = t->nmetrics,
                         .metric_names = names, .metric_values = values, .json = json,
                         .json_len = json_len, .client_id = t->event_id_given};
}

ot_store_write *ot_ingest_batch_write(ot_ingest_batch *b)
{
    if (b->prepared)
        return &b->w;
    size_t nmetrics = 0;
    for (size_t i = 0; i < b->n; i++)
        nmetrics += b->items[i].tel.nmetrics;
    free(b->stels);
    free(b->names);
    free(b->values);
    b->stels = calloc(b->n ? b->n : 1, sizeof *b->stels);
    b->names = calloc(nmetrics ? nmetrics : 1, sizeof *b->names);
    b->values = calloc(nmetrics ? nmetrics : 1, sizeof *b->values);
    if (!b->stels || !b->names || !b->values)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ot_tel *t = &b->items[i].tel;
        ot_ingest_store_tel(t, b->text.data + b->items[i].json_off, b->items[i].json_len,
                            &b->names[m], &b->values[m], &b->stels[i]);
        m += t->nmetrics;
    }
    ot_store_audit *audit = b->w.audit;
    memset(&b->w, 0, sizeof b->w);
    b->w.audit = audit;
    b->w.tels = b->stels;
    b->w.ntels = b->n;
    b->prepared = 1;
    return &b->w;
}

/* Committed (or failed): feed detection, then the owner (which may free the
 * batch, so feed first). The store's syncer thread. */
static void batch_done(ot_store_write *w, void *ctx)
{
    ot_ingest_batch *b = ctx;
    if (w->rc == 0 && b->app->pipeline)
        ot_pipeline_feed(b->app->pipeline, w->tels, w->ntels);
    b->done(b, b->done_ctx);
}

int ot_ingest_batch_submit(ot_ingest_batch *b, ot_ingest_done_fn done, void *ctx)
{
    ot_store_write *w = ot_ingest_batch_write(b);
    if (!w)
        return OT_ENOMEM;
    b->done = done;
    b->done_ctx = ctx;
    w->done = batch_done;
    w->ctx = b;
    return ot_store_submit(b->app->store, w);
}

const ot_store_tel *ot_ingest_batch_tel(const ot_ingest_batch *b, size_t i)
{
    return b->prepared && i < b->n ? &b->stels[i] : NULL;
}

int ot_ingest_batch_rc(const ot_ingest_batch *b, ot_error *err)
{
    if (b->w.rc && err) {
        *err = b->w.err;
        if (err->code == OT_OK)
            err->code = b->w.rc;
    }
    return b->w.rc;
}

/* --- POST /telemetry/ingest ------------------------------------------------ */

/* An item of the request: accepted (err NULL, bidx its record in the
 * batch) or rejected (err, owned). Errors are kept only for rejected items:
 * an ot_error is ~800 bytes, a 1,000-item request would zero 800 KB. */
struct item {
    size_t bidx;
    ot_error *err;
};

struct ingest {
    ot_req *req;
    int single;
    size_t n, nok;
    struct item *items;
    ot_ingest_batch *b;
};

static void ingest_free(struct ingest *g)
{
    if (!g)
        return;
    ot_ingest_batch_free(g->b);
    for (size_t i = 0; g->items && i < g->n; i++)
        free(g->items[i].err);
    free(g->items);
    free(g);
}

static int req_scope_ok(void *ctx, const char *twin) { return ot_req_scope_ok(ctx, twin); }

/* The path of item i's errors, "$[i]", or "$" for a single object (i =
 * (size_t)-1); out holds 32 bytes. No printf: it runs per item. */
static void item_prefix(char *out, size_t i)
{
    out[0] = '$';
    out[1] = '\0';
    if (i != (size_t)-1) {
        out[1] = '[';
        size_t k = 2 + ot_fmt_u64(out + 2, i);
        out[k] = ']';
        out[k + 1] = '\0';
    }
}

/* Split the body into items: one object, an array, or NDJSON. Returns the
 * parsed documents (a JSON array). An NDJSON line that does not parse is a
 * null there, and its parse error is in *bad under its index ("3"); *bad is
 * NULL when every line parsed. */
static json_t *split_body(ot_req *req, int *single, json_t **bad)
{
    const char *b = req->body ? req->body : "";
    size_t len = req->body_len;
    const char *ct = ot_req_header(req, "Content-Type");
    int ndjson = ct && (strstr(ct, "ndjson") || strstr(ct, "jsonl") || strstr(ct, "json-seq"));
    json_error_t jerr;
    *single = 0;
    *bad = NULL;
    if (ot_req_body_blank(req)) {
        ot_reply_errorf(req, OT_EINVAL, "$", "request body is empty; send a telemetry object, "
                        "a JSON array of them, or NDJSON (one per line)");
        return NULL;
    }
    if (!ndjson) {
        json_t *doc = ot_json_loadb(b, len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc) {
            if (json_is_array(doc))
                return doc;
            *single = 1;
            json_t *arr = json_array();
            json_array_append_new(arr, doc);
            return arr;
        }
        if (!strstr(jerr.text, "end of file expected")) {
            ot_error err;
            ot_tel_json_error(&err, "$", "request body", b, len, &jerr, 1);
            ot_reply_error(req, &err);
            return NULL;
        }
        /* several documents: NDJSON without its content type */
    }
    json_t *arr = json_array();
    int line = 0;
    for (const char *p = b, *end = b + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        const char *q = p; /* RS (0x1E) leads each record of application/json-seq */
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r' || *q == 0x1e))
            q++;
        if (q < e) {
            json_t *doc = ot_json_loadb(q, (size_t)(e - q), JSON_REJECT_DUPLICATES, &jerr);
            if (!doc) {
                char what[32], item[32], idx[24];
                ot_error err;
                snprintf(what, sizeof what, "line %d", line);
                item_prefix(item, json_array_size(arr));
                ot_tel_json_error(&err, item, what, q, (size_t)(e - q), &jerr, 0);
                snprintf(idx, sizeof idx, "%zu", json_array_size(arr));
                if (!*bad)
                    *bad = json_object();
                json_object_set_new(*bad, idx, json_string(err.message));
                doc = json_null();
            }
            json_array_append_new(arr, doc);
        }
        p = e + 1;
    }
    return arr;
}

/* The error message, led by the field's path unless it already names it
 * ("$.metrics.temp_c: ..."), so the message alone says which field. */
static void named_message(const ot_error *e, char *out, size_t n)
{
    if (e->path[0] && !strstr(e->message, e->path))
        snprintf(out, n, "%s: %s", e->path, e->message);
    else
        snprintf(out, n, "%s", e->message);
}

static void reply_results(ot_req *req);

/* Telemetry committed (detection already fed): let the reply go. Writer
 * thread. */
static void on_ingested(ot_ingest_batch *b, void *ctx)
{
    (void)b;
    ot_req_complete(ctx);
}


void ot_h_ingest(ot_req *req)
{
    ot_app *app = req->app;
    int single;
    json_t *bad;
    json_t *docs = split_body(req, &single, &bad);
    if (!docs)
        return;
    size_t n = json_array_size(docs);
    if (n == 0) {
        json_decref(docs);
        json_decref(bad);
        ot_reply_errorf(req, OT_EINVAL, "$", "no telemetry items in the request body");
        return;
    }
    struct ingest *g = calloc(1, sizeof *g);
    if (g) {
        g->items = calloc(n, sizeof *g->items);
        g->b = ot_ingest_batch_new(app, req_scope_ok, req);
    }
    if (!g || !g->items || !g->b || ot_ingest_batch_reserve(g->b, n)) {
        ingest_free(g);
        json_decref(docs);
        json_decref(bad);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    g->req = req;
    g->single = single;
    g->n = n;
    int64_t now = ot_now_us();
    int oom = 0;
    for (size_t i = 0; i < n && !oom; i++) {
        json_t *d = json_array_get(docs, i);
        char prefix[32];
        item_prefix(prefix, single ? (size_t)-1 : i);
        struct item *it = &g->items[i];
        ot_error err;
        ot_error_clear(&err);
        const char *unparsed = NULL;
        if (bad) {
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            unparsed = json_string_value(json_object_get(bad, idx));
        }
        int k = unparsed ? ot_error_set(&err, OT_EINVAL, prefix, "%s", unparsed)
                         : ot_ingest_batch_add(g->b, d, prefix, now, &err);
        if (k >= 0) {
            it->bidx = (size_t)k;
            g->nok++;
        } else if ((it->err = malloc(sizeof *it->err)) != NULL) {
            *it->err = err;
        } else {
            oom = 1;
        }
    }
    json_decref(docs);
    json_decref(bad);
    if (oom) {
        ingest_free(g);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }

    if (g->nok == 0) {
        json_t *details = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(details, json_pack("{s:s, s:s}", "path", g->items[i].err->path,
                                                     "message", g->items[i].err->message));
        int code = g->items[0].err->code ? g->items[0].err->code : OT_EINVAL;
        char msg[OT_ERROR_MSG_MAX + OT_ERROR_PATH_MAX + 8];
        if (single)
            named_message(g->items[0].err, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "all %zu items were rejected; nothing was stored", n);
        ot_reply_error_details(req, code, msg, details);
        ingest_free(g);
        return;
    }

    /* one store write for every valid item */
    ot_store_write *w = ot_ingest_batch_write(g->b);
    if (!w) {
        ingest_free(g);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    {
        char target[64];
        snprintf(target, sizeof target, "%zu telemetry items", g->nok);
        ot_req_audit(req, w, target);
    }
    ot_req_defer(req, reply_results, g);
    int rc = ot_ingest_batch_submit(g->b, on_ingested, req);
    if (rc) {
        /* not queued: answer now */
        ot_req_undefer(req);
        ingest_free(g);
        if (rc == OT_EBUSY)
            ot_reply_errorf(req, OT_EBUSY, NULL,
                            "ingest queue is full (INGEST_QUEUE=%d items); retry after a moment",
                            app->cfg.ingest_queue);
        else
            ot_reply_errorf(req, rc, NULL, "the store is not accepting writes");
    }
}

/* One item of a batch reply, appended to b: {"index","status","event_id",
 * "cursor","duplicate"} when accepted, {"index","status","error"} when not.
 * Rendered straight into the buffer: a 1,000-event batch would otherwise
 * build (and free) six thousand JSON values only to print them. */
static void item_result(ot_buf *b, const struct ingest *g, size_t i)
{
    const struct item *it = &g->items[i];
    char c[OT_CURSOR_BUFSZ];
    if (it->err) {
        char msg[OT_ERROR_MSG_MAX + OT_ERROR_PATH_MAX + 8];
        named_message(it->err, msg, sizeof msg);
        json_t *r = json_pack("{s:I, s:s, s:{s:s, s:s, s:[{s:s, s:s}]}}", "index", (json_int_t)i,
                              "status", "rejected", "error", "code",
                              ot_error_code_name(it->err->code), "message", msg, "details",
                              "path", it->err->path, "message", it->err->message);
        char *t = r ? ot_json_dumps(r, JSON_COMPACT) : NULL;
        json_decref(r);
        if (t)
            ot_buf_puts(b, t);
        else
            b->failed = 1;
        free(t);
        return;
    }
    const ot_store_tel *st = ot_ingest_batch_tel(g->b, it->bidx);
    ot_buf_puts(b, "{\"index\":");
    ot_buf_put_u64(b, i);
    ot_buf_puts(b, ",\"status\":\"accepted\",\"event_id\":");
    ot_buf_json_string(b, st->event_id);
    ot_buf_puts(b, ",\"cursor\":\"");
    ot_buf_puts(b, ot_cursor_format(st->cursor, c));
    ot_buf_puts(b, st->duplicate ? "\",\"duplicate\":true}" : "\",\"duplicate\":false}");
}

static void reply_results(ot_req *req)
{
    struct ingest *g = req->defer_ctx;
    req->defer_ctx = NULL;
    ot_error e;
    ot_error_clear(&e);
    if (ot_ingest_batch_rc(g->b, &e)) {
        if (e.code != OT_EINVAL)
            e.code = OT_EUNAVAIL; /* the database failed: nothing stored, retry */
        ot_reply_error(req, &e);
        ingest_free(g);
        return;
    }
    ot_buf b;
    ot_buf_init(&b);
    if (g->single) {
        /* {"event_id","status","message","cursor","duplicate"}, rendered directly */
        const ot_store_tel *st = ot_ingest_batch_tel(g->b, 0);
        char c[OT_CURSOR_BUFSZ];
        ot_buf_puts(&b, "{\"event_id\":");
        ot_buf_json_string(&b, st->event_id);
        ot_buf_puts(&b, st->duplicate ? ",\"status\":\"accepted\",\"message\":\"already stored "
                                        "(idempotent replay)\",\"cursor\":\""
                                      : ",\"status\":\"accepted\",\"message\":\"telemetry "
                                        "stored\",\"cursor\":\"");
        ot_buf_puts(&b, ot_cursor_format(st->cursor, c));
        ot_buf_puts(&b, st->duplicate ? "\",\"duplicate\":true}" : "\",\"duplicate\":false}");
        ot_reply_buf(req, 200, &b);
        ingest_free(g);
        return;
    }
    size_t dups = 0;
    for (size_t i = 0; i < g->n; i++)
        if (!g->items[i].err && ot_ingest_batch_tel(g->b, g->items[i].bidx)->duplicate)
            dups++;
    ot_buf_reserve(&b, 128 + g->n * 110);
    ot_buf_printf(&b,
                  "{\"status\":\"%s\",\"accepted\":%zu,\"rejected\":%zu,\"duplicates\":%zu,"
                  "\"results\":[",
                  g->nok == g->n ? "accepted" : "partial", g->nok, g->n - g->nok, dups);
    for (size_t i = 0; i < g->n; i++) {
        if (i)
            ot_buf_puts(&b, ",");
        item_result(&b, g, i);
    }
    ot_buf_puts(&b, "]}");
    ot_reply_buf(req, 200, &b);
    ingest_free(g);
}
