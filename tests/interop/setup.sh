#!/bin/sh
# Installs the Node modules of the interop verifiers (xadesjs and friends) into tests/interop/node_modules.
# Run by ./erds test's scripts before the suite; safe to run again.
set -eu
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund || npm install --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
