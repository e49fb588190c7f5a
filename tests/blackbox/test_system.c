/* Black-box tests of the foundation: system endpoints, envelopes, request
 * ids, configuration precedence, flags and graceful shutdown. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

static void assert_envelope(const bb_resp *r, const char *code)
{
    cr_assert_not_null(r->json, "body is not JSON: %s", r->body);
    json_t *e = json_object_get(r->json, "error");
    cr_assert(json_is_object(e), "no error object: %s", r->body);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    cr_assert(json_string_length(json_object_get(e, "message")) > 0);
}

TestSuite(system, .init = up, .fini = down, .timeout = 120);

Test(system, health_reports_service_and_components)
{
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "GET", "/health", NULL, NULL, &r), 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "healthy");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "service")), "OpsTwin");
    cr_assert(json_is_string(json_object_get(r.json, "version")));
    json_t *c = json_object_get(r.json, "components");
    cr_assert(json_is_object(c));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "http"), "status")),
                     "ok");
    char ct[128];
    cr_assert_eq(bb_header(&r, "Content-Type", ct, sizeof ct), 0);
    cr_assert_str_eq(ct, "application/json");
    bb_resp_free(&r);
}

Test(system, manifest_has_contract_fields_and_routed_endpoints)
{
    bb_resp r, o;
    cr_assert_eq(bb_http(&srv, "GET", "/.well-known/aiw-manifest.json", NULL, NULL, &r), 200);
    json_t *m = r.json;
    cr_assert(json_is_string(json_object_get(m, "aiw_version")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "service"), "name")),
                     "OpsTwin");
    cr_assert(json_is_string(json_object_get(m, "site_type")));
    cr_assert(json_is_array(json_object_get(m, "schemas")));
    json_t *auth = json_object_get(m, "auth");
    cr_assert(json_object_get(auth, "read") && json_object_get(auth, "write") &&
              json_object_get(auth, "action"));
    json_t *lim = json_object_get(m, "limits");
    cr_assert(json_is_integer(json_object_get(lim, "max_sse_connections")));
    cr_assert(json_is_integer(json_object_get(lim, "max_diff_page_size")));
    cr_assert_eq(json_array_size(json_object_get(m, "event_types")), 14);
    cr_assert(json_is_array(json_object_get(json_object_get(m, "simulation"), "engines")));

    /* every manifest endpoint is served by the server (not 404/405) */
    cr_assert_eq(bb_http(&srv, "GET", "/openapi.json", NULL, NULL, &o), 200);
    const char *name;
    json_t *ep;
    json_object_foreach(json_object_get(m, "endpoints"), name, ep) {
        const char *path = json_string_value(json_object_get(ep, "path"));
        const char *method = json_string_value(json_object_get(ep, "method"));
        char lower[16];
        size_t i = 0;
        for (; method[i] && i < 15; i++)
            lower[i] = (char)(method[i] | 0x20);
        lower[i] = 0;
        json_t *op = json_object_get(json_object_get(json_object_get(o.json, "paths"), path), lower);
        cr_assert(json_is_object(op), "%s %s routed but not in OpenAPI", method, path);
    }
    bb_resp_free(&r);
    bb_resp_free(&o);
}

/* Every documented operation must be routed: ask the server for each
 * (path params filled with a dummy) and see that it is not 404-unrouted or
 * 405, and the reverse through the manifest (test above). */
Test(system, openapi_documents_exactly_the_routed_paths)
{
    bb_resp o, m;
    cr_assert_eq(bb_http(&srv, "GET", "/openapi.json", NULL, NULL, &o), 200);
    cr_assert_str_eq(json_string_value(json_object_get(o.json, "openapi")), "3.1.0");
    cr_assert_eq(bb_http(&srv, "GET", "/.well-known/aiw-manifest.json", NULL, NULL, &m), 200);
    size_t documented = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(o.json, "paths"), path, item) {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) {
            documented++;
            int found = 0;
            const char *n;
            json_t *ep;
            json_object_foreach(json_object_get(m.json, "endpoints"), n, ep) {
                if (strcmp(json_string_value(json_object_get(ep, "path")), path) == 0 &&
                    strcasecmp(json_string_value(json_object_get(ep, "method")), method) == 0)
                    found = 1;
            }
            cr_assert(found, "%s %s documented but not routed", method, path);
            cr_assert(json_is_object(json_object_get(op, "responses")));
            cr_assert(json_is_string(json_object_get(op, "summary")));
            /* the route answers: never 405, never the unrouted 404 */
            char url[512];
            size_t k = 0;
            for (const char *p = path; *p && k < sizeof url - 8; p++) {
                if (*p == '{') {
                    memcpy(url + k, "x1", 2);
                    k += 2;
                    while (*p && *p != '}')
                        p++;
                } else {
                    url[k++] = *p;
                }
            }
            url[k] = 0;
            if (strcmp(path, "/subscribe") == 0)
                continue; /* a stream: answered, but never ends by itself */
            char upper[16];
            size_t i = 0;
            for (; method[i] && i < 15; i++)
                upper[i] = (char)(method[i] & ~0x20);
            upper[i] = 0;
            bb_resp r;
            long st = bb_http(&srv, upper, url, strcmp(upper, "GET") ? "{}" : NULL, NULL, &r);
            cr_assert_neq(st, 405, "%s %s -> 405", upper, url);
            if (st == 404) {
                const char *msg = json_string_value(
                    json_object_get(json_object_get(r.json, "error"), "message"));
                cr_assert(msg && !strstr(msg, "no endpoint at"), "%s %s unrouted", upper, url);
            }
            bb_resp_free(&r);
            /* and takes every query parameter it documents */
            size_t q = k, np = 0;
            json_t *prm;
            json_array_foreach(json_object_get(op, "parameters"), i, prm) {
                const char *name = json_string_value(json_object_get(prm, "name"));
                if (strcmp(json_string_value(json_object_get(prm, "in")), "query") == 0)
                    q += (size_t)snprintf(url + q, sizeof url - q, "%c%s=", np++ ? '&' : '?',
                                          name);
            }
            if (np) {
                bb_http(&srv, upper, url, strcmp(upper, "GET") ? "{}" : NULL, NULL, &r);
                cr_assert(!strstr(r.body, "unknown query parameter"), "%s %s: %s", upper, url,
                          r.body);
                bb_resp_free(&r);
            }
        }
    }
    cr_assert_eq(documented, json_object_size(json_object_get(m.json, "endpoints")));
    bb_resp_free(&o);
    bb_resp_free(&m);
}

/* A query parameter the route does not take is a 400 naming it, before the
 * handler runs: a misspelt one is not ignored (`cursor=` for `since=` would
 * read from the start, `start=` for `start_time=` the whole range). */
Test(system, unknown_query_parameter_is_400_naming_it)
{
    static const struct { const char *method, *url, *path, *hint; } cases[] = {
        {"GET", "/telemetry/query?twin_id=x&start=2026-01-01T00:00:00Z", "$.start", "start_time"},
        {"GET", "/diff?cursor=cursor_000001", "$.cursor", "since"},
        {"GET", "/diff?since=cursor_000000&limit=5&twinid=x", "$.twinid", "twin_id"},
        {"GET", "/health?verbose", "$.verbose", "takes none"},
        {"GET", "/subscribe?since=cursor_000000&last_event_id=3", "$.last_event_id", "since"},
        {"GET", "/diff?a%20b=1", "$[\"a b\"]", "since"},
        {"POST", "/telemetry/ingest?async=1", "$.async", "takes none"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_resp r;
        bb_http(&srv, cases[i].method, cases[i].url,
                strcmp(cases[i].method, "POST") ? NULL
                                                : "{\"twin_id\":\"qp\",\"asset_id\":\"a\","
                                                  "\"metrics\":{\"v\":1}}",
                NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", cases[i].path);
        cr_assert(strstr(r.body, "unknown query parameter") && strstr(r.body, cases[i].hint),
                  "%s %s: %s", cases[i].method, cases[i].url, r.body);
        bb_resp_free(&r);
    }
    /* the refused write stored nothing */
    json_t *q = bb_req(&srv, "GET", "/telemetry/query?twin_id=qp", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(q, "count")), 0);
    json_decref(q);
    /* the ones it takes are fine, in any order, and so are the empty pieces
     * URL builders leave */
    json_decref(bb_req(&srv, "GET", "/diff?limit=5&since=cursor_000000&types=TelemetryAppended",
                       NULL, 200));
    json_decref(bb_req(&srv, "GET", "/diff?&limit=5&&since=cursor_000000&", NULL, 200));
}

Test(system, unknown_path_is_404_envelope)
{
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "GET", "/no/such/thing", NULL, NULL, &r), 404);
    assert_envelope(&r, "not_found");
    bb_resp_free(&r);
}

/* Bytes that are not UTF-8 (after percent-decoding) in a path, a query
 * argument or a quoted header are a 4xx naming where they came, never a 500
 * "could not encode the reply". */
Test(system, bytes_that_are_not_utf8_are_4xx_naming_the_field)
{
    static const struct {
        const char *method, *path, *field;
    } cases[] = {
        {"POST", "/proposals/%FF/approve", "$.path"},
        {"POST", "/rollback/%C0%AF", "$.path"},
        {"GET", "/no/such/%ED%A0%80", "$.path"},
        {"GET", "/diff?twin_id=%FF", "$.twin_id"},
        {"GET", "/telemetry/query?twin_id=t1&asset_id=a%E2%82", "$.asset_id"},
        {"GET", "/diff?%FF=1", "$.query"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_resp r;
        long st = bb_http(&srv, cases[i].method, cases[i].path, "{}", NULL, &r);
        cr_assert_eq(st, 400, "%s %s -> %ld %s", cases[i].method, cases[i].path, st, r.body);
        bb_assert_error(&r, 400, "validation_failed", cases[i].field);
        bb_resp_free(&r);
    }
    /* the refused requests are in the access log, their paths escaped */
    char *log = NULL;
    for (int i = 0; i < 50 && !(log && strstr(log, "/rollback/\\\\xc0\\\\xaf")); i++) {
        free(log);
        usleep(20000);
        log = bb_server_log(&srv);
    }
    cr_assert(log && strstr(log, "\"path\":\"/proposals/\\\\xff/approve\""), "%s", log);
    cr_assert(strstr(log, "/rollback/\\\\xc0\\\\xaf"));
    free(log);
    /* UTF-8 that is well-formed goes through to the handler */
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "GET", "/r/telemetry/%E2%82%AC", NULL, NULL, &r), 404);
    cr_assert(strstr(r.body, "'\xe2\x82\xac'"), "the id is quoted as it came: %s", r.body);
    bb_resp_free(&r);
    /* a header quoted in a message is escaped, not refused by the encoder */
    const char *h[] = {"Last-Event-ID: \xff\xfe", NULL};
    long st = bb_http(&srv, "GET", "/subscribe", NULL, h, &r);
    cr_assert_eq(st, 400, "%ld %s", st, r.body);
    bb_assert_error(&r, 400, "validation_failed", "Last-Event-ID");
    bb_resp_free(&r);
}

Test(system, wrong_method_is_405_with_allow)
{
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "DELETE", "/health", NULL, NULL, &r), 405);
    assert_envelope(&r, "method_not_allowed");
    char allow[64];
    cr_assert_eq(bb_header(&r, "Allow", allow, sizeof allow), 0);
    cr_assert(strstr(allow, "GET"));
    bb_resp_free(&r);
}

Test(system, oversized_body_is_413)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = 0;
    bb_resp r;
    const char *h[] = {"Expect: 100-continue", NULL}; /* see test_ingest.c */
    cr_assert_eq(bb_http(&srv, "POST", "/health", big, h, &r), 413);
    assert_envelope(&r, "payload_too_large");
    bb_resp_free(&r);
    free(big);
}

Test(system, request_id_echoed_or_generated)
{
    bb_resp r;
    const char *h[] = {"X-Request-Id: my-trace-42", NULL};
    bb_http(&srv, "GET", "/health", NULL, h, &r);
    char id[80];
    cr_assert_eq(bb_header(&r, "X-Request-Id", id, sizeof id), 0);
    cr_assert_str_eq(id, "my-trace-42");
    bb_resp_free(&r);
    bb_http(&srv, "GET", "/health", NULL, NULL, &r);
    cr_assert_eq(bb_header(&r, "X-Request-Id", id, sizeof id), 0);
    cr_assert(strncmp(id, "req_", 4) == 0, "generated id %s", id);
    bb_resp_free(&r);
}

Test(system, metrics_count_requests_by_route_and_status)
{
    bb_resp r;
    bb_http(&srv, "GET", "/health", NULL, NULL, &r);
    bb_resp_free(&r);
    bb_http(&srv, "GET", "/nope", NULL, NULL, &r);
    bb_resp_free(&r);
    /* a request is counted when it completes, just after its last byte is
     * written: the client may have its response a moment before that (CI
     * once saw /metrics without the 404) */
    const char *health = "opstwin_http_requests_total{route=\"health\",method=\"GET\","
                         "path=\"/health\",status=\"200\"}";
    for (int i = 0;; i++) {
        cr_assert_eq(bb_http(&srv, "GET", "/metrics", NULL, NULL, &r), 200);
        if ((strstr(r.body, health) && strstr(r.body, "status=\"404\"")) || i == 100)
            break;
        bb_resp_free(&r);
        usleep(10000);
    }
    cr_assert(strstr(r.body, health), "%s", r.body);
    cr_assert(strstr(r.body, "status=\"404\""), "%s", r.body);
    cr_assert(strstr(r.body, "opstwin_http_request_duration_seconds_bucket"));
    /* this request is in flight (a previous one may still be completing) */
    const char *inflight = strstr(r.body, "\nopstwin_http_requests_in_flight ");
    cr_assert(inflight && atoi(inflight + 33) >= 1, "%s", r.body);
    cr_assert(strstr(r.body, "process_resident_memory_bytes"));
    cr_assert(strstr(r.body, "opstwin_uptime_seconds"));
    bb_resp_free(&r);
}

Test(system, docs_page_is_html)
{
    bb_resp r;
    cr_assert_eq(bb_http(&srv, "GET", "/docs", NULL, NULL, &r), 200);
    cr_assert(strstr(r.body, "<html") || strstr(r.body, "<!doctype"));
    bb_resp_free(&r);
}

Test(system, cors_off_by_default)
{
    bb_resp r;
    const char *h[] = {"Origin: http://example.com", NULL};
    bb_http(&srv, "GET", "/health", NULL, h, &r);
    char v[64];
    cr_assert_neq(bb_header(&r, "Access-Control-Allow-Origin", v, sizeof v), 0);
    bb_resp_free(&r);
}

Test(cors, configured_origin_gets_headers_and_preflight, .timeout = 60)
{
    bb_server s;
    const char *args[] = {"--cors-origins", "http://a.example, http://b.example", NULL};
    bb_start(&s, args, NULL, NULL);
    bb_resp r;
    const char *h[] = {"Origin: http://b.example", NULL};
    bb_http(&s, "GET", "/health", NULL, h, &r);
    char v[64];
    cr_assert_eq(bb_header(&r, "Access-Control-Allow-Origin", v, sizeof v), 0);
    cr_assert_str_eq(v, "http://b.example");
    bb_resp_free(&r);
    cr_assert_eq(bb_http(&s, "OPTIONS", "/health", NULL, h, &r), 204);
    cr_assert_eq(bb_header(&r, "Access-Control-Allow-Methods", v, sizeof v), 0);
    bb_resp_free(&r);
    const char *other[] = {"Origin: http://evil.example", NULL};
    bb_http(&s, "GET", "/health", NULL, other, &r);
    cr_assert_neq(bb_header(&r, "Access-Control-Allow-Origin", v, sizeof v), 0);
    bb_resp_free(&r);
    cr_assert_eq(bb_stop(&s, 0), 0);
}

/* flags > environment > .env > defaults */
Test(config, precedence_and_masking, .timeout = 60)
{
    char dir[] = "/tmp/opstwin-cfg.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/.env", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nPORT=7001\nLOG_LEVEL=Warning\nexport MAX_DIFF_PAGE_SIZE=\"250\"\n"
               "JWT_SECRET_KEY=supersecret\nDATABASE_URL=postgresql://u:pw@db:5432/x\n");
    fclose(f);
    const char *argv[] = {bb_bin(), "serve", "--print-config", "--max-diff-page-size", "300",
                          NULL};
    const char *env[] = {"MAX_SSE_CONNECTIONS=77", "MAX_DIFF_PAGE_SIZE=200", NULL};
    char *out, *err;
    cr_assert_eq(bb_run(argv, dir, env, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "PORT=7001\n"), "%s", out);              /* .env over default */
    cr_assert(strstr(out, "LOG_LEVEL=warning\n"), "%s", out);      /* any case */
    cr_assert(strstr(out, "MAX_SSE_CONNECTIONS=77\n"), "%s", out); /* env */
    cr_assert(strstr(out, "MAX_DIFF_PAGE_SIZE=300\n"), "%s", out); /* flag over env over .env */
    cr_assert(strstr(out, "HOST=127.0.0.1\n"), "%s", out);         /* default */
    cr_assert(!strstr(out, "supersecret"), "secret printed: %s", out);
    cr_assert(!strstr(out, ":pw@"), "password printed: %s", out);
    cr_assert(strstr(out, "JWT_SECRET_KEY=***\n"), "%s", out);
    free(out);
    free(err);
    const char *argv2[] = {bb_bin(), "serve", "--print-config", NULL};
    const char *env2[] = {"MAX_DIFF_PAGE_SIZE=200", NULL};
    cr_assert_eq(bb_run(argv2, dir, env2, &out, &err), 0);
    cr_assert(strstr(out, "MAX_DIFF_PAGE_SIZE=200\n"), "%s", out); /* env over .env */
    free(out);
    free(err);
    unlink(path);
    rmdir(dir);
}

Test(cli, bad_flags_and_values_exit_2_with_a_message)
{
    struct { const char *a, *b, *expect; } cases[] = {
        {"--bogus", NULL, "unknown option '--bogus'"},
        {"--port", "seventy", "not an integer from 0 to 65535"},
        {"--port", "70000", "not an integer from 0 to 65535"},
        {"--log-level", "loud", "debug, info, warning"},
        {"--public-read", "maybe", "true, false"},
        {"--port", NULL, "needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {bb_bin(), "serve", cases[i].a, cases[i].b, NULL};
        char *out, *err;
        cr_assert_eq(bb_run(argv, "/tmp", NULL, &out, &err), 2, "%s %s", cases[i].a,
                     cases[i].b ? cases[i].b : "");
        cr_assert(strstr(err, cases[i].expect), "stderr: %s", err);
        free(out);
        free(err);
    }
    const char *env[] = {"PORT=notaport", NULL};
    const char *argv[] = {bb_bin(), "serve", "--print-config", NULL};
    char *out, *err;
    cr_assert_eq(bb_run(argv, "/tmp", env, &out, &err), 2);
    cr_assert(strstr(err, "PORT"), "%s", err);
    free(out);
    free(err);
    const char *unk[] = {bb_bin(), "frobnicate", NULL};
    cr_assert_eq(bb_run(unk, "/tmp", NULL, &out, &err), 2);
    cr_assert(strstr(err, "unknown command"));
    free(out);
    free(err);
}

Test(cli, every_subcommand_has_help)
{
    char *out, *err;
    const char *argv[] = {bb_bin(), "help", NULL};
    cr_assert_eq(bb_run(argv, "/tmp", NULL, &out, &err), 0);
    /* each command listed in `help` answers --help with exit 0 and usage */
    char *save = NULL, *copy = strdup(out);
    int checked = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[32];
        if (strncmp(line, "  ", 2) != 0 || sscanf(line, " %31s", name) != 1)
            continue;
        const char *a[] = {bb_bin(), name, "--help", NULL};
        char *o2, *e2;
        cr_assert_eq(bb_run(a, "/tmp", NULL, &o2, &e2), 0, "%s --help", name);
        cr_assert(strstr(o2, "usage: opstwin"), "%s --help: %s", name, o2);
        free(o2);
        free(e2);
        checked++;
    }
    cr_assert_geq(checked, 3);
    free(copy);
    free(out);
    free(err);
}

Test(shutdown, sigterm_finishes_and_exits_0, .timeout = 60)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    bb_resp r;
    cr_assert_eq(bb_http(&s, "GET", "/health", NULL, NULL, &r), 200);
    bb_resp_free(&r);
    cr_assert_eq(bb_stop(&s, 1), 0);
    char *log = bb_server_log(&s);
    cr_assert(strstr(log, "shutting down") && strstr(log, "\"stopped\""), "%s", log);
    free(log);
    bb_stop(&s, 0);
}

/* After SIGTERM the server finishes what is in flight (up to 10 s) and
 * refuses new requests meanwhile: a request whose body is still arriving
 * keeps it draining while a new one is answered 503. */
Test(shutdown, new_requests_get_503_while_in_flight_ones_drain, .timeout = 60)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char head[3000];
    int n = snprintf(head, sizeof head,
                     "POST /telemetry/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"twin",
                     s.token);
    cr_assert_eq(write(fd, head, (size_t)n), n);
    usleep(300000);
    cr_assert_eq(kill(s.pid, SIGTERM), 0);
    usleep(500000);
    bb_resp r;
    cr_assert_eq(bb_http(&s, "GET", "/health", NULL, NULL, &r), 503, "%s", r.body);
    cr_assert(strstr(r.body, "shutting down"), "%s", r.body);
    char conn[32];
    cr_assert_eq(bb_header(&r, "Connection", conn, sizeof conn), 0);
    cr_assert_str_eq(conn, "close");
    bb_resp_free(&r);
    close(fd); /* the request in flight goes away: the drain ends */
    cr_assert_eq(bb_stop(&s, 0), 0, "server did not exit 0 after the drain");
}
