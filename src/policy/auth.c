/* auth.c - see auth.h. */
#include "policy/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hex.h"

#define P(x) (1u << (x))

#define CACHE_SLOTS 64
#define CACHE_TOKEN_MAX 1024 /* longer tokens are verified every time */

static const struct {
    const char *name;
    unsigned perms;
} roles[] = {
    {"viewer", P(OT_PERM_READ)},
    {"agent", P(OT_PERM_READ) | P(OT_PERM_PROPOSE)},
    {"executor", P(OT_PERM_READ) | P(OT_PERM_EXECUTE)},
    {"supervisor", P(OT_PERM_READ) | P(OT_PERM_PROPOSE) | P(OT_PERM_APPROVE)},
    {"admin", P(OT_PERM_READ) | P(OT_PERM_PROPOSE) | P(OT_PERM_APPROVE) | P(OT_PERM_EXECUTE) |
                  P(OT_PERM_ADMIN)},
};

unsigned ot_role_perms(const char *role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i].name, role) == 0)
            return roles[i].perms;
    return 0;
}

int ot_role_valid(const char *role) { return ot_role_perms(role) != 0; }

const char *ot_perm_name(enum ot_perm p)
{
    static const char *names[] = {"public", "read", "propose", "approve", "execute", "admin"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "admin";
}

int ot_principal_can(const ot_principal *p, enum ot_perm perm)
{
    return perm == OT_PERM_PUBLIC || (p->perms & P(perm)) != 0;
}

int ot_principal_scope_ok(const ot_principal *p, const char *twin_id)
{
    if (p->nscopes == 0)
        return 1;
    const char *g = p->scopes;
    for (int i = 0; i < p->nscopes; i++, g += strlen(g) + 1)
        if (fnmatch(g, twin_id, 0) == 0)
            return 1;
    return 0;
}

static int add_scope(ot_principal *p, const char *s, size_t n, ot_error *err)
{
    if (n == 0)
        return 0;
    size_t used = 0;
    for (int i = 0; i < p->nscopes; i++)
        used += strlen(p->scopes + used) + 1;
    if (p->nscopes == OT_AUTH_MAX_SCOPES || n >= OT_AUTH_SCOPE_MAX ||
        used + n + 1 > sizeof p->scopes)
        return ot_error_set(err, OT_EUNAUTH, NULL, "token scope has too many or too long globs");
    memcpy(p->scopes + used, s, n);
    p->scopes[used + n] = '\0';
    p->nscopes++;
    return 0;
}

/* Parse the roles and scope claims (given as JSON text by libjwt). */
static int parse_claims(jwt_t *jwt, ot_principal *p, ot_error *err)
{
    char *rj = jwt_get_grants_json(jwt, "roles");
    json_t *r = rj ? json_loads(rj, JSON_DECODE_ANY, NULL) : NULL;
    free(rj);
    int rc = 0;
    if (json_is_string(r)) {
        json_t *a = json_array();
        json_array_append(a, r);
        json_decref(r);
        r = a;
    }
    if (!json_is_array(r) || json_array_size(r) == 0) {
        rc = ot_error_set(err, OT_EUNAUTH, NULL, "token has no roles claim");
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(r, i, v) {
        const char *name = json_string_value(v);
        if (!name) {
            rc = ot_error_set(err, OT_EUNAUTH, NULL, "token roles must be strings");
            goto out;
        }
        p->perms |= ot_role_perms(name);
        size_t used = strlen(p->roles);
        snprintf(p->roles + used, sizeof p->roles - used, "%s%s", used ? "," : "", name);
    }
    char *sj = jwt_get_grants_json(jwt, "scope");
    json_t *s = sj ? json_loads(sj, JSON_DECODE_ANY, NULL) : NULL;
    free(sj);
    if (json_is_string(s)) {
        for (const char *q = json_string_value(s); *q && !rc;) {
            size_t n = strcspn(q, " ,");
            rc = add_scope(p, q, n, err);
            q += n;
            q += strspn(q, " ,");
        }
    } else if (json_is_array(s)) {
        json_array_foreach(s, i, v) {
            if (!json_is_string(v)) {
                rc = ot_error_set(err, OT_EUNAUTH, NULL, "token scope must hold strings");
                break;
            }
            rc = add_scope(p, json_string_value(v), json_string_length(v), err);
            if (rc)
                break;
        }
    } else if (s) {
        rc = ot_error_set(err, OT_EUNAUTH, NULL, "token scope must be a string or an array");
    }
    json_decref(s);
out:
    json_decref(r);
    return rc;
}

int ot_auth_verify(const char *secret, const char *token, int64_t now_s, ot_principal *out,
                   ot_error *err)
{
    memset(out, 0, sizeof *out);
    jwt_t *jwt = NULL;
    /* libjwt verifies the signature with the key; alg "none" with a key is
     * refused there, and any other algorithm is refused below */
    if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) || !jwt)
        return ot_error_set(err, OT_EUNAUTH, NULL,
                            "invalid token: bad signature or malformed JWT");
    int rc = 0;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        rc = ot_error_set(err, OT_EUNAUTH, NULL, "invalid token: algorithm must be HS256");
        goto out;
    }
    const char *sub = jwt_get_grant(jwt, "sub");
    if (!sub || !*sub || strlen(sub) >= OT_AUTH_SUB_MAX) {
        rc = ot_error_set(err, OT_EUNAUTH, NULL, "invalid token: missing sub claim");
        goto out;
    }
    snprintf(out->sub, sizeof out->sub, "%s", sub);
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    if (errno == ENOENT || exp <= 0) {
        rc = ot_error_set(err, OT_EUNAUTH, NULL, "invalid token: missing exp claim");
        goto out;
    }
    if (exp <= now_s) {
        rc = ot_error_set(err, OT_EUNAUTH, NULL, "token expired; mint a new one");
        goto out;
    }
    out->exp = exp;
    rc = parse_claims(jwt, out, err);
out:
    jwt_free(jwt);
    return rc;
}

char *ot_auth_mint(const char *secret, const char *sub, const char *const *rl, int nroles,
                   const char *const *scopes, int nscopes, int64_t ttl_s, ot_error *err)
{
    jwt_t *jwt = NULL;
    char *tok = NULL;
    json_t *claims = json_pack("{s:s, s:I, s:I, s:[]}", "sub", sub, "iat",
                               (json_int_t)time(NULL), "exp", (json_int_t)(time(NULL) + ttl_s),
                               "roles");
    for (int i = 0; i < nroles; i++)
        json_array_append_new(json_object_get(claims, "roles"), json_string(rl[i]));
    if (nscopes > 0) {
        json_t *sc = json_array();
        for (int i = 0; i < nscopes; i++)
            json_array_append_new(sc, json_string(scopes[i]));
        json_object_set_new(claims, "scope", sc);
    }
    char *text = ot_json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    if (!text || jwt_new(&jwt) || jwt_add_grants_json(jwt, text) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret))) {
        ot_error_set(err, OT_EINTERNAL, NULL, "could not build the token");
        goto out;
    }
    tok = jwt_encode_str(jwt);
    if (!tok)
        ot_error_set(err, OT_ENOMEM, NULL, "could not encode the token");
out:
    free(text);
    jwt_free(jwt);
    return tok;
}

struct cache_slot {
    size_t len;               /* 0 = empty */
    char token[CACHE_TOKEN_MAX];
    ot_principal p;
};

struct ot_auth_cache {
    pthread_mutex_t mu;
    unsigned long hits;
    struct cache_slot slot[CACHE_SLOTS];
};

ot_auth_cache *ot_auth_cache_new(void)
{
    ot_auth_cache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

void ot_auth_cache_free(ot_auth_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

unsigned long ot_auth_cache_hits(ot_auth_cache *c)
{
    pthread_mutex_lock(&c->mu);
    unsigned long h = c->hits;
    pthread_mutex_unlock(&c->mu);
    return h;
}

static size_t cache_index(const char *token, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 1099511628211ULL;
    return (size_t)(h % CACHE_SLOTS);
}

int ot_auth_verify_cached(ot_auth_cache *c, const char *secret, const char *token,
                          int64_t now_s, ot_principal *out, ot_error *err)
{
    size_t len = strlen(token);
    if (!c || len == 0 || len >= CACHE_TOKEN_MAX)
        return ot_auth_verify(secret, token, now_s, out, err);
    struct cache_slot *s = &c->slot[cache_index(token, len)];
    pthread_mutex_lock(&c->mu);
    /* constant time over the token: no timing tells how much of a guess
     * matched the verified token held here */
    if (s->len == len && CRYPTO_memcmp(s->token, token, len) == 0) {
        if (s->p.exp > now_s) {
            *out = s->p;
            c->hits++;
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        s->len = 0; /* expired: verify below says so */
    }
    pthread_mutex_unlock(&c->mu);
    int rc = ot_auth_verify(secret, token, now_s, out, err);
    if (rc == 0) {
        pthread_mutex_lock(&c->mu);
        memcpy(s->token, token, len);
        s->len = len;
        s->p = *out;
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

int ot_auth_load_secret(const char *data_dir, char *out, size_t outlen, int *created,
                        ot_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/.jwt_secret", data_dir);
    *created = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        int ok = fgets(out, (int)outlen, f) != NULL;
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (ok && strlen(out) >= 32)
            return 0;
        return ot_error_set(err, OT_EIO, "JWT_SECRET_KEY", "%s is unreadable or too short; "
                            "remove it or set JWT_SECRET_KEY", path);
    }
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return ot_error_set(err, OT_EIO, NULL, "no randomness for a JWT secret");
    if (outlen < 65)
        return ot_error_set(err, OT_EINTERNAL, NULL, "secret buffer too small");
    ot_hex_encode(raw, sizeof raw, out);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return ot_error_set(err, OT_EIO, "DATA_DIR", "cannot create %s: %s", path,
                            strerror(errno));
    ssize_t w = write(fd, out, 64);
    int rc = (w == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0) ? 0 : -1;
    close(fd);
    if (rc)
        return ot_error_set(err, OT_EIO, "DATA_DIR", "cannot write %s", path);
    *created = 1;
    return 0;
}
