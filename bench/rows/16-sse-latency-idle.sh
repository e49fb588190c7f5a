# Ingest -> SSE delivery latency as in row 04 (100 subscribers, 5,000
# events/s in batches of 50) while 8,000 more streams sit idle, filtered on
# twins the load never writes (bench/sse_latency.c idle -f). The idle streams
# cost their heartbeats: each is visited once per 5 s tick interval (peeked
# and woken), and those visits are spread over the interval (api/stream.h).
# No issue target: a guard. Before the visits were spread, every 5 s all
# 8,000 streams were woken at once and p99 was 0.4-0.7 s. Baseline: the same
# run without the idle streams.
bench_make build/bench/sse_latency || exit 1
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_opstwin sseidle --max-sse-connections 20000 --max-connections 30000 || exit 1
port=${OPSTWIN_URL_sseidle##*:}
secs=${BENCH_SECONDS:-10}
base=$("$BENCH_ROOT/build/bench/sse_latency" latency "$port" -s 100 -r 5000 -b 50 -t "$secs" -p 8)
"$BENCH_ROOT/build/bench/sse_latency" idle "$port" -s 8000 -f -t $((secs + 12)) \
  >"$BENCH_TMP/sseidle.out" 2>&1 &
idle=$!
sleep 6
out=$("$BENCH_ROOT/build/bench/sse_latency" latency "$port" -s 100 -r 5000 -b 50 -t "$secs" -p 8)
wait "$idle"
echo "sse_latency_idle: base $base / with idle streams $out / idle $(cat "$BENCH_TMP/sseidle.out")" \
  >>"$BENCH_TMP/tools.log"
row "SSE delivery latency with 8,000 idle subscribers (as row 04)" "p99 $(kv p99_ms <<<"$out") ms" \
  "(p50 $(kv p50_ms <<<"$out"), max $(kv max_ms <<<"$out"); POST ack p99 $(kv ack_p99_ms <<<"$out"); $(kv connected <"$BENCH_TMP/sseidle.out") idle streams, $(kv on_time <"$BENCH_TMP/sseidle.out") with heartbeats on time)" \
  "same run, no idle streams" "p99 $(kv p99_ms <<<"$base") ms (p50 $(kv p50_ms <<<"$base"))" \
  "(guard, no target)" "$(kv lost <<<"$out") deliveries lost"
