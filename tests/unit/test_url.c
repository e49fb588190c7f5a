#include <criterion/criterion.h>
#include <string.h>

#include "core/url.h"

Test(url, percent_decoding)
{
    char out[16];
    cr_assert_eq(ot_pct_decode("p%40ss%3Aw", 10, out, sizeof out), 0);
    cr_assert_str_eq(out, "p@ss:w");
    cr_assert_eq(ot_pct_decode("abc", 2, out, sizeof out), 0, "only n bytes are read");
    cr_assert_str_eq(out, "ab");
    cr_assert_eq(ot_pct_decode("", 0, out, sizeof out), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(ot_pct_decode("%4", 2, out, sizeof out), -1, "a cut escape");
    cr_assert_eq(ot_pct_decode("%zz", 3, out, sizeof out), -1, "not hex");
    cr_assert_eq(ot_pct_decode("abcd", 4, out, 4), -1, "does not fit with its NUL");
    cr_assert_eq(ot_pct_decode("abc", 3, out, 4), 0);
}
