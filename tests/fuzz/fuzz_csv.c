/* fuzz_csv.c - libFuzzer target: arbitrary bytes through the CSV reader,
 * the header check, timestamp/value parsing as `opstwin detect` does it, the
 * robust and zscore detectors, the missing-data sweep and the anomaly.v1
 * builder. Invariants: no crash or sanitizer report, scores in [0, 1],
 * errors carry a line number. Seed corpus: tests/fuzz/corpus/csv/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "telemetry/csv.h"
#include "telemetry/detector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        return 0;
    ot_csv_reader *r = ot_csv_open(f, 4096, 32);
    ot_detector_config cfg[2];
    ot_detector_config_default(&cfg[0]);
    ot_detector_config_zscore(&cfg[1]);
    cfg[0].min_samples = cfg[1].min_samples = 2; /* reach the scoring paths quickly */
    ot_series_state st[2];
    ot_series_state_init(&st[0]);
    ot_series_state_init(&st[1]);
    ot_csv_record rec;
    ot_error err;
    int rc, row = 0;
    while ((rc = ot_csv_next(r, &rec, &err)) == 1) {
        (void)ot_csv_is_header(&rec);
        if (rec.nfields < 2)
            continue;
        int64_t ts;
        if (ot_ts_parse(rec.fields[0], &ts) != 0)
            ts = (int64_t)row * 1000000;
        char *end;
        double v = strtod(rec.fields[1], &end);
        for (int m = 0; m < 2; m++) {
            ot_detection d;
            double s = ot_detector_update(&cfg[m], &st[m], ts, v, &d);
            if (!(s >= 0.0 && s <= 1.0))
                abort();
            if (ot_detector_check_missing(&cfg[m], &st[m], ts + 3600000000LL, &d) && d.kind != OT_KIND_MISSING)
                abort();
            if (d.event) {
                json_t *o = ot_anomaly_to_json("t", "a", rec.fields[1][0] ? rec.fields[1] : "m",
                                               ts, v, &d, NULL, &err);
                json_decref(o);
            }
        }
        row++;
    }
    if (rc < 0 && rc == OT_EINVAL && strncmp(err.message, "line ", 5) != 0)
        abort();
    ot_csv_close(r);
    fclose(f);
    return 0;
}
