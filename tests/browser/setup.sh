#!/usr/bin/env bash
# Installs what the browser tests need: Debian chromium (+ chromium-driver) and the npm packages
# of package.json (playwright-core, axe-core). Idempotent; fails loudly, never skips.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "browser tests: /usr/bin/chromium is missing (apt-get install -y --no-install-recommends chromium chromium-driver)" >&2
    exit 1
  fi
fi
command -v node >/dev/null || { echo "browser tests: node is missing (apt-get install -y nodejs npm)" >&2; exit 1; }
cd "$HERE"
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null || npm install --no-audit --no-fund >/dev/null
  else npm install --no-audit --no-fund >/dev/null; fi
fi
