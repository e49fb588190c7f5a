/* store_int.h - the store's state, shared by store.c (the public API:
 * open, close, submit, reads, health, metrics) and store_writer.c (the
 * writer and syncer threads: group commit, acknowledgement, retention
 * passes); internal to src/store/.
 *
 * Ownership: fields are marked with the lock that guards them or the
 * thread that owns them; what a backend owns is behind ops/be.
 */
#ifndef OT_STORE_INT_H
#define OT_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/backend.h"
#include "store/store.h"

/* A committed (or failed) group on its way to the syncer. */
typedef struct evvec {
    ot_event *v;
    size_t *off;                   /* where v[i]'s JSON starts in text */
    size_t n, cap;
    ot_buf text;                   /* every event's JSON, each NUL-terminated */
} evvec;

struct group {
    ot_store_write *list;          /* every write of the group, rc/err already set */
    evvec evs;                     /* events of the writes that committed */
    int sync_fd;                   /* fdatasync before acknowledging, or -1 */
    unsigned long commits, items;  /* transactions and items that committed */
    struct group *next;
};

struct ot_store {
    const ot_backend_ops *ops;
    void *be;
    ot_store_options opt;
    char data_dir[512];
    char database_url[512];
    int lock_fd;                   /* DATA_DIR/opstwin.lock, flock'ed exclusively */

    pthread_t writer;
    int writer_started;
    pthread_mutex_t mu;            /* queue, closing */
    pthread_cond_t cv;
    int writer_waits;              /* the writer waits on cv for the queue: the
                                    * next write queued wakes it (only that one,
                                    * so a burst costs one wake-up, not one each) */
    ot_store_write *head, *tail;
    long pending;                  /* queued telemetry items */
    int closing;
    int derived_idle_ms;           /* see DERIVED_IDLE_MS (store.c) */
    atomic_int idle_flush_failed;  /* the writer's last idle flush failed */

    pthread_t syncer;
    int syncer_started;
    pthread_mutex_t smu;           /* the sync queue */
    pthread_cond_t scv;            /* work for the syncer */
    pthread_cond_t sdone;          /* room in, or an empty, sync queue */
    struct group *shead, *stail;
    int sgroups, sbusy, sclosing;
    int64_t next_cursor;           /* writer thread: the next cursor to hand out */
    pthread_mutex_t hook_mu;       /* on_completed */
    void (*on_completed)(void *ctx);
    void *on_completed_ctx;

    atomic_llong last_cursor;      /* the last durable, published cursor */
    atomic_llong oldest_cursor;
    atomic_ulong commits, failures, committed_items;
    atomic_long queue_depth;
    atomic_int healthy;            /* 0 after a failed transaction, 1 after a good one */
    atomic_int wal_failed;         /* sticky: a WAL fsync failed, writes are refused */
    char wal_error[OT_ERROR_MSG_MAX]; /* why; written once, before wal_failed is set */
    pthread_mutex_t err_mu;
    char last_error[OT_ERROR_MSG_MAX];
    int64_t next_retention_us; /* writer thread */
    ot_buf scratch, scratch_extra; /* writer thread: event rendering */
    int64_t audit_seq;             /* writer thread: chain head */
    struct group *spare;           /* groups the syncer is done with, for reuse (smu) */
    int nspare;
    char audit_hash[OT_AUDIT_HASH_HEX];
};

/* The writer and syncer threads (store_writer.c); arg is the store. */
void *store_writer_main(void *arg);
void *store_syncer_main(void *arg);

/* Free a group's events (store_writer.c). */
void store_evvec_free(evvec *e);

/* What a write counts as in the queue's limit and the commit metrics
 * (store_writer.c). */
long store_write_items(const ot_store_write *w);

#endif
