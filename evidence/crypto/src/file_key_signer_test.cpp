#include "erds/evidence/file_key_signer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "crypto_test_util.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;

class FileKeySignerAlgTest : public ::testing::TestWithParam<TestKeyType> {};

TEST_P(FileKeySignerAlgTest, SignsDigestVerifiableWithCertificate) {
  TempDir dir;
  TestCertOptions o;
  o.commonName = "erds DEVELOPMENT seal";
  o.keyType = GetParam();
  TestCert seal = pki().issue(o);
  writeKeyFiles(dir.path, "seal", seal);
  writeFile(dir.path + "/root-ca.pem", pki().root().certPem);

  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  ASSERT_TRUE(signer.has_value()) << signer.error().toString();
  auto info = (*signer)->keyInfo("seal");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->certificateDer, seal.certDer);
  EXPECT_EQ(info->chainDer, pki().root().certDer);
  EXPECT_EQ(info->algorithm,
            GetParam() == TestKeyType::P256 ? KeyAlgorithm::EcdsaP256 : KeyAlgorithm::Rsa);
  EXPECT_EQ(info->bits, GetParam() == TestKeyType::P256 ? 256 : 2048);

  const std::string digest = sha256Of("evidence bytes");
  auto sig = (*signer)->signDigest("seal", digest);
  ASSERT_TRUE(sig.has_value()) << sig.error().toString();
  EXPECT_TRUE(verifyDigestSignature(seal.certDer, digest, *sig));
  EXPECT_FALSE(verifyDigestSignature(seal.certDer, sha256Of("other bytes"), *sig));
  if (GetParam() == TestKeyType::Rsa2048) {
    EXPECT_EQ(sig->size(), 256u);
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, FileKeySignerAlgTest,
                         ::testing::Values(TestKeyType::P256, TestKeyType::Rsa2048));

TEST(FileKeySignerTest, ChainInCertificateFileIsNotDuplicated) {
  TempDir dir;
  TestCert seal = pki().issue({});
  writeKeyFiles(dir.path, "seal", seal, pki().root().certPem);  // like tls.pem: leaf then root
  writeFile(dir.path + "/root-ca.pem", pki().root().certPem);
  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  ASSERT_TRUE(signer.has_value()) << signer.error().toString();
  EXPECT_EQ((*signer)->keyInfo("seal")->chainDer, pki().root().certDer);
}

TEST(FileKeySignerTest, ErrorsForUnknownLabelAndBadDigest) {
  TempDir dir;
  writeKeyFiles(dir.path, "seal", pki().issue({}));
  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  ASSERT_TRUE(signer.has_value()) << signer.error().toString();
  EXPECT_EQ((*signer)->signDigest("nope", sha256Of("x")).error().code, ErrorCode::NotFound);
  EXPECT_EQ((*signer)->keyInfo("nope").error().code, ErrorCode::NotFound);
  EXPECT_EQ((*signer)->signDigest("seal", "short").error().code, ErrorCode::InvalidInput);
  EXPECT_EQ((*signer)->signDigest("seal", std::string(48, 'a')).error().code,
            ErrorCode::InvalidInput);
}

TEST(FileKeySignerTest, RefusesGroupOrWorldReadableKeyFile) {
  TempDir dir;
  writeKeyFiles(dir.path, "seal", pki().issue({}));
  ASSERT_EQ(::chmod((dir.path + "/seal.key").c_str(), 0644), 0);
  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  ASSERT_FALSE(signer.has_value());
  EXPECT_NE(signer.error().message.find("seal"), std::string::npos) << signer.error().message;
}

TEST(FileKeySignerTest, AcceptsMode0400) {
  TempDir dir;
  writeKeyFiles(dir.path, "seal", pki().issue({}));
  ASSERT_EQ(::chmod((dir.path + "/seal.key").c_str(), 0400), 0);
  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  EXPECT_TRUE(signer.has_value()) << signer.error().toString();
}

TEST(FileKeySignerTest, RefusesKeyThatDoesNotMatchCertificate) {
  TempDir dir;
  TestCert a = pki().issue({});
  TestCert b = pki().issue({});
  writeFile(dir.path + "/seal.pem", a.certPem);
  writeFile(dir.path + "/seal.key", b.keyPem, 0600);
  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  ASSERT_FALSE(signer.has_value());
  EXPECT_EQ(signer.error().code, ErrorCode::InvalidInput);
  EXPECT_NE(signer.error().message.find("does not match"), std::string::npos);
}

TEST(FileKeySignerTest, RefusesMissingFilesAndGarbage) {
  TempDir dir;
  EXPECT_FALSE(FileKeySigner::fromDirectory(dir.path, {"seal"}).has_value());
  TestCert a = pki().issue({});
  writeFile(dir.path + "/seal.pem", a.certPem);
  writeFile(dir.path + "/seal.key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0600);
  auto signer = FileKeySigner::fromDirectory(dir.path, {"seal"});
  ASSERT_FALSE(signer.has_value());
  EXPECT_EQ(signer.error().code, ErrorCode::InvalidInput);
  EXPECT_EQ(signer.error().message.find("AAAA"), std::string::npos);  // never echo key bytes
}

TEST(FileKeySignerTest, SeveralLabelsFromExplicitMap) {
  TempDir dir;
  TestCert seal = pki().issue({});
  TestCertOptions t;
  t.timeStamping = true;
  t.keyType = TestKeyType::Rsa2048;
  TestCert tsu = pki().issue(t);
  writeKeyFiles(dir.path, "s", seal);
  writeKeyFiles(dir.path, "t", tsu);
  auto signer = FileKeySigner::fromFiles({{"seal", {dir.path + "/s.key", dir.path + "/s.pem", ""}},
                                          {"tsu", {dir.path + "/t.key", dir.path + "/t.pem", ""}}});
  ASSERT_TRUE(signer.has_value()) << signer.error().toString();
  EXPECT_EQ((*signer)->labels(), (std::vector<std::string>{"seal", "tsu"}));
  const std::string d = sha256Of("abc");
  EXPECT_TRUE(verifyDigestSignature(seal.certDer, d, *(*signer)->signDigest("seal", d)));
  EXPECT_TRUE(verifyDigestSignature(tsu.certDer, d, *(*signer)->signDigest("tsu", d)));
  EXPECT_TRUE((*signer)->keyInfo("seal")->chainDer.empty());
}

}  // namespace
}  // namespace erds::evidence
