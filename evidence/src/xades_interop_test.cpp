// Interop: our sealed evidence, for every event, is accepted by verifiers we did not write:
// `xmlsec1 --verify` (XMLDSig + chain), `openssl ts -verify` (the SignatureTimeStamp against the
// imprint over the canonical ds:SignatureValue) and xadesjs under Node (tests/interop). A missing
// tool or Node module is a failure, never a skip.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "erds/base/aead.h"
#include "ocsp_test_util.h"
#include "xades_test_util.h"

namespace erds::evidence {
namespace {

namespace fs = std::filesystem;
using testing::SealFixture;

struct CommandResult {
  int exitCode = -1;
  std::string output;
};

// Runs `command` through /bin/sh, capturing stdout+stderr.
CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

void writeBinary(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

bool haveTool(const std::string& name) { return run("command -v " + name).exitCode == 0; }

struct Sealed {
  Event event;
  std::string label;
  std::string path;
  SealedEvidence sealed;
};

class Interop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    f_ = new SealFixture();
    for (Event e : kAllEvents)
      for (const char* label : {testing::kSealP256, testing::kSealRsa}) {
        // P-256 evidence carries the embedded revocation values (CertificateValues,
        // RevocationValues after the SignatureTimeStamp); RSA evidence has none.
        auto& sealer = std::string(label) == testing::kSealP256 ? f_->sealerWithCrl : f_->sealer;
        auto s = sealer->seal(testing::evidenceNow(e), label);
        ERDS_CHECK(s.has_value(), "seal failed in interop setup");
        const std::string path = f_->dir + "/" + std::string(eventName(e)) + "-" + label + ".xml";
        writeBinary(path, s->document);
        all_->push_back({e, label, path, std::move(*s)});
      }
    writeBinary(f_->dir + "/tsu.pem", f_->tsu.certPem);
  }
  static void TearDownTestSuite() {
    delete f_;  // removes the temp dir
    f_ = nullptr;
    all_->clear();
  }
  static SealFixture* f_;
  static std::vector<Sealed>* all_;
};
SealFixture* Interop::f_ = nullptr;
std::vector<Sealed>* Interop::all_ = new std::vector<Sealed>();

TEST_F(Interop, Xmlsec1VerifiesEveryEvent) {
  ASSERT_TRUE(haveTool("xmlsec1")) << "xmlsec1 not installed (apt-get install xmlsec1)";
  for (const auto& s : *all_) {
    const auto r = run("xmlsec1 --verify --trusted-pem " +
                       quote(f_->dir + "/root-ca.pem") + " " + quote(s.path));
    EXPECT_EQ(r.exitCode, 0) << eventName(s.event) << " " << s.label << ": " << r.output;
    EXPECT_NE(r.output.find("OK"), std::string::npos) << r.output;
    if (s.label == testing::kSealP256) {
      EXPECT_NE(s.sealed.document.find("<xades:EncapsulatedCRLValue>"), std::string::npos);
    }
  }
}

TEST_F(Interop, Xmlsec1RejectsATamperedEvidence) {
  ASSERT_TRUE(haveTool("xmlsec1")) << "xmlsec1 not installed";
  std::string doc = all_->front().sealed.document;
  const auto at = doc.find("alice@example.test");
  ASSERT_NE(at, std::string::npos);
  doc[at] = 'A';
  const std::string path = f_->dir + "/tampered.xml";
  writeBinary(path, doc);
  const auto r = run("xmlsec1 --verify --trusted-pem " + quote(f_->dir + "/root-ca.pem") + " " + quote(path));
  EXPECT_NE(r.exitCode, 0) << r.output;
}

TEST_F(Interop, OpensslTsVerifiesEveryToken) {
  ASSERT_TRUE(haveTool("openssl")) << "openssl not installed";
  for (const auto& s : *all_) {
    const std::string token = s.path + ".tst";
    writeBinary(token, s.sealed.timestamp.der);
    const std::string digest = crypto::toHex(crypto::sha256(s.sealed.canonicalSignatureValue));
    const auto r = run("openssl ts -verify -digest " + digest + " -in " + quote(token) + " -token_in -CAfile " +
                       quote(f_->dir + "/root-ca.pem") + " -untrusted " + quote(f_->dir + "/tsu.pem"));
    EXPECT_EQ(r.exitCode, 0) << eventName(s.event) << ": " << r.output;
    EXPECT_NE(r.output.find("Verification: OK"), std::string::npos) << r.output;
    // And a wrong imprint is refused by the same tool.
    std::string wrong = digest;
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    const auto bad = run("openssl ts -verify -digest " + wrong + " -in " + quote(token) + " -token_in -CAfile " +
                         quote(f_->dir + "/root-ca.pem") + " -untrusted " + quote(f_->dir + "/tsu.pem"));
    EXPECT_NE(bad.exitCode, 0) << bad.output;
  }
}

TEST_F(Interop, XadesjsVerifiesEveryEvent) {
  ASSERT_TRUE(haveTool("node")) << "node not installed: xadesjs interop cannot run";
  const fs::path interop = fs::path(ERDS_SOURCE_DIR) / "tests" / "interop";
  ASSERT_TRUE(fs::exists(interop / "node_modules" / "xadesjs"))
      << "xadesjs missing: run tests/interop/setup.sh (npm ci || npm install)";
  std::string files;
  for (const auto& s : *all_) files += " " + quote(s.path);
  const auto r = run("node " + quote((interop / "verify_xades.mjs").string()) + files);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  for (const auto& s : *all_) EXPECT_NE(r.output.find(s.path + ": OK"), std::string::npos) << s.path << "\n" << r.output;
}

TEST_F(Interop, XadesjsRejectsATamperedEvidence) {
  ASSERT_TRUE(haveTool("node")) << "node not installed";
  const fs::path interop = fs::path(ERDS_SOURCE_DIR) / "tests" / "interop";
  ASSERT_TRUE(fs::exists(interop / "node_modules" / "xadesjs")) << "run tests/interop/setup.sh";
  std::string doc = all_->front().sealed.document;
  const auto at = doc.find("<xades:SigningTime>2");
  ASSERT_NE(at, std::string::npos);
  doc[at + 20] = '1';  // year 2xxx -> 1xxx inside SignedProperties
  const std::string path = f_->dir + "/tampered-sp.xml";
  writeBinary(path, doc);
  const auto r = run("node " + quote((interop / "verify_xades.mjs").string()) + " " + quote(path));
  EXPECT_EQ(r.exitCode, 1) << r.output;
}


// Evidence carrying OCSP responses (xades:RevocationValues/OCSPValues for the seal and the TSU
// certificates, made by `openssl ocsp`) is still accepted by the three verifiers.
TEST(InteropOcsp, EvidenceWithEmbeddedOcspVerifiesWithXmlsec1OpensslAndXadesjs) {
  ASSERT_TRUE(haveTool("xmlsec1")) << "xmlsec1 not installed";
  ASSERT_TRUE(haveTool("node")) << "node not installed: xadesjs interop cannot run";
  const fs::path interop = fs::path(ERDS_SOURCE_DIR) / "tests" / "interop";
  ASSERT_TRUE(fs::exists(interop / "node_modules" / "xadesjs")) << "run tests/interop/setup.sh";
  testing::OcspPki p;
  SealerOptions so;
  so.ocspResponses = {p.respond("seal"), p.respond("tsu", "responder")};
  so.crlsPem = {testing::issueCrl(p.pki)};  // both kinds: CRLValues before OCSPValues
  so.caCertificatesPem = p.pki.root().certPem;
  auto sealer = EvidenceSealer::create(p.signer, p.tsa(), SystemClock::instance(), so);
  ASSERT_TRUE(sealer.has_value()) << sealer.error().message;
  auto s = (*sealer)->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  const std::string& doc = s->document;
  ASSERT_NE(doc.find("</xades:CRLValues><xades:OCSPValues><xades:EncapsulatedOCSPValue>"), std::string::npos);
  const std::string path = p.dir + "/ocsp-evidence.xml";
  writeBinary(path, doc);

  const auto x = run("xmlsec1 --verify --trusted-pem " + quote(p.dir + "/root-ca.pem") + " " + quote(path));
  EXPECT_EQ(x.exitCode, 0) << x.output;
  const std::string token = path + ".tst";
  writeBinary(token, s->timestamp.der);
  const std::string digest = crypto::toHex(crypto::sha256(s->canonicalSignatureValue));
  const auto t = run("openssl ts -verify -digest " + digest + " -in " + quote(token) + " -token_in -CAfile " +
                     quote(p.dir + "/root-ca.pem") + " -untrusted " + quote(p.dir + "/tsu.pem"));
  EXPECT_EQ(t.exitCode, 0) << t.output;
  EXPECT_NE(t.output.find("Verification: OK"), std::string::npos) << t.output;
  const auto j = run("node " + quote((interop / "verify_xades.mjs").string()) + " " + quote(path));
  EXPECT_EQ(j.exitCode, 0) << j.output;
  EXPECT_NE(j.output.find(path + ": OK"), std::string::npos) << j.output;
  // And openssl itself accepts the embedded responses for the seal certificate.
  writeBinary(path + ".seal.ocsp", s->ocspResponsesDer.at(0));
  const auto o = run("openssl ocsp -respin " + quote(path + ".seal.ocsp") + " -CAfile " + quote(p.dir + "/root-ca.pem") +
                     " -issuer " + quote(p.dir + "/root-ca.pem") + " -cert " + quote(p.dir + "/seal.pem") + " -no_nonce");
  EXPECT_EQ(o.exitCode, 0) << o.output;
  EXPECT_NE(o.output.find(": good"), std::string::npos) << o.output;
}

}  // namespace
}  // namespace erds::evidence
