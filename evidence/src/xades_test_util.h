// Test-only fixture for the seal/verify tests and benchmarks: a throwaway PKI (root, P-256 and
// RSA seal keys, TSU), a FileKeySigner over it, the built-in RFC 3161 unit, a sealer and a
// verifier trusting the root; plus evidence for any event timed "now".
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "erds/base/clock.h"
#include "erds/evidence/evidence_sealer.h"
#include "erds/evidence/evidence_verifier.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "sample_evidence_for_test.h"
#include "test_pki.h"

namespace erds::evidence::testing {

inline constexpr const char* kSealP256 = "seal";
inline constexpr const char* kSealRsa = "seal-rsa";

struct SealFixture {
  TestPki pki{"erds DEVELOPMENT evseal test root"};
  std::string dir = makeTempDir("erds-evseal");
  TestCert sealP256;
  TestCert sealRsa;
  TestCert tsu;
  std::shared_ptr<FileKeySigner> signer;
  std::shared_ptr<Rfc3161Tsu> tsa;
  std::unique_ptr<EvidenceSealer> sealer;
  std::shared_ptr<const EvidenceVerifier> verifier;

  SealFixture() {
    TestCertOptions seal;
    seal.commonName = "erds DEVELOPMENT evidence seal";
    sealP256 = pki.issue(seal);
    seal.commonName = "erds DEVELOPMENT evidence seal (RSA)";
    seal.keyType = TestKeyType::Rsa2048;
    sealRsa = pki.issue(seal);
    TestCertOptions t;
    t.commonName = "erds DEVELOPMENT TSU";
    t.timeStamping = true;
    tsu = pki.issue(t);
    writeKeyFiles(dir, kSealP256, sealP256);
    writeKeyFiles(dir, kSealRsa, sealRsa);
    writeKeyFiles(dir, "tsu", tsu);
    writeFile(dir + "/root-ca.pem", pki.root().certPem);
    auto s = FileKeySigner::fromDirectory(dir, {kSealP256, kSealRsa, "tsu"});
    ERDS_CHECK(s.has_value(), "FileKeySigner::fromDirectory failed");
    signer = std::move(*s);
    Rfc3161TsuOptions o;
    o.policyOid = "1.3.6.1.4.1.55555.1.1";
    o.requireSyncedClock = false;
    o.clockSyncCheck = [] { return Result<void>{}; };
    auto u = Rfc3161Tsu::create(signer, o, SystemClock::instance());
    ERDS_CHECK(u.has_value(), "Rfc3161Tsu::create failed");
    tsa = std::move(*u);
    auto se = EvidenceSealer::create(signer, tsa, SystemClock::instance());
    ERDS_CHECK(se.has_value(), "EvidenceSealer::create failed");
    sealer = std::move(*se);
    auto v = EvidenceVerifier::create(VerifierTrust{{pki.root().certPem}, {}});
    ERDS_CHECK(v.has_value(), "EvidenceVerifier::create failed");
    verifier = std::move(*v);
  }
  ~SealFixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  SealFixture(const SealFixture&) = delete;
  SealFixture& operator=(const SealFixture&) = delete;
};

// The full sample evidence for `e`, with EventTime now (and SubmissionTime a second earlier).
inline EvidenceXml evidenceNow(Event e) {
  const TimePoint now = std::chrono::time_point_cast<std::chrono::seconds>(SystemClock::instance().now());
  EvidenceBuilder b = fullBuilder(e);
  b.eventTime(now);
  const char g = eventGroup(e);
  if (g == 'A' || g == 'B' || g == 'C' || g == 'D' || g == 'E') b.submissionTime(now - std::chrono::seconds(1));
  auto ev = b.build();
  ERDS_CHECK(ev.has_value(), "fullBuilder evidence does not build");
  auto xml = writeEvidenceXml(*ev);
  ERDS_CHECK(xml.has_value(), "writeEvidenceXml failed");
  return std::move(*xml);
}

}  // namespace erds::evidence::testing
