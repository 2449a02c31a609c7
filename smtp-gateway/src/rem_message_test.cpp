// REM builder and parser: the ETSI/AgID conformance kit, our own messages, openssl cms and Python.
#include "erds/smtp/rem_message.h"

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "mime_raw.h"
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

int runCommand(const std::string& cmd, std::string* output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const fs::path kConformance = ERDS_CONFORMANCE_DIR;
const fs::path kEtsiCerts = kConformance / "en_31953204v010201p0/INFORMATIVE-EXAMPLES/CERTIFICATES";
const fs::path kAgidCerts = kConformance / "documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version/certificates";

RemTrust kitTrust() {
  RemTrust t;
  t.anchorsPem = {readFile(kEtsiCerts / "REM-ROOT-CA.crt"), readFile(kAgidCerts / "REM-ROOT-CA.crt")};
  t.untrustedPem = {readFile(kEtsiCerts / "REM-INTERMEDIATE-CA.crt"),
                    readFile(kAgidCerts / "REM-POLICY-IT-INTERMEDIATE-CERTIFICATE.crt")};
  return t;
}

bool isSignedRem(const std::string& raw) {
  auto e = internal::parseEntity(raw);
  if (!e) return false;
  auto ct = internal::parseContentType(e->header("Content-Type").value_or(""));
  return ct && ct->type == "multipart" && ct->subtype == "signed";
}

TEST(RemConformance, EveryKitMessageVerifiesAndItsDigestMatches) {
  ASSERT_TRUE(fs::exists(kConformance)) << kConformance;
  RemTrust trust = kitTrust();
  int signedCount = 0, plainCount = 0, withOriginal = 0, evidenceCount = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kConformance)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".eml") continue;
    std::string raw = readFile(entry.path());
    if (!isSignedRem(raw)) {
      // Original user messages in the kit (not REM messages): they must at least be well-formed.
      ++plainCount;
      EXPECT_TRUE(internal::parseEntity(raw).has_value()) << entry.path();
      continue;
    }
    ++signedCount;
    SCOPED_TRACE(entry.path().string());
    auto msg = parseRemMessageFile(entry.path().string(), trust);
    ASSERT_TRUE(msg.has_value()) << msg.error().toString();
    EXPECT_FALSE(msg->messageType.empty());
    EXPECT_FALSE(msg->eventIdentifier.empty());
    EXPECT_NE(msg->signingTime, 0);
    EXPECT_FALSE(msg->signerCertificateDer.empty());
    if (msg->original) {
      ++withOriginal;
      EXPECT_EQ(*msg->recomputedDigest, msg->digestValue);
      EXPECT_TRUE(msg->original->ends_with("\r\n"));
    }
    for (const auto& ev : msg->evidence) {
      ++evidenceCount;
      auto parsed = evidence::readEvidenceXml(ev.xml);
      ASSERT_TRUE(parsed.has_value()) << ev.eventName << ": " << parsed.error().toString();
      EXPECT_TRUE(parsed->hasSignature);
      // AgID quirk: the Outflow RelayToNonERDS* samples carry the SubmissionAcceptance's id in
      // REM-Evidence-ID, not the id of the evidence they contain.
      if (entry.path().string().find("Outflow/REM_RelayToNonERDS") == std::string::npos) {
        EXPECT_EQ("<" + parsed->evidenceIdentifier + ">", msg->evidenceId) << ev.eventName;
      }
    }
  }
  EXPECT_GE(signedCount, 270);
  EXPECT_GE(plainCount, 1);
  EXPECT_GE(withOriginal, 50);
  EXPECT_GE(evidenceCount, signedCount - 10);
  std::printf("conformance: %d signed REM messages, %d with original, %d evidence parts, %d plain\n",
              signedCount, withOriginal, evidenceCount, plainCount);
}

TEST(RemConformance, TamperedKitMessageIsRefused) {
  fs::path p = kConformance / "en_31953204v010201p0/INFORMATIVE-EXAMPLES/SCENARIOS/S7/2a.Issued_by_S-REMS-A/REM_Dispatch.RA01.eml";
  std::string raw = readFile(p);
  ASSERT_TRUE(parseRemMessage(raw, kitTrust()).has_value());
  std::string tampered = raw;
  // Inside the signed original (the outer Subject is not covered by the signature).
  auto pos = tampered.find("Purchase order #1237\r\nDate", tampered.find("rem_message/original"));
  ASSERT_NE(pos, std::string::npos);
  tampered[pos + 19] = '8';
  auto r = parseRemMessage(tampered, kitTrust());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::IntegrityFailure);
  // Untrusted anchors: refused.
  RemTrust other;
  other.anchorsPem = {readFile(kEtsiCerts / "TSA.NOWNTSTS202004.pem")};
  auto u = parseRemMessage(raw, other);
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code, ErrorCode::IntegrityFailure);
  // Not verified "as of now": the kit certificates' chain is checked at the signing time only.
  EXPECT_FALSE(parseRemMessage("From: a@b\r\n\r\nhello\r\n", kitTrust()).has_value());
}

class RemBuilderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = evidence::testing::makeTempDir("erds-rem-test");
    pki_ = std::make_unique<evidence::testing::TestPki>();
    evidence::testing::TestCertOptions o;
    o.commonName = "erds DEVELOPMENT REM seal";
    evidence::testing::writeKeyFiles(dir_, "seal", pki_->issue(o), pki_->root().certPem);
    evidence::testing::writeFile(dir_ + "/root.pem", pki_->root().certPem);
  }
  static void TearDownTestSuite() {
    if (std::getenv("ERDS_KEEP_TMP") == nullptr) fs::remove_all(dir_);
    pki_.reset();
  }

  std::shared_ptr<evidence::Signer> signer() {
    auto s = evidence::FileKeySigner::fromDirectory(dir_, {"seal"});
    EXPECT_TRUE(s.has_value()) << s.error().toString();
    return std::shared_ptr<evidence::Signer>(std::move(s).value());
  }

  static RemMessageSpec dispatchSpec() {
    RemMessageSpec s;
    s.kind = RemKind::Dispatch;
    s.serviceAddress = "rem-service@example.test";
    s.senderAddress = "alice@example.test";
    s.to = {"bob@other.test"};
    s.subject = "Purchase order #1";
    s.messageId = "<m1.rem-service@example.test>";
    s.date = "Wed, 01 Dec 2021 23:15:55 +0100";
    s.originalMessageId = "<orig1@example.test>";
    s.eventIdentifier = "http://uri.etsi.org/19522/Event/SubmissionAcceptance";
    s.evidenceId = "<ev1@example.test>";
    s.reasonIdentifiers = {"http://uri.etsi.org/19522/EventReason/MessageAccepted"};
    s.originalMessage = "From: alice@example.test\r\nTo: bob@other.test\r\nSubject: Purchase order #1\r\n"
                        "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                        "Caf\xc3\xa9 order\r\n.dot line\r\n\r\n";
    s.introduction = "REM Dispatch\nSender: alice@example.test <script>\n";
    s.evidence = {{"SubmissionAcceptance", "<?xml version=\"1.0\"?><x>evidence</x>"}};
    return s;
  }

  static std::string dir_;
  static std::unique_ptr<evidence::testing::TestPki> pki_;
};
std::string RemBuilderTest::dir_;
std::unique_ptr<evidence::testing::TestPki> RemBuilderTest::pki_;

TEST_F(RemBuilderTest, DispatchRoundTripsThroughOurParser) {
  auto spec = dispatchSpec();
  auto built = buildRemMessage(spec, signer(), "seal");
  ASSERT_TRUE(built.has_value()) << built.error().toString();
  EXPECT_NE(built->find("From: \"On behalf of: alice@example.test\" <rem-service@example.test>\r\n"), std::string::npos);
  EXPECT_NE(built->find("Subject: REM Dispatch: Purchase order #1\r\n"), std::string::npos);
  EXPECT_NE(built->find("REM-MessageType: http://uri.etsi.org/19522/v1#/ERDMessageType/dispatch\r\n"), std::string::npos);
  EXPECT_NE(built->find("REM-DigestValue: " + remDigest(spec.originalMessage) + "\r\n"), std::string::npos);
  EXPECT_EQ(built->find("\n", 0) , built->find("\r\n") + 1) << "CRLF line ends";
  RemTrust trust;
  trust.anchorsPem = {pki_->root().certPem};
  auto parsed = parseRemMessage(*built, trust);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().toString();
  ASSERT_TRUE(parsed->original.has_value());
  EXPECT_EQ(*parsed->original, spec.originalMessage);
  EXPECT_EQ(parsed->digestValue, remDigest(spec.originalMessage));
  ASSERT_EQ(parsed->evidence.size(), 1u);
  EXPECT_EQ(parsed->evidence[0].eventName, "SubmissionAcceptance");
  EXPECT_EQ(parsed->evidence[0].xml, spec.evidence[0].xml);
  EXPECT_EQ(parsed->evidenceId, "<ev1@example.test>");
  EXPECT_NE(parsed->signingTime, 0);

  // One changed byte in the original: the signature fails.
  std::string tampered = *built;
  tampered[tampered.find("order\r\n.dot")] = 'O';
  auto bad = parseRemMessage(tampered, trust);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::IntegrityFailure);
}

TEST_F(RemBuilderTest, ReceiptCarriesDigestButNoOriginal) {
  auto spec = dispatchSpec();
  spec.kind = RemKind::Receipt;
  spec.eventName = "SubmissionAcceptance";
  spec.to = {"alice@example.test"};
  auto built = buildRemMessage(spec, signer(), "seal");
  ASSERT_TRUE(built.has_value()) << built.error().toString();
  EXPECT_NE(built->find("Subject: REM SubmissionAcceptance: Purchase order #1\r\n"), std::string::npos);
  EXPECT_NE(built->find("From: <rem-service@example.test>\r\n"), std::string::npos);
  RemTrust trust;
  trust.anchorsPem = {pki_->root().certPem};
  auto parsed = parseRemMessage(*built, trust);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().toString();
  EXPECT_FALSE(parsed->original.has_value());
  EXPECT_EQ(parsed->messageType, kRemMessageTypeReceipt);
  EXPECT_EQ(parsed->digestValue, remDigest(spec.originalMessage));
}

TEST_F(RemBuilderTest, RefusesBadSpecs) {
  auto spec = dispatchSpec();
  spec.originalMessage = "From: a\nbare lf\n";
  EXPECT_EQ(buildRemMessage(spec, signer(), "seal").error().code, ErrorCode::InvalidInput);
  spec = dispatchSpec();
  spec.subject = "x";
  spec.evidenceId = "<a>\r\nBcc: victim@x";
  EXPECT_EQ(buildRemMessage(spec, signer(), "seal").error().code, ErrorCode::InvalidInput);
  spec = dispatchSpec();
  EXPECT_EQ(buildRemMessage(spec, signer(), "nosuchkey").error().code, ErrorCode::NotFound);
}

TEST_F(RemBuilderTest, OpensslCmsVerifyAndPythonEmailAcceptOurDispatch) {
  auto spec = dispatchSpec();
  spec.evidence.push_back({"RelayToNonERDS", "<?xml version=\"1.0\"?><y/>"});
  auto built = buildRemMessage(spec, signer(), "seal");
  ASSERT_TRUE(built.has_value()) << built.error().toString();
  std::string path = dir_ + "/dispatch.eml";
  evidence::testing::writeFile(path, *built);

  std::string out;
  int rc = runCommand("openssl cms -verify -in " + path + " -CAfile " + dir_ + "/root.pem -out " + dir_ +
                          "/content.out",
                      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Verification successful"), std::string::npos) << out;
  out.clear();
  rc = runCommand("openssl smime -verify -in " + path + " -CAfile " + dir_ + "/root.pem -out /dev/null", &out);
  EXPECT_EQ(rc, 0) << out;

  std::string script =
      "import email, sys\n"
      "from email import policy\n"
      "m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.default)\n"
      "def tree(p, d=0):\n"
      "    print('  ' * d + p.get_content_type())\n"
      "    if p.is_multipart():\n"
      "        for c in p.iter_parts() if p.get_content_type() != 'message/rfc822' else [p.get_payload(0)]:\n"
      "            tree(c, d + 1)\n"
      "tree(m)\n"
      "assert m['REM-MessageType'].endswith('/dispatch')\n"
      "assert not m.defects, m.defects\n"
      "mixed = m.get_payload(0)\n"
      "orig = mixed.get_payload(1)\n"
      "assert orig['REM-Section-Type'] == 'rem_message/original'\n"
      "ev = mixed.get_payload(2)\n"
      "assert ev.get_filename() == 'SubmissionAcceptance.xml', ev.get_filename()\n"
      "assert ev.get_content().startswith(b'<?xml') or ev.get_content().startswith('<?xml')\n"
      "print('ok')\n";
  evidence::testing::writeFile(dir_ + "/tree.py", script);
  out.clear();
  rc = runCommand("python3 " + dir_ + "/tree.py " + path, &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out,
            "multipart/signed\n"
            "  multipart/mixed\n"
            "    multipart/alternative\n"
            "      text/plain\n"
            "      text/html\n"
            "    message/rfc822\n"
            "      text/plain\n"
            "    application/xml\n"
            "    application/xml\n"
            "  application/pkcs7-signature\n"
            "ok\n");
}

}  // namespace
}  // namespace erds::smtp
