#!/usr/bin/env python3
"""sim_numpy.py - the default yield/quality model and its statistics in
vectorised NumPy, timed like bench/bench_sim.c (best and median of 7 runs
after a warm-up), as the baseline for the C engine.

Same model as OT_SIM_DEFAULT_MODEL_JSON in src/sim/model.c:
  temperature ~ normal(25, 2), pressure ~ uniform(0.9, 1.1)
  yield   = clip(0.85 - 0.01*(temperature-25) + 0.02*(pressure-1) + normal(0, 0.05), 0, 1)
  quality = clip(0.95 - 0.005*|temperature-25| - 0.1*|pressure-1| + normal(0, 0.02), 0, 1)
Same statistics per KPI: mean, std (ddof=0), percentiles 5, 25, 50, 75, 95, 99
(linear interpolation, NumPy's default). Single-threaded, as NumPy is.

Usage: python3 bench/sim_numpy.py [n_samples] [runs]
"""
import sys
import time

import numpy as np


def run(rng, n):
    t0 = time.perf_counter()
    base_yield, base_quality = 0.85, 0.95
    temperature = rng.normal(25.0, 2.0, n)
    pressure = rng.uniform(0.9, 1.1, n)
    kpis = {
        "yield": np.clip(base_yield - 0.01 * (temperature - 25) + 0.02 * (pressure - 1)
                         + rng.normal(0.0, 0.05, n), 0, 1),
        "quality": np.clip(base_quality - 0.005 * np.abs(temperature - 25)
                           - 0.1 * np.abs(pressure - 1) + rng.normal(0.0, 0.02, n), 0, 1),
    }
    stats = {}
    for name, x in kpis.items():
        q = np.percentile(x, [5, 25, 50, 75, 95, 99])
        stats[name] = (x.mean(), x.std(), q)
    return (time.perf_counter() - t0) * 1e3, stats


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    rng = np.random.default_rng(42)
    run(rng, n)  # warm-up
    times = []
    for _ in range(runs):
        ms, stats = run(rng, n)
        times.append(ms)
    times.sort()
    print(f"NumPy {np.__version__}, default model, {n} samples, {runs} runs")
    for name, (mean, std, q) in stats.items():
        print(f"  {name:<8} mean {mean:.5f} std {std:.5f} p5 {q[0]:.5f} p50 {q[2]:.5f} p99 {q[5]:.5f}")
    print(f"  1 thread : best {times[0]:8.2f} ms  median {times[len(times) // 2]:8.2f} ms")


if __name__ == "__main__":
    main()
