#include "erds/base/aead.h"

#include <gtest/gtest.h>

namespace erds::crypto {
namespace {

std::string nonce() { return randomBytes(kGcmNonceBytes); }

TEST(AeadTest, RoundTrip) {
  Secret key = randomKey();
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 1000u, 1u << 20}) {
    std::string pt = randomBytes(n);
    std::string iv = nonce();
    auto sealed = aesGcmSeal(key, iv, "aad", pt);
    ASSERT_TRUE(sealed.has_value());
    EXPECT_EQ(sealed->size(), n + kGcmTagBytes);
    if (n > 16) {
      EXPECT_NE(sealed->substr(0, n), pt);
    }
    auto opened = aesGcmOpen(key, iv, "aad", *sealed);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    EXPECT_EQ(*opened, pt);
  }
}

TEST(AeadTest, KnownAnswer) {
  // NIST GCM test vector (gcmEncryptExtIV256.rsp, Count 0 with 128-bit PT): key/iv/pt/ct/tag.
  Secret key(fromHex("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22").value());
  std::string iv = fromHex("0d18e06c7c725ac9e362e1ce").value();
  std::string pt = fromHex("2db5168e932556f8089a0622981d017d").value();
  auto sealed = aesGcmSeal(key, iv, "", pt);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(toHex(*sealed), "fa4362189661d163fcd6a56d8bf0405ad636ac1bbedd5cc3ee727dc2ab4a9489");
}

TEST(AeadTest, TamperingIsDetected) {
  Secret key = randomKey();
  std::string iv = nonce();
  std::string sealed = aesGcmSeal(key, iv, "message:1", "the content").value();
  struct Case {
    const char* what;
    std::string key, iv, aad, sealed;
  };
  std::string flippedCt = sealed;
  flippedCt[0] ^= 1;
  std::string flippedTag = sealed;
  flippedTag.back() ^= 0x80;
  std::string otherIv = iv;
  otherIv[5] ^= 1;
  const Case kCases[] = {
      {"ciphertext", std::string(key.reveal()), iv, "message:1", flippedCt},
      {"tag", std::string(key.reveal()), iv, "message:1", flippedTag},
      {"aad", std::string(key.reveal()), iv, "message:2", sealed},
      {"nonce", std::string(key.reveal()), otherIv, "message:1", sealed},
      {"key", randomBytes(32), iv, "message:1", sealed},
      {"truncated", std::string(key.reveal()), iv, "message:1", sealed.substr(0, sealed.size() - 1)},
      {"too short", std::string(key.reveal()), iv, "message:1", sealed.substr(0, 10)},
  };
  for (const auto& c : kCases) {
    auto r = aesGcmOpen(Secret(c.key), c.iv, c.aad, c.sealed);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_TRUE(r.error().is(ErrorCode::IntegrityFailure)) << c.what << ": " << r.error().toString();
  }
}

TEST(AeadTest, BadSizesAreInvalidInput) {
  EXPECT_TRUE(aesGcmSeal(Secret(std::string(16, 'k')), nonce(), "", "x").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(aesGcmSeal(randomKey(), std::string(8, 'n'), "", "x").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(aesGcmOpen(randomKey(), std::string(16, 'n'), "", std::string(32, 'x')).error().is(ErrorCode::InvalidInput));
}

TEST(KekTest, WrapUnwrap) {
  auto kek = KeyEncryptionKey::fromSecret(randomKey());
  ASSERT_TRUE(kek.has_value());
  Secret dataKey = randomKey();
  auto wrapped = kek->wrap(dataKey, "message:42");
  ASSERT_TRUE(wrapped.has_value());
  ASSERT_EQ(wrapped->size(), 1 + 12 + 32 + 16u);
  EXPECT_EQ(static_cast<unsigned char>((*wrapped)[0]), 0x01);
  EXPECT_EQ(wrapped->find(dataKey.reveal()), std::string::npos);
  auto back = kek->unwrap(*wrapped, "message:42");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->reveal(), dataKey.reveal());
  // Two wraps of one key differ (random nonce).
  EXPECT_NE(*wrapped, kek->wrap(dataKey, "message:42").value());
}

TEST(KekTest, UnwrapRefusesAlterationsWrongContextAndWrongKek) {
  auto kek = KeyEncryptionKey::fromSecret(randomKey()).value();
  auto other = KeyEncryptionKey::fromSecret(randomKey()).value();
  std::string wrapped = kek.wrap(randomKey(), "message:1").value();
  std::vector<std::pair<std::string, std::string>> cases;  // what, wrapped
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{13}, wrapped.size() - 1}) {
    std::string w = wrapped;
    w[i] ^= 0x01;
    cases.emplace_back("flip byte " + std::to_string(i), w);
  }
  cases.emplace_back("truncated", wrapped.substr(0, wrapped.size() - 1));
  cases.emplace_back("extended", wrapped + "x");
  for (const auto& [what, w] : cases) {
    auto r = kek.unwrap(w, "message:1");
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_TRUE(r.error().is(ErrorCode::IntegrityFailure)) << what;
  }
  EXPECT_TRUE(kek.unwrap(wrapped, "message:2").error().is(ErrorCode::IntegrityFailure));
  EXPECT_TRUE(other.unwrap(wrapped, "message:1").error().is(ErrorCode::IntegrityFailure));
}

TEST(KekTest, FromSecretAcceptsRawOrHex) {
  std::string raw = randomBytes(32);
  auto a = KeyEncryptionKey::fromSecret(Secret(raw)).value();
  auto b = KeyEncryptionKey::fromSecret(Secret(toHex(raw))).value();
  std::string w = a.wrap(randomKey(), "c").value();
  EXPECT_TRUE(b.unwrap(w, "c").has_value());  // same key in two encodings
  for (const std::string& bad : {std::string(31, 'k'), std::string(33, 'k'), std::string(64, 'z'), std::string()}) {
    auto r = KeyEncryptionKey::fromSecret(Secret(bad));
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput));
    if (!bad.empty()) {
      EXPECT_EQ(r.error().message.find(bad), std::string::npos);
    }
  }
  EXPECT_TRUE(a.wrap(Secret("short"), "c").error().is(ErrorCode::InvalidInput));
}

TEST(HashTest, Sha256AndHex) {
  EXPECT_EQ(toHex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(toHex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(toHex(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(fromHex("00FF10").value(), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(fromHex("abc").has_value());
  EXPECT_FALSE(fromHex("zz").has_value());
  EXPECT_EQ(randomBytes(0), "");
  EXPECT_NE(randomBytes(32), randomBytes(32));
}

}  // namespace
}  // namespace erds::crypto
