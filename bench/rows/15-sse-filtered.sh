# Batch ingest (1,000 events/request, 4 connections, wrk) while 8,000 idle
# SSE subscribers are open, each filtered on a twin the load never writes
# (bench/sse_latency.c idle -f). A commit should cost nothing for streams
# that cannot want it. Baseline: the same load on the same server before the
# subscribers opened. No issue target: a guard for the SSE wake-up index
# (before it, 8,000 such subscribers cost 35-60% of the throughput).
bench_make build/bench/sse_latency || exit 1
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_opstwin filt --max-sse-connections 20000 --max-connections 30000 || exit 1
u=$OPSTWIN_URL_filt
secs=${BENCH_SECONDS:-10}
read -r _ base _ <<<"$(wrk_run "$u/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
"$BENCH_ROOT/build/bench/sse_latency" idle "${u##*:}" -s 8000 -f -t $((secs + 8)) \
  >"$BENCH_TMP/filtered.out" 2>&1 &
subs=$!
sleep 5
open=$(prom "$u" opstwin_http_requests_in_flight)
read -r _ ok _ <<<"$(wrk_run "$u/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
wait "$subs"
echo "sse_filtered: $(cat "$BENCH_TMP/filtered.out")" >>"$BENCH_TMP/tools.log"
ev=$(awk -v r="$ok" 'BEGIN { printf "%.0f", r * 1000 }')
bev=$(awk -v r="$base" 'BEGIN { printf "%.0f", r * 1000 }')
connected=$(kv connected <"$BENCH_TMP/filtered.out")
row "Batch ingest with 8,000 idle SSE subscribers filtered on other twins" "$ev" "events/s" \
  "same load, no subscribers" "$bev events/s; $connected streams connected, $open requests in flight" \
  "(guard, no target)" "$(pct "$ev" "$bev")% of no subscribers"
