# POST /telemetry/ingest, 1,000 events per request (a JSON array, wrk,
# bench/wrk/ingest_batch.lua), 4 connections, durable. Target: >= 200,000
# events/s. Baseline: GET /health of the same server in the same run, the
# floor (bench/http_floor.c, see row 02) on the same load, and the store's
# group-commit counters from /metrics.
start_opstwin ingestb || exit 1
u=$OPSTWIN_URL_ingestb
secs=${BENCH_SECONDS:-10}
read -r health _ <<<"$(wrk_run "$u/health" 64 "$secs" 2)"
c0=$(prom "$u" opstwin_store_commits_total)
i0=$(prom "$u" opstwin_store_committed_items_total)
read -r _ ok bad n <<<"$(wrk_run "$u/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
sleep 0.5
c1=$(prom "$u" opstwin_store_commits_total)
i1=$(prom "$u" opstwin_store_committed_items_total)
ev=$(awk -v r="$ok" 'BEGIN { printf "%.0f", r * 1000 }')
start_floor || exit 1
read -r _ floor _ <<<"$(wrk_run "$FLOOR_URL/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
floor=$(awk -v r="$floor" 'BEGIN { printf "%.0f", r * 1000 }')
group=$(awk -v i="$((i1 - i0))" -v c="$((c1 - c0))" 'BEGIN { printf "%.0f", (c > 0 ? i / c : 0) }')
verdict=FAIL; fge "$ev" 200000 && verdict=PASS
[ "$bad" -gt 0 ] && verdict="$verdict ($bad non-2xx of $n)"
row "POST /telemetry/ingest, 1,000 events/request, 4 conn (wrk)" "$ev" "events/s" \
  "GET /health same server" "$health req/s; floor (bench/http_floor.c): $floor events/s; $((i1 - i0)) events in $((c1 - c0)) commits (avg group $group)" \
  ">= 200,000 events/s" "$verdict ($(pct "$ev" "$floor")% of the floor)"
