/* jsonschema_uri.c - URI reference resolution (RFC 3986 section 5) and JSON
 * Pointers (RFC 6901) for the jsonschema module.
 *
 * Contract: pure functions; results are malloc'd (caller frees) or NULL on
 * out-of-memory.  No I/O, no global state.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"

/* --- Parsing into components --- */

struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    bool has_scheme, has_auth, has_query, has_frag;
};

static void uri_parse(const char *s, struct uri_parts *p)
{
    memset(p, 0, sizeof *p);
    const char *c = s;
    if (isalpha((unsigned char)*c)) {
        const char *e = c + 1;
        while (isalnum((unsigned char)*e) || *e == '+' || *e == '-' || *e == '.')
            e++;
        if (*e == ':') {
            p->has_scheme = true;
            p->scheme = c;
            p->scheme_len = (size_t)(e - c);
            c = e + 1;
        }
    }
    if (c[0] == '/' && c[1] == '/') {
        p->has_auth = true;
        p->auth = c + 2;
        p->auth_len = strcspn(p->auth, "/?#");
        c = p->auth + p->auth_len;
    }
    p->path = c;
    p->path_len = strcspn(c, "?#");
    c += p->path_len;
    if (*c == '?') {
        p->has_query = true;
        p->query = c + 1;
        p->query_len = strcspn(p->query, "#");
        c = p->query + p->query_len;
    }
    if (*c == '#') {
        p->has_frag = true;
        p->frag = c + 1;
        p->frag_len = strlen(p->frag);
    }
}

/* --- Growable output string --- */

void js_buf_add(struct js_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

/* remove_dot_segments (RFC 3986 5.2.4) of in[0..n) appended to out. */
static void remove_dots(struct js_buf *out, const char *in, size_t n)
{
    struct js_buf o = {0};
    char *buf = strndup(in, n);
    size_t i = 0;
    if (!buf) {
        out->oom = true;
        return;
    }
    js_buf_add(&o, "", 0);
    while (i < n && !o.oom) {
        const char *r = buf + i;
        size_t left = n - i;
        if (left >= 3 && memcmp(r, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && memcmp(r, "./", 2) == 0) {
            i += 2;
        } else if (left >= 3 && memcmp(r, "/./", 3) == 0) {
            i += 2;
        } else if (left == 2 && memcmp(r, "/.", 2) == 0) {
            i += 1;
            buf[i] = '/';
        } else if ((left >= 4 && memcmp(r, "/../", 4) == 0) ||
                   (left == 3 && memcmp(r, "/..", 3) == 0)) {
            i += left == 3 ? 2 : 3;
            buf[i] = '/';
            char *slash = o.len ? memrchr(o.s, '/', o.len) : NULL;
            o.len = slash ? (size_t)(slash - o.s) : 0;
            o.s[o.len] = 0;
        } else if ((left == 1 && r[0] == '.') || (left == 2 && memcmp(r, "..", 2) == 0)) {
            break;
        } else {
            size_t seg = r[0] == '/' ? 1 : 0;
            while (seg < left && r[seg] != '/')
                seg++;
            js_buf_add(&o, r, seg);
            i += seg;
        }
    }
    if (o.oom)
        out->oom = true;
    else
        js_buf_add(out, o.s, o.len);
    free(o.s);
    free(buf);
}

/* Resolve ref against base (RFC 3986 5.2.2, strict parsers). */
char *js_uri_resolve(const char *base, const char *ref)
{
    struct uri_parts b, r;
    struct js_buf out = {0};
    uri_parse(ref, &r);
    if (!base || !*base || r.has_scheme)
        return strdup(ref);
    uri_parse(base, &b);
    if (b.has_scheme) {
        js_buf_add(&out, b.scheme, b.scheme_len);
        js_buf_add(&out, ":", 1);
    }
    if (r.has_auth) {
        js_buf_add(&out, "//", 2);
        js_buf_add(&out, r.auth, r.auth_len);
        remove_dots(&out, r.path, r.path_len);
        if (r.has_query) {
            js_buf_add(&out, "?", 1);
            js_buf_add(&out, r.query, r.query_len);
        }
    } else {
        if (b.has_auth) {
            js_buf_add(&out, "//", 2);
            js_buf_add(&out, b.auth, b.auth_len);
        }
        if (r.path_len == 0) {
            js_buf_add(&out, b.path, b.path_len);
            if (r.has_query) {
                js_buf_add(&out, "?", 1);
                js_buf_add(&out, r.query, r.query_len);
            } else if (b.has_query) {
                js_buf_add(&out, "?", 1);
                js_buf_add(&out, b.query, b.query_len);
            }
        } else {
            if (r.path[0] == '/') {
                remove_dots(&out, r.path, r.path_len);
            } else {
                /* merge (5.2.3) */
                struct js_buf m = {0};
                if (b.has_auth && b.path_len == 0) {
                    js_buf_add(&m, "/", 1);
                } else {
                    const char *slash = memrchr(b.path, '/', b.path_len);
                    if (slash)
                        js_buf_add(&m, b.path, (size_t)(slash - b.path) + 1);
                }
                js_buf_add(&m, r.path, r.path_len);
                if (m.oom)
                    out.oom = true;
                else
                    remove_dots(&out, m.s ? m.s : "", m.len);
                free(m.s);
            }
            if (r.has_query) {
                js_buf_add(&out, "?", 1);
                js_buf_add(&out, r.query, r.query_len);
            }
        }
    }
    if (r.has_frag) {
        js_buf_add(&out, "#", 1);
        js_buf_add(&out, r.frag, r.frag_len);
    }
    js_buf_add(&out, "", 0);
    if (out.oom) {
        free(out.s);
        return NULL;
    }
    return out.s;
}

char *js_uri_split(const char *uri, const char **frag)
{
    const char *h = strchr(uri, '#');
    *frag = h ? h + 1 : NULL;
    return strndup(uri, h ? (size_t)(h - uri) : strlen(uri));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *js_pct_decode(const char *s, size_t *len)
{
    size_t n = strlen(s), o = 0;
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n + 1 && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            d[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = 0;
    *len = o;
    return d;
}

/* Walk a JSON Pointer; each token is unescaped (~1 -> /, ~0 -> ~). */
json_t *js_pointer_get(json_t *doc, const char *ptr, size_t len)
{
    json_t *cur = doc;
    size_t i = 0;
    if (len == 0)
        return doc;
    if (ptr[0] != '/')
        return NULL;
    char *tok = malloc(len + 1);
    if (!tok)
        return NULL;
    while (i < len && cur) {
        size_t t = 0;
        i++; /* skip '/' */
        while (i < len && ptr[i] != '/') {
            if (ptr[i] == '~' && i + 1 < len && (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
                tok[t++] = ptr[i + 1] == '0' ? '~' : '/';
                i += 2;
            } else {
                tok[t++] = ptr[i++];
            }
        }
        tok[t] = 0;
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, t);
        } else if (json_is_array(cur)) {
            char *end;
            if (t == 0 || (t > 1 && tok[0] == '0') || !isdigit((unsigned char)tok[0])) {
                cur = NULL;
                break;
            }
            unsigned long idx = strtoul(tok, &end, 10);
            cur = *end ? NULL : json_array_get(cur, idx);
        } else {
            cur = NULL;
        }
    }
    free(tok);
    return cur;
}

int js_pointer_append(char **buf, size_t *len, size_t *cap, const char *key, size_t klen)
{
    size_t need = *len + 2 + klen * 2;
    if (need > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return OT_ENOMEM;
        *buf = nb;
        *cap = nc;
    }
    char *o = *buf + *len;
    *o++ = '/';
    for (size_t i = 0; i < klen; i++) {
        if (key[i] == '~') {
            *o++ = '~';
            *o++ = '0';
        } else if (key[i] == '/') {
            *o++ = '~';
            *o++ = '1';
        } else {
            *o++ = key[i];
        }
    }
    *o = 0;
    *len = (size_t)(o - *buf);
    return 0;
}
