/* The WAL-coalescing VFS: what goes through it reads back intact, from the
 * same connection and from others, across large transactions, cache spills,
 * rollbacks and checkpoints. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite_walbuf.h"

static char dir[] = "/tmp/ot-walbuf-XXXXXX";
static char path[64];
static sqlite3 *w, *r;

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &e);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, e ? e : "?");
}

static sqlite3_int64 one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    cr_assert_eq(ot_sqlite_walbuf_register(), SQLITE_OK);
    cr_assert_eq(ot_sqlite_walbuf_register(), SQLITE_OK, "registering twice is harmless");
    cr_assert_eq(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 OT_SQLITE_WALBUF_VFS),
                 SQLITE_OK);
    exec_ok(w, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
               " PRAGMA wal_autocheckpoint = 0;"
               " CREATE TABLE t (k INTEGER PRIMARY KEY, grp INTEGER, v BLOB);"
               " CREATE INDEX t_grp ON t (grp, k);");
    cr_assert_eq(sqlite3_open_v2(path, &r, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
}

static void teardown(void)
{
    sqlite3_close(r);
    sqlite3_close(w);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(walbuf, .init = setup, .fini = teardown);

/* 3 MB in one transaction: flushed in chunks below the unix VFS's 128 KiB
 * per-write limit, so nothing is cut short ("database or disk is full"). */
Test(walbuf, a_large_transaction_reads_back_everywhere)
{
    exec_ok(w, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
               " WHERE i < 3000) INSERT INTO t SELECT i, i % 97, randomblob(1000) FROM n;"
               " COMMIT;");
    cr_assert_eq(one_int(w, "SELECT count(*) FROM t"), 3000);
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t"), 3000);
    cr_assert_eq(one_int(r, "SELECT sum(length(v)) FROM t"), 3000000);
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t WHERE grp = 5"), 31);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* A page cache of 20 pages spills mid-transaction: SQLite writes frames,
 * reads them back and rewrites them before the commit. */
Test(walbuf, cache_spills_rewrites_and_rollbacks)
{
    /* the same statements on a control database through the default VFS */
    char cpath[80];
    snprintf(cpath, sizeof cpath, "%s/control.db", dir);
    sqlite3 *c;
    cr_assert_eq(sqlite3_open(cpath, &c), SQLITE_OK);
    exec_ok(c, "CREATE TABLE t (k INTEGER PRIMARY KEY, grp INTEGER, v BLOB);");
    exec_ok(w, "PRAGMA cache_size = 20");
    for (int round = 0; round < 5; round++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE"
                 " i < 400) INSERT INTO t SELECT %d * 1000 + i, i %% 13, randomblob(300) FROM n;"
                 " UPDATE t SET v = zeroblob(200) WHERE grp = %d; COMMIT;",
                 round, round);
        exec_ok(w, sql);
        exec_ok(c, sql);
    }
    exec_ok(w, "BEGIN; DELETE FROM t; INSERT INTO t VALUES (1, 1, randomblob(5000));");
    exec_ok(w, "ROLLBACK");
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t"), 2000);
    sqlite3_int64 want = one_int(c, "SELECT count(*) FROM t WHERE length(v) = 200");
    cr_assert_gt(want, 0);
    cr_assert_eq(one_int(w, "SELECT count(*) FROM t WHERE length(v) = 200"), want);
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t WHERE length(v) = 200"), want);
    sqlite3_close(c);
}

/* Another connection checkpoints what the buffered writer wrote; the WAL
 * restarts from its beginning and later commits are still read right. */
Test(walbuf, checkpoints_and_wal_restarts)
{
    for (int i = 0; i < 50; i++)
        exec_ok(w, "INSERT INTO t (grp, v) VALUES (1, randomblob(2000))");
    int log = -1, done = -1;
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t"), 50);
    cr_assert_eq(sqlite3_wal_checkpoint_v2(r, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done),
                 SQLITE_OK, "%s", sqlite3_errmsg(r));
    cr_assert_eq(log, done, "every frame was backfilled");
    for (int i = 0; i < 50; i++)
        exec_ok(w, "INSERT INTO t (grp, v) VALUES (2, randomblob(2000))");
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t WHERE grp = 2"), 50);
    sqlite3_close(w);
    w = NULL;
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t"), 100);
}

/* --- deferred sync ---------------------------------------------------------
 * A counting VFS installed as the default before the walbuf VFS registers,
 * so walbuf wraps it and every real sync of a WAL file is counted. */
static sqlite3_vfs *count_root, count_vfs;
static const sqlite3_io_methods *count_orig;
static sqlite3_io_methods count_methods;
static int wal_syncs;

static int count_sync(sqlite3_file *f, int flags)
{
    wal_syncs++;
    return count_orig->xSync(f, flags);
}

static int count_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    int rc = count_root->xOpen(count_root, name, f, flags, out);
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && f->pMethods) {
        count_orig = f->pMethods;
        count_methods = *count_orig;
        count_methods.xSync = count_sync;
        f->pMethods = &count_methods;
    }
    return rc;
}

static void setup_counting(void)
{
    count_root = sqlite3_vfs_find(NULL);
    count_vfs = *count_root;
    count_vfs.zName = "counting";
    count_vfs.xOpen = count_open;
    cr_assert_eq(sqlite3_vfs_register(&count_vfs, 1), SQLITE_OK);
    setup();
}

TestSuite(walbuf_defer, .init = setup_counting, .fini = teardown);

/* While deferred, a COMMIT flushes its frames (another connection reads
 * them) but leaves the fsync to the caller's descriptor, which names the
 * WAL file; the first sync of the file and syncs outside the deferred
 * window stay real. */
Test(walbuf_defer, commits_leave_the_fsync_to_the_caller)
{
    cr_assert_eq(ot_walbuf_defer_sync(r, 1), -1, "r does not use the walbuf VFS");
    int fd = ot_walbuf_defer_sync(w, 1);
    cr_assert_geq(fd, 0);
    int before = wal_syncs;
    cr_assert_gt(before, 0, "the table was created with real syncs");
    for (int i = 0; i < 10; i++)
        exec_ok(w, "INSERT INTO t (grp, v) VALUES (3, randomblob(500))");
    cr_assert_eq(wal_syncs, before, "no fsync while deferred");
    cr_assert_eq(one_int(r, "SELECT count(*) FROM t WHERE grp = 3"), 10,
                 "the frames are in the file before the commits are published");
    cr_assert_eq(fdatasync(fd), 0);
    struct stat a, b;
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    cr_assert_eq(fstat(fd, &a), 0);
    cr_assert_eq(stat(wal, &b), 0);
    cr_assert_eq(a.st_ino, b.st_ino, "the descriptor is the WAL's");
    cr_assert_eq(ot_walbuf_defer_sync(w, 0), fd);
    exec_ok(w, "INSERT INTO t (grp, v) VALUES (4, randomblob(500))");
    cr_assert_eq(wal_syncs, before + 1, "a commit outside the window syncs");
}
