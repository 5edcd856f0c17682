#!/usr/bin/env bash
# Starts and stops the project's own PostgreSQL 15: its own data folder, port and socket.
set -euo pipefail
source "$(dirname "$0")/common.sh"

PG_PORT="${PG_PORT:-15432}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
data="$STACK_DIR/pg/data"
url="postgresql://postgres@127.0.0.1:${PG_PORT}/orders"

usage() {
  cat <<USAGE
usage: tools/stack/pg.sh start|stop|status|url
  start   initialise on first use, start on 127.0.0.1:${PG_PORT}, wait until ready, create 'orders'
  stop    stop it (fast shutdown); fine when it is not running
  status  say whether it runs
  url     print its URL: ${url}
Data lives in ${data} (STACK_DIR, PG_PORT and PG_BIN change where and how).
USAGE
}

running() { [[ -f "$data/postmaster.pid" ]] && as_owner "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  require psql "$PG_BIN/initdb" "$PG_BIN/pg_ctl"
  mkdir -p "$STACK_DIR/pg"
  [[ $(id -u) -eq 0 ]] && chown postgres "$STACK_DIR/pg"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    say "initialising a cluster in $data"
    as_owner "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$data/postgresql.conf" <<CONF
# The project's dev and test database: loopback only (listen_addresses is given at each start),
# durable (fsync and synchronous commit stay on: an acknowledged write surviving a crash is a
# guarantee the tests check).
port = ${PG_PORT}
unix_socket_directories = '$STACK_DIR/pg'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
  fi
  if running; then
    say "already running at $url"
  else
    say "starting on 127.0.0.1:${PG_PORT}"
    # After a crash (a SIGKILLed postmaster) its backends may hold the shared memory for a moment
    # until they notice they are orphans, and PostgreSQL refuses to start beside them: try again.
    # Loopback only. 127.0.0.2 is a second way to the same server: a test cuts it off (iptables)
    # to partition one instance of the service from the database while the others reach it.
    local attempt
    for attempt in 1 2 3 4 5; do
      as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$STACK_DIR/pg/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1,127.0.0.2" start >/dev/null && break
      if ((attempt == 5)); then tail -20 "$STACK_DIR/pg/server.log" >&2; exit 1; fi
      say "did not start (after a crash?); trying again in 1 s"
      sleep 1
    done
  fi
  if ! wait_for 30 "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"; then
    say "not ready after 30 s:"; tail -20 "$STACK_DIR/pg/server.log" >&2; exit 1
  fi
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'orders'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE orders" >/dev/null
  fi
  say "ready: $url"
  echo "$url"
}

stop() {
  if running; then
    say "stopping"
    as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running at $url"; else echo "stopped"; exit 1; fi ;;
  url) echo "$url" ;;
  --help|-h|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
