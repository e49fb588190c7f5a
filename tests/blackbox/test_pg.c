/* test_pg.c - the PostgreSQL store when the database goes away.
 *
 * The test makes its OWN PostgreSQL cluster (initdb as the postgres user in
 * a temporary folder, a free port), so stopping and restarting it disturbs
 * no other test. An ingest loop runs against the server while PostgreSQL is
 * stopped (fast), started again, and restarted (immediate, i.e. crashed);
 * meanwhile writes must answer 503, reads 503, /health must say the store
 * is down and then recover, and afterwards every acknowledged event must be
 * in the log at its acknowledged cursor with no gaps.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../test_env.h"

#define BATCH 5
#define MAX_ACKS 200000

struct pgc {
    char dir[256];
    char bin[512];
    char url[256];
    int port;
};

static const char *runuser_path(void)
{
    return access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "/sbin/runuser";
}

static int pg_ctl(struct pgc *p, const char *action, const char *mode)
{
    char ctl[600], data[300], log[300];
    snprintf(ctl, sizeof ctl, "%s/pg_ctl", p->bin);
    snprintf(data, sizeof data, "%s/data", p->dir);
    snprintf(log, sizeof log, "%s/server.log", p->dir);
    const char *argv[] = {runuser_path(), "-u", "postgres", "--", ctl, "-D", data, "-l", log,
                          "-w", "-t", "60", "-m", mode, action, NULL};
    char *out, *err;
    int rc = bb_run(argv, "/tmp", NULL, &out, &err);
    if (rc)
        cr_log_error("pg_ctl %s: %s %s", action, out, err);
    free(out);
    free(err);
    return rc;
}

static void pg_start_cluster(struct pgc *p)
{
    memset(p, 0, sizeof *p);
    const char *bin = ot_test_service("OPSTWIN_TEST_PG_BIN");
    snprintf(p->bin, sizeof p->bin, "%s", bin);
    snprintf(p->dir, sizeof p->dir, "/tmp/opstwin-pgr.XXXXXX");
    cr_assert_not_null(mkdtemp(p->dir));
    struct passwd *pw = getpwnam("postgres");
    cr_assert_not_null(pw, "no postgres user");
    cr_assert_eq(chown(p->dir, pw->pw_uid, pw->pw_gid), 0);
    char initdb[600], data[300];
    snprintf(initdb, sizeof initdb, "%s/initdb", p->bin);
    snprintf(data, sizeof data, "%s/data", p->dir);
    const char *argv[] = {runuser_path(), "-u", "postgres", "--", initdb, "-D", data, "-U",
                          "opstwin", "-A", "trust", "--no-sync", NULL};
    char *out, *err;
    int rc = bb_run(argv, "/tmp", NULL, &out, &err);
    cr_assert_eq(rc, 0, "initdb: %s %s", out, err);
    free(out);
    free(err);
    p->port = bb_free_port();
    char conf[400];
    snprintf(conf, sizeof conf, "%s/postgresql.conf", data);
    FILE *f = fopen(conf, "a");
    cr_assert_not_null(f);
    fprintf(f, "listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
               "max_connections = 50\n",
            p->port, p->dir);
    fclose(f);
    cr_assert_eq(pg_ctl(p, "start", "fast"), 0, "PostgreSQL did not start");
    char admin[256];
    snprintf(admin, sizeof admin, "postgresql://opstwin@127.0.0.1:%d/postgres", p->port);
    PGconn *c = PQconnectdb(admin);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "CREATE DATABASE twin");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    snprintf(p->url, sizeof p->url, "postgresql://opstwin@127.0.0.1:%d/twin", p->port);
}

static void pg_remove_cluster(struct pgc *p)
{
    if (p->port)
        pg_ctl(p, "stop", "immediate");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    if (strncmp(p->dir, "/tmp/opstwin-pgr.", 17) == 0 && system(cmd) != 0)
        cr_log_error("could not remove %s", p->dir);
}

/* --- the ingest loop (its own thread: never asserts) ------------------------ */

struct ack {
    char id[48];
    long cursor;
};

static struct {
    pthread_mutex_t mu;
    struct ack *acks;
    size_t n;
    long unavailable, other;
    char other_body[512];
    int stop;
} lp = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *loop_main(void *arg)
{
    bb_server *s = arg;
    for (int seq = 0;; seq++) {
        pthread_mutex_lock(&lp.mu);
        int stop = lp.stop;
        pthread_mutex_unlock(&lp.mu);
        if (stop)
            break;
        char body[2048];
        size_t k = (size_t)snprintf(body, sizeof body, "[");
        for (int i = 0; i < BATCH; i++)
            k += (size_t)snprintf(body + k, sizeof body - k,
                                  "%s{\"twin_id\":\"pgr\",\"asset_id\":\"a%d\",\"metrics\":"
                                  "{\"v\":%d},\"event_id\":\"pg-%d-%d\"}",
                                  i ? "," : "", i, seq, seq, i);
        snprintf(body + k, sizeof body - k, "]");
        bb_resp r;
        long code = bb_http(s, "POST", "/telemetry/ingest", body, NULL, &r);
        pthread_mutex_lock(&lp.mu);
        if (code == 200) {
            json_t *res = json_object_get(r.json, "results");
            for (size_t i = 0; i < json_array_size(res) && lp.n < MAX_ACKS; i++) {
                json_t *it = json_array_get(res, i);
                struct ack *a = &lp.acks[lp.n++];
                snprintf(a->id, sizeof a->id, "%s",
                         json_string_value(json_object_get(it, "event_id")));
                a->cursor =
                    strtol(json_string_value(json_object_get(it, "cursor")) + 7, NULL, 10);
            }
        } else if (code == 503) {
            lp.unavailable++;
        } else {
            lp.other++;
            snprintf(lp.other_body, sizeof lp.other_body, "%ld %s", code, r.body);
        }
        pthread_mutex_unlock(&lp.mu);
        bb_resp_free(&r);
        usleep(code == 200 ? 5000 : 20000);
    }
    return NULL;
}

static size_t acked(void)
{
    pthread_mutex_lock(&lp.mu);
    size_t n = lp.n;
    pthread_mutex_unlock(&lp.mu);
    return n;
}

static long unavailable(void)
{
    pthread_mutex_lock(&lp.mu);
    long n = lp.unavailable;
    pthread_mutex_unlock(&lp.mu);
    return n;
}

/* Wait (up to secs) until acked() grows by at least n. */
static int wait_acks(size_t from, size_t n, int secs)
{
    for (int i = 0; i < secs * 20; i++) {
        if (acked() >= from + n)
            return 1;
        usleep(50000);
    }
    return 0;
}

/* The store component of /health: "ok", "down", ... (static buffer). */
static const char *store_status(const bb_server *s, char *mode, size_t modelen)
{
    static char st[32];
    bb_resp r;
    bb_http(s, "GET", "/health", NULL, NULL, &r);
    json_t *store = json_object_get(json_object_get(r.json, "components"), "store");
    snprintf(st, sizeof st, "%s",
             json_string_value(json_object_get(store, "status"))
                 ? json_string_value(json_object_get(store, "status"))
                 : "(none)");
    if (mode)
        snprintf(mode, modelen, "%s",
                 json_string_value(json_object_get(store, "mode"))
                     ? json_string_value(json_object_get(store, "mode"))
                     : "(none)");
    bb_resp_free(&r);
    return st;
}

static int wait_store(const bb_server *s, const char *want, int secs)
{
    for (int i = 0; i < secs * 10; i++) {
        if (strcmp(store_status(s, NULL, 0), want) == 0)
            return 1;
        usleep(100000);
    }
    return 0;
}

static struct pgc pg;

/* also after a failed assertion: no cluster is left running */
static void cleanup(void)
{
    if (pg.dir[0])
        pg_remove_cluster(&pg);
}

TestSuite(pg_outage, .fini = cleanup);

Test(pg_outage, database_restarts_lose_nothing_acknowledged, .timeout = 240)
{
    pg_start_cluster(&pg);
    lp.acks = calloc(MAX_ACKS, sizeof *lp.acks);
    char envurl[300];
    snprintf(envurl, sizeof envurl, "DATABASE_URL=%s", pg.url);
    const char *env[] = {envurl, NULL};
    bb_server s;
    bb_start(&s, NULL, env, NULL);
    char mode[64];
    cr_assert_str_eq(store_status(&s, mode, sizeof mode), "ok");
    cr_assert_str_eq(mode, "native partitioning");

    pthread_t th;
    pthread_create(&th, NULL, loop_main, &s);
    cr_assert(wait_acks(0, 200, 30), "no acknowledged writes before the outage");

    /* 1. PostgreSQL stops: writes 503, reads 503, /health says down */
    cr_assert_eq(pg_ctl(&pg, "stop", "fast"), 0);
    long u0 = unavailable();
    cr_assert(wait_store(&s, "down", 15), "/health did not report the store down");
    for (int i = 0; i < 100 && unavailable() < u0 + 3; i++)
        usleep(100000);
    cr_assert_geq(unavailable(), u0 + 3, "writes did not answer 503 while the database was down");
    bb_resp r;
    bb_http(&s, "GET", "/telemetry/query?twin_id=pgr&limit=5", NULL, NULL, &r);
    bb_assert_error(&r, 503, "service_unavailable", NULL);
    cr_assert(strstr(r.body, "database"), "%s", r.body);
    bb_resp_free(&r);
    size_t during = acked();

    /* 2. it comes back: everything reconnects by itself */
    cr_assert_eq(pg_ctl(&pg, "start", "fast"), 0);
    cr_assert(wait_store(&s, "ok", 30), "/health did not recover");
    cr_assert(wait_acks(during, 200, 30), "writes did not resume after the database came back");
    json_t *q = bb_getf(&s, 200, "/telemetry/query?twin_id=pgr&limit=5");
    json_decref(q);

    /* 3. a crash-restart in the middle of the ingest loop */
    size_t before = acked();
    cr_assert_eq(pg_ctl(&pg, "restart", "immediate"), 0);
    cr_assert(wait_acks(before, 200, 60), "writes did not resume after the restart");

    pthread_mutex_lock(&lp.mu);
    lp.stop = 1;
    pthread_mutex_unlock(&lp.mu);
    pthread_join(th, NULL);
    cr_assert_eq(lp.other, 0, "unexpected answers, e.g. %s", lp.other_body);
    cr_assert(wait_store(&s, "ok", 30), "/health did not recover after the restart");

    /* every acknowledged event at its cursor; the log has no gaps */
    size_t n = acked();
    json_t *all = bb_diff_all(&s, "types=TelemetryAppended", 1000);
    json_t *every = bb_diff_all(&s, "", 1000);
    size_t total = json_array_size(every);
    for (size_t i = 0; i < total; i++) {
        const char *c = json_string_value(json_object_get(json_array_get(every, i), "cursor"));
        cr_assert_eq(strtol(c + 7, NULL, 10), (long)i + 1, "gap: event %zu has %s", i, c);
    }
    char **ids = calloc(total + 2, sizeof *ids);
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *e = json_array_get(all, i);
        long c = strtol(json_string_value(json_object_get(e, "cursor")) + 7, NULL, 10);
        ids[c] = (char *)json_string_value(json_object_get(e, "id"));
    }
    cr_log_info("pg_outage: %zu acknowledged, %zu events in the log, %ld answered 503", n, total,
                unavailable());
    for (size_t i = 0; i < n; i++) {
        struct ack *a = &lp.acks[i];
        cr_assert(a->cursor >= 1 && (size_t)a->cursor <= total, "%s acked at %ld, log ends at %zu",
                  a->id, a->cursor, total);
        cr_assert(ids[a->cursor] && strcmp(ids[a->cursor], a->id) == 0,
                  "cursor %ld: acked %s, log has %s", a->cursor, a->id,
                  ids[a->cursor] ? ids[a->cursor] : "(not telemetry)");
    }
    /* the store agrees with the log */
    q = bb_getf(&s, 200, "/telemetry/query?twin_id=pgr&limit=10000");
    size_t tel = json_array_size(all);
    cr_assert_eq((size_t)json_integer_value(json_object_get(q, "count")), tel < 10000 ? tel : 10000);
    json_decref(q);
    free(ids);
    json_decref(all);
    json_decref(every);
    free(lp.acks);
    bb_stop_checked(&s);
}
