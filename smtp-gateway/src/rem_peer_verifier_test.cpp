// Inbound REM from pinned peers: REM messages we build ourselves (rem_message.cpp) carrying a real
// sealed evidence (the AgID kit's SubmissionAcceptance), signed by a pinned vs an unpinned key,
// with a byte flipped, with a broken evidence; spooled (file BIO) and in memory.
#include "erds/smtp/rem_peer_verifier.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "erds/evidence/file_key_signer.h"
#include "test_pki.h"

namespace erds::smtp {
namespace {

namespace fs = std::filesystem;

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const fs::path kAgid = fs::path(ERDS_CONFORMANCE_DIR) / "documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version";

std::unique_ptr<MessageData> messageOf(const std::string& s, std::size_t memory = 1 << 20) {
  auto m = std::make_unique<MessageData>(memory, "");
  EXPECT_TRUE(m->append(s).has_value());
  EXPECT_TRUE(m->finish().has_value());
  return m;
}

class RemPeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = evidence::testing::makeTempDir("erds-rem-peer");
    fs::create_directories(dir_ + "/pinned");
    fs::create_directories(dir_ + "/unpinned");
    evidence::testing::TestPki pki("erds DEVELOPMENT peer root");
    evidence::testing::TestCertOptions o;
    o.commonName = "peer DEVELOPMENT REM seal";
    auto pinned = pki.issue(o);
    evidence::testing::writeKeyFiles(dir_ + "/pinned", "seal", pinned, pki.root().certPem);
    o.commonName = "other DEVELOPMENT REM seal";
    // Same root (which is in the peer file): it chains, but it is not pinned.
    evidence::testing::writeKeyFiles(dir_ + "/unpinned", "seal", pki.issue(o), pki.root().certPem);
    peersPem_ = pinned.certPem + pki.root().certPem + readFile(kAgid / "certificates" / "REM-ROOT-CA.crt") +
                readFile(kAgid / "certificates" / "TSA-ROOT-CA.extracted-from-sample-tokens.pem");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string build(const std::string& keyDir, const std::string& evidenceXml) {
    fs::create_directories(keyDir);
    auto signer = evidence::FileKeySigner::fromDirectory(keyDir, {"seal"});
    EXPECT_TRUE(signer.has_value()) << signer.error().toString();
    RemMessageSpec s;
    s.kind = RemKind::Dispatch;
    s.serviceAddress = "rem-service@peer.example";
    s.senderAddress = "alice@peer.example";
    s.to = {"bob@example.test"};
    s.subject = "Order";
    s.messageId = "<m1.rem-service@peer.example>";
    s.date = "Fri, 27 Nov 2026 10:00:00 +0000";
    s.eventIdentifier = "http://uri.etsi.org/19522/Event/SubmissionAcceptance";
    s.evidenceId = "<ev1@peer.example>";
    s.originalMessage = "From: alice@peer.example\r\nTo: bob@example.test\r\nSubject: Order\r\n\r\nten boxes\r\n";
    s.introduction = "REM Dispatch\n";
    s.evidence = {{"SubmissionAcceptance", evidenceXml}};
    auto built = buildRemMessage(s, std::shared_ptr<evidence::Signer>(std::move(signer).value()), "seal");
    EXPECT_TRUE(built.has_value()) << built.error().toString();
    return built ? *built : "";
  }
  static std::shared_ptr<const RemPeerVerifier> verifier() {
    // The kit time-stamps its evidence minutes after EventTime (see evidence_verifier_test.cpp).
    auto v = RemPeerVerifier::create(peersPem_, std::chrono::minutes(30));
    EXPECT_TRUE(v.has_value()) << v.error().toString();
    return v ? *v : nullptr;
  }
  static std::string kitEvidence() { return readFile(kAgid / "standalone-evidence" / "SubmissionAcceptance.RA01.xml"); }

  static std::string dir_;
  static std::string peersPem_;
};
std::string RemPeerTest::dir_;
std::string RemPeerTest::peersPem_;

TEST_F(RemPeerTest, PinnedPeerWithValidEvidenceIsAcceptedInMemoryAndSpooled) {
  const std::string raw = build(dir_ + "/pinned", kitEvidence());
  auto v = verifier();
  ASSERT_TRUE(v);
  auto m = messageOf(raw);
  EXPECT_TRUE(RemPeerVerifier::looksLikeRem(*m));
  auto r = v->verify(*m);
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  EXPECT_NE(r->signerSubject.find("peer DEVELOPMENT REM seal"), std::string::npos) << r->signerSubject;
  ASSERT_EQ(r->evidenceEvents.size(), 1u);
  EXPECT_EQ(r->evidenceEvents[0], "SubmissionAcceptance");
  auto spooled = messageOf(raw, 64);  // a spool file: the CMS layer reads it through a file BIO
  ASSERT_FALSE(spooled->inMemory());
  auto r2 = v->verify(*spooled);
  ASSERT_TRUE(r2.has_value()) << r2.error().toString();
}

TEST_F(RemPeerTest, UnpinnedSignerIsRefusedEvenThoughItChains) {
  auto r = verifier()->verify(*messageOf(build(dir_ + "/unpinned", kitEvidence())));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::IntegrityFailure);
  EXPECT_NE(r.error().message.find("not a pinned peer"), std::string::npos) << r.error().message;
}

TEST_F(RemPeerTest, FlippedByteOrBrokenEvidenceIsRefused) {
  std::string raw = build(dir_ + "/pinned", kitEvidence());
  const auto pos = raw.find("ten boxes");
  ASSERT_NE(pos, std::string::npos);
  raw[pos] = 'T';
  auto r = verifier()->verify(*messageOf(raw));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::IntegrityFailure) << r.error().toString();

  // A correctly signed message whose evidence was altered before signing: the evidence check fails.
  std::string ev = kitEvidence();
  const auto t = ev.find("SubmissionAcceptance</");
  ASSERT_NE(t, std::string::npos);
  ev.replace(t, 20, "SubmissionRejection ");
  auto r2 = verifier()->verify(*messageOf(build(dir_ + "/pinned", ev)));
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code, ErrorCode::IntegrityFailure);
  EXPECT_NE(r2.error().message.find("evidence"), std::string::npos) << r2.error().message;

  // Not a REM message at all, but claiming to be one.
  auto r3 = verifier()->verify(*messageOf("REM-MessageType: x\r\nFrom: a@b.example\r\n\r\nhi\r\n"));
  ASSERT_FALSE(r3.has_value());
  EXPECT_EQ(r3.error().code, ErrorCode::IntegrityFailure);
}

TEST_F(RemPeerTest, DetectionAndConfiguration) {
  EXPECT_FALSE(RemPeerVerifier::looksLikeRem(*messageOf("From: a@b.example\r\nSubject: REM-x\r\n\r\nREM-MessageType: x\r\n")));
  EXPECT_TRUE(RemPeerVerifier::looksLikeRem(*messageOf("From: a@b.example\r\nrem-messagetype: x\r\n\r\nhi\r\n")));
  EXPECT_FALSE(RemPeerVerifier::create("no pem here").has_value());
  EXPECT_EQ(RemPeerVerifier::fromFile(dir_ + "/absent.pem").error().code, ErrorCode::NotFound);
}

}  // namespace
}  // namespace erds::smtp
