/* query.h - telemetry reads: GET /telemetry/query, GET /telemetry/aggregate,
 * GET /twins, GET /twins/{twin_id}. Handlers run on HTTP worker threads and
 * read through the store's pool; every parameter is parsed and whitelisted
 * here, and values are bound, never pasted into SQL. */
#ifndef OT_TELEMETRY_QUERY_H
#define OT_TELEMETRY_QUERY_H

#include <stdint.h>

#include "api/http.h"

void ot_h_telemetry_query(ot_req *req);
void ot_h_telemetry_aggregate(ot_req *req);
void ot_h_twins(ot_req *req);
void ot_h_twin(ot_req *req);

/* "10 seconds", "1 minute", "2 hours", "1 day" (singular or plural, any
 * case, also "30s", "5m", "1h", "1d"). 0 and *us, or -1. */
int ot_window_parse(const char *s, int64_t *us);


#endif
