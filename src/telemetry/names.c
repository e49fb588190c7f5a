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

/* json_error_path: a container open at the error. Deeper than
 * PATH_DEPTH, containers are counted but not named. */
#define PATH_DEPTH 32
struct path_frame {
    char array;        /* 1 array, 0 object */
    size_t index;      /* array: the item being read */
    const char *key;   /* object: the member being read, or NULL before its key */
    size_t key_len;
};

static void json_error_path(char *path, const char *base, const char *text, size_t len, int pos)
{
    struct path_frame f[PATH_DEPTH];
    int depth = 0;
    size_t lim = pos > 0 && (size_t)pos < len ? (size_t)pos : len;
    if (lim > 0 && memchr("{}[],:", text[lim - 1], 6))
        lim--;
    for (size_t i = 0; i < lim; i++) {
        char c = text[i];
        struct path_frame *top = depth > 0 && depth <= PATH_DEPTH ? &f[depth - 1] : NULL;
        if (c == '{' || c == '[') {
            if (depth < PATH_DEPTH)
                f[depth] = (struct path_frame){.array = c == '['};
            depth++;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ',' && top) {
            top->index++;
            top->key = NULL;
        } else if (c == '"') {
            size_t start = ++i;
            while (i < lim && text[i] != '"')
                i += text[i] == '\\' ? 2 : 1;
            if (top && !top->array && !top->key && i < lim) {
                top->key = text + start;
                top->key_len = i - start;
            }
        }
    }
    snprintf(path, OT_ERROR_PATH_MAX, "%s", base);
    for (int d = 0; d < depth && d < PATH_DEPTH; d++) {
        size_t k = strlen(path);
        if (f[d].array) {
            snprintf(path + k, OT_ERROR_PATH_MAX - k, "[%zu]", f[d].index);
        } else if (f[d].key) {
            char key[OT_ERROR_PATH_MAX]; /* \" and \\ unescaped */
            size_t n = 0;
            for (size_t j = 0; j < f[d].key_len && n < sizeof key; j++) {
                const char *q = f[d].key + j;
                if (q[0] == '\\' && j + 1 < f[d].key_len && (q[1] == '"' || q[1] == '\\'))
                    j++;
                key[n++] = f[d].key[j];
            }
            char up[OT_ERROR_PATH_MAX];
            memcpy(up, path, k + 1);
            ot_tel_path_key(path, OT_ERROR_PATH_MAX, up, key, n);
        }
    }
}

int ot_tel_json_error(ot_error *err, const char *base, const char *what, const char *text,
                      size_t len, const json_error_t *je, int with_line)
{
    char path[OT_ERROR_PATH_MAX], where[OT_ERROR_PATH_MAX + 4] = "", pos[48];
    json_error_path(path, base, text, len, je->position);
    if (strcmp(path, base) != 0)
        snprintf(where, sizeof where, " at %s", path);
    if (with_line)
        snprintf(pos, sizeof pos, "line %d, column %d", je->line, je->column);
    else
        snprintf(pos, sizeof pos, "column %d", je->column);
    return ot_error_set(err, OT_EINVAL, path, "%s is not valid JSON%s: %s (%s)", what, where,
                        je->text, pos);
}
