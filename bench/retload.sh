#!/bin/bash
# bench/retload.sh - single-event ingest while retention drains: how long
# requests wait while the writer deletes expired records.
#
#   bench/retload.sh OLD_BINARY NEW_BINARY [pairs=2] [seconds=8] [records=1000000] [expired=300000]
#
# Writes one database of RECORDS records through the store
# (build/bench/bench_retention with PASS_MAX 0), the oldest EXPIRED of them
# ten days old. Each run copies it into a fresh data folder (under a
# temporary folder), drops the page cache (root only; skipped otherwise),
# starts the build on 127.0.0.1 with RETENTION_DAYS=1, drives it with wrk
# (bench/wrk/ingest_single.lua, 64 connections, --latency), stops it by PID
# and counts the expired records left. Prints events/s, p50, p99 and max
# latency, and that count. Runs go OLD, NEW, OLD, NEW, ...
# RETLOAD_LOGS=PREFIX keeps each run's server log as PREFIX.N (N = 1, 2, ...).
set -u
[ $# -ge 2 ] || { echo "usage: bench/retload.sh OLD NEW [pairs] [seconds] [records] [expired]" >&2; exit 2; }
BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/opstwin-retload.XXXXXX)
export BENCH_ROOT BENCH_TMP
# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/bench/lib.sh"
old=$1 new=$2 pairs=${3:-2} secs=${4:-8} records=${5:-1000000} expired=${6:-300000}
pid=""
cleanup() { [ -n "$pid" ] && stop_pid "$pid"; rm -rf "$BENCH_TMP"; }
trap cleanup EXIT

make -C "$BENCH_ROOT" -s build/bench/bench_retention || exit 1
mkdir -p "$BENCH_TMP/seed"
"$BENCH_ROOT/build/bench/bench_retention" "$BENCH_TMP/seed" "$records" "$expired" 0 || exit 1
echo "bench/retload.sh: $records records, $expired expired; $pairs pairs of $secs s runs"

run() { # binary
  local dir=$BENCH_TMP/run port out cutoff left
  rm -rf "$dir"
  mkdir -p "$dir/data"
  cp "$BENCH_TMP/seed/opstwin.db" "$dir/data/"
  sync
  [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches
  port=$(free_port)
  LOG_LEVEL=warning RETENTION_DAYS=1 JWT_SECRET_KEY=$BENCH_SECRET "$1" serve --port "$port" \
    --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$port/health" 60 || return 1
  out=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$BENCH_ROOT/bench/wrk/ingest_single.lua" \
    "http://127.0.0.1:$port")
  stop_pid "$pid"
  pid=""
  runs=$((runs + 1))
  [ -n "${RETLOAD_LOGS:-}" ] && cp "$dir/server.log" "$RETLOAD_LOGS.$runs"
  cutoff=$(( ($(date +%s) - 86400) * 1000000 ))
  left=$(sqlite3 "$dir/data/opstwin.db" "SELECT count(*) FROM telemetry WHERE ts < $cutoff")
  awk -v b="$(basename "$1")" -v left="$left" '
    /Requests\/sec/ { rps = $2 }
    /^ +Latency +[0-9]/ { max = $4 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%-12s %8.0f events/s  p50 %-8s p99 %-8s max %-8s expired left %s\n",
          b, rps, p50, p99, max, left }' <<<"$out"
}

runs=0
for _ in $(seq "$pairs"); do
  run "$old"
  run "$new"
done
