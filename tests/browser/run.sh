#!/usr/bin/env bash
# End-to-end browser test of the web portal (SCENARIOS.md 1 and 5) in headless Chromium.
# Usage: tests/browser/run.sh [BUILD_DIR]   (default: build/; needs BUILD_DIR/erdsd and erdsctl)
# Uses the PostgreSQL of the PG* environment (as `./erds test` provides; a fresh database is
# created in it), or starts a private throwaway cluster. Creates a development PKI, migrates,
# issues a client certificate for the demo officer, starts erdsd on a free port (plus the
# client-certificate listener on another free port), runs portal.test.mjs, and stops everything. Screenshots and
# downloaded evidence go to tests/browser/artifacts/. Exit status: 0 only if every check passed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ERDSD=$BUILD/erdsd
ERDSCTL=$BUILD/erdsctl
for b in "$ERDSD" "$ERDSCTL"; do [ -x "$b" ] || { echo "browser tests: $b is missing (build first)" >&2; exit 1; }; done

"$HERE/setup.sh"

WORK=$(mktemp -d /tmp/erds-browser.XXXXXX)
chmod 755 "$WORK"
ERDSD_PID=""
STARTED_PG=""
cleanup() {
  local rc=$?
  if [ -n "$ERDSD_PID" ] && kill -0 "$ERDSD_PID" 2>/dev/null; then
    kill -TERM "$ERDSD_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$ERDSD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ERDSD_PID" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ] && [ -f "$WORK/erdsd.log" ]; then
    echo "---- erdsd log (last 40 lines) ----" >&2; tail -n 40 "$WORK/erdsd.log" >&2
  fi
  [ -f "$WORK/erdsd.log" ] && cp "$WORK/erdsd.log" "$HERE/artifacts/erdsd.log" 2>/dev/null || true
  [ -n "$STARTED_PG" ] && "$ROOT/scripts/pg.sh" test-stop "$STARTED_PG" || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM
mkdir -p "$HERE/artifacts"
rm -f "$HERE"/artifacts/*.png "$HERE"/artifacts/*.xml "$HERE"/artifacts/*.zip

if [ -z "${PGHOST:-}" ]; then
  eval "$("$ROOT/scripts/pg.sh" test-start)"
  STARTED_PG=$PGTMP
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
DB="erds_browser_$$_$RANDOM"
psql_super() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}" "$@"; }
psql_super -c "CREATE DATABASE $DB" >/dev/null
psql_super -c "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='erds_browser_app') THEN CREATE ROLE erds_browser_app LOGIN; END IF; END\$\$" >/dev/null

"$ERDSCTL" pki init --dir "$WORK/pki" >/dev/null
# A client certificate for the officer (certificate sign-in, SCENARIOS.md 5), issued by the
# development root; registered to her account by the test itself.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=DEVELOPMENT Carla Officer/O=erds browser test" \
  -keyout "$WORK/officer-client.key" -out "$WORK/officer-client.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$WORK/client.ext"
openssl x509 -req -in "$WORK/officer-client.csr" -CA "$WORK/pki/root-ca.pem" -CAkey "$WORK/pki/root-ca.key" -CAcreateserial \
  -days 30 -sha256 -extfile "$WORK/client.ext" -out "$WORK/officer-client.pem" 2>/dev/null
# A signing certificate (NCP policy, e-mail address of the demo sender) for the signed-challenge
# identification.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=DEVELOPMENT Anna Sender/O=erds browser test" \
  -keyout "$WORK/sender-sign.key" -out "$WORK/sender-sign.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\ncertificatePolicies=0.4.0.2042.1.1\nsubjectAltName=email:sender@example.test\n' >"$WORK/sign.ext"
openssl x509 -req -in "$WORK/sender-sign.csr" -CA "$WORK/pki/root-ca.pem" -CAkey "$WORK/pki/root-ca.key" -CAcreateserial \
  -days 30 -sha256 -extfile "$WORK/sign.ext" -out "$WORK/sender-sign.pem" 2>/dev/null
CERT_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
cat >"$WORK/erds.ini" <<INI
[service]
mode = development
demo_accounts = true
[log]
level = info
[http]
address = 127.0.0.1
port = 0
tls_certificate = $WORK/pki/tls.pem
tls_key = $WORK/pki/tls.key
client_cert_port = $CERT_PORT
[database]
conninfo = host=$PGHOST port=${PGPORT:-5432} user=erds_browser_app dbname=$DB
owner_conninfo = host=$PGHOST port=${PGPORT:-5432} user=${PGUSER:-postgres} dbname=$DB
app_role = erds_browser_app
[identity]
client_ca_file = $WORK/pki/root-ca.pem
[signer]
mode = inprocess
key_dir = $WORK/pki
[tsa]
require_synced_clock = false
INI
"$ERDSCTL" db migrate --config "$WORK/erds.ini" >/dev/null

"$ERDSD" --config "$WORK/erds.ini" >"$WORK/erdsd.log" 2>&1 &
ERDSD_PID=$!
PORT=""
for _ in $(seq 1 300); do
  PORT=$(grep -o '"http.listening".*' "$WORK/erdsd.log" | grep -o '"port":[0-9]*' | head -n1 | cut -d: -f2 || true)
  [ -n "$PORT" ] && break
  kill -0 "$ERDSD_PID" 2>/dev/null || { echo "browser tests: erdsd exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "browser tests: erdsd did not report http.listening" >&2; exit 1; }
OFFICER_TOTP=""
for _ in $(seq 1 300); do
  OFFICER_TOTP=$(grep '"identity.demo_account"' "$WORK/erdsd.log" | grep 'officer@' | grep -o '"totp_secret_base32":"[A-Z2-7=]*"' | cut -d'"' -f4 || true)
  [ -n "$OFFICER_TOTP" ] && break
  sleep 0.1
done
[ -n "$OFFICER_TOTP" ] || { echo "browser tests: demo accounts were not seeded" >&2; exit 1; }

ERDS_URL="https://127.0.0.1:$PORT" ERDS_CERT_URL="https://127.0.0.1:$CERT_PORT" \
  ERDS_SENDER_SIGN_CERT="$WORK/sender-sign.pem" ERDS_SENDER_SIGN_KEY="$WORK/sender-sign.key" \
  ERDS_OFFICER_CERT="$WORK/officer-client.pem" ERDS_OFFICER_KEY="$WORK/officer-client.key" ERDS_OFFICER_TOTP="$OFFICER_TOTP" ERDSCTL="$ERDSCTL" \
  ERDS_TRUST="$WORK/pki/root-ca.pem" ERDS_ARTIFACTS="$HERE/artifacts" \
  node "$HERE/portal.test.mjs"
