// Benchmarks for the evidence seal and verifier (Google Benchmark; never run by ctest).
// Run: cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DERDS_BUILD_BENCHMARKS=ON
//      cmake --build build-bench --target erds_evidence_bench && build-bench/evidence/erds_evidence_bench
// Seal = string-built XAdES + in-process P-256 seal key + built-in RFC 3161 unit (P-256 TSU key);
// verify = libxml2 + xmlsec + token + chain with a cached trust store.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string_view>

#include "xades_test_util.h"

namespace erds::evidence {
namespace {

const EvidenceXml& submissionAcceptance() {
  static const EvidenceXml xml = testing::evidenceNow(Event::SubmissionAcceptance);
  return xml;
}

// With ERDS_BENCH_EXPORT_DIR set, the same inputs go to files for tests/interop/bench_xades.mjs
// (xadesjs signing and verifying the same document): unsigned.xml, sealed.xml, seal.key
// (PKCS#8 P-256), seal.pem, root-ca.pem.
void exportForXadesjs(testing::SealFixture& f) {
  const char* dir = std::getenv("ERDS_BENCH_EXPORT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  const std::string d(dir);
  auto sealed = f.sealer->seal(submissionAcceptance(), testing::kSealP256);
  ERDS_CHECK(sealed.has_value(), "seal for export failed");
  testing::writeFile(d + "/unsigned.xml", submissionAcceptance().document);
  testing::writeFile(d + "/sealed.xml", sealed->document);
  testing::writeFile(d + "/seal.key", f.sealP256.keyPem, 0600);
  testing::writeFile(d + "/seal.pem", f.sealP256.certPem);
  testing::writeFile(d + "/root-ca.pem", f.pki.root().certPem);
}

testing::SealFixture& fixture() {
  static testing::SealFixture f;
  static const bool exported = (exportForXadesjs(f), true);
  (void)exported;
  return f;
}

void BM_WriteEvidenceXml(benchmark::State& state) {
  auto ev = testing::fullBuilder(Event::SubmissionAcceptance).build();
  for (auto _ : state) {
    auto xml = writeEvidenceXml(*ev);
    benchmark::DoNotOptimize(xml);
  }
}
BENCHMARK(BM_WriteEvidenceXml);

void BM_SealAndTimestamp(benchmark::State& state, const char* label) {
  auto& f = fixture();
  const EvidenceXml& xml = submissionAcceptance();
  for (auto _ : state) {
    auto sealed = f.sealer->seal(xml, label);
    if (!sealed) state.SkipWithError(sealed.error().message.c_str());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SealAndTimestamp, P256, testing::kSealP256);
BENCHMARK_CAPTURE(BM_SealAndTimestamp, RSA2048, testing::kSealRsa);

void BM_TimestampOnly(benchmark::State& state) {
  auto& f = fixture();
  const std::string digest(32, '\x11');
  for (auto _ : state) {
    auto t = f.tsa->timestamp(digest);
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimestampOnly);

void BM_Verify(benchmark::State& state, const char* label) {
  auto& f = fixture();
  // "P256_EmbeddedCrl": the evidence carries the root's CRL (revocation checked on every verify).
  const bool withCrl = std::string_view(label) == "seal+crl";
  auto sealed = withCrl ? f.sealerWithCrl->seal(submissionAcceptance(), testing::kSealP256)
                        : f.sealer->seal(submissionAcceptance(), label);
  if (!sealed) {
    state.SkipWithError("seal failed");
    return;
  }
  for (auto _ : state) {
    auto r = f.verifier->verify(sealed->document);
    if (!r || r->status != VerifyStatus::Valid) state.SkipWithError("not valid");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Verify, P256, testing::kSealP256);
BENCHMARK_CAPTURE(BM_Verify, RSA2048, testing::kSealRsa);
BENCHMARK_CAPTURE(BM_Verify, P256_EmbeddedCrl, "seal+crl");

}  // namespace
}  // namespace erds::evidence
