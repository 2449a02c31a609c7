#!/usr/bin/env bash
# Private PostgreSQL clusters for erds: a durable one for `./erds up`, throwaway fast ones for tests.
#
# Usage: scripts/pg.sh COMMAND
#   test-start      start a throwaway cluster (mktemp dir, trust auth, fsync off, superuser postgres)
#                   and print `export PGTMP=.. PGHOST=.. PGPORT=.. PGUSER=postgres PGDATABASE=postgres`;
#                   use:  eval "$(scripts/pg.sh test-start)"
#   test-stop [DIR] stop and delete a throwaway cluster (DIR defaults to $PGTMP)
#   dir             print the durable cluster directory (var/pg, or /var/lib/erds/<hash>/pg when the
#                   postgres user cannot traverse the checkout, e.g. a clone under /root)
#   init            create the durable cluster if absent (scram-sha-256, Unix socket only, durable)
#   start           start the durable cluster (idempotent) and make sure roles erds_owner/erds_app and
#                   database erds exist; passwords in var/secrets/db-owner.pw, db-app.pw (0600)
#   stop            stop the durable cluster (pg_ctl -m fast; idempotent)
#   status          exit 0 if the durable cluster runs
#   env             print libpq variables (PGHOST, PGPORT) for the durable cluster
#   psql [ARGS]     psql into database erds as the superuser (password from var/secrets)
# Environment: ERDS_PG_PORT (durable cluster port number, default 5432; the socket is private).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGBIN=$(erds_pgbin)
SECRETS="$ERDS_ROOT/var/secrets"
PG_PORT=${ERDS_PG_PORT:-5432}

# ---------------------------------------------------------------------------------------------
# Throwaway test clusters (the TOOLCHAIN.md recipe). Fast and NOT durable: unit tests only.
test_start() {
  local tmp
  tmp=$(mktemp -d /tmp/erds-pgtest.XXXXXX)
  chmod 755 "$tmp"
  erds_is_root && chown postgres:postgres "$tmp"
  if ! erds_as_server "$PGBIN/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$tmp/initdb.log" 2>&1; then
    cat "$tmp/initdb.log" >&2; rm -rf "$tmp"; erds_die "pg: initdb of the test cluster failed"
  fi
  if ! erds_as_server "$PGBIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
      -o "-k $tmp -p 5432 -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null 2>&1; then
    cat "$tmp/server.log" >&2; rm -rf "$tmp"; erds_die "pg: the test cluster did not start"
  fi
  echo "export PGTMP=$tmp PGHOST=$tmp PGPORT=5432 PGUSER=postgres PGDATABASE=postgres"
}

test_stop() {
  local tmp=${1:-${PGTMP:-}}
  [ -n "$tmp" ] || erds_usage_die "pg: test-stop needs a directory (or PGTMP)"
  case "$tmp" in /tmp/erds-pgtest.*) ;; *) erds_usage_die "pg: refusing to delete '$tmp' (not a test cluster)";; esac
  [ -d "$tmp" ] || return 0
  if [ -f "$tmp/data/postmaster.pid" ]; then
    erds_as_server "$PGBIN/pg_ctl" -D "$tmp/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || erds_say "pg: could not stop the test cluster in $tmp cleanly"
  fi
  rm -rf "$tmp"
}

# ---------------------------------------------------------------------------------------------
# The durable development cluster.
cluster_dir() {
  if [ -d "$ERDS_ROOT/var/pg/data" ] || ! erds_is_root \
     || runuser -u postgres -- test -x "$ERDS_ROOT"; then
    printf '%s\n' "$ERDS_ROOT/var/pg"
  else
    local h
    h=$(printf '%s' "$ERDS_ROOT" | sha256sum | cut -c1-12)
    printf '%s\n' "/var/lib/erds/$h/pg"
  fi
}
CLUSTER=$(cluster_dir)
DATA="$CLUSTER/data"
SOCK="$CLUSTER/run"

new_password() { openssl rand -hex 24; }

ensure_secret_file() {  # path: create with a random password if absent; mode 0600
  local f=$1
  mkdir -p "$SECRETS"; chmod 700 "$SECRETS"
  if [ ! -s "$f" ]; then
    (umask 077; new_password >"$f")
  fi
  chmod 600 "$f"
}

init_cluster() {
  if [ -f "$DATA/PG_VERSION" ]; then return 0; fi
  erds_say "pg: creating the durable cluster in $CLUSTER"
  ensure_secret_file "$SECRETS/db-super.pw"
  mkdir -p "$CLUSTER" "$SOCK"
  chmod 700 "$CLUSTER"; chmod 700 "$SOCK"
  if erds_is_root; then
    [ "$CLUSTER" = "$ERDS_ROOT/var/pg" ] && chmod 755 "$ERDS_ROOT/var"
    chown postgres:postgres "$CLUSTER" "$SOCK"
  fi
  local pwfile="$CLUSTER/.initdb-pw"
  (umask 077; cp "$SECRETS/db-super.pw" "$pwfile")
  erds_is_root && chown postgres:postgres "$pwfile"
  if ! erds_as_server "$PGBIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" -A scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$CLUSTER/initdb.log" 2>&1; then
    rm -f "$pwfile"; cat "$CLUSTER/initdb.log" >&2; erds_die "pg: initdb failed (log above)"
  fi
  rm -f "$pwfile"
  # Durable, private: Unix socket inside the cluster dir only, every local login by password.
  erds_as_server tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- erds (scripts/pg.sh): private development cluster ---
listen_addresses = ''
unix_socket_directories = '$SOCK'
unix_socket_permissions = 0700
port = $PG_PORT
password_encryption = scram-sha-256
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

server_running() {
  [ -f "$DATA/PG_VERSION" ] && erds_as_server "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

super_psql() {  # psql as the superuser over the private socket; password via env, never argv
  PGPASSWORD=$(cat "$SECRETS/db-super.pw") PGCONNECT_TIMEOUT=10 \
    psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PG_PORT" -U postgres "$@"
}

bootstrap_roles() {
  ensure_secret_file "$SECRETS/db-owner.pw"
  ensure_secret_file "$SECRETS/db-app.pw"
  local owner_pw app_pw
  owner_pw=$(cat "$SECRETS/db-owner.pw"); app_pw=$(cat "$SECRETS/db-app.pw")
  # Passwords are hex (no quoting issues) and travel on stdin, never on a command line.
  super_psql -d postgres >/dev/null <<EOF
SELECT 'CREATE ROLE erds_owner' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'erds_owner')\gexec
SELECT 'CREATE ROLE erds_app' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'erds_app')\gexec
ALTER ROLE erds_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$owner_pw';
ALTER ROLE erds_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$app_pw';
SELECT 'CREATE DATABASE erds OWNER erds_owner ENCODING ''UTF8'' TEMPLATE template0'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'erds')\gexec
REVOKE ALL ON DATABASE erds FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE erds TO erds_owner, erds_app;
EOF
}

start_cluster() {
  init_cluster
  if ! server_running; then
    mkdir -p "$SOCK"; erds_is_root && chown postgres:postgres "$SOCK"
    erds_as_server "$PGBIN/pg_ctl" -D "$DATA" -l "$CLUSTER/server.log" -w -t 120 start >/dev/null 2>&1 \
      || { tail -n 20 "$CLUSTER/server.log" >&2; erds_die "pg: the cluster in $CLUSTER did not start (log: $CLUSTER/server.log)"; }
    erds_say "pg: started PostgreSQL (socket $SOCK, port $PG_PORT, log $CLUSTER/server.log)"
  fi
  bootstrap_roles
}

stop_cluster() {
  if server_running; then
    erds_as_server "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 120 stop >/dev/null 2>&1 \
      || erds_die "pg: could not stop the cluster in $CLUSTER"
    erds_say "pg: stopped PostgreSQL"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  test-start) test_start ;;
  test-stop) test_stop "$@" ;;
  dir) printf '%s\n' "$CLUSTER" ;;
  init) init_cluster ;;
  start) start_cluster ;;
  stop) stop_cluster ;;
  status) server_running ;;
  env) echo "export PGHOST=$SOCK PGPORT=$PG_PORT" ;;
  psql) super_psql -d erds "$@" ;;
  -h|--help|help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) erds_usage_die "pg: unknown command '${cmd}' (try scripts/pg.sh --help)" ;;
esac
