/* jsonschema_regex.c - ECMA-262 regular expressions on PCRE2.
 *
 * JSON Schema patterns are ECMA-262 regexes.  PCRE2 (UTF + UCP) is close;
 * this file translates what differs: \d \w \b are ASCII in ECMA-262 (UCP
 * would make them Unicode), \s has ECMA's own set, \uHHHH and \u{H..} become
 * \x{..} (surrogate pairs joined), [^] is "any character", [] never
 * matches, and $ only matches at the very end.
 *
 * Contract: js_regex_compile returns a JIT-compiled pcre2_code (caller frees
 * with pcre2_code_free); js_regex_search is a search (not anchored) under
 * the caller's match context, whose limits turn runaway backtracking into a
 * -1 result.  Thread-safe: codes are read-only; match data is the caller's.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"

#define ECMA_SPACE "\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}" \
                   "\\x{202f}\\x{205f}\\x{3000}\\x{feff}"
#define ASCII_WORD "A-Za-z0-9_"
#define NOT_DIGIT_SET "\\x{0}-\\x{2f}\\x{3a}-\\x{10ffff}"
#define NOT_WORD_SET "\\x{0}-\\x{2f}\\x{3a}-\\x{40}\\x{5b}-\\x{5e}\\x{60}\\x{7b}-\\x{10ffff}"
#define WORD_BOUNDARY "(?:(?<=[" ASCII_WORD "])(?![" ASCII_WORD "])|(?<![" ASCII_WORD "])(?=[" ASCII_WORD "]))"
#define NOT_WORD_BOUNDARY "(?:(?<=[" ASCII_WORD "])(?=[" ASCII_WORD "])|(?<![" ASCII_WORD "])(?![" ASCII_WORD "]))"

static int hex4(const char *s, size_t left, unsigned *out)
{
    unsigned v = 0;
    if (left < 4)
        return 0;
    for (int i = 0; i < 4; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return 0;
        v = v * 16 + (unsigned)(isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower(s[i]) - 'a' + 10));
    }
    *out = v;
    return 1;
}

/* ECMA-262 long General_Category names (PCRE2 10.42 knows the short ones). */
static const char *const category_names[][2] = {
    {"Letter", "L"}, {"Cased_Letter", "L&"}, {"Uppercase_Letter", "Lu"}, {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"}, {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"}, {"Mark", "M"},
    {"Combining_Mark", "M"}, {"Nonspacing_Mark", "Mn"}, {"Spacing_Mark", "Mc"}, {"Enclosing_Mark", "Me"},
    {"Number", "N"}, {"Decimal_Number", "Nd"}, {"digit", "Nd"}, {"Letter_Number", "Nl"},
    {"Other_Number", "No"}, {"Punctuation", "P"}, {"punct", "P"}, {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"}, {"Open_Punctuation", "Ps"}, {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"}, {"Final_Punctuation", "Pf"}, {"Other_Punctuation", "Po"},
    {"Symbol", "S"}, {"Math_Symbol", "Sm"}, {"Currency_Symbol", "Sc"}, {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"}, {"Separator", "Z"}, {"Space_Separator", "Zs"}, {"Line_Separator", "Zl"},
    {"Paragraph_Separator", "Zp"}, {"Other", "C"}, {"Control", "Cc"}, {"cntrl", "Cc"}, {"Format", "Cf"},
    {"Surrogate", "Cs"}, {"Private_Use", "Co"}, {"Unassigned", "Cn"},
};

/* \p{...} / \P{...}: strip "General_Category=", "gc=", "Script=", "sc="
 * and map long category names; returns chars consumed. */
static size_t translate_property(struct js_buf *o, const char *src, size_t i, size_t len)
{
    const char *close = memchr(src + i + 3, '}', len - i - 3);
    if (!close) {
        js_buf_add(o, src + i, 2);
        return 2;
    }
    const char *name = src + i + 3;
    size_t n = (size_t)(close - name);
    const char *eq = memchr(name, '=', n);
    if (eq) {
        n -= (size_t)(eq + 1 - name);
        name = eq + 1;
    }
    js_buf_add(o, src + i, 3); /* \p{ */
    for (size_t k = 0; k < sizeof category_names / sizeof category_names[0]; k++)
        if (strlen(category_names[k][0]) == n && memcmp(category_names[k][0], name, n) == 0) {
            js_buf_add(o, category_names[k][1], strlen(category_names[k][1]));
            js_buf_add(o, "}", 1);
            return (size_t)(close - src) + 1 - i;
        }
    js_buf_add(o, name, n);
    js_buf_add(o, "}", 1);
    return (size_t)(close - src) + 1 - i;
}

/* Translate one escape starting at src[i] == '\\'; returns chars consumed. */
static size_t translate_escape(struct js_buf *o, const char *src, size_t i, size_t len, bool in_class)
{
    char c = i + 1 < len ? src[i + 1] : 0;
    char tmp[32];
    unsigned cp, lo;
    switch (c) {
    case 'd': js_buf_add(o, in_class ? "0-9" : "[0-9]", in_class ? 3 : 5); return 2;
    case 'D':
        if (in_class)
            js_buf_add(o, NOT_DIGIT_SET, strlen(NOT_DIGIT_SET));
        else
            js_buf_add(o, "[^0-9]", 6);
        return 2;
    case 'w':
        js_buf_add(o, in_class ? ASCII_WORD : "[" ASCII_WORD "]", strlen(ASCII_WORD) + (in_class ? 0 : 2));
        return 2;
    case 'W':
        if (in_class)
            js_buf_add(o, NOT_WORD_SET, strlen(NOT_WORD_SET));
        else
            js_buf_add(o, "[^" ASCII_WORD "]", strlen(ASCII_WORD) + 3);
        return 2;
    case 's':
        if (in_class)
            js_buf_add(o, ECMA_SPACE, strlen(ECMA_SPACE));
        else
            js_buf_add(o, "[" ECMA_SPACE "]", strlen(ECMA_SPACE) + 2);
        return 2;
    case 'S':
        if (in_class)
            js_buf_add(o, "\\S", 2);
        else
            js_buf_add(o, "[^" ECMA_SPACE "]", strlen(ECMA_SPACE) + 3);
        return 2;
    case 'b':
        if (in_class)
            js_buf_add(o, "\\x{08}", 6);
        else
            js_buf_add(o, WORD_BOUNDARY, strlen(WORD_BOUNDARY));
        return 2;
    case 'B':
        js_buf_add(o, NOT_WORD_BOUNDARY, strlen(NOT_WORD_BOUNDARY));
        return 2;
    case 'u':
        if (i + 2 < len && src[i + 2] == '{') {
            size_t j = i + 3;
            while (j < len && isxdigit((unsigned char)src[j]))
                j++;
            if (j < len && src[j] == '}' && j > i + 3) {
                js_buf_add(o, "\\x{", 3);
                js_buf_add(o, src + i + 3, j - (i + 3));
                js_buf_add(o, "}", 1);
                return j + 1 - i;
            }
        } else if (hex4(src + i + 2, len - i - 2, &cp)) {
            size_t used = 6;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 12 <= len && src[i + 6] == '\\' &&
                src[i + 7] == 'u' && hex4(src + i + 8, len - i - 8, &lo) && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                used = 12;
            }
            int n = snprintf(tmp, sizeof tmp, "\\x{%x}", cp);
            js_buf_add(o, tmp, (size_t)n);
            return used;
        }
        js_buf_add(o, "u", 1);
        return 2;
    case 'p':
    case 'P':
        if (i + 3 < len && src[i + 2] == '{')
            return translate_property(o, src, i, len);
        js_buf_add(o, src + i, 2);
        return 2;
    case 0:
        js_buf_add(o, "\\\\", 2);
        return 1;
    default:
        js_buf_add(o, src + i, 2);
        return 2;
    }
}

/* ECMA-262 source -> PCRE2 source (malloc'd in o->s). */
static void translate(struct js_buf *o, const char *src, size_t len)
{
    bool in_class = false;
    js_buf_add(o, "", 0);
    for (size_t i = 0; i < len;) {
        char c = src[i];
        if (c == '\\') {
            i += translate_escape(o, src, i, len, in_class);
        } else if (!in_class && c == '[') {
            if (i + 2 < len && src[i + 1] == '^' && src[i + 2] == ']') {
                js_buf_add(o, "[\\s\\S]", 6);
                i += 3;
            } else if (i + 1 < len && src[i + 1] == ']') {
                js_buf_add(o, "(?!)", 4);
                i += 2;
            } else {
                in_class = true;
                js_buf_add(o, "[", 1);
                i++;
                if (i < len && src[i] == '^') {
                    js_buf_add(o, "^", 1);
                    i++;
                }
                /* ECMA: a ']' right after '[' or '[^' closes; PCRE2 would take it literally */
                if (i < len && src[i] == ']') {
                    js_buf_add(o, "\\]", 2);
                    i++;
                }
            }
        } else if (in_class && c == '[') {
            js_buf_add(o, "\\[", 2); /* no POSIX classes in ECMA-262 */
            i++;
        } else if (in_class && c == ']') {
            in_class = false;
            js_buf_add(o, "]", 1);
            i++;
        } else {
            js_buf_add(o, &src[i], 1);
            i++;
        }
    }
}

int js_regex_compile(const char *src, size_t len, pcre2_code **out, char *why, size_t whylen)
{
    struct js_buf o = {0};
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    *out = NULL;
    translate(&o, src, len);
    if (o.oom) {
        free(o.s);
        snprintf(why, whylen, "out of memory");
        return OT_ENOMEM;
    }
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)o.s, o.len,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &errcode, &erroff, NULL);
    free(o.s);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        snprintf(why, whylen, "invalid regular expression '%.*s': %s", (int)(len > 80 ? 80 : len), src,
                 (const char *)msg);
        return OT_EINVAL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    *out = code;
    return 0;
}

int js_regex_search(const pcre2_code *code, const pcre2_match_context *mctx, pcre2_match_data **md,
                    const char *s, size_t len)
{
    if (!*md) {
        *md = pcre2_match_data_create(1, NULL);
        if (!*md)
            return -2;
    }
    int rc = pcre2_match(code, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK, *md,
                         (pcre2_match_context *)mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_NOMEMORY)
        return -2;
    return -1; /* match, depth, heap or JIT stack limit */
}

/* --- Simple patterns (struct js_simple_re) -------------------------------- */

static int plain_class_char(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\' && c != '[' && c != ']';
}

/* A class at src[*i] ('['): its characters into bits. 0, or -1 when it is
 * not plain (negated, escapes, nested brackets, non-ASCII, empty). */
static int simple_class(const char *src, size_t len, size_t *i, uint8_t bits[16])
{
    size_t k = *i + 1;
    memset(bits, 0, 16);
    if (k >= len || src[k] == '^' || src[k] == ']')
        return -1;
    while (k < len && src[k] != ']') {
        unsigned char lo = (unsigned char)src[k], hi = lo;
        if (!plain_class_char(lo))
            return -1;
        if (k + 2 < len && src[k + 1] == '-' && src[k + 2] != ']') {
            hi = (unsigned char)src[k + 2];
            if (!plain_class_char(hi) || hi < lo)
                return -1;
            k += 3;
        } else {
            k++;
        }
        for (unsigned c = lo; c <= hi; c++)
            bits[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    if (k >= len)
        return -1;
    *i = k + 1;
    return 0;
}

void js_simple_re_parse(const char *src, size_t len, struct js_simple_re *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 1;
    if (len < 4 || src[0] != '^' || src[len - 1] != '$' || src[1] != '[')
        return;
    len--; /* the final $ */
    if (simple_class(src, len, &i, out->first))
        return;
    unsigned char kind = 1;
    if (i < len && src[i] == '[') {
        if (simple_class(src, len, &i, out->rest))
            return;
        kind = 2;
    }
    if (i < len && (src[i] == '*' || src[i] == '+'))
        out->quant = (unsigned char)src[i++];
    if (i != len) {
        memset(out, 0, sizeof *out);
        return;
    }
    out->kind = kind;
}

static int in_class(const uint8_t bits[16], unsigned char c)
{
    return c < 0x80 && (bits[c >> 3] >> (c & 7) & 1);
}

int js_simple_re_match(const struct js_simple_re *re, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t fixed = re->kind; /* characters before the quantifier's repeats */
    size_t min = re->quant == '*' ? fixed - 1 : fixed;
    if (len < min || (!re->quant && len != fixed))
        return 0;
    const uint8_t *last = re->kind == 2 ? re->rest : re->first;
    size_t k = 0;
    if (re->kind == 2) {
        if (!in_class(re->first, u[0]))
            return 0;
        k = 1;
    }
    for (; k < len; k++)
        if (!in_class(last, u[k]))
            return 0;
    return 1;
}
