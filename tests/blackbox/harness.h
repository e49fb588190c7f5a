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
} bb_server;

typedef struct bb_resp {
    long status;
    char *body;          /* NUL-terminated */
    size_t len;
    char *headers;       /* raw header block */
    json_t *json;        /* parsed body when it is JSON, else NULL */
} bb_resp;

/* Path of the binary under test. */
const char *bb_bin(void);

/* Start a server with extra args (NULL-terminated, may be NULL) and extra
 * environment "K=V" strings (NULL-terminated, may be NULL). Fails the test
 * when it does not come up in time. dir: reuse this folder (NULL = new). */
void bb_start(bb_server *s, const char *const *args, const char *const *env, const char *dir);

/* SIGTERM and wait; returns the exit status (or -1 on timeout -> killed).
 * keep_dir: leave the folder (to restart on it). */
int bb_stop(bb_server *s, int keep_dir);

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

#endif
