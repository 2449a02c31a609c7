#include "erds/identity/client_certificate.h"

#include <gtest/gtest.h>

#include "erds/identity/testing/test_pki.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;
using testing::CertSpec;
using testing::TestCertificate;

constexpr const char* kQctESign = "0.4.0.1862.1.6.1";
constexpr const char* kQctESeal = "0.4.0.1862.1.6.2";

class ClientCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TestCertificate::issue(ca("DEVELOPMENT root", 1), nullptr);
    qualifiedCa_ = TestCertificate::issue(ca("DEVELOPMENT qualified CA", 2), &root_);
    ordinaryCa_ = TestCertificate::issue(ca("DEVELOPMENT ordinary CA", 3), &root_);
    strangerRoot_ = TestCertificate::issue(ca("DEVELOPMENT untrusted root", 4), nullptr);
  }
  CertSpec ca(const std::string& cn, long serial) const {
    CertSpec s;
    s.commonName = cn;
    s.isCa = true;
    s.serial = serial;
    s.notBefore = now_ - 24h * 365;
    s.notAfter = now_ + 24h * 3650;
    return s;
  }
  CertSpec leaf(const std::string& cn, long serial) const {
    CertSpec s;
    s.commonName = cn;
    s.serial = serial;
    s.notBefore = now_ - 24h;
    s.notAfter = now_ + 24h * 365;
    return s;
  }
  CertificateValidator validator(std::vector<std::string> crls = {}, bool requireCrl = false) const {
    CertificateValidatorOptions o;
    o.trustAnchorsPem = {root_.pem()};
    o.qualifiedCasPem = {qualifiedCa_.pem()};
    o.crlsPem = std::move(crls);
    o.requireCrl = requireCrl;
    auto v = CertificateValidator::create(o);
    EXPECT_TRUE(v.has_value());
    return std::move(v).value();
  }

  TimePoint now_{std::chrono::seconds(1'800'000'000)};
  TestCertificate root_, qualifiedCa_, ordinaryCa_, strangerRoot_;
};

TEST_F(ClientCertificateTest, QualifiedOnlyWithQcComplianceUnderQualifiedCa) {
  auto v = validator();
  struct Case {
    const char* name;
    bool qc;
    const TestCertificate* issuer;
    bool expectQualified;
  };
  const Case cases[] = {
      {"qc under qualified CA", true, &qualifiedCa_, true},
      {"no qc under qualified CA", false, &qualifiedCa_, false},
      {"qc under ordinary CA", true, &ordinaryCa_, false},
      {"no qc under ordinary CA", false, &ordinaryCa_, false},
  };
  long serial = 100;
  for (const Case& c : cases) {
    CertSpec s = leaf("DEVELOPMENT user", ++serial);
    s.qcCompliance = c.qc;
    if (c.qc) s.qcTypeOids = {kQctESign};
    TestCertificate cert = TestCertificate::issue(s, c.issuer);
    CertificateCheck r = v.validate(cert.pem(), {c.issuer->pem()}, now_);
    EXPECT_EQ(r.status, CertificateStatus::Valid) << c.name << ": " << r.detail;
    EXPECT_EQ(r.qcCompliance, c.qc) << c.name;
    EXPECT_EQ(r.issuedByQualifiedCa, c.issuer == &qualifiedCa_) << c.name;
    EXPECT_EQ(r.qualified, c.expectQualified) << c.name;
    if (c.qc) {
      ASSERT_EQ(r.qcTypes.size(), 1u);
      EXPECT_EQ(r.qcTypes[0], QcType::ESign);
    }
  }
}

TEST_F(ClientCertificateTest, ReportsSubjectFingerprintAndQcTypes) {
  CertSpec s = leaf("DEVELOPMENT seal", 7);
  s.qcCompliance = true;
  s.qcTypeOids = {kQctESeal};
  TestCertificate cert = TestCertificate::issue(s, &qualifiedCa_);
  // The leaf may also be given in DER; the qualified CA is a configured anchor, so no
  // intermediates are needed.
  CertificateCheck r = validator().validate(cert.der(), {}, now_);
  EXPECT_TRUE(r.valid()) << r.detail;
  EXPECT_TRUE(r.qualified);
  EXPECT_NE(r.subject.find("CN=DEVELOPMENT seal"), std::string::npos);
  EXPECT_NE(r.issuer.find("CN=DEVELOPMENT qualified CA"), std::string::npos);
  EXPECT_EQ(r.serialHex, "07");
  EXPECT_EQ(r.sha256Fingerprint.size(), 64u);
  ASSERT_EQ(r.qcTypes.size(), 1u);
  EXPECT_EQ(r.qcTypes[0], QcType::ESeal);
}

TEST_F(ClientCertificateTest, UntrustedCa) {
  CertSpec s = leaf("DEVELOPMENT stranger", 9);
  s.qcCompliance = true;
  TestCertificate cert = TestCertificate::issue(s, &strangerRoot_);
  CertificateCheck r = validator().validate(cert.pem(), {strangerRoot_.pem()}, now_);
  EXPECT_EQ(r.status, CertificateStatus::Untrusted) << r.detail;
  EXPECT_FALSE(r.qualified);
  EXPECT_TRUE(r.qcCompliance);  // the statement is there; it just does not count
}

TEST_F(ClientCertificateTest, ExpiredAndNotYetValid) {
  CertSpec s = leaf("DEVELOPMENT old", 11);
  s.notBefore = now_ - 24h * 400;
  s.notAfter = now_ - 24h;
  TestCertificate old = TestCertificate::issue(s, &ordinaryCa_);
  EXPECT_EQ(validator().validate(old.pem(), {ordinaryCa_.pem()}, now_).status, CertificateStatus::Expired);
  // The same certificate was valid at an earlier check time.
  EXPECT_EQ(validator().validate(old.pem(), {ordinaryCa_.pem()}, now_ - 24h * 30).status, CertificateStatus::Valid);
  s = leaf("DEVELOPMENT future", 12);
  s.notBefore = now_ + 24h;
  s.notAfter = now_ + 48h;
  TestCertificate future = TestCertificate::issue(s, &ordinaryCa_);
  EXPECT_EQ(validator().validate(future.pem(), {ordinaryCa_.pem()}, now_).status, CertificateStatus::NotYetValid);
}

TEST_F(ClientCertificateTest, RevokedByCrl) {
  TestCertificate good = TestCertificate::issue(leaf("DEVELOPMENT good", 21), &ordinaryCa_);
  TestCertificate bad = TestCertificate::issue(leaf("DEVELOPMENT revoked", 22), &ordinaryCa_);
  std::string crl = ordinaryCa_.crlPem({22}, now_ - 1h, now_ + 24h);
  auto v = validator({crl});
  EXPECT_EQ(v.validate(good.pem(), {ordinaryCa_.pem()}, now_).status, CertificateStatus::Valid);
  CertificateCheck r = v.validate(bad.pem(), {ordinaryCa_.pem()}, now_);
  EXPECT_EQ(r.status, CertificateStatus::Revoked) << r.detail;
  // Without the CRL the revocation is unknown to us and the certificate passes.
  EXPECT_EQ(validator().validate(bad.pem(), {ordinaryCa_.pem()}, now_).status, CertificateStatus::Valid);
}

TEST_F(ClientCertificateTest, CrlRequiredButMissingOrStale) {
  TestCertificate cert = TestCertificate::issue(leaf("DEVELOPMENT user", 31), &qualifiedCa_);
  // A CRL only for the ordinary CA: the qualified CA has none.
  auto strict = validator({ordinaryCa_.crlPem({}, now_ - 1h, now_ + 24h)}, true);
  EXPECT_EQ(strict.validate(cert.pem(), {qualifiedCa_.pem()}, now_).status, CertificateStatus::RevocationUnknown);
  auto lenient = validator({ordinaryCa_.crlPem({}, now_ - 1h, now_ + 24h)}, false);
  EXPECT_EQ(lenient.validate(cert.pem(), {qualifiedCa_.pem()}, now_).status, CertificateStatus::Valid);
  // A CRL past its nextUpdate does not count as revocation information.
  TestCertificate other = TestCertificate::issue(leaf("DEVELOPMENT user2", 32), &ordinaryCa_);
  auto stale = validator({ordinaryCa_.crlPem({}, now_ - 48h, now_ - 24h)});
  EXPECT_EQ(stale.validate(other.pem(), {ordinaryCa_.pem()}, now_).status, CertificateStatus::RevocationUnknown);
}

TEST_F(ClientCertificateTest, Usage) {
  CertSpec s = leaf("DEVELOPMENT server", 41);
  s.serverAuthOnlyEku = true;
  TestCertificate server = TestCertificate::issue(s, &ordinaryCa_);
  EXPECT_EQ(validator().validate(server.pem(), {ordinaryCa_.pem()}, now_, CertificateUsage::TlsClient).status,
            CertificateStatus::WrongUsage);
  // For a signed challenge only the key usage matters.
  EXPECT_EQ(validator().validate(server.pem(), {ordinaryCa_.pem()}, now_, CertificateUsage::SignedChallenge).status,
            CertificateStatus::Valid);
}

TEST_F(ClientCertificateTest, MalformedInputIsAValueNotACrash) {
  auto v = validator();
  EXPECT_EQ(v.validate("", {}, now_).status, CertificateStatus::Malformed);
  EXPECT_EQ(v.validate("garbage", {}, now_).status, CertificateStatus::Malformed);
  EXPECT_EQ(v.validate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", {}, now_).status,
            CertificateStatus::Malformed);
  TestCertificate a = TestCertificate::issue(leaf("DEVELOPMENT a", 51), &ordinaryCa_);
  EXPECT_EQ(v.validate(a.pem() + a.pem(), {}, now_).status, CertificateStatus::Malformed);
  // A garbage intermediate is ignored, the chain still fails or passes on its own merits.
  EXPECT_EQ(v.validate(a.pem(), {"junk", ordinaryCa_.pem()}, now_).status, CertificateStatus::Valid);
}

TEST_F(ClientCertificateTest, PoliciesAndIdentificationFromCertificate) {
  CertSpec q = leaf("DEVELOPMENT qualified person", 61);
  q.qcCompliance = true;
  q.policyOids = {"0.4.0.194112.1.2"};  // QCP-n-qscd
  CertSpec n = leaf("DEVELOPMENT ncp person", 62);
  n.policyOids = {"0.4.0.2042.1.2"};  // NCP+
  CertSpec plain = leaf("DEVELOPMENT plain", 63);
  plain.policyOids = {"1.3.6.1.4.1.55555.1"};
  auto v = validator();
  CertificateCheck qc = v.validate(TestCertificate::issue(q, &qualifiedCa_).pem(), {}, now_);
  CertificateCheck nc = v.validate(TestCertificate::issue(n, &ordinaryCa_).pem(), {ordinaryCa_.pem()}, now_);
  CertificateCheck pc = v.validate(TestCertificate::issue(plain, &ordinaryCa_).pem(), {ordinaryCa_.pem()}, now_);
  ASSERT_TRUE(qc.valid() && nc.valid() && pc.valid()) << qc.detail << nc.detail << pc.detail;
  EXPECT_TRUE(qc.ncpPolicy);
  EXPECT_TRUE(nc.ncpPolicy);
  EXPECT_FALSE(pc.ncpPolicy);
  ASSERT_EQ(nc.policyOids.size(), 1u);
  EXPECT_EQ(nc.policyOids[0], "0.4.0.2042.1.2");

  auto qi = identificationFromCertificate(qc, "p1", now_);
  ASSERT_TRUE(qi.has_value());
  EXPECT_EQ(qi->method, IdentificationMethod::QualifiedCertificate);
  EXPECT_EQ(qi->level, LevelOfAssurance::High);
  auto ni = identificationFromCertificate(nc, "p1", now_);
  ASSERT_TRUE(ni.has_value());
  EXPECT_EQ(ni->method, IdentificationMethod::NcpCertificate);
  EXPECT_EQ(ni->level, LevelOfAssurance::Substantial);
  EXPECT_FALSE(identificationFromCertificate(pc, "p1", now_).has_value());
  CertificateCheck expired = qc;
  expired.status = CertificateStatus::Expired;
  EXPECT_FALSE(identificationFromCertificate(expired, "p1", now_).has_value());
}

TEST_F(ClientCertificateTest, SignedChallenge) {
  TestCertificate holder = TestCertificate::issue(leaf("DEVELOPMENT signer", 71), &qualifiedCa_);
  TestCertificate other = TestCertificate::issue(leaf("DEVELOPMENT other", 72), &qualifiedCa_);
  std::string challenge = newCertificateChallenge();
  EXPECT_EQ(challenge.size(), 43u);
  EXPECT_NE(challenge, newCertificateChallenge());
  std::string sig = holder.sign(challenge);
  EXPECT_TRUE(CertificateValidator::verifyChallengeSignature(holder.pem(), challenge, sig).has_value());
  EXPECT_TRUE(CertificateValidator::verifyChallengeSignature(other.pem(), challenge, sig).error().is(ErrorCode::IntegrityFailure));
  EXPECT_TRUE(CertificateValidator::verifyChallengeSignature(holder.pem(), challenge + "x", sig).error().is(ErrorCode::IntegrityFailure));
  EXPECT_TRUE(CertificateValidator::verifyChallengeSignature(holder.pem(), challenge, "garbage").error().is(ErrorCode::IntegrityFailure));
  EXPECT_TRUE(CertificateValidator::verifyChallengeSignature("junk", challenge, sig).error().is(ErrorCode::InvalidInput));
}

TEST_F(ClientCertificateTest, CreateRejectsBadConfiguration) {
  CertificateValidatorOptions none;
  EXPECT_TRUE(CertificateValidator::create(none).error().is(ErrorCode::InvalidInput));
  CertificateValidatorOptions bad;
  bad.trustAnchorsPem = {"not a certificate"};
  EXPECT_FALSE(CertificateValidator::create(bad).has_value());
  CertificateValidatorOptions badCrl;
  badCrl.trustAnchorsPem = {root_.pem()};
  badCrl.crlsPem = {"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"};
  EXPECT_FALSE(CertificateValidator::create(badCrl).has_value());
}

}  // namespace
}  // namespace erds::identity
