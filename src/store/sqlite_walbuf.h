/* sqlite_walbuf.h - a SQLite VFS that coalesces the writer's WAL writes.
 *
 * SQLite appends each WAL frame with two pwrite calls (a 24-byte header,
 * then the page), so a commit that dirties 100 pages costs 200 system calls
 * before its fsync. The VFS registered here ("opstwin-walbuf") wraps the
 * default VFS: for WAL files it keeps contiguous writes in a buffer and gives
 * them to the kernel in one write when SQLite syncs, reads, truncates or
 * asks the file's size, when the file is closed, or when the buffer is full
 * (16 MiB). Every other file goes straight to the default VFS.
 *
 * Contract: open only connections with synchronous=FULL (or EXTRA) through
 * it. Then the WAL is synced - so the buffer is flushed - before a commit is
 * published in the WAL index, and no other connection can see a frame that
 * is still in the buffer. A failed flush fails the sync, so the transaction
 * fails and nothing is acknowledged. The store's writer connection is the
 * one user.
 *
 * Deferred sync (ot_walbuf_defer_sync): while on, SQLite's sync of the WAL
 * at COMMIT flushes the buffer (so the frames are in the file before the
 * commit is published in the WAL index) but does not fsync; the caller
 * fdatasyncs the returned descriptor before it tells anyone the commit is
 * durable. That lets the store's writer run the next transaction while the
 * previous one is being synced. Every other sync (checkpoints) stays real,
 * so no checkpoint ever copies an unsynced frame into the database, and the
 * first sync of a WAL file is always real (the default VFS then also syncs
 * its folder).
 */
#ifndef OT_STORE_SQLITE_WALBUF_H
#define OT_STORE_SQLITE_WALBUF_H

#define OT_SQLITE_WALBUF_VFS "opstwin-walbuf"

/* Register the VFS (not as the default). Idempotent and thread-safe.
 * Returns SQLITE_OK or an SQLite error code. */
int ot_sqlite_walbuf_register(void);

typedef struct sqlite3 sqlite3;

/* Turn deferred sync on (1) or off (0) for db's WAL. Returns a descriptor
 * on the WAL to fdatasync (valid while db is open), or -1 when db's WAL is
 * not open through this VFS (then every sync stays real). Call it on the
 * thread that uses db, between transactions or right around COMMIT. */
int ot_walbuf_defer_sync(sqlite3 *db, int on);

#endif
