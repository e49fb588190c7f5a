/* jsonschema_comp.h - compiler state shared by jsonschema_index.c (the
 * index pass and $ref resolution) and jsonschema_compile.c (keywords).
 * Internal to the jsonschema module. */
#ifndef OT_AIW_JSONSCHEMA_COMP_H
#define OT_AIW_JSONSCHEMA_COMP_H

#include "aiw/jsonschema_internal.h"

/* A small open-addressing hash map (pointer or string keys). */
struct hent {
    const void *key;
    void *val;
};

struct hmap {
    struct hent *e;
    size_t n, cap;
    bool str;
};

void *js_hm_get(const struct hmap *m, const void *k);
int js_hm_put(struct hmap *m, const void *k, void *v);


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

int js_comp_oom(struct comp *c);
int js_comp_bad(struct comp *c, const char *loc, const char *kw, const char *what);
const char *js_comp_loc_join(struct comp *c, const char *a, const char *b);
/* Index a whole document fetched as uri (is_root: the one compiled). */
int js_comp_index_doc(struct comp *c, json_t *doc, const char *uri, bool is_root, struct rinfo **out);
/* The node of an indexed subschema, queued for compiling on first use. */
js_node *js_comp_get_node(struct comp *c, json_t *s);
/* Keep a reference on doc for the compiled schema's lifetime. */
int js_comp_keep_doc(struct comp *c, json_t *doc);
/* Resolve a $ref / $dynamicRef value against base to an indexed schema;
 * *anchor receives the plain-name fragment when it named a $dynamicAnchor. */
int js_comp_resolve_ref(struct comp *c, const char *base, const char *ref, const char *loc, const char *kw,
                        json_t **target, const char **anchor);

#endif
