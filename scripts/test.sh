#!/usr/bin/env bash
# `./erds test`: install what is missing, then for the release preset (build/) and the asan preset
# (build-asan/): configure with -Werror, build everything, start a throwaway PostgreSQL, run ctest,
# stop PostgreSQL. Exits non-zero on any failure and ends with one summary line.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: ./erds test [--quick] [--asan-only] [--no-deps] [--keep-going] [-j N] [-- CTEST_ARGS...]

For each preset (release into build/, then asan = ASan+UBSan into build-asan/):
  configure with -DERDS_WERROR=ON, build all targets, start a throwaway PostgreSQL (temp dir, Unix
  socket, fast and not durable; PGHOST/PGPORT/PGUSER/PGDATABASE exported), run
  `ctest --preset <preset> -j N --output-on-failure`, stop PostgreSQL (also on failure or Ctrl-C).
Before the first ctest, once: tests/browser/setup.sh and tests/interop/setup.sh (npm ci || npm
install; quick when node_modules exists). After the release pass, `tests/run-extra.sh BUILD_DIR`
(the libFuzzer targets: tests/fuzz/run.sh --seconds ${ERDS_FUZZ_SECONDS:-15}, clang build in
build-fuzz/) runs with the same PostgreSQL environment; its exit status counts as one test.
Output ends with the per-step summary (wall time of each step), "erds test: OK" or
"erds test: FAILED (steps)", and last the line "erds test: N passed, N failed".

Options:
  --quick       release pass only (skip the asan pass)
  --asan-only   asan pass only
  --no-deps     do not check/install Debian packages
  --keep-going  run the asan pass even if the release pass failed
  -j N          parallel build and test jobs (default 2, or ERDS_JOBS)
  -- ARGS       passed to ctest (e.g. -- -R Config)
  -h, --help    this text
Environment: ERDS_CMAKE_ARGS (extra cmake configure arguments, e.g.
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache), ERDS_JOBS (default -j), ERDS_FUZZ_SECONDS (run time per fuzz
  target in tests/run-extra.sh, default 15).
EOF
}

presets=(release asan) do_deps=1 keep_going=0 ctest_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) presets=(release); shift ;;
    --asan-only) presets=(asan); shift ;;
    --no-deps) do_deps=0; shift ;;
    --keep-going) keep_going=1; shift ;;
    -j) [ $# -ge 2 ] || erds_usage_die "test: -j needs a value"; ERDS_JOBS=$2; shift 2 ;;
    -j*) ERDS_JOBS=${1#-j}; shift ;;
    --) shift; ctest_extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) erds_usage_die "test: unknown option '$1' (try ./erds test --help)" ;;
  esac
done
case "$ERDS_JOBS" in ''|*[!0-9]*|0) erds_usage_die "test: -j must be a positive number";; esac

cd "$ERDS_ROOT"
t_start=$SECONDS
total_pass=0 total_fail=0
report=()     # one line per step for the summary
failed_steps=()

PGTMP_CUR=
stop_pg() {
  if [ -n "$PGTMP_CUR" ]; then
    "$ERDS_ROOT/scripts/pg.sh" test-stop "$PGTMP_CUR" || true
    PGTMP_CUR=
  fi
}
trap stop_pg EXIT
trap 'erds_say "test: interrupted"; exit 130' INT
trap 'erds_say "test: terminated"; exit 143' TERM

step_fail() { failed_steps+=("$1"); report+=("$1: FAILED ($2)"); }

if [ "$do_deps" = 1 ]; then
  t=$SECONDS
  "$ERDS_ROOT/scripts/deps.sh"
  report+=("deps: ok ($(erds_fmt_secs $((SECONDS - t))))")
fi

# npm modules of the browser and interop tests: once, before the first ctest.
node_setup_done=0
node_setup() {
  [ "$node_setup_done" = 0 ] || return 0
  node_setup_done=1
  local t=$SECONDS s ok=1
  for s in tests/browser/setup.sh tests/interop/setup.sh; do
    [ -f "$ERDS_ROOT/$s" ] || continue
    erds_say "test: $s"
    if ! "${ERDS_CLEAN_ENV[@]}" bash "$ERDS_ROOT/$s"; then
      ok=0; step_fail "setup" "$s"; total_fail=$((total_fail + 1))
    fi
  done
  [ "$ok" = 0 ] || report+=("setup (npm: browser, interop): ok ($(erds_fmt_secs $((SECONDS - t))))")
}

run_preset() {
  local p=$1 dir t log out
  case "$p" in release) dir=build ;; asan) dir=build-asan ;; *) dir=build-$p ;; esac
  t=$SECONDS
  erds_say "test[$p]: configure + build ($dir/, -j$ERDS_JOBS)"
  # shellcheck disable=SC2086  # ERDS_CMAKE_ARGS is a word list on purpose
  if ! cmake --preset "$p" -DERDS_WERROR=ON ${ERDS_CMAKE_ARGS:-} >"/tmp/erds-configure-$p.$$.log" 2>&1; then
    cat "/tmp/erds-configure-$p.$$.log" >&2; rm -f "/tmp/erds-configure-$p.$$.log"
    step_fail "$p" "cmake configure"; total_fail=$((total_fail + 1)); return 0
  fi
  rm -f "/tmp/erds-configure-$p.$$.log"
  if ! cmake --build --preset "$p" -j"$ERDS_JOBS"; then
    step_fail "$p" "build, after $(erds_fmt_secs $((SECONDS - t)))"; total_fail=$((total_fail + 1)); return 0
  fi
  local t_build=$((SECONDS - t))

  node_setup
  t=$SECONDS
  local pgenv
  pgenv=$("$ERDS_ROOT/scripts/pg.sh" test-start) || { step_fail "$p" "PostgreSQL start"; total_fail=$((total_fail + 1)); return 0; }
  eval "$pgenv"
  PGTMP_CUR=$PGTMP
  export PGHOST PGPORT PGUSER PGDATABASE
  erds_say "test[$p]: PostgreSQL at $PGHOST; running ctest"

  log=$(mktemp "/tmp/erds-ctest-$p.XXXXXX")
  local rc=0
  "${ERDS_CLEAN_ENV[@]}" ctest --preset "$p" -j"$ERDS_JOBS" --output-on-failure --no-tests=error "${ctest_extra[@]}" 2>&1 \
    | tee "$log" || rc=$?   # pipefail: ctest's status
  # "100% tests passed, 0 tests failed out of 42"
  out=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  rm -f "$log"
  local n_fail=0 n_all=0
  if [ -n "$out" ]; then
    n_fail=$(sed -E 's/.*passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$out")
    n_all=$(sed -E 's/.*passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$out")
  fi
  local n_pass=$((n_all - n_fail))
  if [ "$rc" != 0 ] && [ "$n_fail" = 0 ]; then n_fail=1; fi   # ctest failed without a count
  total_pass=$((total_pass + n_pass)); total_fail=$((total_fail + n_fail))
  local t_test=$((SECONDS - t))

  if [ "$rc" = 0 ]; then
    report+=("$p: $n_pass passed (build $(erds_fmt_secs "$t_build"), tests $(erds_fmt_secs "$t_test"))")
  else
    step_fail "$p" "$n_pass passed, $n_fail failed; build $(erds_fmt_secs "$t_build"), tests $(erds_fmt_secs "$t_test")"
  fi
  if [ "$p" = release ] && [ -f "$ERDS_ROOT/tests/run-extra.sh" ]; then
    erds_say "test[$p]: running tests/run-extra.sh"
    local t2=$SECONDS
    if "${ERDS_CLEAN_ENV[@]}" ERDS_FUZZ_SECONDS="${ERDS_FUZZ_SECONDS:-15}" \
         bash "$ERDS_ROOT/tests/run-extra.sh" "$ERDS_ROOT/$dir"; then
      total_pass=$((total_pass + 1)); report+=("extra: ok ($(erds_fmt_secs $((SECONDS - t2))))")
    else
      total_fail=$((total_fail + 1)); step_fail extra "tests/run-extra.sh, after $(erds_fmt_secs $((SECONDS - t2)))"
    fi
  fi
  stop_pg
}

for p in "${presets[@]}"; do
  if [ "$keep_going" = 0 ] && [ ${#failed_steps[@]} -gt 0 ]; then
    report+=("$p: skipped (an earlier step failed; --keep-going runs it anyway)")
    continue
  fi
  run_preset "$p"
done

echo
echo "erds test summary ($(erds_fmt_secs $((SECONDS - t_start))) total):"
for l in "${report[@]}"; do echo "  $l"; done
status=0
[ ${#failed_steps[@]} -eq 0 ] && [ "$total_fail" = 0 ] || status=1
if [ "$status" = 0 ]; then
  echo "erds test: OK"
else
  echo "erds test: FAILED (${failed_steps[*]:-tests})"
fi
echo "erds test: ${total_pass} passed, ${total_fail} failed"
exit "$status"
