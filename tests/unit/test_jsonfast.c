/* The JSON fast path (core/jsonfast.h): what it parses equals jansson's
 * parse, byte for byte once dumped; what it does not handle (escapes,
 * big integers, overflowing reals, invalid JSON, scalars at the top) it
 * declines, and ot_json_loadb then gives jansson's value or error. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonfast.h"

static void same_as_jansson(const char *text, size_t flags)
{
    json_t *fast = ot_json_fast_loadb(text, strlen(text), flags);
    cr_assert_not_null(fast, "the fast path declined %s", text);
    json_error_t err;
    json_t *ref = json_loadb(text, strlen(text), flags, &err);
    cr_assert_not_null(ref, "%s: %s", text, err.text);
    size_t dump = JSON_COMPACT | JSON_REAL_PRECISION(17);
    char *a = json_dumps(fast, dump), *b = json_dumps(ref, dump);
    cr_assert_str_eq(a, b, "%s", text);
    cr_assert(json_equal(fast, ref), "%s", text);
    free(a);
    free(b);
    json_decref(fast);
    json_decref(ref);
}

static void declined(const char *text, size_t flags)
{
    json_t *fast = ot_json_fast_loadb(text, strlen(text), flags);
    cr_assert_null(fast, "the fast path took %s", text);
}

Test(jsonfast, parses_what_ingest_sees_as_jansson_does)
{
    same_as_jansson("[{\"twin_id\":\"batch1\",\"asset_id\":\"a1\",\"metrics\":{\"temp_c\":20.10,"
                    "\"load_pct\":1}},{\"twin_id\":\"b\",\"metrics\":{\"x\":-0,\"y\":-0.0}}]", 0);
    same_as_jansson(" {\"twin_id\" : \"pump-1\",\n\t\"ts\":1767530096123,\r\n\"metrics\":"
                    "{\"temp_c\":\"21.5\",\"ok\":true,\"no\":false,\"nil\":null}} \n", 0);
    same_as_jansson("{\"d\":\"K\xc3\xbc" "che\",\"e\":\"\xe2\x82\xac\",\"empty\":\"\",\"\":1}", 0);
    same_as_jansson("[0,1,-1,999999999999999999,-999999999999999999,0.1,1e-400,"
                    "1.7976931348623157e308,2.5E+3,7e0,[],{},[[[]]]]", 0);
    same_as_jansson("{}", 0);
    same_as_jansson("[]", JSON_REJECT_DUPLICATES);
}

Test(jsonfast, a_later_duplicate_key_replaces_the_value_in_place)
{
    same_as_jansson("{\"a\":1,\"b\":2,\"a\":{\"c\":[3]}}", 0);
    json_t *v = ot_json_fast_loadb("{\"a\":1,\"b\":2,\"a\":3}", 19, 0);
    cr_assert_not_null(v);
    char *s = json_dumps(v, JSON_COMPACT);
    cr_assert_str_eq(s, "{\"a\":3,\"b\":2}");
    free(s);
    json_decref(v);
    declined("{\"a\":1,\"b\":2,\"a\":3}", JSON_REJECT_DUPLICATES);
}

Test(jsonfast, declines_what_it_leaves_to_jansson)
{
    static const char *const cases[] = {
        "{\"a\":\"tab\\t\"}",         /* an escape */
        "{\"a\":\"\\u00fc\"}",
        "[1234567890123456789]",      /* 19 digits */
        "[1e400]",                    /* overflow: jansson's error */
        "[\"\xc3\"]",                 /* malformed UTF-8 */
        "[\"\xed\xa0\x80\"]",         /* a surrogate */
        "[\"a\nb\"]",                 /* a control character */
        "1", "\"s\"", "true",         /* no object or array at the top */
        "", "   ", "[", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}", "[01]", "[1.]", "[.5]",
        "[-]", "[1e]", "[tru]", "[truex]", "[nul]", "[1] [2]", "[1]x", "{} {}",
        "\xef\xbb\xbf[1]",            /* a byte-order mark */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        declined(cases[i], 0);
    declined("{\"a\":1}", JSON_DECODE_ANY); /* flags it does not implement */
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    declined(deep, 0);
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    same_as_jansson(deep, 0); /* 64 levels */
}

Test(jsonfast, the_fallback_gives_jansson_values_and_errors)
{
    json_error_t err;
    json_t *v = ot_json_loadb("{\"a\":\"\\u00fc\"}", 14, 0, &err);
    cr_assert_not_null(v);
    cr_assert_str_eq(json_string_value(json_object_get(v, "a")), "\xc3\xbc");
    json_decref(v);
    v = ot_json_loadb("[1,]", 4, 0, &err);
    cr_assert_null(v);
    cr_assert(strlen(err.text) > 0);
    cr_assert_eq(err.column, 4, "jansson's position: %d (%s)", err.column, err.text);
    v = ot_json_loadb("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, &err);
    cr_assert_null(v);
    cr_assert(strstr(err.text, "duplicate"), "%s", err.text);
}
