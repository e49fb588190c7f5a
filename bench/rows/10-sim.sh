# Monte Carlo, default yield/quality model, 1,000,000 samples with its
# statistics, best of 7 after a warm-up: the C engine on one thread
# (bench/bench_sim.c) vs NumPy (bench/sim_numpy.py, /usr/bin/python3).
# Target: >= 5x. Second row: the engine on 2 threads vs 1 (no target).
bench_make build/bench/bench_sim || exit 1
c=$("$BENCH_ROOT/build/bench/bench_sim" 1000000 7)
np=$(/usr/bin/python3 "$BENCH_ROOT/bench/sim_numpy.py" 1000000 7)
printf 'sim C:\n%s\nsim NumPy:\n%s\n' "$c" "$np" >>"$BENCH_TMP/tools.log"
best() { awk -v t="$1" '$1 == t && /best/ { for (i = 1; i < NF; i++) if ($i == "best") print $(i + 1) }'; }
c1=$(best 1 <<<"$c"); c2=$(best 2 <<<"$c"); n1=$(best 1 <<<"$np")
x=$(awk -v a="$n1" -v b="$c1" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
s=$(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
verdict=FAIL; fge "$x" 5 && verdict=PASS
row "Monte Carlo 1,000,000 samples, default model, 1 thread" "$c1" "ms" "NumPy, 1 thread" "$n1 ms" \
  ">= 5x" "$verdict (${x}x)"
row "Monte Carlo 1,000,000 samples, 2 threads" "$c2" "ms" "C engine, 1 thread" "$c1 ms" \
  "(scaling, no target)" "${s}x on $(nproc) cores"
