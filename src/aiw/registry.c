/* registry.c - see registry.h. */
#include "aiw/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema.h"
#include "api/app.h"
#include "core/buf.h"
#include "core/embed.h"
#include "core/evtype.h"
#include "core/log.h"
#include "store/store.h"
#include "telemetry/names.h"

#define NAME_MAX_LEN 64
#define URI_BASE "https://opstwin.dev/schemas/"

struct entry {
    char name[NAME_MAX_LEN + 1];
    char version[16];
    int builtin;
    int format_assert;
    json_t *doc;            /* the schema as registered */
    char *canon;            /* its canonical text, to compare re-registrations */
    ot_jsonschema *compiled;
};

struct ot_registry {
    pthread_rwlock_t lock;  /* entries; the set is used under the write lock */
    ot_schema_set *set;
    struct entry *entries;
    size_t n, cap;
};

static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0 && n <= NAME_MAX_LEN;
}

/* "telemetry.v1" -> "v1"; names without a .vN suffix are version "v1". */
static void version_of(const char *name, char *out, size_t n)
{
    const char *dot = strrchr(name, '.');
    if (dot && dot[1] == 'v' && dot[2] >= '0' && dot[2] <= '9')
        snprintf(out, n, "%s", dot + 1);
    else
        snprintf(out, n, "v1");
}

static char *canonical(const json_t *doc)
{
    return ot_json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static struct entry *find_locked(ot_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0)
            return &r->entries[i];
    return NULL;
}

/* Compile and append; write lock held. Takes a reference on doc. */
static int add_locked(ot_registry *r, const char *name, json_t *doc, int builtin,
                      int format_assert, ot_error *err)
{
    char uri[256];
    snprintf(uri, sizeof uri, URI_BASE "%s.json", name);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct entry *e = realloc(r->entries, cap * sizeof *e);
        if (!e)
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        r->entries = e;
        r->cap = cap;
    }
    /* a custom schema without its own $id is reachable under our URI */
    if (!builtin && ot_jsonschema_set_add(r->set, uri, doc, err))
        return err->code;
    ot_jsonschema *c = ot_jsonschema_compile(r->set, doc, json_object_get(doc, "$id") ? NULL : uri,
                                             format_assert ? OT_JSONSCHEMA_FORMAT_ASSERT : 0, err);
    if (!c)
        return err->code ? err->code : OT_EINVAL;
    struct entry *e = &r->entries[r->n];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    version_of(name, e->version, sizeof e->version);
    e->builtin = builtin;
    e->format_assert = format_assert;
    e->doc = json_incref(doc);
    e->canon = canonical(doc);
    e->compiled = c;
    r->n++;
    return 0;
}

int ot_registry_open(ot_store *store, ot_registry **out, ot_error *err)
{
    ot_registry *r = calloc(1, sizeof *r);
    int rc;
    if (!r)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    pthread_rwlock_init(&r->lock, NULL);
    r->set = ot_jsonschema_set_new();
    if (!r->set) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if ((rc = ot_jsonschema_set_add_builtins(r->set, err)))
        goto fail;
    for (const struct ot_embedded_file *f = ot_embedded; f->path; f++) {
        if (strncmp(f->path, "schemas/", 8) != 0 || strchr(f->path + 8, '/'))
            continue;
        char name[NAME_MAX_LEN + 1];
        const char *base = f->path + 8, *dot = strstr(base, ".json");
        if (!dot || (size_t)(dot - base) > NAME_MAX_LEN)
            continue;
        snprintf(name, sizeof name, "%.*s", (int)(dot - base), base);
        json_t *doc = json_loadb(f->data, f->len, 0, NULL);
        rc = doc ? add_locked(r, name, doc, 1, 1, err)
                 : ot_error_set(err, OT_EINTERNAL, NULL, "built-in schema %s is not JSON", name);
        json_decref(doc);
        if (rc)
            goto fail;
    }
    json_t *stored = ot_store_list_docs(store, "schema", NULL, NULL, 100000, err);
    if (!stored) {
        rc = err->code;
        goto fail;
    }
    /* oldest first, so references to earlier schemas resolve */
    for (size_t i = json_array_size(stored); i-- > 0;) {
        json_t *d = json_array_get(stored, i);
        const char *name = json_string_value(json_object_get(d, "name"));
        ot_error e;
        if (!name || add_locked(r, name, json_object_get(d, "schema"),
                                0, json_is_true(json_object_get(d, "format_assert")), &e))
            ot_log(OT_LOG_WARNING, "registry: skipping stored schema %s: %s",
                   name ? name : "(unnamed)", name ? e.message : "no name");
    }
    json_decref(stored);
    *out = r;
    return 0;
fail:
    ot_registry_free(r);
    return rc ? rc : OT_EINTERNAL;
}

void ot_registry_free(ot_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->entries[i].doc);
        free(r->entries[i].canon);
        ot_jsonschema_free(r->entries[i].compiled);
    }
    free(r->entries);
    ot_jsonschema_set_free(r->set);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

json_t *ot_registry_list(ot_registry *r)
{
    json_t *list = json_array();
    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        char url[128];
        snprintf(url, sizeof url, "/schemas/%s", r->entries[i].name);
        json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s}", "name",
                                              r->entries[i].name, "version",
                                              r->entries[i].version, "builtin",
                                              r->entries[i].builtin, "url", url));
    }
    pthread_rwlock_unlock(&r->lock);
    return list;
}

static const ot_jsonschema *compiled_of(ot_registry *r, const char *name)
{
    pthread_rwlock_rdlock(&r->lock);
    struct entry *e = find_locked(r, name);
    const ot_jsonschema *c = e ? e->compiled : NULL;
    pthread_rwlock_unlock(&r->lock);
    return c; /* entries are never removed: valid for the registry's life */
}

int ot_registry_validate(ot_registry *r, const char *name, const json_t *instance,
                         json_t **errors)
{
    const ot_jsonschema *c = compiled_of(r, name);
    if (!c)
        return OT_ENOTFOUND;
    return ot_jsonschema_validate(c, instance, errors);
}

/* The JSON pointer ptr into instance as a path the way the rest of the API
 * writes one: "/quality/flags/1" -> "$[3].quality.flags[1]", a key that is
 * not a token quoted ("/metrics/a~1b" -> "$[3].metrics[\"a/b\"]"). Whether
 * a step is an index or a key is the instance's to say: in {"0": ...} the
 * step "0" is a key. */
static void pointer_to_path(const char *prefix, const json_t *instance, const char *ptr,
                            char *out, size_t n)
{
    char base[OT_ERROR_PATH_MAX], step[256];
    snprintf(out, n, "%s", prefix);
    const json_t *v = instance;
    while (*ptr == '/') {
        size_t k = 0;
        for (ptr++; *ptr && *ptr != '/'; ptr++) {
            char c = *ptr;
            if (c == '~' && (ptr[1] == '0' || ptr[1] == '1'))
                c = *++ptr == '0' ? '~' : '/';
            if (k + 1 < sizeof step)
                step[k++] = c;
        }
        step[k] = '\0';
        snprintf(base, sizeof base, "%s", out);
        if (json_is_array(v)) {
            snprintf(out, n, "%.200s[%.40s]", base, step); /* a long path is cut */
            v = json_array_get(v, strtoul(step, NULL, 10));
        } else {
            ot_tel_path_key(out, n, base, step, k);
            v = json_object_get(v, step);
        }
    }
}

int ot_registry_check_telemetry(void *ctx, const json_t *tel, const char *prefix, ot_error *err)
{
    /* valid records, the usual case, skip the error paths' bookkeeping
     * (each value's JSON pointer, the error list); an invalid one is
     * checked again for its first error */
    if (ot_registry_validate(ctx, "telemetry.v1", tel, NULL) == 1)
        return 0;
    json_t *errors = NULL;
    int rc = ot_registry_validate(ctx, "telemetry.v1", tel, &errors);
    if (rc == 1) {
        json_decref(errors);
        return 0;
    }
    json_t *first = json_array_get(errors, 0);
    char path[OT_ERROR_PATH_MAX];
    pointer_to_path(prefix, tel, json_string_value(json_object_get(first, "path")) ?: "", path,
                    sizeof path);
    ot_error_set(err, OT_EINVAL, path, "%s (telemetry.v1 %s)",
                 json_string_value(json_object_get(first, "message")) ?: "invalid",
                 json_string_value(json_object_get(first, "keyword")) ?: "");
    json_decref(errors);
    return OT_EINVAL;
}

/* --- endpoints ----------------------------------------------------------- */

void ot_h_schemas_list(ot_req *req)
{
    ot_reply_json(req, 200, json_pack("{s:o}", "schemas", ot_registry_list(req->app->registry)));
}

void ot_h_schema_get(ot_req *req)
{
    ot_registry *r = req->app->registry;
    const char *name = ot_req_param(req, "name");
    pthread_rwlock_rdlock(&r->lock);
    struct entry *e = name_ok(name) ? find_locked(r, name) : NULL;
    json_t *doc = e ? json_incref(e->doc) : NULL;
    pthread_rwlock_unlock(&r->lock);
    if (!doc) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.name", "no schema named '%.64s'; see GET /schemas",
                        name);
        return;
    }
    ot_reply_json(req, 200, doc);
}

void ot_h_schema_validate(ot_req *req)
{
    const char *name = ot_req_param(req, "name");
    const ot_jsonschema *c = name_ok(name) ? compiled_of(req->app->registry, name) : NULL;
    if (!c) {
        ot_reply_errorf(req, OT_ENOTFOUND, "$.name", "no schema named '%.64s'; see GET /schemas",
                        name);
        return;
    }
    json_t *instance = ot_req_json(req);
    if (!instance)
        return;
    json_t *errors = NULL;
    int rc = ot_jsonschema_validate(c, instance, &errors);
    json_decref(instance);
    if (rc < 0) {
        json_decref(errors);
        ot_reply_errorf(req, rc, NULL, "validation failed to run");
        return;
    }
    ot_reply_json(req, 200, json_pack("{s:b, s:o}", "valid", rc == 1, "errors",
                                      errors ? errors : json_array()));
}

struct reg_put {
    ot_store_write w;
    ot_store_doc doc;
    ot_store_event ev;
    char *text;
    json_t *schema;
    char name[NAME_MAX_LEN + 1];
    int format_assert;
};

static void registered(ot_req *req);

static void on_stored(ot_store_write *w, void *ctx)
{
    (void)w;
    ot_req_complete(ctx);
}

void ot_h_schema_register(ot_req *req)
{
    ot_registry *r = req->app->registry;
    json_t *body = ot_req_json(req);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *schema = json_object_get(body, "schema");
    json_t *fa = json_object_get(body, "format_assert");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "name") && strcmp(key, "schema") && strcmp(key, "format_assert")) {
            char path[OT_ERROR_PATH_MAX], q[64];
            ot_tel_path_key(path, sizeof path, "$", key, strlen(key));
            ot_reply_errorf(req, OT_EINVAL, path, "unknown field '%s'; allowed: name, schema, "
                            "format_assert", ot_tel_quote(q, sizeof q, key, strlen(key)));
            goto out;
        }
    }
    if (!name || !name_ok(name)) {
        ot_reply_errorf(req, OT_EINVAL, "$.name",
                        "name is required: 1-64 characters of A-Z a-z 0-9 _ . -, e.g. "
                        "\"pump_reading.v1\"");
        goto out;
    }
    if (!schema || !(json_is_object(schema) || json_is_boolean(schema))) {
        ot_reply_errorf(req, OT_EINVAL, "$.schema", "schema is required and must be a JSON "
                        "Schema (an object or a boolean)");
        goto out;
    }
    if (fa && !json_is_boolean(fa)) {
        ot_reply_errorf(req, OT_EINVAL, "$.format_assert", "format_assert must be true or false");
        goto out;
    }
    char *canon = canonical(schema);
    pthread_rwlock_rdlock(&r->lock);
    struct entry *e = find_locked(r, name);
    int builtin = e && e->builtin, same = e && canon && strcmp(e->canon, canon) == 0;
    pthread_rwlock_unlock(&r->lock);
    free(canon);
    if (builtin) {
        ot_reply_errorf(req, OT_ECONFLICT, "$.name", "%s is a built-in schema and cannot be "
                        "replaced; register under another name", name);
        goto out;
    }
    if (e) {
        if (same) {
            char url[128];
            snprintf(url, sizeof url, "/schemas/%s", name);
            ot_reply_json(req, 200, json_pack("{s:s, s:s, s:s}", "name", name, "status",
                                              "unchanged", "url", url));
        }
        else {
            char next[NAME_MAX_LEN + 8], ver[16];
            version_of(name, ver, sizeof ver);
            const char *dot = strrchr(name, '.');
            if (dot && strcmp(dot + 1, ver) == 0)
                snprintf(next, sizeof next, "%.*s.v%d", (int)(dot - name), name, atoi(ver + 1) + 1);
            else
                snprintf(next, sizeof next, "%s.v2", name);
            ot_reply_errorf(req, OT_ECONFLICT, "$.name", "a different schema is already "
                            "registered as %s; register a new version, e.g. %s", name, next);
        }
        goto out;
    }
    /* compile now (in a scratch set) so a bad schema is a 400 before
     * anything is stored */
    ot_error err;
    ot_error_clear(&err);
    pthread_rwlock_wrlock(&r->lock);
    ot_jsonschema *probe = ot_jsonschema_compile(r->set, schema, NULL,
                                                 json_is_true(fa) ? OT_JSONSCHEMA_FORMAT_ASSERT : 0,
                                                 &err);
    pthread_rwlock_unlock(&r->lock);
    if (!probe) {
        char path[OT_ERROR_PATH_MAX];
        snprintf(path, sizeof path, "$.schema%.200s", err.path[0] == '/' ? err.path : "");
        ot_reply_errorf(req, OT_EINVAL, path, "invalid schema: %s", err.message);
        goto out;
    }
    ot_jsonschema_free(probe);

    struct reg_put *rp = calloc(1, sizeof *rp);
    if (!rp) {
        ot_reply_errorf(req, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    snprintf(rp->name, sizeof rp->name, "%s", name);
    rp->schema = json_incref(schema);
    rp->format_assert = json_is_true(fa);
    json_t *stored = json_pack("{s:s, s:O, s:b}", "name", name, "schema", schema,
                               "format_assert", rp->format_assert);
    rp->text = ot_json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    rp->doc = (ot_store_doc){"schema", rp->name, "", NULL, rp->text};
    rp->ev = (ot_store_event){.type = OT_EV_SCHEMA_REGISTERED, .twin_id = "", .id = rp->name,
                              .ref_type = "schema"};
    rp->w = (ot_store_write){.docs = &rp->doc, .ndocs = 1, .events = &rp->ev, .nevents = 1,
                             .done = on_stored, .ctx = req};
    ot_req_audit(req, &rp->w, rp->name);
    ot_req_defer(req, registered, rp);
    int rc = rp->text ? ot_store_submit(req->app->store, &rp->w) : OT_ENOMEM;
    if (rc) {
        ot_req_undefer(req);
        json_decref(rp->schema);
        free(rp->text);
        free(rp);
        ot_reply_errorf(req, rc, NULL, "could not store the schema; retry");
    }
out:
    json_decref(body);
}

static void registered(ot_req *req)
{
    struct reg_put *rp = req->defer_ctx;
    ot_registry *r = req->app->registry;
    if (rp->w.rc) {
        ot_reply_errorf(req, OT_EUNAVAIL, NULL, "could not store the schema: %s",
                        rp->w.err.message);
    } else {
        ot_error err;
        pthread_rwlock_wrlock(&r->lock);
        int rc = find_locked(r, rp->name) ? 0 /* a concurrent twin request won */
                                          : add_locked(r, rp->name, rp->schema, 0,
                                                       rp->format_assert, &err);
        pthread_rwlock_unlock(&r->lock);
        char url[128];
        snprintf(url, sizeof url, "/schemas/%s", rp->name);
        if (rc)
            ot_reply_error(req, &err);
        else
            ot_reply_json(req, 201, json_pack("{s:s, s:s, s:s}", "name", rp->name, "status",
                                              "registered", "url", url));
    }
    json_decref(rp->schema);
    free(rp->text);
    free(rp);
}
