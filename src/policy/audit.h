/* audit.h - reading and verifying the audit chain.
 *
 * The chain itself is written by the store's writer (store.h,
 * ot_store_audit): every write request, decision, approval, action,
 * rollback and refused request appends a record whose hash covers the
 * previous hash and the record's canonical JSON. Verification recomputes
 * every hash from the first record and names the first record that does
 * not match (edited, removed or reordered).
 *
 * GET /audit?after=&limit= (admin): {"records":[{seq, record, prev_hash,
 * hash}], "next": seq}; GET /audit/verify (admin): {"valid", "length",
 * "head", "first_invalid"?: {"seq", "reason"}}.
 */
#ifndef OT_POLICY_AUDIT_H
#define OT_POLICY_AUDIT_H

#include <jansson.h>

#include "api/http.h"
#include "core/error.h"

struct ot_store;

/* Verify the whole chain. Returns the result object (caller owns) or NULL
 * with err. */
json_t *ot_audit_verify(struct ot_store *store, ot_error *err);

void ot_h_audit(ot_req *req);
void ot_h_audit_verify(ot_req *req);

#endif
