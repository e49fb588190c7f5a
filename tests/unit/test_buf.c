#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "api/router.h"
#include "core/buf.h"
#include "core/evtype.h"

Test(buf, printf_grows_and_steal)
{
    ot_buf b;
    ot_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        ot_buf_printf(&b, "%04d,", i);
    cr_assert_eq(b.len, 5000);
    char long_s[600];
    memset(long_s, 'x', 599);
    long_s[599] = 0;
    ot_buf_printf(&b, "%s", long_s);
    cr_assert_eq(b.len, 5599);
    size_t n;
    char *s = ot_buf_steal(&b, &n);
    cr_assert_eq(n, 5599);
    cr_assert(strncmp(s, "0000,0001,", 10) == 0);
    cr_assert_eq(s[n], 0);
    cr_assert_null(b.data);
    free(s);
}

Test(metrics, render_counts_and_histogram)
{
    ot_metrics *m = ot_metrics_new(ot_routes_count);
    ot_metrics_observe(m, 0, 200, 300000);     /* 0.3 ms */
    ot_metrics_observe(m, 0, 200, 2000000000); /* 2 s */
    ot_metrics_observe(m, -1, 404, 1000);
    ot_metrics_inflight_add(m, 3);
    size_t len;
    char *t = ot_metrics_render(m, &len);
    char want[256];
    snprintf(want, sizeof want, "opstwin_http_requests_total{route=\"%s\",method=\"%s\",path=\"%s\",status=\"200\"} 2",
             ot_routes[0].name, ot_routes[0].method, ot_routes[0].pattern);
    cr_assert(strstr(t, want), "%s", t);
    cr_assert(strstr(t, "route=\"unmatched\",method=\"\",path=\"\",status=\"404\"} 1"));
    cr_assert(strstr(t, "le=\"0.0005\"} 1"), "%s", t);
    cr_assert(strstr(t, "le=\"2.5\"} 2"), "%s", t);
    cr_assert(strstr(t, "le=\"+Inf\"} 2"), "%s", t);
    cr_assert(strstr(t, "opstwin_http_requests_in_flight 3\n"));
    free(t);
    ot_metrics_free(m);
}

Test(evtype, names_roundtrip)
{
    for (int i = 0; i < OT_EV_COUNT; i++)
        cr_assert_eq(ot_evtype_parse(ot_evtype_name(i), -1), i);
    cr_assert_eq(ot_evtype_parse("TelemetryAppendedX", -1), -1);
    cr_assert_eq(ot_evtype_parse("TelemetryAppended,X", 17), 0);
    cr_assert_null(ot_evtype_name(OT_EV_COUNT));
}

Test(buf, json_real_examples)
{
    static const struct {
        double v;
        const char *text;
    } ex[] = {{0.0, "0.0"}, {-0.0, "-0.0"}, {1.0, "1.0"}, {-7.0, "-7.0"}, {0.1, "0.1"},
              {20.1, "20.1"}, {0.1 + 0.2, "0.30000000000000004"},
              {10.0 / 3, "3.3333333333333335"}, {1.0000000000000002, "1.0000000000000002"},
              {100.0, "100.0"}, {0.000123, "0.000123"}, {0.0001, "0.0001"}, {1e-5, "1e-5"},
              {1e-6, "1e-6"}, {1e-7, "1e-7"}, {1e16, "10000000000000000.0"}, {1e17, "1e17"},
              {1e20, "1e20"}, {1e21, "1e21"}, {3.0e100, "3e100"}, {2.5e-310, "2.5e-310"},
              {4.9e-324, "5e-324"}, {-1.5e-300, "-1.5e-300"},
              {1.7976931348623157e308, "1.7976931348623157e308"},
              {123456789012345678.0, "1.2345678901234568e17"},
              {123456.78901234567, "123456.78901234567"}, {5.0, "5.0"}, {-42.0, "-42.0"},
              {999999999999999.0, "999999999999999.0"}, {-100000000000000.0, "-100000000000000.0"},
              {1e15, "1000000000000000.0"}, {1e15 + 1, "1000000000000001.0"}};
    ot_buf b;
    ot_buf_init(&b);
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        ot_buf_reset(&b);
        ot_buf_json_real(&b, ex[i].v);
        cr_assert_str_eq(b.data, ex[i].text, "%a", ex[i].v);
    }
    ot_buf_free(&b);
}

Test(buf, json_string_escapes_as_jansson_does)
{
    static const char *const pieces[] = {"a", "\"", "\\", "\b", "\f", "\n", "\r", "\t", "\x01",
                                         "\x1f", "/", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", " ", "Z"};
    srand(7);
    ot_buf b;
    ot_buf_init(&b);
    for (int i = 0; i < 20000; i++) {
        char s[256] = "";
        int n = rand() % 12;
        for (int k = 0; k < n; k++)
            strcat(s, pieces[rand() % (int)(sizeof pieces / sizeof pieces[0])]);
        json_t *j = json_string(s);
        cr_assert_not_null(j, "%s", s);
        char *want = json_dumps(j, JSON_ENCODE_ANY);
        ot_buf_reset(&b);
        ot_buf_json_string(&b, s);
        cr_assert_str_eq(b.data, want);
        free(want);
        json_decref(j);
    }
    ot_buf_free(&b);
}

/* Every ASCII byte at every position of strings up to 24 bytes, so each
 * one lands in each lane of the word-at-a-time scan and in the tail. */
Test(buf, json_string_escapes_every_byte_in_every_position)
{
    ot_buf b;
    ot_buf_init(&b);
    for (int len = 1; len <= 24; len++) {
        for (int pos = 0; pos < len; pos++) {
            for (int c = 1; c < 0x80; c++) {
                char s[32];
                memset(s, c == 'a' ? 'b' : 'a', (size_t)len);
                s[pos] = (char)c;
                s[len] = '\0';
                json_t *j = json_string(s);
                char *want = json_dumps(j, JSON_ENCODE_ANY);
                ot_buf_reset(&b);
                ot_buf_json_string(&b, s);
                cr_assert_str_eq(b.data, want, "byte %#x at %d of %d", c, pos, len);
                free(want);
                json_decref(j);
            }
        }
    }
    ot_buf_free(&b);
}

/* The significant digits of a number's text, without leading or trailing
 * zeros ("0.0120e-3" -> "12"). */
static void sig_digits(const char *s, char *out)
{
    size_t k = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && (k || *s != '0'))
            out[k++] = *s;
    while (k > 1 && out[k - 1] == '0')
        k--;
    out[k] = '\0';
}

/* v's text reads back as v, bit for bit, and has the digits of %.{p}g for
 * the least p that reads back (the shortest, and of those the nearest);
 * a '.' or an exponent, written without '+' or leading zeros. */
static void check_real(ot_buf *b, double v)
{
    ot_buf_reset(b);
    ot_buf_json_real(b, v);
    double back = strtod(b->data, NULL);
    cr_assert(memcmp(&back, &v, sizeof v) == 0, "%a written as %s", v, b->data);
    char ref[64], want[32], got[32];
    for (int p = 1; p <= 17; p++) {
        snprintf(ref, sizeof ref, "%.*g", p, v);
        if (strtod(ref, NULL) == v)
            break;
    }
    sig_digits(ref, want);
    sig_digits(b->data, got);
    cr_assert_str_eq(got, want, "%a written as %s, shortest %s", v, b->data, ref);
    const char *e = strchr(b->data, 'e');
    cr_assert(e || strchr(b->data, '.'), "%s reads as an integer", b->data);
    cr_assert(!e || (e[1] != '+' && e[1] != '0' && !(e[1] == '-' && e[2] == '0')), "%s",
              b->data);
}

/* Random magnitudes and mantissas, random bits (subnormals, the extremes),
 * short decimals as sensors send them, dyadic fractions (exact decimal
 * expansions), and the edges of the hand-written range and of each power
 * of ten. */
Test(buf, json_real_is_the_shortest_text_that_reads_back)
{
    ot_buf b;
    ot_buf_init(&b);
    srand(3);
    for (int i = 0; i < 100000; i++) {
        double mag = pow(10.0, -7.0 + 25.0 * rand() / (double)RAND_MAX);
        double frac = 1.0 + (double)(((uint64_t)rand() << 31) ^ (uint64_t)rand()) / 4611686018427387904.0;
        check_real(&b, (i % 2 ? -1 : 1) * mag * frac);
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double r;
        memcpy(&r, &bits, sizeof r);
        if (isfinite(r))
            check_real(&b, r);
    }
    for (int j = 0; j <= 6; j++)
        for (int k = 0; k < 10000; k++)
            check_real(&b, (double)(k * 7919 % 10000000) / pow(10.0, j));
    for (int k = 0; k < 20000; k++) /* integers of every size up to 2^53 */
        check_real(&b, (k % 2 ? -1 : 1) * floor(ldexp(1.0 + rand() / (double)RAND_MAX, k % 53)));
    for (int i = 0; i < 50000; i++) {
        uint64_t m = (((uint64_t)rand() << 31) ^ (uint64_t)rand()) & ((1ULL << 53) - 1);
        check_real(&b, ldexp((double)(m | 1), -(rand() % 64)));
    }
    static const double edges[] = {1e-6, 1e-5, 1e-4, 1e-3, 0.1, 1, 10, 1e15, 1e16, 1e17,
                                   9.9999999999999995e16, 9.99999999999999999e16, 0.3, 2.5,
                                   9007199254740992.0, 123456789012345678.0, 5e-324,
                                   2.2250738585072014e-308, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        double v = edges[i];
        for (int k = 0; k < 200; k++) {
            check_real(&b, v);
            check_real(&b, -v);
            v = nextafter(v, 0);
        }
        v = edges[i];
        for (int k = 0; k < 200 && isfinite(v); k++, v = nextafter(v, INFINITY))
            check_real(&b, v);
    }
    ot_buf_free(&b);
}

/* ot_json_dumps writes what jansson writes, reals aside: strings with
 * escapes and NUL bytes, keys with NUL bytes, integers to the extremes,
 * nesting, sorted and unsorted, compact and not. With reals, the text reads
 * back as an equal tree. */
Test(buf, json_dumps_writes_what_jansson_writes)
{
    json_t *o = json_object();
    json_object_set_new(o, "z", json_stringn("a\0b\"\\\n\x01\xc3\xa9", 9));
    json_object_setn_new(o, "k\0ey", 4, json_integer(INT64_MIN));
    json_object_set_new(o, "b", json_pack("[i, I, b, b, n, [], {}, s]", -1, (json_int_t)INT64_MAX,
                                          1, 0, "\t/"));
    json_object_set_new(o, "a", json_pack("{s:{s:[s]}, s:i}", "y", "x", "w", "c", 0));
    json_object_set_new(o, "k", json_integer(1));
    static const size_t flags[] = {JSON_COMPACT, JSON_COMPACT | JSON_SORT_KEYS, 0, JSON_SORT_KEYS};
    for (size_t i = 0; i < 4; i++) {
        char *want = json_dumps(o, flags[i]), *got = ot_json_dumps(o, flags[i]);
        cr_assert_str_eq(got, want);
        free(want);
        free(got);
    }
    char *s = ot_json_dumps(json_object_get(o, "b"), JSON_COMPACT); /* any value */
    cr_assert_str_eq(s, "[-1,9223372036854775807,true,false,null,[],{},\"\\t/\"]");
    free(s);
    json_object_deln(o, "k\0ey", 4); /* jansson reads no NUL in a key */
    json_object_set_new(o, "r", json_pack("[f, f, f, {s:f}]", 0.1, 1e300, -2.5e-310, "q", 20.1));
    s = ot_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(strstr(s, "\"r\":[0.1,1e300,-2.5e-310,{\"q\":20.1}]"), "%s", s);
    json_t *back = json_loads(s, JSON_ALLOW_NUL, NULL);
    cr_assert(json_equal(back, o), "%s", s);
    json_decref(back);
    free(s);
    json_decref(o);
}

/* ot_strlcpy copies as snprintf(dst, n, "%s", src) does. */
Test(buf, strlcpy_copies_and_truncates_as_snprintf)
{
    static const char *const srcs[] = {"", "a", "twin-1", "exactly8", "longer than eight", NULL};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++)
        for (size_t n = 1; n <= 12; n++) {
            char got[12], want[12];
            memset(got, 'x', sizeof got);
            memset(want, 'x', sizeof want);
            size_t len = ot_strlcpy(got, srcs[i], n);
            int wl = snprintf(want, n, "%s", srcs[i] ? srcs[i] : "");
            cr_assert_eq(len, (size_t)wl);
            cr_assert_eq(memcmp(got, want, sizeof got), 0, "src %zu, n %zu", i, n);
        }
}

Test(buf, u64_digits_agree_with_printf)
{
    static const unsigned long long cases[] = {0, 1, 9, 10, 99, 100, 12345, 4294967295ULL,
                                               4294967296ULL, 999999999999999999ULL,
                                               18446744073709551615ULL};
    ot_buf b;
    ot_buf_init(&b);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[32], got[32];
        snprintf(want, sizeof want, "%llu", cases[i]);
        cr_assert_eq(ot_fmt_u64(got, cases[i]), strlen(want));
        cr_assert_str_eq(got, want);
        ot_buf_reset(&b);
        ot_buf_puts(&b, "n=");
        ot_buf_put_u64(&b, cases[i]);
        cr_assert_eq(b.len, 2 + strlen(want));
        cr_assert_str_eq(b.data + 2, want);
    }
    ot_buf_free(&b);
}
