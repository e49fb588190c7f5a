#!/bin/sh
# deps.sh - install the Debian packages OpsTwin needs to build, test and
# benchmark. Idempotent: asks dpkg what is missing and installs only that.
# Not root: prints the apt-get command and stops (exit 1).
set -eu

BUILD="gcc make pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev
libpcre2-dev libcurl4-openssl-dev libjwt-dev libssl-dev libpq-dev
libhiredis-dev libmosquitto-dev librdkafka-dev libmimalloc-dev"
TEST="libcriterion-dev curl postgresql redis-server mosquitto mosquitto-clients
clang libclang-rt-14-dev python3 python3-yaml"
BENCH="wrk nginx-light python3-jsonschema python3-numpy sqlite3 valgrind"

want="$BUILD"
case "${1:-}" in
  --test) want="$BUILD $TEST" ;;
  --bench) want="$BUILD $TEST $BENCH" ;;
  --all|"") want="$BUILD $TEST $BENCH" ;;
esac

missing=""
for p in $want; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing Debian packages:$missing" >&2
  echo "deps.sh: run as root:  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
# Packaged servers must not keep running system-wide: tests start their own.
for s in nginx postgresql redis-server mosquitto; do
  command -v service >/dev/null 2>&1 && service "$s" stop >/dev/null 2>&1 || true
done
exit 0
