# MQTT ingest: N telemetry messages (bare metrics objects, QoS 1, 8 twins x
# 64 assets) published as fast as a private Mosquitto takes them, measured
# until OpsTwin has committed all N (opstwin_mqtt_messages_total stored;
# bench/mqtt_load.c). Baseline: the same broker relaying the same N messages
# to a plain QoS 1 subscriber, in the same run (before OpsTwin connects).
# Targets: >= 50% of the relay rate and >= 30,000 messages/s.
bench_make build/bench/mqtt_load || exit 1
n=${BENCH_MQTT_MESSAGES:-200000}
mport=$(free_port)
mdir="$BENCH_TMP/mosquitto"
mkdir -p "$mdir"
# unlimited queues (the broker's default of 1,000 queued messages per client
# drops the rest) and a 1,000-message QoS 1 window, for both consumers
cat >"$mdir/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 1000
set_tcp_nodelay true
CONF
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$mdir/mosquitto.conf" >"$mdir/log" 2>&1 &
BENCH_PIDS+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null && break; sleep 0.1; done
relay=$("$BENCH_ROOT/build/bench/mqtt_load" relay 127.0.0.1 "$mport" "$n")
echo "mqtt relay: $relay" >>"$BENCH_TMP/tools.log"
start_opstwin mqtt --mqtt-url "mqtt://127.0.0.1:$mport" || exit 1
ot=$("$BENCH_ROOT/build/bench/mqtt_load" opstwin 127.0.0.1 "$mport" "$n" "$OPSTWIN_URL_mqtt")
echo "mqtt opstwin: $ot" >>"$BENCH_TMP/tools.log"
r_relay=$(awk '{ print $2 }' <<<"$relay")
r_ot=$(awk '{ print $2 }' <<<"$ot")
p=$(pct "$r_ot" "$r_relay")
verdict=FAIL
fge "$r_ot" 30000 && fge "$p" 50 && verdict=PASS
row "MQTT ingest, $n QoS 1 messages, committed (mqtt_load)" "$r_ot" "msg/s" \
  "mosquitto relay to a plain subscriber" "$r_relay msg/s (OpsTwin $p%)" \
  ">= 50% of relay and >= 30,000 msg/s" "$verdict"
