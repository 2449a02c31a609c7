#include "erds/evidence/pkcs11_signer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "erds/evidence/forwarding_key.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/timestamp_verify.h"

#include "crypto_test_util.h"
#include "fake_clock.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;

constexpr const char* kSofthsmUtil = "/usr/bin/softhsm2-util";
constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kInstallHint =
    "SoftHSM2/libp11 missing: apt-get install softhsm2 opensc libengine-pkcs11-openssl";

// One SoftHSM2 token per test process (the module reads SOFTHSM2_CONF once) with a P-256 seal key
// and an RSA TSU key imported from PEM, and their certificates.
class Pkcs11SignerTest : public ::testing::Test {
 protected:
  struct Token {
    TempDir dir;
    TestCert seal;
    TestCert tsu;
    bool ready = false;
  };
  static bool available() {
    return ::access(kSofthsmUtil, X_OK) == 0 && ::access(kModule, R_OK) == 0 &&
           ::access(Pkcs11SignerOptions{}.enginePath.c_str(), R_OK) == 0;
  }
  static bool run(const std::string& cmd, const Token& t) {
    return std::system((cmd + " >>'" + t.dir.path + "/cmd.log' 2>&1").c_str()) == 0;
  }
  static void SetUpTestSuite() {
    if (!available()) return;
    token_ = new Token();
    Token& t = *token_;
    writeFile(t.dir.path + "/softhsm2.conf",
              "directories.tokendir = " + t.dir.path +
                  "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n");
    std::filesystem::create_directory(t.dir.path + "/tokens");
    ::setenv("SOFTHSM2_CONF", (t.dir.path + "/softhsm2.conf").c_str(), 1);
    t.seal = pki().issue({});
    TestCertOptions o;
    o.timeStamping = true;
    o.keyType = TestKeyType::Rsa2048;
    t.tsu = pki().issue(o);
    writeKeyFiles(t.dir.path, "seal", t.seal);
    writeKeyFiles(t.dir.path, "tsu", t.tsu);
    writeFile(t.dir.path + "/pin", "5678\n", 0600);
    writeFile(t.dir.path + "/root-ca.pem", pki().root().certPem);
    const std::string util = kSofthsmUtil;
    t.ready = run(util + " --init-token --free --label erdstest --so-pin 1234 --pin 5678", t) &&
              run(util + " --import '" + t.dir.path +
                      "/seal.key' --token erdstest --label seal --id 01 --pin 5678",
                  t) &&
              run(util + " --import '" + t.dir.path +
                      "/tsu.key' --token erdstest --label tsu --id 02 --pin 5678",
                  t);
  }
  static void TearDownTestSuite() {
    delete token_;
    token_ = nullptr;
  }
  void SetUp() override {
    if (!available()) GTEST_SKIP() << kInstallHint;
    ASSERT_TRUE(token_ != nullptr && token_->ready)
        << "SoftHSM2 token setup failed, see " << (token_ ? token_->dir.path : "") << "/cmd.log";
  }
  Pkcs11SignerOptions options() const {
    const std::string& d = token_->dir.path;
    Pkcs11SignerOptions o;
    o.modulePath = kModule;
    o.pinFile = d + "/pin";
    o.keys["seal"] = {"pkcs11:token=erdstest;object=seal;type=private", d + "/seal.pem",
                      d + "/root-ca.pem"};
    o.keys["tsu"] = {"pkcs11:token=erdstest;object=tsu;type=private", d + "/tsu.pem", ""};
    return o;
  }
  static Token* token_;
};

Pkcs11SignerTest::Token* Pkcs11SignerTest::token_ = nullptr;

TEST_F(Pkcs11SignerTest, SignsWithTokenKeysAndFeedsTheTsu) {
  auto signer = Pkcs11Signer::create(options());
  ASSERT_TRUE(signer.has_value()) << signer.error().toString();
  const std::string digest = sha256Of("evidence");
  for (const auto& [label, cert] :
       {std::pair<std::string, TestCert*>{"seal", &token_->seal}, {"tsu", &token_->tsu}}) {
    auto sig = (*signer)->signDigest(label, digest);
    ASSERT_TRUE(sig.has_value()) << label << ": " << sig.error().toString();
    EXPECT_TRUE(verifyDigestSignature(cert->certDer, digest, *sig)) << label;
  }
  EXPECT_EQ((*signer)->keyInfo("seal")->chainDer, pki().root().certDer);
  EXPECT_EQ((*signer)->keyInfo("tsu")->algorithm, KeyAlgorithm::Rsa);
  EXPECT_EQ((*signer)->signDigest("nope", digest).error().code, ErrorCode::NotFound);

  std::shared_ptr<Signer> shared = std::move(*signer);
  erds::testing::FakeClock clock(nowSeconds());
  Rfc3161TsuOptions o;
  o.policyOid = "1.3.6.1.4.1.99999.1.1";
  o.clockSyncCheck = [] { return ok(); };
  auto tsu = Rfc3161Tsu::create(shared, o, clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();
  auto token = (*tsu)->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  EXPECT_TRUE(
      (*TimestampVerifier::fromPem(pki().root().certPem))->verify(token->der, digest).has_value());
}

TEST_F(Pkcs11SignerTest, RefusesPinInUriWrongPinAndMismatchedCertificate) {
  auto o = options();
  o.keys["seal"].keyUri += "?pin-value=5678";
  auto pinInUri = Pkcs11Signer::create(o);
  ASSERT_FALSE(pinInUri.has_value());
  EXPECT_EQ(pinInUri.error().code, ErrorCode::InvalidInput) << pinInUri.error().message;

  o = options();
  o.keys["seal"].certFile = token_->dir.path + "/tsu.pem";
  auto mismatch = Pkcs11Signer::create(o);
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_EQ(mismatch.error().code, ErrorCode::InvalidInput) << mismatch.error().message;

  o = options();
  o.pinFile = token_->dir.path + "/nope";
  EXPECT_FALSE(Pkcs11Signer::create(o).has_value());
}

}  // namespace
}  // namespace erds::evidence
