// Authenticated encryption for data at rest: AES-256-GCM, and wrapping of per-message data keys
// under the key-encryption key (KEK) read from a secret file.
#pragma once

#include <string>
#include <string_view>

#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds::crypto {

inline constexpr std::size_t kAesKeyBytes = 32;
inline constexpr std::size_t kGcmNonceBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

// Cryptographically secure random bytes (OpenSSL RAND_bytes). Aborts if the RNG fails.
std::string randomBytes(std::size_t n);
Secret randomKey();  // 32 random bytes

// Encrypts `plaintext`, returning ciphertext || 16-byte tag. InvalidInput on a bad key/nonce size.
Result<std::string> aesGcmSeal(const Secret& key, std::string_view nonce, std::string_view aad,
                               std::string_view plaintext);
// Decrypts ciphertext || tag. IntegrityFailure if the tag, the AAD, the nonce or the key is wrong.
Result<std::string> aesGcmOpen(const Secret& key, std::string_view nonce, std::string_view aad,
                               std::string_view sealed);

// The key-encryption key. Wrapped form: version byte 0x01 || random 12-byte nonce || ct || tag,
// with `context` bound as AAD (e.g. "message:<id>").
class KeyEncryptionKey {
 public:
  // From a secret of exactly 32 bytes, or 64 hex characters. InvalidInput otherwise.
  static Result<KeyEncryptionKey> fromSecret(const Secret& s);
  Result<std::string> wrap(const Secret& dataKey, std::string_view context) const;
  // IntegrityFailure on any alteration or a wrong context/KEK.
  Result<Secret> unwrap(std::string_view wrapped, std::string_view context) const;

 private:
  explicit KeyEncryptionKey(Secret k) : key_(std::move(k)) {}
  Secret key_;
};

// SHA-256 of `data` (32 raw bytes), and hex helpers.
std::string sha256(std::string_view data);
std::string toHex(std::string_view bytes);
Result<std::string> fromHex(std::string_view hex);

}  // namespace erds::crypto
