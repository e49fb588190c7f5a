#!/bin/bash
# bench/cpusplit.sh - where the machine's CPU goes under row 02's load:
# the server's, the load generator's (wrk), and what stays idle or waits
# for the disk. On this 2-core machine the two share the cores, so what a
# request costs in all (server + wrk) bounds the rate.
#
#   bench/cpusplit.sh [BINARY|floor] [seconds=8] [runs=1]
#
# BINARY (default ./opstwin) is served from a fresh data folder, `floor` is
# bench/http_floor.c; either on 127.0.0.1, a free port, in a temporary
# folder, stopped by PID. Each run drives it with wrk and
# bench/wrk/ingest_single.lua (64 connections) and prints requests/s, the
# server's CPU (utime + stime from /proc) and wrk's (from time) per request,
# the machine's idle and I/O-wait shares (/proc/stat), and what the server
# wrote to disk per request (/proc/PID/io write_bytes).
set -u
BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/opstwin-cpusplit.XXXXXX)
export BENCH_ROOT BENCH_TMP
# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/bench/lib.sh"
bin=${1:-$BENCH_ROOT/opstwin} secs=${2:-8} runs=${3:-1}
pid=""
cleanup() { [ -n "$pid" ] && stop_pid "$pid"; rm -rf "$BENCH_TMP"; }
trap cleanup EXIT
[ "$bin" = floor ] && { bench_make build/bench/http_floor || exit 1; }

cpu_line() { head -1 /proc/stat; } # cpu user nice system idle iowait irq softirq steal
written() { awk '/^write_bytes/ { print $2 }' "/proc/$1/io"; }

for _ in $(seq "$runs"); do
  port=$(free_port)
  dir=$(mktemp -d "$BENCH_TMP/run.XXXXXX")
  if [ "$bin" = floor ]; then
    "$BENCH_ROOT/build/bench/http_floor" "$port" "$dir" >"$dir/floor.out" 2>&1 &
    pid=$!
  else
    serve_binary "$bin" "$port" "$dir"
    pid=$SERVE_PID
  fi
  wait_http "http://127.0.0.1:$port/health" || exit 1
  s0=$(cpu_line) t0=$(cpu_ticks "/proc/$pid/stat") w0=$(written "$pid")
  out=$({ /usr/bin/time -f "wrk-cpu %U %S" wrk -t2 -c64 -d"${secs}s" \
    -s "$BENCH_ROOT/bench/wrk/ingest_single.lua" "http://127.0.0.1:$port/telemetry/ingest"; } 2>&1)
  s1=$(cpu_line) t1=$(cpu_ticks "/proc/$pid/stat") w1=$(written "$pid")
  stop_pid "$pid"
  pid=""
  awk -v s0="$s0" -v s1="$s1" -v t="$((t1 - t0))" -v w="$((w1 - w0))" \
    -v k="$(getconf CLK_TCK)" -v what="$(basename "$bin")" '
    /^Requests\/sec/ { rps = $2 }
    / requests in / { n = $1 }
    /^wrk-cpu/ { wu = $2; ws = $3 }
    END {
      split(s0, a); split(s1, b)
      for (i = 2; i <= 9; i++) all += b[i] - a[i]
      printf "%-8s %8.0f req/s  server %5.1f us/req  wrk %5.1f us/req  idle %2.0f%%  iowait %2.0f%%  disk %.1f KB/req\n",
        what, rps, t * 1e6 / k / n, (wu + ws) * 1e6 / n, (b[5] - a[5]) * 100 / all,
        (b[6] - a[6]) * 100 / all, w / n / 1024
    }' <<<"$out"
done
