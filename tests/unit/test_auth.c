#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/auth.h"

static const char *secret = "unit-test-secret-unit-test-secret";

Test(auth, mint_and_verify_roundtrip)
{
    const char *roles[] = {"agent"}, *scopes[] = {"plant*", "lab-1"};
    ot_error e;
    char *t = ot_auth_mint(secret, "amy", roles, 1, scopes, 2, 60, &e);
    cr_assert_not_null(t);
    ot_principal p;
    cr_assert_eq(ot_auth_verify(secret, t, time(NULL), &p, &e), 0, "%s", e.message);
    cr_assert_str_eq(p.sub, "amy");
    cr_assert(ot_principal_can(&p, OT_PERM_READ));
    cr_assert(ot_principal_can(&p, OT_PERM_PROPOSE));
    cr_assert_not(ot_principal_can(&p, OT_PERM_APPROVE));
    cr_assert(ot_principal_scope_ok(&p, "plant7"));
    cr_assert(ot_principal_scope_ok(&p, "lab-1"));
    cr_assert_not(ot_principal_scope_ok(&p, "lab-2"));
    cr_assert_eq(ot_auth_verify("another-secret-another-secret-xx", t, time(NULL), &p, &e),
                 OT_EUNAUTH);
    cr_assert_eq(ot_auth_verify(secret, t, time(NULL) + 3600, &p, &e), OT_EUNAUTH);
    cr_assert(strstr(e.message, "expired"));
    free(t);
}

Test(auth, roles_map_to_the_prototype_permissions)
{
    cr_assert_eq(ot_role_perms("viewer"), 1u << OT_PERM_READ);
    cr_assert(ot_role_perms("executor") & (1u << OT_PERM_EXECUTE));
    cr_assert_not(ot_role_perms("executor") & (1u << OT_PERM_APPROVE));
    cr_assert(ot_role_perms("supervisor") & (1u << OT_PERM_APPROVE));
    cr_assert(ot_role_perms("admin") & (1u << OT_PERM_ADMIN));
    cr_assert_eq(ot_role_perms("root"), 0);
}

Test(auth, malformed_tokens_are_401)
{
    ot_principal p;
    ot_error e;
    const char *bad[] = {"", "abc", "a.b.c",
                         /* alg none: {"alg":"none"}.{"sub":"x","roles":["admin"],"exp":9999999999}. */
                         "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZXMiOlsiYWRtaW4iXSwiZXhwIjo5OTk5OTk5OTk5fQ."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(ot_auth_verify(secret, bad[i], time(NULL), &p, &e), OT_EUNAUTH, "%s", bad[i]);
    const char *none[] = {"admin"};
    char *t = ot_auth_mint(secret, "x", none, 0, NULL, 0, 60, &e); /* no roles */
    cr_assert_eq(ot_auth_verify(secret, t, time(NULL), &p, &e), OT_EUNAUTH);
    free(t);
}

/* The cache answers a repeated token without a new signature check, and
 * still refuses it once expired; a token that differs from a cached one,
 * even in its signature only, is verified (and refused) in full. */
Test(auth, verified_tokens_are_cached_until_they_expire)
{
    const char *roles[] = {"supervisor"}, *scopes[] = {"plant*"};
    ot_error e;
    char *t = ot_auth_mint(secret, "sam", roles, 1, scopes, 1, 60, &e);
    cr_assert_not_null(t);
    ot_auth_cache *c = ot_auth_cache_new();
    cr_assert_not_null(c);
    int64_t now = time(NULL);
    ot_principal p1, p2;
    cr_assert_eq(ot_auth_verify_cached(c, secret, t, now, &p1, &e), 0, "%s", e.message);
    cr_assert_eq(ot_auth_cache_hits(c), 0);
    cr_assert_eq(ot_auth_verify_cached(c, secret, t, now, &p2, &e), 0, "%s", e.message);
    cr_assert_eq(ot_auth_cache_hits(c), 1);
    cr_assert_eq(memcmp(&p1, &p2, sizeof p1), 0, "the same principal");
    cr_assert(ot_principal_can(&p2, OT_PERM_APPROVE));
    cr_assert(ot_principal_scope_ok(&p2, "plant3"));
    cr_assert_not(ot_principal_scope_ok(&p2, "lab"));

    char *forged = strdup(t);
    size_t n = strlen(forged);
    forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A'; /* same length, other signature */
    cr_assert_eq(ot_auth_verify_cached(c, secret, forged, now, &p2, &e), OT_EUNAUTH);
    cr_assert_eq(ot_auth_cache_hits(c), 1);

    cr_assert_eq(ot_auth_verify_cached(c, secret, t, now + 3600, &p2, &e), OT_EUNAUTH);
    cr_assert(strstr(e.message, "expired"), "%s", e.message);
    cr_assert_eq(ot_auth_cache_hits(c), 1);
    cr_assert_eq(ot_auth_verify_cached(NULL, secret, t, now, &p2, &e), 0, "no cache: verify");
    ot_auth_cache_free(c);
    free(forged);
    free(t);
}
