/* twin_doc.c - see twin_doc.h. */
#include "api/twin_doc.h"

#include <stdlib.h>
#include <string.h>

#include "aiw/events.h"
#include "api/app.h"
#include "core/buf.h"
#include "store/store.h"

struct twin_doc_put {
    ot_store_write w;
    ot_store_doc doc;
    char *twin, *text;
    const ot_twin_doc *kind;
    json_t *reply;
    void *ctx;
};

static void finish(struct twin_doc_put *tp)
{
    if (tp->kind->drop)
        tp->kind->drop(tp->ctx);
    json_decref(tp->reply);
    free(tp->text);
    free(tp->twin);
    free(tp);
}

/* The store committed (or failed): let the reply go. Store's thread. */
static void stored(ot_store_write *w, void *ctx)
{
    (void)w;
    ot_req_complete(ctx);
}

static void saved(ot_req *req)
{
    struct twin_doc_put *tp = req->defer_ctx;
    ot_error err;
    ot_error_clear(&err);
    if (tp->w.rc)
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "could not store %s: %s", tp->kind->what,
                        tp->w.err.message);
    else if (tp->kind->apply && tp->kind->apply(req, tp->twin, tp->ctx, &err))
        ot_reply_error(req, &err);
    else
        ot_reply_json(req, 200, json_incref(tp->reply));
    finish(tp);
}

static void put(ot_req *req, const char *twin, const ot_twin_doc *kind, json_t *value, void *ctx)
{
    struct twin_doc_put *tp = calloc(1, sizeof *tp);
    json_t *doc = value ? json_pack("{s:s, s:O}", "twin_id", twin, kind->key, value) : NULL;
    if (!tp || !doc || !(tp->twin = strdup(twin)) ||
        !(tp->text = ot_json_dumps(doc, JSON_COMPACT))) {
        json_decref(doc);
        json_decref(value);
        if (kind->drop)
            kind->drop(ctx);
        if (tp)
            free(tp->twin);
        free(tp);
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        return;
    }
    tp->kind = kind;
    tp->reply = json_incref(kind->reply_value ? value : doc);
    json_decref(doc);
    json_decref(value);
    tp->ctx = ctx;
    tp->doc = (ot_store_doc){kind->type, tp->twin, tp->twin, NULL, tp->text};
    tp->w = (ot_store_write){.docs = &tp->doc, .ndocs = 1, .done = stored, .ctx = req};
    ot_req_audit(req, &tp->w, twin);
    ot_req_defer(req, saved, tp);
    int rc = ot_store_submit(req->app->store, &tp->w);
    if (rc) {
        ot_req_undefer(req);
        finish(tp);
        ot_reply_errorf(req, rc, NULL, "could not store %s; retry", kind->what);
    }
}

void ot_twin_doc_handle(ot_req *req, const ot_twin_doc *kind)
{
    const char *twin = ot_req_twin_path(req);
    if (!twin)
        return;
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    json_t *value = NULL;
    void *ctx = NULL;
    ot_error err;
    ot_error_clear(&err);
    int rc = kind->parse(body, &value, &ctx, &err);
    json_decref(body);
    if (rc) {
        ot_reply_error(req, &err);
        return;
    }
    put(req, twin, kind, value, ctx);
}
