# Streaming anomaly detector, ns per metric point on one core: 10,000
# series, 10 M points, default (robust) config (bench/bench_detector.c).
# Target: <= 150 ns/point. Baseline: the seed prototype's zscore method,
# measured by the same program in the same run.
bench_make build/bench/bench_detector || exit 1
out=$("$BENCH_ROOT/build/bench/bench_detector")
echo "detector: $out" >>"$BENCH_TMP/tools.log"
ns() { awk -v m="$1" '$1 == m { for (i = 1; i < NF; i++) if ($(i + 1) == "ns/point") print $i }' <<<"$out"; }
r=$(ns robust); z=$(ns zscore)
verdict=FAIL; fle "$r" 150 && verdict=PASS
row "anomaly detector (robust), 10,000 series, 1 core" "$r" "ns/point" "prototype zscore, same program" "$z ns/point" \
  "<= 150 ns/point" "$verdict"
