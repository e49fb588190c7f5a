/* jsonschema_index.c - the index pass of the schema compiler and $ref
 * resolution.
 *
 * The index pass walks every subschema reachable through known applicator
 * keywords (never into enum, const or unknown keywords), resolving "$id"
 * against the enclosing base URI (RFC 3986) and recording resources,
 * "$anchor"s, "$dynamicAnchor"s and each subschema's base URI, location and
 * active vocabularies (from the "$vocabulary" of its "$schema").  "$ref"
 * targets in other documents are loaded from the set on first use and
 * indexed then.  Also here: the compile-time arena and hash map.
 *
 * Contract: functions return 0 or an OT_E* code with c->err filled
 * (OT_EINVAL naming the schema location, or OT_ENOMEM).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_comp.h"
#include "core/hash.h"

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

static uint64_t hkey(const struct hmap *m, const void *k)
{
    if (!m->str)
        return ((uint64_t)(uintptr_t)k) * 0x9E3779B97F4A7C15ull;
    return ot_hash_str(k);
}

static bool hkeq(const struct hmap *m, const void *a, const void *b)
{
    return m->str ? strcmp(a, b) == 0 : a == b;
}

void *js_hm_get(const struct hmap *m, const void *k)
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
int js_hm_put(struct hmap *m, const void *k, void *v)
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

int js_comp_oom(struct comp *c) { return ot_error_set(c->err, OT_ENOMEM, NULL, "out of memory compiling a schema"); }

int js_comp_bad(struct comp *c, const char *loc, const char *kw, const char *what)
{
    return ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s/%s': %s", loc, kw, what);
}

/* Arena string "a" + "/" + escaped b. */
const char *js_comp_loc_join(struct comp *c, const char *a, const char *b)
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
    return js_comp_loc_join(c, a, k);
}

/* --- Vocabularies from "$schema" --- */


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
        return js_comp_oom(c);
    if (strcmp(base, META_2020_12) == 0) {
        free(base);
        return 0;
    }
    struct rinfo *r = js_hm_get(&c->res, base);
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
    if (js_hm_put(&c->res, r->uri, ri) != 0)
        return NULL;
    return r;
}

static int add_anchor(struct comp *c, const char *base, const char *name, json_t *s)
{
    size_t n = strlen(base) + strlen(name) + 2;
    char *key = js_arena_alloc(&c->out->arena, n);
    if (!key)
        return js_comp_oom(c);
    snprintf(key, n, "%s#%s", base, name);
    return js_hm_put(&c->anchors, key, s) == 0 ? 0 : js_comp_oom(c);
}

/* $id, $schema, $anchor, $dynamicAnchor of an object schema. */
static int index_ids(struct comp *c, json_t *s, const char **base, struct js_resource **res, const char *loc,
                     unsigned *vocab)
{
    json_t *id = json_object_get(s, "$id");
    if (id) {
        const char *frag;
        if (!json_is_string(id))
            return js_comp_bad(c, loc, "$id", "must be a string");
        char *abs = js_uri_resolve(*base, json_string_value(id));
        char *nb = abs ? js_uri_split(abs, &frag) : NULL;
        free(abs);
        if (!nb)
            return js_comp_oom(c);
        *base = js_arena_strndup(&c->out->arena, nb, strlen(nb));
        free(nb);
        if (!*base || !(*res = new_resource(c, *base, s)))
            return js_comp_oom(c);
    }
    json_t *sch = json_object_get(s, "$schema");
    if (sch) {
        if (!json_is_string(sch))
            return js_comp_bad(c, loc, "$schema", "must be a string");
        int rc = meta_vocab(c, json_string_value(sch), vocab);
        if (rc)
            return rc;
    }
    json_t *anc = json_object_get(s, "$anchor");
    if (anc) {
        if (!json_is_string(anc))
            return js_comp_bad(c, loc, "$anchor", "must be a string");
        if (add_anchor(c, *base, json_string_value(anc), s))
            return OT_ENOMEM;
    }
    json_t *dyn = json_object_get(s, "$dynamicAnchor");
    if (dyn) {
        if (!json_is_string(dyn))
            return js_comp_bad(c, loc, "$dynamicAnchor", "must be a string");
        if (add_anchor(c, *base, json_string_value(dyn), s))
            return OT_ENOMEM;
        if (c->ndyn == c->capdyn) {
            size_t cap = c->capdyn ? c->capdyn * 2 : 16;
            struct dynpending *nd = realloc(c->dyn, cap * sizeof *nd);
            if (!nd)
                return js_comp_oom(c);
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
        if (v && (rc = index_schema(c, v, base, res, js_comp_loc_join(c, loc, sub_one[i]), vocab, depth + 1)))
            return rc;
    }
    for (int i = 0; sub_map[i]; i++) {
        json_t *m = json_object_get(s, sub_map[i]), *v;
        const char *k;
        if (!m)
            continue;
        if (!json_is_object(m))
            return js_comp_bad(c, loc, sub_map[i], "must be an object whose values are schemas");
        const char *mloc = js_comp_loc_join(c, loc, sub_map[i]);
        json_object_foreach(m, k, v) {
            if ((rc = index_schema(c, v, base, res, mloc ? js_comp_loc_join(c, mloc, k) : NULL, vocab, depth + 1)))
                return rc;
        }
    }
    for (int i = 0; sub_list[i]; i++) {
        json_t *a = json_object_get(s, sub_list[i]), *v;
        size_t j;
        if (!a)
            continue;
        if (!json_is_array(a) || json_array_size(a) == 0)
            return js_comp_bad(c, loc, sub_list[i], "must be a non-empty array of schemas");
        const char *aloc = js_comp_loc_join(c, loc, sub_list[i]);
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
        return js_comp_oom(c);
    if (!json_is_object(s) && !json_is_boolean(s))
        return ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s': a schema must be an object or a boolean",
                            loc);
    if (js_hm_get(&c->info, s))
        return 0; /* the same JSON value reached twice */
    if (depth > COMPILE_MAX_DEPTH)
        return ot_error_set(c->err, OT_EINVAL, NULL, "invalid schema at '%s': nested deeper than %d levels", loc,
                            COMPILE_MAX_DEPTH);
    if (json_is_object(s) && (rc = index_ids(c, s, &base, &res, loc, &vocab)))
        return rc;
    struct sinfo *si = js_arena_alloc(&c->out->arena, sizeof *si);
    if (!si)
        return js_comp_oom(c);
    *si = (struct sinfo){base, res, loc, vocab, NULL};
    if (js_hm_put(&c->info, s, si))
        return js_comp_oom(c);
    return json_is_object(s) ? index_children(c, s, base, res, loc, vocab, depth) : 0;
}

/* Index a whole document fetched as uri; *out is its resource entry.
 * Locations in documents other than the one compiled are prefixed by their
 * URI and '#'. */
int js_comp_index_doc(struct comp *c, json_t *doc, const char *uri, bool is_root, struct rinfo **out)
{
    int rc;
    const char *prefix = "";
    struct js_resource *r = new_resource(c, uri, doc);
    if (!r)
        return js_comp_oom(c);
    if (!is_root) {
        size_t n = strlen(uri) + 2;
        char *p = js_arena_alloc(&c->out->arena, n);
        if (!p)
            return js_comp_oom(c);
        snprintf(p, n, "%s#", uri);
        prefix = p;
    }
    if ((rc = index_schema(c, doc, r->uri, r, prefix, JS_V_ALL, 0)))
        return rc;
    struct sinfo *si = js_hm_get(&c->info, doc);
    struct rinfo *ri = js_hm_get(&c->res, r->uri);
    ri->res = si->res; /* the document's own $id resource, if it has one */
    *out = ri;
    return 0;
}

/* --- Nodes and references --- */

/* The node of an indexed subschema, queued for compiling on first use. */
js_node *js_comp_get_node(struct comp *c, json_t *s)
{
    struct sinfo *si = js_hm_get(&c->info, s);
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

int js_comp_keep_doc(struct comp *c, json_t *doc)
{
    if (c->out->ndocs == c->out->capdocs) {
        size_t cap = c->out->capdocs ? c->out->capdocs * 2 : 8;
        json_t **nd = realloc(c->out->docs, cap * sizeof *nd);
        if (!nd)
            return js_comp_oom(c);
        c->out->docs = nd;
        c->out->capdocs = cap;
    }
    c->out->docs[c->out->ndocs++] = json_incref(doc);
    return 0;
}

/* Resolve a $ref / $dynamicRef value against base to an indexed schema.
 * *anchor receives the plain-name fragment, if that is what it used. */
int js_comp_resolve_ref(struct comp *c, const char *base, const char *ref, const char *loc, const char *kw,
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
        rc = js_comp_oom(c);
        goto out;
    }
    struct rinfo *r = js_hm_get(&c->res, doc);
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
        if ((rc = js_comp_keep_doc(c, d)) || (rc = js_comp_index_doc(c, d, doc, false, &r)))
            goto out;
    }
    if (!frag || !*frag) {
        *target = r->root;
    } else if (frag[0] == '/') {
        if (!(dec = js_pct_decode(frag, &declen))) {
            rc = js_comp_oom(c);
            goto out;
        }
        *target = js_pointer_get(r->root, dec, declen);
        if (*target && !js_hm_get(&c->info, *target)) { /* inside an unknown keyword */
            struct sinfo *si = js_arena_alloc(&c->out->arena, sizeof *si);
            const char *l = js_arena_strndup(&c->out->arena, abs, strlen(abs));
            struct sinfo *rs = js_hm_get(&c->info, r->root);
            if (!si || !l) {
                rc = js_comp_oom(c);
                goto out;
            }
            if (!json_is_object(*target) && !json_is_boolean(*target)) {
                rc = js_comp_bad(c, loc, kw, "the reference does not point to a schema");
                goto out;
            }
            *si = (struct sinfo){rs->base, rs->res, l, rs->vocab, NULL};
            if (js_hm_put(&c->info, *target, si)) {
                rc = js_comp_oom(c);
                goto out;
            }
            if ((rc = index_children(c, *target, rs->base, rs->res, l, rs->vocab, 1)))
                goto out;
        }
    } else {
        char *key = malloc(strlen(doc) + strlen(frag) + 2);
        if (!key) {
            rc = js_comp_oom(c);
            goto out;
        }
        sprintf(key, "%s#%s", doc, frag);
        *target = js_hm_get(&c->anchors, key);
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

