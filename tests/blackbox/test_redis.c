/* Black-box tests of the Redis integration (REDIS_URL) against real Redis
 * servers: the event stream (IDs = cursors, in order, bounded), the shared
 * cache of seeded simulations across a restart, named subscriber cursors
 * (in Redis, and in the store without Redis), and an outage: a private
 * redis-server is stopped and restarted while events are committed, and the
 * stream ends up with every event exactly once.
 *
 * The shared Redis is OPSTWIN_TEST_REDIS_URL (scripts/services.sh); each
 * test uses its own key prefix, so tests may run in parallel. */
#include <criterion/criterion.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "policy_util.h"
#include "../test_env.h"
#include "store/redis.h"

TestSuite(redis, .timeout = 180);

/* --- helpers ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The shared Redis, or fail (skip with OPSTWIN_TEST_ALLOW_MISSING=1). */
static const char *shared_redis(void) { return ot_test_service("OPSTWIN_TEST_REDIS_URL"); }

static redisContext *rconnect(const char *url)
{
    ot_redis_url u;
    ot_error err;
    cr_assert_eq(ot_redis_url_parse(url, &u, &err), 0, "%s", err.message);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    cr_assert(c && !c->err, "cannot connect to %s: %s", url, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    if (u.db) {
        redisReply *r = redisCommand(c, "SELECT %d", u.db);
        freeReplyObject(r);
    }
    return c;
}

/* A key prefix no other test (or run) uses. */
static void uniq_prefix(char *out, size_t n, const char *tag)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, n, "bbtest:%d:%s:%ld%09ld:", (int)getpid(), tag, (long)ts.tv_sec, ts.tv_nsec);
}

/* Delete every key under prefix (SCAN + DEL). */
static void drop_prefix(redisContext *c, const char *prefix)
{
    char pat[300];
    snprintf(pat, sizeof pat, "%s*", prefix);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pat);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            freeReplyObject(redisCommand(c, "DEL %s", r->element[1]->element[i]->str));
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

/* The stream's last ID's cursor (0 when empty or unreachable). */
/* The cursor of the stream's last (or first) entry, 0 when it is empty. */
static long stream_end(redisContext *c, const char *key, int first)
{
    redisReply *r = first ? redisCommand(c, "XRANGE %s - + COUNT 1", key)
                          : redisCommand(c, "XREVRANGE %s + - COUNT 1", key);
    long id = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        id = strtol(r->element[0]->element[0]->str, NULL, 10);
    freeReplyObject(r);
    return id;
}

static long stream_top(redisContext *c, const char *key)
{
    return stream_end(c, key, 0);
}

static void wait_top(redisContext *c, const char *key, long want, double timeout)
{
    double deadline = now_s() + timeout;
    long top = 0;
    while (now_s() < deadline && (top = stream_top(c, key)) < want)
        usleep(50000);
    cr_assert_eq(top, want, "stream %s ends at %ld, expected %ld", key, top, want);
}

static long cursor_num(const char *s)
{
    cr_assert(s && strncmp(s, "cursor_", 7) == 0, "bad cursor %s", s ? s : "(null)");
    return strtol(s + 7, NULL, 10);
}

/* The stream holds exactly the log's events (GET /diff): same order, IDs
 * "<cursor>-0", the same JSON, type and twin_id fields. */
static void check_stream_is_log(redisContext *c, const char *key, const bb_server *s)
{
    json_t *log = bb_diff_all(s, "", 500);
    redisReply *r = redisCommand(c, "XRANGE %s - +", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "XRANGE failed");
    cr_assert_eq(r->elements, json_array_size(log), "stream has %zu entries, the log %zu",
                 r->elements, json_array_size(log));
    for (size_t i = 0; i < r->elements; i++) {
        json_t *ev = json_array_get(log, i);
        long cur = cursor_num(json_string_value(json_object_get(ev, "cursor")));
        redisReply *e = r->element[i];
        char id[32];
        snprintf(id, sizeof id, "%ld-0", cur);
        cr_assert_str_eq(e->element[0]->str, id, "entry %zu", i);
        redisReply *f = e->element[1];
        cr_assert_eq(f->elements, 6);
        cr_assert_str_eq(f->element[0]->str, "type");
        cr_assert_str_eq(f->element[1]->str, json_string_value(json_object_get(ev, "type")));
        cr_assert_str_eq(f->element[2]->str, "twin_id");
        cr_assert_str_eq(f->element[3]->str, json_string_value(json_object_get(ev, "twin_id")));
        cr_assert_str_eq(f->element[4]->str, "event");
        json_t *j = json_loads(f->element[5]->str, 0, NULL);
        cr_assert(json_equal(j, ev), "entry %s differs from the log: %s", id, f->element[5]->str);
        json_decref(j);
    }
    freeReplyObject(r);
    json_decref(log);
}

static long ingest(const bb_server *s, const char *twin, int i)
{
    char body[200];
    snprintf(body, sizeof body, "{\"twin_id\":\"%s\",\"asset_id\":\"a\",\"metrics\":{\"v\":%d}}",
             twin, i % 3);
    json_t *r = bb_req(s, "POST", "/telemetry/ingest", body, 200);
    long c = cursor_num(json_string_value(json_object_get(r, "cursor")));
    json_decref(r);
    return c;
}

/* A batch of n; returns the last cursor. */
static long ingest_batch(const bb_server *s, const char *twin, int n)
{
    size_t cap = (size_t)n * 100 + 8, k = 0;
    char *body = malloc(cap);
    k += (size_t)snprintf(body, cap, "[");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(body + k, cap - k,
                              "%s{\"twin_id\":\"%s\",\"asset_id\":\"b\",\"metrics\":{\"v\":%d}}",
                              i ? "," : "", twin, i % 3);
    snprintf(body + k, cap - k, "]");
    json_t *r = bb_req(s, "POST", "/telemetry/ingest", body, 200);
    free(body);
    json_t *items = json_object_get(r, "results");
    if (!items)
        items = json_object_get(r, "items");
    long last = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        long c = cursor_num(json_string_value(json_object_get(it, "cursor")));
        if (c > last)
            last = c;
    }
    json_decref(r);
    cr_assert(last > 0, "batch reply without cursors");
    return last;
}

static long last_cursor(const bb_server *s)
{
    json_t *h = bb_req(s, "GET", "/health", NULL, 200);
    long c = (long)json_integer_value(
        json_object_get(json_object_get(json_object_get(h, "components"), "store"), "last_cursor"));
    json_decref(h);
    return c;
}

/* --- the stream -------------------------------------------------------------- */

Test(redis, stream_ids_are_cursors_in_log_order)
{
    const char *url = shared_redis();
    redisContext *c = rconnect(url);
    char prefix[128], env_url[600], env_prefix[200];
    uniq_prefix(prefix, sizeof prefix, "order");
    snprintf(env_url, sizeof env_url, "REDIS_URL=%s", url);
    snprintf(env_prefix, sizeof env_prefix, "REDIS_PREFIX=%s", prefix);
    const char *env[] = {env_url, env_prefix, NULL};
    bb_server s;
    bb_start(&s, NULL, env, NULL);
    for (int i = 0; i < 10; i++)
        ingest(&s, i % 2 ? "o1" : "o2", i);
    ingest_batch(&s, "o3", 40);
    for (int i = 0; i < 5; i++)
        ingest(&s, "o1", i);
    long last = ingest_batch(&s, "o2", 25);
    char key[200];
    snprintf(key, sizeof key, "%sevents", prefix);
    wait_top(c, key, last_cursor(&s) > last ? last_cursor(&s) : last, 15);
    check_stream_is_log(c, key, &s);

    json_t *h = bb_req(&s, "GET", "/health", NULL, 200);
    json_t *rc = json_object_get(json_object_get(h, "components"), "redis");
    cr_assert_str_eq(json_string_value(json_object_get(rc, "status")), "ok");
    cr_assert(json_is_true(json_object_get(rc, "connected")));
    cr_assert_str_eq(json_string_value(json_object_get(rc, "stream")), key);
    json_decref(h);
    bb_stop_checked(&s);
    drop_prefix(c, prefix);
    redisFree(c);
}

Test(redis, stream_is_bounded_by_maxlen)
{
    const char *url = shared_redis();
    redisContext *c = rconnect(url);
    char prefix[128], env_url[600], env_stream[300];
    uniq_prefix(prefix, sizeof prefix, "maxlen");
    snprintf(env_url, sizeof env_url, "REDIS_URL=%s", url);
    snprintf(env_stream, sizeof env_stream, "REDIS_STREAM=%sbounded", prefix);
    const char *env[] = {env_url, env_stream, "REDIS_STREAM_MAXLEN=50", NULL};
    bb_server s;
    bb_start(&s, NULL, env, NULL);
    long last = 0;
    for (int b = 0; b < 6; b++)
        last = ingest_batch(&s, "m1", 100);
    char key[300];
    snprintf(key, sizeof key, "%sbounded", prefix);
    wait_top(c, key, last, 15);
    redisReply *r = redisCommand(c, "XLEN %s", key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    /* MAXLEN ~ trims whole stream nodes (100 entries by default) */
    cr_assert(r->integer >= 50 && r->integer <= 150, "XLEN %lld for MAXLEN ~ 50 after %ld events",
              r->integer, last);
    freeReplyObject(r);
    /* what remains is the newest events, contiguous */
    r = redisCommand(c, "XRANGE %s - +", key);
    for (size_t i = 1; i < r->elements; i++)
        cr_assert_eq(strtol(r->element[i]->element[0]->str, NULL, 10),
                     strtol(r->element[i - 1]->element[0]->str, NULL, 10) + 1);
    freeReplyObject(r);
    bb_stop_checked(&s);
    drop_prefix(c, prefix);
    redisFree(c);
}

/* --- simulation cache ---------------------------------------------------------- */

#define SIM_BODY "{\"twin_id\":\"simr\",\"parameters\":{\"base_yield\":0.85},\"seed\":%d}"

Test(redis, seeded_simulation_is_served_from_redis_after_a_restart)
{
    const char *url = shared_redis();
    redisContext *c = rconnect(url);
    char prefix[128], env_url[600], env_prefix[200], env_stream1[300], env_stream2[300];
    uniq_prefix(prefix, sizeof prefix, "sim");
    snprintf(env_url, sizeof env_url, "REDIS_URL=%s", url);
    snprintf(env_prefix, sizeof env_prefix, "REDIS_PREFIX=%s", prefix);
    /* two data folders = two logs: each its own stream */
    snprintf(env_stream1, sizeof env_stream1, "REDIS_STREAM=%sevents1", prefix);
    snprintf(env_stream2, sizeof env_stream2, "REDIS_STREAM=%sevents2", prefix);
    const char *env1[] = {env_url, env_prefix, env_stream1, "REDIS_SIM_TTL=120", NULL};
    const char *env2[] = {env_url, env_prefix, env_stream2, "REDIS_SIM_TTL=120", NULL};
    char body[200];
    snprintf(body, sizeof body, SIM_BODY, 11);

    bb_server a;
    bb_start(&a, NULL, env1, NULL);
    json_t *r1 = bb_req(&a, "POST", "/sim/run", body, 200);
    cr_assert_not(json_is_true(json_object_get(r1, "cached")), "first run claims to be cached");
    cr_assert_eq(bb_metric(&a, "opstwin_redis_sim_cache_misses_total"), 1);
    bb_stop_checked(&a);

    /* the key exists with the configured TTL */
    char pat[200];
    snprintf(pat, sizeof pat, "%ssim:*", prefix);
    redisReply *k = redisCommand(c, "KEYS %s", pat);
    cr_assert(k && k->type == REDIS_REPLY_ARRAY && k->elements == 1, "expected one sim key");
    redisReply *ttl = redisCommand(c, "TTL %s", k->element[0]->str);
    cr_assert(ttl->integer > 0 && ttl->integer <= 120, "TTL %lld", ttl->integer);
    freeReplyObject(ttl);
    freeReplyObject(k);

    /* a new server with a new data folder: only Redis knows the result */
    bb_server b;
    bb_start(&b, NULL, env2, NULL);
    json_t *r2 = bb_req(&b, "POST", "/sim/run", body, 200);
    cr_assert(json_is_true(json_object_get(r2, "cached")), "second run was not served from Redis");
    cr_assert_str_eq(json_string_value(json_object_get(r2, "sim_id")),
                     json_string_value(json_object_get(r1, "sim_id")));
    cr_assert(json_equal(json_object_get(r1, "kpi_distribution"),
                         json_object_get(r2, "kpi_distribution")));
    cr_assert_eq(bb_metric(&b, "opstwin_redis_sim_cache_hits_total"), 1);
    /* and the adopted result is readable here */
    json_decref(bb_getf(&b, 200, "/r/sim/%s", json_string_value(json_object_get(r2, "sim_id"))));
    /* another seed is another result */
    snprintf(body, sizeof body, SIM_BODY, 12);
    json_t *r3 = bb_req(&b, "POST", "/sim/run", body, 200);
    cr_assert_not(json_is_true(json_object_get(r3, "cached")));
    json_decref(r1);
    json_decref(r2);
    json_decref(r3);
    bb_stop_checked(&b);
    drop_prefix(c, prefix);
    redisFree(c);
}

/* --- subscriber cursors ---------------------------------------------------------- */

static json_t *diff(const bb_server *s, const char *query)
{
    return bb_getf(s, 200, "/diff?%s", query);
}

static long page_first(json_t *p)
{
    json_t *evs = json_object_get(p, "events");
    return json_array_size(evs)
               ? cursor_num(json_string_value(json_object_get(json_array_get(evs, 0), "cursor")))
               : -1;
}

static long page_next(json_t *p)
{
    return cursor_num(json_string_value(json_object_get(p, "next_cursor")));
}

/* Five events on a fresh server; walk them as subscriber "walker". */
static void subscriber_walk(const bb_server *s)
{
    for (int i = 0; i < 5; i++)
        ingest(s, "sw", i);
    json_t *p = diff(s, "subscriber=walker&limit=2&twin_id=sw");
    cr_assert_eq(page_first(p), 1);
    cr_assert_eq(page_next(p), 2);
    cr_assert(json_is_null(json_object_get(p, "since")));
    cr_assert_str_eq(json_string_value(json_object_get(p, "subscriber")), "walker");
    json_decref(p);
    p = diff(s, "subscriber=walker&limit=2&twin_id=sw");
    cr_assert_eq(page_first(p), 3, "the second page does not resume after the first");
    cr_assert_str_eq(json_string_value(json_object_get(p, "since")), "cursor_000002");
    json_decref(p);
    /* another name starts at the beginning */
    p = diff(s, "subscriber=other&limit=1");
    cr_assert_eq(page_first(p), 1);
    json_decref(p);
    /* an explicit since wins, and moves the cursor */
    p = diff(s, "subscriber=walker&limit=1&since=cursor_000001");
    cr_assert_eq(page_first(p), 2);
    json_decref(p);
    p = diff(s, "subscriber=walker&limit=10");
    cr_assert_eq(page_first(p), 3);
    cr_assert_eq(page_next(p), 5);
    json_decref(p);
    p = diff(s, "subscriber=walker");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 0);
    cr_assert_eq(page_next(p), 5);
    json_decref(p);
    /* another principal's "walker" is its own: it starts at the beginning,
     * and moving it leaves this token's where it was */
    char *tok = pu_mint(s, "reader2", "viewer", NULL), auth[2100];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *h[] = {auth, NULL};
    for (long want = 1; want <= 2; want++) {
        bb_resp r;
        cr_assert_eq(bb_http(s, "GET", "/diff?subscriber=walker&limit=1", NULL, h, &r), 200);
        cr_assert_eq(page_first(r.json), want, "%s", r.body);
        bb_resp_free(&r);
    }
    free(tok);
    p = diff(s, "subscriber=walker");
    cr_assert_eq(json_array_size(json_object_get(p, "events")), 0,
                 "another token moved this one's cursor");
    cr_assert_eq(page_next(p), 5);
    json_decref(p);
}

static void subscriber_bad_names(const bb_server *s)
{
    const char *bad[] = {"subscriber=", "subscriber=a%20b", "subscriber=a/b",
                         "subscriber=%C3%A9"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[300];
        snprintf(path, sizeof path, "/diff?%s", bad[i]);
        bb_resp r;
        bb_http(s, "GET", path, NULL, NULL, &r);
        bb_assert_error(&r, 400, "validation_failed", "$.subscriber");
        bb_resp_free(&r);
    }
    char path[300] = "/diff?subscriber=";
    size_t n = strlen(path);
    memset(path + n, 'x', 129);
    path[n + 129] = '\0';
    bb_resp r;
    bb_http(s, "GET", path, NULL, NULL, &r);
    bb_assert_error(&r, 400, "validation_failed", "$.subscriber");
    bb_resp_free(&r);
}

static void subscriber_after_restart(bb_server *s, const char *const *env)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s->dir);
    cr_assert_eq(bb_stop(s, 1), 0, "server did not exit 0 on SIGTERM");
    bb_start(s, NULL, env, dir);
    ingest(s, "sw", 9); /* cursor 6 */
    json_t *p = diff(s, "subscriber=walker");
    cr_assert_eq(page_first(p), 6, "the cursor was not remembered across the restart");
    json_decref(p);
    p = diff(s, "subscriber=other&limit=1");
    cr_assert_eq(page_first(p), 2);
    json_decref(p);
}

/* A cursor kept under "old-agent" alone (before names had owners) at 3:
 * this token's "old-agent" starts there, then goes its own way. */
static void subscriber_legacy_name(const bb_server *s)
{
    json_t *p = diff(s, "subscriber=old-agent&limit=1");
    cr_assert_eq(page_first(p), 4);
    json_decref(p);
    p = diff(s, "subscriber=old-agent&limit=1");
    cr_assert_eq(page_first(p), 5);
    json_decref(p);
}

Test(redis, subscriber_cursors_live_in_redis)
{
    const char *url = shared_redis();
    redisContext *c = rconnect(url);
    char prefix[128], env_url[600], env_prefix[200];
    uniq_prefix(prefix, sizeof prefix, "subs");
    snprintf(env_url, sizeof env_url, "REDIS_URL=%s", url);
    snprintf(env_prefix, sizeof env_prefix, "REDIS_PREFIX=%s", prefix);
    const char *env[] = {env_url, env_prefix, NULL};
    bb_server s;
    bb_start(&s, NULL, env, NULL);
    subscriber_walk(&s);
    subscriber_bad_names(&s);
    redisReply *r = redisCommand(c, "HGET %scursors admin/walker", prefix);
    cr_assert(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "5") == 0,
              "HGET %scursors admin/walker: %s", prefix, r && r->str ? r->str : "(nil)");
    freeReplyObject(r);
    freeReplyObject(redisCommand(c, "HSET %scursors old-agent 3", prefix));
    subscriber_legacy_name(&s);
    subscriber_after_restart(&s, env);
    bb_stop_checked(&s);
    drop_prefix(c, prefix);
    redisFree(c);
}

/* Without Redis the store keeps them (no REDIS_URL needed). */
Test(redis, subscriber_cursors_live_in_the_store_without_redis)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    subscriber_walk(&s);
    subscriber_bad_names(&s);
    subscriber_after_restart(&s, NULL);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    cr_assert_eq(bb_stop(&s, 1), 0);
    bb_db_exec(&s, "INSERT INTO docs (type, id, twin_id, status, created, updated, json) VALUES "
                   "('subscriber', 'old-agent', '', NULL, 0, 0, "
                   "'{\"name\":\"old-agent\",\"cursor\":3}')");
    bb_start(&s, NULL, NULL, dir);
    subscriber_legacy_name(&s);
    bb_stop_checked(&s);
}

/* --- an outage, on a private redis-server ------------------------------------------- */

struct own_redis {
    pid_t pid;
    int port;
    char dir[64];
    char url[64];
    char env[96]; /* REDIS_URL=url */
};

static void own_redis_start(struct own_redis *o)
{
    if (!o->dir[0]) {
        snprintf(o->dir, sizeof o->dir, "/tmp/opstwin-bbredis.XXXXXX");
        cr_assert(mkdtemp(o->dir), "mkdtemp: %s", strerror(errno));
        o->port = bb_free_port();
        snprintf(o->url, sizeof o->url, "redis://127.0.0.1:%d", o->port);
    }
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", o->port);
    snprintf(log, sizeof log, "%s/redis.log", o->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        /* RDB saved at shutdown and loaded at start: the stream survives */
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
               o->dir, "--save", "3600 1", "--appendonly", "no", "--logfile", log,
               "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    o->pid = pid;
    double deadline = now_s() + 10;
    while (now_s() < deadline) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", o->port, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok)
                return;
        } else if (c) {
            redisFree(c);
        }
        usleep(50000);
    }
    cr_assert_fail("redis-server did not start on port %d (is it installed?)", o->port);
}

static void own_redis_stop(struct own_redis *o)
{
    if (o->pid <= 0)
        return;
    kill(o->pid, SIGTERM);
    int st;
    double deadline = now_s() + 15;
    while (waitpid(o->pid, &st, WNOHANG) == 0 && now_s() < deadline)
        usleep(20000);
    if (now_s() >= deadline) {
        kill(o->pid, SIGKILL);
        waitpid(o->pid, &st, 0);
    }
    o->pid = 0;
}

/* The stream a server with the default REDIS_PREFIX mirrors to. */
#define OWN_KEY "opstwin:events"

/* A private redis-server and an OpsTwin server mirroring to it; returns a
 * client of that redis-server. */
static redisContext *start_with_own_redis(struct own_redis *o, bb_server *s)
{
    own_redis_start(o);
    snprintf(o->env, sizeof o->env, "REDIS_URL=%s", o->url);
    const char *env[] = {o->env, NULL};
    bb_start(s, NULL, env, NULL);
    return rconnect(o->url);
}

static void stop_both(struct own_redis *o, bb_server *s)
{
    bb_stop_checked(s);
    own_redis_stop(o);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", o->dir);
    cr_assert_eq(system(cmd), 0);
}

static json_t *redis_health(const bb_server *s)
{
    json_t *h = bb_req(s, "GET", "/health", NULL, 200);
    json_t *rc = json_incref(json_object_get(json_object_get(h, "components"), "redis"));
    json_object_set_new(rc, "overall", json_incref(json_object_get(h, "status")));
    json_decref(h);
    cr_assert(rc, "no redis component in /health");
    return rc;
}

static void wait_redis_status(const bb_server *s, const char *want, double timeout)
{
    double deadline = now_s() + timeout;
    for (;;) {
        json_t *rc = redis_health(s);
        int ok = strcmp(json_string_value(json_object_get(rc, "status")), want) == 0;
        if (ok || now_s() >= deadline) {
            char *text = json_dumps(rc, 0);
            json_decref(rc);
            cr_assert(ok, "redis component not %s within %.0f s: %s", want, timeout, text);
            free(text);
            return;
        }
        json_decref(rc);
        usleep(100000);
    }
}

Test(redis, outage_degrades_and_the_stream_catches_up_without_gaps)
{
    struct own_redis o = {0};
    bb_server s;
    redisContext *c = start_with_own_redis(&o, &s);
    const char *key = OWN_KEY;
    long last = 0;
    for (int i = 0; i < 10; i++)
        last = ingest(&s, "out", i);
    wait_top(c, key, last, 15);
    redisFree(c);

    own_redis_stop(&o);
    for (int i = 0; i < 20; i++)
        last = ingest(&s, "out", i); /* ingest does not depend on Redis */
    last = ingest_batch(&s, "out", 30);
    wait_redis_status(&s, "degraded", 10);
    json_t *rc = redis_health(&s);
    cr_assert_str_eq(json_string_value(json_object_get(rc, "overall")), "degraded");
    cr_assert(json_is_false(json_object_get(rc, "connected")));
    cr_assert(json_is_string(json_object_get(rc, "last_error")), "no last_error in /health");
    cr_assert(json_integer_value(json_object_get(rc, "lag")) > 0);
    json_decref(rc);
    /* reads keep working from the server's own log; a seeded sim runs;
     * subscriber cursors (kept in Redis) answer 503 */
    json_t *all = bb_diff_all(&s, "", 500);
    cr_assert_eq((long)json_array_size(all), last);
    json_decref(all);
    json_decref(bb_req(&s, "POST", "/sim/run",
                       "{\"twin_id\":\"out\",\"parameters\":{\"base_yield\":0.8},\"seed\":3}", 200));
    bb_resp r;
    bb_http(&s, "GET", "/diff?subscriber=x", NULL, NULL, &r);
    bb_assert_error(&r, 503, "service_unavailable", NULL);
    bb_resp_free(&r);
    bb_http(&s, "GET", "/diff?subscriber=x&limit=0", NULL, NULL, &r); /* input first */
    bb_assert_error(&r, 400, "validation_failed", "$.limit");
    bb_resp_free(&r);

    /* restart OpsTwin while Redis is down: its queue is gone, the store
     * still has every event */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    const char *env[] = {o.env, NULL};
    cr_assert_eq(bb_stop(&s, 1), 0, "server did not exit 0 on SIGTERM with Redis down");
    bb_start(&s, NULL, env, dir);
    for (int i = 0; i < 5; i++)
        ingest(&s, "out", i);
    wait_redis_status(&s, "degraded", 10);
    bb_http(&s, "GET", "/diff?subscriber=x", NULL, NULL, &r);
    bb_assert_error(&r, 503, "service_unavailable", NULL);
    bb_resp_free(&r);
    rc = redis_health(&s);
    cr_assert_str_eq(json_string_value(json_object_get(rc, "commands")), "unreachable");
    json_decref(rc);

    own_redis_start(&o); /* loads its RDB: the stream as it was, 1..10 */
    c = rconnect(o.url);
    /* OpsTwin may have reconnected and appended already: its start and at
     * least 1..10 are there */
    cr_assert_eq(stream_end(c, key, 1), 1, "the restarted Redis lost its stream");
    cr_assert_geq(stream_top(c, key), 10, "the restarted Redis lost its stream");
    last = last_cursor(&s);
    wait_top(c, key, last, 30);
    check_stream_is_log(c, key, &s);
    wait_redis_status(&s, "ok", 10); /* the command connections too, without a request */
    json_t *p = bb_req(&s, "GET", "/diff?subscriber=x&limit=1", NULL, 200);
    cr_assert_eq(page_first(p), 1);
    json_decref(p);
    cr_assert(bb_metric(&s, "opstwin_redis_catchup_events_total") > 0,
              "the events before the restart should have come from the store");
    redisFree(c);
    stop_both(&o, &s);
}

/* Redis refusing writes now and then (maxmemory reached, then freed): a
 * refused XADD must never be followed by an accepted one, which would leave
 * a hole in the stream that no later XADD can fill (IDs only grow). */
struct toggler {
    const char *url;
    volatile int stop;
    long flips;
};

static void *toggle_maxmemory(void *arg)
{
    struct toggler *t = arg;
    redisContext *c = rconnect(t->url);
    unsigned seed = 7;
    while (!t->stop) {
        freeReplyObject(redisCommand(c, "CONFIG SET maxmemory %s", t->flips % 2 ? "0" : "1"));
        t->flips++;
        usleep(100 + rand_r(&seed) % 900);
    }
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 0"));
    redisFree(c);
    return NULL;
}

static long redis_oom_errors(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO errorstats");
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "errorstat_OOM:count=")
                                                     : NULL;
    long n = p ? strtol(p + strlen("errorstat_OOM:count="), NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

Test(redis, refused_writes_leave_no_gap_in_the_stream)
{
    struct own_redis o = {0};
    bb_server s;
    redisContext *c = start_with_own_redis(&o, &s);
    const char *key = OWN_KEY;
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory-policy noeviction"));
    struct toggler t = {.url = o.url};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, toggle_maxmemory, &t), 0);
    long last = 0;
    for (int i = 0; i < 40; i++) {
        last = ingest_batch(&s, "oom", 100);
        usleep(20000);
    }
    t.stop = 1;
    pthread_join(th, NULL);
    cr_assert(redis_oom_errors(c) > 0, "Redis refused nothing (%ld flips): the test saw no "
              "refusal", t.flips);
    wait_top(c, key, last, 30);
    check_stream_is_log(c, key, &s);
    redisFree(c);
    stop_both(&o, &s);
}

/* --- configuration and access ---------------------------------------------------- */

Test(redis, malformed_redis_url_stops_the_server_without_echoing_it)
{
    char dir[] = "/tmp/opstwin-bbredisurl.XXXXXX";
    cr_assert(mkdtemp(dir));
    char data[64];
    snprintf(data, sizeof data, "%s/data", dir);
    const char *argv[] = {bb_bin(), "serve", "--port", "0", "--data-dir", data, "--redis-url",
                          "redi://:hunter2@h:6379", NULL};
    char *out = NULL, *err = NULL;
    int rc = bb_run(argv, dir, NULL, &out, &err);
    cr_assert_neq(rc, 0, "the server started with a malformed REDIS_URL");
    char both[8192];
    snprintf(both, sizeof both, "%s%s", out ? out : "", err ? err : "");
    cr_assert(strstr(both, "REDIS_URL") && strstr(both, "redis://"), "no useful message: %s", both);
    cr_assert_null(strstr(both, "hunter2"), "the password was printed: %s", both);
    cr_assert_neq(access(data, F_OK), 0, "the data folder was created before the URL was checked");
    free(out);
    free(err);
    rmdir(dir);
}

Test(redis, subscriber_needs_read_permission_like_diff)
{
    bb_server s;
    bb_start(&s, NULL, NULL, NULL);
    bb_resp r;
    const char *noauth[] = {"Authorization:", NULL};
    bb_http(&s, "GET", "/diff?subscriber=anon", NULL, noauth, &r);
    bb_assert_error(&r, 401, "unauthorized", NULL);
    bb_resp_free(&r);
    /* the route table documents the parameter (OpenAPI) */
    json_t *o = bb_req(&s, "GET", "/openapi.json", NULL, 200);
    json_t *params = json_object_get(
        json_object_get(json_object_get(json_object_get(o, "paths"), "/diff"), "get"),
        "parameters");
    int found = 0;
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p) found |= strcmp(json_string_value(json_object_get(p, "name")),
                                                     "subscriber") == 0;
    cr_assert(found, "/openapi.json does not document subscriber on GET /diff");
    json_decref(o);
    bb_stop_checked(&s);
}
