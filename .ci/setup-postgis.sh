#!/usr/bin/env bash
# Start a throwaway PostgreSQL + PostGIS server for the `postgis` tests and print
#   export SITING_TEST_POSTGIS_URL=postgresql://...
# on stdout (everything else goes to stderr), so that CI can do:
#   eval "$(.ci/setup-postgis.sh)"
# Idempotent: a second run reuses the running server. Run as root (CI does).
# Stop it with:  .ci/setup-postgis.sh stop
# The cluster lives in $SITING_POSTGIS_DIR (default /tmp/siting-postgis), listens on 127.0.0.1 only,
# on a free port, and is destroyed by `stop`.
set -euo pipefail

STATE_DIR="${SITING_POSTGIS_DIR:-/tmp/siting-postgis}"
DATA_DIR="$STATE_DIR/data"
ENV_FILE="$STATE_DIR/env"
DB_NAME="siting_test"
DB_USER="siting"

log() { echo "setup-postgis: $*" >&2; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  local major
  major="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)"
  [ -n "$major" ] && echo "/usr/lib/postgresql/$major/bin"
}

have_postgis() {
  [ -n "$(pg_bin)" ] && ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1
}

install_packages() {
  if have_postgis; then
    log "PostgreSQL and PostGIS already installed"
    return
  fi
  [ "$(id -u)" = 0 ] || { log "need root to apt-get install postgresql postgis"; exit 1; }
  log "installing postgresql + postgis with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  # The "postgis" package alone is only the command-line tools (the extension is a Recommends, which
  # --no-install-recommends drops): install the server, then the extension package of its major version.
  apt-get install -y --no-install-recommends postgresql >&2
  local major
  major="$(ls /usr/lib/postgresql | sort -n | tail -1)"
  apt-get install -y --no-install-recommends "postgresql-$major-postgis-3" "postgresql-$major-postgis-3-scripts" >&2
  have_postgis || { log "PostGIS extension still missing after apt-get install"; exit 1; }
}

server_running() {
  [ -f "$DATA_DIR/PG_VERSION" ] && as_postgres "$(pg_bin)/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop_server() {
  if server_running; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$DATA_DIR" -m fast -w stop >&2
  fi
  rm -rf "$STATE_DIR"
  log "stopped and removed $STATE_DIR"
}

start_server() {
  local bin port password
  bin="$(pg_bin)"
  if server_running && [ -f "$ENV_FILE" ]; then
    log "reusing running server in $DATA_DIR"
    cat "$ENV_FILE"
    return
  fi
  # A half-made or stopped cluster from an earlier run: start over.
  if [ -d "$STATE_DIR" ]; then
    as_postgres "$bin/pg_ctl" -D "$DATA_DIR" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$STATE_DIR"
  fi
  mkdir -p "$STATE_DIR"
  chown postgres:postgres "$STATE_DIR" 2>/dev/null || true
  chmod 700 "$STATE_DIR"
  port="$(free_port)"
  password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  printf '%s\n' "$password" > "$STATE_DIR/pwfile"
  chown postgres:postgres "$STATE_DIR/pwfile" 2>/dev/null || true

  log "initdb in $DATA_DIR (port $port)"
  as_postgres "$bin/initdb" -D "$DATA_DIR" -U "$DB_USER" --pwfile="$STATE_DIR/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
  rm -f "$STATE_DIR/pwfile"
  as_postgres "$bin/pg_ctl" -D "$DATA_DIR" -l "$STATE_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$STATE_DIR -c fsync=off" start >&2

  PGPASSWORD="$password" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres \
    -c "CREATE DATABASE $DB_NAME ENCODING 'UTF8' TEMPLATE template0" >&2
  PGPASSWORD="$password" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$DB_USER" -d "$DB_NAME" \
    -c "CREATE EXTENSION IF NOT EXISTS postgis" >&2

  echo "export SITING_TEST_POSTGIS_URL=postgresql://$DB_USER:$password@127.0.0.1:$port/$DB_NAME" > "$ENV_FILE"
  chmod 600 "$ENV_FILE"
  log "PostGIS ready on 127.0.0.1:$port, database $DB_NAME (env in $ENV_FILE)"
  cat "$ENV_FILE"
}

case "${1:-start}" in
  start) install_packages; start_server ;;
  stop) stop_server ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
