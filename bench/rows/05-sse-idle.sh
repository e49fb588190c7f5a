# 10,000 idle /subscribe streams held for 25 s: server RSS (VmRSS) while
# they are open, and every stream got `connected` and a heartbeat, with no
# gap between events above 15 s (bench/sse_latency.c idle). Target: RSS <=
# 150 MB. Baseline: the same server's RSS idle, before the streams opened.
bench_make build/bench/sse_latency || exit 1
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 10100 ]; then
  row "10,000 idle SSE subscribers" "skipped:" "ulimit -n is $(ulimit -n)" "" "" "RSS <= 150 MB" "SKIP"
  exit 0
fi
start_opstwin idle --max-sse-connections 20000 --max-connections 30000 || exit 1
sleep 1
base=$(rss_mb "$OPSTWIN_PID_idle")
out=$("$BENCH_ROOT/build/bench/sse_latency" idle "${OPSTWIN_URL_idle##*:}" -s 10000 -t 25 \
  -P "$OPSTWIN_PID_idle")
echo "sse_idle: $out" >>"$BENCH_TMP/tools.log"
rss=$(awk -v k="$(kv rss_kb <<<"$out")" 'BEGIN { printf "%.1f", k / 1024 }')
ontime=$(kv on_time <<<"$out")
verdict=FAIL; fle "$rss" 150 && [ "$ontime" = 10000 ] && verdict=PASS
row "10,000 idle SSE subscribers, 25 s" "RSS $rss" "MiB" "same server idle before" "RSS $base MiB" \
  "RSS <= 150 MB, heartbeats <= 15 s apart" \
  "$verdict ($ontime/10000 on time, max gap $(kv max_gap_s <<<"$out") s, $(kv closed <<<"$out") closed)"
