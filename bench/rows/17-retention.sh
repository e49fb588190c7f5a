# Retention on the SQLite store (bench/bench_retention.c): 1,000,000 stored
# records (16 twins, 4 metrics), the oldest 10,000 expired - about a
# minute's worth at 170 records/s, what each once-a-minute round finds on
# a database that keeps its window. The figure is the longest pass (what
# the writer stops for), and a pass with nothing to drop; the baseline is
# what retention ran before sqlite_retention.h (DELETEs that read every
# row) on a copy of the same database, in the same run.
bench_make build/bench/bench_retention || exit 1
dir=$(mktemp -d "$BENCH_TMP/retention.XXXXXX")
out=$("$BENCH_ROOT/build/bench/bench_retention" "$dir" 1000000 10000)
rm -rf "$dir"
echo "retention: $out" >>"$BENCH_TMP/tools.log"
val() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$out"; }
p=$(val max_pass_ms); s=$(val steady_pass_ms); b=$(val baseline_ms); bs=$(val steady_baseline_ms)
verdict="FAIL (slower than the baseline)"
fle "$p" "$b" && fle "$s" "$bs" && verdict=PASS
row "Retention pass, 1,000,000 records, 10,000 expired" "$p" "ms" \
  "full-scan DELETEs, same database" "$b ms; nothing to drop: $s ms against $bs ms" \
  "(guard) below the baseline" "$verdict"
