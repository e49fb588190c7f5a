#!/bin/bash
# bench/ab.sh - compare two opstwin binaries on ingest, alternating them, so
# that the noise of a shared machine hits both alike.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [single|batch] [pairs=3] [seconds=8]
#
# Each run starts one server (fresh data folder under a temporary folder,
# 127.0.0.1, a free port, LOG_LEVEL=warning, stopped by PID), drives it with
# wrk and bench/wrk/ingest_single.lua (64 connections) or ingest_batch.lua
# (4 connections), and prints events/s, the server's CPU time (utime +
# stime from /proc) per committed event, and the average group commit from
# /metrics, then the same CPU time by thread (us per event; threads of one
# name summed). Runs go OLD, NEW, OLD, NEW, ... Needs `make` first (the token
# is minted with ./opstwin).
set -u
[ $# -ge 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY [single|batch] [pairs] [seconds]" >&2; exit 2; }
BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/opstwin-ab.XXXXXX)
export BENCH_ROOT BENCH_TMP
# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/bench/lib.sh"
old=$1 new=$2 load=${3:-single} pairs=${4:-3} secs=${5:-8}
case "$load" in
  single) script=ingest_single.lua conns=64 ;;
  batch) script=ingest_batch.lua conns=4 ;;
  *) echo "bench/ab.sh: load is single or batch" >&2; exit 2 ;;
esac
pid=""
cleanup() { [ -n "$pid" ] && stop_pid "$pid"; rm -rf "$BENCH_TMP"; }
trap cleanup EXIT

one() { # label binary
  local port dir ticks events commits rps
  port=$(free_port)
  dir=$(mktemp -d "$BENCH_TMP/run.XXXXXX")
  serve_binary "$2" "$port" "$dir"
  pid=$SERVE_PID
  wait_http "http://127.0.0.1:$port/health" || return 1
  rps=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$BENCH_ROOT/bench/wrk/$script" \
    "http://127.0.0.1:$port/telemetry/ingest" | awk '/^Requests\/sec/ { print $2 }')
  ticks=$(cpu_ticks "/proc/$pid/stat")
  threads=$(for t in /proc/"$pid"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(cpu_ticks "$t/stat")"
  done | awk '{ a[$1] += $2 } END { for (k in a) if (a[k] > 0) print k, a[k] }' | sort)
  events=$(prom "http://127.0.0.1:$port" opstwin_store_committed_items_total)
  commits=$(prom "http://127.0.0.1:$port" opstwin_store_commits_total)
  stop_pid "$pid"
  pid=""
  awk -v l="$1" -v r="$rps" -v t="$ticks" -v e="$events" -v c="$commits" \
    -v k="$(getconf CLK_TCK)" -v b="$([ "$load" = batch ] && echo 1000 || echo 1)" 'BEGIN {
      printf "%-4s %9.0f events/s  %6.1f us CPU/event  group %.1f\n", l, r * b,
             (e > 0 ? t * 1e6 / k / e : 0), (c > 0 ? e / c : 0) }'
  # the same CPU by thread (threads of one name summed), us per event
  awk -v e="$events" -v k="$(getconf CLK_TCK)" 'e > 0 {
      printf "%s %s %.2f", (NR == 1 ? "     by thread:" : ","), $1, $2 * 1e6 / k / e }
    END { print "" }' <<<"$threads"
}

echo "bench/ab.sh: $load ingest, $pairs pairs of ${secs} s runs; old=$old new=$new"
for _ in $(seq "$pairs"); do
  one old "$old"
  one new "$new"
done
