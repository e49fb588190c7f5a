/* jsonschema.h - JSON Schema draft 2020-12 validator.
 *
 * Compile a schema once, validate many instances:
 *
 *   ot_schema_set *set = ot_jsonschema_set_new();
 *   ot_jsonschema *s = ot_jsonschema_compile(set, schema, NULL, 0, &err);
 *   json_t *errors = NULL;
 *   int ok = ot_jsonschema_validate(s, instance, &errors);
 *   ...
 *   json_decref(errors); ot_jsonschema_free(s); ot_jsonschema_set_free(set);
 *
 * Covered: the core, applicator, validation, unevaluated, meta-data and
 * format-annotation vocabularies of draft 2020-12, including $id / $anchor
 * base-URI resolution (RFC 3986), $dynamicRef / $dynamicAnchor, $vocabulary
 * of custom meta-schemas, and the official meta-schemas, which are built in
 * (a $ref to https://json-schema.org/draft/2020-12/schema works offline).
 * Nothing is ever fetched from the network: documents come from the set
 * (ot_jsonschema_set_add), from preload folders (ot_jsonschema_set_preload)
 * or from a caller's resolver hook.
 *
 * Regular expressions (pattern, patternProperties, format "regex") are
 * ECMA-262 patterns translated to PCRE2 (UTF + UCP, \d \w ASCII as in
 * ECMA-262) and JIT-compiled; matching runs under a match limit so a hostile
 * pattern cannot hang a validation (the instance is then reported invalid
 * with a message saying so).  Evaluation depth is bounded (OT_JSONSCHEMA_
 * MAX_DEPTH): a $ref cycle such as {"$ref":"#"} or a very deep instance ends
 * as an invalid result with a clear error, never a stack overflow.
 *
 * Thread-safety: an ot_schema_set is not thread-safe (compile mutates it:
 * it caches loaded documents).  A compiled ot_jsonschema is immutable: any
 * number of threads may call ot_jsonschema_validate on it concurrently.
 *
 * Ownership: the set and compiled schemas take their own references on the
 * JSON documents they use; the caller keeps its references.  A compiled
 * schema does not depend on its set after compile: either may be freed
 * first.
 */
#ifndef OT_AIW_JSONSCHEMA_H
#define OT_AIW_JSONSCHEMA_H

#include <jansson.h>

#include "core/error.h"

typedef struct ot_schema_set ot_schema_set;
typedef struct ot_jsonschema ot_jsonschema;

/* Compile flags. */
enum {
    /* Check "format" (date-time, date, time, duration, email, hostname,
     * ipv4, ipv6, uri, uri-reference, iri, iri-reference, uuid,
     * json-pointer, relative-json-pointer, regex, idn-*, uri-template)
     * instead of treating it as an annotation.  Unknown formats pass. */
    OT_JSONSCHEMA_FORMAT_ASSERT = 1 << 0,
};

/* Nesting of schema evaluation (applicators and $ref hops) allowed before a
 * validation is cut off as invalid. */
#define OT_JSONSCHEMA_MAX_DEPTH 256

/* A resolver hook: return a new reference to the document for an absolute
 * URI without fragment, or NULL (and fill err if it is an error rather
 * than "unknown").  Called during compile only. */
typedef json_t *(*ot_jsonschema_resolver)(void *ctx, const char *uri, ot_error *err);

/* A new, empty set of schema documents.  NULL on out-of-memory. */
ot_schema_set *ot_jsonschema_set_new(void);

/* Free a set and its references on documents.  Accepts NULL. */
void ot_jsonschema_set_free(ot_schema_set *set);

/* Register doc under an absolute URI (a fragment, if any, is ignored) so
 * $ref can reach it.  Takes its own reference on doc.  A document that has
 * its own $id is also reachable under that $id.  Replaces an earlier
 * document of the same URI.  OT_EINVAL for a bad URI or a doc that is not a
 * schema (object or boolean), OT_ENOMEM. */
int ot_jsonschema_set_add(ot_schema_set *set, const char *uri, json_t *doc, ot_error *err);

/* Map a URI prefix to a local folder: a $ref to uri_prefix + "a/b.json" is
 * loaded from dir/a/b.json the first time it is needed.  References that
 * would climb out of dir ("..") are refused.  OT_EINVAL, OT_ENOMEM. */
int ot_jsonschema_set_preload(ot_schema_set *set, const char *uri_prefix, const char *dir,
                              ot_error *err);

/* Register every built-in schema (the schemas/ folder embedded in the binary:
 * telemetry.v1, anomaly.v1, ...) under its $id,
 * https://opstwin.dev/schemas/<name>.json, so they can be compiled by URI
 * and reference each other.  0, OT_ENOMEM, or OT_EINTERNAL for a broken
 * build. */
int ot_jsonschema_set_add_builtins(ot_schema_set *set, ot_error *err);

/* Install a resolver hook tried after the set's documents and preloads.
 * fn NULL removes it. */
void ot_jsonschema_set_resolver(ot_schema_set *set, ot_jsonschema_resolver fn, void *ctx);

/* Parse JSON text (any value) as jansson does, except that integers too
 * large for int64 become reals instead of failing.  New reference, or NULL
 * with err filled (OT_EINVAL with line and column). */
json_t *ot_jsonschema_parse(const char *text, size_t len, ot_error *err);

/* The same for a file: OT_ENOTFOUND, OT_EIO or OT_EINVAL naming the file. */
json_t *ot_jsonschema_parse_file(const char *path, ot_error *err);

/* Compile schema (borrowed; a reference is taken) with base_uri (NULL: the
 * schema's own $id, or none).  Every document reachable through $ref is
 * loaded, checked and compiled now.  flags: OT_JSONSCHEMA_* bits.
 * Returns NULL and fills err (OT_EINVAL naming the schema location, e.g.
 * "/properties/a/minLength: must be a non-negative integer", or OT_ENOMEM)
 * on failure.  Caller frees with ot_jsonschema_free. */
ot_jsonschema *ot_jsonschema_compile(ot_schema_set *set, json_t *schema, const char *base_uri,
                                     int flags, ot_error *err);

/* Compile the document the set knows under uri (registered, built-in or
 * preloaded), e.g. "https://opstwin.dev/schemas/telemetry.v1.json" after
 * ot_jsonschema_set_add_builtins.  OT_ENOTFOUND when no such document. */
ot_jsonschema *ot_jsonschema_compile_uri(ot_schema_set *set, const char *uri, int flags, ot_error *err);

/* Validate instance.  Returns 1 valid, 0 invalid, negative OT_E* on an
 * internal failure (out of memory).  With errors_out NULL it stops at the
 * first failure (fast path, no allocation when valid).  Otherwise
 * *errors_out receives a new JSON array (caller decrefs; empty when valid)
 * of {"path": JSON Pointer of the instance location ("" = the root; for a
 * missing required property, the property's would-be location),
 * "keyword": JSON Pointer of the failing keyword in the schema (prefixed
 * by the document URI and "#" when it lies in another document),
 * "message": what is wrong}.  Thread-safe on a shared compiled schema. */
int ot_jsonschema_validate(const ot_jsonschema *s, const json_t *instance, json_t **errors_out);

/* Free a compiled schema.  Accepts NULL. */
void ot_jsonschema_free(ot_jsonschema *s);

#endif
