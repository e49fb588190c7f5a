/* "Every object the server emits validates against its schema" (DESIGN.md
 * section 6): telemetry records vs telemetry.v1, log events vs event.v1, sim
 * results vs sim.v1, twin models vs twin_model.v1, each checked with the
 * server's own POST /schemas/{name}/validate. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bb_server srv;
static void up(void) { bb_start(&srv, NULL, NULL, NULL); }
static void down(void) { bb_stop_fixture(&srv); }

TestSuite(contract, .init = up, .fini = down, .timeout = 120);

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Assert that doc validates against the schema; what names the object. */
static void assert_valid(const char *schema, const json_t *doc, const char *what)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char path[128];
    snprintf(path, sizeof path, "/schemas/%s/validate", schema);
    json_t *v = bb_req(&srv, "POST", path, text, 200);
    if (!json_is_true(json_object_get(v, "valid"))) {
        char *errs = json_dumps(json_object_get(v, "errors"), JSON_COMPACT);
        char msg[4096];
        snprintf(msg, sizeof msg, "%s does not validate against %s: %.1500s\ninstance: %.2000s",
                 what, schema, errs, text);
        free(errs);
        free(text);
        json_decref(v);
        cr_assert_fail("%s", msg);
    }
    json_decref(v);
    free(text);
}

static void ingest(const char *body)
{
    json_decref(bb_req(&srv, "POST", "/telemetry/ingest", body, 200));
}

Test(contract, telemetry_records_validate_against_telemetry_v1)
{
    json_decref(bb_req(&srv, "PUT", "/twins/c2/ingest",
                       "{\"expected_metrics\":[\"a\",\"b\"],\"rename\":{\"x\":\"a\"}}", 200));
    ingest("[{\"twin_id\":\"c1\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"event_id\":\"k1\"},"
           "{\"twin_id\":\"c1\",\"asset_id\":\"a\",\"metrics\":{\"v\":\"-2.5e3\",\"w\":0},"
           "\"tags\":{\"line\":\"A\",\"shift\":\"night\"},\"ts\":1767530096250,"
           "\"event_id\":\"k2\"},"
           "{\"twin_id\":\"c1\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},\"quality\":0.5,"
           "\"event_id\":\"k3\"},"
           "{\"twin_id\":\"c1\",\"asset_id\":\"a\",\"metrics\":{\"v\":1},"
           "\"quality\":{\"score\":0.9,\"sensor\":\"ok\"},\"event_id\":\"k4\"},"
           "{\"twin_id\":\"c2\",\"asset_id\":\"a\",\"metrics\":{\"x\":1},\"event_id\":\"k5\"},"
           "{\"twin_id\":\"c2\",\"asset_id\":\"a\",\"metrics\":{\"x\":1,\"b\":2},\"tags\":{},"
           "\"event_id\":\"k6\"}]");
    /* a canonical record sent back in is accepted and stays valid */
    json_t *k4 = bb_req(&srv, "GET", "/r/telemetry/k4", NULL, 200);
    json_object_set_new(k4, "event_id", json_string("k7"));
    char *again = json_dumps(k4, JSON_COMPACT);
    ingest(again);
    free(again);
    json_decref(k4);
    static const char *ids[] = {"k1", "k2", "k3", "k4", "k5", "k6", "k7"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        json_t *t = bb_getf(&srv, 200, "/r/telemetry/%s", ids[i]);
        assert_valid("telemetry.v1", t, ids[i]);
        json_decref(t);
    }
    /* rows of /telemetry/query are the same records */
    json_t *q = bb_getf(&srv, 200, "/telemetry/query?twin_id=c1");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(q, "rows"), i, row)
        assert_valid("telemetry.v1", row, "a /telemetry/query row");
    json_decref(q);
    /* the profile's missing_rate: k5 has a, lacks b */
    json_t *t = bb_req(&srv, "GET", "/r/telemetry/k5", NULL, 200);
    cr_assert_float_eq(
        json_number_value(json_object_get(json_object_get(t, "quality"), "missing_rate")), 0.5,
        1e-12);
    json_decref(t);
}

/* TelemetryAppended and SimulationCompleted, from /diff and from the SSE
 * stream (the same objects). */
Test(contract, telemetry_and_simulation_events_validate_against_event_v1)
{
    ingest("{\"twin_id\":\"e1\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}");
    ingest("[{\"twin_id\":\"e1\",\"asset_id\":\"b\",\"metrics\":{\"v\":1}},"
           "{\"twin_id\":\"e2\",\"asset_id\":\"a\",\"metrics\":{\"v\":1}}]");
    json_decref(bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"e1\",\"parameters\":{\"base_yield\":0.85},\"seed\":1,"
                       "\"n_samples\":200}",
                       200));
    json_decref(bb_req(&srv, "POST", "/sim/run",
                       "{\"twin_id\":\"e1\",\"seed\":1,\"n_samples\":200,\"engine\":\"quantum\"}",
                       200));
    json_t *all = bb_diff_all(&srv, "types=TelemetryAppended,SimulationCompleted", 100);
    cr_assert_eq(json_array_size(all), 5);
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        char what[64];
        snprintf(what, sizeof what, "%s event %s", sget(e, "type"), sget(e, "cursor"));
        assert_valid("event.v1", e, what);
        /* the data_ref resolves */
        json_t *d = json_object_get(e, "data_ref");
        json_decref(bb_getf(&srv, 200, "/r/%s/%s", sget(d, "type"), sget(d, "id")));
    }
    json_decref(all);
    bb_sse c;
    cr_assert_eq(bb_sse_open(&c, &srv, "/subscribe?since=cursor_000000", NULL, 10), 200);
    cr_assert(bb_sse_wait_count(&c, 6, 10));
    for (size_t k = 1; k < c.nev; k++) {
        json_t *d = json_loads(c.ev[k].data, 0, NULL);
        cr_assert_not_null(d);
        assert_valid("event.v1", d, "an SSE event");
        json_decref(d);
    }
    bb_sse_close(&c);
}

Test(contract, schema_registered_event_validates_against_event_v1)
{
    json_decref(bb_req(&srv, "POST", "/schemas",
                       "{\"name\":\"c.v1\",\"schema\":{\"type\":\"object\"}}", 201));
    json_t *all = bb_diff_all(&srv, "types=SchemaRegistered", 100);
    cr_assert_eq(json_array_size(all), 1);
    assert_valid("event.v1", json_array_get(all, 0), "the SchemaRegistered event");
    json_decref(all);
}

static void sim_valid(const char *body, const char *what)
{
    json_t *r = bb_req(&srv, "POST", "/sim/run", body, 200);
    assert_valid("sim.v1", r, what);
    json_t *g = bb_getf(&srv, 200, "/r/sim/%s", sget(r, "sim_id"));
    assert_valid("sim.v1", g, what);
    json_decref(g);
    json_decref(r);
}

Test(contract, sim_results_validate_against_sim_v1)
{
    sim_valid("{\"twin_id\":\"s\",\"parameters\":{\"base_yield\":0.85},\"seed\":7}",
              "the default model's result");
    sim_valid("{\"twin_id\":\"s\",\"seed\":7,\"n_samples\":500,\"engine\":\"quantum\"}",
              "a quantum request's result");
    sim_valid("{\"twin_id\":\"s\",\"seed\":7,\"n_samples\":500,\"engine\":\"hybrid\"}",
              "a hybrid request's result");
    sim_valid("{\"twin_id\":\"s\",\"parameters\":{\"base_yield\":0.5},\"seed\":7,"
              "\"n_samples\":500}",
              "a poor-yield result");
    json_decref(bb_req(&srv, "PUT", "/twins/sm/model",
                       "{\"parameters\":{\"temperature\":{\"dist\":\"normal\",\"mean\":25,\"std\":2},"
                       "\"coolant\":{\"dist\":\"setpoint\",\"key\":\"chiller_1.setpoint\","
                       "\"default\":20}},"
                       "\"kpis\":{\"yield\":\"clip(0.85 - 0.01*(temperature-25) - "
                       "0.005*(coolant-20), 0, 1)\"},"
                       "\"objective\":{\"kpi\":\"yield\",\"goal\":\"maximize\",\"target\":0.8}}",
                       200));
    sim_valid("{\"twin_id\":\"sm\",\"seed\":3,\"n_samples\":1000,"
              "\"scenarios\":[{\"name\":\"cooler\",\"set\":{\"coolant\":18}},"
              "{\"name\":\"hotter\",\"set\":{\"coolant\":25}}]}",
              "a result with scenarios and a target");
}

Test(contract, all_nan_sim_result_validates_against_sim_v1)
{
    json_decref(bb_req(&srv, "PUT", "/twins/nan/model",
                       "{\"parameters\":{\"x\":{\"dist\":\"constant\",\"value\":-1}},"
                       "\"kpis\":{\"yield\":\"sqrt(x)\"}}",
                       200));
    sim_valid("{\"twin_id\":\"nan\",\"seed\":1,\"n_samples\":100}", "an all-NaN result");
}

Test(contract, models_with_a_description_validate_against_twin_model_v1)
{
    json_t *m = bb_req(&srv, "GET", "/twins/none/model", NULL, 200);
    assert_valid("twin_model.v1", json_object_get(m, "model"), "the default model");
    json_decref(m);
    json_decref(bb_req(&srv, "PUT", "/twins/td/model",
                       "{\"parameters\":{\"x\":{\"dist\":\"constant\",\"value\":1}},"
                       "\"kpis\":{\"k\":\"x\"},\"description\":\"a described model\"}",
                       200));
    m = bb_req(&srv, "GET", "/twins/td/model", NULL, 200);
    assert_valid("twin_model.v1", json_object_get(m, "model"), "a model with a description");
    json_decref(m);
}

Test(contract, twin_models_validate_against_twin_model_v1)
{
    json_t *m;
    json_decref(bb_req(&srv, "PUT", "/twins/tm/model",
                       "{\"parameters\":{\"temperature\":{\"dist\":\"normal\",\"mean\":25,\"std\":2},"
                       "\"pressure\":{\"dist\":\"uniform\",\"low\":0.9,\"high\":1.1},"
                       "\"load\":{\"dist\":\"telemetry\",\"asset_id\":\"press_2\",\"metric\":"
                       "\"load_pct\",\"std\":1.5},"
                       "\"coolant\":{\"dist\":\"setpoint\",\"key\":\"chiller_1.setpoint\","
                       "\"default\":20},"
                       "\"t\":{\"dist\":\"triangular\",\"left\":0,\"mode\":1,\"right\":3},"
                       "\"l\":{\"dist\":\"lognormal\",\"mean\":0,\"sigma\":0.5},"
                       "\"c\":{\"dist\":\"constant\",\"value\":4}},"
                       "\"kpis\":{\"yield\":\"clip(0.85 - 0.01*(temperature-25) + "
                       "0.02*(pressure-1) + normal(0,0.05), 0, 1)\"},"
                       "\"objective\":{\"kpi\":\"yield\",\"goal\":\"maximize\",\"target\":0.8}}",
                       200));
    m = bb_req(&srv, "GET", "/twins/tm/model", NULL, 200);
    assert_valid("twin_model.v1", json_object_get(m, "model"), "a stored model");
    json_decref(m);
}
