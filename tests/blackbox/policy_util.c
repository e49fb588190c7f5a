/* policy_util.c - see policy_util.h. */
#include "policy_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double pu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *pu_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static char *mint(const char *data_dir, const char *secret, const char *sub, const char *role,
                  const char *scope)
{
    const char *argv[32];
    char roles[256];
    int n = 0;
    argv[n++] = bb_bin();
    argv[n++] = "token";
    argv[n++] = "--sub";
    argv[n++] = sub;
    snprintf(roles, sizeof roles, "%s", role);
    for (char *save = NULL, *r = strtok_r(roles, ",", &save); r && n < 24;
         r = strtok_r(NULL, ",", &save)) {
        argv[n++] = "--role";
        argv[n++] = r;
    }
    char scopes[256];
    snprintf(scopes, sizeof scopes, "%s", scope ? scope : "");
    for (char *save = NULL, *g = strtok_r(scopes, ",", &save); g && n < 26;
         g = strtok_r(NULL, ",", &save)) {
        argv[n++] = "--scope";
        argv[n++] = g;
    }
    if (secret) {
        argv[n++] = "--jwt-secret-key";
        argv[n++] = secret;
    } else {
        argv[n++] = "--data-dir";
        argv[n++] = data_dir;
    }
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = bb_run(argv, "/tmp", NULL, &out, &err);
    cr_assert_eq(rc, 0, "opstwin token failed (%d): %s", rc, err ? err : "");
    out[strcspn(out, "\r\n")] = '\0';
    cr_assert(strlen(out) > 20, "no token printed: '%s'", out);
    free(err);
    return out;
}

char *pu_mint(const bb_server *s, const char *sub, const char *role, const char *scope)
{
    char data[512];
    snprintf(data, sizeof data, "%s/data", s->dir);
    return mint(data, NULL, sub, role, scope);
}

char *pu_mint_secret(const char *secret, const char *sub, const char *role, const char *scope)
{
    return mint(NULL, secret, sub, role, scope);
}

long pu_http(const bb_server *s, const char *token, const char *method, const char *path,
             const char *body, bb_resp *r)
{
    char auth[4096];
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    else
        snprintf(auth, sizeof auth, "Authorization:");
    const char *h[] = {auth, NULL};
    return bb_http(s, method, path, body, h, r);
}

json_t *pu_req(const bb_server *s, const char *token, const char *method, const char *path,
               const char *body, long expect)
{
    bb_resp r;
    pu_http(s, token, method, path, body, &r);
    cr_assert_eq(r.status, expect, "%s %s: expected %ld, got %ld: %s", method, path, expect,
                 r.status, r.body);
    json_t *j = json_incref(r.json);
    bb_resp_free(&r);
    return j;
}

char *pu_b64url(const void *data, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = malloc(n * 4 / 3 + 4);
    size_t k = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[k++] = tab[v >> 18 & 63];
        out[k++] = tab[v >> 12 & 63];
        out[k++] = tab[v >> 6 & 63];
        out[k++] = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[k++] = tab[v >> 18 & 63];
        out[k++] = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[k++] = tab[v >> 18 & 63];
        out[k++] = tab[v >> 12 & 63];
        out[k++] = tab[v >> 6 & 63];
    }
    out[k] = '\0';
    return out;
}

char *pu_jwt(const char *secret, const char *header, const char *payload)
{
    char *h = pu_b64url(header, strlen(header)), *p = pu_b64url(payload, strlen(payload));
    size_t len = strlen(h) + strlen(p) + 2;
    char *signing = malloc(len);
    snprintf(signing, len, "%s.%s", h, p);
    char *sig = NULL;
    if (secret) {
        unsigned char md[32];
        unsigned int mlen = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing,
             strlen(signing), md, &mlen);
        sig = pu_b64url(md, mlen);
    } else {
        sig = strdup("");
    }
    size_t tl = strlen(signing) + strlen(sig) + 2;
    char *tok = malloc(tl);
    snprintf(tok, tl, "%s.%s", signing, sig);
    free(h);
    free(p);
    free(signing);
    free(sig);
    return tok;
}

void pu_hmac_hex(const char *secret, const char *body, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mlen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md, &mlen);
    for (unsigned i = 0; i < mlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

static int event_matches(const json_t *e, const char *type, const char *key, const char *value)
{
    const char *t = pu_str(e, "type");
    if (!t || strcmp(t, type) != 0)
        return 0;
    if (!key)
        return 1;
    const char *v = pu_str(e, key);
    return v && value && strcmp(v, value) == 0;
}

json_t *pu_find_event(const json_t *events, const char *type, const char *key,
                      const char *value, size_t *index)
{
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        if (event_matches(e, type, key, value)) {
            if (index)
                *index = i;
            return e;
        }
    }
    return NULL;
}

size_t pu_count_events(const json_t *events, const char *type, const char *key,
                       const char *value)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(events, i, e) n += (size_t)event_matches(e, type, key, value);
    return n;
}

json_t *pu_wait_events(const bb_server *s, const char *query, const char *type, const char *key,
                       const char *value, size_t n, double timeout_s)
{
    double deadline = pu_now() + timeout_s;
    for (;;) {
        json_t *ev = bb_diff_all(s, query, 1000);
        if (pu_count_events(ev, type, key, value) >= n)
            return ev;
        if (pu_now() > deadline) {
            char *dump = json_dumps(ev, JSON_COMPACT);
            cr_assert_fail("waited %.0f s for %zu %s event(s)%s%s%s in /diff?%s; have: %.4000s",
                           timeout_s, n, type, key ? " with " : "", key ? key : "",
                           key ? "=value" : "", query, dump ? dump : "");
        }
        json_decref(ev);
        usleep(100000);
    }
}

json_t *pu_wait_action(const bb_server *s, const char *action_id, double timeout_s)
{
    double deadline = pu_now() + timeout_s;
    for (;;) {
        json_t *a = bb_getf(s, 200, "/actions/%s", action_id);
        const char *st = pu_str(a, "status");
        if (st && strcmp(st, "pending") != 0 && strcmp(st, "running") != 0)
            return a;
        cr_assert(pu_now() < deadline, "action %s still %s after %.0f s", action_id,
                  st ? st : "(no status)", timeout_s);
        json_decref(a);
        usleep(100000);
    }
}

void pu_ingest_series(const bb_server *s, const char *twin, const char *asset,
                      const char *metric, int n, double spike)
{
    json_t *batch = json_array();
    long long end = (long long)time(NULL) - 5;
    int total = n + (spike != 0);
    for (int i = 0; i < total; i++) {
        double v = i < n ? 70 + 0.5 * sin(i * 0.7) + 0.3 * cos(i * 1.3)
                         : spike;
        json_t *m = json_object();
        json_object_set_new(m, metric, json_real(v));
        json_array_append_new(batch, json_pack("{s:s, s:s, s:o, s:I}", "twin_id", twin,
                                               "asset_id", asset, "metrics", m, "ts",
                                               (json_int_t)(end - 60LL * (total - 1 - i))));
    }
    char *body = json_dumps(batch, JSON_COMPACT);
    json_t *r = bb_req(s, "POST", "/telemetry/ingest", body, 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "accepted")), total, "ingest: %s", body);
    json_decref(r);
    free(body);
    json_decref(batch);
}

json_t *pu_setpoint(const bb_server *s, const char *twin, const char *key)
{
    json_t *t = bb_getf(s, 200, "/twins/%s", twin);
    json_t *v = json_object_get(json_object_get(t, "parameters"), key);
    json_t *out = v && !json_is_null(v) ? json_incref(v) : NULL;
    json_decref(t);
    return out;
}
