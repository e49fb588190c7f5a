/* buf.h - a growable byte buffer for building text.
 *
 * ot_buf owns its memory; ot_buf_steal hands it to the caller. On
 * allocation failure the buffer is marked failed and later appends are
 * no-ops, so callers check once at the end (ot_buf_failed). Not
 * thread-safe; one owner at a time.
 */
#ifndef OT_CORE_BUF_H
#define OT_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ot_buf {
    char *data;
    size_t len, cap;
    int failed;
} ot_buf;

void ot_buf_init(ot_buf *b);
void ot_buf_free(ot_buf *b);
void ot_buf_reset(ot_buf *b); /* len = 0, keeps the memory */
int ot_buf_reserve(ot_buf *b, size_t extra);
/* Append len bytes (then a NUL, not counted). Inline for the common case,
 * room in the buffer: text is built from many short pieces on per-event
 * paths, and a call per piece cost more than the copy. */
void ot_buf_append_grow(ot_buf *b, const void *data, size_t len);
static inline void ot_buf_append(ot_buf *b, const void *data, size_t len)
{
    if (!b->failed && b->len + len < b->cap) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
    } else {
        ot_buf_append_grow(b, data, len);
    }
}
static inline void ot_buf_puts(ot_buf *b, const char *s) { ot_buf_append(b, s, strlen(s)); }
void ot_buf_printf(ot_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ot_buf_failed(const ot_buf *b);
/* Append s as a JSON string literal (quotes and escapes included), escaped
 * as jansson escapes it: \" \\ \b \f \n \r \t, other control characters
 * (NUL too, in the counted form) as \u00XX (upper-case hex), everything
 * else as it is. */
void ot_buf_json_string(ot_buf *b, const char *s);
void ot_buf_json_stringn(ot_buf *b, const char *s, size_t len);
/* Append a finite double as the shortest decimal that reads back as the
 * same double (of those, the nearest: 0.1 -> "0.1", 0.1 + 0.2 ->
 * "0.30000000000000004"), in %g's layout (an exponent below 1e-4, from
 * 1e17, and for the few doubles just below 1e17 that 15 digits round up
 * to it), with ".0" after an integer and the exponent without '+' or
 * leading zeros ("20.0", "1e20", "1e-5"). */
void ot_buf_json_real(ot_buf *b, double v);
/* Append the JSON text of v (any value) as jansson's json_dumps writes it
 * with flags (JSON_COMPACT, JSON_SORT_KEYS: keys in byte order), except
 * reals, written by ot_buf_json_real. Every JSON text OpsTwin stores or
 * serves is written here, so a stored value and its reply agree. NULL v
 * marks b failed. */
struct json_t;
void ot_buf_json(ot_buf *b, const struct json_t *v, size_t flags);
/* ot_buf_json into a new string (caller frees); NULL when out of memory. */
char *ot_json_dumps(const struct json_t *v, size_t flags);
/* Return the NUL-terminated data and reset b; caller frees. */
char *ot_buf_steal(ot_buf *b, size_t *len);

/* Write v in decimal to out (at least 21 bytes), NUL-terminated, without
 * printf (per-event paths). Returns the number of digits. */
size_t ot_fmt_u64(char *out, unsigned long long v);
/* Write v as ot_buf_json_real writes it (not finite: "nan", "inf" or
 * "-inf") to out (at least OT_FMT_REAL_MAX bytes), NUL-terminated. Returns
 * its length. */
#define OT_FMT_REAL_MAX 40
size_t ot_fmt_real(char *out, double v);
/* Append v in decimal (ot_fmt_u64). */
void ot_buf_put_u64(ot_buf *b, unsigned long long v);

/* Varints: 7 bits per byte, least significant first, the high bit set on
 * every byte but the last (the stored postings). ot_varint_get reads one
 * from *at (< end) into *v and moves *at past it: 0, or -1 when the bytes
 * end first or it is longer than 64 bits. */
void ot_buf_put_varint(ot_buf *b, uint64_t v);
int ot_varint_get(const unsigned char **at, const unsigned char *end, uint64_t *v);

/* Copy src (NULL = "") into dst of n > 0 bytes, truncated to n - 1 bytes
 * and NUL-terminated, as snprintf(dst, n, "%s", src) does without the
 * format machinery (per-event paths). Returns strlen(src). */
size_t ot_strlcpy(char *dst, const char *src, size_t n);

#endif
