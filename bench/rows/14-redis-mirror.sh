# POST /telemetry/ingest, 1,000 events per request (wrk, bench/wrk/ingest_batch.lua),
# 4 connections, with REDIS_URL set (every committed event mirrored to a Redis
# stream by pipelined XADDs in MULTI/EXEC batches), against the same load on a server without Redis
# in the same run. Also: how long the mirror needs after the load to have the
# whole log in the stream (lag 0), its XADD rate, and that the stream's last ID
# is the log's last cursor. Target (ours; the issue sets none): >= 80% of the
# no-Redis rate, stream complete.
command -v redis-server >/dev/null || { echo "| 14-redis-mirror | redis-server not installed | | | FAIL |"; exit 0; }
rport=$(free_port)
rdir="$BENCH_TMP/redis"
mkdir -p "$rdir"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$rdir" --save "" --appendonly no \
  --logfile "$rdir/redis.log" --daemonize no &
BENCH_PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
secs=${BENCH_SECONDS:-10}

# The machine is shared: a first no-Redis run, the mirror run, a second
# no-Redis run; the baseline is the better of the two around it.
plain_run() {
  start_opstwin "plain$1" || exit 1
  eval "local url=\$OPSTWIN_URL_plain$1 pid=\$OPSTWIN_PID_plain$1"
  read -r _ r _ _ <<<"$(wrk_run "$url/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
  stop_pid "$pid"
  echo "$r"
}
ok_plain1=$(plain_run 1)

start_opstwin mirror --redis-url "redis://127.0.0.1:$rport" --redis-stream-maxlen 10000000 || exit 1
u=$OPSTWIN_URL_mirror
read -r _ ok bad n <<<"$(wrk_run "$u/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
t0=$(date +%s.%N)
lag_end=$(prom "$u" opstwin_redis_mirror_lag)
while [ "$(prom "$u" opstwin_redis_mirror_lag)" != "0" ]; do
  awk -v t0="$t0" -v t="$(date +%s.%N)" 'BEGIN { exit !(t - t0 > 120) }' && break
  sleep 0.05
done
drain=$(awk -v t0="$t0" -v t="$(date +%s.%N)" 'BEGIN { printf "%.2f", t - t0 }')
xadd=$(prom "$u" opstwin_redis_xadd_total)
last=$(curl -s "$u/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["components"]["store"]["last_cursor"])')
top=$(redis-cli -p "$rport" --raw xrevrange opstwin:events + - COUNT 1 | head -1)
xlen=$(redis-cli -p "$rport" xlen opstwin:events)
stop_pid "$OPSTWIN_PID_mirror"
ok_plain2=$(plain_run 2)
ev_plain=$(awk -v a="$ok_plain1" -v b="$ok_plain2" 'BEGIN { printf "%.0f", (a > b ? a : b) * 1000 }')
ev=$(awk -v r="$ok" 'BEGIN { printf "%.0f", r * 1000 }')
xrate=$(awk -v x="$xadd" -v s="$secs" -v d="$drain" 'BEGIN { printf "%.0f", x / (s + d) }')
p=$(pct "$ev" "$ev_plain")
verdict=FAIL
fge "$p" 80 && [ "$top" = "$last-0" ] && verdict=PASS
[ "$top" = "$last-0" ] || verdict="$verdict (stream ends at $top, log at $last)"
[ "$bad" -gt 0 ] && verdict="$verdict ($bad non-2xx of $n)"
row "POST /telemetry/ingest 1,000 events/request, 4 conn, with the Redis stream mirror" "$ev" \
  "events/s ($p%)" "same load without REDIS_URL" "$ev_plain events/s (better of the runs before and after); mirror lag $lag_end at the end, 0 after $drain s; $xadd XADDs ($xrate/s), XLEN $xlen" \
  ">= 80% of no Redis, stream complete" "$verdict"
