/* store_sqlite.c - the embedded SQLite backend (WAL, synchronous=FULL):
 * open and migrations, the writer's transactions, checkpoints, retention.
 *
 * One read-write connection belongs to the writer thread; readers take a
 * read-only connection from a small pool (store_sqlite_read.c, which has
 * every read). WAL lets them read while the writer writes. Every statement
 * is prepared once per connection. The derived data described below is
 * kept and written by store_sqlite_derived.c.
 *
 * Schema (see `migrations` below; PRAGMA user_version is the version):
 *   events(cursor PK, type, ts, twin_id, id, ref_type, extra)
 *   twin_postings(twin_id, last, data) PK (twin_id, last): the events by
 *     twin, written in bulk (sqlite_postings.h)
 *   telemetry(event_id PK, cursor, twin_id, asset_id, ts, json)
 *   telemetry_postings(twin_id, tmin, seq, tmax, data) PK (twin_id, tmin, seq):
 *     the telemetry by twin and time, written with the derived data
 *     (sqlite_telpost.h)
 *   series(series_id PK, twin_id, asset_id, metric, last_ts, last_value)
 *   point_blocks(series_id, minute, seq, data) PK (series_id, minute, seq): the raw
 *     points, one block per series, minute and group commit (rollup.h gives
 *     the encoding), so a group writes a row per series and minute instead
 *     of a row per point
 *   rollup_1m(series_id, minute, count, sum, m2, min, max) PK (series_id, minute):
 *     m2 is the sum of squared deviations from the minute's mean (rollup.h)
 *   docs(type, id, twin_id, status, created, updated, json) PK (type, id)
 *   meta(key PK, value): 'derived_cursor', see below; 'posted_cursor'
 *
 * A group's telemetry records and events are inserted many rows per
 * statement (sqlite_rows.h), flushed before COMMIT; the idempotency lookup
 * reads the table and the records still waiting.
 *
 * Derived data - point blocks, rollups, each series' latest value - is kept
 * in the writer's memory across commits and written in bulk: when a commit
 * finds DERIVED_MAX_POINTS points waiting, or some waiting for
 * ot_store_options.derived_delay_ms (DERIVED_DELAY_MS), when store.c asks (a reader that must see every acknowledged write, an
 * idle writer), before retention and at close. Written per group, a busy
 * single-event load paid a row per series touched in every commit of ~15
 * events. The same transaction sets meta.derived_cursor: the derived data
 * holds every telemetry record up to that cursor. Opening the database (and
 * a rolled-back transaction) rebuilds what lies beyond it from the stored
 * telemetry, so a crash loses none of it. The events by twin
 * (sqlite_postings.h) are written with it, and on their own once
 * OT_POSTINGS_FLUSH_AT wait; meta.posted_cursor is their watermark. The
 * telemetry by twin and time (sqlite_telpost.h) is derived data: a read of
 * it waits for the derived data as an aggregate does (store.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/sqlite_walbuf.h"
#include "store/store_sqlite_int.h"


/* Each migration runs in one transaction: its SQL, then its function (if
 * any), then its closing SQL. */
static const struct migration {
    const char *sql;
    int (*fn)(sqlite3 *db, ot_error *err);
    const char *after;
} migrations[] = {
    /* 1 */ {.sql =
    "CREATE TABLE events (cursor INTEGER PRIMARY KEY, type INTEGER NOT NULL, ts INTEGER NOT NULL,"
    " twin_id TEXT NOT NULL, id TEXT NOT NULL, ref_type TEXT NOT NULL, extra TEXT);"
    "CREATE INDEX events_twin ON events (twin_id, cursor);"
    "CREATE TABLE telemetry (event_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL,"
    " twin_id TEXT NOT NULL, asset_id TEXT NOT NULL, ts INTEGER NOT NULL, json TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX telemetry_twin_ts ON telemetry (twin_id, ts);"
    "CREATE TABLE series (series_id INTEGER PRIMARY KEY, twin_id TEXT NOT NULL,"
    " asset_id TEXT NOT NULL, metric TEXT NOT NULL, last_ts INTEGER, last_value REAL,"
    " UNIQUE (twin_id, asset_id, metric));"
    "CREATE TABLE points (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " value REAL NOT NULL, PRIMARY KEY (series_id, ts, seq)) WITHOUT ROWID;"
    "CREATE TABLE docs (type TEXT NOT NULL, id TEXT NOT NULL, twin_id TEXT NOT NULL,"
    " status TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL, json TEXT NOT NULL,"
    " PRIMARY KEY (type, id)) WITHOUT ROWID;"
    "CREATE INDEX docs_twin ON docs (type, twin_id, updated);"},
    /* 2 */ {.sql =
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, record TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"},
    /* 3: per-minute rollups, kept with every commit, so aggregates over whole
     * minutes read one row per minute instead of every point */
    {.sql = "CREATE TABLE rollup_1m (series_id INTEGER NOT NULL, minute INTEGER NOT NULL,"
    " count INTEGER NOT NULL, sum REAL NOT NULL, sumsq REAL NOT NULL, min REAL NOT NULL,"
    " max REAL NOT NULL, PRIMARY KEY (series_id, minute)) WITHOUT ROWID;"
    "INSERT INTO rollup_1m SELECT series_id, (ts - (((ts % 60000000) + 60000000) % 60000000))"
    " / 60000000, count(*), sum(value), sum(value * value), min(value), max(value)"
    " FROM points GROUP BY 1, 2;"},
    /* 4: raw points in blocks (one row per series, minute and group) */
    {.sql = "CREATE TABLE point_blocks (series_id INTEGER NOT NULL, minute INTEGER NOT NULL,"
            " seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (series_id, minute, seq))"
            " WITHOUT ROWID;",
     .fn = sq_move_points, .after = "DROP TABLE points;"},
    /* 5: derived data written in bulk; what exists now is complete */
    {.sql = "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
            "INSERT INTO meta (key, value) SELECT 'derived_cursor', COALESCE(MAX(cursor), 0)"
            " FROM events;"},
    /* 6, 7: for an hour of 2026-11-27 (7e490eb, e010aed) the per-twin
     * indexes were tables written in bulk (twin_events, twin_telemetry,
     * meta.twin_cursor). It cost row 04 ~1.3 ms of p99 and gained single
     * events little once bounded (bench/RESULTS.md, session 9), so version 8
     * puts the SQL indexes back. A database of version 5 passes 6 and 7
     * without work. */
    {.sql = "SELECT 1;"},
    {.sql = "SELECT 1;"},
    /* 8 */
    {.sql = "DROP TABLE IF EXISTS twin_events; DROP TABLE IF EXISTS twin_telemetry;"
            "DELETE FROM meta WHERE key = 'twin_cursor';"
            "CREATE INDEX IF NOT EXISTS events_twin ON events (twin_id, cursor);"
            "CREATE INDEX IF NOT EXISTS telemetry_twin_ts ON telemetry (twin_id, ts);"},
    /* 9: events by twin as postings (sqlite_postings.h) instead of an
     * index entry per event */
    {.sql = "CREATE TABLE twin_postings (twin_id TEXT NOT NULL, last INTEGER NOT NULL,"
            " data BLOB NOT NULL, PRIMARY KEY (twin_id, last)) WITHOUT ROWID;"
            "INSERT INTO meta (key, value) SELECT 'posted_cursor', COALESCE(MAX(cursor), 0)"
            " FROM events;",
     .fn = ot_postings_build, .after = "DROP INDEX events_twin;"},
    /* 10: telemetry by twin and time as postings (sqlite_telpost.h)
     * instead of an index entry per record */
    {.sql = "CREATE TABLE telemetry_postings (twin_id TEXT NOT NULL, tmin INTEGER NOT NULL,"
            " seq INTEGER NOT NULL, tmax INTEGER NOT NULL, data BLOB NOT NULL,"
            " PRIMARY KEY (twin_id, tmin, seq)) WITHOUT ROWID;",
     .fn = ot_telpost_build, .after = "DROP INDEX telemetry_twin_ts;"},
    /* 11: the events other than telemetry, by cursor and by twin: a read
     * filtered to such types walked the whole log from its cursor (every
     * telemetry event in it) to fill a page; these hold no telemetry, so
     * ingest writes nothing more */
    {.sql = "CREATE INDEX IF NOT EXISTS events_rare ON events (cursor) WHERE type != 0;"
            "CREATE INDEX IF NOT EXISTS events_rare_twin ON events (twin_id, cursor)"
            " WHERE type != 0;"},
    /* 12: rollups keep the sum of squared deviations (m2) instead of the
     * sum of squares (rollup.h); rows written before keep the precision
     * they had */
    {.sql = "ALTER TABLE rollup_1m RENAME COLUMN sumsq TO m2;"
            "UPDATE rollup_1m SET m2 = max(m2 - sum * sum / count, 0.0);"},
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof migrations[0])

/* Derived data waits in memory for at most this many points, or as long
 * as ot_store_options.derived_delay_ms says (file comment); a flush is one
 * row per series and minute touched. */
#define DERIVED_MAX_POINTS 65536
#define DERIVED_DELAY_MS 200

/* Under steady load the checkpointer never finds the WAL fully copied at
 * the moment a transaction starts, so SQLite never starts the WAL over and
 * the file grows without end. Past this many frames (~64 MiB of 4 KiB pages)
 * the writer finishes the checkpoint itself and restarts the WAL: a pause of
 * one commit, once per WAL_RESTART_FRAMES frames. */
#define WAL_RESTART_FRAMES 16384
/* The checkpointer passes every 200 ms, and as soon as the writer has added
 * this many frames (4 MiB) since it last asked: under batch load 200 ms is
 * ~10,000 frames, which the restart above then copied on the writer
 * (~45 ms, stalling every request in flight, twice a second). */
#define CKPT_KICK_FRAMES 1024

const char *const sq_wsql[W_NSTMT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_LOOKUP_TEL] = "SELECT cursor FROM telemetry WHERE event_id = ?1",
    [W_SERIES_GET] = "SELECT series_id, last_ts FROM series WHERE twin_id = ?1 AND asset_id = ?2"
                     " AND metric = ?3",
    [W_SERIES_INS] = "INSERT INTO series (twin_id, asset_id, metric) VALUES (?1, ?2, ?3)",
    [W_SERIES_SET] = "UPDATE series SET last_ts = ?2, last_value = ?3 WHERE series_id = ?1",
    [W_INS_BLOCK] = "INSERT INTO point_blocks (series_id, minute, seq, data) VALUES (?1, ?2, ?3, ?4)",
    [W_PUT_DOC] = "INSERT INTO docs (type, id, twin_id, status, created, updated, json)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT (type, id) DO UPDATE SET"
                  " twin_id = excluded.twin_id, status = excluded.status,"
                  " updated = excluded.updated, json = excluded.json",
    /* a minute that has a row already (late points) merges by Chan's
     * formula (rollup.h); SET's expressions all read the row as it was. A
     * NaN (inf - inf) comes out of SQLite's arithmetic as NULL: infinity
     * then, as ot_moments_settle keeps it. */
    [W_ROLLUP] = "INSERT INTO rollup_1m (series_id, minute, count, sum, m2, min, max)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (series_id, minute) DO UPDATE SET"
                 " count = count + excluded.count, sum = COALESCE(sum + excluded.sum, 9e999),"
                 " m2 = COALESCE(m2 + excluded.m2 + (excluded.sum / excluded.count - sum / count)"
                 " * (excluded.sum / excluded.count - sum / count)"
                 " * (1.0 * count * excluded.count / (count + excluded.count)), 9e999),"
                 " min = min(min, excluded.min), max = max(max, excluded.max)",
    [W_DERIVED_GET] = "SELECT value FROM meta WHERE key = 'derived_cursor'",
    [W_DERIVED_SET] = "UPDATE meta SET value = ?1 WHERE key = 'derived_cursor'",
    /* the telemetry beyond derived_cursor, in cursor order (the event's
     * type is OT_EV_TELEMETRY_APPENDED, 0) */
    [W_REPLAY] = "SELECT e.cursor, t.twin_id, t.asset_id, t.ts, t.json, t.event_id FROM events e"
                 " JOIN telemetry t ON t.event_id = e.id WHERE e.cursor > ?1 AND e.type = 0"
                 " ORDER BY e.cursor",
};


static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames);
static int be_begin(void *p, ot_error *err);
static int be_commit(void *p, int *sync_fd, ot_error *err);
static void be_rollback(void *p);
static int flush_rows(sqlite_be *be, ot_error *err);

static int exec(sqlite3 *db, const char *sql, ot_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = ot_error_set(err, OT_EIO, NULL, "database: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int migrate(sqlite3 *db, ot_error *err)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (version > NMIGRATIONS)
        return ot_error_set(err, OT_EIO, "DATA_DIR",
                            "database schema version %d is newer than this build knows (%d); "
                            "use a newer opstwin",
                            version, NMIGRATIONS);
    for (int v = version; v < NMIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        const struct migration *m = &migrations[v];
        int rc = exec(db, "BEGIN", err);
        if (!rc)
            rc = exec(db, m->sql, err);
        if (!rc && m->fn)
            rc = m->fn(db, err);
        if (!rc && m->after)
            rc = exec(db, m->after, err);
        if (!rc)
            rc = exec(db, pragma, err);
        if (!rc)
            rc = exec(db, "COMMIT", err);
        if (rc) {
            exec(db, "ROLLBACK", NULL);
            return rc;
        }
        ot_log(OT_LOG_INFO, "store: migrated the database to version %d", v + 1);
    }
    return 0;
}

/* Process-wide, before SQLite initialises: no global allocation statistics,
 * with which every SQLite allocation of every connection takes one mutex.
 * Fails harmlessly (SQLITE_MISUSE) when SQLite was initialised before. */
static pthread_once_t sqlite_config_once = PTHREAD_ONCE_INIT;
static void sqlite_config(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

static int open_conn(const char *path, int readonly, const char *vfs, sqlite3 **out,
                     ot_error *err)
{
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags, vfs) != SQLITE_OK) {
        int rc = ot_error_set(err, OT_EIO, "DATA_DIR", "cannot open database %s: %s", path,
                              db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 0);
    *out = db;
    return 0;
}

static void *ckpt_main(void *arg)
{
    sqlite_be *be = arg;
    int last_done = 0;
    pthread_mutex_lock(&be->ckpt_mu);
    while (!be->ckpt_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!be->ckpt_kick)
            pthread_cond_timedwait(&be->ckpt_cv, &be->ckpt_mu, &ts);
        be->ckpt_kick = 0;
        if (be->ckpt_stop)
            break;
        be->ckpt_running = 1;
        pthread_mutex_unlock(&be->ckpt_mu);
        int log = 0, done = 0;
        sqlite3_wal_checkpoint_v2(be->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        /* SQLite syncs the database file after a pass only when no commit
         * came meanwhile, which under steady writes is rarely: the pages
         * the passes copy piled up in the page cache for the writer's
         * restart checkpoint to sync all at once (60-80 ms of stall during
         * a retention drain; bench/RESULTS.md, session 19). Their write-out
         * starts here instead, without waiting for it; the restart's sync
         * still makes them durable. */
        if (done != last_done && be->db_fd >= 0)
            sync_file_range(be->db_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        last_done = done;
        pthread_mutex_lock(&be->ckpt_mu);
        be->ckpt_running = 0;
        pthread_cond_broadcast(&be->ckpt_idle_cv);
    }
    pthread_mutex_unlock(&be->ckpt_mu);
    return NULL;
}

/* Write the derived data that is missing, in a transaction of its own,
 * durably: at open (rebuilt first) and at close. Writer connection. */
static int derived_settle(sqlite_be *be, ot_error *err)
{
    int fd = -1;
    int rc = be_begin(be, err);
    if (rc)
        return rc;
    be->derived_force = 1;
    if ((rc = be_commit(be, &fd, err))) {
        be_rollback(be);
        return rc;
    }
    if (fd >= 0 && fdatasync(fd) != 0)
        return ot_error_set(err, OT_EIO, NULL, "fsync of the write-ahead log: %s",
                            strerror(errno));
    return 0;
}

static void be_close(void *p)
{
    sqlite_be *be = p;
    if (!be)
        return;
    ot_error err;
    if (be->ws[W_NSTMT - 1] &&
        (be->derived_hi || be->derived_rebuild || ot_postings_waiting(be->postings)) &&
        derived_settle(be, &err))
        ot_log(OT_LOG_WARNING, "store: %s; the next start rebuilds it", err.message);
    if (be->ckpt_started) {
        pthread_mutex_lock(&be->ckpt_mu);
        be->ckpt_stop = 1;
        pthread_cond_signal(&be->ckpt_cv);
        pthread_mutex_unlock(&be->ckpt_mu);
        pthread_join(be->ckpt_thread, NULL);
    }
    sqlite3_close(be->ckpt);
    for (int i = 0; i < W_NSTMT; i++)
        sqlite3_finalize(be->ws[i]);
    ot_postings_free(be->postings); /* their statements are on be->w */
    ot_telpost_free(be->telpost);
    ot_sqlite_rows_free(&be->tel_rows);
    ot_sqlite_rows_free(&be->ev_rows);
    ot_sqlite_rows_free(&be->audit_rows);
    if (be->w) {
        /* fold the WAL into the database so the folder is one file at rest */
        sqlite3_wal_checkpoint_v2(be->w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close(be->w);
    }
    for (struct rconn *c = be->all, *n; c; c = n) {
        n = c->all_next;
        for (int i = 0; i < R_NSTMT; i++)
            sqlite3_finalize(c->st[i]);
        sqlite3_close(c->db);
        free(c);
    }
    if (be->db_fd >= 0)
        close(be->db_fd);
    for (size_t i = 0; i < be->series_cap; i++)
        free(be->series[i].key);
    free(be->series);
    free(be->dirty);
    ot_rollups_free(&be->acc);
    pthread_mutex_destroy(&be->pool_mu);
    pthread_cond_destroy(&be->pool_cv);
    pthread_mutex_destroy(&be->ckpt_mu);
    pthread_cond_destroy(&be->ckpt_cv);
    pthread_cond_destroy(&be->ckpt_idle_cv);
    free(be);
}

static int be_open(const ot_store_options *opt, void **out, ot_error *err)
{
    sqlite_be *be = calloc(1, sizeof *be);
    if (!be)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&be->pool_mu, NULL);
    pthread_cond_init(&be->pool_cv, NULL);
    pthread_mutex_init(&be->ckpt_mu, NULL);
    pthread_cond_init(&be->ckpt_cv, NULL);
    pthread_cond_init(&be->ckpt_idle_cv, NULL);
    snprintf(be->path, sizeof be->path, "%s/opstwin.db", opt->data_dir);
    be->db_fd = -1;
    be->acc.keep_points = 1;
    be->postings = ot_postings_new();
    be->telpost = ot_telpost_new();
    be->derived_delay_us =
        (opt->derived_delay_ms > 0 ? opt->derived_delay_ms : DERIVED_DELAY_MS) * 1000LL;
    pthread_once(&sqlite_config_once, sqlite_config);
    /* the writer's WAL writes are coalesced (sqlite_walbuf.h: needs
     * synchronous=FULL, set right below). Its cache (32 MiB) holds what
     * writes touch - the B-trees' upper levels and right edges, the leaves
     * of active series, a group's dirty pages - and reads go to the
     * readers' own caches: a larger one only grew the process by faulting
     * in pages written once (batch ingest: 128 MiB gave 208 MiB RSS and
     * 0.057 page faults per event, 32 MiB 105 MiB and 0.025, and ~5% more
     * events/s; bench/RESULTS.md) */
    int rc = !be->postings || !be->telpost ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory")
             : ot_sqlite_walbuf_register() == SQLITE_OK
                 ? open_conn(be->path, 0, OT_SQLITE_WALBUF_VFS, &be->w, err)
                 : ot_error_set(err, OT_EIO, NULL, "cannot register the SQLite WAL buffer");
    if (!rc)
        rc = exec(be->w,
                  "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                  " PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;"
                  " PRAGMA wal_autocheckpoint = 0;",
                  err);
    if (!rc)
        sqlite3_wal_hook(be->w, wal_hook, be);
    /* the checkpointer's own descriptor on the file SQLite created, for
     * sync_file_range (closed only after every connection: closing a
     * descriptor drops the process's POSIX locks on the file, SQLite's
     * among them) */
    if (!rc && (be->db_fd = open(be->path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = ot_error_set(err, OT_EIO, "DATA_DIR", "cannot open %s: %s", be->path, strerror(errno));
    if (!rc)
        rc = open_conn(be->path, 0, NULL, &be->ckpt, err);
    if (!rc && pthread_create(&be->ckpt_thread, NULL, ckpt_main, be) == 0) {
        be->ckpt_started = 1;
        pthread_setname_np(be->ckpt_thread, "sqlite-ckpt");
    }
    if (!rc)
        rc = migrate(be->w, err);
    /* a connection checkpoints only once it has opened the WAL, which it
     * does on its first read */
    if (!rc)
        rc = exec(be->ckpt, "SELECT count(*) FROM sqlite_master", err);
    for (int i = 0; !rc && i < W_NSTMT; i++)
        if (sqlite3_prepare_v3(be->w, sq_wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &be->ws[i], NULL))
            rc = ot_sqlite_error(be->w, err, "prepare");
    ot_sqlite_rows_init(&be->tel_rows, be->w,
                        "INSERT OR FAIL INTO telemetry (event_id, cursor, twin_id, asset_id, ts, json)",
                        "insert telemetry", 6);
    ot_sqlite_rows_init(&be->ev_rows, be->w,
                        "INSERT OR FAIL INTO events (cursor, type, ts, twin_id, id, ref_type, extra)",
                        "insert event", 7);
    ot_sqlite_rows_init(&be->audit_rows, be->w,
                        "INSERT OR FAIL INTO audit (seq, ts, record, prev_hash, hash)",
                        "append audit record", 5);
    be->derived_rebuild = 1;
    if (!rc)
        rc = derived_settle(be, err);
    int n = opt->read_connections > 0 ? opt->read_connections : 4;
    for (int i = 0; !rc && i < n; i++) {
        struct rconn *c = calloc(1, sizeof *c);
        if (!c) {
            rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
            break;
        }
        rc = open_conn(be->path, 1, NULL, &c->db, err);
        if (rc) {
            free(c);
            break;
        }
        exec(c->db, "PRAGMA cache_size = -16384; PRAGMA mmap_size = 1073741824;", NULL);
        rc = sq_reader_prepare(c, err);
        c->all_next = be->all;
        be->all = c;
        c->free_next = be->free_list;
        be->free_list = c;
        be->nconn++;
    }
    if (rc) {
        be->derived_rebuild = 0; /* nothing to settle at this close */
        be->derived_hi = 0;
        be_close(be);
        return rc;
    }
    *out = be;
    return 0;
}

/* --- writer --------------------------------------------------------------- */

static int be_begin(void *p, ot_error *err)
{
    sqlite_be *be = p;
    int rc = sq_step_done(be, sq_wstmt(be, W_BEGIN), err, "begin");
    if (!rc && be->derived_rebuild && (rc = sq_rebuild_derived(be, err)))
        be_rollback(be);
    return rc;
}


static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    sqlite_be *be = ctx;
    be->wal_frames = frames;
    if (frames < be->ckpt_kicked_at) /* the WAL started over */
        be->ckpt_kicked_at = 0;
    if (frames - be->ckpt_kicked_at >= CKPT_KICK_FRAMES) {
        be->ckpt_kicked_at = frames;
        pthread_mutex_lock(&be->ckpt_mu);
        be->ckpt_kick = 1;
        pthread_cond_signal(&be->ckpt_cv);
        pthread_mutex_unlock(&be->ckpt_mu);
    }
    return SQLITE_OK;
}

/* COMMIT with the WAL's fsync deferred to the caller (*sync_fd; see
 * sqlite_walbuf.h), or done here (*sync_fd = -1) when deferring is not
 * possible. The restart checkpoint below syncs the WAL before it copies
 * frames, so it never copies an unsynced one. */
static int be_commit(void *p, int *sync_fd, ot_error *err)
{
    sqlite_be *be = p;
    *sync_fd = -1;
    int flush = be->derived_force || be->acc.npts >= DERIVED_MAX_POINTS ||
                (be->derived_hi && ot_now_us() - be->derived_since_us >= be->derived_delay_us);
    int rc = flush_rows(be, err);
    if (!rc && flush)
        rc = sq_flush_derived(be, err);
    else if (!rc && ot_postings_waiting(be->postings) >= OT_POSTINGS_FLUSH_AT)
        rc = ot_postings_flush(be->postings, be->w, err);
    if (!rc) {
        int fd = ot_walbuf_defer_sync(be->w, 1);
        rc = sq_step_done(be, sq_wstmt(be, W_COMMIT), err, "commit");
        if (fd >= 0)
            ot_walbuf_defer_sync(be->w, 0);
        if (!rc)
            *sync_fd = fd;
    }
    if (!rc && flush)
        sq_derived_written(be);
    if (!rc && be->wal_frames > WAL_RESTART_FRAMES) {
        be->wal_frames = 0;
        int log = 0, done = 0;
        /* after the checkpointer's pass, if one is under way, and before it
         * starts another: a pass holds SQLite's checkpoint lock, and a
         * restart tried meanwhile fails at once (SQLITE_BUSY, a third of
         * the tries under batch load), so the WAL could grow on */
        pthread_mutex_lock(&be->ckpt_mu);
        while (be->ckpt_running)
            pthread_cond_wait(&be->ckpt_idle_cv, &be->ckpt_mu);
        int crc = sqlite3_wal_checkpoint_v2(be->w, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
        pthread_mutex_unlock(&be->ckpt_mu);
        if (crc != SQLITE_OK)
            ot_log(OT_LOG_WARNING, "store: WAL restart checkpoint: %s (%d of %d frames)",
                   sqlite3_errmsg(be->w), done, log);
    }
    return rc;
}

static void be_rollback(void *p)
{
    sqlite_be *be = p;
    if (!sqlite3_get_autocommit(be->w)) {
        sqlite3_stmt *st = sq_wstmt(be, W_ROLLBACK);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    ot_sqlite_rows_clear(&be->tel_rows);
    ot_sqlite_rows_clear(&be->ev_rows);
    ot_sqlite_rows_clear(&be->audit_rows);
    /* ids handed out inside the failed transaction no longer exist, and
     * the derived data in memory held its records: rebuilt at the next
     * begin (derived_lo stays, so readers keep waiting for it) */
    sq_series_reset(be);
    ot_rollups_clear(&be->acc);
    ot_telpost_clear(be->telpost);
    be->derived_hi = 0;
    be->derived_rebuild = 1;
}

static int be_last_cursor(void *p, int64_t *last, int64_t *oldest, ot_error *err)
{
    sqlite_be *be = p;
    sqlite3_stmt *st;
    /* two subqueries: SQLite reads one end of the key for each, where one
     * SELECT of both reads the whole log */
    if (sqlite3_prepare_v2(be->w, "SELECT COALESCE((SELECT MAX(cursor) FROM events), 0),"
                                  " COALESCE((SELECT MIN(cursor) FROM events), 0)",
                           -1, &st, NULL) != SQLITE_OK)
        return ot_sqlite_error(be->w, err, "read cursors");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *last = sqlite3_column_int64(st, 0);
        *oldest = sqlite3_column_int64(st, 1);
        if (*oldest == 0)
            *oldest = *last + 1;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : ot_sqlite_error(be->w, err, "read cursors");
}

static int be_lookup_tel(void *p, const char *event_id, int64_t *cursor, ot_error *err)
{
    sqlite_be *be = p;
    /* an earlier record of this group, still waiting (columns event_id, cursor) */
    if (ot_sqlite_rows_find(&be->tel_rows, 0, event_id, 1, cursor))
        return 1;
    sqlite3_stmt *st = sq_wstmt(be, W_LOOKUP_TEL);
    sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *cursor = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : ot_sqlite_error(be->w, err, "idempotency lookup");
}


static int be_put_tel(void *p, const ot_store_tel *t, int64_t cursor, ot_error *err)
{
    sqlite_be *be = p;
    ot_sqlite_rows *r = &be->tel_rows;
    ot_sqlite_rows_text(r, t->event_id, (size_t)-1);
    ot_sqlite_rows_int(r, cursor);
    ot_sqlite_rows_text(r, t->twin_id, (size_t)-1);
    ot_sqlite_rows_text(r, t->asset_id, (size_t)-1);
    ot_sqlite_rows_int(r, t->ts_us);
    ot_sqlite_rows_text(r, t->json, t->json_len ? t->json_len : (size_t)-1);
    int rc = ot_sqlite_rows_end(r, err);
    return rc ? rc
              : sq_add_derived(be, t->twin_id, t->asset_id, t->ts_us, cursor, t->event_id,
                            t->metric_names, t->metric_values, t->nmetrics, err);
}

static int be_put_event(void *p, const ot_event *ev, const char *id, const char *ref_type,
                        const char *extra, size_t extra_len, ot_error *err)
{
    sqlite_be *be = p;
    ot_sqlite_rows *r = &be->ev_rows;
    ot_sqlite_rows_int(r, ev->cursor);
    ot_sqlite_rows_int(r, ev->type);
    ot_sqlite_rows_int(r, ev->ts_us);
    ot_sqlite_rows_text(r, ev->twin_id, (size_t)-1);
    ot_sqlite_rows_text(r, id, (size_t)-1);
    ot_sqlite_rows_text(r, ref_type, (size_t)-1);
    if (extra && extra_len)
        ot_sqlite_rows_text(r, extra, extra_len);
    else
        ot_sqlite_rows_null(r);
    int rc = ot_sqlite_rows_end(r, err);
    if (!rc && ot_postings_add(be->postings, ev->twin_id, ev->cursor))
        rc = ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    return rc;
}

/* Insert the rows still waiting (the writer reads its tables next, or
 * commits). */
static int flush_rows(sqlite_be *be, ot_error *err)
{
    int rc = ot_sqlite_rows_flush(&be->tel_rows, err);
    rc = rc ? rc : ot_sqlite_rows_flush(&be->ev_rows, err);
    return rc ? rc : ot_sqlite_rows_flush(&be->audit_rows, err);
}

static int be_put_doc(void *p, const ot_store_doc *d, int64_t now_us, ot_error *err)
{
    sqlite_be *be = p;
    sqlite3_stmt *st = sq_wstmt(be, W_PUT_DOC);
    sqlite3_bind_text(st, 1, d->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->twin_id ? d->twin_id : "", -1, SQLITE_STATIC);
    sq_bind_text_or_null(st, 4, d->status);
    sqlite3_bind_int64(st, 5, now_us);
    sqlite3_bind_text(st, 6, d->json, -1, SQLITE_STATIC);
    return sq_step_done(be, st, err, "store document");
}

static int be_retention(void *p, int64_t cutoff_us, int64_t *oldest, int *more, ot_error *err)
{
    sqlite_be *be = p;
    /* the derived data in memory first, or it would come back after */
    int rc = be_begin(be, err);
    if (rc)
        return rc;
    rc = sq_flush_derived(be, err);
    ot_retention_at at = be->retention_at; /* kept if the pass commits */
    if (!rc)
        rc = ot_sqlite_retention(be->w, cutoff_us, OT_RETENTION_PASS_MAX, &at, more, err);
    if (!rc) {
        /* Not synced here, on the writer's time: the WAL is one file, so the
         * next group's sync covers these frames, as does any checkpoint's
         * before it copies them; a crash before either only brings the
         * expired records back for the next pass. */
        int fd = ot_walbuf_defer_sync(be->w, 1);
        rc = sq_step_done(be, sq_wstmt(be, W_COMMIT), err, "commit");
        if (fd >= 0)
            ot_walbuf_defer_sync(be->w, 0);
    }
    if (rc) {
        be_rollback(be);
        return rc;
    }
    be->retention_at = at;
    sq_derived_written(be);
    int64_t last = 0;
    return be_last_cursor(be, &last, oldest, err);
}

/* --- audit ------------------------------------------------------------------ */

static int be_last_audit(void *p, int64_t *seq, char *hash_hex, ot_error *err)
{
    sqlite_be *be = p;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(be->w, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1,
                           &st, NULL) != SQLITE_OK)
        return ot_sqlite_error(be->w, err, "read audit head");
    int rc = sqlite3_step(st);
    *seq = 0;
    memset(hash_hex, '0', 64);
    hash_hex[64] = '\0';
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        snprintf(hash_hex, OT_AUDIT_HASH_HEX, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ot_sqlite_error(be->w, err, "read audit head");
}

static int be_put_audit(void *p, int64_t seq, int64_t ts_us, const char *record,
                        const char *prev_hash, const char *hash, ot_error *err)
{
    sqlite_be *be = p;
    ot_sqlite_rows *r = &be->audit_rows;
    ot_sqlite_rows_int(r, seq);
    ot_sqlite_rows_int(r, ts_us);
    ot_sqlite_rows_text(r, record, (size_t)-1);
    ot_sqlite_rows_text(r, prev_hash, (size_t)-1);
    ot_sqlite_rows_text(r, hash, (size_t)-1);
    return ot_sqlite_rows_end(r, err);
}

static void be_derived_flush(void *p) { ((sqlite_be *)p)->derived_force = 1; }

static int64_t be_derived_pending(void *p) { return atomic_load(&((sqlite_be *)p)->derived_lo); }

const ot_backend_ops ot_sqlite_backend = {
    .name = "sqlite",
    .open = be_open,
    .close = be_close,
    .begin = be_begin,
    .commit = be_commit,
    .rollback = be_rollback,
    .last_cursor = be_last_cursor,
    .lookup_tel = be_lookup_tel,
    .put_tel = be_put_tel,
    .put_doc = be_put_doc,
    .put_event = be_put_event,
    .retention = be_retention,
    .read_events = sq_read_events,
    .get_doc = sq_get_doc,
    .list_docs = sq_list_docs,
    .query_telemetry = sq_query_telemetry,
    .aggregate = sq_aggregate,
    .latest = sq_latest,
    .last_audit = be_last_audit,
    .put_audit = be_put_audit,
    .derived_flush = be_derived_flush,
    .derived_pending = be_derived_pending,
    .read_audit = sq_read_audit,
};
