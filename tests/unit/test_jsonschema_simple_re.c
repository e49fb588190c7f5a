/* Simple patterns (^[A][B]*$ and kin, jsonschema_internal.h): recognized
 * only in the shapes the byte tables can match, and matched exactly as
 * PCRE2 matches the same pattern, for every string of a generated set
 * (ASCII, UTF-8, NUL, a final newline). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"

static const char *const simple[] = {
    "^[A-Za-z0-9][A-Za-z0-9_.:-]*$", /* telemetry.v1's id */
    "^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$", /* and its names */
    "^[a-z]$", "^[a-z]*$", "^[a-z]+$", "^[-a]+$", "^[a-]*$", "^[a-c-e]+$",
    "^[ab][0-9]$", "^[ab][0-9]+$", "^[$^.|?*+(){}]+$", "^[ ~]*$",
};
static const char *const not_simple[] = {
    "[a-z]+", "^[a-z]+", "[a-z]+$", "^[^a-z]+$", "^[\\d]+$", "^[a-z]+?$", "^[a-z]{2}$",
    "^[a-z]*[0-9]$", "^[a-z][0-9][0-9]$", "^[]$", "^[[:alpha:]]+$", "^[a-z]+$$",
    "^[a-z]\\$", "^a[a-z]*$", "^[é]+$", "^([a-z])+$", "^[a-z]|[0-9]$",
};

Test(jsonschema_simple_re, recognizes_only_the_shapes_it_matches)
{
    struct js_simple_re re;
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        js_simple_re_parse(simple[i], strlen(simple[i]), &re);
        cr_assert_neq(re.kind, 0, "%s is simple", simple[i]);
    }
    for (size_t i = 0; i < sizeof not_simple / sizeof not_simple[0]; i++) {
        js_simple_re_parse(not_simple[i], strlen(not_simple[i]), &re);
        cr_assert_eq(re.kind, 0, "%s is not simple", not_simple[i]);
    }
}

Test(jsonschema_simple_re, matches_as_pcre2_does)
{
    /* strings of length 0..3 over an alphabet touching every class edge,
     * plus longer ones */
    static const char alphabet[] = {'a', 'z', 'A', '0', '9', '_', '.', ':', '-', '/', '$', ' ',
                                    '~', '\n', '\0', 'b', 'd', 'e', '\x7f'};
    static const char *const longer[] = {"pump-1", "plant.north:7", "a\xc3\xa9", "\xc3\xa9t\xc3\xa9",
                                         "abc\n", "ab0", "b99", "Zz_09.:-/"};
    size_t na = sizeof alphabet, checked = 0, matched = 0;
    for (size_t p = 0; p < sizeof simple / sizeof simple[0]; p++) {
        struct js_simple_re re;
        js_simple_re_parse(simple[p], strlen(simple[p]), &re);
        pcre2_code *code = NULL;
        char why[256];
        cr_assert_eq(js_regex_compile(simple[p], strlen(simple[p]), &code, why, sizeof why), 0,
                     "%s", why);
        pcre2_match_data *md = NULL;
        for (size_t n = 0; n <= 3; n++) {
            size_t total = 1;
            for (size_t k = 0; k < n; k++)
                total *= na;
            for (size_t v = 0; v < total; v++) {
                char s[4];
                for (size_t k = 0, x = v; k < n; k++, x /= na)
                    s[k] = alphabet[x % na];
                int want = js_regex_search(code, NULL, &md, s, n);
                cr_assert_eq(js_simple_re_match(&re, s, n), want, "%s on a %zu-byte string",
                             simple[p], n);
                checked++;
                matched += want == 1;
            }
        }
        for (size_t i = 0; i < sizeof longer / sizeof longer[0]; i++) {
            int want = js_regex_search(code, NULL, &md, longer[i], strlen(longer[i]));
            cr_assert_eq(js_simple_re_match(&re, longer[i], strlen(longer[i])), want, "%s on %s",
                         simple[p], longer[i]);
        }
        pcre2_match_data_free(md);
        pcre2_code_free(code);
    }
    cr_assert_gt(matched, 1000, "%zu of %zu matched: the set exercises both answers", matched,
                 checked);
}
