/* sqlite_retention.h - the SQLite backend's retention: a bounded pass at a
 * time, reading only what it drops.
 *
 * `DELETE FROM telemetry WHERE ts < cutoff` reads every record first (the
 * table's key is event_id), and the same for the tables keyed by twin or
 * series: the whole database, in the writer's transaction, once a minute.
 * A pass here goes by the keys the store has:
 *
 *  - telemetry: per twin (twins found by seeks on telemetry_postings' key),
 *    the twin's postings rows with tmin < cutoff merged in (ts, event_id)
 *    order (sqlite_telpost.h) give the records with ts < cutoff; the pass
 *    deletes them by event_id, in event_id order (the table's: a leaf is
 *    written once, where twin after twin in time order wrote each leaf as
 *    many times as there are twins), then the rows that end before where
 *    it got to in each twin.
 *  - events: a prefix of the log, so cursors stay contiguous: those before
 *    the first event stamped at or after the cutoff, and never the newest
 *    (the store takes its next cursor from it at open).
 *  - point_blocks and rollup_1m: for each twin a pass goes through, its
 *    series' minutes before the minute where the pass got to in the twin
 *    (as much as the records it took), and every series' minutes before
 *    the cutoff's by the pass that ends a round (below), which then finds
 *    little left.
 *  - twin_postings: per twin, the rows that end before the oldest event,
 *    by the pass that ends a round.
 *
 * A pass deletes at most `max` telemetry records and `max` events, so it
 * holds the writer for a bounded time; *more is 1 when it stopped short
 * (the store then runs the next pass soon), else 0. Passes that stop short
 * make a round: *at is where the last one stopped (a twin, and the
 * (ts, event_id) up to which its records are gone), and the next goes on
 * from there. A pass that started over would visit again the records it
 * deleted from rows that straddle its stopping point (those rows stay), and
 * could spend its budget on them. A zeroed ot_retention_at starts a round.
 *
 * Contract: call inside the caller's open write transaction on db, after
 * the derived data waiting in memory is written (or it would bring rows
 * back); keep *at only if the transaction commits (the caller passes a
 * copy). Statements are prepared per pass and finalized before it returns
 * (a pass runs at most every 10 ms: store_writer.c). Returns 0 or an error code
 * (err set); on error the caller rolls back.
 */
#ifndef OT_STORE_SQLITE_RETENTION_H
#define OT_STORE_SQLITE_RETENTION_H

#include <sqlite3.h>
#include <stdint.h>

#include "core/error.h"
#include "store/sqlite_telpost.h"

typedef struct ot_retention_at {
    int mid;                             /* 0: a round starts at the first twin */
    char twin[OT_TELPOST_ID_MAX + 1];    /* the twin the last pass stopped in */
    int64_t ts;                          /* its records up to (ts, id) are gone */
    char id[OT_TELPOST_ID_MAX + 1];
} ot_retention_at;

int ot_sqlite_retention(sqlite3 *db, int64_t cutoff_us, long max, ot_retention_at *at, int *more,
                        ot_error *err);

#endif
