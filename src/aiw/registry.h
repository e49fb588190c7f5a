/* registry.h - the schema registry: built-in schemas (schemas/NAME.json,
 * embedded in the binary) and schemas registered by admins, compiled once.
 *
 * Names look like "telemetry.v1": 1..64 characters of [A-Za-z0-9_.-]. A name
 * is registered once: the same content again is accepted (200), different
 * content is a conflict (409), and built-ins cannot be replaced. Registered
 * schemas are stored (docs of type "schema") and loaded again at start.
 * Every schema is compiled into a set that holds all of them, so a custom
 * schema may $ref a built-in (https://opstwin.dev/schemas/<name>.json) or
 * another registered one; nothing is fetched from the network.
 *
 * Built-ins are compiled with format assertion on (telemetry.v1 asserts its
 * ts as date-time); registered schemas treat format as an annotation unless
 * registered with "format_assert": true.
 *
 * Thread-safety: lookups and validation may run on any thread (a read-write
 * lock guards the entry list; compiled schemas are immutable and are never
 * removed, so a pointer stays valid for the registry's life).
 */
#ifndef OT_AIW_REGISTRY_H
#define OT_AIW_REGISTRY_H

#include <jansson.h>

#include "api/http.h"
#include "core/error.h"

struct ot_store;
typedef struct ot_registry ot_registry;

int ot_registry_open(struct ot_store *store, ot_registry **out, ot_error *err);
void ot_registry_free(ot_registry *r);

/* [{"name","version","builtin","url"}], in registration order. Caller owns. */
json_t *ot_registry_list(ot_registry *r);

/* Validate instance against the named schema. Returns 1 valid, 0 invalid
 * (with *errors a new array of {"path","keyword","message"} when errors is
 * not NULL), OT_ENOTFOUND for an unknown name. */
int ot_registry_validate(ot_registry *r, const char *name, const json_t *instance,
                         json_t **errors);

/* The schema check the ingest path runs (app->check_telemetry): validates
 * against telemetry.v1 and reports the first error with its path rewritten
 * under prefix ("$[3].metrics.x"). ctx is the registry. */
int ot_registry_check_telemetry(void *ctx, const json_t *tel, const char *prefix, ot_error *err);

void ot_h_schemas_list(ot_req *req);
void ot_h_schema_get(ot_req *req);
void ot_h_schema_register(ot_req *req);
void ot_h_schema_validate(ot_req *req);

#endif
