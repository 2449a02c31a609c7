// Internal revocation helpers shared by the sealer and the verifier: OCSP response validation
// (RFC 6960: signature by the issuer or a delegated id-kp-OCSPSigning responder, certID match,
// status and validity window), CRL/OCSP URLs of a certificate, and bounded HTTP fetching of CRLs
// and OCSP responses. Not part of the public API.
#pragma once

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"

namespace erds::evidence::internal {

// Clock skew allowed between an OCSP responder and us for thisUpdate (OpenSSL's
// OCSP_check_validity uses the same kind of allowance).
inline constexpr std::chrono::seconds kOcspClockSkew{300};
// A response without nextUpdate is treated as current for this long after its thisUpdate.
inline constexpr std::chrono::seconds kOcspDefaultValidity{3600};
inline constexpr std::size_t kMaxOcspResponseBytes = 64 * 1024;
inline constexpr std::size_t kMaxCrlBytes = 10 * 1024 * 1024;

enum class OcspCertStatus { Good, Revoked, Unknown };

// What one validated OCSP response says about one certificate.
struct OcspStatus {
  OcspCertStatus status = OcspCertStatus::Unknown;
  TimePoint thisUpdate{};
  std::optional<TimePoint> nextUpdate;
  std::optional<TimePoint> revocationTime;
  std::string responder;  // subject of the certificate that signed the response
  // A delegated responder's validity (unset when the issuer signed): the only part of the result
  // that depends on `at`, so callers caching results re-check it.
  std::optional<TimePoint> responderNotBefore;
  std::optional<TimePoint> responderNotAfter;
  // thisUpdate..nextUpdate (nextUpdate absent: thisUpdate + kOcspDefaultValidity).
  TimePoint validUntil() const { return nextUpdate ? *nextUpdate : thisUpdate + kOcspDefaultValidity; }
};

// Splits `text` into DER OCSP responses: PEM blocks (any "-----BEGIN ...-----" label holding an
// OCSP response, e.g. "OCSP RESPONSE"), else the whole text as one DER response. Empty when
// `text` is empty or a PEM block is not base64.
std::vector<std::string> splitOcspResponses(std::string_view text);

// Validates the OCSP response `der` for `cert`, issued by `issuer`: responseStatus successful, a
// BasicOCSPResponse whose signature verifies with the key of its signer, the signer being the
// issuer itself or a certificate issued (and signed) by the issuer with the id-kp-OCSPSigning EKU,
// valid at `at`; a SingleResponse whose certID (SHA-1 or SHA-256) matches cert/issuer.
// Errors: InvalidInput (not an OCSP response, or not "successful"), NotFound (no SingleResponse
// for this certificate), IntegrityFailure (bad signature, unauthorised responder; the message
// names the reason). The caller decides whether the validity window fits its time.
Result<OcspStatus> checkOcspResponse(std::string_view der, X509* cert, X509* issuer, TimePoint at);

// OCSP responder URLs (AIA id-ad-ocsp) and CRL distribution point URLs (fullName URIs).
std::vector<std::string> ocspUrls(X509* cert);
std::vector<std::string> crlUrls(X509* cert);

struct FetchLimits {
  std::chrono::milliseconds timeout{10000};
  std::size_t maxBytes = kMaxCrlBytes;
  std::string tlsCaFile;  // https:// CRL URLs: PEM CAs ("" = the system trust store)
};

// GET `url` (http:// or https://). No redirects are followed (a 3xx is an error), the body is
// bounded by limits.maxBytes. Unavailable on network errors, timeouts, non-200 or oversize;
// InvalidInput for other schemes. Thread-safe.
Result<std::string> httpGet(const std::string& url, const FetchLimits& limits);

// Builds an OCSP request (SHA-1 certID, no nonce, so responses can be cached and pre-produced)
// for cert/issuer and POSTs it to `url` (http:// as OCSP is; https:// accepted). Returns the DER
// response, not yet validated. Errors as httpGet.
Result<std::string> fetchOcspResponse(const std::string& url, X509* cert, X509* issuer, const FetchLimits& limits);

// Subject of `cert` in the one-line form the sealer's messages use.
std::string certName(X509* cert);

}  // namespace erds::evidence::internal
