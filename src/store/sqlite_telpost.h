/* sqlite_telpost.h - the SQLite backend's telemetry by twin and time, as
 * postings.
 *
 * An SQL index on telemetry (twin_id, ts) costs an entry per record, put in
 * one place per twin in every commit: ~0.8-1.0 us of the writer's ~4 per
 * batched event (bench/RESULTS.md, session 13). Instead the writer keeps,
 * per twin, the (ts, event_id, asset_id) of the records it stored since
 * the derived data was last written, and writes them with it
 * (store_sqlite.c: the derived data and meta.derived_cursor), sorted, a row
 * per twin and span:
 *
 *   telemetry_postings(twin_id, tmin, seq, tmax, data)
 *     PK (twin_id, tmin, seq) WITHOUT ROWID
 *     data: the records' (ts, event_id, asset_id), ascending by ts, then
 *       event_id; each as varint (ts - the ts before it, tmin for the
 *       first), then each string as varint (bytes shared with the one of
 *       the record before), varint (bytes that follow), those bytes;
 *     tmin, tmax: the first and last ts; tmax - tmin <= OT_TELPOST_SPAN_US;
 *     seq: the highest cursor of the row's records (so keys are unique).
 *
 * Because no row spans more than OT_TELPOST_SPAN_US, the rows that hold a
 * ts >= start all have tmin >= start - OT_TELPOST_SPAN_US: a read in time
 * order walks the twin's rows from there by tmin and merges them (rows of
 * different flushes may overlap in time when records come out of order).
 * Rows never change once written; retention deletes those that end before
 * its cutoff, and a read skips records retention deleted from rows that
 * straddle it. A read filters by asset on the rows, and reads the records
 * it keeps from the telemetry table by event_id.
 *
 * Ownership and threads: an ot_telpost belongs to the writer thread and
 * the connection passed to ot_telpost_flush (its statement is prepared on
 * it once, finalized by ot_telpost_free). ot_telpost_scan runs on any
 * connection, on a statement the caller owns.
 */
#ifndef OT_STORE_SQLITE_TELPOST_H
#define OT_STORE_SQLITE_TELPOST_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The most time one row covers: a read starts at most this far before its
 * start (at row 03's 12,500 records/s per twin and a write every 200 ms,
 * ~5 rows). */
#define OT_TELPOST_SPAN_US 1000000LL
/* The most records in one row. */
#define OT_TELPOST_ROW_MAX 4096
/* The longest event_id or asset_id kept (telemetry ids are at most 128
 * bytes). */
#define OT_TELPOST_ID_MAX 255

typedef struct ot_telpost ot_telpost;

/* NULL when out of memory. */
ot_telpost *ot_telpost_new(void);
void ot_telpost_free(ot_telpost *p);

/* Note a record the writer stored. 0, OT_ENOMEM, or OT_EINVAL for an
 * event_id or asset_id longer than OT_TELPOST_ID_MAX. */
int ot_telpost_add(ot_telpost *p, const char *twin, const char *asset, int64_t ts,
                   int64_t cursor, const char *event_id);

/* Records waiting to be written. */
size_t ot_telpost_waiting(const ot_telpost *p);

/* Forget what waits (the transaction that held it rolled back; the caller
 * notes it again from the stored telemetry). */
void ot_telpost_clear(ot_telpost *p);

/* Write what waits, in db's open transaction, and forget it. */
int ot_telpost_flush(ot_telpost *p, sqlite3 *db, ot_error *err);

/* Migration: rows for every record of db's telemetry up to
 * meta.derived_cursor (what lies beyond is noted again at open). */
int ot_telpost_build(sqlite3 *db, ot_error *err);

/* Read a twin's records with start <= ts < end in (ts, event_id) order.
 * rows: a statement that yields (tmin, tmax, data) of the twin's rows with
 * start - OT_TELPOST_SPAN_US <= tmin < end, ordered by tmin (the caller
 * binds, and resets it after). fn gets each record; it returns 0 to go on,
 * 1 to stop, or an error code (< 0, err set) that the scan returns.
 * Returns 0, fn's code, OT_ENOMEM, or OT_EINTERNAL for corrupt data. */
typedef int (*ot_telpost_fn)(void *ctx, int64_t ts, const char *event_id, const char *asset_id);
int ot_telpost_scan(sqlite3_stmt *rows, int64_t start, int64_t end, ot_telpost_fn fn, void *ctx,
                    ot_error *err);

#endif
