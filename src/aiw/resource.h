/* resource.h - GET /r/{type}/{id}: resolve an event's data_ref. */
#ifndef OT_AIW_RESOURCE_H
#define OT_AIW_RESOURCE_H

#include "api/http.h"

void ot_h_resource(ot_req *req);

#endif
