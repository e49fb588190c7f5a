# bench/lib.sh - helpers shared by the benchmark rows (sourced by run.sh).
#
# Every server started here listens on 127.0.0.1, on a free port, in the
# run's temporary folder, and is stopped by PID (stop_all) when the row's
# subshell exits; run.sh's own exit trap covers anything started outside a row.

BENCH_PIDS=()
BENCH_SECRET=${BENCH_SECRET:-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
OPSTWIN_TOKEN=$(JWT_SECRET_KEY=$BENCH_SECRET "$BENCH_ROOT/opstwin" token --sub bench --role admin --ttl 1d)
export BENCH_SECRET OPSTWIN_TOKEN
AUTH_HEADER="Authorization: Bearer $OPSTWIN_TOKEN"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url [seconds]
  local url=$1 t=${2:-20} i=0
  while [ $i -lt $((t * 20)) ]; do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.05; i=$((i + 1))
  done
  echo "bench: $url did not come up" >&2
  return 1
}

# start_opstwin NAME [serve flags...]: sets OPSTWIN_URL_<NAME> and OPSTWIN_DIR_<NAME>
start_opstwin() {
  local name=$1; shift
  local port dir
  port=$(free_port)
  dir="$BENCH_TMP/opstwin-$name"
  mkdir -p "$dir"
  # a known secret, so the run can mint its own admin token (OPSTWIN_TOKEN,
  # read by the wrk scripts and bench/sse_latency.c)
  LOG_LEVEL=${BENCH_LOG_LEVEL:-warning} JWT_SECRET_KEY=$BENCH_SECRET "$BENCH_ROOT/opstwin" serve \
    --port "$port" --data-dir "$dir/data" "$@" >"$dir/server.log" 2>&1 &
  BENCH_PIDS+=($!)
  eval "OPSTWIN_PID_$name=$!"
  eval "OPSTWIN_URL_$name=http://127.0.0.1:$port"
  eval "OPSTWIN_DIR_$name=$dir"
  wait_http "http://127.0.0.1:$port/health"
}

stop_all() { # stop every server this shell started, newest first
  local i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${BENCH_PIDS[$i]}"; done
  BENCH_PIDS=()
}

# serve_binary BINARY PORT DIR: an opstwin build serving DIR/data on
# 127.0.0.1:PORT in the background (log DIR/server.log); sets SERVE_PID, for
# the caller to stop (bench/ab.sh, bench/cpusplit.sh compare builds)
serve_binary() {
  LOG_LEVEL=warning JWT_SECRET_KEY=$BENCH_SECRET "$1" serve --port "$2" --data-dir "$3/data" \
    >"$3/server.log" 2>&1 &
  SERVE_PID=$!
}

# cpu_ticks STATFILE: utime + stime, in clock ticks, of a /proc/.../stat file
cpu_ticks() { awk '{ print $14 + $15 }' "$1"; }

stop_pid() { # pid
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
}

# start_floor: bench/http_floor.c (libmicrohttpd with OpsTwin's flags,
# suspend/resume and one fdatasync per group, no other work); sets FLOOR_URL
# and FLOOR_PID
start_floor() {
  local port dir
  bench_make build/bench/http_floor || return 1
  port=$(free_port)
  dir="$BENCH_TMP/floor"
  mkdir -p "$dir"
  "$BENCH_ROOT/build/bench/http_floor" "$port" "$dir" >"$dir/floor.out" 2>&1 &
  BENCH_PIDS+=($!)
  FLOOR_PID=$!
  FLOOR_URL="http://127.0.0.1:$port"
  wait_http "$FLOOR_URL/"
}

# start_nginx: serves $BENCH_TMP/nginx/www; sets NGINX_URL
start_nginx() {
  local port dir
  port=$(free_port)
  dir="$BENCH_TMP/nginx"
  mkdir -p "$dir/www" "$dir/tmp"
  cat >"$dir/nginx.conf" <<NGX
user root;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  keepalive_requests 1000000;
  default_type application/json;
  server { listen 127.0.0.1:$port; root $dir/www; location / { } }
}
NGX
  /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' &
  BENCH_PIDS+=($!)
  NGINX_URL="http://127.0.0.1:$port"
  wait_http "$NGINX_URL/"
}

# wrk_rps URL [connections] [seconds] [threads] [script]: prints requests/s
wrk_rps() {
  local url=$1 c=${2:-64} d=${3:-${BENCH_SECONDS:-10}} t=${4:-2} script=${5:-}
  local out
  if [ -n "$script" ]; then
    out=$(wrk -t"$t" -c"$c" -d"${d}s" -s "$script" "$url" 2>&1)
  else
    out=$(wrk -t"$t" -c"$c" -d"${d}s" "$url" 2>&1)
  fi
  echo "$out" >>"$BENCH_TMP/wrk.log"
  echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}

# row NAME VALUE UNIT BASELINE_NAME BASELINE TARGET VERDICT
row() { printf '| %s | %s %s | %s: %s | %s | %s |\n' "$@"; }

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "n/a" }'; }

# wrk_run URL CONN SECONDS THREADS [SCRIPT]: prints "rps ok_rps non2xx requests"
# (ok_rps counts only 2xx/3xx responses; wrk's full output goes to wrk.log)
wrk_run() {
  local url=$1 c=$2 d=$3 t=$4 script=${5:-} out
  out=$(wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s ${script:+-s "$script"} "$url" 2>&1)
  printf '%s\n\n' "$out" >>"$BENCH_TMP/wrk.log"
  echo "$out" | awk '
    /requests in/ { n = $1 }
    /Non-2xx or 3xx/ { bad = $5 }
    /Requests\/sec/ { rps = $2 }
    END { s = (n > 0 && rps > 0) ? n / rps : 1; printf "%.0f %.2f %d %d", rps, (n - bad) / s, bad, n }'
}

# bench_make TARGET...: build bench programs with bench/bench.mk rules, quietly
bench_make() {
  local mk=(-f Makefile -f bench/bench.mk)
  grep -q '^ *-\?include .*bench/bench.mk' "$BENCH_ROOT/Makefile" && mk=()
  make -C "$BENCH_ROOT" --no-print-directory "${mk[@]}" "$@" >"$BENCH_TMP/make.log" 2>&1 ||
    { cat "$BENCH_TMP/make.log" >&2; return 1; }
}

# kv KEY: value of KEY=... from the key=value line on stdin
kv() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# prom URL NAME: value of a Prometheus sample from URL/metrics
prom() { curl -s "$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'; }

# rss_mb PID: resident set size in MiB (one decimal)
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# fge A B: exit 0 when A >= B (floats); fle A B: A <= B
fge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
