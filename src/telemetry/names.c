/* names.c - see names.h. */
#include "telemetry/names.h"

#include <stdio.h>
#include <string.h>

static int token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

int ot_tel_token_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!token_char((unsigned char)s[i]))
            return 0;
    return 1;
}

int ot_tel_token_check(const char *s, size_t len, size_t max, const char *what, const char *path,
                       ot_error *err)
{
    if (len == 0)
        return ot_error_set(err, OT_EINVAL, path, "%s must not be empty", what);
    if (len > max)
        return ot_error_set(err, OT_EINVAL, path, "%s is %zu bytes long; at most %zu allowed",
                            what, len, max);
    for (size_t i = 0; i < len; i++) {
        if (!token_char((unsigned char)s[i])) {
            char q[16];
            return ot_error_set(err, OT_EINVAL, path,
                                "%s has '%s' at byte %zu; allowed characters: A-Z a-z 0-9 _ . : -",
                                what, ot_tel_quote(q, sizeof q, s + i, 1), i);
        }
    }
    return 0;
}

char *ot_tel_quote(char *dst, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Worst case per byte is 4 ("\xHH"), plus room for "..." and NUL. */
        if (o + 4 + 4 > cap || i >= 48) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = '\0';
    return dst;
}

char *ot_tel_path_key(char *dst, size_t cap, const char *base, const char *key, size_t len)
{
    if (ot_tel_token_ok(key, len, OT_ERROR_PATH_MAX)) {
        snprintf(dst, cap, "%s.%.*s", base, (int)len, key);
    } else {
        char q[200];
        snprintf(dst, cap, "%s[\"%s\"]", base, ot_tel_quote(q, sizeof q, key, len));
    }
    return dst;
}
