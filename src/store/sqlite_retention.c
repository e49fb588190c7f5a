/* sqlite_retention.c - the SQLite backend's retention (see the header). */
#include "store/sqlite_retention.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#include "store/rollup.h"
#include "store/sqlite_rows.h"

enum { S_NEXT_TP, S_TEL_ROWS, S_DEL_TEL, S_DEL_TP, S_EV_RANGE, S_EV_KEEP, S_EV_DEL, S_NEXT_EP,
       S_DEL_EP, S_SERIES, S_TWIN_SERIES, S_DEL_BLOCKS, S_DEL_ROLLUPS, S_N };

static const char *const sql[S_N] = {
    [S_NEXT_TP] = "SELECT twin_id FROM telemetry_postings WHERE twin_id > ?1"
                  " ORDER BY twin_id LIMIT 1",
    [S_TEL_ROWS] = "SELECT tmin, tmax, data FROM telemetry_postings WHERE twin_id = ?1"
                   " AND tmin < ?2 ORDER BY tmin, seq",
    [S_DEL_TEL] = "DELETE FROM telemetry WHERE event_id = ?1",
    [S_DEL_TP] = "DELETE FROM telemetry_postings WHERE twin_id = ?1 AND tmin < ?2 AND tmax < ?2",
    /* not MIN and MAX in one SELECT: that reads the whole log */
    [S_EV_RANGE] = "SELECT (SELECT MIN(cursor) FROM events), (SELECT MAX(cursor) FROM events)",
    [S_EV_KEEP] = "SELECT cursor FROM events WHERE cursor >= ?1 AND cursor < ?2 AND ts >= ?3"
                  " ORDER BY cursor LIMIT 1",
    [S_EV_DEL] = "DELETE FROM events WHERE cursor < ?1",
    [S_NEXT_EP] = "SELECT twin_id FROM twin_postings WHERE twin_id > ?1 ORDER BY twin_id LIMIT 1",
    [S_DEL_EP] = "DELETE FROM twin_postings WHERE twin_id = ?1 AND last < ?2",
    [S_SERIES] = "SELECT series_id FROM series",
    [S_TWIN_SERIES] = "SELECT series_id FROM series WHERE twin_id = ?1",
    [S_DEL_BLOCKS] = "DELETE FROM point_blocks WHERE series_id = ?1 AND minute < ?2",
    [S_DEL_ROLLUPS] = "DELETE FROM rollup_1m WHERE series_id = ?1 AND minute < ?2",
};

struct pass {
    sqlite3 *db;
    sqlite3_stmt *st[S_N];
    ot_error *err;
    long left; /* telemetry records this pass may still take */
    /* the records taken: their event_ids, NUL-terminated, at off[i] in ids */
    ot_buf ids;
    size_t *off, n, cap;
    /* the twin being scanned: its records up to (from_ts, from_id) are
     * gone (when from); the last record taken; whether the scan stopped */
    int from, stopped;
    int64_t from_ts, last_ts;
    char from_id[OT_TELPOST_ID_MAX + 1], last_id[OT_TELPOST_ID_MAX + 1];
};

static int fail(struct pass *p, const char *what)
{
    return ot_sqlite_error(p->db, p->err, what);
}

/* Run a statement that returns no rows, and reset it. */
static int run(struct pass *p, int k, const char *what)
{
    int rc = sqlite3_step(p->st[k]);
    sqlite3_reset(p->st[k]);
    return rc == SQLITE_DONE ? 0 : fail(p, what);
}

/* The twin after *twin (after "" first: twin ids are not empty) in the
 * table statement k reads: 1 with it in twin, 0 past the last, or an
 * error code. */
static int next_twin(struct pass *p, int k, char twin[OT_TELPOST_ID_MAX + 1])
{
    sqlite3_stmt *st = p->st[k];
    sqlite3_bind_text(st, 1, twin, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (!t || n > OT_TELPOST_ID_MAX) {
            sqlite3_reset(st);
            return ot_error_set(p->err, OT_EINTERNAL, NULL, "retention: a twin id is corrupt");
        }
        memcpy(twin, t, n + 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : fail(p, "retention: twins");
}

static int take_record(void *ctx, int64_t ts, const char *event_id, const char *asset_id)
{
    struct pass *p = ctx;
    (void)asset_id;
    if (p->from && (ts < p->from_ts || (ts == p->from_ts && strcmp(event_id, p->from_id) <= 0)))
        return 0; /* an earlier pass of the round deleted it */
    if (!p->left) {
        p->stopped = 1;
        return 1;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        size_t *off = realloc(p->off, cap * sizeof *off);
        if (!off)
            return ot_error_set(p->err, OT_ENOMEM, NULL, "out of memory");
        p->off = off;
        p->cap = cap;
    }
    size_t len = strlen(event_id);
    p->off[p->n++] = p->ids.len;
    ot_buf_append(&p->ids, event_id, len + 1);
    if (ot_buf_failed(&p->ids))
        return ot_error_set(p->err, OT_ENOMEM, NULL, "out of memory");
    p->left--;
    p->last_ts = ts;
    memcpy(p->last_id, event_id, len + 1);
    return 0;
}

/* Point blocks and rollups of the series that statement k's rows name
 * (bound and reset by the caller), in the minutes before minute. */
static int drop_minutes(struct pass *p, int k, int64_t minute)
{
    sqlite3_stmt *series = p->st[k];
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(series)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(series, 0);
        for (int d = S_DEL_BLOCKS; d <= S_DEL_ROLLUPS && !rc; d++) {
            sqlite3_bind_int64(p->st[d], 1, id);
            sqlite3_bind_int64(p->st[d], 2, minute);
            rc = run(p, d, "retention: delete points");
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = fail(p, "retention: series");
    sqlite3_reset(series);
    return rc;
}

/* Take a twin's records before the cutoff (from where the round got to),
 * and delete its rows that end before where the scan got to, and its
 * series' point blocks and rollups of the minutes before that one's (all
 * their points are older: as much as the records taken, where the round's
 * end deleting them all at once held the writer for ~120 ms after 100,000
 * records). */
static int take_twin(struct pass *p, const char *twin, int64_t cutoff)
{
    sqlite3_stmt *rows = p->st[S_TEL_ROWS];
    sqlite3_bind_text(rows, 1, twin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(rows, 2, cutoff);
    p->stopped = 0;
    int rc = ot_telpost_scan(rows, p->from ? p->from_ts : INT64_MIN, cutoff, take_record, p,
                             p->err);
    sqlite3_reset(rows);
    if (rc)
        return rc;
    /* a scan that stopped took a record first (the caller checks left) */
    int64_t upto = p->stopped ? p->last_ts : cutoff;
    sqlite3_bind_text(p->st[S_DEL_TP], 1, twin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p->st[S_DEL_TP], 2, upto);
    rc = run(p, S_DEL_TP, "retention: delete telemetry by twin");
    if (!rc) {
        sqlite3_bind_text(p->st[S_TWIN_SERIES], 1, twin, -1, SQLITE_STATIC);
        rc = drop_minutes(p, S_TWIN_SERIES, ot_minute_of(upto));
    }
    return rc;
}

/* Take the records before the cutoff, twin by twin from where the round
 * got to, up to the pass's budget; *at: where the pass stopped, or zeroed
 * at the end of the round. */
static int take_telemetry(struct pass *p, int64_t cutoff, ot_retention_at *at, int *more)
{
    char twin[OT_TELPOST_ID_MAX + 1] = "";
    int rc = 1;
    if (at->mid) { /* the twin the last pass stopped in, from where it got to */
        memcpy(twin, at->twin, sizeof twin);
        p->from = 1;
        p->from_ts = at->ts;
        memcpy(p->from_id, at->id, sizeof p->from_id);
    } else {
        rc = next_twin(p, S_NEXT_TP, twin);
    }
    for (; rc == 1; p->from = 0, rc = next_twin(p, S_NEXT_TP, twin)) {
        if (!p->left) { /* the next pass starts this twin */
            *at = (ot_retention_at){.mid = 1, .ts = INT64_MIN};
            memcpy(at->twin, twin, sizeof twin);
            *more = 1;
            return 0;
        }
        if ((rc = take_twin(p, twin, cutoff)) != 0)
            return rc;
        if (p->stopped) {
            *at = (ot_retention_at){.mid = 1, .ts = p->last_ts};
            memcpy(at->twin, twin, sizeof twin);
            memcpy(at->id, p->last_id, sizeof at->id);
            *more = 1;
            return 0;
        }
    }
    if (!rc)
        *at = (ot_retention_at){0};
    return rc;
}

static int by_id(const void *a, const void *b, void *ids)
{
    return strcmp((const char *)ids + *(const size_t *)a, (const char *)ids + *(const size_t *)b);
}

/* Delete the records taken, in the table's order. */
static int drop_taken(struct pass *p)
{
    if (p->n)
        qsort_r(p->off, p->n, sizeof *p->off, by_id, p->ids.data);
    for (size_t i = 0; i < p->n; i++) {
        sqlite3_bind_text(p->st[S_DEL_TEL], 1, p->ids.data + p->off[i], -1, SQLITE_STATIC);
        int rc = run(p, S_DEL_TEL, "retention: delete telemetry");
        if (rc)
            return rc;
    }
    return 0;
}

/* The events before the first one stamped at or after the cutoff, at most
 * max of them, and never the newest: the store takes its next cursor from
 * it at open (an empty log would hand out cursors again from 1). *oldest:
 * the oldest event left. */
static int drop_events(struct pass *p, int64_t cutoff, long max, int64_t *oldest, int *more)
{
    sqlite3_stmt *st = p->st[S_EV_RANGE];
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return fail(p, "retention: events");
    }
    int none = sqlite3_column_type(st, 0) == SQLITE_NULL;
    int64_t lo = sqlite3_column_int64(st, 0), hi = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    *oldest = lo;
    if (none)
        return 0;
    int64_t bound = hi - lo < max ? hi : lo + max, keep = bound;
    st = p->st[S_EV_KEEP];
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, bound);
    sqlite3_bind_int64(st, 3, cutoff);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        keep = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(p, "retention: events");
    if (rc == SQLITE_DONE && bound < hi)
        *more = 1; /* every event up to the bound expired, and more follow */
    *oldest = keep;
    if (keep == lo)
        return 0;
    sqlite3_bind_int64(p->st[S_EV_DEL], 1, keep);
    return run(p, S_EV_DEL, "retention: delete events");
}

/* The events-by-twin rows that end before the oldest event left. */
static int drop_postings(struct pass *p, int64_t oldest)
{
    char twin[OT_TELPOST_ID_MAX + 1] = "";
    int rc;
    while ((rc = next_twin(p, S_NEXT_EP, twin)) == 1) {
        sqlite3_bind_text(p->st[S_DEL_EP], 1, twin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(p->st[S_DEL_EP], 2, oldest);
        if ((rc = run(p, S_DEL_EP, "retention: delete events by twin")) != 0)
            return rc;
    }
    return rc;
}

int ot_sqlite_retention(sqlite3 *db, int64_t cutoff_us, long max, ot_retention_at *at, int *more,
                        ot_error *err)
{
    if (max < 1)
        max = 1;
    struct pass p = {.db = db, .err = err, .left = max};
    ot_buf_init(&p.ids);
    *more = 0;
    int rc = 0;
    for (int k = 0; k < S_N && !rc; k++)
        if (sqlite3_prepare_v2(db, sql[k], -1, &p.st[k], NULL) != SQLITE_OK)
            rc = fail(&p, "retention: prepare");
    int64_t oldest = 0;
    if (!rc)
        rc = take_telemetry(&p, cutoff_us, at, more);
    if (!rc)
        rc = drop_taken(&p);
    if (!rc)
        rc = drop_events(&p, cutoff_us, max, &oldest, more);
    /* the rest once a round ends: a seek per twin and two per series (57 ms
     * with nothing to drop on a 1M-record file just opened, its pages not
     * yet cached: not for every pass of a round) */
    if (!rc && !*more)
        rc = drop_postings(&p, oldest);
    if (!rc && !*more) /* what the twins' passes left: series whose records are all gone */
        rc = drop_minutes(&p, S_SERIES, ot_minute_of(cutoff_us));
    for (int k = 0; k < S_N; k++)
        sqlite3_finalize(p.st[k]);
    ot_buf_free(&p.ids);
    free(p.off);
    return rc;
}
