/* ring.h - the most recent committed events, in memory.
 *
 * The store's writer appends each committed group (ot_ring_append, one
 * thread); /diff and /subscribe read from any thread. Readers that ask for
 * cursors older than the ring holds fall back to the store. Each entry owns
 * a copy of the event's JSON; a reader copies out what it needs while it
 * holds the read lock, so entries can be overwritten safely afterwards.
 */
#ifndef OT_CORE_RING_H
#define OT_CORE_RING_H

#include <stddef.h>
#include <stdint.h>

#include "core/evtype.h"

typedef struct ot_ring ot_ring;

ot_ring *ot_ring_new(size_t capacity);
void ot_ring_free(ot_ring *r);

/* Append events (cursor order, contiguous with what is there). Copies. */
void ot_ring_append(ot_ring *r, const ot_event *evs, size_t n);

/* Cursor range held: [oldest, last]; oldest > last when empty. */
void ot_ring_range(ot_ring *r, int64_t *oldest, int64_t *last);

/* Deliver events with cursor > after that match f, in order, to fn (the
 * event is borrowed during the call, under the read lock: copy, do not call
 * back into the ring). fn returns nonzero to stop; at most limit events.
 * Returns the number delivered, or -1 when cursor after+1 is no longer (or
 * not yet) in the ring and the caller must read the store. *scanned_to is
 * the last cursor examined (>= after). A read filtered on a twin costs the
 * events up to that twin's last one, not the whole ring (the ring keeps
 * each twin's last cursor), so a quiet twin's reader finds out at once. */
int ot_ring_read(ot_ring *r, int64_t after, int limit, const ot_event_filter *f,
                 int (*fn)(void *ctx, const ot_event *ev), void *ctx, int64_t *scanned_to);

#endif
