#include "erds/evidence/forwarding_key.h"

#include <gtest/gtest.h>
#include <openssl/cms.h>
#include <openssl/err.h>

#include <atomic>

#include "crypto_test_util.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;

// Counts calls and can be told to fail, around a real FileKeySigner.
class CountingSigner final : public Signer {
 public:
  explicit CountingSigner(std::shared_ptr<Signer> inner) : inner_(std::move(inner)) {}
  Result<std::string> signDigest(std::string_view label, std::string_view digest) override {
    ++calls;
    if (fail) return Error::unavailable("signer down");
    return inner_->signDigest(label, digest);
  }
  Result<SigningKeyInfo> keyInfo(std::string_view label) override { return inner_->keyInfo(label); }
  std::atomic<int> calls{0};
  std::atomic<bool> fail{false};

 private:
  std::shared_ptr<Signer> inner_;
};

struct KeyFixture {
  TempDir dir;
  TestCert cert;
  std::shared_ptr<CountingSigner> signer;
  explicit KeyFixture(TestKeyType type) {
    TestCertOptions o;
    o.keyType = type;
    o.commonName = "erds DEVELOPMENT seal";
    cert = pki().issue(o);
    writeKeyFiles(dir.path, "seal", cert);
    auto s = FileKeySigner::fromDirectory(dir.path, {"seal"});
    ERDS_CHECK(s.has_value(), "test signer");
    signer = std::make_shared<CountingSigner>(std::shared_ptr<Signer>(std::move(*s)));
  }
};

std::unique_ptr<X509, decltype(&X509_free)> parseCert(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return {d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free};
}

class ForwardingKeyTest : public ::testing::TestWithParam<TestKeyType> {};

TEST_P(ForwardingKeyTest, DigestSignForwardsAndVerifiesWithPublicKey) {
  KeyFixture f(GetParam());
  auto key = makeForwardingKey(f.signer, "seal");
  ASSERT_TRUE(key.has_value()) << key.error().toString();

  const std::string data = "canonical SignedInfo bytes";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  ASSERT_EQ(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key->get()), 1);
  size_t len = 0;
  ASSERT_EQ(EVP_DigestSign(md.get(), nullptr, &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  std::string sig(len, '\0');
  ASSERT_EQ(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  sig.resize(len);
  EXPECT_EQ(f.signer->calls.load(), 1);

  auto cert = parseCert(f.cert.certDer);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> vmd(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  ASSERT_EQ(
      EVP_DigestVerifyInit(vmd.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert.get())),
      1);
  EXPECT_EQ(
      EVP_DigestVerify(vmd.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()),
      1);
}

TEST_P(ForwardingKeyTest, CmsSignWithForwardingKeyVerifiesAgainstRoot) {
  KeyFixture f(GetParam());
  auto key = makeForwardingKey(f.signer, "seal");
  ASSERT_TRUE(key.has_value()) << key.error().toString();
  auto cert = parseCert(f.cert.certDer);
  const std::string data = "a REM message body";
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(data.data(), static_cast<int>(data.size())), BIO_free);
  std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
      CMS_sign(cert.get(), key->get(), nullptr, in.get(), CMS_BINARY), CMS_ContentInfo_free);
  ASSERT_TRUE(cms != nullptr) << ERR_error_string(ERR_get_error(), nullptr);
  EXPECT_GE(f.signer->calls.load(), 1);

  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  auto root = parseCert(pki().root().certDer);
  X509_STORE_add_cert(store.get(), root.get());
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(CMS_verify(cms.get(), nullptr, store.get(), nullptr, out.get(), CMS_BINARY), 1)
      << ERR_error_string(ERR_get_error(), nullptr);
}

TEST_P(ForwardingKeyTest, SignerFailureMakesOpenSslSignFail) {
  KeyFixture f(GetParam());
  auto key = makeForwardingKey(f.signer, "seal");
  ASSERT_TRUE(key.has_value());
  f.signer->fail = true;
  ERR_clear_error();
  const std::string data = "x";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  ASSERT_EQ(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key->get()), 1);
  unsigned char sig[512];
  size_t len = sizeof sig;
  EXPECT_NE(EVP_DigestSign(md.get(), sig, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()),
            1);
  char buf[256];
  ERR_error_string_n(ERR_peek_error(), buf, sizeof buf);
  ERR_clear_error();
  EXPECT_EQ(f.signer->calls.load(), 1);
}

TEST_P(ForwardingKeyTest, RefusesNonSha256Digest) {
  KeyFixture f(GetParam());
  auto key = makeForwardingKey(f.signer, "seal");
  ASSERT_TRUE(key.has_value());
  const std::string data = "x";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[512];
  size_t len = sizeof sig;
  int rc = EVP_DigestSignInit(md.get(), nullptr, EVP_sha384(), nullptr, key->get());
  if (rc == 1)
    rc = EVP_DigestSign(md.get(), sig, &len, reinterpret_cast<const unsigned char*>(data.data()),
                        data.size());
  ERR_clear_error();
  EXPECT_NE(rc, 1);
  EXPECT_EQ(f.signer->calls.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ForwardingKeyTest,
                         ::testing::Values(TestKeyType::P256, TestKeyType::Rsa2048));

TEST(ForwardingKeyErrors, UnknownLabelAndNullSigner) {
  KeyFixture f(TestKeyType::P256);
  EXPECT_EQ(makeForwardingKey(f.signer, "nope").error().code, ErrorCode::NotFound);
  EXPECT_EQ(makeForwardingKey(nullptr, "seal").error().code, ErrorCode::InvalidInput);
}

}  // namespace
}  // namespace erds::evidence
