// Signer: the one signing path. Signs a digest for a key label and returns the raw signature.
// Implementations: a PEM key file, PKCS#11, and a client of the erds-signer process. Code that
// needs an OpenSSL EVP_PKEY (xmlsec, CMS, the time-stamping unit) gets one whose sign operation
// forwards here (see forwarding_key.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "erds/base/result.h"

namespace erds::evidence {

enum class KeyAlgorithm { EcdsaP256, Rsa };

struct SigningKeyInfo {
  KeyAlgorithm algorithm = KeyAlgorithm::EcdsaP256;
  int bits = 256;
  std::string certificateDer;        // the key's certificate
  std::string chainDer;              // concatenated DER of intermediate/root certificates (may be empty)
};

class Signer {
 public:
  virtual ~Signer() = default;

  // Signs `digest` (a SHA-256 digest: exactly 32 bytes) with the key named `keyLabel`.
  // Returns the signature as OpenSSL produces it: DER ECDSA-Sig-Value for EC keys, PKCS#1 v1.5
  // bytes for RSA keys. Errors: NotFound (no such key), InvalidInput (wrong digest size),
  // Unavailable (signer process or token unreachable, rate-limited). Thread-safe.
  virtual Result<std::string> signDigest(std::string_view keyLabel, std::string_view digest) = 0;

  // The key's algorithm and certificate. NotFound if there is no such key. Thread-safe.
  virtual Result<SigningKeyInfo> keyInfo(std::string_view keyLabel) = 0;
};

}  // namespace erds::evidence
