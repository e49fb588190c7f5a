/* audit.c - see audit.h. */
#include "policy/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "store/store.h"

#define AUDIT_PAGE 1000

struct verify {
    char prev[OT_AUDIT_HASH_HEX];
    int64_t expect_seq, length;
    int64_t bad_seq;
    char reason[160];
};

static int check_row(void *ctx, const ot_audit_row *row)
{
    struct verify *v = ctx;
    char h[OT_AUDIT_HASH_HEX];
    if (row->seq != v->expect_seq) {
        v->bad_seq = v->expect_seq;
        snprintf(v->reason, sizeof v->reason, "record %lld is missing (next stored is %lld)",
                 (long long)v->expect_seq, (long long)row->seq);
        return 1;
    }
    if (strcmp(row->prev_hash, v->prev) != 0) {
        v->bad_seq = row->seq;
        snprintf(v->reason, sizeof v->reason, "prev_hash does not match record %lld's hash",
                 (long long)row->seq - 1);
        return 1;
    }
    ot_audit_hash(v->prev, row->record, strlen(row->record), h);
    if (strcmp(h, row->hash) != 0) {
        v->bad_seq = row->seq;
        snprintf(v->reason, sizeof v->reason, "record %lld was altered: its hash does not match "
                 "its content", (long long)row->seq);
        return 1;
    }
    json_t *rec = json_loads(row->record, 0, NULL);
    json_int_t inner = json_integer_value(json_object_get(rec, "seq"));
    json_decref(rec);
    if (inner != row->seq) {
        v->bad_seq = row->seq;
        snprintf(v->reason, sizeof v->reason, "record %lld carries seq %lld", (long long)row->seq,
                 (long long)inner);
        return 1;
    }
    memcpy(v->prev, h, sizeof h);
    v->expect_seq++;
    v->length++;
    return 0;
}

json_t *ot_audit_verify(ot_store *store, ot_error *err)
{
    struct verify v = {.expect_seq = 1};
    memset(v.prev, '0', 64);
    v.prev[64] = '\0';
    for (;;) {
        int64_t before = v.length;
        int n = ot_store_read_audit(store, v.expect_seq - 1, AUDIT_PAGE, check_row, &v, err);
        if (n < 0)
            return NULL;
        if (v.bad_seq || n < AUDIT_PAGE || v.length == before)
            break;
    }
    if (v.bad_seq)
        return json_pack("{s:b, s:I, s:s, s:{s:I, s:s}}", "valid", 0, "length",
                         (json_int_t)v.length, "head", v.prev, "first_invalid", "seq",
                         (json_int_t)v.bad_seq, "reason", v.reason);
    return json_pack("{s:b, s:I, s:s}", "valid", 1, "length", (json_int_t)v.length, "head",
                     v.prev);
}

struct page {
    json_t *arr;
    int64_t last;
};

static int add_row(void *ctx, const ot_audit_row *row)
{
    struct page *p = ctx;
    json_t *rec = json_loads(row->record, 0, NULL);
    json_array_append_new(p->arr, json_pack("{s:I, s:o, s:s, s:s}", "seq", (json_int_t)row->seq,
                                            "record", rec ? rec : json_string(row->record),
                                            "prev_hash", row->prev_hash, "hash", row->hash));
    p->last = row->seq;
    return 0;
}

void ot_h_audit(ot_req *req)
{
    long after = 0, limit = 100;
    const char *a = ot_req_query(req, "after"), *l = ot_req_query(req, "limit");
    char *end;
    if (a && ((after = strtol(a, &end, 10)) < 0 || *end || !*a)) {
        ot_reply_errorf(req, OT_EINVAL, "$.after", "after must be a record number (>= 0)");
        return;
    }
    if (l && ((limit = strtol(l, &end, 10)) < 1 || limit > AUDIT_PAGE || *end || !*l)) {
        ot_reply_errorf(req, OT_EINVAL, "$.limit", "limit must be an integer from 1 to %d",
                        AUDIT_PAGE);
        return;
    }
    struct page p = {json_array(), after};
    ot_error err;
    ot_error_clear(&err);
    if (ot_store_read_audit(req->app->store, after, (int)limit, add_row, &p, &err) < 0) {
        json_decref(p.arr);
        ot_reply_error(req, &err);
        return;
    }
    ot_reply_json(req, 200, json_pack("{s:o, s:I}", "records", p.arr, "next", (json_int_t)p.last));
}

void ot_h_audit_verify(ot_req *req)
{
    ot_error err;
    ot_error_clear(&err);
    json_t *r = ot_audit_verify(req->app->store, &err);
    if (!r) {
        ot_reply_error(req, &err);
        return;
    }
    ot_reply_json(req, 200, r);
}
