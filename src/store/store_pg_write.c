/* store_pg_write.c - the PostgreSQL backend's writer: the store's writer
 * thread's transactions on the writer connection (store_pg_int.h).
 *
 * A group's telemetry, points and events are buffered in COPY text format
 * and sent with three COPYs just before COMMIT, inside the group's
 * transaction; its audit records, series' latest values and per-minute
 * rollups follow as one unnest() statement each. The writer session runs
 * synchronous_commit=on, so COMMIT returning means durable. A COMMIT whose
 * reply is lost with the connection is settled on a new one with
 * txid_status() of the transaction's id (taken at BEGIN): committed means
 * durable, and the group is acknowledged, so a client does not retry a
 * write that is stored (a retry without event_id would store it twice).
 * Any other failed COMMIT fails the group. Either way store_writer.c then
 * re-reads the last cursor and audit head from the database
 * (pg_reconnected), so numbering can neither leave a gap nor hand out a
 * cursor twice.
 */
#include "store/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

/* COPY text format: escape backslash, tab, newline, carriage return. */
static void copy_text(ot_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i], e = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
        if (!e)
            continue;
        ot_buf_append(b, s + run, i - run);
        char esc[2] = {'\\', e};
        ot_buf_append(b, esc, 2);
        run = i + 1;
    }
    ot_buf_append(b, s + run, n - run);
}

static void copy_str(ot_buf *b, const char *s, char sep)
{
    copy_text(b, s, strlen(s));
    ot_buf_append(b, &sep, 1);
}

static void writer_reset(pg_be *be)
{
    ot_buf_reset(&be->cp_tel);
    ot_buf_reset(&be->cp_pts);
    ot_buf_reset(&be->cp_ev);
    for (int i = 0; i < 5; i++)
        ot_buf_reset(&be->aud[i]);
    ot_strmap_clear(&be->pending, NULL);
    ot_rollups_clear(&be->acc);
}

int pg_begin(void *p, ot_error *err)
{
    pg_be *be = p;
    writer_reset(be);
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = pg_conn_ensure(be, &be->w, 1, 1, err);
        if (rc)
            return rc;
        /* the id, so that a lost COMMIT reply can be settled (commit_outcome);
         * every group writes, so asking for it now assigns nothing extra */
        PGresult *r = PQexec(be->w.c, "BEGIN; SELECT txid_current()");
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        rc = ok ? 0 : pg_fail(be, be->w.c, r, err, "begin");
        snprintf(be->txid, sizeof be->txid, "%s", ok ? PQgetvalue(r, 0, 0) : "");
        int dead = !ok && PQstatus(be->w.c) != CONNECTION_OK;
        PQclear(r);
        be->in_tx = ok;
        if (!dead)
            return rc;
        /* the connection died while idle (a restart): reconnect now */
        be->w.next_try_us = 0;
    }
    return ot_error_set(err, OT_EUNAVAIL, NULL, "the database is unavailable; retry later");
}

int pg_reconnected(void *p)
{
    pg_be *be = p;
    int r = be->reconnected;
    be->reconnected = 0;
    return r;
}

static int copy_flush(pg_be *be, const char *sql, ot_buf *b, ot_error *err)
{
    if (!b->len)
        return 0;
    if (ot_buf_failed(b))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory buffering rows");
    PGconn *c = be->w.c;
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        int rc = pg_fail(be, c, r, err, "copy");
        PQclear(r);
        return rc;
    }
    PQclear(r);
    int rc = 0;
    const size_t chunk = 1 << 20;
    for (size_t off = 0; off < b->len && !rc; off += chunk) {
        size_t n = b->len - off < chunk ? b->len - off : chunk;
        if (PQputCopyData(c, b->data + off, (int)n) != 1)
            rc = pg_fail(be, c, NULL, err, "copy");
    }
    if (PQputCopyEnd(c, rc ? "aborted" : NULL) != 1 && !rc)
        rc = pg_fail(be, c, NULL, err, "copy");
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !rc)
            rc = pg_fail(be, c, r, err, "copy");
        PQclear(r);
    }
    ot_buf_reset(b);
    return rc;
}

static void arr_add_i64(ot_buf *b, int64_t v)
{
    ot_buf_printf(b, "%s%lld", b->len ? "," : "{", (long long)v);
}

static void arr_add_f(ot_buf *b, double v)
{
    ot_buf_printf(b, "%s%.17g", b->len ? "," : "{", v);
}

/* A quoted element of an array literal: '"' and '\\' escaped with a
 * backslash. */
static void arr_add_text(ot_buf *b, const char *s)
{
    ot_buf_puts(b, b->len ? ",\"" : "{\"");
    for (const char *p = s; *p; p++) {
        size_t run = strcspn(p, "\"\\");
        ot_buf_append(b, p, run);
        p += run;
        if (!*p)
            break;
        ot_buf_append(b, "\\", 1);
        ot_buf_append(b, p, 1);
    }
    ot_buf_puts(b, "\"");
}

static const char *arr_end(ot_buf *b)
{
    ot_buf_puts(b, "}");
    return b->data;
}

/* Run statement k with arr[0..n) closed as its array parameters, then empty
 * them. */
static int exec_arrays(pg_be *be, ot_buf *arr, int k, int n, ot_error *err, const char *what)
{
    const char *v[7] = {0};
    for (int i = 0; i < n; i++) {
        v[i] = arr_end(&arr[i]);
        if (ot_buf_failed(&arr[i]))
            return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    }
    PGresult *r = pg_run(be, &be->w, 1, k, n, v, err, what);
    for (int i = 0; i < n; i++)
        ot_buf_reset(&arr[i]);
    if (!r)
        return err ? err->code : OT_EIO;
    PQclear(r);
    return 0;
}

static int flush_series(pg_be *be, ot_error *err)
{
    if (!be->ndirty)
        return 0;
    for (size_t i = 0; i < be->ndirty; i++) {
        struct series_entry *e = be->dirty[i];
        arr_add_i64(&be->arr[0], e->id);
        arr_add_i64(&be->arr[1], e->last_ts);
        arr_add_f(&be->arr[2], e->last_value);
        e->dirty = 0;
    }
    be->ndirty = 0;
    return exec_arrays(be, be->arr, W_SERIES_SET, 3, err, "update series");
}

static int flush_rollups(pg_be *be, ot_error *err)
{
    if (!be->acc.n)
        return 0;
    for (size_t i = 0; i < be->acc.cap; i++) {
        ot_rollup *a = &be->acc.v[i];
        if (!a->used)
            continue;
        arr_add_i64(&be->arr[0], a->series);
        arr_add_i64(&be->arr[1], a->minute);
        arr_add_i64(&be->arr[2], a->m.count);
        arr_add_f(&be->arr[3], a->m.sum);
        arr_add_f(&be->arr[4], a->m.m2);
        arr_add_f(&be->arr[5], a->m.min);
        arr_add_f(&be->arr[6], a->m.max);
    }
    return exec_arrays(be, be->arr, W_ROLLUP, 7, err, "update rollups");
}

#define OUTCOME_WAIT_US (3 * 1000000LL)

/* The connection died under COMMIT: did the transaction commit? On a new
 * writer connection, txid_status(): 1 committed, 0 not, -1 unknown (no
 * answer within OUTCOME_WAIT_US, still in progress by then, or an id too old
 * to know). The server ends the old session when it reads the closed socket,
 * which also frees the writer lock the new connection must take: connecting
 * and asking are retried until then. */
static int commit_outcome(pg_be *be)
{
    int64_t deadline = ot_now_us() + OUTCOME_WAIT_US;
    for (;;) {
        ot_error e;
        be->w.next_try_us = 0;
        if (pg_conn_ensure(be, &be->w, 1, 1, &e) == 0) {
            const char *v[1] = {be->txid};
            PGresult *r = PQexecParams(be->w.c, "SELECT txid_status($1::bigint)", 1, NULL, v,
                                       NULL, NULL, 0);
            int out = 2; /* ask again */
            if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
                const char *st = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
                out = !st                              ? -1
                      : strcmp(st, "committed") == 0   ? 1
                      : strcmp(st, "in progress") == 0 ? 2
                                                       : 0;
            }
            PQclear(r);
            if (out != 2)
                return out;
        }
        if (ot_now_us() >= deadline)
            return -1;
        usleep(20000);
    }
}

/* COMMIT returns once the server has flushed its WAL: durable here, so
 * nothing is left for the caller to sync (*sync_fd = -1). */
int pg_commit(void *p, int *sync_fd, ot_error *err)
{
    pg_be *be = p;
    *sync_fd = -1;
    int rc = copy_flush(be, "COPY telemetry (event_id, cursor, twin_id, asset_id, ts, json)"
                            " FROM STDIN", &be->cp_tel, err);
    if (!rc)
        rc = copy_flush(be, "COPY points (series_id, ts, seq, value) FROM STDIN", &be->cp_pts, err);
    if (!rc)
        rc = copy_flush(be, "COPY events (cursor, type, ts, twin_id, id, ref_type, extra)"
                            " FROM STDIN", &be->cp_ev, err);
    if (!rc && be->aud[0].len)
        rc = exec_arrays(be, be->aud, W_PUT_AUDIT, 5, err, "append audit records");
    if (!rc)
        rc = flush_series(be, err);
    if (!rc)
        rc = flush_rollups(be, err);
    if (!rc && PQtransactionStatus(be->w.c) != PQTRANS_INTRANS)
        rc = pg_fail(be, be->w.c, NULL, err, "commit");
    if (!rc) {
        rc = pg_exec_ok(be, be->w.c, "COMMIT", err, "commit");
        if (rc && be->txid[0] && PQstatus(be->w.c) != CONNECTION_OK) {
            int out = commit_outcome(be);
            ot_log(OT_LOG_WARNING, "store: the reply to COMMIT of transaction %s was lost; %s",
                   be->txid,
                   out == 1   ? "it committed: the group is acknowledged"
                   : out == 0 ? "it did not commit: the group failed"
                              : "its outcome is unknown: the group failed");
            if (out == 1)
                rc = 0;
        }
    }
    if (!rc) {
        be->in_tx = 0;
        writer_reset(be);
    }
    return rc;
}

void pg_rollback(void *p)
{
    pg_be *be = p;
    if (be->w.c && PQstatus(be->w.c) == CONNECTION_OK &&
        PQtransactionStatus(be->w.c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(be->w.c, "ROLLBACK");
        PQclear(r);
    }
    be->in_tx = 0;
    writer_reset(be);
    /* series created inside the failed transaction no longer exist */
    ot_strmap_clear(&be->series, free);
    be->ndirty = 0;
}

int pg_last_cursor(void *p, int64_t *last, int64_t *oldest, ot_error *err)
{
    pg_be *be = p;
    PGresult *r = pg_run(be, &be->w, 1, W_LAST_CURSOR, 0, NULL, err, "read cursors");
    if (!r)
        return err ? err->code : OT_EIO;
    *last = atoll(PQgetvalue(r, 0, 0));
    *oldest = atoll(PQgetvalue(r, 0, 1));
    if (*oldest == 0)
        *oldest = *last + 1;
    PQclear(r);
    return 0;
}

int pg_lookup_tel(void *p, const char *event_id, int64_t *cursor, ot_error *err)
{
    pg_be *be = p;
    void *pend = ot_strmap_get(&be->pending, event_id);
    if (pend) {
        *cursor = (int64_t)(intptr_t)pend;
        return 1;
    }
    const char *v[1] = {event_id};
    PGresult *r = pg_run(be, &be->w, 1, W_LOOKUP_TEL, 1, v, err, "idempotency lookup");
    if (!r)
        return err ? err->code : OT_EIO;
    int found = PQntuples(r) > 0;
    if (found)
        *cursor = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

static struct series_entry *series_get(pg_be *be, const char *twin, const char *asset,
                                       const char *metric, ot_error *err)
{
    char key[512];
    if (ot_series_key(key, sizeof key, twin, asset, metric, err) < 0)
        return NULL;
    struct series_entry *e = ot_strmap_get(&be->series, key);
    if (e)
        return e;
    const char *v[3] = {twin, asset, metric};
    PGresult *r = pg_run(be, &be->w, 1, W_SERIES_GET, 3, v, err, "series lookup");
    if (!r)
        return NULL;
    int64_t id = 0, last_ts = INT64_MIN;
    if (PQntuples(r)) {
        id = atoll(PQgetvalue(r, 0, 0));
        if (!PQgetisnull(r, 0, 1))
            last_ts = atoll(PQgetvalue(r, 0, 1));
    } else {
        PQclear(r);
        if (!(r = pg_run(be, &be->w, 1, W_SERIES_INS, 3, v, err, "series insert")))
            return NULL;
        id = atoll(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    e = calloc(1, sizeof *e);
    if (!e || ot_strmap_put(&be->series, key, e, NULL)) {
        free(e);
        ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    e->id = id;
    e->last_ts = last_ts;
    return e;
}

static int grow_ptrs(struct series_entry ***v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    struct series_entry **n = realloc(*v, c * sizeof *n);
    if (!n)
        return -1;
    *v = n;
    *cap = c;
    return 0;
}

int pg_put_tel(void *p, const ot_store_tel *t, int64_t cursor, ot_error *err)
{
    pg_be *be = p;
    char num[32];
    ot_buf *b = &be->cp_tel;
    copy_str(b, t->event_id, '\t');
    ot_buf_printf(b, "%lld\t", (long long)cursor);
    copy_str(b, t->twin_id, '\t');
    copy_str(b, t->asset_id, '\t');
    ot_buf_printf(b, "%lld\t", (long long)t->ts_us);
    copy_str(b, t->json, '\n');
    if (t->client_id && ot_strmap_put(&be->pending, t->event_id, (void *)(intptr_t)cursor, NULL))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    if (grow_ptrs(&be->seen, &be->seen_cap, t->nmetrics))
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < t->nmetrics; i++) {
        struct series_entry *e = series_get(be, t->twin_id, t->asset_id, t->metric_names[i], err);
        if (!e)
            return err && err->code ? err->code : OT_EIO;
        be->seen[i] = e;
        /* a metric named twice in one record: one point, as SQLite's
         * INSERT OR IGNORE keeps (the primary key includes the cursor) */
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = be->seen[k] == e;
        double v = t->metric_values[i];
        if (!dup) {
            snprintf(num, sizeof num, "%.17g", v);
            ot_buf_printf(&be->cp_pts, "%lld\t%lld\t%lld\t%s\n", (long long)e->id,
                          (long long)t->ts_us, (long long)cursor, num);
            if (ot_rollups_add(&be->acc, e->id, t->ts_us, cursor, v))
                return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
        }
        if (t->ts_us >= e->last_ts) {
            e->last_ts = t->ts_us;
            e->last_value = v;
            if (!e->dirty) {
                if (grow_ptrs(&be->dirty, &be->dirty_cap, be->ndirty + 1))
                    return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
                be->dirty[be->ndirty++] = e;
                e->dirty = 1;
            }
        }
    }
    return ot_buf_failed(b) || ot_buf_failed(&be->cp_pts)
               ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory buffering rows")
               : 0;
}

int pg_put_event(void *p, const ot_event *ev, const char *id, const char *ref_type,
                 const char *extra, size_t extra_len, ot_error *err)
{
    pg_be *be = p;
    ot_buf *b = &be->cp_ev;
    ot_buf_printf(b, "%lld\t%d\t%lld\t", (long long)ev->cursor, ev->type, (long long)ev->ts_us);
    copy_str(b, ev->twin_id, '\t');
    copy_str(b, id, '\t');
    copy_str(b, ref_type, '\t');
    if (extra && extra_len)
        copy_text(b, extra, extra_len);
    else
        ot_buf_puts(b, "\\N");
    ot_buf_puts(b, "\n");
    return ot_buf_failed(b) ? ot_error_set(err, OT_ENOMEM, NULL, "out of memory buffering rows")
                            : 0;
}

int pg_put_doc(void *p, const ot_store_doc *d, int64_t now_us, ot_error *err)
{
    pg_be *be = p;
    char now[32];
    const char *v[6] = {d->type, d->id, d->twin_id ? d->twin_id : "", d->status, I64(now, now_us),
                        d->json};
    PGresult *r = pg_run(be, &be->w, 1, W_PUT_DOC, 6, v, err, "store document");
    if (!r)
        return err ? err->code : OT_EIO;
    PQclear(r);
    return 0;
}

/* --- audit ---------------------------------------------------------------------------------- */

int pg_last_audit(void *p, int64_t *seq, char *hash_hex, ot_error *err)
{
    pg_be *be = p;
    PGresult *r = pg_run(be, &be->w, 1, W_LAST_AUDIT, 0, NULL, err, "read audit head");
    if (!r)
        return err ? err->code : OT_EIO;
    *seq = 0;
    memset(hash_hex, '0', 64);
    hash_hex[64] = '\0';
    if (PQntuples(r)) {
        *seq = atoll(PQgetvalue(r, 0, 0));
        snprintf(hash_hex, OT_AUDIT_HASH_HEX, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return 0;
}

/* Buffered until COMMIT (be->aud): one statement a group, not a round trip
 * per write request. */
int pg_put_audit(void *p, int64_t seq, int64_t ts_us, const char *record, const char *prev_hash,
                 const char *hash, ot_error *err)
{
    pg_be *be = p;
    (void)err;
    arr_add_i64(&be->aud[0], seq);
    arr_add_i64(&be->aud[1], ts_us);
    arr_add_text(&be->aud[2], record);
    arr_add_text(&be->aud[3], prev_hash);
    arr_add_text(&be->aud[4], hash);
    return 0;
}
