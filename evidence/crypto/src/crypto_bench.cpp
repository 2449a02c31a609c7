// Benchmarks for evidence/crypto (Google Benchmark; never run by ctest). Keys are in-process
// P-256 file keys generated on the fly; the TSU signs through the forwarding EVP_PKEY.
#include <benchmark/benchmark.h>

#include "erds/base/clock.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/timestamp_verify.h"

#include "crypto_test_util.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;

struct BenchTsu {
  TestPki pki;
  std::unique_ptr<TsuFixture> keys;
  std::unique_ptr<Rfc3161Tsu> tsu;
  explicit BenchTsu(TestKeyType type) {
    TestCertOptions o;
    o.keyType = type;
    keys = std::make_unique<TsuFixture>(pki, o);
    Rfc3161TsuOptions opts;
    opts.policyOid = "1.3.6.1.4.1.99999.1.1";
    opts.clockSyncCheck = [] { return ok(); };
    tsu = Rfc3161Tsu::create(keys->signer, opts, SystemClock::instance()).value();
  }
};

void BM_TsuTokenP256(benchmark::State& state) {
  static BenchTsu b(TestKeyType::P256);
  const std::string digest = sha256Of("benchmark");
  for (auto _ : state)
    benchmark::DoNotOptimize(b.tsu->timestamp(digest));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TsuTokenP256)->Unit(benchmark::kMicrosecond);

void BM_TsuTokenRsa2048(benchmark::State& state) {
  static BenchTsu b(TestKeyType::Rsa2048);
  const std::string digest = sha256Of("benchmark");
  for (auto _ : state)
    benchmark::DoNotOptimize(b.tsu->timestamp(digest));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TsuTokenRsa2048)->Unit(benchmark::kMicrosecond);

// The OpenSSL path (TS_RESP_create_response) that timestamp() used before its fast path: a raw
// request answered by respond() (adds request parsing and response encoding).
void BM_TsuRespondP256(benchmark::State& state) {
  static BenchTsu b(TestKeyType::P256);
  const std::string req =
      buildTimestampRequest(sha256Of("benchmark"), "\x01\x02\x03\x04\x05\x06\x07\x08").value();
  for (auto _ : state)
    benchmark::DoNotOptimize(b.tsu->respond(req));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TsuRespondP256)->Unit(benchmark::kMicrosecond);

void BM_FileKeySignP256(benchmark::State& state) {
  static BenchTsu b(TestKeyType::P256);
  const std::string digest = sha256Of("benchmark");
  for (auto _ : state)
    benchmark::DoNotOptimize(b.keys->signer->signDigest("tsu", digest));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FileKeySignP256)->Unit(benchmark::kMicrosecond);

void BM_VerifyTokenP256(benchmark::State& state) {
  static BenchTsu b(TestKeyType::P256);
  const std::string digest = sha256Of("benchmark");
  const std::string token = b.tsu->timestamp(digest)->der;
  auto verifier = *TimestampVerifier::fromPem(b.pki.root().certPem);
  TimestampVerifyOptions asOf;
  asOf.asOfGenTime = state.range(0) != 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(verifier->verify(token, digest, asOf));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyTokenP256)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("asOfGenTime")
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace erds::evidence

BENCHMARK_MAIN();
