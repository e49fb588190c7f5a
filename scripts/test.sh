#!/bin/bash
# test.sh - run every test suite of OpsTwin and print one closing summary.
#
# Suites: Criterion unit tests, Criterion black-box tests (they start the
# ASan build of the server themselves) run twice: on the embedded SQLite
# store (`blackbox`) and on PostgreSQL (`blackbox-pg`: OPSTWIN_TEST_BACKEND=
# postgres gives every server its own database on the test cluster), the
# deployment-file checks (tests/deploy/test_deploy.py), and short libFuzzer
# runs when clang's fuzzer runtime is present. Services the tests need (PostgreSQL, Redis,
# Mosquitto) are started by scripts/services.sh on free loopback ports in a
# temporary folder and stopped by PID on exit, even on failure.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
log_dir=$(mktemp -d /tmp/opstwin-test.XXXXXX)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OPSTWIN_BIN=${OPSTWIN_BIN:-$PWD/build/asan/opstwin}

services_pid_file=""
if [ -x scripts/services.sh ]; then
  # shellcheck disable=SC1091
  . scripts/services.sh
  services_start "$log_dir" || { echo "test.sh: could not start test services" >&2; }
  trap 'services_stop' EXIT
fi

run_criterion() { # name binary [args]
  local name=$1; shift
  echo "== $name"
  "$@" --jobs 2 2>&1 | tee "$log_dir/$name.log"
  local line
  line=$(grep -a 'Synthesis:' "$log_dir/$name.log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "test.sh: $name printed no summary (crashed?)"
    failed=$((failed + 1))
    return
  fi
  local t p f c
  t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
  p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
  f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
  c=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
  # a failed fixture (the server did not exit 0 when the suite's .fini
  # stopped it) leaves the test counted as passing: count it as failed
  local fx
  fx=$(grep -a -c '^BB-FIXTURE-FAILED ' "$log_dir/$name.log")
  if [ "$fx" -gt 0 ]; then
    echo "test.sh: $name: $fx test(s) whose server did not exit 0 (lines BB-FIXTURE-FAILED above)"
  fi
  passed=$((passed + p - fx))
  failed=$((failed + f + c + fx))
  : "$t"
}

run_criterion unit build/asan/unit_tests
run_criterion blackbox build/asan/blackbox_tests
if [ -z "${OPSTWIN_TEST_PG_URL:-}" ] && [ "${OPSTWIN_TEST_ALLOW_MISSING:-}" = 1 ]; then
  echo "== blackbox-pg: skipped (no PostgreSQL, OPSTWIN_TEST_ALLOW_MISSING=1)"
else
  run_criterion blackbox-pg env OPSTWIN_TEST_BACKEND=postgres build/asan/blackbox_tests
fi

# Deployment files (deploy/): parsed and checked against the server's options
# and ports; the script prints its own `N passed, M failed`.
echo "== deploy"
python3 tests/deploy/test_deploy.py 2>&1 | tee "$log_dir/deploy.log"
line=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$log_dir/deploy.log" | tail -n 1)
if [ -z "$line" ]; then
  echo "test.sh: deploy checks printed no summary (crashed?)"
  failed=$((failed + 1))
else
  passed=$((passed + ${line%% passed*}))
  f=${line#*, }
  failed=$((failed + ${f%% failed}))
fi

# Short fuzz runs (each target 20 s or 200k runs) when libFuzzer is usable.
if command -v clang >/dev/null 2>&1 && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
  if make --no-print-directory -s fuzz >"$log_dir/fuzz-build.log" 2>&1; then
    for src in tests/fuzz/fuzz_*.c; do
      t=$(basename "$src" .c)
      corpus="tests/fuzz/corpus/${t#fuzz_}"
      work=$(mktemp -d "$log_dir/$t.XXXX")
      mkdir -p "$work/corpus"
      # the fuzzer adds to its first corpus folder: give it a copy
      [ -d "$corpus" ] && cp -r "$corpus/." "$work/corpus/"
      args=(-max_total_time=20 -runs=200000 -rss_limit_mb=2048 "$work/corpus")
      if (cd "$work" && "$OLDPWD/build/fuzz/$t" "${args[@]}" >"$log_dir/$t.log" 2>&1); then
        echo "fuzz $t: ok ($(grep -a -o 'Done [0-9]* runs' "$log_dir/$t.log" | tail -n 1))"
        passed=$((passed + 1))
      else
        echo "fuzz $t: FAILED"; tail -n 40 "$log_dir/$t.log"
        failed=$((failed + 1))
      fi
    done
  else
    echo "fuzz: build failed"; tail -n 30 "$log_dir/fuzz-build.log"
    failed=$((failed + 1))
  fi
else
  echo "fuzz: clang not found, fuzz runs skipped"
fi

# The failures once more, just above the summary: CI keeps only the end of
# the output, and that end should say which tests failed and why.
if [ "$failed" -gt 0 ]; then
  echo "== failures"
  for log in "$log_dir"/unit.log "$log_dir"/blackbox.log "$log_dir"/blackbox-pg.log; do
    [ -f "$log" ] || continue
    grep -a -E -A3 'Assertion Failed|^\[FAIL\]|crashed|^BB-FIXTURE-FAILED' "$log" |
      grep -a -E '^\[(----|FAIL)\] *[^ ]|^BB-FIXTURE' | sed "s|^|$(basename "$log" .log): |" | head -n 60
  done
  [ -f "$log_dir/deploy.log" ] && grep -a '^FAIL ' "$log_dir/deploy.log" | sed 's|^|deploy: |'
fi
echo "logs: $log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
