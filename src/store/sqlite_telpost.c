/* sqlite_telpost.c - the SQLite backend's telemetry by twin and time (see
 * the header). */
#include "store/sqlite_telpost.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/runsort.h"
#include "store/sqlite_rows.h"
#include "store/twin_lists.h"

/* The migration writes what it has read every this many records. */
#define BUILD_FLUSH_AT 65536

/* A record waiting: its event_id is ids[off .. off + len), its asset_id
 * the alen bytes after it. */
struct tentry {
    int64_t ts, cursor;
    uint32_t off;
    uint16_t len, alen;
};

struct ot_telpost {
    /* per twin, the records (struct tentry) waiting to be written;
     * in_order: they are in (ts, event_id) order */
    ot_twin_lists lists;
    size_t waiting;
    ot_buf ids;  /* the waiting records' event_ids and asset_ids, end to end */
    ot_buf data; /* a row's data */
    struct tentry *tmp; /* ot_runsort's second array */
    size_t tmp_cap;
    sqlite3 *db; /* the statement's connection */
    sqlite3_stmt *ins;
};

ot_telpost *ot_telpost_new(void)
{
    ot_telpost *p = calloc(1, sizeof *p);
    if (p) {
        ot_twin_lists_init(&p->lists, sizeof(struct tentry));
        ot_buf_init(&p->ids);
        ot_buf_init(&p->data);
    }
    return p;
}

void ot_telpost_free(ot_telpost *p)
{
    if (!p)
        return;
    ot_twin_lists_free(&p->lists);
    ot_buf_free(&p->ids);
    ot_buf_free(&p->data);
    free(p->tmp);
    sqlite3_finalize(p->ins);
    free(p);
}

void ot_telpost_clear(ot_telpost *p)
{
    ot_twin_lists_empty(&p->lists);
    ot_buf_reset(&p->ids);
    p->waiting = 0;
}

size_t ot_telpost_waiting(const ot_telpost *p) { return p ? p->waiting : 0; }

/* (ts, event_id) order; ids is the arena. */
static int cmp_entry(const struct tentry *x, const struct tentry *y, const char *ids)
{
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(ids + x->off, ids + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_entry_r(const void *a, const void *b, void *ids)
{
    return cmp_entry(a, b, ids);
}

int ot_telpost_add(ot_telpost *p, const char *twin, const char *asset, int64_t ts,
                   int64_t cursor, const char *event_id)
{
    if (!twin[0])
        return 0;
    size_t len = strlen(event_id), alen = strlen(asset);
    if (len > OT_TELPOST_ID_MAX || alen > OT_TELPOST_ID_MAX)
        return OT_EINVAL;
    ot_twin_list *l;
    struct tentry *e = ot_twin_lists_push(&p->lists, twin, &l);
    if (!e)
        return OT_ENOMEM;
    *e = (struct tentry){.ts = ts, .cursor = cursor, .off = (uint32_t)p->ids.len,
                         .len = (uint16_t)len, .alen = (uint16_t)alen};
    ot_buf_append(&p->ids, event_id, len);
    ot_buf_append(&p->ids, asset, alen);
    if (ot_buf_failed(&p->ids) || p->ids.len > UINT32_MAX) {
        l->n--;
        return OT_ENOMEM;
    }
    if (l->n > 1 && l->in_order && cmp_entry(e - 1, e, p->ids.data) > 0)
        l->in_order = 0;
    p->waiting++;
    return 0;
}

/* Append s[0..len) as the bytes it shares with prev[0..plen) and the rest. */
static void put_shared(ot_buf *b, const char *s, size_t len, const char *prev, size_t plen)
{
    size_t shared = 0, max = len < plen ? len : plen;
    while (shared < max && prev[shared] == s[shared])
        shared++;
    ot_buf_put_varint(b, shared);
    ot_buf_put_varint(b, len - shared);
    ot_buf_append(b, s + shared, len - shared);
}

/* Insert the row of e[0..n) (sorted, within one span) of twin. */
static int insert_row(ot_telpost *p, const char *twin, const struct tentry *e, size_t n,
                      ot_error *err)
{
    ot_buf *b = &p->data;
    ot_buf_reset(b);
    int64_t seq = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = p->ids.data + e[i].off, *prev = i ? p->ids.data + e[i - 1].off : "";
        size_t plen = i ? e[i - 1].len : 0, palen = i ? e[i - 1].alen : 0;
        ot_buf_put_varint(b, (uint64_t)(e[i].ts - (i ? e[i - 1].ts : e[0].ts)));
        put_shared(b, id, e[i].len, prev, plen);
        put_shared(b, id + e[i].len, e[i].alen, prev + plen, palen);
        if (e[i].cursor > seq)
            seq = e[i].cursor;
    }
    if (ot_buf_failed(b))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    sqlite3_bind_text(p->ins, 1, twin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p->ins, 2, e[0].ts);
    sqlite3_bind_int64(p->ins, 3, seq);
    sqlite3_bind_int64(p->ins, 4, e[n - 1].ts);
    sqlite3_bind_blob(p->ins, 5, b->data, (int)b->len, SQLITE_STATIC);
    int rc = sqlite3_step(p->ins);
    sqlite3_reset(p->ins);
    return rc == SQLITE_DONE ? 0 : ot_sqlite_error(p->db, err, "write the telemetry by twin");
}

/* The list's records, sorted, as rows of at most OT_TELPOST_ROW_MAX
 * records and OT_TELPOST_SPAN_US. */
static int write_list(ot_telpost *p, ot_twin_list *l, ot_error *err)
{
    struct tentry *e = l->v;
    if (!l->in_order && p->tmp_cap < l->n) {
        struct tentry *t = realloc(p->tmp, l->n * sizeof *t);
        if (!t)
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        p->tmp = t;
        p->tmp_cap = l->n;
    }
    /* a list's records come as runs (runsort.h): under batch load qsort
     * was 5% of the writer's time */
    if (!l->in_order)
        ot_runsort(e, l->n, sizeof *e, cmp_entry_r, p->ids.data, p->tmp);
    int rc = 0;
    for (size_t i = 0, j; !rc && i < l->n; i = j) {
        for (j = i + 1; j < l->n && j - i < OT_TELPOST_ROW_MAX &&
                        (uint64_t)e[j].ts - (uint64_t)e[i].ts <= OT_TELPOST_SPAN_US;
             j++)
            ;
        rc = insert_row(p, l->twin, e + i, j - i, err);
    }
    return rc;
}

int ot_telpost_flush(ot_telpost *p, sqlite3 *db, ot_error *err)
{
    if (p->db != db) { /* the statement belongs to one connection */
        sqlite3_finalize(p->ins);
        p->ins = NULL;
        p->db = db;
    }
    if (!p->ins && sqlite3_prepare_v3(db,
                                      "INSERT INTO telemetry_postings (twin_id, tmin, seq, tmax,"
                                      " data) VALUES (?1, ?2, ?3, ?4, ?5)",
                                      -1, SQLITE_PREPARE_PERSISTENT, &p->ins, NULL) != SQLITE_OK)
        return ot_sqlite_error(db, err, "prepare");
    ot_twin_lists_sort(&p->lists);
    int rc = 0;
    for (size_t i = 0; !rc && i < p->lists.nall; i++)
        if (p->lists.all[i]->n)
            rc = write_list(p, p->lists.all[i], err);
    ot_telpost_clear(p);
    return rc;
}

int ot_telpost_build(sqlite3 *db, ot_error *err)
{
    sqlite3_stmt *sel = NULL;
    if (sqlite3_prepare_v2(db, "SELECT twin_id, asset_id, ts, cursor, event_id FROM telemetry"
                               " WHERE cursor"
                               " <= (SELECT value FROM meta WHERE key = 'derived_cursor')",
                           -1, &sel, NULL) != SQLITE_OK)
        return ot_sqlite_error(db, err, "prepare");
    ot_telpost *p = ot_telpost_new();
    int rc = p ? 0 : ot_error_set(err, OT_ENOMEM, NULL, "out of memory"), step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        rc = ot_telpost_add(p, (const char *)sqlite3_column_text(sel, 0),
                            (const char *)sqlite3_column_text(sel, 1), sqlite3_column_int64(sel, 2),
                            sqlite3_column_int64(sel, 3), (const char *)sqlite3_column_text(sel, 4));
        if (rc)
            rc = ot_error_set(err, rc, NULL, "cannot note a telemetry record by twin");
        else if (p->waiting >= BUILD_FLUSH_AT)
            rc = ot_telpost_flush(p, db, err);
    }
    if (!rc && step != SQLITE_DONE)
        rc = ot_sqlite_error(db, err, "read telemetry by twin");
    if (!rc)
        rc = ot_telpost_flush(p, db, err);
    ot_telpost_free(p);
    sqlite3_finalize(sel);
    return rc;
}

/* --- reading --------------------------------------------------------------- */

/* A row open in a scan: its data (copied) and the record it is at. */
struct orow {
    unsigned char *data;
    const unsigned char *at, *end;
    int64_t ts, tmax;
    size_t len, alen;
    char id[OT_TELPOST_ID_MAX + 1], asset[OT_TELPOST_ID_MAX + 1];
};

/* A string coded by put_shared into s (of *len bytes before, and after):
 * 0, or -1 when it does not decode. */
static int get_shared(struct orow *r, char *s, size_t *len)
{
    uint64_t shared, more;
    if (ot_varint_get(&r->at, r->end, &shared) || ot_varint_get(&r->at, r->end, &more) ||
        shared > *len || more > OT_TELPOST_ID_MAX - shared || more > (uint64_t)(r->end - r->at))
        return -1;
    memcpy(s + shared, r->at, more);
    r->at += more;
    *len = shared + more;
    s[*len] = '\0';
    return 0;
}

/* The row's next record: 1, 0 at its end, -1 when the data is corrupt. */
static int orow_next(struct orow *r)
{
    if (r->at == r->end)
        return 0;
    uint64_t dts;
    if (ot_varint_get(&r->at, r->end, &dts) || dts > (uint64_t)(r->tmax - r->ts) ||
        get_shared(r, r->id, &r->len) || get_shared(r, r->asset, &r->alen))
        return -1;
    r->ts += (int64_t)dts;
    return 1;
}

static int orow_less(const struct orow *x, const struct orow *y)
{
    return x->ts != y->ts ? x->ts < y->ts : strcmp(x->id, y->id) < 0;
}

/* A binary heap of open rows by their current record. */
struct heap {
    struct orow **v;
    size_t n, cap;
};

static void sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < h->n && orow_less(h->v[l], h->v[m]))
            m = l;
        if (l + 1 < h->n && orow_less(h->v[l + 1], h->v[m]))
            m = l + 1;
        if (m == i)
            return;
        struct orow *t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

static int heap_push(struct heap *h, struct orow *r)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct orow **v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    h->v[i] = r;
    while (i && orow_less(h->v[i], h->v[(i - 1) / 2])) {
        struct orow *t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static void heap_pop(struct heap *h)
{
    struct orow *r = h->v[0];
    free(r->data);
    free(r);
    h->v[0] = h->v[--h->n];
    sift_down(h, 0);
}

static int corrupt(ot_error *err)
{
    return ot_error_set(err, OT_EINTERNAL, NULL, "the stored telemetry by twin is corrupt");
}

/* Open the row at rows' current step: its first record at or after start
 * on the heap, if it has one. */
static int open_row(struct heap *h, sqlite3_stmt *rows, int64_t start, ot_error *err)
{
    int64_t tmin = sqlite3_column_int64(rows, 0), tmax = sqlite3_column_int64(rows, 1);
    const void *blob = sqlite3_column_blob(rows, 2);
    size_t n = (size_t)sqlite3_column_bytes(rows, 2);
    if (tmin > tmax || (uint64_t)tmax - (uint64_t)tmin > OT_TELPOST_SPAN_US || !n)
        return corrupt(err);
    if (tmax < start)
        return 0;
    struct orow *r = calloc(1, sizeof *r);
    if (!r || !(r->data = malloc(n))) {
        free(r);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    memcpy(r->data, blob, n);
    r->at = r->data;
    r->end = r->data + n;
    r->ts = tmin;
    r->tmax = tmax;
    int more; /* r->len and r->alen are 0: the first record shares nothing */
    while ((more = orow_next(r)) == 1 && r->ts < start)
        ;
    if (more == 1 && !heap_push(h, r))
        return 0;
    free(r->data);
    free(r);
    return more == 1 ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory")
                     : more ? corrupt(err) : 0;
}

int ot_telpost_scan(sqlite3_stmt *rows, int64_t start, int64_t end, ot_telpost_fn fn, void *ctx,
                    ot_error *err)
{
    struct heap h = {0};
    int rc = 0, step = sqlite3_step(rows);
    for (;;) {
        /* a row not open yet may hold the next record if it starts at or
         * before the smallest record open */
        while (!rc && step == SQLITE_ROW &&
               (!h.n || sqlite3_column_int64(rows, 0) <= h.v[0]->ts)) {
            rc = open_row(&h, rows, start, err);
            step = sqlite3_step(rows);
        }
        if (rc)
            break;
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            rc = ot_sqlite_error(sqlite3_db_handle(rows), err, "read telemetry by twin");
            break;
        }
        if (!h.n || h.v[0]->ts >= end)
            break;
        struct orow *r = h.v[0];
        if ((rc = fn(ctx, r->ts, r->id, r->asset)) != 0) {
            rc = rc == 1 ? 0 : rc;
            break;
        }
        int more = orow_next(r);
        if (more < 0) {
            rc = corrupt(err);
            break;
        }
        if (more)
            sift_down(&h, 0);
        else
            heap_pop(&h);
    }
    while (h.n)
        heap_pop(&h);
    free(h.v);
    return rc;
}
