/* system.h - system endpoints: /health, /metrics, /openapi.json, /docs.
 * Handlers run on HTTP worker threads; see http.h. */
#ifndef OT_API_SYSTEM_H
#define OT_API_SYSTEM_H

#include <jansson.h>

#include "api/http.h"

void ot_h_health(ot_req *req);
void ot_h_metrics(ot_req *req);
void ot_h_openapi(ot_req *req);
void ot_h_docs(ot_req *req);

/* The OpenAPI 3.1 document generated from the route table. Caller owns. */
json_t *ot_openapi_document(const struct ot_app *app);

#endif
