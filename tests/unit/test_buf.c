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

Test(buf, json_real_writes_what_jansson_writes)
{
    static const double v[] = {0.0, -0.0, 1.0, -7.0, 0.1, 1e20, 1e21, 1e-5, 1e-7, 2.5e-310,
                               4.9e-324, 1.7976931348623157e308, 123456789012345678.0, 1e16,
                               -1.5e-300, 3.0e100, 100.0, 0.000123};
    ot_buf b;
    ot_buf_init(&b);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        json_t *j = json_real(v[i]);
        char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        ot_buf_reset(&b);
        ot_buf_json_real(&b, v[i]);
        cr_assert_str_eq(b.data, want, "%.17g", v[i]);
        free(want);
        json_decref(j);
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

static void check_real(ot_buf *b, double v)
{
    json_t *j = json_real(v);
    char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    ot_buf_reset(b);
    ot_buf_json_real(b, v);
    cr_assert_str_eq(b->data, want, "%a", v);
    free(want);
    json_decref(j);
}

/* The hand-written %.17g (1e-6 <= |v| < 1e17) against jansson's snprintf:
 * random magnitudes and mantissas, short decimals, dyadic fractions (whose
 * exact decimal expansions end: some are ties at the 17th digit, counted),
 * and the edges of the range and of each power of ten. */
Test(buf, json_real_by_hand_agrees_with_printf)
{
    ot_buf b;
    ot_buf_init(&b);
    srand(3);
    for (int i = 0; i < 300000; i++) {
        double mag = pow(10.0, -7.0 + 25.0 * rand() / (double)RAND_MAX);
        double frac = 1.0 + (double)(((uint64_t)rand() << 31) ^ (uint64_t)rand()) / 4611686018427387904.0;
        check_real(&b, (i % 2 ? -1 : 1) * mag * frac);
    }
    for (int j = 0; j <= 6; j++)
        for (int k = 0; k < 20000; k++)
            check_real(&b, (double)(k * 7919 % 10000000) / pow(10.0, j));
    int ties = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t m = (((uint64_t)rand() << 31) ^ (uint64_t)rand()) & ((1ULL << 53) - 1);
        double v = ldexp((double)(m | 1), -(rand() % 64));
        char s40[64];
        snprintf(s40, sizeof s40, "%.40e", v); /* d.ddd...: digit 18 at [18] */
        if (s40[18] == '5' && strspn(s40 + 19, "0") == strcspn(s40 + 19, "e"))
            ties++;
        check_real(&b, v);
    }
    cr_assert_gt(ties, 10, "ties exercised: %d", ties);
    static const double edges[] = {1e-6, 1e-5, 1e-4, 1e-3, 0.1, 1, 10, 1e15, 1e16, 1e17,
                                   9.9999999999999995e16, 9.99999999999999999e16, 0.3, 2.5,
                                   123456789012345678.0, 5e-324, 1.7976931348623157e308};
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
