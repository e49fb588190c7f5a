/* csv.c - the strict streaming CSV reader (contract in csv.h).
 *
 * A byte-at-a-time state machine over getc_unlocked: fields are appended,
 * NUL-terminated, to one buffer; their start offsets are kept and turned into
 * pointers once the record is complete (the buffer may move while growing).
 */
#include "telemetry/csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ot_csv_reader {
    FILE *in;
    size_t max_record, max_fields;
    char *buf;
    size_t len, cap;
    size_t *offs;
    char **fields;
    size_t nf, fcap;
    long line;       /* current physical line, 1-based */
    int started;     /* BOM check done */
    unsigned char pend[3]; /* bytes read while looking for a BOM */
    int npend;
    int eof;
    ot_error failed; /* sticky error (code != 0 once failed) */
};

ot_csv_reader *ot_csv_open(FILE *in, size_t max_record, size_t max_fields)
{
    ot_csv_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->in = in;
    r->max_record = max_record ? max_record : OT_CSV_MAX_RECORD_DEFAULT;
    r->max_fields = max_fields ? max_fields : OT_CSV_MAX_FIELDS_DEFAULT;
    r->line = 1;
    return r;
}

void ot_csv_close(ot_csv_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->offs);
    free(r->fields);
    free(r);
}

/* Record the failure so later calls repeat it, and hand it to the caller. */
static int fail(ot_csv_reader *r, ot_error *err, int code, const char *fmt, long line,
                const char *what)
{
    ot_error_set(&r->failed, code, NULL, fmt, line, what);
    if (err)
        *err = r->failed;
    return code;
}

static int put_byte(ot_csv_reader *r, char c, ot_error *err)
{
    if (r->len + 1 >= r->max_record)
        return fail(r, err, OT_EINVAL, "line %ld: %s", r->line,
                    "record too long (raise the limit or split the line)");
    if (r->len + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        if (cap > r->max_record)
            cap = r->max_record;
        char *nb = realloc(r->buf, cap);
        if (!nb)
            return fail(r, err, OT_ENOMEM, "line %ld: %s", r->line, "out of memory");
        r->buf = nb;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return 0;
}

/* Close the current field: NUL-terminate it, start the next one. */
static int end_field(ot_csv_reader *r, size_t start, ot_error *err)
{
    if (r->nf >= r->max_fields)
        return fail(r, err, OT_EINVAL, "line %ld: %s", r->line, "too many fields");
    if (r->nf >= r->fcap) {
        size_t cap = r->fcap ? r->fcap * 2 : 8;
        size_t *no = realloc(r->offs, cap * sizeof *no);
        if (!no)
            return fail(r, err, OT_ENOMEM, "line %ld: %s", r->line, "out of memory");
        r->offs = no;
        char **nfl = realloc(r->fields, cap * sizeof *nfl);
        if (!nfl)
            return fail(r, err, OT_ENOMEM, "line %ld: %s", r->line, "out of memory");
        r->fields = nfl;
        r->fcap = cap;
    }
    r->offs[r->nf++] = start;
    return put_byte(r, '\0', err);
}

/* After a CR: only CRLF is a line break. */
static int next_byte(ot_csv_reader *r);
static int expect_lf(ot_csv_reader *r, ot_error *err)
{
    int c = next_byte(r);
    if (c == '\n')
        return 0;
    return fail(r, err, OT_EINVAL, "line %ld: %s", r->line,
                "carriage return not followed by a line feed");
}

/* The next input byte: pushed-back bytes first, then the stream. */
static int next_byte(ot_csv_reader *r)
{
    if (r->npend > 0)
        return r->pend[--r->npend];
    return getc_unlocked(r->in);
}

/* Skip a UTF-8 byte-order mark; anything else read while looking for one
 * is pushed back (in reverse, as next_byte pops from the end). */
static void skip_bom(ot_csv_reader *r)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    int got[3], n = 0;
    while (n < 3) {
        got[n] = getc_unlocked(r->in);
        if (got[n] != bom[n])
            break;
        n++;
    }
    if (n == 3)
        return;
    int last = n; /* got[0..n] were read; got[n] may be EOF */
    if (got[last] == EOF)
        last--;
    for (int i = last; i >= 0; i--)
        r->pend[r->npend++] = (unsigned char)got[i];
}

enum { S_START, S_UNQUOTED, S_QUOTED, S_QUOTE_SEEN };

int ot_csv_next(ot_csv_reader *r, ot_csv_record *rec, ot_error *err)
{
    if (r->failed.code) {
        if (err)
            *err = r->failed;
        return r->failed.code;
    }
    if (r->eof)
        return 0;
    if (!r->started) {
        r->started = 1;
        skip_bom(r);
    }
    r->len = r->nf = 0;
    long first_line = r->line;
    size_t start = 0;
    int st = S_START, rc;
    for (;;) {
        int c = next_byte(r);
        if (c == EOF) {
            if (ferror(r->in))
                return fail(r, err, OT_EIO, "line %ld: %s", r->line, strerror(errno));
            r->eof = 1;
            if (st == S_QUOTED)
                return fail(r, err, OT_EINVAL, "line %ld: %s", first_line,
                            "quoted field never closed");
            if (st == S_START && r->nf == 0)
                return 0;
            break;
        }
        if (c == '\0')
            return fail(r, err, OT_EINVAL, "line %ld: %s", r->line, "NUL byte in input");
        if (st == S_QUOTED) {
            if (c == '"')
                st = S_QUOTE_SEEN;
            else if ((rc = put_byte(r, (char)c, err)))
                return rc;
            if (c == '\n')
                r->line++;
            continue;
        }
        if (st == S_QUOTE_SEEN && c == '"') {
            if ((rc = put_byte(r, '"', err)))
                return rc;
            st = S_QUOTED;
            continue;
        }
        if (c == ',') {
            if ((rc = end_field(r, start, err)))
                return rc;
            start = r->len;
            st = S_START;
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (c == '\r' && (rc = expect_lf(r, err)))
                return rc;
            r->line++;
            if (st == S_START && r->nf == 0) { /* blank line */
                first_line = r->line;
                continue;
            }
            break;
        }
        if (st == S_QUOTE_SEEN)
            return fail(r, err, OT_EINVAL, "line %ld: %s", r->line,
                        "text after a closing quote (quote the whole field)");
        if (c == '"') {
            if (st != S_START)
                return fail(r, err, OT_EINVAL, "line %ld: %s", r->line,
                            "quote inside an unquoted field (quote the field, double the quote)");
            st = S_QUOTED;
            continue;
        }
        if ((rc = put_byte(r, (char)c, err)))
            return rc;
        st = S_UNQUOTED;
    }
    if ((rc = end_field(r, start, err)))
        return rc;
    for (size_t i = 0; i < r->nf; i++)
        r->fields[i] = r->buf + r->offs[i];
    rec->fields = r->fields;
    rec->nfields = r->nf;
    rec->line = first_line;
    return 1;
}

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    char *end;
    errno = 0;
    (void)strtod(s, &end);
    return *end == '\0';
}

int ot_csv_is_header(const ot_csv_record *rec)
{
    if (rec->nfields == 0)
        return 0;
    for (size_t i = 0; i < rec->nfields; i++)
        if (!rec->fields[i][0] || is_number(rec->fields[i]))
            return 0;
    return 1;
}
