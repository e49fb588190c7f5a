# PostgreSQL ingest: POST /telemetry/ingest, 1,000 events per request (wrk,
# bench/wrk/ingest_batch.lua, 4 connections, as row 03) into OpsTwin with
# DATABASE_URL on a private PostgreSQL (scripts/services.sh), side by side
# with psql's own \copy of the same rows into the same table layout.
# Target: OpsTwin >= 50% of COPY's rate.
#
# Baseline: after the ingest run, the rows OpsTwin stored for the first
# PG_COPY_EVENTS events (telemetry, points, events: what one ingested event
# costs) are exported with \copy TO, and loaded again with \copy FROM into
# scratch tables made LIKE OpsTwin's (INCLUDING ALL: primary keys, indexes;
# telemetry and points range-partitioned like OpsTwin's, here with one
# DEFAULT partition), one psql session, three COPYs in one transaction. Its
# rate is events/s: events loaded / wall time of that psql.
# shellcheck disable=SC1091
. "$BENCH_ROOT/scripts/services.sh"
pg_log="$BENCH_TMP/pg"
mkdir -p "$pg_log"
trap 'stop_all; services_stop' EXIT
services_start_pg "$pg_log" >/dev/null || exit 1
PSQL="$OPSTWIN_TEST_PG_BIN/psql"
start_opstwin pgingest --database-url "$OPSTWIN_TEST_PG_URL" || exit 1
u=$OPSTWIN_URL_pgingest
secs=${BENCH_SECONDS:-10}
i0=$(prom "$u" opstwin_store_committed_items_total)
c0=$(prom "$u" opstwin_store_commits_total)
read -r _ ok bad n <<<"$(wrk_run "$u/telemetry/ingest" 4 "$secs" 2 "$BENCH_ROOT/bench/wrk/ingest_batch.lua")"
sleep 0.5
i1=$(prom "$u" opstwin_store_committed_items_total)
c1=$(prom "$u" opstwin_store_commits_total)
ev=$(awk -v r="$ok" 'BEGIN { printf "%.0f", r * 1000 }')
stop_all

# the baseline: the same rows, COPY'd by psql into the same layout
limit=${PG_COPY_EVENTS:-300000}
d="$BENCH_TMP/pgcopy"
mkdir -p "$d"
"$PSQL" -q -X "$OPSTWIN_TEST_PG_URL" <<SQL >"$d/export.log" 2>&1
\copy (SELECT * FROM events WHERE cursor <= $limit AND type = 0 ORDER BY cursor) TO '$d/events.tsv'
\copy (SELECT * FROM telemetry WHERE cursor <= $limit) TO '$d/telemetry.tsv'
\copy (SELECT p.* FROM points p WHERE seq <= $limit) TO '$d/points.tsv'
CREATE TABLE copy_events (LIKE events INCLUDING ALL);
CREATE TABLE copy_telemetry (LIKE telemetry INCLUDING ALL) PARTITION BY RANGE (ts);
CREATE TABLE copy_telemetry_default PARTITION OF copy_telemetry DEFAULT;
CREATE TABLE copy_points (LIKE points INCLUDING ALL) PARTITION BY RANGE (ts);
CREATE TABLE copy_points_default PARTITION OF copy_points DEFAULT;
SQL
events=$(wc -l <"$d/events.tsv")
tel=$(wc -l <"$d/telemetry.tsv")
pts=$(wc -l <"$d/points.tsv")
t0=$(date +%s.%N)
"$PSQL" -q -X -v ON_ERROR_STOP=1 "$OPSTWIN_TEST_PG_URL" <<SQL >"$d/copy.log" 2>&1
BEGIN;
\copy copy_telemetry FROM '$d/telemetry.tsv'
\copy copy_points FROM '$d/points.tsv'
\copy copy_events FROM '$d/events.tsv'
COMMIT;
SQL
copy_rc=$?
t1=$(date +%s.%N)
copy_ev=$(awk -v n="$tel" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
copy_rows=$(awk -v n="$((tel + pts + events))" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
p=$(pct "$ev" "$copy_ev")
verdict=FAIL; [ "$copy_rc" -eq 0 ] && fge "$p" 50 && verdict=PASS
[ "$copy_rc" -ne 0 ] && verdict="FAIL (COPY failed: $(tail -n 1 "$d/copy.log"))"
[ "$bad" -gt 0 ] && verdict="$verdict ($bad non-2xx of $n)"
row "PostgreSQL: POST /telemetry/ingest, 1,000 events/request, 4 conn (wrk)" "$ev" "events/s" \
  "psql \\copy of the same rows" "$copy_ev events/s ($copy_rows rows/s: $tel telemetry + $pts points + $events events); OpsTwin $p%; $((i1 - i0)) events in $((c1 - c0)) commits" \
  ">= 50% of COPY" "$verdict"
