/* jsonschema_compile.c - the compile pass: indexed subschemas -> js_node.
 *
 * Each subschema becomes one js_node holding its keywords pre-parsed and
 * type-checked (regexes compiled, property maps sorted for binary search,
 * references resolved to nodes).  Subschemas are queued, not recursed
 * into, so deep schemas and $ref cycles cost no stack; a node reached by
 * many $refs is compiled once and shared.  The index pass and reference
 * resolution live in jsonschema_index.c.
 *
 * Contract: ot_jsonschema_compile either returns a complete graph or NULL
 * with err naming the schema location (OT_EINVAL) or OT_ENOMEM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_comp.h"

/* --- Keyword readers --- */

static js_node *sub(struct comp *c, json_t *s, const char *kw)
{
    json_t *v = json_object_get(s, kw);
    return v ? js_comp_get_node(c, v) : NULL;
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
        return js_comp_oom(c);
    json_array_foreach(a, i, v) {
        if (!((*out)[i] = js_comp_get_node(c, v)))
            return js_comp_oom(c);
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
        return js_comp_bad(c, loc, kw, "must be a non-negative integer");
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
        return js_comp_bad(c, loc, kw, "must be a number");
    *out = v;
    n->has |= bit;
    return 0;
}

static int strlist(struct comp *c, json_t *a, const char *loc, const char *kw, struct js_strlist *out)
{
    json_t *v;
    size_t i;
    if (!json_is_array(a))
        return js_comp_bad(c, loc, kw, "must be an array of strings");
    out->n = json_array_size(a);
    out->v = js_arena_alloc(&c->out->arena, out->n * sizeof *out->v + 1);
    out->len = js_arena_alloc(&c->out->arena, out->n * sizeof *out->len + 1);
    if (!out->v || !out->len)
        return js_comp_oom(c);
    json_array_foreach(a, i, v) {
        if (!json_is_string(v))
            return js_comp_bad(c, loc, kw, "must be an array of strings");
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
        return js_comp_oom(c);
    json_object_foreach(m, k, v) {
        (*out)[i].name = k;
        (*out)[i].len = json_object_iter_key_len(json_object_key_to_iter(k));
        if (!((*out)[i].schema = js_comp_get_node(c, v)))
            return js_comp_oom(c);
        i++;
    }
    qsort(*out, *n, sizeof **out, named_cmp);
    return 0;
}

static int add_regex(struct comp *c, const char *loc, const char *kw, json_t *src, struct js_regex *re)
{
    char why[256];
    if (!json_is_string(src))
        return js_comp_bad(c, loc, kw, "must be a string (an ECMA-262 regular expression)");
    int rc = js_regex_compile(json_string_value(src), json_string_length(src), &re->code, why, sizeof why);
    if (rc == OT_ENOMEM)
        return js_comp_oom(c);
    if (rc)
        return js_comp_bad(c, loc, kw, why);
    re->src = json_string_value(src);
    js_simple_re_parse(re->src, json_string_length(src), &re->simple);
    if (c->out->ncodes == c->out->capcodes) {
        size_t cap = c->out->capcodes ? c->out->capcodes * 2 : 8;
        pcre2_code **nc = realloc(c->out->codes, cap * sizeof *nc);
        if (!nc) {
            pcre2_code_free(re->code);
            return js_comp_oom(c);
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
            return js_comp_bad(c, loc, "type", "unknown type name (use null, boolean, object, array, number, string or integer)");
        return 0;
    }
    if (!json_is_array(t))
        return js_comp_bad(c, loc, "type", "must be a type name or an array of type names");
    json_array_foreach(t, i, v) {
        int b = json_is_string(v) ? type_bit(json_string_value(v)) : 0;
        if (!b)
            return js_comp_bad(c, loc, "type", "unknown type name (use null, boolean, object, array, number, string or integer)");
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
            return js_comp_bad(c, loc, "enum", "must be an array");
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
        return js_comp_bad(c, loc, "multipleOf", "must be greater than 0");
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
            return js_comp_bad(c, loc, "uniqueItems", "must be a boolean");
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
            return js_comp_bad(c, loc, "dependentRequired", "must be an object of string arrays");
        n->ndep_req = json_object_size(v);
        if (!(n->dep_req = js_arena_alloc(&c->out->arena, n->ndep_req * sizeof *n->dep_req + 1)))
            return js_comp_oom(c);
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
        const char *ploc = js_comp_loc_join(c, loc, "patternProperties");
        n->npatprops = json_object_size(pp);
        if (!ploc || !(n->patprops = js_arena_alloc(&c->out->arena, n->npatprops * sizeof *n->patprops + 1)))
            return js_comp_oom(c);
        json_object_foreach(pp, k, v) {
            json_t *src = json_string(k);
            if (!src)
                return js_comp_oom(c);
            rc = add_regex(c, ploc, k, src, &n->patprops[i].re);
            n->patprops[i].re.src = k;
            json_decref(src);
            if (rc)
                return rc;
            if (!(n->patprops[i].schema = js_comp_get_node(c, v)))
                return js_comp_oom(c);
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
            return js_comp_bad(c, si->loc, "$ref", "must be a string (a URI reference)");
        if ((rc = js_comp_resolve_ref(c, si->base, json_string_value(v), si->loc, "$ref", &target, &anchor)))
            return rc;
        if (!(n->ref = js_comp_get_node(c, target)))
            return js_comp_oom(c);
    }
    if ((v = json_object_get(s, "$dynamicRef"))) {
        if (!json_is_string(v))
            return js_comp_bad(c, si->loc, "$dynamicRef", "must be a string (a URI reference)");
        if ((rc = js_comp_resolve_ref(c, si->base, json_string_value(v), si->loc, "$dynamicRef", &target, &anchor)))
            return rc;
        if (!(n->dynref = js_comp_get_node(c, target)))
            return js_comp_oom(c);
        n->dynref_anchor = anchor;
    }
    return 0;
}

/* Fill the node of one queued subschema. */
static int compile_node(struct comp *c, json_t *s)
{
    struct sinfo *si = js_hm_get(&c->info, s);
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
            return js_comp_bad(c, si->loc, "format", "must be a string");
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
            if (!js_comp_get_node(c, c->dyn[done_dyn].schema))
                return js_comp_oom(c);
    }
    for (size_t i = 0; i < c->ndyn; i++)
        c->dyn[i].res->ndyn++;
    for (size_t i = 0; i < c->ndyn; i++) {
        struct js_resource *r = c->dyn[i].res;
        if (!r->dyn) {
            if (!(r->dyn = js_arena_alloc(&c->out->arena, r->ndyn * sizeof *r->dyn)))
                return js_comp_oom(c);
            r->ndyn = 0;
        }
        r->dyn[r->ndyn].name = c->dyn[i].name;
        r->dyn[r->ndyn].node = ((struct sinfo *)js_hm_get(&c->info, c->dyn[i].schema))->node;
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
    if (!out->mctx || !(base = js_uri_split(base_uri ? base_uri : "", &frag)) || (rc = js_comp_keep_doc(&c, schema))) {
        js_comp_oom(&c);
        goto fail;
    }
    pcre2_set_match_limit(out->mctx, 1000000);
    pcre2_set_depth_limit(out->mctx, 10000);
    pcre2_set_heap_limit(out->mctx, 64 * 1024); /* KiB */
    if ((rc = js_comp_index_doc(&c, schema, base, true, &ri)))
        goto fail;
    if (!(out->root = js_comp_get_node(&c, schema))) {
        js_comp_oom(&c);
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

ot_jsonschema *ot_jsonschema_compile_uri(ot_schema_set *set, const char *uri, int flags, ot_error *err)
{
    const char *frag;
    ot_error local;
    ot_error_clear(&local);
    char *base = uri ? js_uri_split(uri, &frag) : NULL;
    if (!base) {
        ot_error_set(err, uri ? OT_ENOMEM : OT_EINVAL, NULL, "compile needs a schema URI");
        return NULL;
    }
    json_t *doc = js_set_load(set, base, &local);
    ot_jsonschema *s = NULL;
    if (doc)
        s = ot_jsonschema_compile(set, doc, base, flags, err);
    else if (local.code && err)
        *err = local;
    else if (local.code)
        ;
    else
        ot_error_set(err, OT_ENOTFOUND, NULL, "no schema '%s' is known", base);
    free(base);
    return s;
}
