/* twin_doc.h - PUT of a twin's settings document (an ingest profile, a
 * detector setting, a simulation model): stored durably with its audit
 * record, then put into effect, then answered.
 *
 * The route's handler is ot_twin_doc_handle with the kind: it takes the
 * {twin_id} path parameter and the JSON body (400 naming what is wrong),
 * and the kind's parse checks the body and gives the canonical value. The
 * document {"twin_id": twin, key: value} is stored as (type, twin); once the
 * store has committed it, apply (NULL: nothing to do) puts it into effect
 * on an HTTP thread, and the reply is 200 with the document, or with the
 * value alone (reply_value). A failed write answers
 * 503 ("could not store WHAT: ..."), a full queue the store's error ("could
 * not store WHAT; retry"), and a failed apply its own error (the document
 * is stored all the same: the next start loads it).
 *
 * Ownership: ctx is what parse made: apply may take what it holds, and
 * drop(ctx) runs once at the end in every case, parse's failure aside
 * (drop NULL: nothing to free).
 */
#ifndef OT_API_TWIN_DOC_H
#define OT_API_TWIN_DOC_H

#include <jansson.h>

#include "api/http.h"
#include "core/error.h"

/* The kind of document; a static constant per endpoint. */
typedef struct ot_twin_doc {
    /* Check body: 0 with the canonical value (a new reference) and what
     * apply needs in *ctx (may stay NULL), or an error naming the field */
    int (*parse)(const json_t *body, json_t **value, void **ctx, ot_error *err);
    const char *type;  /* the document type: "ingest_profile" */
    const char *key;   /* the value's member in it: "profile" */
    const char *what;  /* in messages: "the profile" */
    int reply_value;   /* reply the value alone, not the document */
    /* NULL: nothing to put into effect; nonzero: that error is the reply */
    int (*apply)(ot_req *req, const char *twin, void *ctx, ot_error *err);
    void (*drop)(void *ctx); /* NULL: nothing to free */
} ot_twin_doc;

/* PUT /twins/{twin_id}/... of kind's document. */
void ot_twin_doc_handle(ot_req *req, const ot_twin_doc *kind);

#endif
