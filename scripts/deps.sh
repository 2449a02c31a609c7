#!/usr/bin/env bash
# Installs the Debian 12 packages erds needs to build, test and run; only those that are missing.
# Usage: scripts/deps.sh [--check] [--list]
#   --check  report missing packages and exit 1 if any (installs nothing)
#   --list   print the package list and exit
# Extra packages: ERDS_EXTRA_PACKAGES="pkg1 pkg2" (space separated).
# Failure (not root and no sudo, or apt fails): ONE line naming the missing packages and the command
# to install them, exit 1. `apt-get update` runs only when something is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# TOOLCHAIN.md's CI line, plus what the scripts, sanitizers/fuzzing, HSM tests and peers use.
ERDS_PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config ca-certificates curl openssl
  libssl-dev libpoco-dev libmimetic-dev libpq-dev postgresql-15
  libxml2-dev libxmlsec1-dev xmlsec1 libxml2-utils
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev libargon2-dev
  softhsm2 opensc libengine-pkcs11-openssl swaks libnet-ssleay-perl libio-socket-ssl-perl
  python3
  chromium
)
# chromium: tests/browser (playwright-core starts /usr/bin/chromium itself over CDP, so no
# chromium-driver). tests/interop and tests/browser also need node + npm (below).

mode=install
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --list) printf '%s\n' "${ERDS_PACKAGES[@]}"; exit 0 ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) erds_usage_die "deps: unknown option '$1' (try --help)" ;;
esac

command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
  || erds_die "deps: this needs Debian 12 (dpkg-query/apt-get not found); install the equivalents of: ${ERDS_PACKAGES[*]}"
if [ -r /etc/os-release ] && ! grep -q '^VERSION_ID="12"' /etc/os-release; then
  erds_say "deps: warning: only Debian 12 is supported; trying anyway"
fi

wanted=("${ERDS_PACKAGES[@]}")
# Node.js/npm (tests/browser, tests/interop) come from Debian only if no node/npm is on PATH at all.
command -v node >/dev/null 2>&1 || wanted+=(nodejs)
command -v npm >/dev/null 2>&1 || wanted+=(npm)
# shellcheck disable=SC2206
[ -n "${ERDS_EXTRA_PACKAGES:-}" ] && wanted+=(${ERDS_EXTRA_PACKAGES})

missing=()
for p in "${wanted[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  [ "$mode" = check ] && erds_say "deps: all ${#wanted[@]} packages installed"
  exit 0
fi

hint="sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$mode" = check ]; then
  erds_die "deps: missing Debian packages: ${missing[*]}; install with: $hint"
fi

if erds_is_root; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
  SUDO=(sudo)   # interactive: sudo may ask for the password once
else
  erds_die "deps: missing Debian packages: ${missing[*]}; not root and no sudo: install with: $hint"
fi

erds_say "deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
log=$(mktemp /tmp/erds-apt.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold)
if ! "${SUDO[@]}" apt-get -q -o DPkg::Lock::Timeout=300 update >"$log" 2>&1 \
   || ! "${SUDO[@]}" apt-get install "${apt_opts[@]}" "${missing[@]}" >>"$log" 2>&1; then
  reason=$(grep -E '^(E|W): ' "$log" | head -n 1 | cut -c1-160 || true)
  erds_die "deps: could not install: ${missing[*]} (${reason:-apt-get failed}; full log: $log); install with: $hint"
fi
rm -f "$log"

still=()
for p in "${missing[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || still+=("$p")
done
[ ${#still[@]} -eq 0 ] || erds_die "deps: still missing after apt-get: ${still[*]}; install with: sudo apt-get install -y ${still[*]}"
erds_say "deps: installed ${missing[*]}"
