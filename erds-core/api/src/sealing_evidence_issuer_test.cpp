#include "erds/api/sealing_evidence_issuer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/base/config.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/timestamp_verify.h"
#include "fake_clock.h"
#include "test_pki.h"

namespace erds::api {
namespace {

namespace et = erds::evidence::testing;

class SealingIssuerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = et::makeTempDir("erds-api-issuer");
    et::TestPki pki;
    et::TestCertOptions seal;
    seal.commonName = "erds DEVELOPMENT seal";
    et::writeKeyFiles(dir_, "seal", pki.issue(seal), pki.root().certPem);
    et::TestCertOptions tsu;
    tsu.commonName = "erds DEVELOPMENT tsu";
    tsu.timeStamping = true;
    et::writeKeyFiles(dir_, "tsu", pki.issue(tsu), pki.root().certPem);
    auto signer = evidence::FileKeySigner::fromDirectory(dir_, {"seal", "tsu"});
    ASSERT_TRUE(signer.has_value()) << signer.error().message;
    signer_ = std::shared_ptr<evidence::Signer>(std::move(signer).value());
    evidence::Rfc3161TsuOptions o;
    o.policyOid = "1.3.6.1.4.1.55555.1.1";
    o.requireSyncedClock = false;
    auto tsu2 = evidence::Rfc3161Tsu::create(signer_, o, clock_);
    ASSERT_TRUE(tsu2.has_value()) << tsu2.error().message;
    tsa_ = std::shared_ptr<evidence::TimestampAuthority>(std::move(tsu2).value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  core::EvidenceRequest request(core::Event e, std::optional<int> idx) {
    core::EvidenceRequest r;
    r.event = e;
    r.message.messageId = "0b7f3a58-6f0e-4a43-9d7e-8a1f0b6c2d11";
    r.message.senderPartyId = "p-alice";
    r.message.senderIdentifier = "mailto:alice@example.test";
    r.message.subject = "Contract";
    r.message.contentDigest = std::string(32, '\x11');
    r.message.submittedAt = clock_.now();
    r.recipientIndex = idx;
    r.recipientIdentifier = idx ? "mailto:bob@example.test" : "";
    r.eventTime = clock_.now();
    return r;
  }

  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1795773600))};
  std::string dir_;
  std::shared_ptr<evidence::Signer> signer_;
  std::shared_ptr<evidence::TimestampAuthority> tsa_;
};

TEST_F(SealingIssuerTest, SealsSubmissionAcceptanceWithAnnouncedRecipients) {
  auto issuer = SealingEvidenceIssuer::create(signer_, tsa_, clock_, nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().message;
  auto req = request(core::Event::SubmissionAcceptance, std::nullopt);
  // Without the recipients the evidence cannot be expressed (I06).
  EXPECT_TRUE((*issuer)->issue(req).error().is(ErrorCode::NotFound));
  (*issuer)->announceRecipients(req.message.messageId, {"mailto:bob@example.test", "mailto:carol@example.test"});
  auto out = (*issuer)->issue(req);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_NE(out->xml.find(out->evidenceId), std::string::npos);
  EXPECT_NE(out->xml.find("SignatureTimeStamp"), std::string::npos);
  auto parsed = evidence::readEvidenceXml(out->xml);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->event, evidence::Event::SubmissionAcceptance);
  EXPECT_TRUE(parsed->hasSignature);
  ASSERT_EQ(parsed->recipients.size(), 2u);
  EXPECT_EQ(parsed->recipients[1].identifier->value, "carol@example.test");
  EXPECT_EQ(*parsed->messageIdentifier, req.message.messageId);
  (*issuer)->forgetRecipients(req.message.messageId);
}

TEST_F(SealingIssuerTest, RecipientEventRefersToItsRecipient) {
  RecipientLookup lookup = [](const std::string&) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{"mailto:carol@example.test", "mailto:bob@example.test"};
  };
  auto issuer = SealingEvidenceIssuer::create(signer_, tsa_, clock_, lookup);
  ASSERT_TRUE(issuer.has_value());
  auto out = (*issuer)->issue(request(core::Event::ContentHandover, 1));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  auto parsed = evidence::readEvidenceXml(out->xml);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->event, evidence::Event::ContentHandover);
  EXPECT_EQ(*parsed->evidenceRefersToRecipient, 2);
  // Reason codes travel; an unknown one is refused.
  auto bad = request(core::Event::ConsignmentRejection, 0);
  bad.reason = "RZ99";
  EXPECT_TRUE((*issuer)->issue(bad).error().is(ErrorCode::InvalidInput));
}

TEST_F(SealingIssuerTest, NonErdsEventsNameTheExternalSystemAndNoRecipientIndex) {
  auto issuer = SealingEvidenceIssuer::create(signer_, tsa_, clock_, nullptr);
  ASSERT_TRUE(issuer.has_value());
  EXPECT_EQ((*issuer)->signer(), signer_);
  EXPECT_EQ((*issuer)->timestampAuthority(), tsa_);
  // Relay of recipient 1 of two: F.1 has no I09, so it names only the recipient concerned.
  auto relay = request(core::Event::RelayToNonERDS, 1);
  relay.message.recipientIdentifiers = {"mailto:carol@example.test", "mailto:bob@example.test"};
  relay.externalSystem = "SMTP mx.elsewhere.test: 250 2.0.0 queued";
  auto out = (*issuer)->issue(relay);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  auto parsed = evidence::readEvidenceXml(out->xml);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->event, evidence::Event::RelayToNonERDS);
  EXPECT_FALSE(parsed->evidenceRefersToRecipient.has_value());
  ASSERT_EQ(parsed->recipients.size(), 1u);
  EXPECT_EQ(parsed->recipients[0].identifier->value, "bob@example.test");
  ASSERT_TRUE(parsed->externalSystem.has_value());
  EXPECT_EQ(*parsed->externalSystem, relay.externalSystem);
  auto failure = request(core::Event::RelayToNonERDSFailure, 0);
  failure.message.recipientIdentifiers = {"mailto:bob@example.test"};
  failure.reason = "RF03";
  ASSERT_TRUE((*issuer)->issue(failure).has_value());
  // Reception from outside: message level, every (local) recipient, a default M04.
  auto received = request(core::Event::ReceivedFromNonERDS, std::nullopt);
  received.message.senderIdentifier = "mailto:someone@elsewhere.test";
  received.message.recipientIdentifiers = {"mailto:bob@example.test", "mailto:carol@example.test"};
  auto rec = (*issuer)->issue(received);
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  auto p2 = evidence::readEvidenceXml(rec->xml);
  ASSERT_TRUE(p2.has_value()) << p2.error().message;
  EXPECT_EQ(p2->event, evidence::Event::ReceivedFromNonERDS);
  EXPECT_EQ(p2->recipients.size(), 2u);
  EXPECT_TRUE(p2->externalSystem.has_value());
}

class DownTsa final : public evidence::TimestampAuthority {
 public:
  Result<evidence::TimestampToken> timestamp(std::string_view) override { return Error::unavailable("tsa down"); }
};

TEST_F(SealingIssuerTest, NoTimeStampMeansUnavailable) {
  auto issuer = SealingEvidenceIssuer::create(signer_, std::make_shared<DownTsa>(), clock_, nullptr);
  ASSERT_TRUE(issuer.has_value());
  auto req = request(core::Event::SubmissionAcceptance, std::nullopt);
  (*issuer)->announceRecipients(req.message.messageId, {"mailto:bob@example.test"});
  EXPECT_TRUE((*issuer)->issue(req).error().is(ErrorCode::Unavailable));
}

// A signer that is unreachable (Unavailable) until switched on, like erds-signer starting after
// erdsd.
class LateSigner final : public evidence::Signer {
 public:
  explicit LateSigner(std::shared_ptr<evidence::Signer> inner) : inner_(std::move(inner)) {}
  Result<std::string> signDigest(std::string_view label, std::string_view digest) override {
    if (!up) return Error::unavailable("signer not reachable");
    return inner_->signDigest(label, digest);
  }
  Result<evidence::SigningKeyInfo> keyInfo(std::string_view label) override {
    if (!up) return Error::unavailable("signer not reachable");
    return inner_->keyInfo(label);
  }
  std::atomic<bool> up{false};

 private:
  std::shared_ptr<evidence::Signer> inner_;
};

Config loadTestConfig(const std::string& path, const std::string& text) {
  et::writeFile(path, text, 0600);
  auto c = Config::load(path, {});
  if (!c) ADD_FAILURE() << c.error().toString();
  ERDS_CHECK(c.has_value(), "test config");
  return std::move(*c);
}

TEST_F(SealingIssuerTest, FromConfigBuiltinSealsAndAnswersRawRequests) {
  Config config = loadTestConfig(dir_ + "/erds.conf", "[signer]\nmode = inprocess\nkey_dir = " + dir_ +
                                                          "\n[tsa]\nsource = builtin\n");
  auto issuer = SealingEvidenceIssuer::fromConfig(config, clock_, nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto req = request(core::Event::SubmissionAcceptance, std::nullopt);
  req.message.recipientIdentifiers = {"mailto:bob@example.test"};
  ASSERT_TRUE((*issuer)->issue(req).has_value());
  auto responder = (*issuer)->builtinResponder();
  ASSERT_TRUE(responder);
  const std::string digest(32, '\x42');
  auto query = evidence::buildTimestampRequest(digest);
  ASSERT_TRUE(query.has_value());
  auto reply = responder(*query);
  ASSERT_TRUE(reply.has_value()) << reply.error().toString();
  EXPECT_GT(reply->size(), 100u);
  // Created by create(): no built-in unit to serve.
  auto plain = SealingEvidenceIssuer::create(signer_, tsa_, clock_, nullptr);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE((*plain)->builtinResponder());
}

// signer.ocsp_files: responses for the seal and TSU certificates are checked at startup and kept
// in every evidence; a response revoking the seal certificate refuses to start, naming it.
TEST_F(SealingIssuerTest, FromConfigKeepsOcspFilesAndRefusesARevokedSeal) {
  const std::string dir = et::makeTempDir("erds-api-ocsp");
  et::TestPki pki;
  et::TestCertOptions sealOptions;
  sealOptions.commonName = "erds DEVELOPMENT ocsp seal";
  const et::TestCert seal = pki.issue(sealOptions);
  et::TestCertOptions tsuOptions;
  tsuOptions.commonName = "erds DEVELOPMENT ocsp tsu";
  tsuOptions.timeStamping = true;
  const et::TestCert tsu = pki.issue(tsuOptions);
  et::writeKeyFiles(dir, "seal", seal, pki.root().certPem);
  et::writeKeyFiles(dir, "tsu", tsu, pki.root().certPem);
  et::writeFile(dir + "/seal.ocsp", et::issueOcspResponse(pki.root(), seal));
  et::writeFile(dir + "/tsu.ocsp", et::issueOcspResponse(pki.root(), tsu));
  et::writeFile(dir + "/seal-revoked.ocsp", et::issueOcspResponse(pki.root(), seal, true));
  // OCSP responses are current now: this test's clock is the real time.
  erds::testing::FakeClock now(SystemClock::instance().now());
  const std::string base = "[signer]\nmode = inprocess\nkey_dir = " + dir + "\n";
  Config good = loadTestConfig(dir + "/good.conf", base + "ocsp_files = " + dir + "/seal.ocsp, " + dir +
                                                       "/tsu.ocsp\n[tsa]\nsource = builtin\n");
  auto issuer = SealingEvidenceIssuer::fromConfig(good, now, nullptr);
  ASSERT_TRUE(issuer.has_value()) << issuer.error().toString();
  auto req = request(core::Event::SubmissionAcceptance, std::nullopt);
  req.message.recipientIdentifiers = {"mailto:bob@example.test"};
  auto out = (*issuer)->issue(req);
  ASSERT_TRUE(out.has_value()) << out.error().toString();
  EXPECT_NE(out->xml.find("<xades:OCSPValues><xades:EncapsulatedOCSPValue>"), std::string::npos);

  Config revoked = loadTestConfig(dir + "/revoked.conf", base + "ocsp_files = " + dir + "/seal-revoked.ocsp," + dir +
                                                             "/tsu.ocsp\n[tsa]\nsource = builtin\n");
  auto refused = SealingEvidenceIssuer::fromConfig(revoked, now, nullptr);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::IntegrityFailure);
  EXPECT_NE(refused.error().message.find("ocsp seal"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("is revoked (OCSP"), std::string::npos) << refused.error().message;

  Config missing = loadTestConfig(dir + "/missing.conf", base + "ocsp_files = " + dir + "/nope.ocsp\n");
  auto bad = SealingEvidenceIssuer::fromConfig(missing, now, nullptr);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("signer.ocsp_files"), std::string::npos) << bad.error().message;
  std::filesystem::remove_all(dir);
}

TEST_F(SealingIssuerTest, QualifiedBuiltinUnitIsVettedWhenTheSignerComesUp) {
  // Keys with a qualified TSU certificate beside the non-qualified ones of the fixture.
  et::TestPki pki("erds DEVELOPMENT qualified root");
  const std::string qdir = dir_ + "/q";
  std::filesystem::create_directories(qdir);
  et::TestCertOptions seal;
  et::writeKeyFiles(qdir, "seal", pki.issue(seal), pki.root().certPem);
  et::TestCertOptions tsu;
  tsu.timeStamping = true;
  tsu.qtstStatement = true;
  et::writeKeyFiles(qdir, "tsu", pki.issue(tsu), pki.root().certPem);
  et::writeFile(dir_ + "/qroot.pem", pki.root().certPem);
  Config config = loadTestConfig(
      dir_ + "/q.conf", "[service]\nmode = qualified\n[http]\ntls_certificate = /nonexistent\ntls_key = /nonexistent\n"
                        "[secrets]\nkek_file = /nonexistent\n[tsa]\nsource = builtin\nrequire_synced_clock = false\n"
                        "qualified_trust_anchors = " + dir_ + "/qroot.pem\n");
  auto fileSigner = [](const std::string& d) {
    auto s = evidence::FileKeySigner::fromDirectory(d, {"seal", "tsu"});
    ERDS_CHECK(s.has_value(), "signer");
    return std::shared_ptr<evidence::Signer>(std::move(*s));
  };
  // Not qualified (the fixture's TSU), signer late: starts, then refuses every token.
  auto late = std::make_shared<LateSigner>(fileSigner(dir_));
  auto sources = SealingEvidenceIssuer::timestampSourcesFromConfig(config, late, clock_);
  ASSERT_TRUE(sources.has_value()) << sources.error().toString();
  const std::string digest(32, '\x42');
  EXPECT_TRUE(sources->authority->timestamp(digest).error().is(ErrorCode::Unavailable));
  late->up = true;
  auto refused = sources->authority->timestamp(digest);
  ASSERT_FALSE(refused.has_value());
  EXPECT_TRUE(refused.error().is(ErrorCode::Unavailable));
  EXPECT_NE(refused.error().message.find("esi4-qtstStatement-1"), std::string::npos) << refused.error().message;
  // Qualified TSU, signer late: once up, its tokens are issued and qualified.
  auto lateQ = std::make_shared<LateSigner>(fileSigner(qdir));
  auto qsources = SealingEvidenceIssuer::timestampSourcesFromConfig(config, lateQ, clock_);
  ASSERT_TRUE(qsources.has_value()) << qsources.error().toString();
  EXPECT_TRUE(qsources->authority->timestamp(digest).error().is(ErrorCode::Unavailable));
  lateQ->up = true;
  auto token = qsources->authority->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  auto v = evidence::TimestampVerifier::fromPem(pki.root().certPem);
  ASSERT_TRUE(v.has_value());
  evidence::TimestampVerifyOptions vo;
  vo.requireQualified = true;
  vo.asOf = clock_.now();
  EXPECT_TRUE((*v)->verify(token->der, digest, vo).has_value());
}

}  // namespace
}  // namespace erds::api
