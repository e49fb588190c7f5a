#!/bin/bash
# bench/instr.sh - user-space instructions per ingested event, counted by
# valgrind's callgrind: unlike events/s or CPU time on this shared machine,
# the count repeats to within 0.1% between runs of one build, so it shows
# changes of a few percent that wall-clock A/B runs cannot.
#
#   bench/instr.sh BINARY batch [requests=20]   1,000-event requests, 4 clients (curl)
#   bench/instr.sh BINARY single [seconds=15]   bench/wrk/ingest_single.lua, 64 connections
#   VG_ENV="env LD_PRELOAD=..." bench/instr.sh ...   run valgrind under a prefix
#
# The server (fresh data folder under a temporary folder, 127.0.0.1, a free
# port) runs under callgrind; after one warm-up request the counters are
# zeroed, the load runs, and the counters are dumped. The printed figure is
# the whole process's instructions (every thread, every library, the
# kernel's excluded) divided by the events committed. Under valgrind the
# server is ~50x slower, so single-event groups are larger than in real
# runs: compare builds with each other, not with bench/run.sh's figures.
# INSTR_KEEP=FILE keeps the dump there, for callgrind_annotate.
set -u
[ $# -ge 2 ] || { echo "usage: bench/instr.sh BINARY batch|single [n]" >&2; exit 2; }
BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/opstwin-instr.XXXXXX)
export BENCH_ROOT BENCH_TMP
# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/bench/lib.sh"
bin=$1 load=$2
command -v valgrind >/dev/null || { echo "bench/instr.sh: needs valgrind (scripts/deps.sh --bench)" >&2; exit 2; }
pid=""
cleanup() { [ -n "$pid" ] && stop_pid "$pid"; rm -rf "$BENCH_TMP"; }
trap cleanup EXIT

port=$(free_port)
url=http://127.0.0.1:$port
secret=instr-secret
token=$(JWT_SECRET_KEY=$secret "$BENCH_ROOT/opstwin" token --sub bench --role admin --ttl 1d)
LOG_LEVEL=warning JWT_SECRET_KEY=$secret ${VG_ENV:-} valgrind --tool=callgrind \
  --callgrind-out-file="$BENCH_TMP/cg.out" "$bin" serve --port "$port" \
  --data-dir "$BENCH_TMP/data" >"$BENCH_TMP/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -sf "$url/health" >/dev/null && break; sleep 0.2; done
curl -sf "$url/health" >/dev/null || { echo "bench/instr.sh: server did not start" >&2; cat "$BENCH_TMP/server.log" >&2; exit 1; }

# the body of bench/wrk/ingest_batch.lua
awk 'BEGIN { printf "["; for (i = 1; i <= 1000; i++) printf "%s{\"twin_id\":\"batch%d\",\"asset_id\":\"a%d\",\"metrics\":{\"temp_c\":%.2f,\"load_pct\":%d}}", (i > 1 ? "," : ""), i % 16, i % 4, 20 + (i % 100) / 10, i % 100; printf "]" }' >"$BENCH_TMP/batch.json"
post_batch() {
  curl -s -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary @"$BENCH_TMP/batch.json" "$url/telemetry/ingest"
}
committed() { curl -s "$url/metrics" | awk '/^opstwin_store_committed_items_total/ { print $2 }'; }

post_batch # warm-up: schemas, statements, first pages
sleep 1
callgrind_control -z "$pid" >/dev/null 2>&1
n0=$(committed)
case "$load" in
  batch)
    export -f post_batch; export token url BENCH_TMP
    seq "${3:-20}" | xargs -P4 -I{} bash -c post_batch ;;
  single)
    OPSTWIN_TOKEN=$token wrk -t2 -c64 -d"${3:-15}s" -s "$BENCH_ROOT/bench/wrk/ingest_single.lua" \
      "$url/telemetry/ingest" >/dev/null ;;
  *) echo "bench/instr.sh: load is batch or single" >&2; exit 2 ;;
esac
sleep 1
n1=$(committed)
callgrind_control -d "$pid" >/dev/null 2>&1
sleep 1
dump=$(ls -t "$BENCH_TMP"/cg.out.* 2>/dev/null | head -1)
[ -n "$dump" ] || { echo "bench/instr.sh: no callgrind dump" >&2; exit 1; }
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
events=$((n1 - n0))
echo "$load: $events events, $((total / events)) instructions per event ($bin)"
[ -n "${INSTR_KEEP:-}" ] && cp "$dump" "$INSTR_KEEP"
exit 0
