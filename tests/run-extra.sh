#!/usr/bin/env bash
# Extra test steps of `./erds test` that are not ctest tests: the libFuzzer targets
# (tests/fuzz/run.sh: clang ASan+UBSan build in build-fuzz/, each target for a short time).
# Usage: tests/run-extra.sh [RELEASE_BUILD_DIR]   (the argument is accepted and unused for now)
# Environment: ERDS_FUZZ_SECONDS (run time per target, default 15), ERDS_JOBS (targets in parallel,
# default 2). Exit: 0 when every step passed, 1 when any failed (named on stderr), 2 usage.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
secs=${ERDS_FUZZ_SECONDS:-15}
par=${ERDS_JOBS:-2}
unset ERDS_FUZZ_SECONDS ERDS_JOBS   # the erds binaries reject unknown ERDS_* variables
case "$secs" in ''|*[!0-9]*) echo "run-extra: ERDS_FUZZ_SECONDS must be a number (got '$secs')" >&2; exit 2 ;; esac
case "$par" in ''|*[!0-9]*|0) par=2 ;; esac
[ $# -le 1 ] || { echo "usage: tests/run-extra.sh [RELEASE_BUILD_DIR]" >&2; exit 2; }

failed=()
t=$SECONDS
echo "run-extra: fuzz: tests/fuzz/run.sh --seconds $secs --parallel $par" >&2
if bash "$here/fuzz/run.sh" --seconds "$secs" --parallel "$par"; then
  echo "run-extra: fuzz: ok ($((SECONDS - t)) s)" >&2
else
  echo "run-extra: fuzz: FAILED ($((SECONDS - t)) s; crash artifacts under build-fuzz/fuzz-work/)" >&2
  failed+=(fuzz)
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "run-extra: FAILED: ${failed[*]}" >&2
  exit 1
fi
exit 0
