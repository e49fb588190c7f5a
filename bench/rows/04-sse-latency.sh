# Ingest -> SSE delivery latency: 100 /subscribe streams, telemetry POSTed
# at a paced 5,000 events/s (batches of 50 every 10 ms, 8 keep-alive
# connections), latency per (event, subscriber) from the batch's scheduled
# send time to the `data:` line reaching the subscriber's socket (the
# kernel's receive timestamp; bench/sse_latency.c, 1 s warm-up not counted).
# Target: p99 <= 5 ms. Baseline: the same batches' POST acknowledgement
# latency (durable commit) in the same run. Also shown: the same deliveries
# stamped when the one-threaded tool got round to reading them.
bench_make build/bench/sse_latency || exit 1
start_opstwin sse || exit 1
secs=${BENCH_SECONDS:-10}
out=$("$BENCH_ROOT/build/bench/sse_latency" latency "${OPSTWIN_URL_sse##*:}" -s 100 -r 5000 -b 50 \
  -t "$secs" -p 8)
echo "sse_latency: $out" >>"$BENCH_TMP/tools.log"
p50=$(kv p50_ms <<<"$out"); p99=$(kv p99_ms <<<"$out"); mx=$(kv max_ms <<<"$out")
lost=$(kv lost <<<"$out"); late=$(kv late_ticks <<<"$out")
verdict=FAIL; fle "$p99" 5 && [ "$lost" = 0 ] && verdict=PASS
[ "$lost" != 0 ] && verdict="$verdict ($lost deliveries lost)"
row "SSE delivery latency, 5,000 events/s, 100 subscribers" "p99 $p99 ms" "(p50 $p50, max $mx)" \
  "POST ack (durable), same batches" "p99 $(kv ack_p99_ms <<<"$out") ms (p50 $(kv ack_p50_ms <<<"$out"); from write: p99 $(kv rtt_p99_ms <<<"$out")); deliveries as read by the tool: p99 $(kv recv_p99_ms <<<"$out") ms" \
  "p99 <= 5 ms" "$verdict; $late of $(($(kv events_sent <<<"$out") / 50)) batches sent > 1 ms late"
