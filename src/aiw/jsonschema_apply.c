/* jsonschema_apply.c - the validator's in-place applicators ($ref,
 * $dynamicRef, allOf, anyOf, oneOf, not, if/then/else) and
 * unevaluatedItems / unevaluatedProperties, for jsonschema_validate.c's
 * walk (jsonschema_vctx.h). Alternatives whose annotations may be dropped
 * (anyOf, oneOf, if) evaluate quietly into a scratch set, merged only when
 * they pass; when none of anyOf's or oneOf's alternatives matches, the
 * error says why each failed.
 */
#include <stdio.h>
#include <string.h>

#include "aiw/jsonschema_vctx.h"

/* $dynamicRef: when the static target is a $dynamicAnchor, the outermost
 * resource in the dynamic scope with an anchor of that name wins. */
static const js_node *dyn_target(const struct vctx *x, const js_node *n)
{
    if (!n->dynref_anchor)
        return n->dynref;
    for (int i = 0; i < x->nscope; i++) {
        const struct js_resource *r = x->scope[i];
        for (size_t j = 0; j < r->ndyn; j++)
            if (strcmp(r->dyn[j].name, n->dynref_anchor) == 0)
                return r->dyn[j].node;
    }
    return n->dynref;
}

/* Evaluate sub quietly; on success merge its annotations into own. */
static int v_branch(struct vctx *x, const js_node *sub, const json_t *inst, struct bits *own)
{
    struct bits tmp;
    if (!own)
        return js_v_quiet(x, sub, inst, NULL);
    if (bits_init(&tmp, own->nw * 64)) {
        x->oom = true;
        return OT_ENOMEM;
    }
    int r = js_v_quiet(x, sub, inst, &tmp);
    if (r == 1)
        bits_or(own, &tmp);
    bits_free(&tmp);
    return r;
}

/* Why no alternative matched, for the error message: each alternative's
 * first error (its path after the current one, if deeper), at most
 * three, "; " between them. Runs only when errors are collected, after
 * the alternatives failed, so a valid instance never pays for it; and not
 * inside another explanation, so nested alternatives cost twice their
 * evaluation, not twice per level. */
static void why_none(struct vctx *x, js_node *const *alts, size_t nalts, const json_t *inst,
                     char *out, size_t len)
{
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < nalts && i < 3 && at + 1 < len; i++) {
        json_t *saved = x->errors, *tmp = json_array();
        if (!tmp) {
            x->oom = true;
            return;
        }
        x->errors = tmp;
        x->explaining = true;
        (void)js_v_node(x, alts[i], inst, NULL);
        x->explaining = false;
        x->errors = saved;
        json_t *e = json_array_get(tmp, 0);
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *path = json_string_value(json_object_get(e, "path"));
        size_t here = x->path ? x->plen : 0;
        int deeper = path && strlen(path) > here;
        int w = snprintf(out + at, len - at, "%s%zu: %s%s%s", i ? "; " : "", i + 1,
                         deeper ? path + here : "", deeper ? " " : "", msg ? msg : "no match");
        json_decref(tmp);
        if (w < 0)
            return;
        at += (size_t)w < len - at ? (size_t)w : len - at - 1;
    }
    if (nalts > 3 && at + 1 < len)
        snprintf(out + at, len - at, "; ...");
}

static int v_any_of(struct vctx *x, const js_node *n, const json_t *inst, struct bits *own)
{
    size_t matched = 0;
    for (size_t i = 0; i < n->nany_of; i++) {
        int r = v_branch(x, n->any_of[i], inst, own);
        if (r < 0)
            return r;
        matched += (size_t)r;
        if (r && !own)
            break; /* annotations not needed: the first match decides */
    }
    if (!matched && x->errors) {
        char why[400] = "";
        if (!x->explaining)
            why_none(x, n->any_of, n->nany_of, inst, why, sizeof why);
        js_report(x, n, "anyOf", "matches none of the %zu 'anyOf' alternatives%s%s%s", n->nany_of,
               why[0] ? " (" : "", why, why[0] ? ")" : "");
    }
    return matched > 0;
}

static int v_one_of(struct vctx *x, const js_node *n, const json_t *inst, struct bits *own)
{
    size_t first = 0, matched = 0;
    for (size_t i = 0; i < n->none_of && matched < 2; i++) {
        /* annotations count only when exactly one branch matches: collect
         * the first match's, and none once a second one appears */
        int r = v_branch(x, n->one_of[i], inst, matched ? NULL : own);
        if (r < 0)
            return r;
        if (r && matched++ == 0)
            first = i;
        else if (r)
            js_report(x, n, "oneOf", "matches 'oneOf' alternatives %zu and %zu; exactly one must match", first, i);
    }
    if (!matched && x->errors) {
        char why[400] = "";
        if (!x->explaining)
            why_none(x, n->one_of, n->none_of, inst, why, sizeof why);
        js_report(x, n, "oneOf", "matches none of the %zu 'oneOf' alternatives; exactly one must match%s%s%s",
               n->none_of, why[0] ? " (" : "", why, why[0] ? ")" : "");
    }
    return matched == 1;
}

static int v_if(struct vctx *x, const js_node *n, const json_t *inst, struct bits *own)
{
    int r = v_branch(x, n->if_, inst, own);
    if (r < 0)
        return r;
    if (r)
        return n->then_ ? js_v_node(x, n->then_, inst, own) : 1;
    return n->else_ ? js_v_node(x, n->else_, inst, own) : 1;
}

int js_v_inplace(struct vctx *x, const js_node *n, const json_t *inst, struct bits *own)
{
    int valid = 1;
    if (n->ref)
        CHECK(js_v_node(x, n->ref, inst, own));
    if (n->dynref)
        CHECK(js_v_node(x, dyn_target(x, n), inst, own));
    for (size_t i = 0; i < n->nall_of; i++)
        CHECK(js_v_node(x, n->all_of[i], inst, own));
    if (n->nany_of)
        CHECK(v_any_of(x, n, inst, own));
    if (n->none_of)
        CHECK(v_one_of(x, n, inst, own));
    if (n->not_) {
        int r = js_v_quiet(x, n->not_, inst, NULL);
        if (r < 0)
            return r;
        if (r) {
            js_report(x, n, "not", "must not match the 'not' schema");
            FAIL();
        }
    }
    if (n->if_)
        CHECK(v_if(x, n, inst, own));
out:
    return valid;
}

/* --- Unevaluated --- */

int js_v_uneval_items(struct vctx *x, const js_node *n, const json_t *arr, struct bits *own)
{
    int valid = 1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (bits_get(own, i))
            continue;
        if (n->uneval_items->kind == JS_NODE_FALSE) {
            size_t mark = js_path_push_index(x, i);
            js_report(x, n, "unevaluatedItems", "item %zu is not allowed (no schema evaluated it)", i);
            js_path_pop(x, mark);
            FAIL();
            continue;
        }
        CHECK(js_v_child(x, n->uneval_items, json_array_get(arr, i), js_path_push_index(x, i)));
        bits_set(own, i);
    }
out:
    return valid;
}

int js_v_uneval_props(struct vctx *x, const js_node *n, const json_t *obj, struct bits *own)
{
    const char *k;
    json_t *v;
    size_t i = 0;
    int valid = 1;
    json_object_foreach((json_t *)obj, k, v) {
        size_t kl = json_object_iter_key_len(json_object_key_to_iter(k)), idx = i++;
        if (bits_get(own, idx))
            continue;
        if (n->uneval_props->kind == JS_NODE_FALSE) {
            size_t mark = js_path_push(x, k, kl);
            js_report(x, n, "unevaluatedProperties", "property '%s' is not allowed (no schema evaluated it)", k);
            js_path_pop(x, mark);
            FAIL();
            continue;
        }
        CHECK(js_v_child(x, n->uneval_props, v, js_path_push(x, k, kl)));
        bits_set(own, idx);
    }
out:
    return valid;
}
