#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + coverage) and runs each for a short time.
# Usage: tests/fuzz/run.sh [--seconds N] [--build-dir DIR] [--parallel P] [--only TARGET]...
#   --seconds N    run time per target (default 20; long mode e.g. --seconds 3600)
#   --build-dir D  clang build directory (default <repo>/build-fuzz)
#   --parallel P   targets run at the same time (default 2)
#   --only T       run only target T (repeatable)
# Exit: 0 when every target built, ran and found nothing; 1 otherwise (the failing targets are
# named); 2 on a usage error. Seeds: tests/fuzz/corpus/<target>/ plus samples copied at run time
# from ../shared/conformance (ERDS_CONFORMANCE_DIR overrides). New inputs and crash artifacts go
# to <build-dir>/fuzz-work/<target>/ (never into the source tree).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
seconds=20
build_dir="$src/build-fuzz"
parallel=2
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --parallel) parallel=${2:?--parallel needs a value}; shift 2 ;;
    --only) only+=("${2:?--only needs a target}"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$seconds$parallel" in *[!0-9]*) echo "run.sh: --seconds/--parallel take integers" >&2; exit 2 ;; esac
[ "$parallel" -ge 1 ] || parallel=1

conformance=${ERDS_CONFORMANCE_DIR:-$src/../shared/conformance}
agid="$conformance/documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version"

# target:max_len (bytes)
all_targets="fuzz_config:16384 fuzz_evidence_xml:65536 fuzz_evidence_verify:65536
fuzz_timestamp_verify:16384 fuzz_tsu_request:4096 fuzz_signer_protocol:2048
fuzz_http_dispatcher:16384 fuzz_smtp_session:16384 fuzz_mail_auth:16384 fuzz_rem_message:65536
fuzz_compose_stream:16384"
targets=()
for t in $all_targets; do
  name=${t%%:*}
  if [ ${#only[@]} -gt 0 ]; then
    keep=0; for o in "${only[@]}"; do [ "$o" = "$name" ] && keep=1; done
    [ $keep = 1 ] || continue
  fi
  targets+=("$t")
done
[ ${#targets[@]} -gt 0 ] || { echo "run.sh: no such target: ${only[*]}" >&2; exit 2; }

start=$(date +%s)
if ! command -v clang++ >/dev/null 2>&1; then
  echo "run.sh: FAIL: clang++ not found (apt-get install -y clang libclang-rt-14-dev)" >&2
  exit 1
fi

# --- configure + build (only the fuzz targets and their dependencies) -------------------------
mkdir -p "$build_dir"
echo "== configure $build_dir (clang, ERDS_FUZZ=ON)"
if ! CC=clang CXX=clang++ cmake -S "$src" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g" \
    -DERDS_FUZZ=ON -DERDS_BUILD_BENCHMARKS=OFF -DERDS_WERROR=OFF \
    "-DERDS_FUZZ_CONFORMANCE_DIR=$conformance" >"$build_dir/configure.log" 2>&1; then
  cat "$build_dir/configure.log" >&2
  echo "run.sh: FAIL: cmake configure (clang, ERDS_FUZZ=ON) failed; log: $build_dir/configure.log" >&2
  exit 1
fi
failed=()
built=()
for t in "${targets[@]}"; do
  name=${t%%:*}
  echo "== build $name"
  if cmake --build "$build_dir" -j2 --target "$name" >"$build_dir/$name.build.log" 2>&1; then
    built+=("$t")
  else
    tail -n 40 "$build_dir/$name.build.log" >&2
    echo "run.sh: FAIL: $name does not build (log: $build_dir/$name.build.log)" >&2
    failed+=("$name(build)")
  fi
done
build_end=$(date +%s)

# --- seeds -------------------------------------------------------------------------------------
work="$build_dir/fuzz-work"
seed() {  # seed <target>: fills $work/<target>/corpus
  local name=$1 corpus="$work/$1/corpus"
  rm -rf "$work/$name"
  mkdir -p "$corpus" "$work/$name/artifacts"
  if [ -d "$here/corpus/$name" ]; then cp "$here/corpus/$name"/* "$corpus"/ 2>/dev/null || true; fi
  case "$name" in
    fuzz_config)
      for f in "$src/erds.conf.example" "$src/docker/erds.conf"; do
        [ -f "$f" ] && cp "$f" "$corpus/$(basename "$f").seed"
      done ;;
    fuzz_evidence_xml|fuzz_evidence_verify)
      [ -d "$agid/standalone-evidence" ] && cp "$agid"/standalone-evidence/*.xml "$corpus"/
      # Our own writer's golden files (unsigned evidence of every event).
      [ "$name" = fuzz_evidence_xml ] && [ -d "$src/evidence/testdata" ] &&
        for f in "$src"/evidence/testdata/*.xml; do cp "$f" "$corpus/golden-$(basename "$f")"; done ;;
    fuzz_timestamp_verify)
      # The SignatureTimeStamp tokens embedded in the AgID sample evidence.
      [ -d "$agid/standalone-evidence" ] && perl -MMIME::Base64 -e '
        my ($out, @files) = @ARGV; my $n = 0;
        for my $f (@files) {
          local $/; open(my $fh, "<", $f) or next; my $x = <$fh>;
          while ($x =~ /<(?:\w+:)?EncapsulatedTimeStamp[^>]*>([^<]+)</g) {
            (my $b = $1) =~ s/\s+//g;
            open(my $o, ">:raw", sprintf("%s/token-%03d.der", $out, $n++)) or die; print $o decode_base64($b); close $o;
          }
        }' "$corpus" "$agid"/standalone-evidence/*.xml ;;
    fuzz_rem_message)
      # A few more small kit messages (REM and plain originals) beside the committed ones.
      [ -d "$conformance" ] && find "$conformance" -name '*.eml' -size -64k 2>/dev/null | sort | head -n 16 |
        while IFS= read -r f; do cp "$f" "$corpus/kit-$(cksum <"$f" | cut -d' ' -f1).eml"; done ;;
  esac
  if [ -z "$(ls -A "$corpus")" ]; then
    echo "run.sh: warning: $name has no seeds (conformance folder missing?)" >&2
  fi
}

run_one() {  # run_one <target> <max_len>: writes $work/<target>/fuzz.log and .rc
  local name=$1 max_len=$2 dir="$work/$1"
  (
    cd "$dir" || exit 1
    ERDS_CONFORMANCE_DIR="$conformance" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      "$build_dir/fuzz/$name" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 \
        -timeout=25 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/corpus" \
        >"$dir/fuzz.log" 2>&1
    echo $? >"$dir/rc"
  )
}

summary() {  # summary <target>: one line; returns non-zero on failure
  local name=$1 dir="$work/$1" rc execs cov ft corp
  rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+' "$dir/fuzz.log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -Eo 'ft: [0-9]+' "$dir/fuzz.log" | tail -n 1 | cut -d' ' -f2)
  corp=$(grep -Eo 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$dir/fuzz.log" | tail -n 1 | cut -d' ' -f2)
  if [ "$rc" = 0 ] && [ -n "$execs" ]; then
    printf '%-24s OK    execs=%s cov=%s ft=%s corpus=%s\n' "$name" "$execs" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    return 0
  fi
  printf '%-24s FAIL  rc=%s execs=%s cov=%s (log: %s, artifacts: %s)\n' "$name" "$rc" "${execs:-0}" \
    "${cov:-?}" "$dir/fuzz.log" "$dir/artifacts/"
  grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|FUZZ INVARIANT|^SUMMARY' \
    "$dir/fuzz.log" | head -n 5 | sed 's/^/    /'
  return 1
}

# --- run ---------------------------------------------------------------------------------------
echo "== run ${#built[@]} target(s), ${seconds}s each, $parallel at a time"
pending=("${built[@]}")
running=0
for t in "${pending[@]}"; do
  name=${t%%:*}
  seed "$name"
  run_one "$name" "${t##*:}" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n; running=$((running - 1)); fi
done
wait

echo "== summary"
for t in "${built[@]}"; do
  name=${t%%:*}
  summary "$name" || failed+=("$name")
done
end=$(date +%s)
echo "== build $((build_end - start))s, total $((end - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run.sh: FAIL: ${failed[*]}" >&2
  exit 1
fi
echo "run.sh: all ${#built[@]} fuzz targets OK"
