/* sqlite_postings.c - the SQLite backend's events by twin (see the header). */
#include "store/sqlite_postings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/sqlite_rows.h"
#include "store/twin_lists.h"

struct ot_postings {
    ot_twin_lists lists; /* per twin, the cursors (int64_t) waiting to be written */
    size_t waiting;
    int64_t hi; /* the last cursor noted, 0: none */
    ot_buf data;
    sqlite3 *db; /* the statements' connection */
    sqlite3_stmt *ins, *mark, *replay;
};

ot_postings *ot_postings_new(void)
{
    ot_postings *p = calloc(1, sizeof *p);
    if (p) {
        ot_twin_lists_init(&p->lists, sizeof(int64_t));
        ot_buf_init(&p->data);
    }
    return p;
}

void ot_postings_free(ot_postings *p)
{
    if (!p)
        return;
    ot_twin_lists_free(&p->lists);
    ot_buf_free(&p->data);
    sqlite3_finalize(p->ins);
    sqlite3_finalize(p->mark);
    sqlite3_finalize(p->replay);
    free(p);
}

int ot_postings_add(ot_postings *p, const char *twin, int64_t cursor)
{
    p->hi = cursor;
    if (!twin[0])
        return 0;
    int64_t *c = ot_twin_lists_push(&p->lists, twin, NULL);
    if (!c)
        return OT_ENOMEM;
    *c = cursor;
    p->waiting++;
    return 0;
}

size_t ot_postings_waiting(const ot_postings *p) { return p ? p->waiting : 0; }

/* Forget what waits (and the lists too, once there are many twins). */
static void empty(ot_postings *p)
{
    ot_twin_lists_empty(&p->lists);
    p->waiting = 0;
}

static int prepare(ot_postings *p, sqlite3 *db, sqlite3_stmt **st, const char *sql,
                   ot_error *err)
{
    if (p->db != db) { /* statements belong to one connection */
        sqlite3_finalize(p->ins);
        sqlite3_finalize(p->mark);
        sqlite3_finalize(p->replay);
        p->ins = p->mark = p->replay = NULL;
        p->db = db;
    }
    if (!*st && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return ot_sqlite_error(db, err, "prepare");
    return 0;
}

/* Insert one row: cursors c[0..n) of twin (ascending). */
static int insert_row(sqlite3 *db, sqlite3_stmt *ins, ot_buf *b, const char *twin,
                      const int64_t *c, size_t n, ot_error *err)
{
    ot_buf_reset(b);
    for (size_t i = 0; i < n; i++)
        ot_buf_put_varint(b, (uint64_t)(i ? c[i] - c[i - 1] : c[0]));
    if (ot_buf_failed(b))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    sqlite3_bind_text(ins, 1, twin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, c[n - 1]);
    sqlite3_bind_blob(ins, 3, b->data, (int)b->len, SQLITE_STATIC);
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    return rc == SQLITE_DONE ? 0 : ot_sqlite_error(db, err, "write the events by twin");
}

static const char ins_sql[] = "INSERT INTO twin_postings (twin_id, last, data) VALUES (?1, ?2, ?3)";

int ot_postings_flush(ot_postings *p, sqlite3 *db, ot_error *err)
{
    int rc = prepare(p, db, &p->ins, ins_sql, err);
    if (!rc)
        rc = prepare(p, db, &p->mark, "UPDATE meta SET value = ?1 WHERE key = 'posted_cursor'",
                     err);
    if (rc)
        return rc;
    ot_twin_lists_sort(&p->lists);
    for (size_t i = 0; !rc && i < p->lists.nall; i++) {
        ot_twin_list *l = p->lists.all[i];
        if (l->n)
            rc = insert_row(db, p->ins, &p->data, l->twin, l->v, l->n, err);
    }
    if (!rc && p->hi) {
        sqlite3_bind_int64(p->mark, 1, p->hi);
        int step = sqlite3_step(p->mark);
        sqlite3_reset(p->mark);
        if (step != SQLITE_DONE)
            rc = ot_sqlite_error(db, err, "advance posted_cursor");
    }
    empty(p);
    return rc;
}

int ot_postings_rebuild(ot_postings *p, sqlite3 *db, long *n, ot_error *err)
{
    empty(p);
    p->hi = 0;
    *n = 0;
    int rc = prepare(p, db, &p->replay,
                     "SELECT cursor, twin_id FROM events WHERE cursor >"
                     " (SELECT value FROM meta WHERE key = 'posted_cursor') ORDER BY cursor",
                     err);
    if (rc)
        return rc;
    int step;
    while (!rc && (step = sqlite3_step(p->replay)) == SQLITE_ROW) {
        rc = ot_postings_add(p, (const char *)sqlite3_column_text(p->replay, 1),
                             sqlite3_column_int64(p->replay, 0));
        if (rc)
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        (*n)++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = ot_sqlite_error(db, err, "read the events beyond posted_cursor");
    sqlite3_reset(p->replay);
    return rc;
}

int ot_postings_build(sqlite3 *db, ot_error *err)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    if (sqlite3_prepare_v2(db, "SELECT twin_id, cursor FROM events WHERE twin_id <> ''"
                               " ORDER BY twin_id, cursor", -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins_sql, -1, &ins, NULL) != SQLITE_OK) {
        int rc = ot_sqlite_error(db, err, "prepare");
        sqlite3_finalize(sel);
        return rc;
    }
    int64_t *c = malloc(OT_POSTINGS_ROW_MAX * sizeof *c);
    char twin[256] = "";
    size_t n = 0;
    ot_buf b;
    ot_buf_init(&b);
    int rc = c ? 0 : ot_error_set(err, OT_ENOMEM, NULL, "out of memory"), step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(sel, 0);
        if (n && (n == OT_POSTINGS_ROW_MAX || strcmp(t, twin))) {
            rc = insert_row(db, ins, &b, twin, c, n, err);
            n = 0;
        }
        snprintf(twin, sizeof twin, "%s", t);
        c[n++] = sqlite3_column_int64(sel, 1);
    }
    if (!rc && step != SQLITE_DONE)
        rc = ot_sqlite_error(db, err, "read events by twin");
    if (!rc && n)
        rc = insert_row(db, ins, &b, twin, c, n, err);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    ot_buf_free(&b);
    free(c);
    return rc;
}

void ot_postings_iter_init(ot_postings_iter *it, const void *data, size_t len)
{
    it->at = data;
    it->end = it->at + len;
    it->cursor = 0;
}

int ot_postings_next(ot_postings_iter *it, int64_t *cursor)
{
    if (it->at == it->end)
        return 0;
    uint64_t v;
    if (ot_varint_get(&it->at, it->end, &v))
        return -1;
    if (v == 0 || v > (uint64_t)(INT64_MAX - it->cursor))
        return -1; /* cursors ascend: every step is at least 1 */
    it->cursor += (int64_t)v;
    *cursor = it->cursor;
    return 1;
}
