/* Black-box tests of GET /subscribe (Server-Sent Events): the connected
 * event, backlog then live events, Last-Event-ID resume without loss or
 * repeats, filters, the connection limit, heartbeats, a client that stops
 * reading, HTTP/1.1 framing, and shutdown with open streams. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(sse, .init = up, .fini = down, .timeout = 60);

static void ingest(const bb_server *s, const char *twin, int v)
{
    char body[256];
    snprintf(body, sizeof body, "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"v\":%d}}",
             twin, v);
    json_decref(bb_req(s, "POST", "/telemetry/ingest", body, 200));
}

static long idnum(const char *id)
{
    cr_assert(strncmp(id, "cursor_", 7) == 0, "bad id '%s'", id);
    return strtol(id + 7, NULL, 10);
}

/* Check event i is a TelemetryAppended with id cursor_<want> whose data is
 * the event object for that cursor. */
static void check_event(const bb_sse *c, size_t i, long want)
{
    cr_assert_lt(i, c->nev);
    const bb_sse_event *e = &c->ev[i];
    cr_assert_str_eq(e->event, "TelemetryAppended", "event %zu", i);
    cr_assert_eq(idnum(e->id), want, "event %zu has id %s, expected cursor %ld", i, e->id, want);
    json_t *d = json_loads(e->data, 0, NULL);
    cr_assert_not_null(d, "data is not JSON: %s", e->data);
    cr_assert_str_eq(json_string_value(json_object_get(d, "cursor")), e->id);
    cr_assert_str_eq(json_string_value(json_object_get(d, "type")), "TelemetryAppended");
    json_decref(d);
}

Test(sse, connected_event_comes_first)
{
    ingest(&srv, "x", 1);
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe", NULL, 10), 200);
    cr_assert(strstr(c.headers, "Content-Type: text/event-stream"), "%s", c.headers);
    cr_assert(bb_sse_wait_count(&c, 1, 10), "no connected event");
    cr_assert_str_eq(c.ev[0].event, "connected");
    json_t *d = json_loads(c.ev[0].data, 0, NULL);
    cr_assert_not_null(d, "%s", c.ev[0].data);
    /* without since: live only, from the current end of the log */
    cr_assert_str_eq(json_string_value(json_object_get(d, "cursor")), "cursor_000001");
    cr_assert(json_is_string(json_object_get(d, "ts")));
    json_decref(d);
    /* no backlog */
    cr_assert(!bb_sse_wait_count(&c, 2, 0.5), "a live-only stream sent backlog");
    bb_sse_close(&c);
}

Test(sse, backlog_after_since_then_live_events)
{
    for (int i = 0; i < 3; i++)
        ingest(&srv, "bl", i);
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?since=cursor_000001", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&c, 3, 10), "backlog: %zu events", c.nev);
    cr_assert_str_eq(c.ev[0].event, "connected");
    check_event(&c, 1, 2);
    check_event(&c, 2, 3);
    for (int i = 0; i < 2; i++)
        ingest(&srv, "bl", 10 + i);
    cr_assert(bb_sse_wait_count(&c, 5, 10), "live: %zu events", c.nev);
    check_event(&c, 3, 4);
    check_event(&c, 4, 5);
    /* a batch arrives as separate events, in order */
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "[{\"twin_id\":\"bl\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}},"
                       "{\"twin_id\":\"bl\",\"asset_id\":\"a\",\"metrics\":{\"v\":2}}]",
                       200));
    cr_assert(bb_sse_wait_count(&c, 7, 10));
    check_event(&c, 5, 6);
    check_event(&c, 6, 7);
    cr_assert(!bb_sse_wait_count(&c, 8, 0.3), "unexpected extra event");
    bb_sse_close(&c);
}

Test(sse, last_event_id_resumes_without_loss_or_repeats)
{
    for (int i = 0; i < 5; i++)
        ingest(&srv, "re", i);
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?since=cursor_000000", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&c, 4, 10));
    long seen[64];
    size_t nseen = 0;
    char last[64] = "";
    for (size_t i = 1; i < c.nev; i++) {
        seen[nseen++] = idnum(c.ev[i].id);
        snprintf(last, sizeof last, "%s", c.ev[i].id);
    }
    bb_sse_close(&c); /* dropped */
    for (int i = 0; i < 5; i++)
        ingest(&srv, "re", 10 + i);
    /* Last-Event-ID wins over since */
    char h[128];
    snprintf(h, sizeof h, "Last-Event-ID: %s", last);
    const char *hdr[] = {h, NULL};
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?since=cursor_000000", hdr, 10), 200);
    size_t want = 1 + (10 - nseen);
    cr_assert(bb_sse_wait_count(&c, want, 10), "after resume: %zu events", c.nev);
    cr_assert(!bb_sse_wait_count(&c, want + 1, 0.5), "repeated or extra events after resume");
    cr_assert_str_eq(c.ev[0].event, "connected");
    for (size_t i = 1; i < c.nev; i++)
        seen[nseen++] = idnum(c.ev[i].id);
    cr_assert_eq(nseen, 10);
    for (size_t i = 0; i < nseen; i++)
        cr_assert_eq(seen[i], (long)i + 1, "event %zu is cursor %ld", i, seen[i]);
    bb_sse_close(&c);

    /* a malformed Last-Event-ID is a 400 naming the header, since= one
     * naming the parameter */
    const char *bad[] = {"Last-Event-ID: 42", NULL};
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe", bad, 10), 400);
    cr_assert(strstr(c.buf, "\"path\":\"Last-Event-ID\""), "%s", c.buf);
    bb_sse_close(&c);
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?since=cursor_1", NULL, 10), 400);
    cr_assert(strstr(c.buf, "\"path\":\"$.since\""), "%s", c.buf);
    bb_sse_close(&c);
}

Test(sse, twin_and_type_filters)
{
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?since=cursor_000000&twin_id=fa", NULL, 10),
                 200);
    bb_sse t;
    cr_assert_eq(
        bb_sse_open(&t, &srv, "/subscribe?since=cursor_000000&types=SimulationCompleted", NULL,
                    10),
        200);
    for (int i = 0; i < 6; i++)
        ingest(&srv, i % 2 ? "fb" : "fa", i);
    json_decref(bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"fb\",\"parameters\":{\"base_yield\":0.85},\"seed\":3,"
                       "\"n_samples\":200}",
                       200));
    ingest(&srv, "fa", 99);
    cr_assert(bb_sse_wait_count(&c, 5, 10), "%zu events", c.nev);
    cr_assert(!bb_sse_wait_count(&c, 6, 0.5), "an event of another twin arrived");
    long expect[] = {1, 3, 5, 8};
    for (size_t i = 0; i < 4; i++) {
        check_event(&c, i + 1, expect[i]);
        json_t *d = json_loads(c.ev[i + 1].data, 0, NULL);
        cr_assert_str_eq(json_string_value(json_object_get(d, "twin_id")), "fa");
        json_decref(d);
    }
    cr_assert(bb_sse_wait_count(&t, 2, 10));
    cr_assert_str_eq(t.ev[1].event, "SimulationCompleted");
    cr_assert_str_eq(t.ev[1].id, "cursor_000007");
    cr_assert(!bb_sse_wait_count(&t, 3, 0.3));
    bb_sse_close(&t);
    bb_sse_close(&c);
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?types=Nope", NULL, 10), 400);
    cr_assert(strstr(c.buf, "$.types"), "%s", c.buf);
    bb_sse_close(&c);
}

Test(sse_limit, third_stream_over_the_limit_is_503, .timeout = 90)
{
    bb_server s;
    const char *args[] = {"--max-sse-connections", "2", NULL};
    bb_start(&s, args, NULL, NULL);
    bb_sse a, b, c;
    cr_assert_eq(bb_sse_open(&a, &s, "/subscribe", NULL, 10), 200);
    cr_assert_eq(bb_sse_open(&b, &s, "/subscribe", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&a, 1, 10) && bb_sse_wait_count(&b, 1, 10));
    cr_assert_eq(bb_sse_open(&c, &s, "/subscribe", NULL, 10), 503);
    json_t *j = json_loads(c.buf, 0, NULL);
    cr_assert_not_null(j, "503 body is not JSON: %s", c.buf);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "overloaded");
    cr_assert(json_string_length(json_object_get(json_object_get(j, "error"), "message")) > 0);
    json_decref(j);
    bb_sse_close(&c);
    /* A dropped stream frees its slot: the hub peeks suspended sockets on
     * every 5 s tick (api/stream.h), so within one tick and a bit. */
    bb_sse_close(&a);
    long st = 0;
    for (int i = 0; i < 80 && st != 200; i++) {
        st = bb_sse_open(&c, &s, "/subscribe", NULL, 10);
        if (st != 200) {
            bb_sse_close(&c);
            usleep(100000);
        }
    }
    cr_assert_eq(st, 200, "the slot of a closed stream was not released within 8 s");
    bb_sse_close(&c);
    bb_sse_close(&b);
    cr_assert_eq(bb_stop(&s, 0), 0);
}

Test(sse, heartbeat_on_an_idle_stream, .timeout = 40)
{
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe", NULL, 10), 200);
    long i = bb_sse_wait_type(&c, "heartbeat", 0, 16);
    cr_assert_geq(i, 0, "no heartbeat within 16 s");
    json_t *d = json_loads(c.ev[i].data, 0, NULL);
    cr_assert_not_null(d, "%s", c.ev[i].data);
    cr_assert(json_is_string(json_object_get(d, "ts")));
    json_decref(d);
    /* the stream is still alive: a new event arrives after the heartbeat */
    ingest(&srv, "hb", 1);
    cr_assert_geq(bb_sse_wait_type(&c, "TelemetryAppended", (size_t)i, 10), 0);
    bb_sse_close(&c);
}

/* Other streams ending (each signals the hub) must not put the heartbeat
 * off: before its ticks kept a schedule, a stream ending every second meant
 * an idle stream never got a heartbeat. Here a stream is opened, dropped and
 * then ended by the next event about every second, for up to 20 s. */
Test(sse, heartbeats_keep_coming_while_other_streams_end, .timeout = 60)
{
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?twin_id=quiet", NULL, 10), 200);
    long hb = -1;
    for (int i = 0; i < 25 && hb < 0; i++) {
        bb_sse d;
        cr_assert_eq(bb_sse_open(&d, &srv, "/subscribe", NULL, 10), 200);
        cr_assert(bb_sse_wait_count(&d, 1, 10));
        bb_sse_close(&d);
        ingest(&srv, "churn", i); /* the dropped stream's write fails: it ends */
        hb = bb_sse_wait_type(&c, "heartbeat", 0, 0.8);
    }
    cr_assert_geq(hb, 0, "no heartbeat on the idle stream while others ended");
    bb_sse_close(&c);
}

/* Open a live stream; returns the cursor its connected event names. */
static long open_live(bb_sse *c, const char *path)
{
    cr_assert_eq(bb_sse_open(c, &srv, path, NULL, 10), 200);
    cr_assert(bb_sse_wait_count(c, 1, 10));
    json_t *d = json_loads(c->ev[0].data, 0, NULL);
    long at = idnum(json_string_value(json_object_get(d, "cursor")));
    json_decref(d);
    return at;
}

/* POST n events of twin in one batch, metric v = first, first + 1, ... */
static void post_batch(const char *twin, int first, int n)
{
    char *body = malloc((size_t)n * 96 + 2);
    cr_assert_not_null(body);
    size_t k = 0;
    body[k++] = '[';
    for (int i = 0; i < n; i++)
        k += (size_t)sprintf(body + k, "%s{\"twin_id\":\"%s\",\"asset_id\":\"a\","
                             "\"metrics\":{\"v\":%d}}", i ? "," : "", twin, first + i);
    body[k++] = ']';
    body[k] = 0;
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest", body, 200));
    free(body);
}

/* A client that stops reading while events pile up: the server's writes
 * find its socket full and libmicrohttpd waits for room, then the direct
 * writes take over again. Nothing may be lost, repeated or reordered on the
 * way, and the stream must stay usable. */
Test(sse, a_client_that_stops_reading_loses_nothing, .timeout = 120)
{
    enum { N = 20000, BATCH = 1000 };
    double full0 = bb_metric(&srv, "opstwin_sse_socket_full_total");
    cr_assert_geq(full0, 0, "no opstwin_sse_socket_full_total in /metrics");
    bb_sse c;
    long start = open_live(&c, "/subscribe?twin_id=stall");
    /* not read while N events arrive (about 5 MB of frames) */
    for (int b = 0; b < N / BATCH; b++)
        post_batch("stall", b * BATCH, BATCH);
    cr_assert_gt(bb_metric(&srv, "opstwin_sse_socket_full_total"), full0,
                 "the client's socket never filled: the test did not test the slow path");
    cr_assert(bb_sse_wait_count(&c, 1 + N, 60), "%zu of %d events", c.nev - 1, N);
    for (size_t i = 1; i <= N; i += 997)
        check_event(&c, i, start + (long)i);
    for (size_t i = 1; i <= N; i++)
        cr_assert_eq(idnum(c.ev[i].id), start + (long)i, "event %zu is %s", i, c.ev[i].id);
    /* still live afterwards */
    ingest(&srv, "stall", -1);
    cr_assert(bb_sse_wait_count(&c, 2 + N, 10));
    check_event(&c, 1 + N, start + N + 1);
    bb_sse_close(&c);
}

/* Streams that come and go while events flow (dropped without a word, as
 * clients do): the server's sender must let go of each (its queue holds a
 * reference; libmicrohttpd's release drops the other), a stream that stays
 * gets every event in order, and the dropped ones are gone once a write to
 * them fails. Under ASan a stream freed too early or twice fails here. */
Test(sse, streams_dropped_while_events_flow_are_released, .timeout = 120)
{
    bb_sse w;
    long start = open_live(&w, "/subscribe?twin_id=churn2");
    enum { ROUNDS = 20, OPEN = 8, BATCH = 25 };
    int sent = 0;
    for (int r = 0; r < ROUNDS; r++) {
        bb_sse c[OPEN];
        for (int i = 0; i < OPEN; i++)
            cr_assert_eq(bb_sse_open(&c[i], &srv, i % 2 ? "/subscribe?twin_id=churn2" : "/subscribe",
                                     NULL, 10), 200);
        post_batch("churn2", sent, BATCH);
        sent += BATCH;
        /* half read what came, half never read; all are dropped */
        for (int i = 0; i < OPEN; i += 2)
            bb_sse_wait_count(&c[i], 2, 0.2);
        for (int i = 0; i < OPEN; i++)
            bb_sse_close(&c[i]);
    }
    cr_assert(bb_sse_wait_count(&w, 1 + (size_t)sent, 20), "%zu of %d", w.nev - 1, sent);
    for (int i = 1; i <= sent; i++)
        cr_assert_eq(idnum(w.ev[i].id), start + i);
    /* the next events find the dropped sockets closed: those streams end */
    double streams = 0;
    for (int t = 0; t < 40; t++) {
        ingest(&srv, "churn2", -1);
        if ((streams = bb_metric(&srv, "opstwin_sse_streams")) == 1)
            break;
        usleep(250 * 1000);
    }
    cr_assert_eq(streams, 1, "%.0f streams still open; only the witness should be", streams);
    bb_sse_close(&w);
}

/* An HTTP/1.1 client gets the stream as plain bytes up to the close (not
 * chunked): what the sender writes straight to the socket and what
 * libmicrohttpd sends are one byte stream. */
Test(sse, an_http11_stream_is_not_chunked)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[2600];
    int k = snprintf(req, sizeof req, "GET /subscribe HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\n\r\n", srv.token);
    cr_assert_eq(send(fd, req, (size_t)k, MSG_NOSIGNAL), k);
    char buf[8192];
    size_t len = 0;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (len < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        cr_assert_gt(n, 0, "stream ended before the connected event");
        len += (size_t)n;
        buf[len] = 0;
        char *h = strstr(buf, "\r\n\r\n");
        if (h && strstr(h, "event: connected\n"))
            break;
    }
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    cr_assert_null(strcasestr(buf, "Transfer-Encoding"), "%s", buf);
    cr_assert_not_null(strcasestr(buf, "Connection: close"), "%s", buf);
    cr_assert(strncmp(strstr(buf, "\r\n\r\n") + 4, "retry: 2000\nevent: connected\n", 29) == 0,
              "%s", buf);
    close(fd);
}

Test(sse_shutdown, sigterm_with_open_streams_exits_0, .timeout = 60)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    bb_sse a, b;
    cr_assert_eq(bb_sse_open(&a, &s, "/subscribe", NULL, 10), 200);
    cr_assert_eq(bb_sse_open(&b, &s, "/subscribe?since=cursor_000000", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&a, 1, 10) && bb_sse_wait_count(&b, 1, 10));
    ingest(&s, "sd", 1);
    cr_assert(bb_sse_wait_count(&a, 2, 10));
    cr_assert_eq(bb_stop(&s, 1), 0, "server did not exit 0 with open streams");
    /* the streams ended */
    bb_sse_wait_count(&a, 1000, 5);
    bb_sse_wait_count(&b, 1000, 5);
    cr_assert(a.closed && b.closed, "streams still open after the server exited");
    bb_sse_close(&a);
    bb_sse_close(&b);
    char *log = bb_server_log(&s);
    cr_assert(strstr(log, "\"stopped\""), "%s", log);
    free(log);
    bb_stop(&s, 0);
}

/* A filtered stream that has everything it asked for is not behind, however
 * many events of other twins or types were committed since it last looked:
 * its next event comes, never `lagged`. (The lag was measured before
 * reading, so 50,000 events of another twin between two of its visits ended
 * it.) Its heartbeat's id is past every event it skipped. */
Test(sse, filtered_streams_are_not_lagged_by_events_they_skip, .timeout = 120)
{
    bb_sse q, t;
    cr_assert_eq(bb_sse_open(&q, &srv, "/subscribe?twin_id=quiet", NULL, 10), 200);
    cr_assert_eq(bb_sse_open(&t, &srv, "/subscribe?types=SimulationCompleted", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&q, 1, 10) && bb_sse_wait_count(&t, 1, 10));
    /* 60,000 events of another twin, in NDJSON batches of 5,000 */
    size_t cap = 5000 * 64;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    for (int b = 0; b < 12; b++) {
        size_t len = 0;
        for (int i = 0; i < 5000; i++)
            len += (size_t)snprintf(body + len, cap - len,
                                    "{\"twin_id\":\"busy\",\"asset_id\":\"a\",\"metrics\":{\"v\":%d}}\n",
                                    i);
        const char *h[] = {"Content-Type: application/x-ndjson", NULL};
        bb_resp r;
        cr_assert_eq(bb_http(&srv, "POST", "/telemetry/ingest", body, h, &r), 200, "%s", r.body);
        bb_resp_free(&r);
    }
    free(body);
    ingest(&srv, "quiet", 1);
    json_decref(bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"fb\",\"parameters\":{\"base_yield\":0.85},\"seed\":3,"
                       "\"n_samples\":200}",
                       200));
    long qi = bb_sse_wait_type(&q, "TelemetryAppended", 1, 10);
    long ti = bb_sse_wait_type(&t, "SimulationCompleted", 1, 10);
    for (size_t k = 0; k < q.nev; k++)
        cr_assert_str_neq(q.ev[k].event, "lagged", "twin filter: %s", q.ev[k].data);
    for (size_t k = 0; k < t.nev; k++)
        cr_assert_str_neq(t.ev[k].event, "lagged", "type filter: %s", t.ev[k].data);
    cr_assert_geq(qi, 0, "twin filter: its event did not come");
    cr_assert_geq(ti, 0, "type filter: its event did not come");
    cr_assert_gt(idnum(q.ev[qi].id), 60000); /* after the other twin's (and detection's) */
    cr_assert(strstr(q.ev[qi].data, "\"twin_id\":\"quiet\""), "%s", q.ev[qi].data);
    /* the next heartbeat (within 8 s of the last write, on a 5 s tick) */
    long hb = bb_sse_wait_type(&t, "heartbeat", (size_t)ti + 1, 16);
    cr_assert_geq(hb, 0, "type filter: no heartbeat");
    cr_assert_geq(idnum(t.ev[hb].id), idnum(t.ev[ti].id), "heartbeat id '%s' before '%s'",
                  t.ev[hb].id, t.ev[ti].id);
    bb_sse_close(&t);
    bb_sse_close(&q);
}

/* The connected event carries the cursor as its id, so an EventSource that
 * drops before any event comes resumes from there (Last-Event-ID) and loses
 * nothing committed meanwhile. */
Test(sse, the_connected_event_has_an_id_to_resume_from)
{
    ingest(&srv, "cid", 1);
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?twin_id=cid", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&c, 1, 10));
    cr_assert_str_eq(c.ev[0].event, "connected");
    cr_assert_eq(idnum(c.ev[0].id), 1, "connected id '%s'", c.ev[0].id);
    char h[128];
    snprintf(h, sizeof h, "Last-Event-ID: %s", c.ev[0].id);
    bb_sse_close(&c); /* dropped before any event */
    ingest(&srv, "cid", 2);
    const char *hdr[] = {h, NULL};
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?twin_id=cid", hdr, 10), 200);
    cr_assert(bb_sse_wait_count(&c, 2, 10), "the event committed while away did not come");
    check_event(&c, 1, 2);
    bb_sse_close(&c);
}

/* A Last-Event-ID beyond the newest event (a browser that kept it across a
 * reset of the server's data) is a 400 naming the header, not a stream
 * that stays silent until the log reaches it. */
Test(sse, a_last_event_id_beyond_the_log_is_400)
{
    ingest(&srv, "far", 1);
    const char *h[] = {"Last-Event-ID: cursor_000500", NULL};
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe", h, 10), 400);
    cr_assert(strstr(c.buf, "\"path\":\"Last-Event-ID\""), "%s", c.buf);
    cr_assert(strstr(c.buf, "\"newest_cursor\":\"cursor_000001\""), "%s", c.buf);
    bb_sse_close(&c);
}
