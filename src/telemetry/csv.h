/* csv.h - a small, strict, streaming CSV reader (RFC 4180).
 *
 * Reads records one at a time from a FILE* the caller owns (kept open by the
 * caller, never closed here). Fields may be quoted ("a,b", "say ""hi"""),
 * quoted fields may span lines; records end in CRLF or LF (a bare CR is an
 * error); blank lines are skipped; a UTF-8 byte-order mark at the start is
 * skipped. Strict: a quote inside an unquoted field, text after a closing
 * quote, an unterminated quote, a NUL byte, a record longer than max_record
 * bytes or with more than max_fields fields is an OT_EINVAL error whose
 * message names the line ("line 7: ..."). After an error the reader is
 * stuck: every later call returns the same error.
 *
 * Memory: one reader owns one buffer of at most max_record bytes; the fields
 * of a record are borrowed until the next ot_csv_next or ot_csv_close.
 * Thread-safety: one reader per thread.
 */
#ifndef OT_TELEMETRY_CSV_H
#define OT_TELEMETRY_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

#define OT_CSV_MAX_RECORD_DEFAULT 65536
#define OT_CSV_MAX_FIELDS_DEFAULT 256

typedef struct ot_csv_reader ot_csv_reader;

typedef struct ot_csv_record {
    char **fields; /* nfields NUL-terminated strings, unquoted and unescaped */
    size_t nfields;
    long line;     /* physical line (1-based) on which the record starts */
} ot_csv_record;

/* A reader over in (borrowed; the caller closes it). max_record and
 * max_fields of 0 take the defaults above. Returns NULL on OOM. */
ot_csv_reader *ot_csv_open(FILE *in, size_t max_record, size_t max_fields);

/* Free the reader (not the FILE). Accepts NULL. */
void ot_csv_close(ot_csv_reader *r);

/* Read the next record into *rec. Returns 1 for a record, 0 at end of input,
 * or a negative OT_E* code with err filled (OT_EINVAL malformed input,
 * OT_EIO a read error, OT_ENOMEM). */
int ot_csv_next(ot_csv_reader *r, ot_csv_record *rec, ot_error *err);

/* 1 if rec looks like a header row: every field is non-empty and none is a
 * number (strtod over the whole field). "timestamp,value" is a header;
 * "2014-02-14 14:30:00,0.13" and "1392388200,5" are not. */
int ot_csv_is_header(const ot_csv_record *rec);

#endif
