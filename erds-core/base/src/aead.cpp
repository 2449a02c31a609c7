// AES-256-GCM through OpenSSL EVP, KEK wrapping, SHA-256 and hex helpers.
#include "erds/base/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

namespace erds::crypto {
namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// Drains OpenSSL's error queue into one line (and leaves the queue empty for the next caller).
std::string opensslErrors(std::string_view what) {
  std::string out(what);
  unsigned long e = 0;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  return out;
}

constexpr unsigned char kWrapVersion = 0x01;

}  // namespace

std::string randomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    ERDS_CHECK(false, opensslErrors("RAND_bytes failed"));
  }
  return out;
}

Secret randomKey() { return Secret(randomBytes(kAesKeyBytes)); }

Result<std::string> aesGcmSeal(const Secret& key, std::string_view nonce, std::string_view aad,
                               std::string_view plaintext) {
  if (key.size() != kAesKeyBytes) return Error::invalidInput("AES-256-GCM key must be 32 bytes");
  if (nonce.size() != kGcmNonceBytes) return Error::invalidInput("AES-GCM nonce must be 12 bytes");
  if (plaintext.size() > static_cast<std::size_t>(INT32_MAX - 64) || aad.size() > static_cast<std::size_t>(INT32_MAX))
    return Error::invalidInput("AES-GCM input too large");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) return Error::internal(opensslErrors("EVP_CIPHER_CTX_new"));
  const auto* k = reinterpret_cast<const unsigned char*>(key.reveal().data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv) != 1)
    return Error::internal(opensslErrors("EVP_EncryptInit_ex"));
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1)
    return Error::internal(opensslErrors("EVP_EncryptUpdate(aad)"));
  std::string out(plaintext.size() + kGcmTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                          static_cast<int>(plaintext.size())) != 1)
      return Error::internal(opensslErrors("EVP_EncryptUpdate"));
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1) return Error::internal(opensslErrors("EVP_EncryptFinal_ex"));
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes), o + total) != 1)
    return Error::internal(opensslErrors("EVP_CTRL_GCM_GET_TAG"));
  out.resize(static_cast<std::size_t>(total) + kGcmTagBytes);
  return out;
}

Result<std::string> aesGcmOpen(const Secret& key, std::string_view nonce, std::string_view aad,
                               std::string_view sealed) {
  if (key.size() != kAesKeyBytes) return Error::invalidInput("AES-256-GCM key must be 32 bytes");
  if (nonce.size() != kGcmNonceBytes) return Error::invalidInput("AES-GCM nonce must be 12 bytes");
  if (sealed.size() < kGcmTagBytes) return Error::integrityFailure("AES-GCM ciphertext shorter than its tag");
  if (sealed.size() > static_cast<std::size_t>(INT32_MAX - 64) || aad.size() > static_cast<std::size_t>(INT32_MAX))
    return Error::invalidInput("AES-GCM input too large");
  const std::size_t ctLen = sealed.size() - kGcmTagBytes;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) return Error::internal(opensslErrors("EVP_CIPHER_CTX_new"));
  const auto* k = reinterpret_cast<const unsigned char*>(key.reveal().data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv) != 1)
    return Error::internal(opensslErrors("EVP_DecryptInit_ex"));
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1)
    return Error::internal(opensslErrors("EVP_DecryptUpdate(aad)"));
  std::string out(ctLen, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int total = 0;
  if (ctLen > 0) {
    if (EVP_DecryptUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(sealed.data()),
                          static_cast<int>(ctLen)) != 1)
      return Error::internal(opensslErrors("EVP_DecryptUpdate"));
    total = len;
  }
  std::string tag(sealed.substr(ctLen));
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes), tag.data()) != 1)
    return Error::internal(opensslErrors("EVP_CTRL_GCM_SET_TAG"));
  if (EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1) {
    ERR_clear_error();
    // Never hand out unauthenticated plaintext.
    OPENSSL_cleanse(out.data(), out.size());
    return Error::integrityFailure("AES-GCM authentication failed: ciphertext, tag, nonce, AAD or key is wrong");
  }
  total += len;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

Result<KeyEncryptionKey> KeyEncryptionKey::fromSecret(const Secret& s) {
  if (s.size() == kAesKeyBytes) return KeyEncryptionKey(s);
  if (s.size() == 2 * kAesKeyBytes) {
    auto raw = fromHex(s.reveal());
    if (raw) {
      Secret k(std::move(raw).value());
      return KeyEncryptionKey(std::move(k));
    }
  }
  // Never echo the secret.
  return Error::invalidInput("key-encryption key must be 32 raw bytes or 64 hex characters (got " +
                             std::to_string(s.size()) + " bytes)");
}

Result<std::string> KeyEncryptionKey::wrap(const Secret& dataKey, std::string_view context) const {
  if (dataKey.size() != kAesKeyBytes) return Error::invalidInput("data key must be 32 bytes");
  std::string nonce = randomBytes(kGcmNonceBytes);
  // The version byte is authenticated too, so it cannot be swapped for a later format.
  std::string aad(1, static_cast<char>(kWrapVersion));
  aad += context;
  auto sealed = aesGcmSeal(key_, nonce, aad, dataKey.reveal());
  if (!sealed) return std::move(sealed).error();
  std::string out(1, static_cast<char>(kWrapVersion));
  out += nonce;
  out += *sealed;
  return out;
}

Result<Secret> KeyEncryptionKey::unwrap(std::string_view wrapped, std::string_view context) const {
  if (wrapped.size() != 1 + kGcmNonceBytes + kAesKeyBytes + kGcmTagBytes)
    return Error::integrityFailure("wrapped key has the wrong length");
  if (static_cast<unsigned char>(wrapped[0]) != kWrapVersion)
    return Error::integrityFailure("wrapped key has an unknown format version");
  std::string aad(1, static_cast<char>(kWrapVersion));
  aad += context;
  auto plain = aesGcmOpen(key_, wrapped.substr(1, kGcmNonceBytes), aad, wrapped.substr(1 + kGcmNonceBytes));
  if (!plain) return Error::integrityFailure("wrapped key does not authenticate (wrong KEK or context, or altered)");
  return Secret(std::move(plain).value());
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ERDS_CHECK(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1, "EVP_Digest(sha256) failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string toHex(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

Result<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Error::invalidInput("hex string has an odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return Error::invalidInput("not a hex string");
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

}  // namespace erds::crypto
