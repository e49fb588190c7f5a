/* test_jsonschema.c - the draft 2020-12 validator, keyword by keyword, plus
 * the tricky parts: annotations through applicators, $dynamicRef, equality,
 * Unicode lengths, formats, hostile regexes, ref cycles and deep nesting. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema.h"

/* Compile schema text (must succeed), validate instance text; returns 1/0
 * and checks that the fast path and the error-collecting path agree. */
static int check_flags(const char *schema, const char *instance, int flags)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *sj = json_loads(schema, JSON_DECODE_ANY, NULL);
    json_t *ij = json_loads(instance, JSON_DECODE_ANY, NULL);
    cr_assert(sj && ij, "bad test JSON: %s / %s", schema, instance);
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, flags, &err);
    cr_assert(s, "compile failed: %s", err.message);
    json_t *errors = NULL;
    int slow = ot_jsonschema_validate(s, ij, &errors);
    int fast = ot_jsonschema_validate(s, ij, NULL);
    cr_assert_eq(slow, fast, "fast and full paths disagree on %s", instance);
    cr_assert(errors);
    cr_assert_eq(json_array_size(errors) == 0, slow == 1, "errors must be reported iff invalid");
    json_decref(errors);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    json_decref(sj);
    json_decref(ij);
    return slow;
}

static int check(const char *schema, const char *instance) { return check_flags(schema, instance, 0); }

static int compile_fails(const char *schema, char *msg_out, size_t len)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *sj = json_loads(schema, JSON_DECODE_ANY, NULL);
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, 0, &err);
    int failed = s == NULL;
    if (failed && msg_out)
        snprintf(msg_out, len, "%s", err.message);
    if (failed)
        cr_assert_eq(err.code, OT_EINVAL);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    json_decref(sj);
    return failed;
}

Test(jsonschema, type_and_integers)
{
    cr_assert(check("{\"type\":\"integer\"}", "1"));
    cr_assert(check("{\"type\":\"integer\"}", "1.0"));
    cr_assert_not(check("{\"type\":\"integer\"}", "1.5"));
    cr_assert(check("{\"type\":[\"string\",\"null\"]}", "null"));
    cr_assert_not(check("{\"type\":[\"string\",\"null\"]}", "false"));
    cr_assert(check("{\"type\":\"number\"}", "3"));
}

Test(jsonschema, enum_const_json_equality)
{
    cr_assert(check("{\"const\":1}", "1.0"));
    cr_assert_not(check("{\"const\":{\"a\":false}}", "{\"a\":0}"));
    cr_assert(check("{\"enum\":[[1,{\"b\":2}]]}", "[1.0,{\"b\":2.0}]"));
    cr_assert_not(check("{\"enum\":[true]}", "1"));
}

Test(jsonschema, numbers_and_multiple_of)
{
    cr_assert(check("{\"multipleOf\":0.0001}", "0.0075"));
    cr_assert_not(check("{\"multipleOf\":0.0001}", "0.00751"));
    cr_assert_not(check("{\"type\":\"integer\",\"multipleOf\":0.123456789}", "1e308"));
    cr_assert(check("{\"type\":\"integer\",\"multipleOf\":1e-8}", "12391239123"));
    cr_assert_not(check("{\"multipleOf\":1}", "1e-20"));
    cr_assert(check("{\"maximum\":3}", "3"));
    cr_assert_not(check("{\"exclusiveMaximum\":3}", "3.0"));
    cr_assert_not(check("{\"minimum\":1.1}", "1"));
    cr_assert(check("{\"exclusiveMinimum\":1}", "1.0000001"));
}

Test(jsonschema, string_lengths_count_code_points)
{
    cr_assert(check("{\"maxLength\":2}", "\"\\ud83d\\udca9\\ud83d\\udca9\""));
    cr_assert_not(check("{\"minLength\":3}", "\"\\u00e9\\u00e9\""));
    cr_assert(check("{\"minLength\":2.0}", "\"ab\""));
}

Test(jsonschema, pattern_is_ecma_like)
{
    cr_assert(check("{\"pattern\":\"a+\"}", "\"xxaxx\""));
    cr_assert_not(check("{\"pattern\":\"^\\\\d+$\"}", "\"\\u0967\"")); /* Devanagari one */
    cr_assert(check("{\"pattern\":\"^\\\\p{Letter}+$\"}", "\"\\u00e9t\\u00e9\""));
    cr_assert_not(check("{\"pattern\":\"^a$\"}", "\"a\\n\""));
    cr_assert(check("{\"pattern\":\"^\\\\w+$\"}", "\"abc_1\""));
    cr_assert_not(check("{\"pattern\":\"^\\\\w+$\"}", "\"\\u00e9\""));
}

Test(jsonschema, hostile_regex_is_cut_off_not_hung)
{
    char inst[80];
    memset(inst, 'a', sizeof inst);
    inst[0] = '"';
    inst[sizeof inst - 3] = 'b';
    inst[sizeof inst - 2] = '"';
    inst[sizeof inst - 1] = 0;
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *sj = json_loads("{\"pattern\":\"^(a|a?)+$\"}", 0, NULL);
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, 0, &err);
    json_t *ij = json_loads(inst, JSON_DECODE_ANY, NULL), *errors = NULL;
    cr_assert(s && ij);
    cr_assert_eq(ot_jsonschema_validate(s, ij, &errors), 0);
    cr_assert_eq(json_array_size(errors), 1);
    cr_assert(strstr(json_string_value(json_object_get(json_array_get(errors, 0), "message")), "limit"));
    json_decref(errors);
    json_decref(ij);
    json_decref(sj);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
}

Test(jsonschema, arrays)
{
    cr_assert(check("{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"string\"}}", "[1,\"a\",\"b\"]"));
    cr_assert_not(check("{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":false}", "[1,2]"));
    cr_assert_not(check("{\"minItems\":2}", "[1]"));
    cr_assert(check("{\"contains\":{\"const\":1},\"minContains\":2,\"maxContains\":3}", "[1,2,1]"));
    cr_assert_not(check("{\"contains\":{\"const\":1},\"maxContains\":1}", "[1,1]"));
    cr_assert(check("{\"contains\":{\"const\":1},\"minContains\":0}", "[]"));
}

Test(jsonschema, unique_items_uses_json_equality)
{
    cr_assert_not(check("{\"uniqueItems\":true}", "[1,1.0]"));
    cr_assert_not(check("{\"uniqueItems\":true}", "[{\"a\":[1,{\"b\":2}]},{\"a\":[1.0,{\"b\":2}]}]"));
    cr_assert(check("{\"uniqueItems\":true}", "[0,false,[0],[false],{\"a\":0},{\"a\":false}]"));
    /* more than 16 items takes the hashing path */
    cr_assert_not(check("{\"uniqueItems\":true}", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,{\"x\":{\"y\":1,\"z\":2}},{\"x\":{\"z\":2,\"y\":1.0}}]"));
    cr_assert(check("{\"uniqueItems\":true}", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,-0.0,\"0\"]"));
}

Test(jsonschema, objects)
{
    const char *s = "{\"properties\":{\"a\":{\"type\":\"integer\"}},\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
                    "\"additionalProperties\":false,\"required\":[\"a\"]}";
    cr_assert(check(s, "{\"a\":1,\"x-y\":\"z\"}"));
    cr_assert_not(check(s, "{\"a\":1,\"b\":2}"));
    cr_assert_not(check(s, "{\"x-y\":\"z\"}"));
    cr_assert_not(check(s, "{\"a\":1,\"x-y\":3}"));
    cr_assert_not(check("{\"dependentRequired\":{\"a\":[\"b\"]}}", "{\"a\":1}"));
    cr_assert(check("{\"dependentSchemas\":{\"a\":{\"required\":[\"b\"]}}}", "{\"b\":1}"));
    cr_assert_not(check("{\"propertyNames\":{\"maxLength\":2}}", "{\"abc\":1}"));
    cr_assert_not(check("{\"minProperties\":1}", "{}"));
}

/* Property names are checked without a json_t when the propertyNames schema
 * (through its $refs) only holds string and type keywords; otherwise on a
 * string value. Either way the verdict must be the one the same subschema
 * gives the name as a string instance: compared here over schemas of both
 * kinds and names of 0 to 9 code points, ASCII and multi-byte. */
Test(jsonschema, property_names_agree_with_the_name_as_a_string)
{
    static const char *const subs[] = {
        "{\"type\":\"string\",\"pattern\":\"^[a-z_][a-z0-9_]*$\",\"maxLength\":4}",
        "{\"minLength\":3}",
        "{\"minLength\":2,\"maxLength\":3}",
        "{\"maxLength\":0}",
        "{\"type\":\"integer\"}",
        "{\"type\":[\"string\",\"null\"],\"pattern\":\"\\\\d\"}",
        "{\"$ref\":\"#/$defs/n\"}",
        "{\"$ref\":\"#/$defs/r\",\"maxLength\":5}",
        "{\"enum\":[\"ab\",\"\\u00e9\\u00e9\"]}",
        "{\"not\":{\"pattern\":\"x\"}}",
        "{\"anyOf\":[{\"maxLength\":1},{\"minLength\":4}]}",
        "{\"format\":\"date\"}",
        "false",
        "true",
    };
    static const char *const names[] = {
        "", "a", "ab", "abc", "abcd", "abcde", "a1_", "1ab", "x", "axb", "\\u00e9", "\\u00e9\\u00e9",
        "\\u00e9\\u00e9\\u00e9", "\\ud83d\\udca9\\ud83d\\udca9\\ud83d\\udca9", "\\u4e2d\\u6587", "2026-01-04",
        "2026-13-04", "a b c d e", "12345678",
    };
    const char *defs = "\"$defs\":{\"n\":{\"$ref\":\"#/$defs/m\"},"
                       "\"m\":{\"type\":\"string\",\"minLength\":2,\"pattern\":\"b\"},"
                       "\"r\":{\"$ref\":\"#/$defs/r2\"},\"r2\":{\"minLength\":2}}";
    char schema[1024], as_string[1024], inst[256], str[256];
    int seen[2] = {0, 0};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        snprintf(schema, sizeof schema, "{%s,\"propertyNames\":%s}", defs, subs[i]);
        if (subs[i][0] == '{')
            snprintf(as_string, sizeof as_string, "{%s,%s", defs, subs[i] + 1);
        else
            snprintf(as_string, sizeof as_string, "{%s,\"allOf\":[%s]}", defs, subs[i]);
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
            snprintf(inst, sizeof inst, "{\"%s\":1}", names[j]);
            snprintf(str, sizeof str, "\"%s\"", names[j]);
            int want = check_flags(as_string, str, OT_JSONSCHEMA_FORMAT_ASSERT);
            cr_assert_eq(check_flags(schema, inst, OT_JSONSCHEMA_FORMAT_ASSERT), want,
                         "propertyNames %s on name \"%s\"", subs[i], names[j]);
            seen[want]++;
        }
    }
    cr_assert(seen[0] > 50 && seen[1] > 50, "both verdicts are exercised (%d, %d)", seen[0], seen[1]);
}

Test(jsonschema, combinators)
{
    cr_assert(check("{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":2}]}", "3"));
    cr_assert_not(check("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "3"));
    cr_assert(check("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "2.5"));
    cr_assert_not(check("{\"not\":{\"type\":\"null\"}}", "null"));
    cr_assert(check("{\"if\":{\"const\":1},\"then\":{\"type\":\"integer\"},\"else\":{\"type\":\"string\"}}", "\"x\""));
    cr_assert_not(check("{\"if\":{\"const\":1},\"then\":{\"type\":\"integer\"},\"else\":{\"type\":\"string\"}}", "2"));
    cr_assert_not(check("false", "1"));
    cr_assert(check("true", "{}"));
}

Test(jsonschema, unevaluated_through_applicators)
{
    const char *s = "{\"$defs\":{\"one\":{\"properties\":{\"a\":true}}},\"allOf\":[{\"$ref\":\"#/$defs/one\"}],"
                    "\"anyOf\":[{\"properties\":{\"b\":true},\"required\":[\"b\"]},{\"properties\":{\"c\":true}}],"
                    "\"if\":{\"properties\":{\"d\":{\"const\":1}},\"required\":[\"d\"]},\"then\":{\"properties\":{\"e\":true}},"
                    "\"unevaluatedProperties\":false}";
    cr_assert(check(s, "{\"a\":1,\"b\":1,\"c\":1}"));
    cr_assert(check(s, "{\"d\":1,\"e\":1}"));
    cr_assert_not(check(s, "{\"d\":2,\"e\":1}")); /* then not applied: e unevaluated; d seen by failed if */
    cr_assert_not(check(s, "{\"z\":1}"));
    /* cousins cannot see each other */
    cr_assert_not(check("{\"allOf\":[{\"properties\":{\"foo\":true}},{\"unevaluatedProperties\":false}]}", "{\"foo\":1}"));
    /* not discards annotations */
    cr_assert_not(check("{\"not\":{\"not\":{\"properties\":{\"a\":true}}},\"unevaluatedProperties\":false}", "{\"a\":1}"));
}

Test(jsonschema, unevaluated_items_and_contains)
{
    const char *s = "{\"prefixItems\":[true],\"contains\":{\"type\":\"string\"},\"unevaluatedItems\":false}";
    cr_assert(check(s, "[1,\"foo\"]"));
    cr_assert_not(check(s, "[1,2,\"foo\"]"));
    cr_assert(check("{\"allOf\":[{\"contains\":{\"multipleOf\":2}},{\"contains\":{\"multipleOf\":3}}],"
                    "\"unevaluatedItems\":{\"multipleOf\":5}}", "[2,3,4,5,6]"));
    cr_assert_not(check("{\"prefixItems\":[{\"prefixItems\":[true,true]}],\"unevaluatedItems\":false}", "[[1,2],3]"));
}

Test(jsonschema, dynamic_ref_uses_the_outermost_scope)
{
    const char *s = "{\"$id\":\"https://x.test/root\",\"$ref\":\"list\",\"$defs\":{"
                    "\"foo\":{\"$dynamicAnchor\":\"items\",\"type\":\"string\"},"
                    "\"list\":{\"$id\":\"list\",\"type\":\"array\",\"items\":{\"$dynamicRef\":\"#items\"},"
                    "\"$defs\":{\"items\":{\"$dynamicAnchor\":\"items\"}}}}}";
    cr_assert(check(s, "[\"a\",\"b\"]"));
    cr_assert_not(check(s, "[\"a\",1]"));
}

Test(jsonschema, ids_anchors_and_uris)
{
    cr_assert_not(check("{\"$id\":\"http://example.com/a.json\",\"$defs\":{\"x\":{\"$id\":\"http://example.com/b/c.json\","
                        "\"not\":{\"$defs\":{\"y\":{\"$id\":\"d.json\",\"type\":\"number\"}}}}},"
                        "\"allOf\":[{\"$ref\":\"http://example.com/b/d.json\"}]}", "\"a\""));
    cr_assert(check("{\"$id\":\"urn:uuid:deadbeef-1234-ff00-00ff-4321feebdaed\",\"properties\":{\"foo\":"
                    "{\"$ref\":\"urn:uuid:deadbeef-1234-ff00-00ff-4321feebdaed#something\"}},"
                    "\"$defs\":{\"bar\":{\"$anchor\":\"something\",\"type\":\"string\"}}}", "{\"foo\":\"x\"}"));
    cr_assert_not(check("{\"$defs\":{\"a~b\":{\"type\":\"integer\"},\"c%d\":{\"type\":\"integer\"}},\"allOf\":["
                        "{\"$ref\":\"#/$defs/a~0b\"},{\"$ref\":\"#/$defs/c%25d\"}]}", "\"x\""));
    /* the enum's content is data, not a schema */
    cr_assert(check("{\"$defs\":{\"s\":{\"type\":\"string\"}},\"enum\":[{\"$ref\":\"#/$defs/s\"}]}", "{\"$ref\":\"#/$defs/s\"}"));
}

Test(jsonschema, meta_schema_is_built_in)
{
    const char *s = "{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}";
    cr_assert(check(s, "{\"type\":\"object\",\"properties\":{\"a\":{\"minLength\":1}}}"));
    cr_assert_not(check(s, "{\"minLength\":-1}"));
    cr_assert_not(check(s, "{\"properties\":{\"a\":{\"type\":\"nope\"}}}"));
}

Test(jsonschema, format_is_annotation_unless_asserted)
{
    cr_assert(check("{\"format\":\"date-time\"}", "\"yesterday\""));
    cr_assert_not(check_flags("{\"format\":\"date-time\"}", "\"yesterday\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"date-time\"}", "\"2026-01-04T12:34:56.123456Z\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"date-time\"}", "\"1998-12-31T23:59:60Z\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"date-time\"}", "\"1998-12-31T22:59:60Z\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"date\"}", "\"2021-02-29\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"duration\"}", "\"P1Y2M3DT4H\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"duration\"}", "\"PT\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"email\"}", "\"joe.bloggs@example.com\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"email\"}", "\"joe..bloggs@example.com\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"hostname\"}", "\"-a.example\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"ipv4\"}", "\"087.10.0.1\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"ipv6\"}", "\"::ffff:1.2.3.4\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"uri\"}", "\"//foo.bar/?baz=qux#quux\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"uri-reference\"}", "\"//foo.bar/?baz=qux#quux\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"uuid\"}", "\"2eb8aa08-aa98-11ea-b4aa-73b441d1638\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"json-pointer\"}", "\"/foo/~2\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"relative-json-pointer\"}", "\"1/foo\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert_not(check_flags("{\"format\":\"regex\"}", "\"^(abc\"", OT_JSONSCHEMA_FORMAT_ASSERT));
    cr_assert(check_flags("{\"format\":\"no-such-format\"}", "\"x\"", OT_JSONSCHEMA_FORMAT_ASSERT));
}

Test(jsonschema, ref_cycles_and_deep_nesting_end_as_errors)
{
    cr_assert_not(check("{\"$ref\":\"#\"}", "1"));
    cr_assert_not(check("{\"not\":{\"$ref\":\"#\"}}", "1")); /* not flipped to valid */
    cr_assert(check("{\"properties\":{\"x\":{\"$ref\":\"#\"}}}", "{\"x\":{\"x\":{\"x\":{}}}}"));
    char deep[4100];
    size_t n = 0;
    for (int i = 0; i < 2000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 2000; i++)
        deep[n++] = ']';
    deep[n] = 0;
    cr_assert_not(check("{\"items\":{\"$ref\":\"#\"}}", deep));
    cr_assert(check("{\"type\":\"array\"}", deep));
}

Test(jsonschema, invalid_schemas_name_the_location)
{
    char msg[512];
    cr_assert(compile_fails("{\"properties\":{\"a\":{\"minLength\":-1}}}", msg, sizeof msg));
    cr_assert(strstr(msg, "/properties/a/minLength"), "%s", msg);
    cr_assert(compile_fails("{\"pattern\":\"(\"}", msg, sizeof msg));
    cr_assert(strstr(msg, "/pattern"), "%s", msg);
    cr_assert(compile_fails("{\"$ref\":\"#/$defs/missing\"}", msg, sizeof msg));
    cr_assert(compile_fails("{\"$ref\":\"http://nowhere.test/x.json\"}", msg, sizeof msg));
    cr_assert(strstr(msg, "nowhere.test"), "%s", msg);
    cr_assert(compile_fails("{\"type\":\"nope\"}", NULL, 0));
    cr_assert(compile_fails("{\"allOf\":[]}", NULL, 0));
    cr_assert(compile_fails("{\"items\":3}", NULL, 0));
    cr_assert(compile_fails("{\"required\":[1]}", NULL, 0));
}

/* The message of a value no alternative matched (anyOf, oneOf) with its
 * errors collected.  */
static char *first_message(const char *schema, const char *instance)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *sj = json_loads(schema, 0, NULL), *ij = json_loads(instance, JSON_DECODE_ANY, NULL);
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, 0, &err);
    cr_assert(s, "%s", err.message);
    json_t *errors = NULL;
    cr_assert_eq(ot_jsonschema_validate(s, ij, &errors), 0);
    cr_assert_eq(json_array_size(errors), 1);
    char *m = strdup(json_string_value(json_object_get(json_array_get(errors, 0), "message")));
    json_decref(errors);
    json_decref(ij);
    json_decref(sj);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    return m;
}

/* ... says why each alternative failed (its first error, and where below
 * the value when deeper), at most three; nested alternatives inside that
 * explanation are not explained again. */
Test(jsonschema, alternatives_that_all_fail_say_why)
{
    char *m = first_message("{\"anyOf\":[{\"type\":\"string\"},"
                            "{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]}}]}",
                            "[\"a\",\"c\"]");
    cr_assert_str_eq(m, "matches none of the 2 'anyOf' alternatives (1: expected string, got array; "
                        "2: /1 must be one of [\"a\",\"b\"])");
    free(m);
    m = first_message("{\"oneOf\":[{\"minimum\":5},{\"maximum\":1},{\"multipleOf\":2},"
                      "{\"type\":\"string\"}]}",
                      "3");
    const char *head = "matches none of the 4 'oneOf' alternatives; exactly one must match (1: ";
    cr_assert(strncmp(m, head, strlen(head)) == 0, "%s", m);
    cr_assert(strstr(m, "; 2: ") && strstr(m, "; 3: ") && strstr(m, "; ...)") && !strstr(m, "4: "), "%s",
              m);
    free(m);
    m = first_message("{\"anyOf\":[{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]},"
                      "{\"type\":\"boolean\"}]}",
                      "1");
    cr_assert_str_eq(m, "matches none of the 2 'anyOf' alternatives (1: matches none of the 2 'anyOf' "
                        "alternatives; 2: expected boolean, got integer)");
    free(m);
}

Test(jsonschema, errors_carry_path_keyword_and_message)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *sj = json_loads("{\"properties\":{\"metrics\":{\"additionalProperties\":false,\"properties\":"
                            "{\"a/b\":{\"type\":\"number\"}}}},\"required\":[\"twin_id\"]}", 0, NULL);
    json_t *ij = json_loads("{\"metrics\":{\"temp_c\":1,\"a/b\":\"x\"}}", 0, NULL), *errors = NULL;
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, 0, &err);
    cr_assert_eq(ot_jsonschema_validate(s, ij, &errors), 0);
    cr_assert_eq(json_array_size(errors), 3);
    json_t *e0 = json_array_get(errors, 0), *e1 = json_array_get(errors, 1), *e2 = json_array_get(errors, 2);
    cr_assert_str_eq(json_string_value(json_object_get(e0, "path")), "/twin_id");
    cr_assert_str_eq(json_string_value(json_object_get(e0, "keyword")), "/required");
    cr_assert_str_eq(json_string_value(json_object_get(e1, "path")), "/metrics/temp_c");
    cr_assert_str_eq(json_string_value(json_object_get(e1, "keyword")), "/properties/metrics/additionalProperties");
    cr_assert_str_eq(json_string_value(json_object_get(e2, "path")), "/metrics/a~1b");
    cr_assert(strstr(json_string_value(json_object_get(e2, "message")), "number"));
    json_decref(errors);
    json_decref(ij);
    json_decref(sj);
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
}

Test(jsonschema, remote_documents_from_the_set)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *other = json_loads("{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}}}", 0, NULL);
    cr_assert_eq(ot_jsonschema_set_add(set, "http://example.test/other.json", other, &err), 0);
    json_t *sj = json_loads("{\"$id\":\"http://example.test/main.json\",\"items\":{\"$ref\":\"other.json#/$defs/pos\"}}", 0, NULL);
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, 0, &err);
    cr_assert(s, "%s", err.message);
    ot_jsonschema_set_free(set); /* the compiled schema keeps what it needs */
    json_decref(other);
    json_t *good = json_loads("[1,2]", 0, NULL), *bad = json_loads("[1,0]", 0, NULL);
    cr_assert_eq(ot_jsonschema_validate(s, good, NULL), 1);
    cr_assert_eq(ot_jsonschema_validate(s, bad, NULL), 0);
    json_decref(good);
    json_decref(bad);
    json_decref(sj);
    ot_jsonschema_free(s);
}

static void *validate_many(void *arg)
{
    const ot_jsonschema *s = arg;
    json_t *ok = json_loads("{\"a\":[1,2,3],\"b\":\"xyz\"}", 0, NULL), *bad = json_loads("{\"a\":[1,1]}", 0, NULL);
    long wrong = 0;
    for (int i = 0; i < 2000; i++) {
        json_t *errors = NULL;
        wrong += ot_jsonschema_validate(s, ok, NULL) != 1;
        wrong += ot_jsonschema_validate(s, bad, &errors) != 0;
        json_decref(errors);
    }
    json_decref(ok);
    json_decref(bad);
    return (void *)wrong;
}

Test(jsonschema, one_compiled_schema_many_threads)
{
    ot_error err;
    ot_schema_set *set = ot_jsonschema_set_new();
    json_t *sj = json_loads("{\"properties\":{\"a\":{\"uniqueItems\":true},\"b\":{\"pattern\":\"^x\"}},"
                            "\"required\":[\"b\"],\"unevaluatedProperties\":false}", 0, NULL);
    ot_jsonschema *s = ot_jsonschema_compile(set, sj, NULL, 0, &err);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, validate_many, s);
    for (int i = 0; i < 4; i++) {
        void *wrong;
        pthread_join(t[i], &wrong);
        cr_assert_eq((long)wrong, 0);
    }
    ot_jsonschema_free(s);
    ot_jsonschema_set_free(set);
    json_decref(sj);
}
