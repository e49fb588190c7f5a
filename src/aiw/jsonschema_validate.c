/* jsonschema_validate.c - evaluating a compiled schema against an instance.
 *
 * One recursive walk over (node, instance).  Per node: assertions on the
 * instance's own type first, then the in-place applicators ($ref,
 * $dynamicRef, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas),
 * then unevaluatedItems / unevaluatedProperties.
 *
 * Annotations: "which items / properties were evaluated" are bitsets over
 * the instance's array indices or object members (in iteration order).
 * They are only computed when a node with unevaluated* asks for them (the
 * ann argument), so the common path tracks nothing.  Subschemas whose
 * annotations may be dropped (anyOf, oneOf, if, contains) evaluate into a
 * scratch set merged only when they pass.
 *
 * Errors: in fast mode (no error list) evaluation stops at the first
 * failure.  Keywords whose subschema failures are not the user's problem
 * as such (anyOf branches, not, if, contains, propertyNames) evaluate their
 * subschemas quietly and report one error of their own.
 *
 * Property names: checked as text when the propertyNames schema allows it
 * (v_plain_string), else as a string instance.
 *
 * The in-place applicators and unevaluated* are in jsonschema_apply.c;
 * the state both walk with, in jsonschema_vctx.h.
 *
 * The in-place applicators and unevaluated* are in jsonschema_apply.c;
 * the state both walk with, in jsonschema_vctx.h.
 *
 * Contract: see jsonschema.h.  Everything here lives on the caller's stack
 * or heap, except one pcre2 match data per thread, kept between
 * validations and freed when the thread exits; the compiled schema is only
 * read.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"
#include "aiw/jsonschema_json.h"
#include "aiw/jsonschema_vctx.h"
#include "core/buf.h"

/* --- Context --- */

void js_report(struct vctx *x, const js_node *n, const char *kw, const char *fmt, ...)
{
    char msg[512], kwloc[1024];
    va_list ap;
    if (!x->errors)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(kwloc, sizeof kwloc, "%s%s%s", n->loc, kw ? "/" : "", kw ? kw : "");
    json_t *e = json_pack("{s:s, s:s, s:s}", "path", x->path ? x->path : "", "keyword", kwloc, "message", msg);
    if (!e || json_array_append_new(x->errors, e))
        x->oom = true;
}

size_t js_path_push(struct vctx *x, const char *key, size_t klen)
{
    size_t mark = x->plen;
    if (x->collect && js_pointer_append(&x->path, &x->plen, &x->pcap, key, klen))
        x->oom = true;
    return mark;
}

size_t js_path_push_index(struct vctx *x, size_t i)
{
    char k[24];
    if (!x->collect)
        return x->plen;
    int n = snprintf(k, sizeof k, "%zu", i);
    return js_path_push(x, k, (size_t)n);
}

void js_path_pop(struct vctx *x, size_t mark)
{
    if (x->collect && x->path) {
        x->plen = mark;
        x->path[mark] = 0;
    }
}

int js_v_quiet(struct vctx *x, const js_node *n, const json_t *inst, struct bits *ann)
{
    json_t *saved = x->errors;
    x->errors = NULL;
    int r = js_v_node(x, n, inst, ann);
    x->errors = saved;
    return r;
}

/* A cut-off evaluation: remembered, reported once at the top. */
static int v_abort(struct vctx *x, const js_node *n, const char *msg)
{
    if (!x->abort_msg) {
        x->abort_msg = msg;
        x->abort_loc = n->loc;
        if (x->collect && x->path && !(x->abort_path = strdup(x->path)))
            x->oom = true;
    }
    return V_ABORT;
}

/* 1 match, 0 none, < 0 abort. */
static int regex_match(struct vctx *x, const js_node *n, const struct js_regex *re, const char *s, size_t len)
{
    if (re->simple.kind)
        return js_simple_re_match(&re->simple, s, len);
    int m = js_regex_search(re->code, x->s->mctx, &x->md, s, len);
    if (m == -2) {
        x->oom = true;
        return OT_ENOMEM;
    }
    if (m == -1)
        return v_abort(x, n, "regular expression matching exceeded its resource limit "
                             "(the pattern backtracks too much on this input); treated as invalid");
    return m;
}

/* --- Messages --- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return js_is_integral(v) ? "integer" : "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static void types_text(unsigned t, char *buf, size_t len)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < 7; i++)
        if (t & (1u << i) && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " or " : "", names[i]);
}

static bool type_ok(unsigned t, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return t & JS_T_OBJECT;
    case JSON_ARRAY: return t & JS_T_ARRAY;
    case JSON_STRING: return t & JS_T_STRING;
    case JSON_INTEGER: return t & (JS_T_INTEGER | JS_T_NUMBER);
    case JSON_REAL: return (t & JS_T_NUMBER) || ((t & JS_T_INTEGER) && js_is_integral(v));
    case JSON_TRUE:
    case JSON_FALSE: return t & JS_T_BOOLEAN;
    default: return t & JS_T_NULL;
    }
}

static void num_text(const json_t *v, char *buf, size_t len)
{
    char t[OT_FMT_REAL_MAX];
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, len, "%s", (ot_fmt_real(t, json_real_value(v)), t));
}

/* --- Assertions by instance type --- */

/* The instance's number as text, formatted only when a message needs it:
 * validation of valid numbers stays free of printf. */
#define NUM_A() (a[0] ? a : (num_text(v, a, sizeof a), a))

static int v_number(struct vctx *x, const js_node *n, const json_t *v)
{
    char a[40] = "", b[40];
    int valid = 1;
    if ((n->has & K_MULTIPLE) && !js_multiple_of(v, n->multiple_of)) {
        num_text(n->multiple_of, b, sizeof b);
        js_report(x, n, "multipleOf", "%s is not a multiple of %s", NUM_A(), b);
        valid = 0;
    }
    if ((n->has & K_MAXIMUM) && js_num_cmp(v, n->maximum) > 0) {
        num_text(n->maximum, b, sizeof b);
        js_report(x, n, "maximum", "%s is greater than the maximum %s", NUM_A(), b);
        valid = 0;
    }
    if ((n->has & K_EXMAXIMUM) && js_num_cmp(v, n->ex_maximum) >= 0) {
        num_text(n->ex_maximum, b, sizeof b);
        js_report(x, n, "exclusiveMaximum", "%s must be less than %s", NUM_A(), b);
        valid = 0;
    }
    if ((n->has & K_MINIMUM) && js_num_cmp(v, n->minimum) < 0) {
        num_text(n->minimum, b, sizeof b);
        js_report(x, n, "minimum", "%s is less than the minimum %s", NUM_A(), b);
        valid = 0;
    }
    if ((n->has & K_EXMINIMUM) && js_num_cmp(v, n->ex_minimum) <= 0) {
        num_text(n->ex_minimum, b, sizeof b);
        js_report(x, n, "exclusiveMinimum", "%s must be greater than %s", NUM_A(), b);
        valid = 0;
    }
    return valid;
}
#undef NUM_A

static const char *format_name(int f)
{
    static const char *const names[] = {"", "date-time", "date", "time", "duration", "email", "idn-email",
                                        "hostname", "idn-hostname", "ipv4", "ipv6", "uri", "uri-reference",
                                        "iri", "iri-reference", "uri-template", "uuid", "json-pointer",
                                        "relative-json-pointer", "regex"};
    return f > 0 && f < JS_F_UNKNOWN ? names[f] : "?";
}

/* The string keywords on s[0..len). Lengths count code points: at least a
 * quarter of the bytes and at most all of them, so most strings need no
 * counting. */
static int v_string_text(struct vctx *x, const js_node *n, const char *s, size_t len)
{
    int valid = 1;
    bool need_max = (n->has & K_MAXLEN) && len > n->max_len;
    bool need_min = (n->has & K_MINLEN) && (len + 3) / 4 < n->min_len;
    if (need_max || need_min) {
        size_t cp = js_utf8_length(s, len);
        if (need_max && cp > n->max_len) {
            js_report(x, n, "maxLength", "string is %zu characters long, more than the maximum %zu", cp, n->max_len);
            valid = 0;
        }
        if (need_min && cp < n->min_len) {
            js_report(x, n, "minLength", "string is %zu characters long, fewer than the minimum %zu", cp, n->min_len);
            valid = 0;
        }
    }
    if (n->has & K_PATTERN) {
        int m = regex_match(x, n, &n->pattern, s, len);
        if (m < 0)
            return m;
        if (!m) {
            js_report(x, n, "pattern", "'%.60s%s' does not match the pattern '%s'", s, len > 60 ? "..." : "",
                   n->pattern.src);
            valid = 0;
        }
    }
    if ((n->has & K_FORMAT) && !js_format_check(n->format, s, len)) {
        js_report(x, n, "format", "'%.60s%s' is not a valid %s", s, len > 60 ? "..." : "", format_name(n->format));
        valid = 0;
    }
    return valid;
}

static int v_string(struct vctx *x, const js_node *n, const json_t *v)
{
    return v_string_text(x, n, json_string_value(v), json_string_length(v));
}


int js_v_child(struct vctx *x, const js_node *sub, const json_t *v, size_t mark)
{
    int r = js_v_node(x, sub, v, NULL);
    js_path_pop(x, mark);
    return r;
}

static int v_contains(struct vctx *x, const js_node *n, const json_t *arr, struct bits *own)
{
    size_t len = json_array_size(arr), count = 0;
    size_t min = (n->has & K_MINCONTAINS) ? n->min_contains : 1;
    bool need_all = own || (n->has & K_MAXCONTAINS);
    int valid = 1;
    for (size_t i = 0; i < len; i++) {
        int r = js_v_quiet(x, n->contains, json_array_get(arr, i), NULL);
        if (r < 0)
            return r;
        if (r) {
            count++;
            if (own)
                bits_set(own, i);
            if (!need_all && count >= min)
                break;
        }
    }
    if (count < min) {
        if (min == 1)
            js_report(x, n, "contains", "no item matches the 'contains' schema");
        else
            js_report(x, n, "minContains", "%zu item(s) match the 'contains' schema, fewer than %zu", count, min);
        valid = 0;
    }
    if ((n->has & K_MAXCONTAINS) && count > n->max_contains) {
        js_report(x, n, "maxContains", "%zu items match the 'contains' schema, more than %zu", count,
               n->max_contains);
        valid = 0;
    }
    return valid;
}

static int v_array(struct vctx *x, const js_node *n, const json_t *arr, struct bits *own)
{
    size_t len = json_array_size(arr), i = 0, a, b;
    int valid = 1;
    if ((n->has & K_MAXITEMS) && len > n->max_items) {
        js_report(x, n, "maxItems", "array has %zu items, more than the maximum %zu", len, n->max_items);
        FAIL();
    }
    if ((n->has & K_MINITEMS) && len < n->min_items) {
        js_report(x, n, "minItems", "array has %zu items, fewer than the minimum %zu", len, n->min_items);
        FAIL();
    }
    if (n->has & K_UNIQUE) {
        int u = js_unique_items(arr, &a, &b);
        if (u < 0) {
            x->oom = true;
            return OT_ENOMEM;
        }
        if (!u) {
            js_report(x, n, "uniqueItems", "items %zu and %zu are equal; items must be unique", a, b);
            FAIL();
        }
    }
    for (i = 0; i < n->nprefix && i < len; i++) {
        CHECK(js_v_child(x, n->prefix_items[i], json_array_get(arr, i), js_path_push_index(x, i)));
        if (own)
            bits_set(own, i);
    }
    if (n->items) {
        for (; i < len; i++) {
            if (n->items->kind == JS_NODE_FALSE) {
                js_report(x, n, "items", "array has %zu items; at most %zu are allowed", len, n->nprefix);
                FAIL();
                break;
            }
            CHECK(js_v_child(x, n->items, json_array_get(arr, i), js_path_push_index(x, i)));
            if (own)
                bits_set(own, i);
        }
    }
    if (n->contains)
        CHECK(v_contains(x, n, arr, own));
out:
    return valid;
}

/* Property names are short and mostly differ early: compared inline, which
 * costs less than a call to memcmp. The order is memcmp's (bytes unsigned,
 * then length), the one the compiler sorted props by. */
static const struct js_named *find_named(const struct js_named *v, size_t n, const char *k, size_t kl)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        size_t m = v[mid].len < kl ? v[mid].len : kl, i = 0;
        const unsigned char *a = (const unsigned char *)v[mid].name, *b = (const unsigned char *)k;
        while (i < m && a[i] == b[i])
            i++;
        int c = i < m ? (int)a[i] - (int)b[i] : (v[mid].len > kl) - (v[mid].len < kl);
        if (!c)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int v_required(struct vctx *x, const js_node *n, const json_t *obj, const struct js_strlist *req,
                      const char *kw, const char *because)
{
    int valid = 1;
    for (size_t i = 0; i < req->n; i++) {
        if (json_object_getn(obj, req->v[i], req->len[i]))
            continue;
        size_t mark = js_path_push(x, req->v[i], req->len[i]);
        if (because)
            js_report(x, n, kw, "property '%s' is required when '%s' is present", req->v[i], because);
        else
            js_report(x, n, kw, "required property '%s' is missing", req->v[i]);
        js_path_pop(x, mark);
        valid = 0;
        if (!x->errors)
            break;
    }
    return valid;
}

/* Whether a string meets n as v_node would decide, with no json_t: n is a
 * chain of nodes linked by $ref, short enough that v_node would not cut it
 * off at this depth, whose other keywords only apply to strings (type, the
 * string keywords, and keywords for other types, which a string ignores).
 * 1 or 0, < 0 abort, or 2 when n is not such a chain (evaluate it on a
 * json_t then). Quiet. */
static int v_plain_string(struct vctx *x, const js_node *n, const char *s, size_t len)
{
    int depth = x->depth;
    for (const js_node *c = n; c && c->kind == JS_NODE_OBJECT; c = c->ref)
        if (++depth > OT_JSONSCHEMA_MAX_DEPTH || (c->has & (K_ENUM | K_CONST)) || c->dynref ||
            c->nall_of || c->nany_of || c->none_of || c->not_ || c->if_)
            return 2;
    for (; n; n = n->ref) {
        if (n->kind != JS_NODE_OBJECT)
            return n->kind == JS_NODE_TRUE;
        if ((n->has & K_TYPE) && !(n->types & JS_T_STRING))
            return 0;
        if (n->any_string) {
            int r = v_string_text(x, n, s, len);
            if (r <= 0)
                return r;
        }
    }
    return 1;
}

static int v_property_name(struct vctx *x, const js_node *n, const char *k, size_t kl)
{
    json_t *saved = x->errors;
    x->errors = NULL;
    int r = v_plain_string(x, n->property_names, k, kl);
    x->errors = saved;
    if (r == 2) {
        json_t *name = json_stringn_nocheck(k, kl);
        if (!name) {
            x->oom = true;
            return OT_ENOMEM;
        }
        r = js_v_quiet(x, n->property_names, name, NULL);
        json_decref(name);
    }
    if (r == 0)
        js_report(x, n, "propertyNames", "property name '%s' does not match the 'propertyNames' schema", k);
    return r;
}

/* One member k of obj (index i): properties, patternProperties,
 * additionalProperties, propertyNames. */
static int v_member(struct vctx *x, const js_node *n, const char *k, size_t kl, const json_t *v, size_t i,
                    struct bits *own)
{
    int valid = 1;
    bool matched = false;
    if (n->nprops) {
        const struct js_named *p = find_named(n->props, n->nprops, k, kl);
        if (p) {
            matched = true;
            CHECK(js_v_child(x, p->schema, v, js_path_push(x, k, kl)));
        }
    }
    for (size_t j = 0; j < n->npatprops; j++) {
        int m = regex_match(x, n, &n->patprops[j].re, k, kl);
        if (m < 0)
            return m;
        if (m) {
            matched = true;
            CHECK(js_v_child(x, n->patprops[j].schema, v, js_path_push(x, k, kl)));
        }
    }
    if (!matched && n->additional_props) {
        matched = true;
        if (n->additional_props->kind == JS_NODE_FALSE) {
            size_t mark = js_path_push(x, k, kl);
            js_report(x, n, "additionalProperties", "property '%s' is not allowed (not listed in 'properties'%s)", k,
                   n->npatprops ? " nor matched by 'patternProperties'" : "");
            js_path_pop(x, mark);
            FAIL();
        } else {
            CHECK(js_v_child(x, n->additional_props, v, js_path_push(x, k, kl)));
        }
    }
    if (own && matched)
        bits_set(own, i);
    if (n->property_names)
        CHECK(v_property_name(x, n, k, kl));
out:
    return valid;
}

static int v_object(struct vctx *x, const js_node *n, const json_t *obj, struct bits *own)
{
    size_t size = json_object_size(obj), i = 0;
    const char *k;
    json_t *v;
    int valid = 1;
    if ((n->has & K_MAXPROPS) && size > n->max_props) {
        js_report(x, n, "maxProperties", "object has %zu properties, more than the maximum %zu", size, n->max_props);
        FAIL();
    }
    if ((n->has & K_MINPROPS) && size < n->min_props) {
        js_report(x, n, "minProperties", "object has %zu properties, fewer than the minimum %zu", size, n->min_props);
        FAIL();
    }
    if (n->required.n)
        CHECK(v_required(x, n, obj, &n->required, "required", NULL));
    for (size_t d = 0; d < n->ndep_req; d++)
        if (json_object_getn(obj, n->dep_req[d].name, n->dep_req[d].len))
            CHECK(v_required(x, n, obj, &n->dep_req[d].req, "dependentRequired", n->dep_req[d].name));
    if (n->nprops || n->npatprops || n->additional_props || n->property_names) {
        json_object_foreach((json_t *)obj, k, v) {
            size_t kl = json_object_iter_key_len(json_object_key_to_iter(k));
            CHECK(v_member(x, n, k, kl, v, i, own));
            i++;
        }
    }
    for (size_t d = 0; d < n->ndep_schemas; d++)
        if (json_object_getn(obj, n->dep_schemas[d].name, n->dep_schemas[d].len))
            CHECK(js_v_node(x, n->dep_schemas[d].schema, obj, own));
out:
    return valid;
}

/* --- Nodes --- */

static int v_body(struct vctx *x, const js_node *n, const json_t *inst, struct bits *ann)
{
    int valid = 1;
    struct bits own = {0};
    bool is_arr = json_is_array(inst), is_obj = json_is_object(inst);
    bool track = (is_arr || is_obj) && (ann || (is_arr && n->uneval_items) || (is_obj && n->uneval_props));
    if ((n->has & K_TYPE) && !type_ok(n->types, inst)) {
        char want[80];
        types_text(n->types, want, sizeof want);
        js_report(x, n, "type", "expected %s, got %s", want, type_name(inst));
        FAIL();
    }
    if ((n->has & K_CONST) && !js_json_equal(inst, n->const_)) {
        js_report(x, n, "const", "must be equal to the 'const' value");
        FAIL();
    }
    if (n->has & K_ENUM) {
        size_t i, cnt = json_array_size(n->enum_);
        for (i = 0; i < cnt && !js_json_equal(inst, json_array_get(n->enum_, i)); i++)
            ;
        if (i == cnt) {
            char *txt = ot_json_dumps(n->enum_, JSON_COMPACT | JSON_ENCODE_ANY);
            js_report(x, n, "enum", "must be one of %.300s", txt ? txt : "the 'enum' values");
            free(txt);
            FAIL();
        }
    }
    if (track && bits_init(&own, is_arr ? json_array_size(inst) : json_object_size(inst))) {
        x->oom = true;
        return OT_ENOMEM;
    }
    switch (json_typeof(inst)) {
    case JSON_INTEGER:
    case JSON_REAL:
        if (n->any_number)
            CHECK(v_number(x, n, inst));
        break;
    case JSON_STRING:
        if (n->any_string)
            CHECK(v_string(x, n, inst));
        break;
    case JSON_ARRAY:
        if (n->any_array)
            CHECK(v_array(x, n, inst, track ? &own : NULL));
        break;
    case JSON_OBJECT:
        if (n->any_object)
            CHECK(v_object(x, n, inst, track ? &own : NULL));
        break;
    default:
        break;
    }
    CHECK(js_v_inplace(x, n, inst, track ? &own : NULL));
    if (is_arr && n->uneval_items)
        CHECK(js_v_uneval_items(x, n, inst, &own));
    if (is_obj && n->uneval_props)
        CHECK(js_v_uneval_props(x, n, inst, &own));
    if (ann && valid == 1)
        bits_or(ann, &own);
out:
    bits_free(&own);
    return valid;
}

int js_v_node(struct vctx *x, const js_node *n, const json_t *inst, struct bits *ann)
{
    if (n->kind == JS_NODE_TRUE)
        return 1;
    if (n->kind == JS_NODE_FALSE) {
        js_report(x, n, NULL, "no value is allowed here (the schema is false)");
        return 0;
    }
    if (x->depth >= OT_JSONSCHEMA_MAX_DEPTH)
        return v_abort(x, n, "evaluation nested too deeply (a $ref cycle that never consumes the "
                             "instance, or an instance nested too deeply); treated as invalid");
    bool push = x->nscope == 0 || x->scope[x->nscope - 1] != n->res;
    x->depth++;
    if (push)
        x->scope[x->nscope++] = n->res;
    int r = v_body(x, n, inst, ann);
    if (push)
        x->nscope--;
    x->depth--;
    return r;
}

/* One match data per thread, kept between validations (a pattern match
 * needs one; creating it was a malloc and a free per validation). */
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static int md_key_ok;

static void md_free(void *md) { pcre2_match_data_free(md); }
static void md_key_init(void) { md_key_ok = pthread_key_create(&md_key, md_free) == 0; }

int ot_jsonschema_validate(const ot_jsonschema *s, const json_t *instance, json_t **errors_out)
{
    struct vctx x;
    int r;
    x.s = s;
    x.errors = NULL;
    x.collect = errors_out != NULL;
    x.oom = false;
    x.explaining = false;
    x.path = NULL;
    x.plen = x.pcap = 0;
    x.depth = x.nscope = 0;
    pthread_once(&md_once, md_key_init);
    pcre2_match_data *kept = md_key_ok ? pthread_getspecific(md_key) : NULL;
    x.md = kept;
    x.abort_msg = x.abort_loc = NULL;
    x.abort_path = NULL;
    if (!s || !instance)
        return OT_EINVAL;
    if (errors_out) {
        *errors_out = NULL;
        x.errors = json_array();
        x.pcap = 64;
        x.path = malloc(x.pcap);
        if (!x.errors || !x.path) {
            json_decref(x.errors);
            free(x.path);
            return OT_ENOMEM;
        }
        x.path[0] = 0;
    }
    r = js_v_node(&x, s->root, instance, NULL);
    if (r == V_ABORT) {
        r = 0;
        if (x.errors) {
            json_t *e = json_pack("{s:s, s:s, s:s}", "path", x.abort_path ? x.abort_path : "", "keyword",
                                  x.abort_loc, "message", x.abort_msg);
            if (!e || json_array_append_new(x.errors, e))
                x.oom = true;
        }
    }
    if (x.oom)
        r = OT_ENOMEM;
    if (x.md != kept && !(md_key_ok && pthread_setspecific(md_key, x.md) == 0))
        pcre2_match_data_free(x.md);
    free(x.path);
    free(x.abort_path);
    if (errors_out) {
        if (r < 0)
            json_decref(x.errors);
        else
            *errors_out = x.errors;
    }
    return r;
}
