#!/usr/bin/env python3
"""jsonschema_py.py - validations per second of telemetry.v1 with python3
jsonschema (Draft202012Validator built once, format checking on as in the C
benchmark), over the same instances as bench/bench_jsonschema.c.
Prints: "jsonschema_py telemetry.v1 <validations/s> <ns/validation>"."""
import json
import os
import time

from jsonschema import Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = json.load(open(os.path.join(HERE, "..", "schemas", "telemetry.v1.json")))
INSTANCES = [
    {"twin_id": "plant-1", "asset_id": "press_2", "metrics": {"temp_c": 71.5, "load_pct": 80.2,
     "vibration_mm_s": 2.1}, "tags": {"line": "A", "site": "lyon"}, "ts": "2026-01-04T12:34:56.123456Z",
     "event_id": "evt-000001"},
    {"twin_id": "plant-1", "asset_id": "chiller_1", "metrics": {"temp_c": 18.0, "power_kw": 12.5},
     "ts": "2026-01-04T12:34:57.000001Z"},
    {"twin_id": "plant-2", "asset_id": "pump-7", "metrics": {"flow_l_min": 120, "pressure_bar": 3.2,
     "rpm": 1450, "temp_c": 40.1}, "quality": {"score": 0.98}},
]


def main():
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for inst in INSTANCES:
        assert validator.is_valid(inst), inst
    n = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(100):
            validator.is_valid(INSTANCES[n % len(INSTANCES)])
            n += 1
        t = time.perf_counter() - t0
        if t >= 2.0:
            break
    print("jsonschema_py telemetry.v1 %.0f validations/s %.0f ns/validation" % (n / t, t * 1e9 / n))


if __name__ == "__main__":
    main()
