#!/usr/bin/env bash
# Several Cloud-Saves processes behind HAProxy, sharing one PostgreSQL and one Redis.
#
#   bench/cluster.sh start [-n PROCESSES] [-p PORT]   start (default: 2 processes, port 8100)
#   bench/cluster.sh stop  [-p PORT]                  stop what `start` started
#   bench/cluster.sh status [-p PORT]                 what runs, and each process's health
#
# DATABASE_URL and REDIS_URL must be set (PostgreSQL and Redis: the processes share them).
# HAProxy listens on 127.0.0.1:PORT and balances HTTP and WebSocket connections over the
# processes on PORT+1 .. PORT+N (least connections, nothing sticky); every other variable
# of the environment reaches the processes as it is. Logs, pids and the HAProxy
# configuration go to $CLUSTER_DIR (default .local/cluster-PORT). The load benchmark
# (bench/load_bench.py), the test suite (tests/test_cluster.py) and docs/operations.md
# use this script.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}

command=${1:-}
[ $# -gt 0 ] && shift
processes=2
port=8100
while getopts "n:p:" opt; do
  case $opt in
    n) processes=$OPTARG ;;
    p) port=$OPTARG ;;
    *) exit 2 ;;
  esac
done
dir=${CLUSTER_DIR:-.local/cluster-$port}

wait_healthy() {  # url, seconds: 200 or 503 (Redis down) both mean the process serves
  local url=$1 deadline=$((SECONDS + $2)) code
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
    if [ "$code" = 200 ] || [ "$code" = 503 ]; then return 0; fi
    sleep 0.2
  done
  echo "cluster: $url did not answer" >&2
  return 1
}

stop() {
  [ -d "$dir" ] || return 0
  local pids=() pidfile pid
  for pidfile in "$dir"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pidfile"
  done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

start() {
  : "${DATABASE_URL:?set DATABASE_URL (PostgreSQL, shared by every process)}"
  : "${REDIS_URL:?set REDIS_URL (Redis, shared by every process)}"
  [ -x "$HAPROXY" ] || { echo "cluster: HAProxy not found (apt-get install haproxy)" >&2; exit 1; }
  stop
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  trap 'stop; exit 1' ERR
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  # Each proxied connection holds two descriptors in HAProxy.
  local maxconn=$((($(ulimit -n) - 200) / 2))
  if [ -z "${CLUSTER_SKIP_MIGRATE:-}" ]; then
    "$PYTHON" manage.py migrate --noinput >"$dir/migrate.log" 2>&1
  fi
  # One proxy in front: the processes take the client's address from X-Forwarded-For.
  export CLOUDSAVES_TRUSTED_PROXY_COUNT=${CLOUDSAVES_TRUSTED_PROXY_COUNT:-1}
  local servers="" i backend
  for i in $(seq 1 "$processes"); do
    backend=$((port + i))
    "$PYTHON" -m cloudsaves.serve --host 127.0.0.1 --port "$backend" >"$dir/process-$i.log" 2>&1 &
    echo $! >"$dir/process-$i.pid"
    servers+="    server p$i 127.0.0.1:$backend check inter 1s fall 2 rise 1"$'\n'
  done
  cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn $maxconn
    pidfile $dir/haproxy.pid

defaults
    mode http
    option forwardfor
    option http-server-close
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # An upgraded WebSocket is a tunnel: idle up to the protocol's ping interval and more.
    timeout tunnel 1h
    timeout client-fin 5s

frontend cloudsaves
    bind 127.0.0.1:$port
    default_backend processes

backend processes
    balance leastconn
    # 503 from /healthz means Redis is down: the process still serves, keep it in.
    option httpchk GET /healthz
    http-check expect rstatus ^(200|503)$
$servers
EOF
  for i in $(seq 1 "$processes"); do
    wait_healthy "http://127.0.0.1:$((port + i))/healthz" 60
  done
  "$HAPROXY" -f "$dir/haproxy.cfg" -D
  wait_healthy "http://127.0.0.1:$port/healthz" 20
  trap - ERR
  echo "cluster: $processes processes behind HAProxy at http://127.0.0.1:$port/ (logs in $dir)"
}

status() {
  local pidfile pid name
  for pidfile in "$dir"/*.pid; do
    [ -e "$pidfile" ] || { echo "cluster: not running"; return 1; }
    pid=$(cat "$pidfile")
    name=$(basename "$pidfile" .pid)
    if kill -0 "$pid" 2>/dev/null; then echo "$name: pid $pid"; else echo "$name: gone"; fi
  done
  curl -s "http://127.0.0.1:$port/healthz" && echo
}

case $command in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
