/* manifest.h - GET /.well-known/aiw-manifest.json, the AIW self-description.
 *
 * The endpoint list is generated from the route table (router.h), so the
 * manifest never names an endpoint that is not routed, nor hides one.
 */
#ifndef OT_AIW_MANIFEST_H
#define OT_AIW_MANIFEST_H

#include <jansson.h>

#include "api/http.h"

#define OT_AIW_VERSION "1.0"

void ot_h_manifest(ot_req *req);

/* The manifest document. Caller owns. */
json_t *ot_manifest_document(const struct ot_app *app);

#endif
