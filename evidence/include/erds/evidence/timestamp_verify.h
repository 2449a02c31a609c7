// TimestampVerifier: verifies RFC 3161 time-stamp tokens (signature, ESS signing certificate,
// imprint, TSA chain with the timeStamping purpose) against configured trust anchors and reports
// what the token says, including whether it is a qualified time stamp (EN 319 422).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"

struct x509_store_st;  // OpenSSL X509_STORE
struct x509_st;        // OpenSSL X509

namespace erds::evidence {

// OID of esi4-qtstStatement-1 (EN 319 422): a qualified electronic time stamp.
inline constexpr std::string_view kQtstStatementOid = "0.4.0.19422.1.1";

struct TimestampVerifyOptions {
  // Validate the TSA chain as of this time (e.g. the token's own genTime for expired sample
  // certificates); unset = the current system time.
  std::optional<TimePoint> asOf;
  // Verify as of the token's genTime (overrides asOf). For archived evidence.
  bool asOfGenTime = false;
  // Extra untrusted certificates (DER, concatenated) to find the TSA certificate and intermediates.
  std::string untrustedDer;
  // When set, TSTInfo.nonce must equal this (raw big-endian bytes, as sent in the request).
  std::optional<std::string> expectedNonce;
  // When set, TSTInfo.policy must equal this OID.
  std::optional<std::string> expectedPolicyOid;
  // Qualified mode: fail unless the token is qualified (see TimestampInfo::qualified).
  bool requireQualified = false;
};

struct TimestampInfo {
  TimePoint genTime;
  std::string serialHex;  // lower-case hex, no leading "0x"
  std::string policyOid;
  std::string hashAlgorithmOid;      // of the message imprint
  std::string imprint;               // raw digest bytes the token covers
  std::optional<std::string> nonce;  // raw bytes, when present
  std::string tsaSubject;            // RFC 2253 subject of the TSA (signer) certificate
  std::string tsaCertificateDer;
  bool qcStatementInToken = false;  // TSTInfo extensions carry qcStatements/esi4-qtstStatement-1
  bool qcStatementInCertificate = false;  // the TSA certificate carries it
  // Qualified time stamp per EN 319 422: the statement is in the token or in the TSA certificate
  // (and the caller configured only qualified trust anchors for qualified mode).
  bool qualified() const { return qcStatementInToken || qcStatementInCertificate; }
};

class TimestampVerifier {
 public:
  // Trust anchors from PEM text (one or more certificates). InvalidInput if none parse.
  static Result<std::shared_ptr<const TimestampVerifier>> fromPem(std::string_view pem);
  // Trust anchors from PEM files (each may hold several certificates). NotFound/InvalidInput.
  static Result<std::shared_ptr<const TimestampVerifier>> fromPemFiles(
      const std::vector<std::string>& paths);
  ~TimestampVerifier();
  TimestampVerifier(const TimestampVerifier&) = delete;
  TimestampVerifier& operator=(const TimestampVerifier&) = delete;

  // Verifies `tokenDer` (a TimeStampToken: CMS ContentInfo) with TS_VFY_SIGNATURE|TS_VFY_VERSION
  // and, when `digest` is non-empty, TS_VFY_IMPRINT (the imprint algorithm must then be SHA-256 for
  // a 32-byte digest, SHA-384/512 for 48/64 bytes). The TSA certificate must chain to a trust
  // anchor with purpose timestampsign (EKU timeStamping, critical). Errors: InvalidInput (not a
  // token), IntegrityFailure (signature, imprint, chain, nonce, policy or qualification check
  // failed; the message names the check). Thread-safe.
  Result<TimestampInfo> verify(std::string_view tokenDer, std::string_view digest,
                               const TimestampVerifyOptions& options = {}) const;

  // As verify(), but the imprint is computed here over `data` with the token's own imprint
  // algorithm (SHA-256, SHA-384 or SHA-512; any other is an IntegrityFailure naming it). Parses
  // the token once, where inspect() + verify() would parse it twice. Thread-safe.
  Result<TimestampInfo> verifyData(std::string_view tokenDer, std::string_view data,
                                   const TimestampVerifyOptions& options = {}) const;

  // Parses a token without verifying anything (for reports on tokens that failed verification).
  static Result<TimestampInfo> inspect(std::string_view tokenDer);

 private:
  TimestampVerifier() = default;
  struct StoreDeleter {
    void operator()(x509_store_st* s) const;
  };
  struct CertDeleter {
    void operator()(x509_st* c) const;
  };
  using StorePtr = std::unique_ptr<x509_store_st, StoreDeleter>;
  // A store holding the anchors, taken from the pool (or built) for one call; its verification
  // time is set per call, so a store is never shared by two calls at once.
  StorePtr acquireStore() const;
  // verify()/verifyData() after parsing; `data` set: the imprint is computed from it.
  Result<TimestampInfo> verifyImpl(std::string_view tokenDer, std::string_view digest,
                                   const std::string_view* data,
                                   const TimestampVerifyOptions& options) const;
  void releaseStore(StorePtr store) const;
  // The parsed certificate for `der` from a bounded cache (new reference for the caller), or null
  // when `der` is not a certificate. Thread-safe.
  x509_st* cachedCertificate(std::string_view der) const;
  std::vector<std::unique_ptr<x509_st, CertDeleter>> anchors_;
  mutable std::mutex poolMutex_;
  mutable std::vector<StorePtr> pool_;
  mutable std::mutex certMutex_;
  mutable std::map<std::string, std::unique_ptr<x509_st, CertDeleter>, std::less<>> certCache_;
};

// Whether a DER certificate carries the qcStatement esi4-qtstStatement-1. InvalidInput on bad DER.
Result<bool> certificateHasQtstStatement(std::string_view certDer);

}  // namespace erds::evidence
