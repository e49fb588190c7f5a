/* Black-box tests of the event log through GET /diff: contiguous cursors,
 * paging, filters, parameter errors, and 410 for cursors older than the
 * retention window. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(diff, .init = up, .fini = down, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long cursor_num(const char *c)
{
    cr_assert(c && strncmp(c, "cursor_", 7) == 0 && strlen(c) >= 13, "bad cursor %s",
              c ? c : "(null)");
    return strtol(c + 7, NULL, 10);
}

/* n single ingests for twin, metric v = i; returns nothing, checks 200. */
static void ingest_n(const bb_server *s, const char *twin, int n)
{
    for (int i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", twin);
        json_decref(bb_req(s, "POST", "/telemetry/ingest", body, 200));
    }
}

Test(diff, cursors_are_contiguous_and_match_the_acks)
{
    char acked[200][32];
    int n = 0;
    for (int i = 0; i < 40; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"twin_id\":\"c%d\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}", i % 3);
        json_t *r = bb_req(&srv, "POST", "/telemetry/ingest", body, 200);
        snprintf(acked[n++], 32, "%s", sget(r, "cursor"));
        json_decref(r);
    }
    for (int b = 0; b < 4; b++) {
        char body[4096];
        size_t k = (size_t)snprintf(body, sizeof body, "[");
        for (int i = 0; i < 20; i++)
            k += (size_t)snprintf(body + k, sizeof body - k,
                                  "%s{\"twin_id\":\"c%d\",\"asset_id\":\"b\",\"metrics\":{\"v\":1}}",
                                  i ? "," : "", i % 2);
        snprintf(body + k, sizeof body - k, "]");
        json_t *r = bb_req(&srv, "POST", "/telemetry/ingest", body, 200);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(r, "results"), i, it)
            snprintf(acked[n++], 32, "%s", sget(it, "cursor"));
        json_decref(r);
    }
    cr_assert_eq(n, 120);
    json_t *all = bb_diff_all(&srv, "", 1000);
    cr_assert_eq(json_array_size(all), 120);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(all, (size_t)i);
        cr_assert_eq(cursor_num(sget(e, "cursor")), i + 1, "gap at %d", i);
        cr_assert_str_eq(sget(e, "cursor"), acked[i]);
    }
    json_decref(all);
}

Test(diff, pages_concatenate_to_the_full_log)
{
    ingest_n(&srv, "pg", 23);
    json_t *full = bb_getf(&srv, 200, "/diff?limit=1000");
    cr_assert(json_is_null(json_object_get(full, "since")));
    cr_assert(json_is_false(json_object_get(full, "has_more")));
    cr_assert_str_eq(sget(full, "next_cursor"), "cursor_000023");
    json_t *fe = json_object_get(full, "events");
    cr_assert_eq(json_array_size(fe), 23);
    char since[32] = "";
    size_t got = 0;
    int pages = 0;
    for (;;) {
        json_t *p = since[0] ? bb_getf(&srv, 200, "/diff?limit=5&since=%s", since)
                             : bb_getf(&srv, 200, "/diff?limit=5");
        json_t *evs = json_object_get(p, "events");
        pages++;
        if (since[0])
            cr_assert_str_eq(sget(p, "since"), since);
        for (size_t i = 0; i < json_array_size(evs); i++, got++)
            cr_assert(json_equal(json_array_get(evs, i), json_array_get(fe, got)),
                      "page %d item %zu differs", pages, i);
        cr_assert_eq(json_integer_value(json_object_get(p, "count")),
                     (json_int_t)json_array_size(evs));
        snprintf(since, sizeof since, "%s", sget(p, "next_cursor"));
        int more = json_is_true(json_object_get(p, "has_more"));
        if (more)
            cr_assert_eq(json_array_size(evs), 5);
        json_decref(p);
        if (!more)
            break;
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(got, 23);
    cr_assert_eq(pages, 5);
    cr_assert_str_eq(since, "cursor_000023");
    /* the next page after the end is empty and stays at the end */
    json_t *p = bb_getf(&srv, 200, "/diff?since=%s", since);
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 0);
    cr_assert_str_eq(sget(p, "next_cursor"), "cursor_000023");
    cr_assert(json_is_false(json_object_get(p, "has_more")));
    json_decref(p);
    /* and a new event shows up after it */
    ingest_n(&srv, "pg", 1);
    p = bb_getf(&srv, 200, "/diff?since=%s", since);
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 1);
    cr_assert_str_eq(sget(json_array_get(json_object_get(p, "events"), 0), "cursor"),
                     "cursor_000024");
    json_decref(p);
    json_decref(full);
}

Test(diff, twin_and_type_filters)
{
    ingest_n(&srv, "fa", 3);
    ingest_n(&srv, "fb", 2);
    ingest_n(&srv, "fa", 2);
    json_decref(bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"fa\",\"parameters\":{\"base_yield\":0.85},\"seed\":1,"
                       "\"n_samples\":200}",
                       200));
    json_t *a = bb_diff_all(&srv, "twin_id=fa", 2);
    cr_assert_eq(json_array_size(a), 6);
    long prev = 0;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        cr_assert_str_eq(sget(e, "twin_id"), "fa");
        long c = cursor_num(sget(e, "cursor"));
        cr_assert_gt(c, prev);
        prev = c;
    }
    json_decref(a);
    json_t *s = bb_diff_all(&srv, "types=SimulationCompleted", 100);
    cr_assert_eq(json_array_size(s), 1);
    cr_assert_str_eq(sget(json_array_get(s, 0), "type"), "SimulationCompleted");
    json_decref(s);
    s = bb_diff_all(&srv, "types=SimulationCompleted,TelemetryAppended&twin_id=fb", 100);
    cr_assert_eq(json_array_size(s), 2);
    json_decref(s);
    s = bb_diff_all(&srv, "types=AnomalyDetected", 100);
    cr_assert_eq(json_array_size(s), 0);
    json_decref(s);
    /* a filtered page that matches nothing still moves its cursor to the end */
    json_t *p = bb_getf(&srv, 200, "/diff?types=AnomalyDetected");
    cr_assert_str_eq(sget(p, "next_cursor"), "cursor_000008");
    json_decref(p);

    bb_resp r;
    bb_http(&srv, "GET", "/diff?types=TelemetryAppended,Bogus", NULL, NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", "$.types");
    cr_assert(strstr(r.body, "Bogus"), "%s", r.body);
    bb_resp_free(&r);
    bb_http(&srv, "GET", "/diff?twin_id=a%20b", NULL, NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", "$.twin_id");
    bb_resp_free(&r);
}

Test(diff, malformed_cursor_and_bad_limit_are_400)
{
    ingest_n(&srv, "m", 2);
    const char *bad_since[] = {"cursor_12", "abc", "cursor_00001x", "000123", "cursor_-00001",
                               "Cursor_000001", "cursor_0000000000000000001"};
    for (size_t i = 0; i < sizeof bad_since / sizeof bad_since[0]; i++) {
        bb_resp r;
        char path[128];
        snprintf(path, sizeof path, "/diff?since=%s", bad_since[i]);
        bb_http(&srv, "GET", path, NULL, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", "$.since");
        bb_resp_free(&r);
    }
    const char *bad_limit[] = {"0", "-1", "abc", "1001", "5x", ""};
    for (size_t i = 0; i < sizeof bad_limit / sizeof bad_limit[0]; i++) {
        bb_resp r;
        char path[128];
        snprintf(path, sizeof path, "/diff?limit=%s", bad_limit[i]);
        bb_http(&srv, "GET", path, NULL, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", "$.limit");
        bb_resp_free(&r);
    }
    /* the bounds themselves are fine (max_diff_page_size defaults to 1000) */
    json_decref(bb_getf(&srv, 200, "/diff?limit=1"));
    json_decref(bb_getf(&srv, 200, "/diff?limit=1000"));
    /* cursors may have more than six digits */
    json_t *p = bb_getf(&srv, 200, "/diff?since=cursor_0000001");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 1);
    json_decref(p);
}

/* A cursor beyond the newest event is from no past of this log (one is
 * shown only once published): a restored or reset data folder. Reading on
 * would skip the events up to it once they exist, so it is a 400 with the
 * newest cursor; the newest itself is an empty page. (It used to be an
 * empty page too.) */
Test(diff, since_beyond_the_newest_event_is_400_with_the_newest_cursor)
{
    ingest_n(&srv, "fut", 3);
    bb_resp r;
    bb_http(&srv, "GET", "/diff?since=cursor_999999", NULL, NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", "$.since");
    json_t *d = json_array_get(json_object_get(json_object_get(r.json, "error"), "details"), 0);
    cr_assert_str_eq(sget(d, "newest_cursor"), "cursor_000003", "%s", r.body);
    bb_resp_free(&r);
    json_t *p = bb_getf(&srv, 200, "/diff?since=cursor_000003");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 0);
    cr_assert(json_is_false(json_object_get(p, "has_more")));
    json_decref(p);
}

Test(diff_limits, max_page_size_is_configurable, .timeout = 60)
{
    bb_server s;
    const char *args[] = {"--max-diff-page-size", "5", NULL};
    bb_start(&s, args, NULL, NULL);
    ingest_n(&s, "lim", 7);
    bb_resp r;
    bb_http(&s, "GET", "/diff?limit=6", NULL, NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", "$.limit");
    bb_resp_free(&r);
    json_t *p = bb_getf(&s, 200, "/diff?limit=5");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 5);
    cr_assert(json_is_true(json_object_get(p, "has_more")));
    json_decref(p);
    cr_assert_eq(bb_stop(&s, 0), 0);
}

/* Events carry their commit time, so the API cannot make old events: the
 * test stops the server, backdates the first five events in its store,
 * and restarts it with --retention-days 1. Retention runs on the writer's
 * first idle tick and drops that prefix of the log. */
Test(diff_retention, cursor_older_than_retention_is_410, .timeout = 90)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    ingest_n(&s, "ret", 8);
    json_decref(bb_getf(&s, 200, "/diff?subscriber=slow&limit=2")); /* remembers cursor 2 */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    cr_assert_eq(bb_stop(&s, 1), 0);

    /* SQLite file or PostgreSQL database, the same statement */
    cr_assert_eq(bb_db_exec(&s, "UPDATE events SET ts = 1000000 WHERE cursor <= 5"), 5);

    const char *args[] = {"--retention-days", "1", NULL};
    bb_start(&s, args, NULL, dir);
    bb_resp r;
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        bb_http(&s, "GET", "/diff?since=cursor_000000", NULL, NULL, &r);
        gone = r.status == 410;
        if (!gone) {
            cr_assert_eq(r.status, 200, "%s", r.body);
            bb_resp_free(&r);
            usleep(100000);
        }
    }
    cr_assert(gone, "retention did not drop the backdated events within 10 s");
    bb_assert_error(&r, 410, "gone", "$.since");
    json_t *d = json_array_get(json_object_get(json_object_get(r.json, "error"), "details"), 0);
    cr_assert_str_eq(sget(d, "oldest_cursor"), "cursor_000005", "%s", r.body);
    bb_resp_free(&r);
    bb_http(&s, "GET", "/diff?since=cursor_000004", NULL, NULL, &r);
    bb_assert_error(&r, 410, "gone", "$.since");
    bb_resp_free(&r);
    /* a remembered cursor as old: the 410 names the subscriber */
    bb_http(&s, "GET", "/diff?subscriber=slow", NULL, NULL, &r);
    bb_assert_error(&r, 410, "gone", "$.subscriber");
    bb_resp_free(&r);
    /* from the oldest available cursor, or from the start: events 6..8 */
    json_t *p = bb_getf(&s, 200, "/diff?since=cursor_000005");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 3);
    cr_assert_str_eq(sget(json_array_get(json_object_get(p, "events"), 0), "cursor"),
                     "cursor_000006");
    json_decref(p);
    p = bb_getf(&s, 200, "/diff");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 3);
    json_decref(p);
    /* /subscribe answers the same 410 */
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &s, "/subscribe?since=cursor_000001", NULL, 10), 410);
    bb_sse_close(&c);
    /* new events continue the numbering */
    ingest_n(&s, "ret", 1);
    p = bb_getf(&s, 200, "/diff?since=cursor_000008");
    cr_assert_str_eq(sget(json_array_get(json_object_get(p, "events"), 0), "cursor"),
                     "cursor_000009");
    json_decref(p);
    cr_assert_eq(bb_stop(&s, 0), 0);
}

/* After a restart the in-memory ring is empty: every event must still be
 * served (from the store) by /diff and as /subscribe backlog, before any new
 * event arrives. */
Test(diff_restart, events_are_served_after_a_restart, .timeout = 90)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    ingest_n(&s, "rs", 5);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    cr_assert_eq(bb_stop(&s, 1), 0);
    bb_start(&s, NULL, NULL, dir);
    json_t *p = bb_getf(&s, 200, "/diff");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 5,
                 "events committed before the restart are not served");
    cr_assert_str_eq(sget(p, "next_cursor"), "cursor_000005");
    json_decref(p);
    p = bb_getf(&s, 200, "/diff?since=cursor_000002&limit=2");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 2);
    cr_assert_str_eq(sget(json_array_get(json_object_get(p, "events"), 0), "cursor"),
                     "cursor_000003");
    cr_assert(json_is_true(json_object_get(p, "has_more")));
    json_decref(p);
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &s, "/subscribe?since=cursor_000000", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&c, 6, 10), "backlog after a restart: %zu events", c.nev);
    cr_assert_str_eq(c.ev[5].id, "cursor_000005");
    bb_sse_close(&c);
    /* the numbering continues */
    ingest_n(&s, "rs", 1);
    p = bb_getf(&s, 200, "/diff?since=cursor_000005");
    cr_assert_str_eq(sget(json_array_get(json_object_get(p, "events"), 0), "cursor"),
                     "cursor_000006");
    json_decref(p);
    cr_assert_eq(bb_stop(&s, 0), 0);
}
