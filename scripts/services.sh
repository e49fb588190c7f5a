#!/bin/bash
# services.sh - private PostgreSQL, Redis and Mosquitto instances for a test
# or bench run. Source it, then:
#
#   services_start DIR   start each server on a free 127.0.0.1 port, with its
#                        files under DIR (PostgreSQL's in a folder the
#                        postgres user owns), and export:
#     OPSTWIN_TEST_PG_URL     postgresql://opstwin@127.0.0.1:PORT/opstwin
#     OPSTWIN_TEST_PG_DATA    the cluster's folder (owned by postgres)
#     OPSTWIN_TEST_PG_BIN     PostgreSQL's bin folder (initdb, pg_ctl, psql)
#     OPSTWIN_TEST_REDIS_URL  redis://127.0.0.1:PORT
#     OPSTWIN_TEST_MQTT_URL   mqtt://127.0.0.1:PORT
#                        A server whose binary is missing is skipped (its
#                        variable stays unset) and reported; returns 1 then.
#   services_stop        stop each by PID (TERM, then KILL after 10 s) and
#                        remove its files. Safe to call twice.
#
# Tests that need to stop or restart a server make their own instance (the
# PG cluster's superuser is `opstwin`, trust auth on loopback only) instead of
# disturbing the shared ones.

services_pids=()
services_dirs=()

services_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

services_wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

services_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

services_start_pg() { # logdir
  local bin port dir
  bin=$(services_pg_bin) || { echo "services: PostgreSQL not installed" >&2; return 1; }
  port=$(services_free_port)
  dir=$(mktemp -d /tmp/opstwin-pg.XXXXXX)
  chown postgres: "$dir" 2>/dev/null || true
  services_dirs+=("$dir")
  if ! runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U opstwin -A trust \
      --no-sync >"$1/pg-initdb.log" 2>&1; then
    echo "services: initdb failed (see $1/pg-initdb.log)" >&2
    return 1
  fi
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 128MB
EOF
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      start >"$1/pg-start.log" 2>&1; then
    echo "services: PostgreSQL did not start:" >&2
    tail -n 20 "$dir/server.log" >&2
    return 1
  fi
  services_pids+=("$(head -n 1 "$dir/data/postmaster.pid")")
  "$bin/psql" -h 127.0.0.1 -p "$port" -U opstwin -d postgres -q -c 'CREATE DATABASE opstwin' \
    >/dev/null
  export OPSTWIN_TEST_PG_URL="postgresql://opstwin@127.0.0.1:$port/opstwin"
  export OPSTWIN_TEST_PG_DATA="$dir/data"
  export OPSTWIN_TEST_PG_BIN="$bin"
  echo "services: PostgreSQL on 127.0.0.1:$port ($dir)"
}

services_start_redis() { # logdir
  command -v redis-server >/dev/null || { echo "services: redis-server not installed" >&2; return 1; }
  local port dir
  port=$(services_free_port)
  dir=$(mktemp -d /tmp/opstwin-redis.XXXXXX)
  services_dirs+=("$dir")
  cat >"$dir/redis.conf" <<EOF
bind 127.0.0.1
port $port
dir $dir
daemonize no
save ""
appendonly no
logfile $dir/redis.log
EOF
  redis-server "$dir/redis.conf" >/dev/null 2>&1 &
  services_pids+=("$!")
  services_wait_port "$port" 10 || { echo "services: Redis did not start" >&2; return 1; }
  export OPSTWIN_TEST_REDIS_URL="redis://127.0.0.1:$port"
  echo "services: Redis on 127.0.0.1:$port"
}

services_start_mosquitto() { # logdir
  local m
  m=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  [ -x "$m" ] || { echo "services: mosquitto not installed" >&2; return 1; }
  local port dir
  port=$(services_free_port)
  dir=$(mktemp -d /tmp/opstwin-mqtt.XXXXXX)
  chmod 755 "$dir"
  services_dirs+=("$dir")
  cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest file $dir/mosquitto.log
max_queued_messages 100000
EOF
  "$m" -c "$dir/mosquitto.conf" >/dev/null 2>&1 &
  services_pids+=("$!")
  services_wait_port "$port" 10 || { echo "services: Mosquitto did not start" >&2; return 1; }
  export OPSTWIN_TEST_MQTT_URL="mqtt://127.0.0.1:$port"
  echo "services: Mosquitto on 127.0.0.1:$port"
}

services_start() { # logdir
  local rc=0
  services_start_pg "$1" || rc=1
  services_start_redis "$1" || rc=1
  services_start_mosquitto "$1" || rc=1
  return $rc
}

services_stop() {
  local pid i d
  for pid in "${services_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${services_pids[@]}"; do
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for d in "${services_dirs[@]}"; do
    rm -rf "$d"
  done
  services_pids=()
  services_dirs=()
}
