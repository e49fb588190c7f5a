/* import_direct.c - the data-folder sink of `opstwin ingest`; see import.h.
 *
 * Opens the store the way the server does (and so takes the folder's lock:
 * a running server makes the open fail with OT_EBUSY), loads the schema
 * registry and the twins' ingest profiles, and stores each batch as one
 * ot_store_write: every item normalized, checked against telemetry.v1 and
 * rendered canonically, as POST /telemetry/ingest does.
 */
#include "cli/import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aiw/registry.h"
#include "core/clock.h"
#include "store/store.h"
#include "telemetry/ingest.h"
#include "telemetry/normalize.h"

struct profile {
    char *twin;
    ot_ingest_profile *p;
};

typedef struct direct_sink {
    ot_import_sink base; /* first: the sink interface */
    ot_store *store;
    ot_registry *registry;
    struct profile *profiles;
    size_t nprofiles;
    ot_tel_json canon; /* the tree the schema check reads */
} direct_sink;

/* Per batch: the normalized items and the arrays the store write points to. */
struct batch {
    ot_tel *tels;
    char **json;
    size_t *stel;         /* index into stels, for accepted items */
    ot_store_tel *stels;
    const char **names;
    double *values;
};

static const ot_ingest_profile *profile_for(const direct_sink *d, const char *twin)
{
    for (size_t i = 0; twin && i < d->nprofiles; i++)
        if (strcmp(d->profiles[i].twin, twin) == 0)
            return d->profiles[i].p;
    return NULL;
}

/* Profiles as the server loads them (ot_profiles_open): an unreadable one
 * is skipped there too. */
static int load_profiles(direct_sink *d, ot_error *err)
{
    json_t *docs = ot_store_list_docs(d->store, "ingest_profile", NULL, NULL, 1000000, err);
    if (!docs)
        return err->code ? err->code : OT_EIO;
    d->profiles = calloc(json_array_size(docs) + 1, sizeof *d->profiles);
    int rc = d->profiles ? 0 : ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    size_t i;
    json_t *doc;
    json_array_foreach(docs, i, doc) {
        const char *twin = json_string_value(json_object_get(doc, "twin_id"));
        struct profile *p = d->profiles ? &d->profiles[d->nprofiles] : NULL;
        ot_error e;
        if (!p || !twin || ot_ingest_profile_parse(json_object_get(doc, "profile"), &p->p, &e))
            continue;
        if (!(p->twin = strdup(twin))) {
            ot_ingest_profile_free(p->p);
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
            break;
        }
        d->nprofiles++;
    }
    json_decref(docs);
    return rc;
}

static void direct_close(ot_import_sink *k)
{
    direct_sink *d = (direct_sink *)k;
    ot_registry_free(d->registry);
    ot_store_close(d->store); /* drains: every write is durable */
    for (size_t i = 0; i < d->nprofiles; i++) {
        free(d->profiles[i].twin);
        ot_ingest_profile_free(d->profiles[i].p);
    }
    free(d->profiles);
    ot_tel_json_clear(&d->canon);
    free(d);
}

/* Normalize, check and render one item; 0 or a rejection in res. */
static int take_item(direct_sink *d, const json_t *obj, int64_t now, ot_tel *tel, char **json,
                     ot_import_result *res)
{
    ot_error e;
    ot_error_clear(&e);
    const char *twin = json_string_value(json_object_get(obj, "twin_id"));
    int rc = ot_tel_normalize(obj, profile_for(d, twin), now, "$", tel, &e);
    const json_t *canon = rc ? NULL : ot_tel_json_of(&d->canon, tel);
    if (!rc && !canon)
        rc = ot_error_set(&e, OT_ENOMEM, NULL, "out of memory");
    if (!rc)
        rc = ot_registry_check_telemetry(d->registry, canon, "$", &e);
    ot_buf text;
    ot_buf_init(&text);
    if (!rc && ot_tel_render(tel, &text))
        rc = ot_error_set(&e, OT_ENOMEM, NULL, "out of memory");
    if (!rc)
        *json = ot_buf_steal(&text, NULL);
    ot_buf_free(&text);
    if (rc) {
        res->status = OT_IMPORT_REJECTED;
        ot_import_describe(res->message, sizeof res->message, e.path, e.message);
    } else {
        res->status = OT_IMPORT_ACCEPTED;
        res->message[0] = '\0';
    }
    return rc;
}

static int direct_send(ot_import_sink *k, json_t *const *objs, size_t n, ot_import_result *res,
                       ot_error *err)
{
    direct_sink *d = (direct_sink *)k;
    struct batch b = {0};
    int rc = 0;
    size_t nok = 0, nmetrics = 0;
    b.tels = calloc(n, sizeof *b.tels);
    b.json = calloc(n, sizeof *b.json);
    b.stel = calloc(n, sizeof *b.stel);
    b.stels = calloc(n, sizeof *b.stels);
    if (!b.tels || !b.json || !b.stel || !b.stels) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    int64_t now = ot_now_us();
    for (size_t i = 0; i < n; i++)
        if (take_item(d, objs[i], now, &b.tels[i], &b.json[i], &res[i]) == 0) {
            nok++;
            nmetrics += b.tels[i].nmetrics;
        }
    if (nok == 0)
        goto out;
    b.names = calloc(nmetrics, sizeof *b.names);
    b.values = calloc(nmetrics, sizeof *b.values);
    if (!b.names || !b.values) {
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    size_t s = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (res[i].status != OT_IMPORT_ACCEPTED)
            continue;
        const ot_tel *t = &b.tels[i];
        ot_ingest_store_tel(t, b.json[i], 0, &b.names[m], &b.values[m], &b.stels[s]);
        m += t->nmetrics;
        b.stel[i] = s++;
    }
    /* a direct import is a write like any other: it goes into the audit chain */
    char target[64];
    const char *user = getenv("USER");
    snprintf(target, sizeof target, "%zu telemetry items", nok);
    ot_store_audit audit = {.actor = user && *user ? user : "opstwin-ingest",
                            .action = "ingest --data-dir", .target = target};
    ot_store_write w = {.tels = b.stels, .ntels = nok, .audit = &audit};
    if (ot_store_write_sync(d->store, &w)) {
        rc = ot_error_set(err, w.rc, NULL, "storing a batch failed: %s", w.err.message);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (res[i].status == OT_IMPORT_ACCEPTED && b.stels[b.stel[i]].duplicate)
            res[i].status = OT_IMPORT_DUPLICATE;
out:
    for (size_t i = 0; b.tels && i < n; i++)
        ot_tel_clear(&b.tels[i]);
    for (size_t i = 0; b.json && i < n; i++)
        free(b.json[i]);
    free(b.tels);
    free(b.json);
    free(b.stel);
    free(b.stels);
    free(b.names);
    free(b.values);
    return rc;
}

int ot_import_direct_open(const char *dir, ot_import_sink **out, ot_error *err)
{
    direct_sink *d = calloc(1, sizeof *d);
    int rc;
    if (!d)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    d->base.send = direct_send;
    d->base.close = direct_close;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = ot_error_set(err, OT_EIO, NULL, "cannot create the data folder %s: %s", dir,
                          strerror(errno));
        goto fail;
    }
    /* the server's store: PostgreSQL when DATABASE_URL names one */
    const char *url = getenv("DATABASE_URL");
    ot_store_options so = {.data_dir = dir, .database_url = url ? url : "", .read_connections = 1};
    if ((rc = ot_store_open(&so, &d->store, err)))
        goto fail;
    if ((rc = ot_registry_open(d->store, &d->registry, err)))
        goto fail;
    if ((rc = load_profiles(d, err)))
        goto fail;
    *out = &d->base;
    return 0;
fail:
    direct_close(&d->base);
    return rc;
}
