# POST /telemetry/ingest, one event per request, 64 connections (wrk,
# bench/wrk/ingest_single.lua), durable (the 200 is sent after the group
# commit). Target: >= 30,000 events/s. Baseline: GET /health of the same
# server in the same run (the HTTP ceiling), and the floor under any durable
# ingest with the design's HTTP library: bench/http_floor.c on the same load
# (libmicrohttpd with OpsTwin's flags, suspend/resume, one fdatasync per
# group, no other work). The store's group-commit counters from /metrics give
# the average events per durable commit.
start_opstwin ingest1 || exit 1
u=$OPSTWIN_URL_ingest1
secs=${BENCH_SECONDS:-10}
read -r health _ <<<"$(wrk_run "$u/health" 64 "$secs" 2)"
c0=$(prom "$u" opstwin_store_commits_total)
i0=$(prom "$u" opstwin_store_committed_items_total)
read -r _ ok bad n <<<"$(wrk_run "$u/telemetry/ingest" 64 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_single.lua")"
ok=${ok%.*}
sleep 0.5
c1=$(prom "$u" opstwin_store_commits_total)
i1=$(prom "$u" opstwin_store_committed_items_total)
start_floor || exit 1
read -r _ floor _ <<<"$(wrk_run "$FLOOR_URL/telemetry/ingest" 64 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_single.lua")"
floor=${floor%.*}
group=$(awk -v i="$((i1 - i0))" -v c="$((c1 - c0))" 'BEGIN { printf "%.1f", (c > 0 ? i / c : 0) }')
verdict=FAIL; fge "$ok" 30000 && verdict=PASS
[ "$bad" -gt 0 ] && verdict="$verdict ($bad non-2xx of $n)"
row "POST /telemetry/ingest, 1 event/request, 64 conn (wrk)" "$ok" "events/s" \
  "GET /health same server" "$health req/s; floor (bench/http_floor.c): $floor req/s; $((i1 - i0)) events in $((c1 - c0)) commits (avg group $group)" \
  ">= 30,000 events/s" "$verdict ($(pct "$ok" "$health")% of /health, $(pct "$ok" "$floor")% of the floor)"
