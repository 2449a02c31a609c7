// Fast path of the built-in time-stamping unit: emits the RFC 3161 token (CMS SignedData over a
// TSTInfo) directly as DER, byte-identical to what OpenSSL's TS_RESP_create_response builds for the
// same inputs and the configuration of Rfc3161Tsu (rfc3161_tsu.cpp, newContext()). Internal.
#pragma once

#include <openssl/x509.h>

#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"
#include "erds/evidence/rfc3161_tsu.h"

namespace erds::evidence::internal {

// Minimal DER writer. `content` is the already-encoded content; lengths in definite form.
void derAppendTlv(std::string& out, unsigned char tag, std::string_view content);
std::string derTlv(unsigned char tag, std::string_view content);
// DER INTEGER of a non-negative big-endian magnitude (leading zeros stripped, 0x00 added when the
// high bit is set; empty magnitude = 0).
std::string derUnsignedInteger(std::string_view bigEndian);
// GeneralizedTime content as OpenSSL's TS code writes genTime: YYYYMMDDHHMMSS, then for
// digits > 0 a fraction truncated to `digits` with trailing zeros removed (and the '.' when all are
// zero), then 'Z'. UTCTime content (YYMMDDHHMMSSZ) for the PKCS#7 signingTime attribute.
std::string genTimeString(long long sec, long usec, int digits);
std::string utcTimeString(std::time_t t);
// SET OF: `elements` (each a complete DER encoding) sorted as DER (X.690 11.6) requires.
std::string derSetOf(std::vector<std::string> elements);

// Everything a token varies by. Byte strings are raw big-endian magnitudes.
struct TstTokenInputs {
  std::string_view sha256Digest;  // 32 bytes (the message imprint)
  std::string_view serial;        // TSTInfo.serialNumber, non-empty
  std::string_view nonce;         // TSTInfo.nonce; empty = absent
  long long genTimeSec = 0;       // genTime, seconds since the epoch ...
  long genTimeUsec = 0;           // ... and microseconds (truncated to the configured precision)
  std::time_t signingTime = 0;    // PKCS#9 signingTime attribute (UTCTime, whole seconds)
};

// Signs a SHA-256 digest of the signed attributes; returns the raw signature (DER ECDSA-Sig-Value
// or PKCS#1 v1.5), as Signer::signDigest.
using DigestSignFn = std::function<Result<std::string>(std::string_view sha256Digest)>;

// The fixed parts of a token, precomputed once from the TSU certificate, its chain and options.
class TstTokenEncoder {
 public:
  // InvalidInput when the configuration is not one the fast path models (a key type other than
  // EC or RSA, 1950 > signingTime years, ...): the caller then keeps the OpenSSL path.
  static Result<TstTokenEncoder> create(X509* cert, STACK_OF(X509) * chain,
                                        const Rfc3161TsuOptions& options);

  // The DER ContentInfo (SignedData) of a token; the signature is one call of `sign`.
  // InvalidInput for a digest that is not 32 bytes or an empty serial; the error of `sign`.
  Result<std::string> encode(const TstTokenInputs& in, const DigestSignFn& sign) const;

  // The TSTInfo DER alone (for tests and diagnostics).
  std::string encodeTstInfo(const TstTokenInputs& in) const;

 private:
  int precisionDigits_ = 0;
  std::string policyTlv_;        // OID
  std::string imprintPrefix_;    // SEQUENCE header + AlgorithmIdentifier + OCTET STRING header
  std::string accuracyTlv_;      // Accuracy SEQUENCE (may be empty)
  std::string tsaTlv_;           // [0] EXPLICIT GeneralName (may be empty)
  std::string contentTypeAttr_;  // Attribute contentType = id-smime-ct-TSTInfo
  std::string signingCertAttr_;  // Attribute signingCertificateV2
  std::string signedDataHead_;   // version + digestAlgorithms (complete TLVs)
  std::string certificatesTlv_;  // [0] IMPLICIT SEQUENCE OF Certificate
  std::string signerHead_;       // SignerInfo version + sid + digestAlgorithm
  std::string signatureAlgTlv_;  // SignerInfo signatureAlgorithm
};

}  // namespace erds::evidence::internal
