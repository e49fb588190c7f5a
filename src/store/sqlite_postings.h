/* sqlite_postings.h - the SQLite backend's events by twin, as postings.
 *
 * An SQL index on events (twin_id, cursor) costs an entry per event, put in
 * one place per twin in every commit: ~1 us of the writer's ~4 per batched
 * event, and a leaf page per twin in every single-event commit
 * (bench/RESULTS.md, sessions 13 and 14). Instead the writer keeps, per
 * twin, the cursors of the events it wrote since its last flush, and writes
 * them in bulk, one row per twin:
 *
 *   twin_postings(twin_id, last, data) PK (twin_id, last) WITHOUT ROWID
 *     data: the twin's cursors, ascending: the first as a varint, then
 *     each as its distance from the one before (varint); last: the last.
 *   meta 'posted_cursor': every event with a twin up to this cursor is in
 *     a row.
 *
 * A read by twin (store_sqlite_read.c) takes the rows beyond its cursor up to
 * posted_cursor, and the events beyond posted_cursor from the log itself:
 * at most OT_POSTINGS_FLUSH_AT events and a group commit's. Rows never
 * change once written; retention deletes those that end before the oldest
 * event. Events without a twin ("") are in no row.
 *
 * Ownership and threads: an ot_postings belongs to the writer thread and
 * its connection (the one passed to flush and rebuild: statements are
 * prepared on it once, finalized by ot_postings_free).
 */
#ifndef OT_STORE_SQLITE_POSTINGS_H
#define OT_STORE_SQLITE_POSTINGS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The commit that finds this many cursors waiting writes them (with 16
 * twins, rows of ~64: bench/instr.sh counts the same instructions per
 * batched event as with 4,096, and reads by twin scan a shorter tail). */
#define OT_POSTINGS_FLUSH_AT 1024
/* The migration writes rows of at most this many cursors. */
#define OT_POSTINGS_ROW_MAX 4096

typedef struct ot_postings ot_postings;

/* NULL when out of memory. */
ot_postings *ot_postings_new(void);
void ot_postings_free(ot_postings *p);

/* Note an event the writer stored (cursors ascending). 0 or OT_ENOMEM. */
int ot_postings_add(ot_postings *p, const char *twin, int64_t cursor);

/* Cursors waiting to be written. */
size_t ot_postings_waiting(const ot_postings *p);

/* Write the waiting cursors (a row per twin, in twin order) and
 * posted_cursor, in db's open transaction, and forget them: if that
 * transaction fails, ot_postings_rebuild puts back what it held. */
int ot_postings_flush(ot_postings *p, sqlite3 *db, ot_error *err);

/* Forget what waits, then note every event beyond posted_cursor (at open,
 * and after a rolled-back transaction). *n: events noted. In db's open
 * transaction. */
int ot_postings_rebuild(ot_postings *p, sqlite3 *db, long *n, ot_error *err);

/* Migration: rows for every event of db with a twin, from the index
 * events (twin_id, cursor), and posted_cursor at the last event. */
int ot_postings_build(sqlite3 *db, ot_error *err);

/* Reading a row's data. */
typedef struct {
    const unsigned char *at, *end;
    int64_t cursor;
} ot_postings_iter;

void ot_postings_iter_init(ot_postings_iter *it, const void *data, size_t len);

/* The next cursor: 1, 0 at the end, -1 when the data is corrupt. */
int ot_postings_next(ot_postings_iter *it, int64_t *cursor);

#endif
