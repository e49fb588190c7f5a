/* bench_detector.c - nanoseconds per metric point of the streaming anomaly
 * detector on one core: 10,000 series (one ot_series_state each, as an
 * ingest shard holds them), 10 million points fed round-robin, with the
 * default (robust) config and the prototype's zscore for comparison.
 * Standalone; build after `make` from the repository root:
 *
 *   gcc -O2 -std=c17 -D_GNU_SOURCE -Isrc -o build/bench_detector \
 *       bench/bench_detector.c build/rel/libopstwin.a -ljansson -lm -pthread
 *   build/bench_detector [points] [series]
 *
 * Target: <= 150 ns/point. Prints one line per method.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "telemetry/detector.h"

/* xorshift noise: cheap enough not to dominate what is measured */
static inline double noise(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0 - 0.5;
}

static void run(const char *name, const ot_detector_config *cfg, long points, int series)
{
    ot_series_state *st = calloc((size_t)series, sizeof *st);
    if (!st) {
        perror("calloc");
        exit(1);
    }
    uint64_t rng = 88172645463325252ULL;
    double sink = 0;
    long events = 0;
    int64_t t0 = ot_mono_ns();
    for (long i = 0; i < points; i++) {
        int k = (int)(i % series);
        int64_t ts = 1700000000000000LL + (i / series) * 1000000LL;
        double v = 50.0 + 5.0 * noise(&rng) + (i % 100003 == 0 ? 80.0 : 0.0);
        ot_detection d;
        sink += ot_detector_update(cfg, &st[k], ts, v, &d);
        events += d.event;
    }
    int64_t ns = ot_mono_ns() - t0;
    printf("%-7s %ld points, %d series: %.1f ns/point (%.1f M points/s), %ld events, "
           "state %zu bytes/series (checksum %.3f)\n",
           name, points, series, (double)ns / (double)points, (double)points * 1e3 / (double)ns,
           events, sizeof *st, sink);
    free(st);
}

int main(int argc, char **argv)
{
    long points = argc > 1 ? atol(argv[1]) : 10000000L;
    int series = argc > 2 ? atoi(argv[2]) : 10000;
    if (points <= 0 || series <= 0) {
        fprintf(stderr, "usage: bench_detector [points] [series]\n");
        return 2;
    }
    ot_detector_config cfg;
    ot_detector_config_default(&cfg);
    run("robust", &cfg, points, series);
    ot_detector_config_zscore(&cfg);
    run("zscore", &cfg, points, series);
    return 0;
}
