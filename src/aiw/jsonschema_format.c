/* jsonschema_format.c - the "format" checks of draft 2020-12.
 *
 * Used when a schema is compiled with OT_JSONSCHEMA_FORMAT_ASSERT.  Each
 * check follows the format's RFC: date-time, date, time (RFC 3339, leap
 * second only at 23:59:60 UTC), duration (RFC 3339 appendix A), email
 * (RFC 5321 mailbox), hostname (RFC 1123), ipv4, ipv6, uri and
 * uri-reference (RFC 3986), iri and iri-reference (RFC 3987, best effort:
 * as URIs with non-ASCII allowed), uuid (RFC 4122), json-pointer (RFC
 * 6901), relative-json-pointer, regex (ECMA-262 as compiled by this
 * module), idn-email and idn-hostname (best effort), uri-template (RFC
 * 6570 brace structure).
 *
 * Contract: pure functions over (string, length); thread-safe.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "aiw/jsonschema_internal.h"

static const struct {
    const char *name;
    int f;
} formats[] = {
    {"date-time", JS_F_DATE_TIME}, {"date", JS_F_DATE}, {"time", JS_F_TIME},
    {"duration", JS_F_DURATION}, {"email", JS_F_EMAIL}, {"idn-email", JS_F_IDN_EMAIL},
    {"hostname", JS_F_HOSTNAME}, {"idn-hostname", JS_F_IDN_HOSTNAME}, {"ipv4", JS_F_IPV4},
    {"ipv6", JS_F_IPV6}, {"uri", JS_F_URI}, {"uri-reference", JS_F_URI_REFERENCE},
    {"iri", JS_F_IRI}, {"iri-reference", JS_F_IRI_REFERENCE}, {"uri-template", JS_F_URI_TEMPLATE},
    {"uuid", JS_F_UUID}, {"json-pointer", JS_F_JSON_POINTER},
    {"relative-json-pointer", JS_F_RELATIVE_JSON_POINTER}, {"regex", JS_F_REGEX},
};

int js_format_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].f;
    return JS_F_UNKNOWN;
}

/* --- Dates and times (RFC 3339) --- */

/* n ASCII digits at s -> *v; 0 when not all digits. */
static int digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

static int check_date(const char *s, size_t len)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &m) ||
        !digits(s + 8, 2, &d))
        return 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

static int check_time(const char *s, size_t len)
{
    int h, mi, sec, oh = 0, om = 0, sign = 0;
    size_t i = 8;
    if (len < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 2, &h) || !digits(s + 3, 2, &mi) ||
        !digits(s + 6, 2, &sec))
        return 0;
    if (h > 23 || mi > 59 || sec > 60)
        return 0;
    if (s[i] == '.') {
        size_t st = ++i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == st)
            return 0;
    }
    if (i >= len)
        return 0;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        sign = 0;
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':' &&
               digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om)) {
        if (oh > 23 || om > 59)
            return 0;
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return 0;
    }
    if (sec == 60) {
        int utc = ((h * 60 + mi - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return 0;
    }
    return 1;
}

static int check_date_time(const char *s, size_t len)
{
    if (len < 20 || (s[10] != 'T' && s[10] != 't'))
        return 0;
    return check_date(s, 10) && check_time(s + 11, len - 11);
}

/* A run of <digits><unit> pairs from s[*i] up to stop (or the end), units
 * in the order of units[] with none repeated; the count of pairs, or -1. */
static int duration_units(const char *s, size_t len, size_t *i, const char *units, char stop)
{
    int count = 0, last = -1;
    while (*i < len && s[*i] != stop) {
        size_t st = *i;
        while (*i < len && isdigit((unsigned char)s[*i]))
            (*i)++;
        if (*i == st || *i >= len || s[*i] == 0)
            return -1;
        const char *u = strchr(units, s[*i]);
        if (!u || (int)(u - units) <= last)
            return -1;
        last = (int)(u - units);
        count++;
        (*i)++;
    }
    return count;
}

/* duration = "P" (dur-date [dur-time] / dur-time / dur-week) (RFC 3339
 * appendix A): units in order, each once, at least one. */
static int check_duration(const char *s, size_t len)
{
    size_t i = 1;
    if (len < 2 || s[0] != 'P')
        return 0;
    if (s[len - 1] == 'W') { /* week form */
        for (size_t j = 1; j < len - 1; j++)
            if (!isdigit((unsigned char)s[j]))
                return 0;
        return len > 2;
    }
    int date = duration_units(s, len, &i, "YMD", 'T');
    if (date < 0)
        return 0;
    if (i == len)
        return date > 0;
    i++; /* 'T' */
    int time = duration_units(s, len, &i, "HMS", 0);
    return time > 0;
}

/* --- Hosts and addresses --- */

static int check_ipv4(const char *s, size_t len)
{
    int parts = 0;
    size_t i = 0;
    while (parts < 4) {
        size_t st = i;
        int v = 0;
        while (i < len && isdigit((unsigned char)s[i]) && i - st < 3)
            v = v * 10 + (s[i++] - '0');
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0'))
            return 0;
        parts++;
        if (parts < 4) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    return i == len;
}

static int check_ipv6(const char *s, size_t len)
{
    char buf[64];
    unsigned char out[16];
    if (len == 0 || len >= sizeof buf)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
            return 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    return inet_pton(AF_INET6, buf, out) == 1;
}

/* RFC 1123 hostname; idn allows non-ASCII label characters. */
static int check_hostname(const char *s, size_t len, bool idn)
{
    size_t i = 0;
    if (len == 0 || len > 253 + (s[len - 1] == '.'))
        return 0;
    if (s[len - 1] == '.')
        len--;
    while (i <= len) {
        size_t st = i;
        while (i < len && s[i] != '.' && s[i] != 0)
            i++;
        size_t n = i - st;
        if (n == 0 || n > 63 || s[st] == '-' || s[i - 1] == '-')
            return 0;
        for (size_t j = st; j < i; j++) {
            unsigned char c = (unsigned char)s[j];
            if (!(isalnum(c) || c == '-' || (idn && c >= 0x80)))
                return 0;
        }
        /* "--" in positions 3-4 is reserved for A-labels ("xn--") */
        if (n >= 4 && s[st + 2] == '-' && s[st + 3] == '-' && strncasecmp(s + st, "xn", 2) != 0)
            return 0;
        if (i < len && s[i] != '.')
            return 0;
        i++;
    }
    return 1;
}

static int check_email(const char *s, size_t len, bool idn)
{
    const char *at = NULL;
    size_t i = 0;
    if (len && s[0] == '"') { /* quoted local part */
        for (i = 1; i < len && s[i] != '"'; i++)
            if (s[i] == '\\')
                i++;
        if (i >= len || i + 1 >= len || s[i + 1] != '@')
            return 0;
        at = s + i + 1;
    } else {
        at = memrchr(s, '@', len);
        if (!at || at == s)
            return 0;
        for (const char *p = s; p < at; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '.') {
                if (p == s || p + 1 == at || p[1] == '.')
                    return 0;
            } else if (!(isalnum(c) || strchr("!#$%&'*+/=?^_`{|}~-", c) || (idn && c >= 0x80))) {
                return 0;
            }
        }
    }
    const char *d = at + 1;
    size_t dl = len - (size_t)(d - s);
    if (dl >= 2 && d[0] == '[' && d[dl - 1] == ']') {
        if (dl > 7 && strncasecmp(d + 1, "IPv6:", 5) == 0)
            return check_ipv6(d + 6, dl - 7);
        return check_ipv4(d + 1, dl - 2);
    }
    return check_hostname(d, dl, idn);
}

/* --- URIs (RFC 3986) --- */

static int pct_ok(const char *s, size_t len, size_t i)
{
    return i + 2 < len && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2]);
}

/* Characters allowed in path, query and fragment, beyond '%' escapes. */
static int pchar_ok(unsigned char c, bool iri, const char *extra)
{
    return isalnum(c) || strchr("-._~!$&'()*+,;=:@", c) || (extra && strchr(extra, c)) ||
           (iri && c >= 0x80);
}

static int check_authority(const char *s, size_t len, bool iri)
{
    const char *at = memrchr(s, '@', len);
    size_t i = at ? (size_t)(at - s) + 1 : 0;
    for (size_t j = 0; at && j < (size_t)(at - s); j++) {
        unsigned char c = (unsigned char)s[j];
        if (c == '%' ? !pct_ok(s, len, j) : !pchar_ok(c, iri, NULL) || c == '@')
            return 0;
    }
    if (i < len && s[i] == '[') {
        const char *close = memchr(s + i, ']', len - i);
        if (!close || !check_ipv6(s + i + 1, (size_t)(close - s) - i - 1))
            return 0;
        i = (size_t)(close - s) + 1;
    } else {
        for (; i < len && s[i] != ':'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '%' ? !pct_ok(s, len, i) : !pchar_ok(c, iri, NULL) || c == '@')
                return 0;
        }
    }
    if (i < len) {
        if (s[i] != ':')
            return 0;
        for (i++; i < len; i++)
            if (!isdigit((unsigned char)s[i]))
                return 0;
    }
    return 1;
}

static int check_uri(const char *s, size_t len, bool need_scheme, bool iri)
{
    size_t i = 0;
    if (len && isalpha((unsigned char)s[0])) {
        size_t j = 1;
        while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.'))
            j++;
        if (j < len && s[j] == ':')
            i = j + 1;
    }
    if (need_scheme && i == 0)
        return 0;
    if (i == 0) { /* relative-ref: no ':' in the first segment */
        size_t seg = strcspn(s, "/?#");
        if (memchr(s, ':', seg < len ? seg : len))
            return 0;
    }
    if (len - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t st = i + 2, e = st;
        while (e < len && s[e] != '/' && s[e] != '?' && s[e] != '#')
            e++;
        if (!check_authority(s + st, e - st, iri))
            return 0;
        i = e;
    }
    bool query = false, frag = false;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (!pct_ok(s, len, i))
                return 0;
            i += 2;
        } else if (c == '?' && !frag) {
            query = true;
        } else if (c == '#' && !frag) {
            frag = true;
        } else if (!pchar_ok(c, iri, (query || frag) ? "/?" : "/")) {
            return 0;
        }
    }
    return 1;
}

static int check_uri_template(const char *s, size_t len)
{
    bool open = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '{') {
            if (open)
                return 0;
            open = true;
        } else if (s[i] == '}') {
            if (!open)
                return 0;
            open = false;
        }
    }
    return !open;
}

static int check_uuid(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int check_json_pointer(const char *s, size_t len)
{
    if (len && s[0] != '/')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return 0;
    return 1;
}

static int check_relative_json_pointer(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i == 0 || (i > 1 && s[0] == '0'))
        return 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) { /* index manipulation */
        size_t st = ++i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == st || (i - st > 1 && s[st] == '0') || (i - st == 1 && s[st] == '0'))
            return 0;
    }
    if (i < len && s[i] == '#')
        return i + 1 == len;
    return check_json_pointer(s + i, len - i);
}

static int check_regex(const char *s, size_t len)
{
    pcre2_code *code = NULL;
    char why[8];
    if (js_regex_compile(s, len, &code, why, sizeof why) != 0)
        return 0;
    pcre2_code_free(code);
    return 1;
}

int js_format_check(int f, const char *s, size_t len)
{
    switch (f) {
    case JS_F_DATE_TIME: return check_date_time(s, len);
    case JS_F_DATE: return check_date(s, len);
    case JS_F_TIME: return check_time(s, len);
    case JS_F_DURATION: return check_duration(s, len);
    case JS_F_EMAIL: return check_email(s, len, false);
    case JS_F_IDN_EMAIL: return check_email(s, len, true);
    case JS_F_HOSTNAME: return check_hostname(s, len, false);
    case JS_F_IDN_HOSTNAME: return check_hostname(s, len, true);
    case JS_F_IPV4: return check_ipv4(s, len);
    case JS_F_IPV6: return check_ipv6(s, len);
    case JS_F_URI: return check_uri(s, len, true, false);
    case JS_F_URI_REFERENCE: return check_uri(s, len, false, false);
    case JS_F_IRI: return check_uri(s, len, true, true);
    case JS_F_IRI_REFERENCE: return check_uri(s, len, false, true);
    case JS_F_URI_TEMPLATE: return check_uri_template(s, len);
    case JS_F_UUID: return check_uuid(s, len);
    case JS_F_JSON_POINTER: return check_json_pointer(s, len);
    case JS_F_RELATIVE_JSON_POINTER: return check_relative_json_pointer(s, len);
    case JS_F_REGEX: return check_regex(s, len);
    default: return 1;
    }
}
