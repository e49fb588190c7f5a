/* policy_util.h - helpers shared by the policy, auth and audit black-box
 * tests: tokens minted with the CLI or built by hand, requests with a given
 * token, polling /diff for events, and a telemetry series with a spike. */
#ifndef OT_TEST_POLICY_UTIL_H
#define OT_TEST_POLICY_UTIL_H

#include <jansson.h>
#include <stddef.h>

#include "harness.h"

/* A token minted by `opstwin token` against the server's data dir (or 
 * with `secret` when not NULL). role may hold several roles separated by
 * commas; scope may be NULL. ttl may be NULL. Fails the test on error;
 * caller frees. */
char *pu_mint(const bb_server *s, const char *sub, const char *role, const char *scope);
char *pu_mint_secret(const char *secret, const char *sub, const char *role, const char *scope);

/* One request with this token (NULL = no Authorization header). */
long pu_http(const bb_server *s, const char *token, const char *method, const char *path,
             const char *body, bb_resp *r);

/* The same, failing the test unless the status is `expect`; returns the
 * parsed body (caller decrefs). */
json_t *pu_req(const bb_server *s, const char *token, const char *method, const char *path,
               const char *body, long expect);

/* base64url (no padding) of n bytes; caller frees. */
char *pu_b64url(const void *data, size_t n);

/* A JWT from a header and a payload (JSON text), signed with HMAC-SHA256
 * under `secret` (NULL: an empty signature). Caller frees. */
char *pu_jwt(const char *secret, const char *header, const char *payload);

/* Lower-case hex HMAC-SHA256 of body under secret, into out[65]. */
void pu_hmac_hex(const char *secret, const char *body, size_t len, char out[65]);

/* Poll GET /diff?<query> until at least n events satisfy: type equals
 * `type` and (when key is not NULL) member `key` equals `value`. Returns
 * every event of the query (caller decrefs) once they are there; fails the
 * test after timeout_s. */
json_t *pu_wait_events(const bb_server *s, const char *query, const char *type, const char *key,
                       const char *value, size_t n, double timeout_s);

/* The first event in `events` with this type (and key == value when key is
 * not NULL), or NULL; *index receives its position when not NULL. */
json_t *pu_find_event(const json_t *events, const char *type, const char *key,
                      const char *value, size_t *index);

/* Number of events with this type (and key == value). */
size_t pu_count_events(const json_t *events, const char *type, const char *key,
                       const char *value);

/* Poll GET /actions/{id} until its status is not pending/running; returns
 * the document (caller decrefs). */
json_t *pu_wait_action(const bb_server *s, const char *action_id, double timeout_s);

/* Ingest n calm points of `metric` (a minute apart, ending about now) for
 * twin/asset, then one point at `spike` when spike is not 0. */
void pu_ingest_series(const bb_server *s, const char *twin, const char *asset,
                      const char *metric, int n, double spike);

/* A twin's set-point (GET /twins/{twin}: parameters[key]); new reference or
 * NULL when absent. */
json_t *pu_setpoint(const bb_server *s, const char *twin, const char *key);

/* Seconds on a monotonic clock. */
double pu_now(void);

const char *pu_str(const json_t *o, const char *key);

#endif
