#!/bin/bash
# bench/run.sh - `make bench`: run every row script in bench/rows/ in order
# and print one markdown table. Rows compare OpsTwin with a baseline run on
# the same machine in the same run, since absolute timings here are noisy.
#
#   BENCH_SECONDS=10  duration of each load run
#   BENCH_ONLY=01     run only rows whose file name contains this
set -u
BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/opstwin-bench.XXXXXX)
export BENCH_ROOT BENCH_TMP
# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/bench/lib.sh"
cleanup() { for p in "${BENCH_PIDS[@]}"; do stop_pid "$p"; done; rm -rf "$BENCH_TMP"; }
trap cleanup EXIT

echo "OpsTwin benchmarks - $(date -u +%Y-%m-%dT%H:%M:%SZ) - $(nproc) cores - opstwin $("$BENCH_ROOT/opstwin" version | cut -d' ' -f2)"
echo
echo "| benchmark | OpsTwin | baseline (same run) | target | result |"
echo "| --- | --- | --- | --- | --- |"
for r in "$BENCH_ROOT"/bench/rows/*.sh; do
  case "$(basename "$r")" in *"${BENCH_ONLY:-}"*) ;; *) continue ;; esac
  # shellcheck disable=SC1090
  ( . "$r" ) || echo "| $(basename "$r" .sh) | failed | | | FAIL |"
done
