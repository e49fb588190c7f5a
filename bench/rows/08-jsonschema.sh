# JSON Schema validations/s of typical telemetry.v1 instances, one core
# (bench/bench_jsonschema.c) vs Python jsonschema on the same instances
# (bench/jsonschema_py.py, Debian's /usr/bin/python3). Target: >= 100x.
# The two run alternately, three rounds of about 2 s each: this machine
# switches between two speeds, and C and Python measured in different ones
# gave ratios from 78x to 143x for one build. The verdict is on the median of
# the three rounds' ratios.
bench_make build/bench/bench_jsonschema || exit 1
ratios=() cs=() pys=()
for _ in 1 2 3; do
  c=$("$BENCH_ROOT/build/bench/bench_jsonschema" | awk '{ print $3 }')
  py=$(/usr/bin/python3 "$BENCH_ROOT/bench/jsonschema_py.py" | awk '{ print $3 }')
  cs+=("$c") pys+=("$py")
  ratios+=("$(awk -v a="$c" -v b="$py" 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }')")
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
x=$(med "${ratios[@]}")
verdict=FAIL; fge "$x" 100 && verdict=PASS
row "JSON Schema validation, telemetry.v1, 1 core" "$(med "${cs[@]}")" "validations/s (median of 3)" \
  "Python jsonschema, alternating" "$(med "${pys[@]}") validations/s" \
  ">= 100x" "$verdict (${x}x, median of rounds: ${ratios[*]})"
