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
 */
#ifndef OT_STORE_SQLITE_WALBUF_H
#define OT_STORE_SQLITE_WALBUF_H

#define OT_SQLITE_WALBUF_VFS "opstwin-walbuf"

/* Register the VFS (not as the default). Idempotent and thread-safe.
 * Returns SQLITE_OK or an SQLite error code. */
int ot_sqlite_walbuf_register(void);

#endif
