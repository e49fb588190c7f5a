#include <criterion/criterion.h>
#include <string.h>

#include "core/ids.h"

Test(ids, shape_and_monotonic)
{
    char a[OT_ID_BUFSZ], b[OT_ID_BUFSZ];
    ot_id_new("tel", a);
    cr_assert_eq(strlen(a), 4 + OT_ULID_LEN);
    cr_assert(ot_id_valid(a, "tel"));
    cr_assert_not(ot_id_valid(a, "ano"));
    for (int i = 0; i < 10000; i++) {
        ot_id_new("tel", b);
        cr_assert_gt(strcmp(b, a), 0, "%s !> %s", b, a);
        strcpy(a, b);
    }
}

Test(ids, rejects_malformed)
{
    cr_assert_not(ot_id_valid("tel_", NULL));
    cr_assert_not(ot_id_valid("_01J9Z3K5V1X2Y3Z4A5B6C7D8E9", NULL));
    cr_assert_not(ot_id_valid("tel_01J9Z3K5V1X2Y3Z4A5B6C7D8EI", NULL)); /* I not in alphabet */
    cr_assert_not(ot_id_valid("tel_../../etc/passwd", NULL));
    cr_assert(ot_id_valid("tel_01J9Z3K5V1X2Y3Z4A5B6C7D8E9", NULL));
}
