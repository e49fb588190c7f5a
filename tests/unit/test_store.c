#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/evtype.h"
#include "store/store.h"

static char dir[] = "/tmp/ot-store-XXXXXX";
static ot_store *st;
static int commits;

static void on_commit(void *ctx, const ot_event *evs, size_t n)
{
    (void)ctx;
    (void)evs;
    commits += (int)n;
}

static void open_store(void)
{
    ot_store_options o = {.data_dir = dir, .database_url = "", .queue_limit = 1000,
                          .read_connections = 2, .on_commit = on_commit};
    ot_error e;
    cr_assert_eq(ot_store_open(&o, &st, &e), 0, "%s", e.message);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    open_store();
}

static void teardown(void)
{
    ot_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int write_tel(const char *id, int client, double v, int64_t *cursor, int *dup)
{
    const char *names[1] = {"temp_c"};
    double vals[1] = {v};
    ot_store_tel t = {.event_id = id, .twin_id = "tw", .asset_id = "as", .ts_us = 1767225600000000LL, .nmetrics = 1, .metric_names = names, .metric_values = vals, .json = "{\"x\":1}", .client_id = client};
    ot_store_write w = {.tels = &t, .ntels = 1};
    int rc = ot_store_write_sync(st, &w);
    *cursor = t.cursor;
    *dup = t.duplicate;
    return rc;
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, cursors_are_contiguous_and_replays_are_idempotent)
{
    int64_t c;
    int dup;
    cr_assert_eq(write_tel("e1", 1, 1, &c, &dup), 0);
    cr_assert_eq(c, 1);
    cr_assert_eq(write_tel("e2", 1, 2, &c, &dup), 0);
    cr_assert_eq(c, 2);
    cr_assert_eq(write_tel("e1", 1, 9, &c, &dup), 0);
    cr_assert_eq(c, 1, "a replay returns the original cursor");
    cr_assert_eq(dup, 1);
    cr_assert_eq(ot_store_last_cursor(st), 2);
    cr_assert_eq(commits, 2);
    ot_error e;
    char *doc = ot_store_get_doc(st, "telemetry", "e1", &e);
    cr_assert_not_null(doc);
    free(doc);
    cr_assert_null(ot_store_get_doc(st, "telemetry", "nope", &e));
    cr_assert_eq(e.code, OT_ENOTFOUND);
}

static int count(void *ctx, const ot_event *ev)
{
    (*(int *)ctx)++;
    cr_assert(strstr(ev->json, "\"type\":\"TelemetryAppended\""));
    return 0;
}

Test(store, survives_a_reopen_and_keeps_numbering)
{
    int64_t c;
    int dup;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        cr_assert_eq(write_tel(id, 0, i, &c, &dup), 0);
    }
    ot_store_close(st);
    open_store();
    cr_assert_eq(ot_store_last_cursor(st), 5);
    cr_assert_eq(write_tel("after", 0, 1, &c, &dup), 0);
    cr_assert_eq(c, 6);
    int n = 0;
    int64_t scanned;
    ot_error e;
    cr_assert_eq(ot_store_read_events(st, 0, 100, NULL, count, &n, &scanned, &e), 6);
    cr_assert_eq(n, 6);
    json_t *latest = ot_store_latest(st, "tw", &e);
    cr_assert_eq(json_number_value(json_object_get(json_object_get(json_object_get(
                     json_object_get(latest, "tw"), "as"), "temp_c"), "value")), 1.0);
    json_decref(latest);
}

Test(store, aggregates_by_window)
{
    const char *names[1] = {"m"};
    for (int i = 0; i < 120; i++) {
        double v = i < 60 ? 1.0 : 3.0;
        double vals[1] = {v};
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        ot_store_tel t = {.event_id = id, .twin_id = "tw", .asset_id = "as",
                          .ts_us = 1767225600000000LL + (int64_t)i * 1000000, .nmetrics = 1,
                          .metric_names = names, .metric_values = vals, .json = "{}"};
        ot_store_write w = {.tels = &t, .ntels = 1};
        cr_assert_eq(ot_store_write_sync(st, &w), 0);
    }
    ot_error e;
    json_t *b = ot_store_aggregate(st, "tw", NULL, "m", INT64_MIN, INT64_MAX, 60000000LL,
                                   OT_AGG_AVG, 1000, &e);
    cr_assert_eq(json_array_size(b), 2);
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(b, 0), "value")), 1.0,
                       1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(b, 1), "value")), 3.0,
                       1e-9);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(b, 1), "count")), 60);
    json_decref(b);
}

static int check_audit(void *ctx, const ot_audit_row *row)
{
    char h[OT_AUDIT_HASH_HEX];
    char *prev = ctx;
    cr_assert_str_eq(row->prev_hash, prev);
    ot_audit_hash(prev, row->record, strlen(row->record), h);
    cr_assert_str_eq(h, row->hash);
    strcpy(prev, h);
    return 0;
}

Test(store, audit_records_chain)
{
    for (int i = 0; i < 3; i++) {
        ot_store_audit a = {.actor = "t", .action = "x", .target = "y"};
        ot_store_write w = {.audit = &a};
        cr_assert_eq(ot_store_write_sync(st, &w), 0);
        cr_assert_eq(a.seq, i + 1);
    }
    char prev[OT_AUDIT_HASH_HEX];
    memset(prev, '0', 64);
    prev[64] = 0;
    ot_error e;
    cr_assert_eq(ot_store_read_audit(st, 0, 10, check_audit, prev, &e), 3);
}

Test(store, a_second_opener_is_refused)
{
    ot_store *other;
    ot_store_options o = {.data_dir = dir, .database_url = ""};
    ot_error e;
    cr_assert_neq(ot_store_open(&o, &other, &e), 0);
}

Test(store, rollups_agree_with_raw_points)
{
    const char *names[1] = {"m"};
    for (int i = 0; i < 600; i++) {
        double vals[1] = {(double)((i * 37) % 101) / 7.0};
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        ot_store_tel t = {.event_id = id, .twin_id = "tw", .asset_id = i % 2 ? "x" : "y",
                          .ts_us = 1767225600000000LL + (int64_t)i * 1500000, .nmetrics = 1,
                          .metric_names = names, .metric_values = vals, .json = "{}"};
        ot_store_write w = {.tels = &t, .ntels = 1};
        cr_assert_eq(ot_store_write_sync(st, &w), 0);
    }
    ot_error e;
    enum ot_agg_fn fns[] = {OT_AGG_AVG, OT_AGG_MIN, OT_AGG_MAX, OT_AGG_SUM, OT_AGG_COUNT,
                            OT_AGG_STDDEV};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        /* a minute-aligned range reads the rollups; starting 1 us later reads
         * the points (the first point is on a minute boundary, so both see
         * the same data) */
        json_t *a = ot_store_aggregate(st, "tw", NULL, "m", 1767225600000000LL - 60000000LL,
                                       INT64_MAX, 120000000LL, fns[f], 1000, &e);
        json_t *b = ot_store_aggregate(st, "tw", NULL, "m", 1767225600000000LL - 60000000LL + 1,
                                       INT64_MAX, 120000000LL, fns[f], 1000, &e);
        cr_assert_eq(json_array_size(a), json_array_size(b));
        cr_assert_gt(json_array_size(a), 5);
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
            cr_assert_str_eq(json_string_value(json_object_get(x, "bucket")),
                             json_string_value(json_object_get(y, "bucket")));
            cr_assert_float_eq(json_number_value(json_object_get(x, "value")),
                               json_number_value(json_object_get(y, "value")), 1e-9,
                               "fn %zu bucket %zu", f, i);
        }
        json_decref(a);
        json_decref(b);
    }
}
