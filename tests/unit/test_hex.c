#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/hex.h"

Test(hex, every_byte_value)
{
    unsigned char in[256];
    char out[2 * sizeof in + 1], want[3];
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    memset(out, 'x', sizeof out);
    cr_assert_eq(ot_hex_encode(in, sizeof in, out), out);
    cr_assert_eq(strlen(out), 2 * sizeof in);
    for (int i = 0; i < 256; i++) {
        snprintf(want, sizeof want, "%02x", i);
        cr_assert(memcmp(out + 2 * i, want, 2) == 0, "byte %d -> %.2s", i, out + 2 * i);
    }
}

Test(hex, empty_input_writes_only_the_nul)
{
    char out[2] = {'z', 'y'};
    ot_hex_encode("", 0, out);
    cr_assert_eq(out[0], '\0');
    cr_assert_eq(out[1], 'y');
}
