#!/bin/sh
# SMTP gateway benchmarks on a throwaway, DURABLE private PostgreSQL (fsync on, default settings,
# Unix socket only, roles erds_owner/erds_app), erds-signer (socket), erdsd (demo accounts, workers)
# and erds-smtpd, all from BUILD (a Release build with -DERDS_BUILD_BENCHMARKS=ON):
#   1. submission: erds_smtp_submit_bench (STARTTLS + AUTH PLAIN, SESSIONS sessions, MESSAGES per
#      session, SIZE bytes) -> messages/s, p50/p99; each 250 = message + sealed, time-stamped
#      SubmissionAcceptance + the REM receipt job, committed;
#   2. inbound MX: bench/mx_bench.sh (Postfix smtp-source, 20 sessions, 5 KiB) with smtp-sink as
#      the ceiling; each 250 = message + sealed ReceivedFromNonERDS evidence, committed.
# Everything lives in a mktemp dir that is removed at the end.
#   usage: smtp-gateway/bench/smtp_bench.sh BUILD [SESSIONS] [MESSAGES] [SIZE] [MX_MESSAGES]
# PG_EXTRA: more postgres options (e.g. auto_explain settings; see docs/PERFORMANCE.md).
# For CPU-bound comparisons pin the daemons: TASKSET="taskset -c 1" smtp-gateway/bench/smtp_bench.sh ...
# Round trips: after each run the statements and explicit commits (COMMIT calls; both from
# pg_stat_statements) per stored message are printed. With COUNT=1 erdsd is stopped (SIGSTOP) during both runs, so
# that its lifecycle workers do not add their statements: the figures are erds-smtpd's alone.
set -eu
BUILD=$(cd "${1:?usage: smtp_bench.sh BUILD [SESSIONS] [MESSAGES] [SIZE] [MX_MESSAGES]}" && pwd)
SESSIONS=${2:-20}
MESSAGES=${3:-50}
SIZE=${4:-5120}
MX_N=${5:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
TASKSET=${TASKSET:-}
for b in erdsd erdsctl erds-signer erds-smtpd erds_smtp_submit_bench; do
  [ -x "$BUILD/$b" ] || { echo "smtp_bench: $BUILD/$b missing (Release build with -DERDS_BUILD_BENCHMARKS=ON)" >&2; exit 2; }
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
W=$(mktemp -d /tmp/erds-smtpbench.XXXXXX)
chmod 755 "$W"
AS=""
if [ "$(id -u)" = 0 ]; then AS="runuser -u postgres --"; mkdir -p "$W/pg"; chown postgres "$W/pg"; else mkdir -p "$W/pg"; fi
PIDS=""
cleanup() {
  for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  $AS "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT INT TERM
$AS "$PGBIN/initdb" -D "$W/pg/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$W/initdb.log" 2>&1
$AS "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/server.log" -w -t 60 \
  -o "-k $W/pg -c listen_addresses='' -c max_connections=200 -c shared_preload_libraries=pg_stat_statements${PG_EXTRA:+ $PG_EXTRA}" \
  start >/dev/null
export PGHOST="$W/pg" PGPORT=5432
OWNER_PW=$(openssl rand -hex 16) APP_PW=$(openssl rand -hex 16)
psql -q -U postgres -d postgres -v ON_ERROR_STOP=1 <<EOF
CREATE ROLE erds_owner LOGIN PASSWORD '$OWNER_PW';
CREATE ROLE erds_app LOGIN PASSWORD '$APP_PW';
CREATE DATABASE erds OWNER erds_owner;
EOF
(umask 077; echo "$OWNER_PW" >"$W/owner.pw"; echo "$APP_PW" >"$W/app.pw"; openssl rand -hex 32 >"$W/kek")
"$BUILD/erdsctl" pki init --dir "$W/pki" >/dev/null
mkdir -m 700 "$W/spool"
cat >"$W/signer.conf" <<EOF
[service]
mode = development
[log]
level = warn
[signer]
backend = file
key_dir = $W/pki
socket = $W/signer.sock
[database]
conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_app
password_file = $W/app.pw
EOF
cat >"$W/erds.conf" <<EOF
[service]
mode = development
domains = example.test
demo_accounts = true
[log]
level = warn
[http]
address = 127.0.0.1
port = 0
tls_certificate = $W/pki/tls.pem
tls_key = $W/pki/tls.key
[database]
conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_app
password_file = $W/app.pw
pool_size = 24
owner_conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_owner
owner_password_file = $W/owner.pw
[secrets]
kek_file = $W/kek
[signer]
mode = socket
socket = $W/signer.sock
[tsa]
source = builtin
require_synced_clock = false
[smtp]
submission_port = 0
mx_port = 0
hostname = localhost
tls_certificate = $W/pki/tls.pem
tls_key = $W/pki/tls.key
spool_dir = $W/spool
mx_rate_per_minute = 10000000
max_messages_per_connection = 100000
max_connections = 500
relay_host = 127.0.0.1
relay_port = 9
EOF
chmod 600 "$W"/*.conf
unset PGUSER PGDATABASE
"$BUILD/erdsctl" db migrate --config "$W/erds.conf" >/dev/null
psql -q -U postgres -d erds -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
PSQLA="psql -U postgres -d erds -Atq"
# CPU ticks (utime + stime) of PostgreSQL (every process of the cluster) and of erds-signer.
ticks() { for p in "$@"; do awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || true; done | awk '{s += $1} END {print s + 0}'; }
pg_ticks() { PM=$(head -n 1 "$W/pg/data/postmaster.pid"); ticks $PM $(ps -o pid= --ppid $PM); }
# stats_begin N_QUERY; ...run...; stats_end N_QUERY: statements and commits per stored message since
# stats_begin (N_QUERY counts the messages stored by the run).
stats_begin() {
  $PSQLA -c "SELECT pg_stat_statements_reset()" >/dev/null
  N0=$($PSQLA -c "$1")
  PG0=$(pg_ticks); SG0=$(ticks $SIGNER)
}
stats_end() {
  PG1=$(pg_ticks); SG1=$(ticks $SIGNER)
  N=$(( $($PSQLA -c "$1") - N0 ))
  [ "$N" -gt 0 ] || { echo "round trips: no message stored"; return 0; }
  echo "CPU ms per stored message: postgres $(echo "scale=3; 1000 * ($PG1 - $PG0) / $(getconf CLK_TCK) / $N" | bc), erds-signer $(echo "scale=3; 1000 * ($SG1 - $SG0) / $(getconf CLK_TCK) / $N" | bc)"
  echo "round trips per stored message ($N messages): statements $($PSQLA -c "SELECT round(sum(calls)::numeric / $N, 2)
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'erds')"), commits $($PSQLA -c "SELECT
    coalesce(round(sum(calls)::numeric / $N, 2), 0) FROM pg_stat_statements WHERE query = 'COMMIT'
    AND dbid = (SELECT oid FROM pg_database WHERE datname = 'erds')")"
  $PSQLA -c "SELECT '  ' || round(calls::numeric / $N, 2) || E'\t' || round((total_exec_time * 1000 / $N)::numeric, 0) || E' us\t' || left(regexp_replace(query, '\s+', ' ', 'g'), 90)
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'erds') ORDER BY calls DESC LIMIT 15"
}
$TASKSET "$BUILD/erds-signer" --config "$W/signer.conf" >"$W/signer.log" 2>&1 & SIGNER=$!; PIDS="$PIDS $SIGNER"
for _ in $(seq 1 100); do [ -S "$W/signer.sock" ] && break; sleep 0.2; done
$TASKSET "$BUILD/erdsd" --config "$W/erds.conf" >"$W/erdsd.log" 2>&1 & ERDSD=$!; PIDS="$PIDS $ERDSD"
for _ in $(seq 1 150); do
  psql -U postgres -d erds -Atc "SELECT count(*) FROM parties WHERE id = 'demo-sender'" 2>/dev/null | grep -q 1 && break; sleep 0.2
done
$TASKSET "$BUILD/erds-smtpd" --config "$W/erds.conf" --port-file "$W/ports" >"$W/smtpd.log" 2>&1 & SMTPD=$!; PIDS="$SMTPD $PIDS"
for _ in $(seq 1 100); do [ -s "$W/ports" ] && break; sleep 0.2; done
SUB=$(sed -n 's/^submission=//p' "$W/ports"); MX=$(sed -n 's/^mx=//p' "$W/ports")
echo "== submission: $SESSIONS sessions x $MESSAGES messages of $SIZE bytes (STARTTLS + AUTH PLAIN)"
[ -n "${COUNT:-}" ] && kill -STOP "$ERDSD"
SUBMITTED="SELECT count(*) FROM evidence WHERE event = 'SubmissionAcceptance'"
stats_begin "$SUBMITTED"
cpu0=$(awk '{print $14+$15}' /proc/$SMTPD/stat)
# PERF=FILE: profile erds-smtpd during the submission run (perf record -g).
if [ -n "${PERF:-}" ]; then perf record -q -F 499 -g -p "$SMTPD" -o "$PERF" & PERF_PID=$!; sleep 0.5; fi
"$BUILD/erds_smtp_submit_bench" --port "$SUB" --user sender@example.test --password sender-demo-password \
  --to recipient@example.test --sessions "$SESSIONS" --messages "$MESSAGES" --size "$SIZE" || true
cpu1=$(awk '{print $14+$15}' /proc/$SMTPD/stat)
if [ -n "${PERF:-}" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
echo "erds-smtpd CPU: $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms for the run"
stats_end "$SUBMITTED"
psql -U postgres -d erds -Atc "SELECT 'stored SubmissionAcceptance: ' || count(*) FROM evidence WHERE event = 'SubmissionAcceptance'"
psql -U postgres -d erds -Atc "SELECT 'queued smtp.receipt jobs: ' || count(*) FROM jobs WHERE kind = 'smtp.receipt'"
[ -n "${SKIP_MX:-}" ] && exit 0
if [ -z "${COUNT:-}" ]; then
  # erdsd's workers still consign the submission run's messages: let that backlog drain first, so
  # that the MX run competes only with the processing of its own messages.
  printf "waiting for erdsd to work off the submission backlog ..."
  for _ in $(seq 1 600); do
    [ "$($PSQLA -c "SELECT count(*) FROM jobs WHERE state = 'pending' AND run_at <= now()")" = 0 ] && break
    sleep 1
  done
  echo " done"
fi
echo "== inbound MX (smtp-source, ${MX_SESSIONS:-20} sessions, 5 KiB, $MX_N messages)"
RECEIVED="SELECT count(*) FROM evidence WHERE event = 'ReceivedFromNonERDS'"
stats_begin "$RECEIVED"
cpu0=$(awk '{print $14+$15}' /proc/$SMTPD/stat)
# PERF_MX=FILE: profile the whole machine during the MX runs (perf record -a -g; PERF_MX_ARGS
# replaces "-a -g", e.g. PERF_MX_ARGS="--call-graph dwarf -p SMTPD" for erds-smtpd's stacks).
if [ -n "${PERF_MX:-}" ]; then
  # shellcheck disable=SC2086
  perf record -q -F 999 $(echo "${PERF_MX_ARGS:--a -g}" | sed "s/SMTPD/$SMTPD/; s/SIGNER/$SIGNER/") -o "$PERF_MX" & PERF_PID=$!; sleep 0.5
fi
# STRACE_MX=FILE: count erds-smtpd's system calls during the MX runs (strace -c; slows it down).
if [ -n "${STRACE_MX:-}" ]; then strace -c -f -p "$SMTPD" -o "$STRACE_MX" & STRACE_PID=$!; sleep 0.5; fi
PSQL_CONNINFO="host=$PGHOST port=$PGPORT dbname=erds user=postgres" sh "$HERE/mx_bench.sh" "$MX" "$MX_N" recipient@example.test || true
if [ -n "${PERF_MX:-}" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
if [ -n "${STRACE_MX:-}" ]; then kill -INT "$STRACE_PID"; wait "$STRACE_PID" || true; fi
cpu1=$(awk '{print $14+$15}' /proc/$SMTPD/stat)
echo "erds-smtpd CPU: $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms for the MX run (incl. the smtp-sink ceiling run: 0 ms of erds-smtpd)"
stats_end "$RECEIVED"
[ -n "${COUNT:-}" ] && kill -CONT "$ERDSD"
psql -U postgres -d erds -Atc "SELECT 'MX audit notes: ' || string_agg(DISTINCT details->>'note', ' | ') FROM audit_log WHERE action = 'message.received'"
