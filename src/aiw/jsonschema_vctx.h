/* jsonschema_vctx.h - the validator's evaluation state, shared by
 * jsonschema_validate.c (the walk, assertions by instance type) and
 * jsonschema_apply.c (in-place applicators, unevaluated*); internal to
 * src/aiw/. One struct vctx per ot_jsonschema_validate call, on its stack.
 */
#ifndef OT_AIW_JSONSCHEMA_VCTX_H
#define OT_AIW_JSONSCHEMA_VCTX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"

enum { V_ABORT = -100 };

/* --- Bitsets: which items / members were evaluated (annotations) --- */

struct bits {
    uint64_t *w;
    size_t nw;
    uint64_t inl[4];
};

static inline int bits_init(struct bits *b, size_t n)
{
    b->nw = (n + 63) / 64;
    if (b->nw <= 4) {
        b->w = b->inl;
        memset(b->inl, 0, sizeof b->inl);
        return 0;
    }
    b->w = calloc(b->nw, sizeof *b->w);
    return b->w ? 0 : OT_ENOMEM;
}

static inline void bits_free(struct bits *b)
{
    if (b->w && b->w != b->inl)
        free(b->w);
    b->w = NULL;
}

static inline void bits_set(struct bits *b, size_t i) { b->w[i / 64] |= 1ull << (i % 64); }
static inline bool bits_get(const struct bits *b, size_t i) { return b->w[i / 64] >> (i % 64) & 1; }

static inline void bits_or(struct bits *d, const struct bits *s)
{
    for (size_t i = 0; i < d->nw; i++)
        d->w[i] |= s->w[i];
}

/* --- Context --- */

struct vctx {
    const ot_jsonschema *s;
    json_t *errors; /* NULL: fast or quiet mode */
    bool collect;   /* the caller wants errors: keep the path */
    bool oom;
    bool explaining; /* inside why_none: nested alternatives are not explained */
    char *path;
    size_t plen, pcap;
    int depth, nscope;
    pcre2_match_data *md;
    const char *abort_msg;
    const char *abort_loc;
    char *abort_path;
    const struct js_resource *scope[OT_JSONSCHEMA_MAX_DEPTH + 1];
};

/* Report an error at the current path for keyword kw of node n (a no-op
 * unless errors are collected). */
void js_report(struct vctx *x, const js_node *n, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The instance path: push a member or item, pop back to the mark. */
size_t js_path_push(struct vctx *x, const char *key, size_t klen);
size_t js_path_push_index(struct vctx *x, size_t i);
void js_path_pop(struct vctx *x, size_t mark);

/* Evaluate n against inst: 1 match, 0 none, < 0 abort (V_ABORT) or error.
 * ann: the evaluated items / members, when the caller tracks them. */
int js_v_node(struct vctx *x, const js_node *n, const json_t *inst, struct bits *ann);
/* The same without reporting errors (the caller reports its own). */
int js_v_quiet(struct vctx *x, const js_node *n, const json_t *inst, struct bits *ann);
/* Evaluate sub at an item or member location pushed at mark, then pop it. */
int js_v_child(struct vctx *x, const js_node *sub, const json_t *v, size_t mark);

/* jsonschema_apply.c: $ref, $dynamicRef, allOf, anyOf, oneOf, not,
 * if/then/else of n, and unevaluatedItems / unevaluatedProperties. */
int js_v_inplace(struct vctx *x, const js_node *n, const json_t *inst, struct bits *own);
int js_v_uneval_items(struct vctx *x, const js_node *n, const json_t *arr, struct bits *own);
int js_v_uneval_props(struct vctx *x, const js_node *n, const json_t *obj, struct bits *own);

/* In a function with `int valid` and an `out:` label: a failed check
 * (FAIL) stops at once in fast mode, goes on when errors are collected;
 * CHECK does that for a sub-evaluation's result and passes aborts up. */
#define FAIL()                                                                                                 \
    do {                                                                                                       \
        valid = 0;                                                                                             \
        if (!x->errors)                                                                                        \
            goto out;                                                                                          \
    } while (0)
#define CHECK(expr)                                                                                            \
    do {                                                                                                       \
        int r_ = (expr);                                                                                       \
        if (r_ < 0) {                                                                                          \
            valid = r_;                                                                                        \
            goto out;                                                                                          \
        }                                                                                                      \
        if (!r_)                                                                                               \
            FAIL();                                                                                            \
    } while (0)

#endif
