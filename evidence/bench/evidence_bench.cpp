// Benchmarks for the evidence seal and verifier (Google Benchmark; never run by ctest).
// Run: cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DERDS_BUILD_BENCHMARKS=ON
//      cmake --build build-bench --target erds_evidence_bench && build-bench/evidence/erds_evidence_bench
// Seal = string-built XAdES + in-process P-256 seal key + built-in RFC 3161 unit (P-256 TSU key);
// verify = libxml2 + xmlsec + token + chain with a cached trust store.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "erds/evidence/pkcs11_signer.h"
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

// The same seal keeping revocation data: the root CRL (sealerWithCrl), and the CRL plus OCSP
// responses for the seal and TSU certificates. Validation happens once per key and TSU; per
// evidence the TSU certificate is found in the token by a byte search and the prepared XML is
// appended, so these should stay within noise of BM_SealAndTimestamp/P256.
void BM_SealAndTimestampWithCrl(benchmark::State& state) {
  auto& f = fixture();
  const EvidenceXml& xml = submissionAcceptance();
  for (auto _ : state) {
    auto sealed = f.sealerWithCrl->seal(xml, testing::kSealP256);
    if (!sealed) state.SkipWithError(sealed.error().message.c_str());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealAndTimestampWithCrl);

void BM_SealAndTimestampWithCrlAndOcsp(benchmark::State& state) {
  auto& f = fixture();
  SealerOptions o;
  o.crlsPem = {f.rootCrlPem};
  o.caCertificatesPem = f.pki.root().certPem;
  o.ocspResponses = {testing::issueOcspResponse(f.pki.root(), f.sealP256),
                     testing::issueOcspResponse(f.pki.root(), f.tsu)};
  auto sealer = EvidenceSealer::create(f.signer, f.tsa, SystemClock::instance(), o);
  ERDS_CHECK(sealer.has_value(), "sealer with OCSP");
  const EvidenceXml& xml = submissionAcceptance();
  for (auto _ : state) {
    auto sealed = (*sealer)->seal(xml, testing::kSealP256);
    if (!sealed) state.SkipWithError(sealed.error().message.c_str());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealAndTimestampWithCrlAndOcsp);

// Seal + time stamp with both keys (P-256 seal, P-256 TSU) in a SoftHSM2 token, through
// Pkcs11Signer (libp11 engine), as erds-signer does with signer.backend = pkcs11. The token is
// set up as the PKCS#11 unit tests do (softhsm2-util --init-token / --import).
struct Pkcs11Fixture {
  std::string dir = testing::makeTempDir("erds-bench-p11");
  std::string error;
  std::unique_ptr<EvidenceSealer> sealer;
  std::shared_ptr<Rfc3161Tsu> tsa;
  Pkcs11Fixture() {
    const char* util = "/usr/bin/softhsm2-util";
    const std::string module = "/usr/lib/softhsm/libsofthsm2.so";
    if (::access(util, X_OK) != 0 || ::access(module.c_str(), R_OK) != 0) {
      error = "SoftHSM2 missing: apt-get install softhsm2 opensc libengine-pkcs11-openssl";
      return;
    }
    auto& f = fixture();
    testing::writeFile(dir + "/softhsm2.conf",
                       "directories.tokendir = " + dir + "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n");
    std::filesystem::create_directory(dir + "/tokens");
    ::setenv("SOFTHSM2_CONF", (dir + "/softhsm2.conf").c_str(), 1);
    testing::writeKeyFiles(dir, "seal", f.sealP256);
    testing::writeKeyFiles(dir, "tsu", f.tsu);
    testing::writeFile(dir + "/root-ca.pem", f.pki.root().certPem);
    testing::writeFile(dir + "/pin", "5678\n", 0600);
    const std::string log = " >>'" + dir + "/cmd.log' 2>&1";
    const std::string u = util;
    if (std::system((u + " --init-token --free --label erdsbench --so-pin 1234 --pin 5678" + log).c_str()) != 0 ||
        std::system((u + " --import '" + dir + "/seal.key' --token erdsbench --label seal --id 01 --pin 5678" + log)
                        .c_str()) != 0 ||
        std::system((u + " --import '" + dir + "/tsu.key' --token erdsbench --label tsu --id 02 --pin 5678" + log)
                        .c_str()) != 0) {
      error = "SoftHSM2 token setup failed, see " + dir + "/cmd.log";
      return;
    }
    Pkcs11SignerOptions o;
    o.modulePath = module;
    o.pinFile = dir + "/pin";
    o.keys["seal"] = {"pkcs11:token=erdsbench;object=seal;type=private", dir + "/seal.pem", dir + "/root-ca.pem"};
    o.keys["tsu"] = {"pkcs11:token=erdsbench;object=tsu;type=private", dir + "/tsu.pem", ""};
    auto signer = Pkcs11Signer::create(o);
    if (!signer) {
      error = "Pkcs11Signer: " + signer.error().message;
      return;
    }
    std::shared_ptr<Signer> shared = std::move(*signer);
    Rfc3161TsuOptions t;
    t.policyOid = "1.3.6.1.4.1.55555.1.1";
    t.requireSyncedClock = false;
    t.clockSyncCheck = [] { return Result<void>{}; };
    auto u2 = Rfc3161Tsu::create(shared, t, SystemClock::instance());
    ERDS_CHECK(u2.has_value(), "Rfc3161Tsu over PKCS#11 failed");
    tsa = std::move(*u2);
    auto se = EvidenceSealer::create(shared, tsa, SystemClock::instance());
    ERDS_CHECK(se.has_value(), "EvidenceSealer over PKCS#11 failed");
    sealer = std::move(*se);
  }
  ~Pkcs11Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void BM_SealAndTimestampPkcs11(benchmark::State& state) {
  static Pkcs11Fixture p;
  if (!p.sealer) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  const EvidenceXml& xml = submissionAcceptance();
  for (auto _ : state) {
    auto sealed = p.sealer->seal(xml, "seal");
    if (!sealed) state.SkipWithError(sealed.error().message.c_str());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealAndTimestampPkcs11);

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

// The evidence carries OCSP responses for the seal and TSU certificates (no CRL): both chains are
// revocation-checked through OCSP on every verify.
void BM_VerifyEmbeddedOcsp(benchmark::State& state) {
  auto& f = fixture();
  SealerOptions o;
  o.caCertificatesPem = f.pki.root().certPem;
  o.ocspResponses = {testing::issueOcspResponse(f.pki.root(), f.sealP256),
                     testing::issueOcspResponse(f.pki.root(), f.tsu)};
  auto sealer = EvidenceSealer::create(f.signer, f.tsa, SystemClock::instance(), o);
  ERDS_CHECK(sealer.has_value(), "sealer with OCSP");
  auto sealed = (*sealer)->seal(submissionAcceptance(), testing::kSealP256);
  if (!sealed) {
    state.SkipWithError("seal failed");
    return;
  }
  VerifyOptions vo;
  vo.requireRevocation = true;
  for (auto _ : state) {
    auto r = f.verifier->verify(sealed->document, vo);
    if (!r || r->status != VerifyStatus::Valid) state.SkipWithError("not valid");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyEmbeddedOcsp);

}  // namespace
}  // namespace erds::evidence
