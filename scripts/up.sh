#!/usr/bin/env bash
# `./erds up`: install what is missing, build (release preset, build/), start the private durable
# PostgreSQL, create secrets / development PKI on first run, write var/erds-signer.conf and
# var/erds.conf, migrate, and run erds-signer, erdsd and erds-smtpd in the foreground. Ctrl-C or
# SIGTERM stops erds-smtpd, erdsd, erds-signer, then PostgreSQL. A second run keeps the data.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: ./erds up [--port N] [--no-deps] [--no-build]

Runs erds for development on this machine, in the foreground, with its logs on the terminal:
  1. installs the missing Debian packages (scripts/deps.sh; needs root or sudo),
  2. configures and builds the release preset into build/ (erdsd, erdsctl, erds-signer, erds-smtpd),
  3. starts a private, durable PostgreSQL (var/pg, or /var/lib/erds/<hash>/pg when the postgres user
     cannot traverse the checkout; Unix socket only, scram-sha-256) with roles erds_owner (migrations)
     and erds_app (the daemon), and database erds,
  4. on first run creates var/secrets/{db-owner.pw,db-app.pw,kek} (0600) and the development PKI
     in var/pki (erdsctl pki init),
  5. writes var/erds-signer.conf (the only file naming the keys: signer.key_dir = var/pki) and
     var/erds.conf (erdsd + erds-smtpd: signer.mode = socket, no key), both service.mode =
     development and regenerated on every run (override keys with ERDS_* environment variables,
     e.g. ERDS_LOG_LEVEL=debug),
  6. applies migrations (erdsctl db migrate), starts erds-signer and waits for its socket
     (var/run/erds-signer.sock), then erdsd (HTTPS, web portal + API) and erds-smtpd (SMTP
     submission 2525, MX 2526). Logs go to the terminal and to var/log/<daemon>.log.
Ctrl-C / SIGTERM stops erds-smtpd, erdsd, erds-signer, then PostgreSQL. Data in var/ survives;
delete var/ to start afresh.

Options:
  --port N     HTTPS port (default 8443)
  --no-deps    do not check/install Debian packages
  --no-build   do not configure/build (use what is in build/)
  -h, --help   this text
Environment: ERDS_CMAKE_ARGS (extra cmake configure arguments, e.g.
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache), ERDS_JOBS (build jobs, default 2), ERDS_PG_PORT.
EOF
}

port=8443 do_deps=1 do_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || erds_usage_die "up: --port needs a value"; port=$2; shift 2 ;;
    --port=*) port=${1#--port=}; shift ;;
    --no-deps) do_deps=0; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) erds_usage_die "up: unknown option '$1' (try ./erds up --help)" ;;
  esac
done
case "$port" in ''|*[!0-9]*) erds_usage_die "up: --port must be a number (got '$port')";; esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || erds_usage_die "up: --port must be 1..65535"

cd "$ERDS_ROOT"
VAR="$ERDS_ROOT/var"
BUILD="$ERDS_ROOT/build"
mkdir -p "$VAR"; chmod 755 "$VAR"

# One `./erds up` per checkout at a time: the second would stop the first one's PostgreSQL.
exec 9>"$VAR/.up.lock"
flock -n 9 || erds_die "up: another './erds up' is running for this checkout (lock $VAR/.up.lock)"

t0=$SECONDS
[ "$do_deps" = 1 ] && "$ERDS_ROOT/scripts/deps.sh"

if [ "$do_build" = 1 ]; then
  erds_say "up: configuring and building (release preset, build/)"
  # shellcheck disable=SC2086  # ERDS_CMAKE_ARGS is a word list on purpose
  cmake --preset release -DERDS_WERROR=ON ${ERDS_CMAKE_ARGS:-} >"$VAR/configure.log" 2>&1 \
    || { tail -n 30 "$VAR/configure.log" >&2; erds_die "up: cmake configure failed (log: var/configure.log)"; }
  targets=()
  for t in erdsd erdsctl erds-smtpd erds-signer; do
    ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q "^$t: " && targets+=("$t")
  done
  [ ${#targets[@]} -eq 4 ] || erds_die "up: the build lacks some of erdsd erdsctl erds-smtpd erds-signer (found: ${targets[*]:-none})"
  cmake --build "$BUILD" -j"$ERDS_JOBS" --target "${targets[@]}" \
    || erds_die "up: build failed (see the compiler output above)"
fi
for b in erdsd erdsctl erds-signer erds-smtpd; do
  [ -x "$BUILD/$b" ] || erds_die "up: $BUILD/$b does not exist (not built yet?)"
done
t_build=$((SECONDS - t0))

# From here on PostgreSQL runs: whatever happens, stop erds-smtpd, erdsd, erds-signer (in this
# order: the clients before the signer they use), then PostgreSQL.
SMTPD_PID= ERDSD_PID= SIGNER_PID=
stop_daemon() {   # NAME PID
  local name=$1 pid=$2
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    erds_say "up: stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      erds_say "up: $name did not stop within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM
  stop_daemon erds-smtpd "$SMTPD_PID"; SMTPD_PID=
  stop_daemon erdsd "$ERDSD_PID"; ERDSD_PID=
  stop_daemon erds-signer "$SIGNER_PID"; SIGNER_PID=
  rm -f "$VAR/run/erds-smtpd.ports"
  "$ERDS_ROOT/scripts/pg.sh" stop || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ERDS_ROOT/scripts/pg.sh" start 9>&-   # the server must not inherit the lock
eval "$("$ERDS_ROOT/scripts/pg.sh" env)"   # PGHOST (socket dir), PGPORT
unset PGUSER PGDATABASE PGPASSWORD

SECRETS="$VAR/secrets"
if [ ! -s "$SECRETS/kek" ]; then
  (umask 077; openssl rand -hex 32 >"$SECRETS/kek")
  erds_say "up: created the key-encryption key var/secrets/kek"
fi
chmod 600 "$SECRETS/kek" "$SECRETS"/db-*.pw

if [ ! -d "$VAR/pki" ]; then
  "${ERDS_CLEAN_ENV[@]}" "$BUILD/erdsctl" pki init --dir "$VAR/pki" || erds_die "up: erdsctl pki init --dir var/pki failed"
fi
mkdir -p "$VAR/run" "$VAR/spool" "$VAR/log"
# The root's CRL (pki init writes it; older var/pki directories lack it): sealing validates it and
# embeds it in every evidence (xades:RevocationValues), so evidence can later be raised to B-LT.
crl_lines=
if [ -f "$VAR/pki/root-ca.crl.pem" ]; then
  crl_lines="crl_files = $VAR/pki/root-ca.crl.pem
ca_file = $VAR/pki/root-ca.pem"
fi
chmod 700 "$VAR/run" "$VAR/spool"

# erds-signer's own configuration: the only file that names the sealing / time-stamping keys.
SIGNER_CONF="$VAR/erds-signer.conf"
SIGNER_SOCK="$VAR/run/erds-signer.sock"
(umask 077; cat >"$SIGNER_CONF.tmp" <<EOF
# Generated by ./erds up on every run: edits here are overwritten. erds-signer only: it holds the
# evidence-sealing and time-stamping keys; erdsd and erds-smtpd reach them through the socket.
[service]
mode = development

[log]
level = info

[signer]
backend = file
key_dir = $VAR/pki
socket = $SIGNER_SOCK

# Audit trail of every signature (hash chain in the erds database, daemon role).
[database]
conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_app
password_file = $SECRETS/db-app.pw
EOF
)
chmod 600 "$SIGNER_CONF.tmp"; mv "$SIGNER_CONF.tmp" "$SIGNER_CONF"

CONF="$VAR/erds.conf"
(umask 077; cat >"$CONF.tmp" <<EOF
# Generated by ./erds up on every run: edits here are overwritten. Read by erdsd, erds-smtpd and
# erdsctl. Override non-secret keys with ERDS_* environment variables (ERDS_LOG_LEVEL=debug
# ./erds up). All keys: erds.conf.example. It names no signing key: those are erds-signer's
# (var/erds-signer.conf).
[service]
mode = development
name = erds
domains = example.test
demo_accounts = true

[log]
level = info

[http]
address = 127.0.0.1
port = $port
tls_certificate = $VAR/pki/tls.pem
tls_key = $VAR/pki/tls.key
# client_cert_port (8444) only listens once identity.client_ca_file is set.

[database]
conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_app
password_file = $SECRETS/db-app.pw
app_role = erds_app
owner_conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_owner
owner_password_file = $SECRETS/db-owner.pw

[secrets]
# Shared by erdsd and erds-smtpd (content encryption, TOTP seeds).
kek_file = $SECRETS/kek

[signer]
mode = socket
socket = $SIGNER_SOCK
$crl_lines

[tsa]
source = builtin
# This development VM's kernel reports an unsynchronised clock (adjtimex: TIME_ERROR), so the
# built-in time-stamping unit would refuse to issue tokens. Development mode ignores the check
# anyway; keep it true in production and run NTP/chrony.
require_synced_clock = false

[smtp]
address = 127.0.0.1
submission_port = 2525
mx_port = 2526
hostname = localhost
tls_certificate = $VAR/pki/tls.pem
tls_key = $VAR/pki/tls.key
spool_dir = $VAR/spool

[portal]
verify_trust_file = $VAR/pki/root-ca.pem

[metrics]
enabled = true
EOF
)
chmod 644 "$CONF.tmp"; mv "$CONF.tmp" "$CONF"

"${ERDS_CLEAN_ENV[@]}" "$BUILD/erdsctl" db migrate --config "$CONF" || erds_die "up: erdsctl db migrate --config var/erds.conf failed"

# start_daemon NAME ARGS...: runs one daemon in the background, its output on the terminal and in
# var/log/NAME.log; sets STARTED_PID. Each daemon gets its own session (setsid), so a Ctrl-C on the
# terminal reaches only this script, which then stops them in order; the tee ignores Ctrl-C so the
# last log lines still arrive.
start_daemon() {
  local name=$1; shift
  local log="$VAR/log/$name.log"
  : >"$log"
  setsid "${ERDS_CLEAN_ENV[@]}" "$@" 9>&- </dev/null > >(trap "" INT TERM; exec tee -a "$log") 2>&1 &
  STARTED_PID=$!
}
# died NAME PID: after a daemon exited early, reports its status and the end of its log.
died() {
  local rc=0; wait "$2" 2>/dev/null || rc=$?
  tail -n 5 "$VAR/log/$1.log" >&2 || true
  erds_die "up: $1 exited with status $rc during start-up (log: var/log/$1.log)"
}

# 1. erds-signer, and wait for its socket: its clients need it for every evidence.
[ -S "$SIGNER_SOCK" ] && erds_say "up: a socket exists at var/run/erds-signer.sock (stale? erds-signer decides)"
erds_say "up: starting erds-signer"
start_daemon erds-signer "$BUILD/erds-signer" --config "$SIGNER_CONF"; SIGNER_PID=$STARTED_PID
ok=0
for _ in $(seq 1 100); do
  kill -0 "$SIGNER_PID" 2>/dev/null || died erds-signer "$SIGNER_PID"
  if [ -S "$SIGNER_SOCK" ] && grep -q '"signer.started"' "$VAR/log/erds-signer.log"; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || erds_die "up: erds-signer did not create var/run/erds-signer.sock within 20 s"

# 2. erdsd (HTTPS: portal + API), wait for /healthz.
erds_say "up: starting erdsd"
start_daemon erdsd "$BUILD/erdsd" --config "$CONF"; ERDSD_PID=$STARTED_PID
eff_port=${ERDS_HTTP_PORT:-$port}
base="https://localhost:$eff_port"
ready=0
for _ in $(seq 1 120); do
  kill -0 "$ERDSD_PID" 2>/dev/null || died erdsd "$ERDSD_PID"
  if curl -fsS -o /dev/null --max-time 2 --cacert "$VAR/pki/root-ca.pem" "$base/healthz" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.5
done
[ "$ready" = 1 ] || erds_say "up: erdsd does not answer $base/healthz yet; leaving it running"

# 3. erds-smtpd (submission + MX); --port-file tells when both listeners are bound.
erds_say "up: starting erds-smtpd"
PORTS_FILE="$VAR/run/erds-smtpd.ports"; rm -f "$PORTS_FILE"
start_daemon erds-smtpd "$BUILD/erds-smtpd" --config "$CONF" --port-file "$PORTS_FILE"; SMTPD_PID=$STARTED_PID
for _ in $(seq 1 100); do
  kill -0 "$SMTPD_PID" 2>/dev/null || died erds-smtpd "$SMTPD_PID"
  [ -s "$PORTS_FILE" ] && break
  sleep 0.2
done
[ -s "$PORTS_FILE" ] || erds_say "up: erds-smtpd has not bound its ports yet; leaving it running"
sub_port=${ERDS_SMTP_SUBMISSION_PORT:-2525} mx_port=${ERDS_SMTP_MX_PORT:-2526}

# Demo accounts: erdsd seeds them in development mode and logs one "identity.demo_account" line each.
json_field() { sed -nE "s/.*\"$1\":\"([^\"]*)\".*/\1/p" <<<"$2"; }
demo=""
for _ in $(seq 1 20); do grep -q '"identity.demo_account"' "$VAR/log/erdsd.log" && break; sleep 0.5; done
while IFS= read -r line; do
  demo+=$'\n'"   $(json_field identifier "$line")  password: $(json_field password "$line")  ($(json_field description "$line"))"
  totp=$(json_field totp_secret_base32 "$line")
  [ -z "$totp" ] || demo+=$'\n'"     TOTP secret (base32): $totp"
done < <(grep '"identity.demo_account"' "$VAR/log/erdsd.log" || true)
[ -n "$demo" ] || demo=" not seeded yet (look for identity.demo_account in var/log/erdsd.log)"

cat >&2 <<EOF

==========================================================================================
 erds is running (development mode), ready in $(erds_fmt_secs $((SECONDS - t0))) (build $(erds_fmt_secs "$t_build")).
   Web portal  $base/
   API         $base/api/v1/   (OpenAPI: $base/api/v1/openapi.json)
   Health      $base/healthz   Readiness: $base/readyz
   Metrics     $base/metrics
   SMTP        submission localhost:$sub_port (STARTTLS + AUTH PLAIN/LOGIN), MX localhost:$mx_port
 Trust the development CA: var/pki/root-ca.pem
   curl --cacert var/pki/root-ca.pem $base/readyz
   swaks --server 127.0.0.1:$sub_port --tls \\
     --auth PLAIN --auth-user sender@example.test --auth-password sender-demo-password \\
     --from sender@example.test --to recipient@example.test --header 'Subject: hello'
 Demo credentials (development only; accounts with TOTP cannot use SMTP AUTH):$demo
 Processes: erds-signer $SIGNER_PID (var/erds-signer.conf, socket var/run/erds-signer.sock),
   erdsd $ERDSD_PID and erds-smtpd $SMTPD_PID (var/erds.conf); logs in var/log/
 Database: erds on socket $PGHOST (port $PGPORT)
 Ctrl-C stops erds-smtpd, erdsd, erds-signer and PostgreSQL; data in var/ is kept.
==========================================================================================

EOF

# Run until a daemon exits or we are stopped (the traps then stop the rest).
rc=0
wait -n "$SMTPD_PID" "$ERDSD_PID" "$SIGNER_PID" || rc=$?
for pair in "erds-smtpd:$SMTPD_PID" "erdsd:$ERDSD_PID" "erds-signer:$SIGNER_PID"; do
  kill -0 "${pair#*:}" 2>/dev/null || erds_say "up: ${pair%%:*} exited (status $rc); stopping the rest"
done
exit "$rc"
