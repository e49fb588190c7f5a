/* Black-box tests of the audit chain: every write, decision, approval,
 * action and refused request is recorded; GET /audit is for admins; the
 * chain verifies, and an edited record in the database is named by
 * /audit/verify after a restart. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_util.h" /* and harness.h */

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(audit, .init = up, .fini = down, .timeout = 90);

/* Every record of GET /audit, paged. */
static json_t *all_records(void)
{
    json_t *all = json_array();
    long after = 0;
    for (int guard = 0; guard < 1000; guard++) {
        json_t *p = bb_getf(&srv, 200, "/audit?after=%ld&limit=7", after);
        json_t *recs = json_object_get(p, "records");
        size_t n = json_array_size(recs);
        json_array_extend(all, recs);
        long next = (long)json_integer_value(json_object_get(p, "next"));
        json_decref(p);
        if (n == 0)
            break;
        cr_assert_gt(next, after, "GET /audit does not advance");
        after = next;
    }
    return all;
}

/* The first record whose record.action equals action (and actor when not
 * NULL), or NULL. */
static json_t *find(const json_t *recs, const char *action, const char *actor)
{
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r) {
        json_t *rec = json_object_get(r, "record");
        if (!strcmp(pu_str(rec, "action") ?: "", action) &&
            (!actor || !strcmp(pu_str(rec, "actor") ?: "", actor)))
            return r;
    }
    return NULL;
}

/* Poll until a record with this action exists. */
static json_t *wait_record(const char *action, const char *actor, double timeout_s)
{
    double deadline = pu_now() + timeout_s;
    for (;;) {
        json_t *recs = all_records();
        if (find(recs, action, actor))
            return recs;
        if (pu_now() > deadline) {
            char *d = json_dumps(recs, JSON_COMPACT);
            cr_assert_fail("no audit record '%s' after %.0f s: %.3000s", action, timeout_s, d);
        }
        json_decref(recs);
        usleep(100000);
    }
}

static void some_writes(void)
{
    pu_ingest_series(&srv, "plant1", "r1", "temp_c", 5, 0);
    json_decref(bb_req(&srv, "PUT", "/policies/plant1",
                       "{\"thresholds\":{\"auto_execute\":0.95,\"require_approval\":0.3}}", 200));
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest",
                       "{\"twin_id\":\"plant1\",\"asset_id\":\"r1\",\"metrics\":{\"p\":1}}", 200));
}

Test(audit, chain_records_writes_decisions_and_refusals)
{
    some_writes();
    /* a proposal, its approval and the action */
    char *ann = pu_mint(&srv, "ann", "agent", NULL);
    char *sue = pu_mint(&srv, "sue", "supervisor", NULL);
    char *vic = pu_mint(&srv, "vic", "viewer", NULL);
    json_t *r = pu_req(&srv, ann, "POST", "/proposals",
                       "{\"twin_id\":\"plant1\",\"summary\":\"s\",\"recommended_action\":{\"type\":"
                       "\"set_parameter\",\"target\":\"c\",\"params\":{\"name\":\"sp\",\"value\":"
                       "3}}}",
                       201);
    cr_assert_str_eq(pu_str(json_object_get(r, "decision"), "decision"), "require_approval");
    char pid[64], path[160];
    snprintf(pid, sizeof pid, "%s", pu_str(json_object_get(r, "proposal"), "proposal_id"));
    json_decref(r);
    snprintf(path, sizeof path, "/proposals/%s/approve", pid);
    r = pu_req(&srv, sue, "POST", path, NULL, 200);
    char aid[64];
    snprintf(aid, sizeof aid, "%s", pu_str(json_object_get(r, "action"), "action_id"));
    json_decref(r);
    json_decref(pu_wait_action(&srv, aid, 20));

    /* refused: a viewer writing, and no token at all */
    bb_resp e;
    pu_http(&srv, vic, "POST", "/telemetry/ingest",
            "{\"twin_id\":\"plant1\",\"asset_id\":\"r1\",\"metrics\":{\"p\":2}}", &e);
    cr_assert_eq(e.status, 403);
    bb_resp_free(&e);
    pu_http(&srv, NULL, "PUT", "/policies/plant1", "{}", &e);
    cr_assert_eq(e.status, 401);
    bb_resp_free(&e);

    json_t *recs = wait_record("refused PUT /policies/plant1", NULL, 10);
    json_decref(recs);
    recs = wait_record("refused POST /telemetry/ingest", "vic", 10);

    /* the ingests: the batch (target "5 telemetry items") and the single
     * event, each with its request id */
    int ingests = 0, single = 0;
    size_t k;
    json_t *x;
    json_array_foreach(recs, k, x) {
        json_t *rec = json_object_get(x, "record"), *d = json_object_get(rec, "details");
        if (strcmp(pu_str(rec, "action") ?: "", "POST /telemetry/ingest") ||
            strcmp(pu_str(rec, "actor") ?: "", "admin"))
            continue;
        ingests++;
        single += !strcmp(pu_str(rec, "target") ?: "", "1 telemetry items");
        cr_assert_str_eq(pu_str(d, "target") ?: "", pu_str(rec, "target") ?: "-");
        cr_assert_gt(strlen(pu_str(d, "request_id") ?: ""), 0, "no request_id in the details");
        cr_assert_eq(json_object_size(d), 2);
    }
    cr_assert_geq(ingests, 2, "the ingests are not audited");
    cr_assert_geq(single, 1, "the single-event ingest is not audited");
    json_t *pol = find(recs, "policy.update", "admin");
    cr_assert(pol, "the policy PUT is not audited");
    cr_assert_str_eq(pu_str(json_object_get(pol, "record"), "target"), "plant1");
    json_t *pr = find(recs, "proposal", "ann");
    cr_assert(pr, "the proposal (and its decision) is not audited");
    cr_assert_str_eq(pu_str(json_object_get(pr, "record"), "target"), pid);
    json_t *ap = find(recs, "proposal.approve", "sue");
    cr_assert(ap, "the approval is not audited");
    cr_assert_str_eq(pu_str(json_object_get(ap, "record"), "target"), pid);
    cr_assert(find(recs, "action.start", NULL), "the action start is not audited");
    cr_assert(find(recs, "action.succeed", NULL), "the action outcome is not audited");
    json_t *ref = find(recs, "refused POST /telemetry/ingest", "vic");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(ref,
                                                                                      "record"),
                                                                      "details"),
                                                     "status")),
                 403);

    /* the chain: consecutive, each prev_hash the previous hash */
    size_t n = json_array_size(recs), i;
    json_t *rec;
    const char *prev = "0000000000000000000000000000000000000000000000000000000000000000";
    json_array_foreach(recs, i, rec) {
        cr_assert_eq(json_integer_value(json_object_get(rec, "seq")), (json_int_t)i + 1);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(rec, "record"), "seq")),
                     (json_int_t)i + 1);
        cr_assert_str_eq(pu_str(rec, "prev_hash"), prev, "record %zu", i + 1);
        cr_assert_eq(strlen(pu_str(rec, "hash")), 64);
        prev = pu_str(rec, "hash");
    }
    json_t *v = bb_req(&srv, "GET", "/audit/verify", NULL, 200);
    cr_assert(json_is_true(json_object_get(v, "valid")), "chain invalid: %s",
              json_dumps(v, JSON_COMPACT));
    json_int_t len = json_integer_value(json_object_get(v, "length"));
    /* more records may land between the list and the check (none expected) */
    cr_assert_geq(len, (json_int_t)n);
    if (len == (json_int_t)n)
        cr_assert_str_eq(pu_str(v, "head"), prev);
    json_decref(v);
    json_decref(recs);
    free(ann);
    free(sue);
    free(vic);
}

Test(audit, only_admins_read_it)
{
    some_writes();
    static const char *const roles[] = {"viewer", "agent", "executor", "supervisor"};
    for (size_t i = 0; i < 4; i++) {
        char *t = pu_mint(&srv, roles[i], roles[i], NULL);
        bb_resp e;
        pu_http(&srv, t, "GET", "/audit", NULL, &e);
        bb_assert_error(&e, 403, "forbidden", NULL);
        bb_resp_free(&e);
        pu_http(&srv, t, "GET", "/audit/verify", NULL, &e);
        bb_assert_error(&e, 403, "forbidden", NULL);
        bb_resp_free(&e);
        free(t);
    }
    char *adm = pu_mint(&srv, "ada", "admin", NULL);
    json_decref(pu_req(&srv, adm, "GET", "/audit", NULL, 200));
    free(adm);
    static const char *const bad[][2] = {{"/audit?after=-1", "$.after"},
                                         {"/audit?after=x", "$.after"},
                                         {"/audit?limit=0", "$.limit"},
                                         {"/audit?limit=100000", "$.limit"}};
    for (size_t i = 0; i < 4; i++) {
        bb_resp e;
        bb_http(&srv, "GET", bad[i][0], NULL, NULL, &e);
        bb_assert_error(&e, 400, "validation_failed", bad[i][1]);
        bb_resp_free(&e);
    }
    /* the refusals above are in the chain too */
    json_t *recs = wait_record("refused GET /audit/verify", "supervisor", 10);
    json_decref(recs);
}

/* The SQL below is valid for SQLite and PostgreSQL alike. */
static int exec_sql(const char *unused, const char *sql)
{
    (void)unused;
    return (int)bb_db_exec(&srv, sql);
}

Test(audit, an_edited_record_is_named_by_verify)
{
    some_writes();
    some_writes(); /* records after the ones edited below */
    json_t *v = bb_req(&srv, "GET", "/audit/verify", NULL, 200);
    cr_assert(json_is_true(json_object_get(v, "valid")));
    json_int_t len = json_integer_value(json_object_get(v, "length"));
    cr_assert_geq(len, 5, "expected at least 5 records, have %lld", (long long)len);
    json_decref(v);

    cr_assert_eq(bb_stop(&srv, 1), 0);
    const char *db = "the server's store";
    /* change the actor inside record 2, keeping valid JSON */
    int n = exec_sql(db, "UPDATE audit SET record = replace(record, '\"actor\":\"', "
                         "'\"actor\":\"mallory-') WHERE seq = 2");
    cr_assert_eq(n, 1, "no audit record 2 to edit");

    char dir[256];
    snprintf(dir, sizeof dir, "%s", srv.dir);
    bb_start(&srv, NULL, NULL, dir);
    cr_assert(srv.token[0], "no admin token after the restart");
    v = bb_req(&srv, "GET", "/audit/verify", NULL, 200);
    cr_assert(json_is_false(json_object_get(v, "valid")), "the edit was not detected: %s",
              json_dumps(v, JSON_COMPACT));
    json_t *fi = json_object_get(v, "first_invalid");
    cr_assert_eq(json_integer_value(json_object_get(fi, "seq")), 2, "%s",
                 json_dumps(v, JSON_COMPACT));
    cr_assert(json_string_length(json_object_get(fi, "reason")) > 0);
    cr_assert_eq(json_integer_value(json_object_get(v, "length")), 1,
                 "length counts the valid prefix");
    json_decref(v);
    /* the edited record reads back as edited */
    json_t *p = bb_req(&srv, "GET", "/audit?after=1&limit=1", NULL, 200);
    json_t *r2 = json_array_get(json_object_get(p, "records"), 0);
    cr_assert(strstr(pu_str(json_object_get(r2, "record"), "actor"), "mallory-"));
    json_decref(p);

    /* a deleted record (not the last: dropping the tail is a truncation the
     * chain alone cannot see) is found as missing */
    cr_assert_eq(bb_stop(&srv, 1), 0);
    exec_sql(db, "UPDATE audit SET record = replace(record, '\"actor\":\"mallory-', "
                 "'\"actor\":\"') WHERE seq = 2");
    n = exec_sql(db, "DELETE FROM audit WHERE seq = 3");
    cr_assert_eq(n, 1);
    bb_start(&srv, NULL, NULL, dir);
    v = bb_req(&srv, "GET", "/audit/verify", NULL, 200);
    cr_assert(json_is_false(json_object_get(v, "valid")), "%s", json_dumps(v, JSON_COMPACT));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(v, "first_invalid"), "seq")),
                 3, "%s", json_dumps(v, JSON_COMPACT));
    cr_assert_eq(json_integer_value(json_object_get(v, "length")), 2,
                 "restoring record 2 should make it valid again");
    json_decref(v);
}
