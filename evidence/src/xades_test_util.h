// Test-only fixture for the seal/verify tests and benchmarks: a throwaway PKI (root, P-256 and
// RSA seal keys, TSU), a FileKeySigner over it, the built-in RFC 3161 unit, a sealer and a
// verifier trusting the root; plus evidence for any event timed "now".
#pragma once

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <ctime>
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

// A PEM CRL issued by `pki`'s root: thisUpdate now + `fromSeconds`, nextUpdate now + `untilSeconds`,
// listing `revokedCertPem` (revoked at thisUpdate) when given.
inline std::string issueCrl(const TestPki& pki, const std::string& revokedCertPem = "", long fromSeconds = -3600,
                            long untilSeconds = 30L * 86400) {
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(pki.root().certPem.data(), -1), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> ca(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(pki.root().keyPem.data(), -1), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  ERDS_CHECK(ca && key, "test root unreadable");
  std::unique_ptr<X509_CRL, decltype(&X509_CRL_free)> crl(X509_CRL_new(), X509_CRL_free);
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.get()));
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> last(X509_gmtime_adj(nullptr, fromSeconds), ASN1_TIME_free);
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> next(X509_gmtime_adj(nullptr, untilSeconds), ASN1_TIME_free);
  X509_CRL_set1_lastUpdate(crl.get(), last.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  if (!revokedCertPem.empty()) {
    std::unique_ptr<BIO, decltype(&BIO_free)> rb(BIO_new_mem_buf(revokedCertPem.data(), -1), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> revoked(PEM_read_bio_X509(rb.get(), nullptr, nullptr, nullptr),
                                                        X509_free);
    ERDS_CHECK(revoked != nullptr, "revoked certificate unreadable");
    X509_REVOKED* entry = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(revoked.get()));
    X509_REVOKED_set_revocationDate(entry, last.get());
    X509_CRL_add0_revoked(crl.get(), entry);
  }
  X509_CRL_sort(crl.get());
  ERDS_CHECK(X509_CRL_sign(crl.get(), key.get(), EVP_sha256()) > 0, "X509_CRL_sign failed");
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509_CRL(out.get(), crl.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

struct SealFixture {
  TestPki pki{"erds DEVELOPMENT evseal test root"};
  std::string dir = makeTempDir("erds-evseal");
  TestCert sealP256;
  TestCert sealRsa;
  TestCert tsu;
  std::shared_ptr<FileKeySigner> signer;
  std::shared_ptr<Rfc3161Tsu> tsa;
  std::unique_ptr<EvidenceSealer> sealer;
  // The same keys, keeping revocation data: an empty CRL of the root (valid 30 days) embedded.
  std::string rootCrlPem;
  std::unique_ptr<EvidenceSealer> sealerWithCrl;
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
    rootCrlPem = issueCrl(pki);
    writeFile(dir + "/root-ca.crl.pem", rootCrlPem);
    SealerOptions so;
    so.crlsPem = {rootCrlPem};
    so.caCertificatesPem = pki.root().certPem;
    auto sc = EvidenceSealer::create(signer, tsa, SystemClock::instance(), so);
    ERDS_CHECK(sc.has_value(), "EvidenceSealer::create (with CRL) failed");
    sealerWithCrl = std::move(*sc);
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
