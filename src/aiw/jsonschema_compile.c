/* jsonschema_compile.c - schema documents -> the compiled node graph.
 *
 * Two passes per document.  The index pass walks every subschema reachable
 * through known applicator keywords (never into enum, const or unknown
 * keywords), resolving "$id" against the enclosing base URI (RFC 3986) and
 * recording resources, "$anchor"s, "$dynamicAnchor"s and each subschema's
 * base URI, location and active vocabularies.  The compile pass turns each
 * subschema into one js_node; subschemas are queued, not recursed into, so
 * deep schemas and $ref cycles cost no stack.  "$ref" targets in other
 * documents are loaded from the set on first use and indexed then.
 *
 * Contract: ot_jsonschema_compile either returns a complete graph or NULL
 * with err naming the schema location (OT_EINVAL) or OT_ENOMEM.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"

#define COMPILE_MAX_DEPTH 512
#define META_2020_12 "https://json-schema.org/draft/2020-12/schema"

/* --- Arena --- */

struct js_arena_chunk {
    struct js_arena_chunk *next;
    size_t used, size;
    max_align_t data[];
};

void *js_arena_alloc(struct js_arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct js_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > 16384 ? n : 16384;
        c = calloc(1, sizeof *c + size);
        if (!c)
            return NULL;
        c->size = size;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *js_arena_strndup(struct js_arena *a, const char *s, size_t n)
{
    char *d = js_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

void js_arena_free(struct js_arena *a)
{
    struct js_arena_chunk *c = a->head;
    while (c) {
        struct js_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

/* --- A small hash map (pointer or string keys), compile time only --- */

struct hent {
    const void *key;
    void *val;
};

struct hmap {
    struct hent *e;
    size_t n, cap;
    bool str;
};

static uint64_t hkey(const struct hmap *m, const void *k)
{
    uint64_t h = 1469598103934665603ull;
    if (!m->str)
        return ((uint64_t)(uintptr_t)k) * 0x9E3779B97F4A7C15ull;
    for (const unsigned char *p = k; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static bool hkeq(const struct hmap *m, const void *a, const void *b)
{
    return m->str ? strcmp(a, b) == 0 : a == b;
}

static void *hm_get(const struct hmap *m, const void *k)
{
    if (!m->cap)
        return NULL;
    for (size_t i = hkey(m, k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->e[i].key)
            return NULL;
        if (hkeq(m, m->e[i].key, k))
            return m->e[i].val;
    }
}

/* Insert or replace; key must outlive the map. */
static int hm_put(struct hmap *m, const void *k, void *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct hent *ne = calloc(cap, sizeof *ne);
        if (!ne)
            return OT_ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].key)
                continue;
            size_t j = hkey(m, m->e[i].key) & (cap - 1);
            while (ne[j].key)
                j = (j + 1) & (cap - 1);
            ne[j] = m->e[i];
        }
        free(m->e);
        m->e = ne;
        m->cap = cap;
    }
    size_t i = hkey(m, k) & (m->cap - 1);
    while (m->e[i].key && !hkeq(m, m->e[i].key, k))
        i = (i + 1) & (m->cap - 1);
    if (!m->e[i].key)
        m->n++;
    m->e[i].key = k;
    m->e[i].val = v;
    return 0;
}

/* --- Compiler state --- */

struct sinfo { /* what the index pass knows of one subschema */
    const char *base;         /* base URI (no fragment) */
    struct js_resource *res;  /* the resource it belongs to */
    const char *loc;          /* location for messages */
    unsigned vocab;           /* JS_V_* active here */
    js_node *node;            /* once queued for compile */
};

struct rinfo { /* a resource by URI */
    json_t *root;
    struct js_resource *res;
};

struct dynpending {
    struct js_resource *res;
    const char *name;
    json_t *schema;
};

struct comp {
    ot_schema_set *set;
    ot_jsonschema *out;
    ot_error *err;
    struct hmap info;    /* json_t* -> sinfo */
    struct hmap res;     /* uri -> rinfo */
    struct hmap anchors; /* "uri#name" -> json_t* */
    json_t **work;       /* queued subschemas */
    size_t nwork, capwork;
    struct dynpending *dyn;
    size_t ndyn, capdyn;
};

static int oom(struct comp *c) { return ot_error_set(c->err, OT_ENOMEM, NULL, "out of memory compiling a schema"); }

static int bad(struct comp *c, const char *loc, const char *kw, const char *what)
{
    return ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s/%s': %s", loc, kw, what);
}

/* Arena string "a" + "/" + escaped b. */
static const char *loc_join(struct comp *c, const char *a, const char *b)
{
    char *buf = NULL;
    size_t len = strlen(a), cap = 0;
    const char *r = NULL;
    cap = len + 1;
    buf = malloc(cap);
    if (!buf)
        return NULL;
    memcpy(buf, a, len + 1);
    if (js_pointer_append(&buf, &len, &cap, b, strlen(b)) == 0)
        r = js_arena_strndup(&c->out->arena, buf, len);
    free(buf);
    return r;
}

static const char *loc_index(struct comp *c, const char *a, size_t i)
{
    char k[32];
    snprintf(k, sizeof k, "%zu", i);
    return loc_join(c, a, k);
}

/* --- Vocabularies from "$schema" --- */

static int index_doc(struct comp *c, json_t *doc, const char *uri, bool is_root, struct rinfo **out);

/* The vocabularies a meta-schema URI enables. */
static int meta_vocab(struct comp *c, const char *uri, unsigned *vocab)
{
    static const struct {
        const char *uri;
        unsigned bit;
    } known[] = {
        {"https://json-schema.org/draft/2020-12/vocab/applicator", JS_V_APPLICATOR},
        {"https://json-schema.org/draft/2020-12/vocab/validation", JS_V_VALIDATION},
        {"https://json-schema.org/draft/2020-12/vocab/unevaluated", JS_V_UNEVALUATED},
        {"https://json-schema.org/draft/2020-12/vocab/format-annotation", JS_V_FORMAT},
        {"https://json-schema.org/draft/2020-12/vocab/format-assertion", JS_V_FORMAT},
    };
    const char *frag;
    *vocab = JS_V_ALL;
    char *base = js_uri_split(uri, &frag);
    if (!base)
        return oom(c);
    if (strcmp(base, META_2020_12) == 0) {
        free(base);
        return 0;
    }
    struct rinfo *r = hm_get(&c->res, base);
    json_t *doc = r ? r->root : js_set_load(c->set, base, c->err);
    free(base);
    if (c->err && c->err->code)
        return c->err->code;
    json_t *voc = json_object_get(doc, "$vocabulary");
    if (!json_is_object(voc))
        return 0; /* unknown or older meta-schema: everything applies */
    *vocab = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (json_object_get(voc, known[i].uri))
            *vocab |= known[i].bit;
    return 0;
}

/* --- Index pass --- */

static int index_schema(struct comp *c, json_t *s, const char *base, struct js_resource *res,
                        const char *loc, unsigned vocab, int depth);

static const char *const sub_one[] = {"additionalProperties", "propertyNames", "items", "contains", "not",
                                      "if", "then", "else", "unevaluatedItems", "unevaluatedProperties",
                                      "contentSchema", NULL};
static const char *const sub_map[] = {"properties", "patternProperties", "dependentSchemas", "$defs",
                                      "definitions", NULL};
static const char *const sub_list[] = {"allOf", "anyOf", "oneOf", "prefixItems", NULL};

/* Create a resource for uri and register it. */
static struct js_resource *new_resource(struct comp *c, const char *uri, json_t *root)
{
    struct js_resource *r = js_arena_alloc(&c->out->arena, sizeof *r);
    struct rinfo *ri = js_arena_alloc(&c->out->arena, sizeof *ri);
    if (!r || !ri || !(r->uri = js_arena_strndup(&c->out->arena, uri, strlen(uri))))
        return NULL;
    ri->root = root;
    ri->res = r;
    if (hm_put(&c->res, r->uri, ri) != 0)
        return NULL;
    return r;
}

static int add_anchor(struct comp *c, const char *base, const char *name, json_t *s)
{
    size_t n = strlen(base) + strlen(name) + 2;
    char *key = js_arena_alloc(&c->out->arena, n);
    if (!key)
        return oom(c);
    snprintf(key, n, "%s#%s", base, name);
    return hm_put(&c->anchors, key, s) == 0 ? 0 : oom(c);
}

/* $id, $schema, $anchor, $dynamicAnchor of an object schema. */
static int index_ids(struct comp *c, json_t *s, const char **base, struct js_resource **res, const char *loc,
                     unsigned *vocab)
{
    json_t *id = json_object_get(s, "$id");
    if (id) {
        const char *frag;
        if (!json_is_string(id))
            return bad(c, loc, "$id", "must be a string");
        char *abs = js_uri_resolve(*base, json_string_value(id));
        char *nb = abs ? js_uri_split(abs, &frag) : NULL;
        free(abs);
        if (!nb)
            return oom(c);
        *base = js_arena_strndup(&c->out->arena, nb, strlen(nb));
        free(nb);
        if (!*base || !(*res = new_resource(c, *base, s)))
            return oom(c);
    }
    json_t *sch = json_object_get(s, "$schema");
    if (sch) {
        if (!json_is_string(sch))
            return bad(c, loc, "$schema", "must be a string");
        int rc = meta_vocab(c, json_string_value(sch), vocab);
        if (rc)
            return rc;
    }
    json_t *anc = json_object_get(s, "$anchor");
    if (anc) {
        if (!json_is_string(anc))
            return bad(c, loc, "$anchor", "must be a string");
        if (add_anchor(c, *base, json_string_value(anc), s))
            return OT_ENOMEM;
    }
    json_t *dyn = json_object_get(s, "$dynamicAnchor");
    if (dyn) {
        if (!json_is_string(dyn))
            return bad(c, loc, "$dynamicAnchor", "must be a string");
        if (add_anchor(c, *base, json_string_value(dyn), s))
            return OT_ENOMEM;
        if (c->ndyn == c->capdyn) {
            size_t cap = c->capdyn ? c->capdyn * 2 : 16;
            struct dynpending *nd = realloc(c->dyn, cap * sizeof *nd);
            if (!nd)
                return oom(c);
            c->dyn = nd;
            c->capdyn = cap;
        }
        c->dyn[c->ndyn++] = (struct dynpending){*res, json_string_value(dyn), s};
    }
    return 0;
}

static int index_children(struct comp *c, json_t *s, const char *base, struct js_resource *res,
                          const char *loc, unsigned vocab, int depth)
{
    int rc = 0;
    for (int i = 0; sub_one[i]; i++) {
        json_t *v = json_object_get(s, sub_one[i]);
        if (v && (rc = index_schema(c, v, base, res, loc_join(c, loc, sub_one[i]), vocab, depth + 1)))
            return rc;
    }
    for (int i = 0; sub_map[i]; i++) {
        json_t *m = json_object_get(s, sub_map[i]), *v;
        const char *k;
        if (!m)
            continue;
        if (!json_is_object(m))
            return bad(c, loc, sub_map[i], "must be an object whose values are schemas");
        const char *mloc = loc_join(c, loc, sub_map[i]);
        json_object_foreach(m, k, v) {
            if ((rc = index_schema(c, v, base, res, mloc ? loc_join(c, mloc, k) : NULL, vocab, depth + 1)))
                return rc;
        }
    }
    for (int i = 0; sub_list[i]; i++) {
        json_t *a = json_object_get(s, sub_list[i]), *v;
        size_t j;
        if (!a)
            continue;
        if (!json_is_array(a) || json_array_size(a) == 0)
            return bad(c, loc, sub_list[i], "must be a non-empty array of schemas");
        const char *aloc = loc_join(c, loc, sub_list[i]);
        json_array_foreach(a, j, v) {
            if ((rc = index_schema(c, v, base, res, aloc ? loc_index(c, aloc, j) : NULL, vocab, depth + 1)))
                return rc;
        }
    }
    return 0;
}

/* Record s and everything below it. */
static int index_schema(struct comp *c, json_t *s, const char *base, struct js_resource *res,
                        const char *loc, unsigned vocab, int depth)
{
    int rc;
    if (!loc)
        return oom(c);
    if (!json_is_object(s) && !json_is_boolean(s))
        return ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s': a schema must be an object or a boolean",
                            loc);
    if (hm_get(&c->info, s))
        return 0; /* the same JSON value reached twice */
    if (depth > COMPILE_MAX_DEPTH)
        return ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s': nested deeper than %d levels", loc,
                            COMPILE_MAX_DEPTH);
    if (json_is_object(s) && (rc = index_ids(c, s, &base, &res, loc, &vocab)))
        return rc;
    struct sinfo *si = js_arena_alloc(&c->out->arena, sizeof *si);
    if (!si)
        return oom(c);
    *si = (struct sinfo){base, res, loc, vocab, NULL};
    if (hm_put(&c->info, s, si))
        return oom(c);
    return json_is_object(s) ? index_children(c, s, base, res, loc, vocab, depth) : 0;
}

/* Index a whole document fetched as uri; *out is its resource entry.
 * Locations in documents other than the one compiled are prefixed by their
 * URI and '#'. */
static int index_doc(struct comp *c, json_t *doc, const char *uri, bool is_root, struct rinfo **out)
{
    int rc;
    const char *prefix = "";
    struct js_resource *r = new_resource(c, uri, doc);
    if (!r)
        return oom(c);
    if (!is_root) {
        size_t n = strlen(uri) + 2;
        char *p = js_arena_alloc(&c->out->arena, n);
        if (!p)
            return oom(c);
        snprintf(p, n, "%s#", uri);
        prefix = p;
    }
    if ((rc = index_schema(c, doc, r->uri, r, prefix, JS_V_ALL, 0)))
        return rc;
    struct sinfo *si = hm_get(&c->info, doc);
    struct rinfo *ri = hm_get(&c->res, r->uri);
    ri->res = si->res; /* the document's own $id resource, if it has one */
    *out = ri;
    return 0;
}

/* --- Compile pass --- */

/* The node of an indexed subschema, queued for compiling on first use. */
static js_node *get_node(struct comp *c, json_t *s)
{
    struct sinfo *si = hm_get(&c->info, s);
    if (!si)
        return NULL;
    if (si->node)
        return si->node;
    js_node *n = js_arena_alloc(&c->out->arena, sizeof *n);
    if (!n)
        return NULL;
    n->loc = si->loc;
    n->res = si->res;
    si->node = n;
    if (c->nwork == c->capwork) {
        size_t cap = c->capwork ? c->capwork * 2 : 64;
        json_t **nw = realloc(c->work, cap * sizeof *nw);
        if (!nw)
            return NULL;
        c->work = nw;
        c->capwork = cap;
    }
    c->work[c->nwork++] = s;
    return n;
}

static int keep_doc(struct comp *c, json_t *doc)
{
    if (c->out->ndocs == c->out->capdocs) {
        size_t cap = c->out->capdocs ? c->out->capdocs * 2 : 8;
        json_t **nd = realloc(c->out->docs, cap * sizeof *nd);
        if (!nd)
            return oom(c);
        c->out->docs = nd;
        c->out->capdocs = cap;
    }
    c->out->docs[c->out->ndocs++] = json_incref(doc);
    return 0;
}

/* Resolve a $ref / $dynamicRef value against base to an indexed schema.
 * *anchor receives the plain-name fragment, if that is what it used. */
static int resolve_ref(struct comp *c, const char *base, const char *ref, const char *loc, const char *kw,
                       json_t **target, const char **anchor)
{
    const char *frag;
    int rc = 0;
    char *abs = js_uri_resolve(base, ref), *doc = abs ? js_uri_split(abs, &frag) : NULL;
    char *dec = NULL;
    size_t declen = 0;
    *target = NULL;
    *anchor = NULL;
    if (!doc) {
        rc = oom(c);
        goto out;
    }
    struct rinfo *r = hm_get(&c->res, doc);
    if (!r) {
        json_t *d = js_set_load(c->set, doc, c->err);
        if (!d) {
            if (!c->err->code)
                ot_error_set(c->err, OT_EINVAL, NULL,
                             "invalid schema at '%s/%s': cannot resolve '%s': no schema '%s' is known "
                             "(add it to the set or map its prefix to a folder with --preload)",
                             loc, kw, ref, doc);
            rc = c->err->code;
            goto out;
        }
        if ((rc = keep_doc(c, d)) || (rc = index_doc(c, d, doc, false, &r)))
            goto out;
    }
    if (!frag || !*frag) {
        *target = r->root;
    } else if (frag[0] == '/') {
        if (!(dec = js_pct_decode(frag, &declen))) {
            rc = oom(c);
            goto out;
        }
        *target = js_pointer_get(r->root, dec, declen);
        if (*target && !hm_get(&c->info, *target)) { /* inside an unknown keyword */
            struct sinfo *si = js_arena_alloc(&c->out->arena, sizeof *si);
            const char *l = js_arena_strndup(&c->out->arena, abs, strlen(abs));
            struct sinfo *rs = hm_get(&c->info, r->root);
            if (!si || !l) {
                rc = oom(c);
                goto out;
            }
            if (!json_is_object(*target) && !json_is_boolean(*target)) {
                rc = bad(c, loc, kw, "the reference does not point to a schema");
                goto out;
            }
            *si = (struct sinfo){rs->base, rs->res, l, rs->vocab, NULL};
            if (hm_put(&c->info, *target, si)) {
                rc = oom(c);
                goto out;
            }
            if ((rc = index_children(c, *target, rs->base, rs->res, l, rs->vocab, 1)))
                goto out;
        }
    } else {
        char *key = malloc(strlen(doc) + strlen(frag) + 2);
        if (!key) {
            rc = oom(c);
            goto out;
        }
        sprintf(key, "%s#%s", doc, frag);
        *target = hm_get(&c->anchors, key);
        free(key);
        *anchor = json_string_value(json_object_get(*target, "$dynamicAnchor"));
        if (*anchor && strcmp(*anchor, frag) != 0)
            *anchor = NULL;
    }
    if (!*target)
        rc = ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s/%s': cannot resolve '%s': '%s' has no such location",
                          loc, kw, ref, doc);
out:
    free(abs);
    free(doc);
    free(dec);
    return rc;
}

/* --- Keyword readers --- */

static js_node *sub(struct comp *c, json_t *s, const char *kw)
{
    json_t *v = json_object_get(s, kw);
    return v ? get_node(c, v) : NULL;
}

static int sub_list_get(struct comp *c, json_t *s, const char *kw, js_node ***out, size_t *n)
{
    json_t *a = json_object_get(s, kw), *v;
    size_t i;
    if (!a)
        return 0;
    *n = json_array_size(a);
    *out = js_arena_alloc(&c->out->arena, *n * sizeof **out);
    if (!*out)
        return oom(c);
    json_array_foreach(a, i, v) {
        if (!((*out)[i] = get_node(c, v)))
            return oom(c);
    }
    return 0;
}

/* A non-negative integer keyword (2.0 counts as 2). */
static int count_kw(struct comp *c, json_t *s, const char *loc, const char *kw, uint32_t bit, js_node *n,
                    size_t *out)
{
    json_t *v = json_object_get(s, kw);
    if (!v)
        return 0;
    if (!json_is_number(v) || !js_is_integral(v) || json_number_value(v) < 0)
        return bad(c, loc, kw, "must be a non-negative integer");
    double d = json_number_value(v);
    *out = d >= (double)SIZE_MAX ? SIZE_MAX : (size_t)d;
    n->has |= bit;
    return 0;
}

static int number_kw(struct comp *c, json_t *s, const char *loc, const char *kw, uint32_t bit, js_node *n,
                     const json_t **out)
{
    json_t *v = json_object_get(s, kw);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return bad(c, loc, kw, "must be a number");
    *out = v;
    n->has |= bit;
    return 0;
}

static int strlist(struct comp *c, json_t *a, const char *loc, const char *kw, struct js_strlist *out)
{
    json_t *v;
    size_t i;
    if (!json_is_array(a))
        return bad(c, loc, kw, "must be an array of strings");
    out->n = json_array_size(a);
    out->v = js_arena_alloc(&c->out->arena, out->n * sizeof *out->v + 1);
    out->len = js_arena_alloc(&c->out->arena, out->n * sizeof *out->len + 1);
    if (!out->v || !out->len)
        return oom(c);
    json_array_foreach(a, i, v) {
        if (!json_is_string(v))
            return bad(c, loc, kw, "must be an array of strings");
        out->v[i] = json_string_value(v);
        out->len[i] = json_string_length(v);
    }
    return 0;
}

static int named_cmp(const void *a, const void *b)
{
    const struct js_named *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->name, y->name, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int named_map(struct comp *c, json_t *s, const char *kw, struct js_named **out, size_t *n)
{
    json_t *m = json_object_get(s, kw), *v;
    const char *k;
    size_t i = 0;
    if (!m)
        return 0;
    *n = json_object_size(m);
    *out = js_arena_alloc(&c->out->arena, *n * sizeof **out + 1);
    if (!*out)
        return oom(c);
    json_object_foreach(m, k, v) {
        (*out)[i].name = k;
        (*out)[i].len = json_object_iter_key_len(json_object_key_to_iter(k));
        if (!((*out)[i].schema = get_node(c, v)))
            return oom(c);
        i++;
    }
    qsort(*out, *n, sizeof **out, named_cmp);
    return 0;
}

static int add_regex(struct comp *c, const char *loc, const char *kw, json_t *src, struct js_regex *re)
{
    char why[256];
    if (!json_is_string(src))
        return bad(c, loc, kw, "must be a string (an ECMA-262 regular expression)");
    int rc = js_regex_compile(json_string_value(src), json_string_length(src), &re->code, why, sizeof why);
    if (rc == OT_ENOMEM)
        return oom(c);
    if (rc)
        return bad(c, loc, kw, why);
    re->src = json_string_value(src);
    if (c->out->ncodes == c->out->capcodes) {
        size_t cap = c->out->capcodes ? c->out->capcodes * 2 : 8;
        pcre2_code **nc = realloc(c->out->codes, cap * sizeof *nc);
        if (!nc) {
            pcre2_code_free(re->code);
            return oom(c);
        }
        c->out->codes = nc;
        c->out->capcodes = cap;
    }
    c->out->codes[c->out->ncodes++] = re->code;
    return 0;
}

static int type_bit(const char *t)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    for (int i = 0; i < 7; i++)
        if (strcmp(t, names[i]) == 0)
            return 1 << i;
    return 0;
}

static int type_kw(struct comp *c, json_t *s, const char *loc, js_node *n)
{
    json_t *t = json_object_get(s, "type"), *v;
    size_t i;
    if (!t)
        return 0;
    n->has |= K_TYPE;
    if (json_is_string(t)) {
        if (!(n->types = (unsigned)type_bit(json_string_value(t))))
            return bad(c, loc, "type", "unknown type name (use null, boolean, object, array, number, string or integer)");
        return 0;
    }
    if (!json_is_array(t))
        return bad(c, loc, "type", "must be a type name or an array of type names");
    json_array_foreach(t, i, v) {
        int b = json_is_string(v) ? type_bit(json_string_value(v)) : 0;
        if (!b)
            return bad(c, loc, "type", "unknown type name (use null, boolean, object, array, number, string or integer)");
        n->types |= (unsigned)b;
    }
    return 0;
}

/* type, enum, const, numeric, string, array and object assertions. */
static int validation_kws(struct comp *c, json_t *s, const char *loc, js_node *n)
{
    int rc;
    json_t *v;
    if ((rc = type_kw(c, s, loc, n)))
        return rc;
    if ((v = json_object_get(s, "enum"))) {
        if (!json_is_array(v))
            return bad(c, loc, "enum", "must be an array");
        n->enum_ = v;
        n->has |= K_ENUM;
    }
    if ((v = json_object_get(s, "const"))) {
        n->const_ = v;
        n->has |= K_CONST;
    }
    if ((rc = number_kw(c, s, loc, "multipleOf", K_MULTIPLE, n, &n->multiple_of)) ||
        (rc = number_kw(c, s, loc, "maximum", K_MAXIMUM, n, &n->maximum)) ||
        (rc = number_kw(c, s, loc, "exclusiveMaximum", K_EXMAXIMUM, n, &n->ex_maximum)) ||
        (rc = number_kw(c, s, loc, "minimum", K_MINIMUM, n, &n->minimum)) ||
        (rc = number_kw(c, s, loc, "exclusiveMinimum", K_EXMINIMUM, n, &n->ex_minimum)))
        return rc;
    if (n->multiple_of && json_number_value(n->multiple_of) <= 0)
        return bad(c, loc, "multipleOf", "must be greater than 0");
    if ((rc = count_kw(c, s, loc, "maxLength", K_MAXLEN, n, &n->max_len)) ||
        (rc = count_kw(c, s, loc, "minLength", K_MINLEN, n, &n->min_len)) ||
        (rc = count_kw(c, s, loc, "maxItems", K_MAXITEMS, n, &n->max_items)) ||
        (rc = count_kw(c, s, loc, "minItems", K_MINITEMS, n, &n->min_items)) ||
        (rc = count_kw(c, s, loc, "maxContains", K_MAXCONTAINS, n, &n->max_contains)) ||
        (rc = count_kw(c, s, loc, "minContains", K_MINCONTAINS, n, &n->min_contains)) ||
        (rc = count_kw(c, s, loc, "maxProperties", K_MAXPROPS, n, &n->max_props)) ||
        (rc = count_kw(c, s, loc, "minProperties", K_MINPROPS, n, &n->min_props)))
        return rc;
    if ((v = json_object_get(s, "pattern"))) {
        if ((rc = add_regex(c, loc, "pattern", v, &n->pattern)))
            return rc;
        n->has |= K_PATTERN;
    }
    if ((v = json_object_get(s, "uniqueItems"))) {
        if (!json_is_boolean(v))
            return bad(c, loc, "uniqueItems", "must be a boolean");
        if (json_is_true(v))
            n->has |= K_UNIQUE;
    }
    if ((v = json_object_get(s, "required")) && (rc = strlist(c, v, loc, "required", &n->required)))
        return rc;
    if ((v = json_object_get(s, "dependentRequired"))) {
        const char *k;
        json_t *dv;
        size_t i = 0;
        if (!json_is_object(v))
            return bad(c, loc, "dependentRequired", "must be an object of string arrays");
        n->ndep_req = json_object_size(v);
        if (!(n->dep_req = js_arena_alloc(&c->out->arena, n->ndep_req * sizeof *n->dep_req + 1)))
            return oom(c);
        json_object_foreach(v, k, dv) {
            n->dep_req[i].name = k;
            n->dep_req[i].len = json_object_iter_key_len(json_object_key_to_iter(k));
            if ((rc = strlist(c, dv, loc, "dependentRequired", &n->dep_req[i].req)))
                return rc;
            i++;
        }
    }
    return 0;
}

static int applicator_kws(struct comp *c, json_t *s, const char *loc, js_node *n)
{
    int rc;
    json_t *pp = json_object_get(s, "patternProperties"), *v;
    if ((rc = named_map(c, s, "properties", &n->props, &n->nprops)) ||
        (rc = named_map(c, s, "dependentSchemas", &n->dep_schemas, &n->ndep_schemas)) ||
        (rc = sub_list_get(c, s, "prefixItems", &n->prefix_items, &n->nprefix)) ||
        (rc = sub_list_get(c, s, "allOf", &n->all_of, &n->nall_of)) ||
        (rc = sub_list_get(c, s, "anyOf", &n->any_of, &n->nany_of)) ||
        (rc = sub_list_get(c, s, "oneOf", &n->one_of, &n->none_of)))
        return rc;
    if (pp) {
        const char *k;
        size_t i = 0;
        const char *ploc = loc_join(c, loc, "patternProperties");
        n->npatprops = json_object_size(pp);
        if (!ploc || !(n->patprops = js_arena_alloc(&c->out->arena, n->npatprops * sizeof *n->patprops + 1)))
            return oom(c);
        json_object_foreach(pp, k, v) {
            json_t *src = json_string(k);
            if (!src)
                return oom(c);
            rc = add_regex(c, ploc, k, src, &n->patprops[i].re);
            n->patprops[i].re.src = k;
            json_decref(src);
            if (rc)
                return rc;
            if (!(n->patprops[i].schema = get_node(c, v)))
                return oom(c);
            i++;
        }
    }
    n->additional_props = sub(c, s, "additionalProperties");
    n->property_names = sub(c, s, "propertyNames");
    n->items = sub(c, s, "items");
    n->contains = sub(c, s, "contains");
    n->not_ = sub(c, s, "not");
    n->if_ = sub(c, s, "if");
    n->then_ = sub(c, s, "then");
    n->else_ = sub(c, s, "else");
    return 0;
}

static int ref_kws(struct comp *c, json_t *s, const struct sinfo *si, js_node *n)
{
    json_t *v, *target;
    const char *anchor;
    int rc;
    if ((v = json_object_get(s, "$ref"))) {
        if (!json_is_string(v))
            return bad(c, si->loc, "$ref", "must be a string (a URI reference)");
        if ((rc = resolve_ref(c, si->base, json_string_value(v), si->loc, "$ref", &target, &anchor)))
            return rc;
        if (!(n->ref = get_node(c, target)))
            return oom(c);
    }
    if ((v = json_object_get(s, "$dynamicRef"))) {
        if (!json_is_string(v))
            return bad(c, si->loc, "$dynamicRef", "must be a string (a URI reference)");
        if ((rc = resolve_ref(c, si->base, json_string_value(v), si->loc, "$dynamicRef", &target, &anchor)))
            return rc;
        if (!(n->dynref = get_node(c, target)))
            return oom(c);
        n->dynref_anchor = anchor;
    }
    return 0;
}

/* Fill the node of one queued subschema. */
static int compile_node(struct comp *c, json_t *s)
{
    struct sinfo *si = hm_get(&c->info, s);
    js_node *n = si->node;
    json_t *v;
    int rc;
    if (json_is_boolean(s)) {
        n->kind = json_is_true(s) ? JS_NODE_TRUE : JS_NODE_FALSE;
        return 0;
    }
    n->kind = JS_NODE_OBJECT;
    if ((si->vocab & JS_V_VALIDATION) && (rc = validation_kws(c, s, si->loc, n)))
        return rc;
    if ((si->vocab & JS_V_APPLICATOR) && (rc = applicator_kws(c, s, si->loc, n)))
        return rc;
    if (si->vocab & JS_V_UNEVALUATED) {
        n->uneval_items = sub(c, s, "unevaluatedItems");
        n->uneval_props = sub(c, s, "unevaluatedProperties");
    }
    if ((si->vocab & JS_V_FORMAT) && (c->out->flags & OT_JSONSCHEMA_FORMAT_ASSERT) &&
        (v = json_object_get(s, "format"))) {
        if (!json_is_string(v))
            return bad(c, si->loc, "format", "must be a string");
        n->format = js_format_lookup(json_string_value(v));
        if (n->format != JS_F_UNKNOWN)
            n->has |= K_FORMAT;
    }
    if ((rc = ref_kws(c, s, si, n)))
        return rc;
    n->any_number = (n->has & (K_MULTIPLE | K_MAXIMUM | K_EXMAXIMUM | K_MINIMUM | K_EXMINIMUM)) != 0;
    n->any_string = (n->has & (K_MAXLEN | K_MINLEN | K_PATTERN | K_FORMAT)) != 0;
    n->any_array = (n->has & (K_MAXITEMS | K_MINITEMS | K_UNIQUE)) || n->nprefix || n->items ||
                   n->contains || n->uneval_items;
    n->any_object = (n->has & (K_MAXPROPS | K_MINPROPS)) || n->required.n || n->ndep_req || n->nprops ||
                    n->npatprops || n->additional_props || n->property_names || n->ndep_schemas ||
                    n->uneval_props;
    return 0;
}

/* Drain the work queue, then give every resource its dynamic anchors. */
static int compile_all(struct comp *c)
{
    size_t done_dyn = 0;
    int rc;
    for (;;) {
        while (c->nwork)
            if ((rc = compile_node(c, c->work[--c->nwork])))
                return rc;
        if (done_dyn == c->ndyn)
            break;
        for (; done_dyn < c->ndyn; done_dyn++)
            if (!get_node(c, c->dyn[done_dyn].schema))
                return oom(c);
    }
    for (size_t i = 0; i < c->ndyn; i++)
        c->dyn[i].res->ndyn++;
    for (size_t i = 0; i < c->ndyn; i++) {
        struct js_resource *r = c->dyn[i].res;
        if (!r->dyn) {
            if (!(r->dyn = js_arena_alloc(&c->out->arena, r->ndyn * sizeof *r->dyn)))
                return oom(c);
            r->ndyn = 0;
        }
        r->dyn[r->ndyn].name = c->dyn[i].name;
        r->dyn[r->ndyn].node = ((struct sinfo *)hm_get(&c->info, c->dyn[i].schema))->node;
        r->ndyn++;
    }
    return 0;
}

ot_jsonschema *ot_jsonschema_compile(ot_schema_set *set, json_t *schema, const char *base_uri, int flags,
                                     ot_error *err)
{
    ot_error local;
    struct comp c = {0};
    struct rinfo *ri;
    const char *frag;
    char *base = NULL;
    int rc;
    ot_error_clear(&local);
    if (!set || !schema) {
        ot_error_set(err, OT_EINVAL, NULL, "compile needs a schema set and a schema");
        return NULL;
    }
    ot_jsonschema *out = calloc(1, sizeof *out);
    if (!out) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory compiling a schema");
        return NULL;
    }
    c.set = set;
    c.out = out;
    c.err = &local;
    c.res.str = c.anchors.str = true;
    out->flags = flags;
    out->mctx = pcre2_match_context_create(NULL);
    if (!out->mctx || !(base = js_uri_split(base_uri ? base_uri : "", &frag)) || (rc = keep_doc(&c, schema))) {
        oom(&c);
        goto fail;
    }
    pcre2_set_match_limit(out->mctx, 1000000);
    pcre2_set_depth_limit(out->mctx, 10000);
    pcre2_set_heap_limit(out->mctx, 64 * 1024); /* KiB */
    if ((rc = index_doc(&c, schema, base, true, &ri)))
        goto fail;
    if (!(out->root = get_node(&c, schema))) {
        oom(&c);
        goto fail;
    }
    if ((rc = compile_all(&c)))
        goto fail;
    goto done;
fail:
    ot_jsonschema_free(out);
    out = NULL;
    if (err)
        *err = local;
done:
    free(base);
    free(c.info.e);
    free(c.res.e);
    free(c.anchors.e);
    free(c.work);
    free(c.dyn);
    return out;
}

void ot_jsonschema_free(ot_jsonschema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncodes; i++)
        pcre2_code_free(s->codes[i]);
    for (size_t i = 0; i < s->ndocs; i++)
        json_decref(s->docs[i]);
    pcre2_match_context_free(s->mctx);
    free(s->codes);
    free(s->docs);
    js_arena_free(&s->arena);
    free(s);
}
