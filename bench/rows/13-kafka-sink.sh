# Batch ingest (1,000 events per request, 4 connections, wrk as in row 03)
# with the Kafka event sink on, producing to librdkafka's mock cluster
# (build/bench/kafka_mock, 3 brokers, 4 partitions, acks=all, idempotent),
# side by side with the same load on a server without the sink in the same
# run. Also: events delivered to Kafka per second, from the start of the load
# until the sink's lag is back to 0. Target: ingest with the sink >= 80% of
# ingest without it, and every event delivered (lag 0 within 60 s).
bench_make build/bench/kafka_mock || exit 1
"$BENCH_ROOT/build/bench/kafka_mock" 3 >"$BENCH_TMP/kafka_mock.out" 2>"$BENCH_TMP/kafka_mock.err" &
BENCH_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$BENCH_TMP/kafka_mock.out" ] && break; sleep 0.05; done
bs=$(head -n 1 "$BENCH_TMP/kafka_mock.out")
[ -n "$bs" ] || { echo "bench: kafka_mock did not start" >&2; exit 1; }
secs=${BENCH_SECONDS:-10}
lua="$BENCH_ROOT/bench/wrk/ingest_batch.lua"

start_opstwin kafkaoff || exit 1
read -r _ off _ _ <<<"$(wrk_run "$OPSTWIN_URL_kafkaoff/telemetry/ingest" 4 "$secs" 2 "$lua")"
stop_pid "$OPSTWIN_PID_kafkaoff"

start_opstwin kafkaon --kafka-bootstrap-servers "$bs" || exit 1
u=$OPSTWIN_URL_kafkaon
t0=$(date +%s.%N)
read -r _ on bad n <<<"$(wrk_run "$u/telemetry/ingest" 4 "$secs" 2 "$lua")"
lag=$(prom "$u" opstwin_kafka_lag_events)
for _ in $(seq 1 600); do
  lag=$(prom "$u" opstwin_kafka_lag_events)
  [ "$lag" = 0 ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
produced=$(prom "$u" opstwin_kafka_produced_total)
failedk=$(prom "$u" opstwin_kafka_failed_total)
evoff=$(awk -v r="$off" 'BEGIN { printf "%.0f", r * 1000 }')
evon=$(awk -v r="$on" 'BEGIN { printf "%.0f", r * 1000 }')
rate=$(awk -v p="$produced" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", p / (b - a) }')
p=$(pct "$evon" "$evoff")
verdict=FAIL; [ "${p:-0}" -ge 80 ] 2>/dev/null && [ "$lag" = 0 ] && verdict=PASS
[ "$bad" -gt 0 ] && verdict="$verdict ($bad non-2xx of $n)"
row "Batch ingest with the Kafka sink on (mock cluster, 3 brokers)" "$evon" "events/s" \
  "same load, sink off" "$evoff events/s; sink delivered $produced events at $rate events/s (load start to lag 0; lag $lag, $failedk failed)" \
  ">= 80% of sink off, lag back to 0" "$verdict ($p%)"
