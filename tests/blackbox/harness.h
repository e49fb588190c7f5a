/* harness.h - black-box test harness: run the real opstwin binary.
 *
 * bb_start picks a free loopback port, makes a temporary data folder, starts
 * `$OPSTWIN_BIN serve` there (default build/asan/opstwin), waits for
 * /health, and bb_stop stops it by PID (SIGTERM, then SIGKILL after a
 * timeout) and removes the folder. HTTP helpers use libcurl.
 * Every later issue's black-box tests reuse this.
 */
#ifndef OT_TEST_HARNESS_H
#define OT_TEST_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct bb_server {
    pid_t pid;
    int port;
    char dir[256];       /* temporary folder: data, server.log */
    char base[64];       /* http://127.0.0.1:PORT */
    char token[2048];    /* admin token when the server printed one */
    char database_url[512]; /* PostgreSQL mode: DATABASE_URL given to the server */
} bb_server;

typedef struct bb_resp {
    long status;
    char *body;          /* NUL-terminated */
    size_t len;
    char *headers;       /* raw header block */
    json_t *json;        /* parsed body when it is JSON, else NULL */
} bb_resp;

/* Backend mode: with OPSTWIN_TEST_BACKEND=postgres, bb_start gives each
 * server folder its own fresh database on OPSTWIN_TEST_PG_URL (its URL is kept
 * in DIR/database_url, so a restart on the same folder reuses it) and passes
 * it as DATABASE_URL, unless the test sets DATABASE_URL itself; removing the
 * folder (bb_stop without keep_dir, bb_stop_checked) drops the database. */

/* 1 when the suite runs against PostgreSQL (OPSTWIN_TEST_BACKEND=postgres). */
int bb_pg_mode(void);

/* The server's DATABASE_URL in PostgreSQL mode, else NULL. Borrowed from s. */
const char *bb_database_url(const bb_server *s);

/* Run SQL (statements separated by ';') on the server's PostgreSQL database;
 * fails the test on error. Returns the rows changed by the last statement. */
long bb_pg_exec(const bb_server *s, const char *sql);

/* Run SQL on a STOPPED server's store, whichever backend it has: its
 * SQLite file (DIR/data/opstwin.db) or its PostgreSQL database. For tests
 * that tamper with stored data. Fails the test on error; returns the rows
 * changed by the last statement. */
long bb_db_exec(const bb_server *s, const char *sql);

/* Path of the binary under test. */
const char *bb_bin(void);

/* Start a server with extra args (NULL-terminated, may be NULL) and extra
 * environment "K=V" strings (NULL-terminated, may be NULL). Fails the test
 * when it does not come up in time. dir: reuse this folder (NULL = new). */
void bb_start(bb_server *s, const char *const *args, const char *const *env, const char *dir);

/* SIGTERM and wait; returns the exit status (or -1 on timeout -> killed).
 * keep_dir: leave the folder (to restart on it). */
int bb_stop(bb_server *s, int keep_dir);

/* Stop, remove the folder, and fail the test (with the tail of the
 * server's log) unless the server exited 0 on SIGTERM. */
void bb_stop_checked(bb_server *s);

/* The same for a suite's .fini. Criterion does not fail a test for an
 * assertion in a fixture (it reports it and still counts the test as
 * passing, Criterion issue #211), so a server that does not exit 0 there
 * (a crash at shutdown, an ASan report) is also printed as a line starting
 * "BB-FIXTURE-FAILED " that scripts/test.sh counts as a failed test. */
void bb_stop_fixture(bb_server *s);

/* kill -9, wait, keep the folder. */
void bb_kill9(bb_server *s);

/* One request. headers: NULL-terminated "Name: value" list (may be NULL).
 * The server's admin token is sent unless headers hold an Authorization
 * line ("Authorization:" alone sends none).
 * body may be NULL. Returns the status; r is filled (free with bb_resp_free). */
long bb_http(const bb_server *s, const char *method, const char *path, const char *body,
             const char *const *headers, bb_resp *r);
void bb_resp_free(bb_resp *r);

/* Value of a response header (case-insensitive) copied into out; 0 if found. */
int bb_header(const bb_resp *r, const char *name, char *out, size_t outlen);

/* Run a command (argv NULL-terminated) in cwd with extra env, capture
 * stdout and stderr (caller frees); returns the exit status. */
int bb_run(const char *const *argv, const char *cwd, const char *const *env, char **out,
           char **err);

/* A free TCP port on 127.0.0.1. */
int bb_free_port(void);

/* The contents of the server's log. Caller frees. */
char *bb_server_log(const bb_server *s);


/* --- conveniences for the API tests ------------------------------------- */

/* One request that must answer `expect` (fails the test otherwise, showing
 * the body). Returns the parsed JSON body (caller decrefs; NULL when the
 * body is not JSON). body may be NULL. */
json_t *bb_req(const bb_server *s, const char *method, const char *path, const char *body,
               long expect);

/* The same with a printf-formatted path. */
json_t *bb_getf(const bb_server *s, long expect, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check the error envelope: status, error.code, a non-empty message, and
 * (when path is not NULL) a details entry whose path equals `path`. */
void bb_assert_error(const bb_resp *r, long status, const char *code, const char *path);

/* Every event of GET /diff?<query> (query may be "" or "twin_id=x&..."),
 * paged with `limit`; caller decrefs the array. Asserts each page is 200 and
 * that the last page says has_more false. */
json_t *bb_diff_all(const bb_server *s, const char *query, int limit);

/* The value of a sample in GET /metrics: the line that starts with `sample`
 * (a name, or a name with its labels: `x_total{outcome="duplicate"}`) and
 * a space. -1 when there is no such line. */
double bb_metric(const bb_server *s, const char *sample);

/* --- Server-Sent Events client --------------------------------------------
 * A raw HTTP/1.0 connection to the server (so the body is not chunked; the
 * server closes it at the end). Events are parsed as they arrive. */
typedef struct bb_sse_event {
    char id[64];         /* "" when the event had no id: line */
    char event[64];      /* "message" when it had no event: line */
    char *data;          /* the data: lines joined with '\n' */
} bb_sse_event;

typedef struct bb_sse {
    int fd;
    long status;
    char *buf;           /* bytes received after the header block */
    size_t len, cap, parsed;
    char headers[4096];
    bb_sse_event *ev;
    size_t nev, capev;
    int closed;          /* the server ended the stream */
} bb_sse;

/* Connect and send GET path with extra headers (NULL-terminated, may be
 * NULL); read the status line and headers (fails the test after timeout_s).
 * Returns the status. For a non-200 status the whole body is read into buf. */
long bb_sse_open(bb_sse *c, const bb_server *s, const char *path, const char *const *headers,
                 double timeout_s);

/* Read until at least n events have arrived (counting from the first), the
 * stream ends, or timeout_s passes. Returns 1 when n were reached. */
int bb_sse_wait_count(bb_sse *c, size_t n, double timeout_s);

/* Read until an event of this type (the event: field) arrives after index
 * `from`; returns its index, or -1 on timeout/end. */
long bb_sse_wait_type(bb_sse *c, const char *type, size_t from, double timeout_s);

/* Drop the connection (without reading the rest) and free everything. */
void bb_sse_close(bb_sse *c);

#endif
