/* jsonschema_set.c - the set of schema documents $ref can reach.
 *
 * Owns: references on registered and loaded documents, the preload
 * mappings (URI prefix -> folder) and an optional resolver hook.  Lookup
 * order for an absolute URI: documents already in the set, the built-in
 * meta-schemas, the longest matching preload prefix, the resolver.  A
 * loaded document is cached in the set.  Never touches the network.
 *
 * Thread-safety: none; a set is used by one thread at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"
#include "core/embed.h"

struct set_doc {
    char *uri;
    json_t *doc;
};

struct set_preload {
    char *prefix;
    char *dir;
};

struct ot_schema_set {
    struct set_doc *docs;
    size_t ndocs, capdocs;
    struct set_preload *pre;
    size_t npre;
    ot_jsonschema_resolver fn;
    void *fnctx;
};

ot_schema_set *ot_jsonschema_set_new(void) { return calloc(1, sizeof(ot_schema_set)); }

void ot_jsonschema_set_free(ot_schema_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->ndocs; i++) {
        free(set->docs[i].uri);
        json_decref(set->docs[i].doc);
    }
    for (size_t i = 0; i < set->npre; i++) {
        free(set->pre[i].prefix);
        free(set->pre[i].dir);
    }
    free(set->docs);
    free(set->pre);
    free(set);
}

/* Store doc under uri (no fragment), replacing an older entry. */
static int put_doc(ot_schema_set *set, const char *uri, json_t *doc, ot_error *err)
{
    for (size_t i = 0; i < set->ndocs; i++)
        if (strcmp(set->docs[i].uri, uri) == 0) {
            json_incref(doc);
            json_decref(set->docs[i].doc);
            set->docs[i].doc = doc;
            return 0;
        }
    if (set->ndocs == set->capdocs) {
        size_t cap = set->capdocs ? set->capdocs * 2 : 16;
        struct set_doc *nd = realloc(set->docs, cap * sizeof *nd);
        if (!nd)
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory registering a schema");
        set->docs = nd;
        set->capdocs = cap;
    }
    char *u = strdup(uri);
    if (!u)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory registering a schema");
    set->docs[set->ndocs].uri = u;
    set->docs[set->ndocs].doc = json_incref(doc);
    set->ndocs++;
    return 0;
}

int ot_jsonschema_set_add(ot_schema_set *set, const char *uri, json_t *doc, ot_error *err)
{
    const char *frag;
    int rc = 0;
    if (!set || !uri || !doc)
        return ot_error_set(err, OT_EINVAL, NULL, "schema set: uri and document are required");
    if (!json_is_object(doc) && !json_is_boolean(doc))
        return ot_error_set(err, OT_EINVAL, NULL, "schema '%s' must be a JSON object or boolean", uri);
    char *base = js_uri_split(uri, &frag);
    if (!base)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory registering a schema");
    rc = put_doc(set, base, doc, err);
    const char *id = json_string_value(json_object_get(doc, "$id"));
    if (rc == 0 && id) {
        char *abs = js_uri_resolve(base, id), *idbase = abs ? js_uri_split(abs, &frag) : NULL;
        if (!idbase)
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory registering a schema");
        else if (strcmp(idbase, base) != 0 && *idbase)
            rc = put_doc(set, idbase, doc, err);
        free(abs);
        free(idbase);
    }
    free(base);
    return rc;
}

int ot_jsonschema_set_preload(ot_schema_set *set, const char *uri_prefix, const char *dir, ot_error *err)
{
    if (!set || !uri_prefix || !*uri_prefix || !dir || !*dir)
        return ot_error_set(err, OT_EINVAL, NULL, "preload needs a URI prefix and a folder");
    struct set_preload *np = realloc(set->pre, (set->npre + 1) * sizeof *np);
    if (!np)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory adding a preload");
    set->pre = np;
    np[set->npre].prefix = strdup(uri_prefix);
    np[set->npre].dir = strdup(dir);
    if (!np[set->npre].prefix || !np[set->npre].dir) {
        free(np[set->npre].prefix);
        free(np[set->npre].dir);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory adding a preload");
    }
    set->npre++;
    return 0;
}

void ot_jsonschema_set_resolver(ot_schema_set *set, ot_jsonschema_resolver fn, void *ctx)
{
    set->fn = fn;
    set->fnctx = ctx;
}

/* Parse with jansson; integers too big for int64 fall back to reals. */
json_t *ot_jsonschema_parse(const char *text, size_t len, ot_error *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v && strstr(je.text, "too big"))
        v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    if (!v)
        ot_error_set(err, OT_EINVAL, NULL, "invalid JSON at line %d column %d: %s", je.line, je.column,
                     je.text);
    return v;
}

json_t *ot_jsonschema_parse_file(const char *path, ot_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    json_t *v = NULL;
    if (!f) {
        ot_error_set(err, errno == ENOENT ? OT_ENOTFOUND : OT_EIO, NULL, "cannot open '%s': %s", path,
                     strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                ot_error_set(err, OT_ENOMEM, NULL, "out of memory reading '%s'", path);
                goto out;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        ot_error_set(err, OT_EIO, NULL, "cannot read '%s'", path);
        goto out;
    }
    v = ot_jsonschema_parse(buf, len, err);
    if (!v) {
        char msg[OT_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->message : "");
        ot_error_set(err, OT_EINVAL, NULL, "%s: %s", path, msg);
    }
out:
    free(buf);
    fclose(f);
    return v;
}

/* Load uri from the longest matching preload folder.  NULL with err
 * unset when no prefix matches. */
static json_t *load_preload(ot_schema_set *set, const char *uri, ot_error *err)
{
    const struct set_preload *best = NULL;
    for (size_t i = 0; i < set->npre; i++) {
        size_t n = strlen(set->pre[i].prefix);
        if (strncmp(uri, set->pre[i].prefix, n) == 0 && (!best || n > strlen(best->prefix)))
            best = &set->pre[i];
    }
    if (!best)
        return NULL;
    const char *rest = uri + strlen(best->prefix);
    if (*rest == '/' || strstr(rest, "..") || strchr(rest, '\\') || strchr(rest, '?')) {
        ot_error_set(err, OT_EINVAL, NULL, "refusing to load '%s': path escapes the preload folder", uri);
        return NULL;
    }
    size_t dl = strlen(best->dir);
    char *path = malloc(dl + strlen(rest) + 2);
    if (!path) {
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    sprintf(path, "%s%s%s", best->dir, dl && best->dir[dl - 1] == '/' ? "" : "/", rest);
    json_t *doc = ot_jsonschema_parse_file(path, err);
    free(path);
    return doc;
}

json_t *js_set_load(ot_schema_set *set, const char *uri, ot_error *err)
{
    json_t *doc = NULL;
    for (size_t i = 0; i < set->ndocs; i++)
        if (strcmp(set->docs[i].uri, uri) == 0)
            return set->docs[i].doc;
    const char *text = js_meta_find(uri);
    if (text) {
        doc = json_loads(text, 0, NULL);
        if (!doc) {
            ot_error_set(err, OT_ENOMEM, NULL, "out of memory loading meta-schema %s", uri);
            return NULL;
        }
    }
    if (!doc)
        doc = load_preload(set, uri, err);
    if (!doc && err && err->code)
        return NULL;
    if (!doc && set->fn)
        doc = set->fn(set->fnctx, uri, err);
    if (!doc)
        return NULL;
    if (!json_is_object(doc) && !json_is_boolean(doc)) {
        ot_error_set(err, OT_EINVAL, NULL, "document '%s' is not a schema (object or boolean)", uri);
        json_decref(doc);
        return NULL;
    }
    int rc = put_doc(set, uri, doc, err);
    json_decref(doc);
    return rc == 0 ? doc : NULL;
}

int ot_jsonschema_set_add_builtins(ot_schema_set *set, ot_error *err)
{
    for (const struct ot_embedded_file *f = ot_embedded; f->path; f++) {
        size_t n = strlen(f->path);
        if (strncmp(f->path, "schemas/", 8) != 0 || n < 5 || strcmp(f->path + n - 5, ".json") != 0)
            continue;
        json_t *doc = ot_jsonschema_parse(f->data, f->len, err);
        if (!doc)
            return ot_error_set(err, OT_EINTERNAL, NULL, "built-in %s is not valid JSON", f->path);
        const char *id = json_string_value(json_object_get(doc, "$id"));
        int rc = id ? ot_jsonschema_set_add(set, id, doc, err)
                    : ot_error_set(err, OT_EINTERNAL, NULL, "built-in %s has no $id", f->path);
        json_decref(doc);
        if (rc)
            return rc;
    }
    return 0;
}
