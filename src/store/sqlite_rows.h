/* sqlite_rows.h - rows for one table, inserted many per statement.
 *
 * The SQLite writer inserts a telemetry record and its event per ingested
 * item, and an audit record per write request. One INSERT per row pays the
 * statement's fixed cost each time (opening a cursor on the table and on
 * every index, halting, resetting): about a third of what a row costs.
 * ot_sqlite_rows gathers a table's rows and inserts them with multi-row
 * statements - `INSERT OR FAIL INTO t (...) VALUES (...), (...), ...` of
 * 64, 16, 4 or 1 rows, each prepared once, on first use.
 *
 * OR FAIL, not SQLite's default ABORT: a multi-row ABORT statement keeps a
 * statement journal (a copy of every page it touches) to undo its own
 * earlier rows on a failure. The caller does not need that: a failed insert
 * fails the whole transaction, which it rolls back (backend.h).
 *
 * Ownership: the rows copy every value given to them (ot_sqlite_rows_text
 * copies the bytes), so callers may reuse their buffers at once. Rows wait
 * in memory until ot_sqlite_rows_flush, or until 64 are waiting; the caller
 * flushes before COMMIT and before it reads the table on the same
 * connection (or also searches the waiting rows, ot_sqlite_rows_find), and
 * clears them at ROLLBACK. One thread, the connection's owner.
 */
#ifndef OT_STORE_SQLITE_ROWS_H
#define OT_STORE_SQLITE_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

#define OT_SQLITE_ROWS_MAX 64 /* the largest statement, and the most rows kept waiting */
#define OT_SQLITE_ROWS_SIZES 4 /* 64, 16, 4, 1 rows */

struct ot_sqlite_value {
    int type;        /* SQLITE_INTEGER, SQLITE_TEXT or SQLITE_NULL */
    int64_t i;       /* the integer, or the text's offset in text */
    size_t len;      /* the text's length */
};

typedef struct ot_sqlite_rows {
    sqlite3 *db;
    const char *head;   /* "INSERT OR FAIL INTO t (a, b)": static text */
    const char *what;   /* names the rows in errors: "insert telemetry" */
    int ncols;
    sqlite3_stmt *st[OT_SQLITE_ROWS_SIZES];
    struct ot_sqlite_value v[OT_SQLITE_ROWS_MAX * 16];
    int nvalues;        /* values given, whole rows and the row being built */
    ot_buf text;        /* the texts' bytes */
} ot_sqlite_rows;

/* Fill err from db's last error ("database: what: message") and return its
 * code: OT_EUNAVAIL for what may pass (busy, locked, full, I/O), else
 * OT_EIO. The SQLite backend's one mapping. */
int ot_sqlite_error(sqlite3 *db, ot_error *err, const char *what);

/* Set up rows for a table of ncols (<= 16) columns on db; head and what are
 * static strings. Prepares nothing yet. */
void ot_sqlite_rows_init(ot_sqlite_rows *r, sqlite3 *db, const char *head, const char *what,
                         int ncols);
/* Finalize the statements and free the memory (waiting rows are dropped). */
void ot_sqlite_rows_free(ot_sqlite_rows *r);

/* The next column of the row being built. len (size_t)-1: strlen(s). */
void ot_sqlite_rows_int(ot_sqlite_rows *r, int64_t v);
void ot_sqlite_rows_text(ot_sqlite_rows *r, const char *s, size_t len);
void ot_sqlite_rows_null(ot_sqlite_rows *r);
/* The row is complete (ncols values given since the last end). Inserts the
 * waiting rows when OT_SQLITE_ROWS_MAX wait. Returns 0, or an error (then
 * the caller rolls the transaction back). */
int ot_sqlite_rows_end(ot_sqlite_rows *r, ot_error *err);
/* Insert every waiting row. 0, or an error as above. */
int ot_sqlite_rows_flush(ot_sqlite_rows *r, ot_error *err);
/* Drop the waiting rows (the transaction was rolled back). */
void ot_sqlite_rows_clear(ot_sqlite_rows *r);
/* Among the waiting rows, the first whose text column col equals s: 1 and
 * its integer column out_col in *out, or 0. A lookup on the table then
 * reads the inserted rows and this the waiting ones, so it need not flush
 * them (a batch of client event ids keeps its many-row inserts). */
int ot_sqlite_rows_find(const ot_sqlite_rows *r, int col, const char *s, int out_col,
                        int64_t *out);

#endif
