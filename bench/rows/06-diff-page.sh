# GET /diff?limit=5000 after 50,000 ingested events, from 10 cursors
# spread over the log (each page holds 5,000 events), 50 requests over one
# keep-alive connection (bench/sse_latency.c get). Target: p50 <= 10 ms.
# Baseline: GET /health measured the same way on the same server.
bench_make build/bench/sse_latency || exit 1
start_opstwin diff --max-diff-page-size 5000 || exit 1
port=${OPSTWIN_URL_diff##*:}
tool=$BENCH_ROOT/build/bench/sse_latency
load=$("$tool" load "$port" -n 50000 -b 1000 -c 4 -T diffbench) || exit 1
echo "diff load: $load" >>"$BENCH_TMP/tools.log"
paths=()
for k in 0 5 10 15 20 25 30 35 40 45; do
  paths+=("/diff?limit=5000&since=cursor_$(printf '%06d' $((k * 1000)))")
done
n=$(curl -s -H "$AUTH_HEADER" "$OPSTWIN_URL_diff${paths[9]}" | grep -o '"count":[0-9]*')
out=$("$tool" get "$port" -n 50 -W 1 "${paths[@]}") || exit 1
hl=$("$tool" get "$port" -n 50 -W 1 /health) || exit 1
echo "diff get: $out ($n)" >>"$BENCH_TMP/tools.log"
p50=$(kv p50_ms <<<"$out")
verdict=FAIL; fle "$p50" 10 && verdict=PASS
row "GET /diff page of 5,000 events (of 50,000)" "p50 $p50 ms" "(p99 $(kv p99_ms <<<"$out"), $(kv avg_bytes <<<"$out") bytes, $n)" \
  "GET /health same way" "p50 $(kv p50_ms <<<"$hl") ms" "p50 <= 10 ms" "$verdict"
