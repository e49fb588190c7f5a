/* twin_lists.h - growable arrays by twin: what the SQLite writer gathers
 * per twin between two bulk writes (sqlite_postings.h: event cursors;
 * sqlite_telpost.h: telemetry records).
 *
 * A list is made on the first element of its twin and kept, emptied, for
 * the next round, until there are more than OT_TWIN_LISTS_KEEP twins.
 * Elements are of one size, given at init. Not thread-safe: the writer
 * owns them.
 */
#ifndef OT_STORE_TWIN_LISTS_H
#define OT_STORE_TWIN_LISTS_H

#include <stddef.h>

#include "core/strmap.h"

#define OT_TWIN_LISTS_KEEP 1024

typedef struct ot_twin_list {
    char *twin;
    void *v; /* n elements */
    size_t n, cap;
    int in_order; /* the owner's flag; 1 when the list is made or emptied */
} ot_twin_list;

typedef struct ot_twin_lists {
    ot_strmap by_twin;   /* twin -> ot_twin_list * */
    ot_twin_list **all;  /* every list, in the order ot_twin_lists_sort left */
    size_t nall, cap, elem;
} ot_twin_lists;

/* An empty set of lists of elements of elem bytes. */
void ot_twin_lists_init(ot_twin_lists *t, size_t elem);
void ot_twin_lists_free(ot_twin_lists *t);

/* Room for one more element at the end of twin's list (counted in its n):
 * its address, or NULL when out of memory. *list (may be NULL) gets the
 * list. */
void *ot_twin_lists_push(ot_twin_lists *t, const char *twin, ot_twin_list **list);

/* Empty every list; past OT_TWIN_LISTS_KEEP twins, forget the lists too. */
void ot_twin_lists_empty(ot_twin_lists *t);

/* Order all by twin (a bulk write goes into each twin's part of a B-tree
 * in turn). */
void ot_twin_lists_sort(ot_twin_lists *t);

#endif
