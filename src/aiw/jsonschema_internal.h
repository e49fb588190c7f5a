/* jsonschema_internal.h - shared internals of the jsonschema module.
 *
 * Not a public header: only src/aiw/jsonschema_*.c include it.  The
 * compiled form is a graph of js_node (one per subschema, shared by every
 * $ref that reaches it, so cycles are plain pointer cycles), allocated from
 * one arena owned by the ot_jsonschema.  Nodes borrow JSON values (enum,
 * const, bounds) from documents the ot_jsonschema holds references on.
 */
#ifndef OT_AIW_JSONSCHEMA_INTERNAL_H
#define OT_AIW_JSONSCHEMA_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aiw/jsonschema.h"

/* --- Type bits ("type" keyword) --- */
enum {
    JS_T_NULL = 1 << 0,
    JS_T_BOOLEAN = 1 << 1,
    JS_T_OBJECT = 1 << 2,
    JS_T_ARRAY = 1 << 3,
    JS_T_NUMBER = 1 << 4,
    JS_T_STRING = 1 << 5,
    JS_T_INTEGER = 1 << 6,
};

/* --- Formats --- */
enum js_format {
    JS_F_NONE = 0,
    JS_F_DATE_TIME,
    JS_F_DATE,
    JS_F_TIME,
    JS_F_DURATION,
    JS_F_EMAIL,
    JS_F_IDN_EMAIL,
    JS_F_HOSTNAME,
    JS_F_IDN_HOSTNAME,
    JS_F_IPV4,
    JS_F_IPV6,
    JS_F_URI,
    JS_F_URI_REFERENCE,
    JS_F_IRI,
    JS_F_IRI_REFERENCE,
    JS_F_URI_TEMPLATE,
    JS_F_UUID,
    JS_F_JSON_POINTER,
    JS_F_RELATIVE_JSON_POINTER,
    JS_F_REGEX,
    JS_F_UNKNOWN
};

/* --- Vocabularies (bits; a resource's meta-schema enables a subset) --- */
enum {
    JS_V_APPLICATOR = 1 << 0,
    JS_V_VALIDATION = 1 << 1,
    JS_V_UNEVALUATED = 1 << 2,
    JS_V_FORMAT = 1 << 3,
    JS_V_ALL = 0xf,
};

typedef struct js_node js_node;

/* A pattern of the shape ^[A]$, ^[A]*$, ^[A]+$, ^[A][B]$, ^[A][B]*$ or
 * ^[A][B]+$ with ASCII classes of plain characters and ranges (the ids and
 * names of most schemas): matched with two byte tables instead of PCRE2,
 * giving the same answers (js_simple_re_parse). */
struct js_simple_re {
    unsigned char kind;     /* 0: not simple; else the number of classes (1, 2) */
    unsigned char quant;    /* of the last class: 0, '*' or '+' */
    uint8_t first[16], rest[16]; /* ASCII bitmaps; rest only with two classes */
};

struct js_regex {
    pcre2_code *code;
    const char *src; /* the ECMA-262 source, for messages */
    struct js_simple_re simple;
};

struct js_named {     /* a name -> schema (properties, dependentSchemas) */
    const char *name; /* arena copy; may contain NUL, see len */
    size_t len;
    js_node *schema;
};

struct js_strlist {
    const char **v;
    size_t *len;
    size_t n;
};

struct js_depreq {
    const char *name;
    size_t len;
    struct js_strlist req;
};

struct js_patprop {
    struct js_regex re;
    js_node *schema;
};

struct js_dynanchor {
    const char *name;
    js_node *node;
};

/* A schema resource: the document root or a subschema with $id.  The
 * dynamic scope of $dynamicRef is a stack of these. */
struct js_resource {
    const char *uri;
    struct js_dynanchor *dyn;
    size_t ndyn;
};

enum { JS_NODE_TRUE, JS_NODE_FALSE, JS_NODE_OBJECT };

/* Keyword presence bits (js_node.has). */
enum {
    K_TYPE = 1u << 0, K_ENUM = 1u << 1, K_CONST = 1u << 2, K_MULTIPLE = 1u << 3,
    K_MAXIMUM = 1u << 4, K_EXMAXIMUM = 1u << 5, K_MINIMUM = 1u << 6, K_EXMINIMUM = 1u << 7,
    K_MAXLEN = 1u << 8, K_MINLEN = 1u << 9, K_PATTERN = 1u << 10, K_MAXITEMS = 1u << 11,
    K_MINITEMS = 1u << 12, K_UNIQUE = 1u << 13, K_MAXCONTAINS = 1u << 14,
    K_MINCONTAINS = 1u << 15, K_MAXPROPS = 1u << 16, K_MINPROPS = 1u << 17,
    K_FORMAT = 1u << 18,
};

struct js_node {
    int kind; /* JS_NODE_* */
    const char *loc;            /* schema location, for error "keyword" */
    const struct js_resource *res;
    uint32_t has;               /* K_* bits */
    unsigned types;             /* JS_T_* bits when K_TYPE */
    int format;                 /* enum js_format when K_FORMAT */
    bool any_string, any_number, any_array, any_object; /* keyword groups present */
    const json_t *enum_, *const_;
    const json_t *multiple_of, *maximum, *ex_maximum, *minimum, *ex_minimum;
    size_t max_len, min_len, max_items, min_items, max_contains, min_contains;
    size_t max_props, min_props;
    struct js_regex pattern;
    struct js_strlist required;
    struct js_depreq *dep_req;
    size_t ndep_req;
    struct js_named *props; /* sorted by (name, len) */
    size_t nprops;
    struct js_patprop *patprops;
    size_t npatprops;
    js_node *additional_props, *property_names;
    js_node **prefix_items;
    size_t nprefix;
    js_node *items, *contains;
    js_node **all_of, **any_of, **one_of;
    size_t nall_of, nany_of, none_of;
    js_node *not_, *if_, *then_, *else_;
    struct js_named *dep_schemas;
    size_t ndep_schemas;
    js_node *uneval_items, *uneval_props;
    js_node *ref;
    js_node *dynref;            /* the statically resolved $dynamicRef target */
    const char *dynref_anchor;  /* set when that target is a $dynamicAnchor */
};

/* --- Arena --- */
struct js_arena_chunk;
struct js_arena {
    struct js_arena_chunk *head;
};
void *js_arena_alloc(struct js_arena *a, size_t n);          /* zeroed; NULL on OOM */
char *js_arena_strndup(struct js_arena *a, const char *s, size_t n);
void js_arena_free(struct js_arena *a);

/* The compiled schema. */
struct ot_jsonschema {
    js_node *root;
    int flags;
    struct js_arena arena;
    json_t **docs; /* references held */
    size_t ndocs, capdocs;
    pcre2_code **codes; /* every compiled regex, freed with the schema */
    size_t ncodes, capcodes;
    pcre2_match_context *mctx; /* read-only during validation */
};

/* --- URIs and pointers (jsonschema_uri.c) --- */
/* A growable NUL-terminated string; oom latches on allocation failure. */
struct js_buf {
    char *s;
    size_t len, cap;
    bool oom;
};
void js_buf_add(struct js_buf *b, const char *s, size_t n);
/* RFC 3986 section 5.2 resolution; base may be NULL or "".  malloc'd result
 * or NULL on OOM. */
char *js_uri_resolve(const char *base, const char *ref);
/* Copy of uri without its fragment (malloc'd); *frag points into uri after
 * '#' or is NULL. */
char *js_uri_split(const char *uri, const char **frag);
/* Percent-decode s into a malloc'd string (length in *len); NULL on OOM. */
char *js_pct_decode(const char *s, size_t *len);
/* Resolve a JSON Pointer (already percent-decoded) in doc; NULL if absent. */
json_t *js_pointer_get(json_t *doc, const char *ptr, size_t len);
/* Append key to a growable JSON Pointer buffer, escaping ~ and /. */
int js_pointer_append(char **buf, size_t *len, size_t *cap, const char *key, size_t klen);

/* --- Regexes (jsonschema_regex.c) --- */
/* Translate and compile an ECMA-262 pattern; 0 or OT_EINVAL with a message
 * in why[]. */
int js_regex_compile(const char *src, size_t len, pcre2_code **out, char *why, size_t whylen);
/* Fill *out when src has a shape struct js_simple_re covers, else kind 0. */
void js_simple_re_parse(const char *src, size_t len, struct js_simple_re *out);
/* 1 when s matches (kind != 0), else 0. */
int js_simple_re_match(const struct js_simple_re *re, const char *s, size_t len);
/* 1 match, 0 no match, -1 resource limit hit, -2 out of memory. */
int js_regex_search(const pcre2_code *code, const pcre2_match_context *mctx,
                    pcre2_match_data **md, const char *s, size_t len);

/* --- Formats (jsonschema_format.c) --- */
int js_format_lookup(const char *name);
/* 1 when s (len bytes) is a valid instance of format f. */
int js_format_check(int f, const char *s, size_t len);

/* --- JSON helpers (jsonschema_validate.c) --- */
int js_json_equal(const json_t *a, const json_t *b);
int js_is_integral(const json_t *v);

/* --- Meta-schemas (jsonschema_meta.c) --- */
/* The built-in text of a meta-schema, or NULL. */
const char *js_meta_find(const char *uri);

/* --- Set internals used by the compiler (jsonschema_set.c) --- */
/* Borrowed document for an absolute URI without fragment, loading it from
 * built-ins, preloads or the resolver on first use; NULL if unknown (err
 * filled when loading failed rather than not found). */
json_t *js_set_load(ot_schema_set *set, const char *uri, ot_error *err);

#endif
