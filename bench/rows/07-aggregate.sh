# GET /telemetry/aggregate, 1-minute averages over 1,000,000 points of one
# series (ts 1 s apart, 16,667 buckets), loaded first as 1,000 batches of
# 1,000 over 4 connections; median of 7 timed requests after a warm-up.
# Target: <= 200 ms. Baseline: the sqlite3 CLI reading the same per-minute
# rollups straight from the same database file (read-only; raw points are
# stored as blocks, which SQL cannot open), median of 7 after a warm-up.
bench_make build/bench/sse_latency || exit 1
start_opstwin agg || exit 1
port=${OPSTWIN_URL_agg##*:}
tool=$BENCH_ROOT/build/bench/sse_latency
load=$("$tool" load "$port" -n 1000000 -b 1000 -c 4 -T agg -m temp_c) || exit 1
echo "agg load: $load" >>"$BENCH_TMP/tools.log"
out=$("$tool" get "$port" -n 7 -W 1 '/telemetry/aggregate?twin_id=agg&metric_name=temp_c&window=1%20minute') || exit 1
echo "agg get: $out" >>"$BENCH_TMP/tools.log"
q="SELECT minute * 60000000, sum / count, count FROM rollup_1m
   WHERE series_id = (SELECT series_id FROM series WHERE twin_id = 'agg' AND metric = 'temp_c')
   ORDER BY minute;"
sq=$( { echo .timer on; echo .output /dev/null; for _ in 1 2 3 4 5 6 7 8; do echo "$q"; done; } |
  sqlite3 -readonly "$OPSTWIN_DIR_agg/data/opstwin.db" |
  awk '/^Run Time:/ { if (++n > 1) print $4 * 1000 }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
med=$(kv p50_ms <<<"$out")
verdict=FAIL; fle "$med" 200 && verdict=PASS
row "GET /telemetry/aggregate 1-min avg over 1,000,000 points" "median $med ms" "(load $(kv events_per_s <<<"$load") events/s)" \
  "sqlite3 CLI, same rollups" "median $sq ms" "<= 200 ms" "$verdict (sqlite3 CLI takes $(awk -v a="$sq" -v b="$med" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')x as long)"
