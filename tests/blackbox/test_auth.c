/* Black-box tests of authentication and authorization: malformed, forged,
 * expired and incomplete JWTs are 401 with the error envelope; every route
 * of the route table (from the manifest) with every role and without a
 * token; twin scopes; public routes; PUBLIC_READ. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy_util.h" /* and harness.h */

#define SECRET "bb-auth-secret-0123456789abcdef0123456789abcdef"

static bb_server srv;

static void down_srv(void) { bb_stop_fixture(&srv); }

/* A server with a known secret; s.token is an admin token minted with it. */
static void up_secret(void)
{
    const char *args[] = {"--jwt-secret-key", SECRET, NULL};
    bb_start(&srv, args, NULL, NULL);
    cr_assert_eq(srv.token[0], '\0', "a configured secret should print no admin token");
    char *t = pu_mint_secret(SECRET, "root", "admin", NULL);
    snprintf(srv.token, sizeof srv.token, "%s", t);
    free(t);
}

static void up_default(void)
{
    bb_start(&srv, NULL, NULL, NULL);
    cr_assert(srv.token[0], "no admin token printed at start");
}

TestSuite(auth_tokens, .init = up_secret, .fini = down_srv, .timeout = 60);
TestSuite(auth_routes, .init = up_default, .fini = down_srv, .timeout = 120);

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static char *payload(const char *fmt, long long exp)
{
    char *p = NULL;
    cr_assert(asprintf(&p, fmt, exp) > 0);
    return p;
}

static void expect_401(const char *token, const char *what)
{
    bb_resp r;
    pu_http(&srv, token, "GET", "/twins", NULL, &r);
    cr_assert_eq(r.status, 401, "%s: expected 401, got %ld: %s", what, r.status, r.body);
    bb_assert_error(&r, 401, "unauthorized", NULL);
    char h[256];
    cr_assert_eq(bb_header(&r, "WWW-Authenticate", h, sizeof h), 0,
                 "%s: no WWW-Authenticate header", what);
    cr_assert(strstr(h, "Bearer"), "%s: %s", what, h);
    bb_resp_free(&r);
}

Test(auth_tokens, hand_built_tokens)
{
    long long now = (long long)time(NULL);
    /* the control: a hand-built, correctly signed token works */
    char *p = payload("{\"sub\":\"hand\",\"roles\":[\"viewer\"],\"exp\":%lld}", now + 600);
    char *good = pu_jwt(SECRET, HS256, p);
    json_decref(pu_req(&srv, good, "GET", "/twins", NULL, 200));

    /* a bad signature: signed with another key */
    char *forged = pu_jwt("another-secret-0123456789abcdef0123456789", HS256, p);
    expect_401(forged, "bad signature");
    /* the payload swapped after signing (viewer -> admin) */
    char *admin_p = payload("{\"sub\":\"hand\",\"roles\":[\"admin\"],\"exp\":%lld}", now + 600);
    char *other = pu_jwt(SECRET, HS256, admin_p);
    char *swapped = NULL;
    {
        const char *d1 = strchr(other, '.'), *d2 = strrchr(other, '.');
        const char *g2 = strrchr(good, '.');
        cr_assert(asprintf(&swapped, "%.*s%s", (int)(d2 - other), other, g2) > 0);
        (void)d1;
    }
    expect_401(swapped, "payload swapped");
    /* alg none, with and without a signature */
    char *none = pu_jwt(NULL, "{\"alg\":\"none\",\"typ\":\"JWT\"}", admin_p);
    expect_401(none, "alg none");
    char *none_sig = pu_jwt(SECRET, "{\"alg\":\"none\",\"typ\":\"JWT\"}", admin_p);
    expect_401(none_sig, "alg none with a signature");
    /* an HS256 token without its signature */
    char *nosig = pu_jwt(NULL, HS256, admin_p);
    expect_401(nosig, "no signature");

    /* expired, and missing or bad claims */
    static const struct {
        const char *fmt;
        long long dexp;
        const char *what;
    } cases[] = {
        {"{\"sub\":\"hand\",\"roles\":[\"admin\"],\"exp\":%lld}", -60, "expired"},
        {"{\"roles\":[\"admin\"],\"exp\":%lld}", 600, "no sub"},
        {"{\"sub\":\"\",\"roles\":[\"admin\"],\"exp\":%lld}", 600, "empty sub"},
        {"{\"sub\":\"hand\",\"exp\":%lld}", 600, "no roles"},
        {"{\"sub\":\"hand\",\"roles\":[],\"exp\":%lld}", 600, "empty roles"},
        {"{\"sub\":\"hand\",\"roles\":[7],\"exp\":%lld}", 600, "roles not strings"},
        {"{\"sub\":\"hand\",\"roles\":[\"admin\"],\"scope\":7,\"exp\":%lld}", 600,
         "bad scope claim"},
        {"{\"sub\":\"hand\",\"roles\":[\"admin\"],\"iat\":%lld}", 0, "no exp"},
        {"{\"sub\":\"hand\",\"roles\":[\"admin\"],\"exp\":\"%lld\"}", 600, "exp not a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pp = payload(cases[i].fmt, now + cases[i].dexp);
        char *t = pu_jwt(SECRET, HS256, pp);
        expect_401(t, cases[i].what);
        free(t);
        free(pp);
    }
    /* not JWTs at all */
    static const char *const junk[] = {"abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        expect_401(junk[i], junk[i]);
    static const char *const headers[] = {"Authorization: Basic dXNlcjpwYXNz",
                                          "Authorization: Bearer", "Authorization: Bearer  "};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        const char *h[] = {headers[i], NULL};
        bb_resp r;
        bb_http(&srv, "GET", "/twins", NULL, h, &r);
        bb_assert_error(&r, 401, "unauthorized", NULL);
        bb_resp_free(&r);
    }
    /* a valid token whose only role is unknown has no permission */
    char *pu = payload("{\"sub\":\"hand\",\"roles\":[\"overlord\"],\"exp\":%lld}", now + 600);
    char *unk = pu_jwt(SECRET, HS256, pu);
    bb_resp r;
    pu_http(&srv, unk, "GET", "/twins", NULL, &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    bb_resp_free(&r);
    /* and a token minted by the CLI for another secret is refused */
    char *cli = pu_mint_secret("cli-other-secret-0123456789abcdef012345", "x", "admin", NULL);
    expect_401(cli, "CLI token for another secret");
    free(cli);
    free(pu);
    free(unk);
    free(p);
    free(good);
    free(forged);
    free(admin_p);
    free(other);
    free(swapped);
    free(none);
    free(none_sig);
    free(nosig);
}

Test(auth_tokens, refused_requests_change_nothing)
{
    long long now = (long long)time(NULL);
    char *p = payload("{\"sub\":\"hand\",\"roles\":[\"admin\"],\"exp\":%lld}", now - 5);
    char *expired = pu_jwt(SECRET, HS256, p);
    const char *body = "{\"twin_id\":\"t\",\"asset_id\":\"a\",\"metrics\":{\"x\":1}}";
    bb_resp r;
    pu_http(&srv, expired, "POST", "/telemetry/ingest", body, &r);
    bb_assert_error(&r, 401, "unauthorized", NULL);
    bb_resp_free(&r);
    pu_http(&srv, NULL, "POST", "/telemetry/ingest", body, &r);
    bb_assert_error(&r, 401, "unauthorized", NULL);
    bb_resp_free(&r);
    char *vic = pu_mint_secret(SECRET, "vic", "viewer", NULL);
    pu_http(&srv, vic, "POST", "/telemetry/ingest", body, &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    cr_assert(strstr(r.body, "propose"), "the 403 does not name the permission: %s", r.body);
    bb_resp_free(&r);
    json_t *ev = bb_diff_all(&srv, "types=TelemetryAppended", 100);
    cr_assert_eq(json_array_size(ev), 0, "a refused ingest was stored");
    json_decref(ev);
    free(vic);
    free(expired);
    free(p);
}

/* --- every route with every role ------------------------------------------------ */

static const char *const ROLES[] = {"viewer", "agent", "executor", "supervisor", "admin"};

static int role_can(const char *role, const char *perm)
{
    if (!strcmp(perm, "public") || !strcmp(role, "admin"))
        return 1;
    if (!strcmp(perm, "read"))
        return 1;
    if (!strcmp(perm, "propose"))
        return !strcmp(role, "agent") || !strcmp(role, "supervisor");
    if (!strcmp(perm, "approve"))
        return !strcmp(role, "supervisor");
    if (!strcmp(perm, "execute"))
        return !strcmp(role, "executor");
    return 0; /* admin */
}

/* The pattern with each {param} replaced by a dummy value. */
static void fill(const char *pattern, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = pattern; *p && k + 40 < cap;) {
        if (*p != '{') {
            out[k++] = *p++;
            continue;
        }
        const char *e = strchr(p, '}');
        cr_assert(e, "bad pattern %s", pattern);
        const char *v = "plant1";
        if (!strncmp(p, "{name}", 6))
            v = "telemetry.v1";
        else if (!strncmp(p, "{type}", 6))
            v = "proposal";
        else if (!strncmp(p, "{id}", 4))
            v = "prop_01ARZ3NDEKTSV4RRFFQ69G5FAV";
        else if (!strncmp(p, "{action_id}", 11))
            v = "act_01ARZ3NDEKTSV4RRFFQ69G5FAV";
        k += (size_t)snprintf(out + k, cap - k, "%s", v);
        p = e + 1;
    }
    out[k] = '\0';
}

static long call(const char *token, const char *method, const char *path)
{
    if (!strcmp(path, "/subscribe")) {
        char auth[4096];
        snprintf(auth, sizeof auth, "Authorization:%s%s", token ? " Bearer " : "",
                 token ? token : "");
        const char *h[] = {auth, NULL};
        bb_sse c;
        long st = bb_sse_open(&c, &srv, path, h, 10);
        bb_sse_close(&c);
        return st;
    }
    bb_resp r;
    pu_http(&srv, token, method, path, strcmp(method, "GET") ? "{}" : NULL, &r);
    long st = r.status;
    bb_resp_free(&r);
    return st;
}

Test(auth_routes, every_route_with_every_role)
{
    json_t *m = pu_req(&srv, NULL, "GET", "/.well-known/aiw-manifest.json", NULL, 200);
    json_t *eps = json_object_get(m, "endpoints");
    cr_assert_geq(json_object_size(eps), 30, "the manifest lists %zu endpoints",
                  json_object_size(eps));
    static const char *const must[] = {"proposal_approve", "proposal_reject", "action_rollback",
                                       "audit_verify", "audit_list", "policy_put",
                                       "telemetry_ingest", "action_create"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        cr_assert(json_object_get(eps, must[i]), "manifest lacks %s", must[i]);
    char *tokens[5];
    for (int i = 0; i < 5; i++)
        tokens[i] = pu_mint(&srv, ROLES[i], ROLES[i], NULL);

    const char *name;
    json_t *ep;
    size_t checked = 0;
    json_object_foreach(eps, name, ep) {
        const char *method = pu_str(ep, "method"), *pattern = pu_str(ep, "path"),
                   *perm = pu_str(ep, "permission");
        cr_assert(method && pattern && perm, "endpoint %s lacks method, path or permission",
                  name);
        static const char *const perms[] = {"public", "read", "propose", "approve", "execute",
                                            "admin"};
        int known = 0;
        for (int k = 0; k < 6; k++)
            known |= !strcmp(perm, perms[k]);
        cr_assert(known, "%s: unknown permission %s", name, perm);
        char path[256];
        fill(pattern, path, sizeof path);
        int pub = !strcmp(perm, "public");

        long st = call(NULL, method, path);
        if (pub)
            cr_assert(st != 401 && st != 403 && st > 0, "%s %s (public) without a token: %ld",
                      method, path, st);
        else
            cr_assert_eq(st, 401, "%s %s (%s) without a token: %ld", method, path, perm, st);
        for (int i = 0; i < 5; i++) {
            st = call(tokens[i], method, path);
            if (role_can(ROLES[i], perm))
                cr_assert(st != 401 && st != 403 && st > 0, "%s %s (%s) as %s: %ld", method,
                          path, perm, ROLES[i], st);
            else
                cr_assert_eq(st, 403, "%s %s (%s) as %s: %ld", method, path, perm, ROLES[i],
                             st);
        }
        checked++;
    }
    cr_assert_eq(checked, json_object_size(eps));
    for (int i = 0; i < 5; i++)
        free(tokens[i]);
    json_decref(m);
}

Test(auth_routes, public_routes_need_no_token)
{
    static const char *const paths[] = {"/health", "/.well-known/aiw-manifest.json", "/schemas",
                                        "/schemas/proposal.v1", "/openapi.json", "/docs",
                                        "/metrics"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        bb_resp r;
        pu_http(&srv, NULL, "GET", paths[i], NULL, &r);
        cr_assert_eq(r.status, 200, "%s without a token: %ld", paths[i], r.status);
        bb_resp_free(&r);
    }
    json_t *v = pu_req(&srv, NULL, "POST", "/schemas/action.v1/validate",
                       "{\"type\":\"restart\",\"target\":\"x\"}", 200);
    cr_assert(json_is_boolean(json_object_get(v, "valid")));
    json_decref(v);
    /* reads and writes need one */
    static const char *const closed[][2] = {{"GET", "/twins"},      {"GET", "/diff"},
                                            {"GET", "/proposals"},  {"GET", "/actions"},
                                            {"GET", "/audit"},      {"POST", "/proposals"},
                                            {"POST", "/actions"},   {"POST", "/telemetry/ingest"},
                                            {"PUT", "/policies/x"}, {"POST", "/sim/run"}};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        bb_resp r;
        pu_http(&srv, NULL, closed[i][0], closed[i][1], "{}", &r);
        bb_assert_error(&r, 401, "unauthorized", NULL);
        bb_resp_free(&r);
    }
    json_t *m = pu_req(&srv, NULL, "GET", "/.well-known/aiw-manifest.json", NULL, 200);
    cr_assert_str_eq(pu_str(json_object_get(m, "auth"), "read"), "bearer");
    json_decref(m);
}

Test(auth_routes, scope_limits_twins)
{
    pu_ingest_series(&srv, "plant1", "a", "temp_c", 3, 0);
    pu_ingest_series(&srv, "other", "a", "temp_c", 3, 0);
    char *ag = pu_mint(&srv, "scoped", "agent", "plant*");
    json_decref(pu_req(&srv, ag, "GET", "/twins/plant1", NULL, 200));
    bb_resp r;
    pu_http(&srv, ag, "GET", "/twins/other", NULL, &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    bb_resp_free(&r);
    static const char *const reads[] = {"/diff?twin_id=other", "/proposals?twin_id=other",
                                        "/actions?twin_id=other", "/policies/other",
                                        "/twins/other/model", "/telemetry/query?twin_id=other"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        pu_http(&srv, ag, "GET", reads[i], NULL, &r);
        bb_assert_error(&r, 403, "forbidden", NULL);
        bb_resp_free(&r);
    }
    json_decref(pu_req(&srv, ag, "GET", "/diff?twin_id=plant1", NULL, 200));

    /* ingest: the twin comes from the body */
    const char *ok = "{\"twin_id\":\"plant1\",\"asset_id\":\"a\",\"metrics\":{\"temp_c\":1}}";
    const char *no = "{\"twin_id\":\"other\",\"asset_id\":\"a\",\"metrics\":{\"temp_c\":1}}";
    json_decref(pu_req(&srv, ag, "POST", "/telemetry/ingest", ok, 200));
    pu_http(&srv, ag, "POST", "/telemetry/ingest", no, &r);
    cr_assert_eq(r.status, 403, "ingest for an out-of-scope twin: %ld %s", r.status, r.body);
    bb_resp_free(&r);
    json_t *q = bb_req(&srv, "GET", "/telemetry/query?twin_id=other", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(q, "count")), 3, "out-of-scope ingest stored");
    json_decref(q);

    /* proposals and actions for another twin */
    pu_http(&srv, ag, "POST", "/proposals",
            "{\"twin_id\":\"other\",\"summary\":\"s\",\"recommended_action\":{\"type\":"
            "\"restart\",\"target\":\"x\"}}",
            &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    bb_resp_free(&r);
    json_t *made = bb_req(&srv, "POST", "/proposals",
                          "{\"twin_id\":\"other\",\"summary\":\"s\",\"recommended_action\":{"
                          "\"type\":\"restart\",\"target\":\"x\"}}",
                          201);
    char pid[64], did[64], path[160];
    snprintf(pid, sizeof pid, "%s", pu_str(json_object_get(made, "proposal"), "proposal_id"));
    snprintf(did, sizeof did, "%s", pu_str(json_object_get(made, "decision"), "decision_id"));
    json_decref(made);
    snprintf(path, sizeof path, "/proposals/%s", pid);
    pu_http(&srv, ag, "GET", path, NULL, &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    bb_resp_free(&r);
    /* the generic resource endpoint applies the same scope */
    snprintf(path, sizeof path, "/r/proposal/%s", pid);
    pu_http(&srv, ag, "GET", path, NULL, &r);
    cr_assert_eq(r.status, 403, "/r/proposal of an out-of-scope twin: %ld", r.status);
    bb_resp_free(&r);
    snprintf(path, sizeof path, "/r/decision/%s", did);
    pu_http(&srv, ag, "GET", path, NULL, &r);
    cr_assert_eq(r.status, 403, "/r/decision of an out-of-scope twin: %ld", r.status);
    bb_resp_free(&r);

    char *ex = pu_mint(&srv, "scoped-ex", "executor", "plant1,plant2");
    pu_http(&srv, ex, "POST", "/actions",
            "{\"twin_id\":\"other\",\"action\":{\"type\":\"restart\",\"target\":\"x\"}}", &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    bb_resp_free(&r);
    json_t *a = bb_req(&srv, "POST", "/actions",
                       "{\"twin_id\":\"other\",\"action\":{\"type\":\"restart\",\"target\":"
                       "\"x\"}}",
                       202);
    char aid[64];
    snprintf(aid, sizeof aid, "%s", pu_str(a, "action_id"));
    json_decref(a);
    json_decref(pu_wait_action(&srv, aid, 20));
    snprintf(path, sizeof path, "/actions/%s", aid);
    pu_http(&srv, ex, "GET", path, NULL, &r);
    cr_assert_eq(r.status, 403, "/actions/{id} of an out-of-scope twin: %ld", r.status);
    bb_resp_free(&r);
    snprintf(path, sizeof path, "/rollback/%s", aid);
    pu_http(&srv, ex, "POST", path, NULL, &r);
    bb_assert_error(&r, 403, "forbidden", NULL);
    bb_resp_free(&r);
    json_decref(pu_req(&srv, ex, "POST", "/actions",
                       "{\"twin_id\":\"plant2\",\"action\":{\"type\":\"restart\",\"target\":"
                       "\"x\"}}",
                       202));
    /* lists show a scoped token only its twins */
    const char *lists[] = {"/twins", "/proposals", "/actions"};
    const char *keys[] = {"twins", "proposals", "actions"};
    for (int i = 0; i < 3; i++) {
        json_t *l = pu_req(&srv, ex, "GET", lists[i], NULL, 200);
        size_t k;
        json_t *it;
        json_array_foreach(json_object_get(l, keys[i]), k, it) {
            const char *tw = json_string_value(json_object_get(it, "twin_id"));
            cr_assert(tw && (!strcmp(tw, "plant1") || !strcmp(tw, "plant2")),
                      "%s shows twin %s to a token scoped to plant1,plant2", lists[i], tw);
        }
        json_decref(l);
    }
    free(ex);
    free(ag);
}

/* PUBLIC_READ lets reads through without a token, never writes. */
Test(auth_routes, public_read_allows_reads_only)
{
    cr_assert_eq(bb_stop(&srv, 0), 0, "the suite's server did not exit 0 on SIGTERM");
    const char *args[] = {"--public-read", NULL};
    bb_start(&srv, args, NULL, NULL);
    pu_ingest_series(&srv, "pr", "a", "temp_c", 3, 0);
    static const char *const reads[] = {"/twins", "/twins/pr", "/diff", "/proposals", "/actions",
                                        "/policies/pr", "/telemetry/query?twin_id=pr"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        bb_resp r;
        pu_http(&srv, NULL, "GET", reads[i], NULL, &r);
        cr_assert_eq(r.status, 200, "public read of %s: %ld %s", reads[i], r.status, r.body);
        bb_resp_free(&r);
    }
    static const char *const writes[][2] = {{"POST", "/telemetry/ingest"},
                                            {"POST", "/proposals"},
                                            {"POST", "/actions"},
                                            {"PUT", "/policies/pr"},
                                            {"POST", "/sim/run"},
                                            {"GET", "/audit"},
                                            {"GET", "/audit/verify"}};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        bb_resp r;
        pu_http(&srv, NULL, writes[i][0], writes[i][1], "{}", &r);
        bb_assert_error(&r, 401, "unauthorized", NULL);
        bb_resp_free(&r);
    }
    json_t *m = pu_req(&srv, NULL, "GET", "/.well-known/aiw-manifest.json", NULL, 200);
    cr_assert_str_eq(pu_str(json_object_get(m, "auth"), "read"), "none");
    json_decref(m);
    /* a bad token is still refused, even for a read */
    bb_resp r;
    pu_http(&srv, "not-a-jwt", "GET", "/twins", NULL, &r);
    bb_assert_error(&r, 401, "unauthorized", NULL);
    bb_resp_free(&r);
}
