/* Unit tests of the Redis integration (store/redis.h): the pure parts
 * (REDIS_URL parsing, the stream ID <-> cursor mapping, subscriber names),
 * and the mirror on a real store and the shared test Redis
 * (OPSTWIN_TEST_REDIS_URL), driving its commit listener by hand to make the
 * queue lose groups. The server-level behaviour is tests/blackbox/test_redis.c. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aiw/subscribers.h"
#include "core/buf.h"
#include "store/redis.h"
#include "store/store.h"
#include "../test_env.h"

static ot_redis_url parse_ok(const char *url)
{
    ot_redis_url u;
    ot_error err;
    ot_error_clear(&err);
    cr_assert_eq(ot_redis_url_parse(url, &u, &err), 0, "%s: %s", url, err.message);
    return u;
}

static void parse_bad(const char *url, const char *why)
{
    ot_redis_url u;
    ot_error err;
    ot_error_clear(&err);
    cr_assert_eq(ot_redis_url_parse(url, &u, &err), OT_EINVAL, "%s accepted", url);
    cr_assert_str_eq(err.path, "REDIS_URL");
    cr_assert(strstr(err.message, why), "%s: message '%s' lacks '%s'", url, err.message, why);
}

Test(redis_url, host_only_defaults_port_and_db)
{
    ot_redis_url u = parse_ok("redis://cache.local");
    cr_assert_str_eq(u.host, "cache.local");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    cr_assert_str_eq(u.password, "");
    cr_assert_str_eq(u.user, "");
    u = parse_ok("redis://127.0.0.1:7000/");
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(u.db, 0);
}

Test(redis_url, password_user_and_db)
{
    ot_redis_url u = parse_ok("redis://:s3cret@10.0.0.5:6380/4");
    cr_assert_str_eq(u.host, "10.0.0.5");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 4);
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "s3cret");
    u = parse_ok("redis://alice:p%40ss%3Aw@h:1/15");
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "p@ss:w");
    cr_assert_eq(u.db, 15);
    /* the old form: a bare secret before @ is the password */
    u = parse_ok("redis://onlysecret@h");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "onlysecret");
    /* an unescaped @ in the password: the last @ ends the user info */
    u = parse_ok("redis://:a@b@h:2");
    cr_assert_str_eq(u.password, "a@b");
    cr_assert_str_eq(u.host, "h");
}

Test(redis_url, ipv6_literal)
{
    ot_redis_url u = parse_ok("redis://[::1]:6390/2");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 6390);
    cr_assert_eq(u.db, 2);
    u = parse_ok("redis://[fe80::1]");
    cr_assert_eq(u.port, 6379);
}

Test(redis_url, malformed)
{
    parse_bad("http://h:6379", "expected redis://");
    parse_bad("h:6379", "expected redis://");
    parse_bad("rediss://h:6379", "TLS");
    parse_bad("redis://", "no host");
    parse_bad("redis://:pw@:6379", "no host");
    parse_bad("redis://h:", "empty port");
    parse_bad("redis://h:0", "port");
    parse_bad("redis://h:65536", "port");
    parse_bad("redis://h:12a", "port");
    parse_bad("redis://h/x", "database");
    parse_bad("redis://h/1x", "database");
    parse_bad("redis://[::1", "unterminated");
    parse_bad("redis://[::1]x", "expected");
    parse_bad("redis://:%zz@h", "escape");
    parse_bad("redis://h:1/0?timeout=1", "query");
}

Test(redis_id, cursor_round_trip)
{
    char buf[32];
    cr_assert_str_eq(ot_redis_id_format(1, buf), "1-0");
    cr_assert_str_eq(ot_redis_id_format(123456789012LL, buf), "123456789012-0");
    int64_t c = 0;
    for (int64_t v = 1; v < 1000000000000LL; v = v * 7 + 3) {
        ot_redis_id_format(v, buf);
        cr_assert_eq(ot_redis_id_parse(buf, strlen(buf), &c), 0, "%s", buf);
        cr_assert_eq(c, v);
    }
    /* not NUL-terminated: the length rules */
    cr_assert_eq(ot_redis_id_parse("42-0xyz", 4, &c), 0);
    cr_assert_eq(c, 42);
}

Test(redis_id, rejects_what_opstwin_does_not_write)
{
    int64_t c;
    const char *bad[] = {"", "-0", "12", "12-", "12-1", "12-00", "a-0", "1 -0", "12-0 ",
                         "1234567890123456789-0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(ot_redis_id_parse(bad[i], strlen(bad[i]), &c), -1, "'%s' accepted", bad[i]);
}

Test(subscriber, names)
{
    cr_assert(ot_subscriber_name_valid("agent-7"));
    cr_assert(ot_subscriber_name_valid("team.a:reader_1"));
    char long_name[OT_SUBSCRIBER_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[OT_SUBSCRIBER_NAME_MAX] = '\0';
    cr_assert(ot_subscriber_name_valid(long_name));
    long_name[OT_SUBSCRIBER_NAME_MAX] = 'a';
    long_name[OT_SUBSCRIBER_NAME_MAX + 1] = '\0';
    cr_assert_not(ot_subscriber_name_valid(long_name));
    cr_assert_not(ot_subscriber_name_valid(""));
    cr_assert_not(ot_subscriber_name_valid("a b"));
    cr_assert_not(ot_subscriber_name_valid("a/b"));
    cr_assert_not(ot_subscriber_name_valid("é"));
}

/* --- the mirror on a real store and Redis ------------------------------------------ */

struct fwd {
    ot_redis *r;
    int drop;                   /* 1: the listener "loses" the group */
};

static void forward(void *ctx, const ot_event *evs, size_t n)
{
    struct fwd *f = ctx;
    if (f->r && !f->drop)
        ot_redis_on_commit(f->r, evs, n);
}

static const char *redis_url_or_skip(void) { return ot_test_service("OPSTWIN_TEST_REDIS_URL"); }

static redisContext *client(const char *url)
{
    ot_redis_url u;
    ot_error err;
    cr_assert_eq(ot_redis_url_parse(url, &u, &err), 0, "%s", err.message);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    cr_assert(c && !c->err, "cannot connect to %s", url);
    if (u.db)
        freeReplyObject(redisCommand(c, "SELECT %d", u.db));
    return c;
}

static void put_events(ot_store *st, int n)
{
    for (int i = 0; i < n; i++) {
        ot_store_event ev = {.type = OT_EV_POLICY_UPDATED, .twin_id = "tw", .id = "tw",
                             .ref_type = "policy"};
        ot_store_write w = {.events = &ev, .nevents = 1};
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    }
}

static long top_of(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", key);
    long top = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
                   ? strtol(r->element[0]->element[0]->str, NULL, 10)
                   : 0;
    freeReplyObject(r);
    return top;
}

static void wait_top_eq(redisContext *c, const char *key, long want)
{
    long top = 0;
    for (int i = 0; i < 200 && (top = top_of(c, key)) != want; i++)
        usleep(50000);
    cr_assert_eq(top, want, "stream %s ends at %ld, expected %ld", key, top, want);
}

struct rig {
    char dir[64];
    char prefix[96];
    char key[128];
    struct fwd f;
    ot_store *st;
    ot_redis *r;
    redisContext *c;
};

static void rig_up(struct rig *g)
{
    const char *url = redis_url_or_skip();
    snprintf(g->dir, sizeof g->dir, "/tmp/ot-redis-XXXXXX");
    cr_assert_not_null(mkdtemp(g->dir));
    snprintf(g->prefix, sizeof g->prefix, "unit:%d:%ld:", (int)getpid(), (long)time(NULL));
    snprintf(g->key, sizeof g->key, "%sevents", g->prefix);
    ot_store_options so = {.data_dir = g->dir, .database_url = "", .queue_limit = 1000,
                           .read_connections = 2, .on_commit = forward, .on_commit_ctx = &g->f};
    ot_error err;
    cr_assert_eq(ot_store_open(&so, &g->st, &err), 0, "%s", err.message);
    g->c = client(url);
    freeReplyObject(redisCommand(g->c, "DEL %s", g->key));
}

static void rig_start(struct rig *g)
{
    ot_redis_options ro = {.url = getenv("OPSTWIN_TEST_REDIS_URL"), .prefix = g->prefix,
                           .stream_maxlen = 1000, .sim_ttl_s = 60, .store = g->st};
    ot_error err;
    cr_assert_eq(ot_redis_start(&ro, &g->r, &err), 0, "%s", err.message);
    g->f.r = g->r;
    for (int i = 0; i < 100; i++) { /* connected (the stream's end is known) */
        json_t *h = json_object();
        ot_redis_health(g->r, h);
        int up = json_is_true(json_object_get(h, "connected"));
        json_decref(h);
        if (up)
            break;
        usleep(50000);
    }
}

static void rig_down(struct rig *g)
{
    ot_redis_stop(g->r);
    g->f.r = NULL;
    ot_store_close(g->st);
    ot_redis_free(g->r);
    freeReplyObject(redisCommand(g->c, "DEL %s", g->key));
    redisFree(g->c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g->dir);
    cr_assert_eq(system(cmd), 0);
}

Test(redis_mirror, lost_groups_are_read_back_from_the_store_in_order)
{
    struct rig g = {0};
    rig_up(&g);
    rig_start(&g);
    put_events(g.st, 10);
    g.f.drop = 1;                /* as when the queue overflows */
    put_events(g.st, 10);
    g.f.drop = 0;
    put_events(g.st, 10);
    wait_top_eq(g.c, g.key, 30);
    redisReply *r = redisCommand(g.c, "XRANGE %s - +", g.key);
    cr_assert_eq(r->elements, 30);
    for (size_t i = 0; i < r->elements; i++) {
        char id[32], cur[64];
        snprintf(id, sizeof id, "%zu-0", i + 1);
        cr_assert_str_eq(r->element[i]->element[0]->str, id);
        snprintf(cur, sizeof cur, "\"cursor\":\"cursor_%06zu\"", i + 1);
        cr_assert(strstr(r->element[i]->element[1]->element[5]->str, cur), "entry %s: %s", id,
                  r->element[i]->element[1]->element[5]->str);
    }
    freeReplyObject(r);
    cr_assert_eq(ot_redis_mirrored(g.r), 30);
    ot_buf m;
    ot_buf_init(&m);
    ot_redis_metrics(g.r, &m);
    ot_buf_append(&m, "", 1);
    cr_assert(strstr(m.data, "opstwin_redis_catchup_events_total 10\n"), "%s", m.data);
    ot_buf_free(&m);
    rig_down(&g);
}

Test(redis_mirror, starts_after_the_streams_last_id_and_never_duplicates)
{
    struct rig g = {0};
    rig_up(&g);
    put_events(g.st, 12);        /* before the mirror exists */
    /* the stream already holds 1..5, as after an earlier run */
    for (int i = 1; i <= 5; i++)
        freeReplyObject(redisCommand(g.c, "XADD %s %d-0 type x twin_id x event {}", g.key, i));
    rig_start(&g);
    wait_top_eq(g.c, g.key, 12);
    redisReply *r = redisCommand(g.c, "XRANGE %s - +", g.key);
    cr_assert_eq(r->elements, 12, "duplicates or gaps: %zu entries", r->elements);
    cr_assert_str_eq(r->element[4]->element[1]->element[1]->str, "x"); /* ours, untouched */
    cr_assert_str_eq(r->element[5]->element[1]->element[1]->str, "PolicyUpdated");
    freeReplyObject(r);
    json_t *h = json_object();
    cr_assert_str_eq(ot_redis_health(g.r, h), "ok");
    json_decref(h);
    rig_down(&g);
}

Test(redis_mirror, a_stream_ahead_of_the_log_is_reported_not_overwritten)
{
    struct rig g = {0};
    rig_up(&g);
    put_events(g.st, 3);
    freeReplyObject(redisCommand(g.c, "XADD %s 1000-0 type x twin_id x event {}", g.key));
    rig_start(&g);
    json_t *h = NULL;
    const char *st = "ok";
    for (int i = 0; i < 100; i++) {
        json_decref(h);
        h = json_object();
        st = ot_redis_health(g.r, h);
        if (strcmp(st, "degraded") == 0 && json_object_get(h, "stream_ahead"))
            break;
        usleep(50000);
    }
    cr_assert_str_eq(st, "degraded");
    cr_assert(json_is_string(json_object_get(h, "stream_ahead")));
    json_decref(h);
    cr_assert_eq(top_of(g.c, g.key), 1000);
    rig_down(&g);
}
