/* sqlite_rows.c - rows for one table, inserted many per statement
 * (sqlite_rows.h). */
#include "store/sqlite_rows.h"

#include <sqlite3.h>
#include <string.h>

static const int sizes[OT_SQLITE_ROWS_SIZES] = {64, 16, 4, 1};

int ot_sqlite_error(sqlite3 *db, ot_error *err, const char *what)
{
    int code = sqlite3_errcode(db);
    int otc = (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_FULL ||
               code == SQLITE_IOERR || code == SQLITE_CANTOPEN)
                  ? OT_EUNAVAIL
                  : OT_EIO;
    return ot_error_set(err, otc, NULL, "database: %s: %s", what, sqlite3_errmsg(db));
}

void ot_sqlite_rows_init(ot_sqlite_rows *r, sqlite3 *db, const char *head, const char *what,
                         int ncols)
{
    memset(r, 0, sizeof *r);
    r->db = db;
    r->head = head;
    r->what = what;
    r->ncols = ncols;
    ot_buf_init(&r->text);
}

void ot_sqlite_rows_free(ot_sqlite_rows *r)
{
    for (int i = 0; i < OT_SQLITE_ROWS_SIZES; i++)
        sqlite3_finalize(r->st[i]);
    ot_buf_free(&r->text);
    memset(r, 0, sizeof *r);
}

/* The next value's slot; past the array (a caller giving more values than
 * its rows hold) the rows fail at the next flush. */
static struct ot_sqlite_value *next_value(ot_sqlite_rows *r)
{
    static _Thread_local struct ot_sqlite_value spill;
    if (r->nvalues >= (int)(sizeof r->v / sizeof r->v[0])) {
        r->text.failed = 1;
        return &spill;
    }
    return &r->v[r->nvalues++];
}

void ot_sqlite_rows_int(ot_sqlite_rows *r, int64_t v)
{
    struct ot_sqlite_value *x = next_value(r);
    x->type = SQLITE_INTEGER;
    x->i = v;
}

void ot_sqlite_rows_text(ot_sqlite_rows *r, const char *s, size_t len)
{
    if (len == (size_t)-1)
        len = strlen(s);
    struct ot_sqlite_value *x = next_value(r);
    x->type = SQLITE_TEXT;
    x->i = (int64_t)r->text.len;
    x->len = len;
    ot_buf_append(&r->text, s, len);
}

void ot_sqlite_rows_null(ot_sqlite_rows *r)
{
    next_value(r)->type = SQLITE_NULL;
}

/* The statement inserting sizes[k] rows, prepared on first use. */
static int statement(ot_sqlite_rows *r, int k, sqlite3_stmt **st, ot_error *err)
{
    int rc = 0;
    if ((*st = r->st[k]))
        return 0;
    ot_buf sql;
    ot_buf_init(&sql);
    ot_buf_puts(&sql, r->head);
    ot_buf_puts(&sql, " VALUES ");
    for (int row = 0; row < sizes[k]; row++) {
        ot_buf_puts(&sql, row ? ",(" : "(");
        for (int c = 0; c < r->ncols; c++)
            ot_buf_puts(&sql, c ? ",?" : "?");
        ot_buf_puts(&sql, ")");
    }
    if (ot_buf_failed(&sql))
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    else if (sqlite3_prepare_v3(r->db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT,
                                &r->st[k], NULL) != SQLITE_OK)
        rc = ot_sqlite_error(r->db, err, "prepare");
    ot_buf_free(&sql);
    *st = r->st[k];
    return rc;
}

int ot_sqlite_rows_flush(ot_sqlite_rows *r, ot_error *err)
{
    if (ot_buf_failed(&r->text)) {
        ot_sqlite_rows_clear(r);
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    int rows = r->nvalues / r->ncols, at = 0, k = 0, rc = 0;
    while (!rc && rows > 0) {
        while (sizes[k] > rows)
            k++; /* sizes[] ends with 1 */
        sqlite3_stmt *st;
        if ((rc = statement(r, k, &st, err)))
            break;
        int n = sizes[k] * r->ncols;
        for (int i = 0; i < n; i++) {
            const struct ot_sqlite_value *x = &r->v[at + i];
            if (x->type == SQLITE_INTEGER)
                sqlite3_bind_int64(st, i + 1, x->i);
            else if (x->type == SQLITE_TEXT)
                sqlite3_bind_text(st, i + 1, r->text.data + x->i, (int)x->len, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, i + 1);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = ot_sqlite_error(r->db, err, r->what);
        sqlite3_reset(st);
        at += n;
        rows -= sizes[k];
    }
    ot_sqlite_rows_clear(r);
    return rc;
}

int ot_sqlite_rows_end(ot_sqlite_rows *r, ot_error *err)
{
    return r->nvalues >= OT_SQLITE_ROWS_MAX * r->ncols ? ot_sqlite_rows_flush(r, err) : 0;
}

void ot_sqlite_rows_clear(ot_sqlite_rows *r)
{
    r->nvalues = 0;
    ot_buf_reset(&r->text);
    r->text.failed = 0;
}

int ot_sqlite_rows_find(const ot_sqlite_rows *r, int col, const char *s, int out_col,
                        int64_t *out)
{
    size_t len = strlen(s);
    for (int at = 0; at + r->ncols <= r->nvalues; at += r->ncols) {
        const struct ot_sqlite_value *x = &r->v[at + col], *o = &r->v[at + out_col];
        if (x->type == SQLITE_TEXT && x->len == len && o->type == SQLITE_INTEGER &&
            memcmp(r->text.data + x->i, s, len) == 0) {
            *out = o->i;
            return 1;
        }
    }
    return 0;
}
