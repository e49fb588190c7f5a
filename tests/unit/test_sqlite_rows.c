/* Multi-row inserts (store/sqlite_rows.h): every row given arrives once,
 * in order, with its values, whatever the count (the statements of 64, 16,
 * 4 and 1 rows mixed); texts are copied; a failing row fails the flush and
 * names the rows; cleared rows are gone. An in-memory database. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite_rows.h"

static sqlite3 *db;
static ot_sqlite_rows rows;

static void exec_ok(const char *sql)
{
    char *e = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &e), SQLITE_OK, "%s: %s", sql, e ? e : "?");
}

static sqlite3_int64 one_int(const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void setup(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec_ok("CREATE TABLE t (k INTEGER PRIMARY KEY, name TEXT UNIQUE, note TEXT)");
    ot_sqlite_rows_init(&rows, db, "INSERT OR FAIL INTO t (k, name, note)", "insert t", 3);
}

static void teardown(void)
{
    ot_sqlite_rows_free(&rows);
    sqlite3_close(db);
}

TestSuite(sqlite_rows, .init = setup, .fini = teardown);

/* Row k: (k, "row-k", NULL for every third row, else a text of k % 50 + 1
 * characters 'a' + k % 26) - built in a reused buffer, so a text that was
 * not copied would read back wrong. */
static int add_row(int k, ot_error *err)
{
    char name[32], note[64];
    snprintf(name, sizeof name, "row-%d", k);
    ot_sqlite_rows_int(&rows, k);
    ot_sqlite_rows_text(&rows, name, (size_t)-1);
    if (k % 3 == 0) {
        ot_sqlite_rows_null(&rows);
    } else {
        int n = k % 50 + 1;
        memset(note, 'a' + k % 26, (size_t)n);
        note[n] = 'X'; /* past the length given: not part of the value */
        ot_sqlite_rows_text(&rows, note, (size_t)n);
    }
    memset(name, '?', sizeof name);
    return ot_sqlite_rows_end(&rows, err);
}

/* Rows 0..n-1, each accepted (none inserted yet while fewer than 64 wait). */
static void add_rows(int n)
{
    ot_error err;
    for (int k = 0; k < n; k++)
        cr_assert_eq(add_row(k, &err), 0, "row %d", k);
}

static void check_rows(int from, int to)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT k, name, note FROM t WHERE k >= ?1 ORDER BY k",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int(st, 1, from);
    for (int k = from; k < to; k++) {
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "row %d is missing", k);
        cr_assert_eq(sqlite3_column_int(st, 0), k);
        char name[32];
        snprintf(name, sizeof name, "row-%d", k);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), name);
        if (k % 3 == 0) {
            cr_assert_eq(sqlite3_column_type(st, 2), SQLITE_NULL, "row %d", k);
        } else {
            const char *note = (const char *)sqlite3_column_text(st, 2);
            cr_assert_eq(strlen(note), (size_t)(k % 50 + 1), "row %d: %s", k, note);
            for (const char *c = note; *c; c++)
                cr_assert_eq(*c, 'a' + k % 26, "row %d: %s", k, note);
        }
    }
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "no row beyond %d", to - 1);
    sqlite3_finalize(st);
}

Test(sqlite_rows, inserts_every_row_once_in_order_whatever_the_count)
{
    /* counts that use each statement size, alone and mixed, and the
     * automatic flush at 64 */
    static const int counts[] = {0, 1, 3, 4, 5, 16, 21, 63, 64, 65, 150, 1000};
    int k = 0;
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        ot_error err;
        int from = k;
        exec_ok("BEGIN");
        for (int i = 0; i < counts[c]; i++)
            cr_assert_eq(add_row(k++, &err), 0, "%s", err.message);
        cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0, "%s", err.message);
        cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0, "a second flush has nothing to do");
        exec_ok("COMMIT");
        check_rows(from, k);
    }
    cr_assert_eq(one_int("SELECT count(*) FROM t"), k);
}

Test(sqlite_rows, waits_for_a_flush_below_64_rows_and_not_beyond)
{
    ot_error err;
    exec_ok("BEGIN");
    add_rows(63);
    cr_assert_eq(one_int("SELECT count(*) FROM t"), 0, "63 rows wait");
    cr_assert_eq(add_row(63, &err), 0);
    cr_assert_eq(one_int("SELECT count(*) FROM t"), 64, "the 64th row inserts them");
    cr_assert_eq(add_row(64, &err), 0);
    cr_assert_eq(one_int("SELECT count(*) FROM t"), 64);
    cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0);
    exec_ok("COMMIT");
    check_rows(0, 65);
}

Test(sqlite_rows, a_failing_row_fails_the_flush_and_names_the_rows)
{
    ot_error err;
    exec_ok("BEGIN");
    add_rows(10);
    /* a duplicate name among the next rows: the UNIQUE constraint fails */
    ot_sqlite_rows_int(&rows, 100);
    ot_sqlite_rows_text(&rows, "row-4", (size_t)-1);
    ot_sqlite_rows_null(&rows);
    cr_assert_eq(ot_sqlite_rows_end(&rows, &err), 0, "nothing is inserted yet");
    ot_error_clear(&err);
    int rc = ot_sqlite_rows_flush(&rows, &err);
    cr_assert_eq(rc, OT_EIO);
    cr_assert_eq(err.code, OT_EIO);
    cr_assert(strstr(err.message, "insert t") && strstr(err.message, "UNIQUE"), "%s",
              err.message);
    exec_ok("ROLLBACK");
    cr_assert_eq(one_int("SELECT count(*) FROM t"), 0);
    /* the failed rows are gone: the next transaction starts clean */
    exec_ok("BEGIN");
    cr_assert_eq(add_row(7, &err), 0);
    cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0, "%s", err.message);
    exec_ok("COMMIT");
    check_rows(7, 8);
}

Test(sqlite_rows, cleared_rows_are_never_inserted)
{
    ot_error err;
    exec_ok("BEGIN");
    add_rows(20);
    ot_sqlite_rows_clear(&rows);
    cr_assert_eq(add_row(30, &err), 0);
    cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0);
    exec_ok("COMMIT");
    check_rows(30, 31);
    cr_assert_eq(one_int("SELECT count(*) FROM t"), 1);
}

Test(sqlite_rows, a_table_that_does_not_exist_is_an_error_not_a_crash)
{
    ot_sqlite_rows bad;
    ot_error err;
    ot_sqlite_rows_init(&bad, db, "INSERT OR FAIL INTO nowhere (a)", "insert nowhere", 1);
    ot_sqlite_rows_int(&bad, 1);
    cr_assert_eq(ot_sqlite_rows_end(&bad, &err), 0);
    cr_assert_eq(ot_sqlite_rows_flush(&bad, &err), OT_EIO);
    cr_assert(strstr(err.message, "no such table"), "%s", err.message);
    ot_sqlite_rows_free(&bad);
}

/* Waiting rows are found by a text column, whole values only; inserted ones
 * are the table's to find. */
Test(sqlite_rows, find_searches_the_waiting_rows)
{
    ot_error err;
    int64_t k = -1;
    exec_ok("BEGIN");
    add_rows(10);
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-7", 0, &k), 1);
    cr_assert_eq(k, 7);
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-0", 0, &k), 1);
    cr_assert_eq(k, 0);
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-9", 0, &k), 1);
    cr_assert_eq(k, 9);
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-70", 0, &k), 0, "not waiting");
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-", 0, &k), 0, "a prefix is not a match");
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-77", 0, &k), 0, "longer is not a match");
    cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0);
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-7", 0, &k), 0, "inserted, no longer waiting");
    cr_assert_eq(add_row(70, &err), 0);
    cr_assert_eq(ot_sqlite_rows_find(&rows, 1, "row-70", 0, &k), 1);
    cr_assert_eq(k, 70);
    cr_assert_eq(ot_sqlite_rows_flush(&rows, &err), 0);
    exec_ok("COMMIT");
}
