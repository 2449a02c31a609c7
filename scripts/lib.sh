# shellcheck shell=bash
# Helpers shared by ./erds and scripts/*.sh. Source it; it defines no side effects beyond variables.
# Contract: ERDS_ROOT is the checkout; messages go to stderr prefixed "erds:"; die() exits 1.

ERDS_ROOT=${ERDS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)}
export ERDS_ROOT

erds_say() { printf 'erds: %s\n' "$*" >&2; }
erds_die() { printf 'erds: %s\n' "$*" >&2; exit 1; }
# Usage errors exit 2, as every erds CLI does.
erds_usage_die() { printf 'erds: %s\n' "$*" >&2; exit 2; }

# Newest installed PostgreSQL server binaries (not on PATH on Debian).
erds_pgbin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] || erds_die "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/deps.sh)"
  printf '%s\n' "$d"
}

# PostgreSQL refuses to run as root: as root, server commands run as the "postgres" user.
erds_is_root() { [ "$(id -u)" = 0 ]; }
erds_as_server() {
  if erds_is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Seconds as "3m07s".
erds_fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Knobs read by the scripts. The daemons reject unknown ERDS_* variables (they are reserved for
# configuration overrides such as ERDS_HTTP_PORT), so binaries and tests run through ERDS_CLEAN_ENV.
ERDS_SCRIPT_VARS=(ERDS_ROOT ERDS_JOBS ERDS_CMAKE_ARGS ERDS_PG_PORT ERDS_EXTRA_PACKAGES ERDS_FUZZ_SECONDS)
ERDS_CLEAN_ENV=(env)
for _v in "${ERDS_SCRIPT_VARS[@]}"; do ERDS_CLEAN_ENV+=(-u "$_v"); done
unset _v

# Number of parallel jobs for builds and ctest (the development machines have 2 cores).
ERDS_JOBS=${ERDS_JOBS:-2}
