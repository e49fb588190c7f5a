#include <criterion/criterion.h>
#include <string.h>

#include "core/error.h"

Test(error, set_fills_code_path_and_message)
{
    ot_error e;
    ot_error_clear(&e);
    int rc = ot_error_set(&e, OT_EINVAL, "$.ts", "ts: cannot parse '%s'", "yesterday");
    cr_assert_eq(rc, OT_EINVAL);
    cr_assert_eq(e.code, OT_EINVAL);
    cr_assert_str_eq(e.path, "$.ts");
    cr_assert_str_eq(e.message, "ts: cannot parse 'yesterday'");
}

Test(error, null_error_is_allowed)
{
    cr_assert_eq(ot_error_set(NULL, OT_ENOTFOUND, NULL, "x"), OT_ENOTFOUND);
}

Test(error, codes_map_to_status_and_names)
{
    cr_assert_eq(ot_error_http_status(OT_EINVAL), 400);
    cr_assert_eq(ot_error_http_status(OT_ENOTFOUND), 404);
    cr_assert_eq(ot_error_http_status(OT_EBUSY), 503);
    cr_assert_eq(ot_error_http_status(OT_ETOOLARGE), 413);
    cr_assert_eq(ot_error_http_status(OT_EMETHOD), 405);
    cr_assert_eq(ot_error_http_status(-999), 500);
    cr_assert_str_eq(ot_error_code_name(OT_EINVAL), "validation_failed");
    cr_assert_str_eq(ot_error_code_name(OT_EMETHOD), "method_not_allowed");
    cr_assert_str_eq(ot_error_code_name(-999), "internal_error");
}

Test(error, long_messages_are_truncated_not_overflowed)
{
    ot_error e;
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ot_error_set(&e, OT_EINVAL, big, "%s", big);
    cr_assert_eq(strlen(e.message), OT_ERROR_MSG_MAX - 1);
    cr_assert_eq(strlen(e.path), OT_ERROR_PATH_MAX - 1);
}
