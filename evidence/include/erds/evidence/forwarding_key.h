// makeForwardingKey: wraps a Signer key as an OpenSSL EVP_PKEY whose private-key operation
// forwards the SHA-256 digest to Signer::signDigest. xmlsec, CMS and the time-stamping unit use it,
// so file keys, PKCS#11 and the erds-signer process share one signing path.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "erds/base/result.h"
#include "erds/evidence/signer.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace erds::evidence {

struct EvpPkeyDeleter {
  void operator()(evp_pkey_st* key) const;
};
using EvpPkeyPtr = std::unique_ptr<evp_pkey_st, EvpPkeyDeleter>;

// Returns an EVP_PKEY carrying the public key of `keyLabel`'s certificate (Signer::keyInfo) and a
// private-key method (EC_KEY_METHOD for P-256, RSA_METHOD for RSA) that calls
// signer->signDigest(keyLabel, digest). Only SHA-256 digests and, for RSA, PKCS#1 v1.5 padding can
// be signed; anything else fails inside OpenSSL (the error queue says why). The key holds a
// reference to `signer`. Errors: as Signer::keyInfo, InvalidInput for a certificate/key type we
// cannot wrap. The returned key may be used from several threads if the Signer is thread-safe.
Result<EvpPkeyPtr> makeForwardingKey(std::shared_ptr<Signer> signer, std::string_view keyLabel);

}  // namespace erds::evidence
