/* Unit tests of the pure parts of the Redis integration: REDIS_URL parsing
 * and the stream ID <-> cursor mapping (store/redis.h). The integration
 * itself is tested against a real Redis in tests/blackbox/test_redis.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "aiw/subscribers.h"
#include "store/redis.h"

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
