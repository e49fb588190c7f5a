/* telemetry/names: the path of a JSON parse error (ot_tel_json_error). The
 * errors come from jansson itself, so the positions are the ones callers
 * get. */
#include <criterion/criterion.h>
#include <string.h>

#include "telemetry/names.h"

/* Parse text with jansson (which must fail) and return the error's path;
 * *message gets the message. */
static const char *path_of(const char *base, const char *text, size_t flags, ot_error *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, strlen(text), flags, &je);
    cr_assert_null(v, "%s parsed", text);
    cr_assert_eq(ot_tel_json_error(err, base, "request body", text, strlen(text), &je, 1),
                 OT_EINVAL);
    cr_assert_eq(err->code, OT_EINVAL);
    return err->path;
}

Test(names, a_json_error_names_the_value_it_is_in)
{
    static const struct { const char *text, *path; } cases[] = {
        /* a number that overflows to infinity: the metric */
        {"{\"metrics\":{\"x\":1e999}}", "$.metrics.x"},
        {"{\"metrics\":{\"x\":-1e999 }}", "$.metrics.x"},
        {"[{\"a\":1},{\"m\":{\"x\":1e999,\"y\":2}}]", "$[1].m.x"},
        {"[{\"twin_id\":\"t\",\"metrics\":{\"ok\":1}},{\"twin_id\":\"u\",\"metrics\":{\"a\":2,\"b\":1e400}}]",
         "$[1].metrics.b"},
        /* bad tokens, missing ones, control characters */
        {"{\"a\":tru}", "$.a"},
        {"{\"a\":{\"b\":[{\"c\":\"x\ty\"}]}}", "$.a.b[0].c"},
        {"{\"a\":[1,2,,3]}", "$.a[2]"},
        {"{\"a\":1,}", "$"},
        {"[1,2", "$[1]"},
        {"{", "$"},
        {"", "$"},
        {"\"just a string\"", "$"},
        /* brackets, commas and quotes inside strings open nothing */
        {"{\"s\":\"a,b]}[{\",\"t\":1e999}", "$.t"},
        {"{\"q\":\"say \\\"hi\\\", [x]\",\"t\":1e999}", "$.t"},
        /* keys: escaped quotes unescaped, other names quoted */
        {"{\"k\\\"q\":1e999}", "$[\"k\\x22q\"]"},
        {"{\"bad name\":1e999}", "$[\"bad name\"]"},
        /* a closed container is left */
        {"{\"a\":{\"b\":1},\"c\":[1,{\"d\":2}],\"e\":1e999}", "$.e"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_error err;
        cr_assert_str_eq(path_of("$", cases[i].text, 0, &err), cases[i].path, "case %zu: %s",
                         i, cases[i].text);
    }
}

Test(names, a_json_error_message_says_where)
{
    ot_error err;
    path_of("$", "{\"twin_id\":\"t\",\"metrics\":{\"v\":1e999}}", 0, &err);
    cr_assert_str_eq(err.message, "request body is not valid JSON at $.metrics.v: real number "
                     "overflow near '1e999' (line 1, column 35)");
    path_of("$", "{\"a\":1,}", 0, &err);
    cr_assert_str_eq(err.message, "request body is not valid JSON: string or '}' expected near "
                     "'}' (line 1, column 8)");
    /* the duplicate key is the path (ot_req_json rejects duplicates) */
    cr_assert_str_eq(path_of("$", "{\"a\":1,\"a\":2}", JSON_REJECT_DUPLICATES, &err), "$.a");

    /* an NDJSON line: the item's path leads, and the column alone */
    json_error_t je;
    const char *line = "{\"metrics\":{\"v\":1e999}}";
    cr_assert_null(json_loadb(line, strlen(line), 0, &je));
    ot_tel_json_error(&err, "$[2]", "line 3", line, strlen(line), &je, 0);
    cr_assert_str_eq(err.path, "$[2].metrics.v");
    cr_assert_str_eq(err.message, "line 3 is not valid JSON at $[2].metrics.v: real number "
                     "overflow near '1e999' (column 21)");
}

Test(names, a_json_error_path_is_bounded)
{
    /* 200 levels: the path names the first 32 and ends there */
    char deep[512];
    size_t k = 0;
    for (int i = 0; i < 200; i++)
        deep[k++] = '[';
    memcpy(deep + k, "1e999", 6);
    ot_error err;
    const char *p = path_of("$", deep, 0, &err);
    cr_assert_eq(strlen(p), 1 + 32 * 3, "%s", p);
    cr_assert(strncmp(p, "$[0][0][0]", 10) == 0, "%s", p);

    /* long keys: cut, never overrun */
    char text[3000];
    k = (size_t)snprintf(text, sizeof text, "{");
    for (int i = 0; i < 20; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "\"%0100d\":{", i);
    snprintf(text + k, sizeof text - k, "\"x\":1e999");
    p = path_of("$", text, 0, &err);
    cr_assert_lt(strlen(p), (size_t)OT_ERROR_PATH_MAX);
    cr_assert(strncmp(p, "$.0000", 6) == 0, "%s", p);
}
