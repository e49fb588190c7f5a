# JSON Schema validations/s of typical telemetry.v1 instances, one core
# (bench/bench_jsonschema.c) vs Python jsonschema on the same instances
# (bench/jsonschema_py.py, Debian's /usr/bin/python3). Target: >= 100x.
bench_make build/bench/bench_jsonschema || exit 1
c=$("$BENCH_ROOT/build/bench/bench_jsonschema" | awk '{ print $3 }')
py=$(/usr/bin/python3 "$BENCH_ROOT/bench/jsonschema_py.py" | awk '{ print $3 }')
x=$(awk -v a="$c" -v b="$py" 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }')
verdict=FAIL; fge "$x" 100 && verdict=PASS
row "JSON Schema validation, telemetry.v1, 1 core" "$c" "validations/s" "Python jsonschema" "$py validations/s" \
  ">= 100x" "$verdict (${x}x)"
