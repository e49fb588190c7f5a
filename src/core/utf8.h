/* utf8.h - is a byte string well-formed UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF)? Text that is not cannot go into a
 * JSON reply or log line, so the HTTP layer refuses such paths and query
 * arguments with a 400 before any handler sees them, and error messages
 * that quote other input are sanitized. Pure functions. */
#ifndef OT_CORE_UTF8_H
#define OT_CORE_UTF8_H

#include <stddef.h>

/* 1 if s[0..n) is well-formed UTF-8, else 0. */
int ot_utf8_valid(const char *s, size_t n);

/* Copy the NUL-terminated in to out (cap bytes, NUL-terminated), writing each
 * byte that is not part of a well-formed sequence as the four characters
 * "\xNN"; stops early rather than split a sequence. Returns the length
 * written. */
size_t ot_utf8_sanitize(const char *in, char *out, size_t cap);

#endif
