#!/bin/bash
# bench/run.sh - `make bench`: run every row script in bench/rows/ in order
# and print one markdown table. Rows compare OpsTwin with a baseline run on
# the same machine in the same run, since absolute timings here are noisy.
#
#   BENCH_SECONDS=10  duration of each load run
#   BENCH_ONLY=01     run only rows whose file name contains this
#   BENCH_KEEP=1      keep the temporary folder (server logs, wrk output)
set -u
BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/opstwin-bench.XXXXXX)
export BENCH_ROOT BENCH_TMP
# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/bench/lib.sh"
cleanup() {
  stop_all
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $BENCH_TMP" >&2; else rm -rf "$BENCH_TMP"; fi
}
trap cleanup EXIT

echo "OpsTwin benchmarks - $(date -u +%Y-%m-%dT%H:%M:%SZ) - $(nproc) cores - opstwin $("$BENCH_ROOT/opstwin" version | cut -d' ' -f2)"
echo
echo "| benchmark | OpsTwin | baseline (same run) | target | result |"
echo "| --- | --- | --- | --- | --- |"
for r in "$BENCH_ROOT"/bench/rows/*.sh; do
  case "$(basename "$r")" in *"${BENCH_ONLY:-}"*) ;; *) continue ;; esac
  # Each row runs in a subshell, so the servers it starts are in the
  # subshell's BENCH_PIDS: stop them when the row ends, however it ends.
  # shellcheck disable=SC1090
  (
    trap 'stop_all' EXIT
    trap 'exit 130' INT TERM
    . "$r"
  ) || echo "| $(basename "$r" .sh) | failed | | | FAIL |"
done
