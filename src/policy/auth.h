/* auth.h - bearer tokens (JWT HS256) and role-based permissions.
 *
 * Tokens carry `sub` (who), `roles` (a string or an array of strings),
 * optional `scope` (glob(s) over twin_id: an array, or one string with
 * globs separated by spaces or commas; absent = every twin) and `exp`
 * (Unix seconds). A token is rejected (OT_EUNAUTH, 401) when its signature
 * is wrong, its algorithm is not HS256 (alg "none" included), it has
 * expired, or a claim is missing or malformed. A valid token without the
 * permission or the scope gets OT_EFORBIDDEN (403) from the caller.
 *
 * Roles and permissions, as in the seed prototype:
 *   viewer      read
 *   agent       read, propose
 *   executor    read, execute
 *   supervisor  read, propose, approve
 *   admin       everything
 *
 * All functions are reentrant; a principal is a plain value.
 */
#ifndef OT_POLICY_AUTH_H
#define OT_POLICY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Permissions a route can require (the route table names one per route). */
enum ot_perm { OT_PERM_PUBLIC = 0, OT_PERM_READ, OT_PERM_PROPOSE, OT_PERM_APPROVE,
               OT_PERM_EXECUTE, OT_PERM_ADMIN };

#define OT_AUTH_MAX_SCOPES 16
#define OT_AUTH_SUB_MAX 128
#define OT_AUTH_SCOPE_MAX 128   /* one glob */
#define OT_AUTH_SCOPES_BUF 512  /* all globs, NUL-separated */

typedef struct ot_principal {
    char sub[OT_AUTH_SUB_MAX];
    unsigned perms;                 /* bit (1 << enum ot_perm) */
    char roles[128];                /* "agent,viewer", for logs and audit */
    int nscopes;                    /* 0 = all twins */
    char scopes[OT_AUTH_SCOPES_BUF];/* nscopes globs, each NUL-terminated, back to back
                                       (compact: a principal lives in every request) */
    int64_t exp;
} ot_principal;

/* Permission bits of a role name; 0 for an unknown role. */
unsigned ot_role_perms(const char *role);

/* 1 if the role name is known. */
int ot_role_valid(const char *role);

const char *ot_perm_name(enum ot_perm p);

/* Verify a token (without the "Bearer " prefix) against secret at time
 * now_s. 0 and *out, or OT_EUNAUTH with a message saying what is wrong. */
int ot_auth_verify(const char *secret, const char *token, int64_t now_s, ot_principal *out,
                   ot_error *err);

/* A cache of verified tokens, so a client that sends the same token with
 * every request pays for one signature check, not one per request. Keyed
 * by the whole token (compared in constant time); a hit still checks exp
 * against now_s. Direct-mapped and small: a collision only costs a full
 * verification. Thread-safe (one mutex around a lookup or a store). */
typedef struct ot_auth_cache ot_auth_cache;
ot_auth_cache *ot_auth_cache_new(void);
void ot_auth_cache_free(ot_auth_cache *c);
/* ot_auth_verify through the cache (c may be NULL: no cache). */
int ot_auth_verify_cached(ot_auth_cache *c, const char *secret, const char *token,
                          int64_t now_s, ot_principal *out, ot_error *err);
/* Verifications answered from the cache so far. */
unsigned long ot_auth_cache_hits(ot_auth_cache *c);

int ot_principal_can(const ot_principal *p, enum ot_perm perm);

/* 1 if twin_id is within the principal's scope. */
int ot_principal_scope_ok(const ot_principal *p, const char *twin_id);

/* Mint a token. roles and scopes are arrays of n strings (scopes may be
 * NULL/0 = all twins). Caller frees the result. */
char *ot_auth_mint(const char *secret, const char *sub, const char *const *roles, int nroles,
                   const char *const *scopes, int nscopes, int64_t ttl_s, ot_error *err);

/* The server's secret when JWT_SECRET_KEY is not set: read from
 * DATA_DIR/.jwt_secret, or created there (0600) with 256 random bits.
 * *created is set to 1 when it was created now. */
int ot_auth_load_secret(const char *data_dir, char *out, size_t outlen, int *created,
                        ot_error *err);

#endif
