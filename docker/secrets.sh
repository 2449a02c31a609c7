#!/usr/bin/env bash
# Prepares docker/secrets/ and docker/pki/ for compose.yaml on a Docker host, as root:
# random database passwords and KEK (as ./erds up makes them), each file mode 0400 and owned by the
# container user that reads it (erds = 10001, erds-signer = 10002, erds-smtp = 10003, postgres = 999
# in the postgres image). The sealing/TSU keys go to docker/signer-keys/ (erds-signer only).
# The development PKI comes from `erdsctl pki init` (default: reuse ../var/pki made by ./erds up).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ "$(id -u)" = 0 ] || { echo "docker/secrets.sh: run as root (it sets file owners)" >&2; exit 1; }
pki_src=${1:-../var/pki}
[ -f "$pki_src/tls.pem" ] || { echo "docker/secrets.sh: no PKI in $pki_src (run: build/erdsctl pki init --dir var/pki)" >&2; exit 1; }
install -d -m 0755 secrets pki
install -d -o 10002 -g 10002 -m 0500 signer-keys
[ -f "$pki_src/root-ca.crl.pem" ] || { echo "docker/secrets.sh: no root-ca.crl.pem in $pki_src (a PKI from an older erdsctl: make a new one with build/erdsctl pki init --dir $pki_src --force)" >&2; exit 1; }
cp "$pki_src/tls.pem" "$pki_src/root-ca.pem" "$pki_src/root-ca.crl.pem" pki/
put() {  # name owner content-command
  local name=$1 owner=$2; shift 2
  [ -s "secrets/$name" ] || (umask 077; "$@" >"secrets/$name")
  chown "$owner:$owner" "secrets/$name"; chmod 0400 "secrets/$name"
}
put db_super_password.pg 999 openssl rand -hex 24
put db_owner_password 10001 openssl rand -hex 24
put db_app_password 10001 openssl rand -hex 24
put kek 10001 openssl rand -hex 32
put tls_key 10001 cat "$pki_src/tls.key"
# The postgres container needs its own copies of the two role passwords (its user differs).
put db_owner_password.pg 999 cat secrets/db_owner_password
put db_app_password.pg 999 cat secrets/db_app_password
# Each of erds-smtpd and erds-signer reads its own copy (owned by its user).
put db_app_password.smtp 10003 cat secrets/db_app_password
put kek.smtp 10003 cat secrets/kek
put tls_key.smtp 10003 cat "$pki_src/tls.key"
put db_app_password.signer 10002 cat secrets/db_app_password
# erds-signer's key directory (layout of erdsctl pki init; the root certificate completes chains).
for f in seal.pem tsu.pem root-ca.pem; do install -o 10002 -g 10002 -m 0444 "$pki_src/$f" signer-keys/; done
for f in seal.key tsu.key; do install -o 10002 -g 10002 -m 0400 "$pki_src/$f" signer-keys/; done
echo "docker/secrets.sh: secrets in docker/secrets, signer keys in docker/signer-keys, certificates in docker/pki"
