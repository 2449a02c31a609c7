#!/usr/bin/env bash
# `./erds up`: install what is missing, build (release preset, build/), start the private durable
# PostgreSQL, create secrets / development PKI / var/erds.conf on first run, migrate, and run erdsd in
# the foreground. Ctrl-C or SIGTERM stops erdsd, then PostgreSQL. A second run keeps the data.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: ./erds up [--port N] [--no-deps] [--no-build]

Runs erds for development on this machine, in the foreground, with its logs on the terminal:
  1. installs the missing Debian packages (scripts/deps.sh; needs root or sudo),
  2. configures and builds the release preset into build/ (erdsd, erdsctl),
  3. starts a private, durable PostgreSQL (var/pg, or /var/lib/erds/<hash>/pg when the postgres user
     cannot traverse the checkout; Unix socket only, scram-sha-256) with roles erds_owner (migrations)
     and erds_app (the daemon), and database erds,
  4. on first run creates var/secrets/{db-owner.pw,db-app.pw,kek} (0600) and the development PKI
     in var/pki (erdsctl pki init),
  5. writes var/erds.conf (service.mode = development; regenerated on every run: override keys
     with ERDS_* environment variables, e.g. ERDS_LOG_LEVEL=debug),
  6. applies migrations (erdsctl db migrate) and starts erdsd.
Ctrl-C / SIGTERM stops erdsd, then PostgreSQL. Data in var/ survives; delete var/ to start afresh.

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
  [ ${#targets[@]} -gt 0 ] || erds_die "up: no erdsd/erdsctl target in the build yet (erds-core/erdsd is still a placeholder)"
  cmake --build "$BUILD" -j"$ERDS_JOBS" --target "${targets[@]}" \
    || erds_die "up: build failed (see the compiler output above)"
fi
for b in erdsd erdsctl; do
  [ -x "$BUILD/$b" ] || erds_die "up: $BUILD/$b does not exist (not built yet?)"
done
t_build=$((SECONDS - t0))

# From here on PostgreSQL runs: whatever happens, stop erdsd first, then PostgreSQL.
ERDSD_PID=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$ERDSD_PID" ] && kill -0 "$ERDSD_PID" 2>/dev/null; then
    erds_say "up: stopping erdsd (pid $ERDSD_PID)"
    kill -TERM "$ERDSD_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$ERDSD_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$ERDSD_PID" 2>/dev/null; then
      erds_say "up: erdsd did not stop within 20 s; killing it"
      kill -KILL "$ERDSD_PID" 2>/dev/null || true
    fi
    wait "$ERDSD_PID" 2>/dev/null || true
  fi
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

CONF="$VAR/erds.conf"
(umask 077; cat >"$CONF.tmp" <<EOF
# Generated by ./erds up on every run: edits here are overwritten. Override non-secret keys with
# ERDS_* environment variables (ERDS_LOG_LEVEL=debug ./erds up). All keys: erds.conf.example.
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

[database]
conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_app
password_file = $SECRETS/db-app.pw
app_role = erds_app
owner_conninfo = host=$PGHOST port=$PGPORT dbname=erds user=erds_owner
owner_password_file = $SECRETS/db-owner.pw

[secrets]
kek_file = $SECRETS/kek

[metrics]
enabled = true
EOF
)
chmod 644 "$CONF.tmp"; mv "$CONF.tmp" "$CONF"

"${ERDS_CLEAN_ENV[@]}" "$BUILD/erdsctl" db migrate --config "$CONF" || erds_die "up: erdsctl db migrate --config var/erds.conf failed"

erds_say "up: starting erdsd"
# The terminal gets the logs; a copy goes to var/log/erdsd.log (demo credentials are read from it).
mkdir -p "$VAR/log"; LOG="$VAR/log/erdsd.log"; : >"$LOG"
"${ERDS_CLEAN_ENV[@]}" "$BUILD/erdsd" --config "$CONF" 9>&- > >(trap "" INT TERM; exec tee -a "$LOG") 2>&1 &
ERDSD_PID=$!

eff_port=${ERDS_HTTP_PORT:-$port}
base="https://localhost:$eff_port"
ready=0
for _ in $(seq 1 120); do
  kill -0 "$ERDSD_PID" 2>/dev/null || break
  if curl -fsS -o /dev/null --max-time 2 --cacert "$VAR/pki/root-ca.pem" "$base/healthz" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  if ! kill -0 "$ERDSD_PID" 2>/dev/null; then
    rc=0; wait "$ERDSD_PID" || rc=$?; ERDSD_PID=
    erds_die "up: erdsd exited with status $rc before answering $base/healthz"
  fi
  erds_say "up: erdsd does not answer $base/healthz yet; leaving it running"
fi

# Demo accounts: erdsd seeds them in development mode and logs one "identity.demo_account" line each.
json_field() { sed -nE "s/.*\"$1\":\"([^\"]*)\".*/\1/p" <<<"$2"; }
demo=""
if "${ERDS_CLEAN_ENV[@]}" "$BUILD/erdsctl" --help 2>&1 | grep -qE '^[[:space:]]*user([[:space:]]|$)'; then
  for _ in $(seq 1 20); do grep -q '"identity.demo_account"' "$LOG" && break; sleep 0.5; done
  sleep 0.5
  while IFS= read -r line; do
    demo+=$'\n'"   $(json_field identifier "$line")  password: $(json_field password "$line")  ($(json_field description "$line"))"
    totp=$(json_field totp_secret_base32 "$line")
    [ -z "$totp" ] || demo+=$'\n'"     TOTP secret (base32): $totp"
  done < <(grep '"identity.demo_account"' "$LOG" || true)
  [ -n "$demo" ] || demo=" not seeded yet (look for identity.demo_account in var/log/erdsd.log)"
else
  demo=" none yet (the identity component has not been built)"
fi

cat >&2 <<EOF

==========================================================================================
 erds is running (development mode), ready in $(erds_fmt_secs $((SECONDS - t0))) (build $(erds_fmt_secs "$t_build")).
   Service     $base/
   Health      $base/healthz
   Readiness   $base/readyz
   Metrics     $base/metrics
   OpenAPI     $base/api/v1/openapi.json
 Trust the development CA: $VAR/pki/root-ca.pem
   curl --cacert var/pki/root-ca.pem $base/readyz
 Demo credentials:$demo
 Configuration: var/erds.conf   Database: erds on socket $PGHOST (port $PGPORT)
 Ctrl-C stops erdsd and PostgreSQL; data in var/ is kept.
==========================================================================================

EOF

rc=0
wait "$ERDSD_PID" || rc=$?
ERDSD_PID=
erds_say "up: erdsd exited with status $rc"
exit "$rc"
