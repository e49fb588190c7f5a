#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

Test(utf8, known_cases)
{
    cr_assert(ot_utf8_valid("", 0));
    cr_assert(ot_utf8_valid("plain ascii", 11));
    cr_assert(ot_utf8_valid("\xC3\xA9t\xC3\xA9", 6));          /* été */
    cr_assert(ot_utf8_valid("\xE2\x82\xAC", 3));               /* U+20AC */
    cr_assert(ot_utf8_valid("\xF0\x9F\x98\x80", 4));           /* U+1F600 */
    cr_assert(ot_utf8_valid("\xF4\x8F\xBF\xBF", 4));           /* U+10FFFF */
    cr_assert_not(ot_utf8_valid("\xFF", 1));
    cr_assert_not(ot_utf8_valid("\x80", 1));                   /* lone continuation */
    cr_assert_not(ot_utf8_valid("\xC0\xAF", 2));               /* overlong '/' */
    cr_assert_not(ot_utf8_valid("\xE0\x80\xAF", 3));           /* overlong */
    cr_assert_not(ot_utf8_valid("\xED\xA0\x80", 3));           /* surrogate D800 */
    cr_assert_not(ot_utf8_valid("\xF4\x90\x80\x80", 4));       /* above U+10FFFF */
    cr_assert_not(ot_utf8_valid("\xE2\x82", 2));               /* truncated */
    cr_assert_not(ot_utf8_valid("a\xC3", 2));
}

/* Agrees with jansson, which refuses to hold any string that is not
 * well-formed, on a million random short byte strings biased to the
 * interesting bytes. */
Test(utf8, agrees_with_jansson)
{
    static const unsigned char pool[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                                         0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF,
                                         0xF0, 0xF4, 0xF5, 0xFF};
    uint64_t x = 0x2545F4914F6CDD1DULL;
    char buf[8];
    for (int t = 0; t < 1000000; t++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 1 + x % 6;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)pool[(x >> (8 + 5 * i)) % sizeof pool];
        json_t *j = json_stringn(buf, n);
        cr_assert_eq(ot_utf8_valid(buf, n), j != NULL, "case %d", t);
        json_decref(j);
    }
}

Test(utf8, sanitize_escapes_bad_bytes_and_keeps_good_ones)
{
    char out[64];
    cr_assert_eq(ot_utf8_sanitize("ok \xC3\xA9", out, sizeof out), 5);
    cr_assert_str_eq(out, "ok \xC3\xA9");
    ot_utf8_sanitize("a\xFF" "b\xC0\xAF" "c\xE2\x82", out, sizeof out);
    cr_assert_str_eq(out, "a\\xffb\\xc0\\xafc\\xe2\\x82");
    cr_assert(ot_utf8_valid(out, strlen(out)));
    /* never splits a sequence or an escape at the end of the buffer */
    char small[6];
    ot_utf8_sanitize("ab\xE2\x82\xAC", small, sizeof small);
    cr_assert_str_eq(small, "ab\xE2\x82\xAC");
    ot_utf8_sanitize("abc\xE2\x82\xAC", small, sizeof small);
    cr_assert_str_eq(small, "abc");
    ot_utf8_sanitize("a\xFF\xFF", small, sizeof small);
    cr_assert_str_eq(small, "a\\xff");
}
