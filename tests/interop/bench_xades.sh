#!/bin/sh
# Runs the C++ seal/verify benchmark and xadesjs (bench_xades.mjs) on the same evidence, on one
# core, and prints the ratios. Usage: tests/interop/bench_xades.sh BUILD_DIR [CPU]
# BUILD_DIR must be a Release build with -DERDS_BUILD_BENCHMARKS=ON (erds_evidence_bench built).
set -eu
build=${1:?usage: bench_xades.sh BUILD_DIR [CPU]}
cpu=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ERDS_BENCH_EXPORT_DIR=$tmp taskset -c "$cpu" "$build/evidence/erds_evidence_bench" \
  --benchmark_filter='BM_SealAndTimestamp/P256|BM_Verify/P256' --benchmark_format=json \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true > "$tmp/cpp.json"
taskset -c "$cpu" node "$here/bench_xades.mjs" "$tmp" 3 > "$tmp/node.json"
node -e '
const fs = require("fs");
const cpp = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const js = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const med = (name) => cpp.benchmarks.find((b) => b.name === name + "_median").items_per_second;
const seal = med("BM_SealAndTimestamp/P256"), verify = med("BM_Verify/P256");
console.log(`erds seal+TS (B-T)   ${Math.round(seal)}/s   xadesjs sign (B-B) ${js.xadesjs_sign_per_s}/s   ratio ${(seal / js.xadesjs_sign_per_s).toFixed(1)}x`);
console.log(`erds verify (full)   ${Math.round(verify)}/s   xadesjs verify     ${js.xadesjs_verify_per_s}/s   ratio ${(verify / js.xadesjs_verify_per_s).toFixed(1)}x`);
' "$tmp/cpp.json" "$tmp/node.json"
