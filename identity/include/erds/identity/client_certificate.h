// X.509 client certificate validation for authentication and identification: chain to configured
// trust anchors, revocation by CRL, and detection of EU qualified certificates (ETSI EN 319 412-5
// qcStatements). Every outcome is a value (CertificateCheck); nothing throws.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/identity/party.h"

namespace erds::identity {

enum class CertificateStatus {
  Valid,
  Malformed,           // not a parsable certificate
  Untrusted,           // no chain to a configured anchor (or a broken signature on the way)
  Expired,             // some certificate in the chain is past notAfter at the check time
  NotYetValid,
  Revoked,             // listed in a configured CRL
  RevocationUnknown,   // CRL required but missing/expired for an issuer
  WrongUsage,          // key usage / extended key usage does not allow the requested use
};
std::string_view certificateStatusName(CertificateStatus s);

enum class CertificateUsage {
  TlsClient,        // TLS client authentication (extendedKeyUsage clientAuth if present)
  SignedChallenge,  // a signature over a server challenge: keyUsage digitalSignature or
                    // nonRepudiation (qualified signing certificates rarely allow TLS client use)
};

enum class QcType { ESign, ESeal, Web };  // id-etsi-qct-esign / -eseal / -web

struct CertificateCheck {
  CertificateStatus status = CertificateStatus::Malformed;
  std::string detail;             // human-readable reason (OpenSSL's verify error string)
  std::string subject;            // RFC 2253 subject DN of the leaf
  std::string issuer;             // RFC 2253 issuer DN of the leaf
  std::string serialHex;
  std::string sha256Fingerprint;  // hex of SHA-256 over the leaf DER
  std::optional<TimePoint> notAfter;  // of the leaf (filled even when the chain does not validate)
  bool qcCompliance = false;      // leaf carries id-etsi-qcs-QcCompliance (0.4.0.1862.1.1)
  bool qcSscd = false;            // id-etsi-qcs-QcSSCD (0.4.0.1862.1.4)
  std::vector<QcType> qcTypes;    // from id-etsi-qcs-QcType (0.4.0.1862.1.6)
  std::vector<std::string> policyOids;  // certificatePolicies of the leaf (dotted OIDs)
  // E-mail addresses of the leaf, lower-cased: subjectAltName rfc822Name entries, else the
  // subject's emailAddress attributes. Filled even when the chain does not validate.
  std::vector<std::string> emailAddresses;
  // The leaf names an EN 319 411-1 NCP/NCP+ policy or an EN 319 411-2 QCP policy (which
  // includes NCP+).
  bool ncpPolicy = false;
  bool issuedByQualifiedCa = false;  // the validated chain contains a configured qualified CA
  // Valid AND qcCompliance AND issuedByQualifiedCa: a qualified certificate as far as this
  // service's configuration (taken from the EU trusted lists) can tell.
  bool qualified = false;
  bool valid() const { return status == CertificateStatus::Valid; }
};

struct CertificateValidatorOptions {
  std::vector<std::string> trustAnchorsPem;  // each entry: one or more PEM certificates
  std::vector<std::string> qualifiedCasPem;  // CAs listed as qualified (trusted-list QC issuers);
                                             // they are trust anchors too
  std::vector<std::string> crlsPem;          // CRLs (PEM); checked for the leaf when present
  bool requireCrl = false;                   // true: an issuer without a current CRL -> RevocationUnknown
};

// Immutable after create(); validate() is thread-safe.
class CertificateValidator {
 public:
  // InvalidInput if any PEM does not parse or no anchor is configured.
  static Result<CertificateValidator> create(const CertificateValidatorOptions& options);

  // Validates `leaf` (PEM or DER) with optional `intermediates` (PEM or DER each) at time `at`.
  CertificateCheck validate(std::string_view leaf, const std::vector<std::string>& intermediates, TimePoint at,
                            CertificateUsage usage = CertificateUsage::TlsClient) const;

  // Proof of possession for identification with a signing certificate: verifies `signature`
  // (DER ECDSA or RSA PKCS#1 v1.5 / PSS, over SHA-256) of `challenge` with the public key of `leaf`
  // (PEM or DER). IntegrityFailure if it does not verify; InvalidInput for an unparsable leaf.
  // Validate the certificate itself with validate(..., CertificateUsage::SignedChallenge).
  static Result<void> verifyChallengeSignature(std::string_view leaf, std::string_view challenge,
                                               std::string_view signature);

  ~CertificateValidator();
  CertificateValidator(CertificateValidator&&) noexcept;
  CertificateValidator& operator=(CertificateValidator&&) noexcept;

 private:
  struct State;
  explicit CertificateValidator(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// A fresh random challenge (32 bytes, base64url) for a signed-challenge identification.
std::string newCertificateChallenge();

// What a validated certificate proves about its holder, once the caller has bound the certificate
// to the party: qualified -> QualifiedCertificate at level high; otherwise a valid certificate under
// an NCP policy -> NcpCertificate at level substantial; anything else -> nullopt.
std::optional<Identification> identificationFromCertificate(const CertificateCheck& check, const std::string& partyId,
                                                            TimePoint now);

}  // namespace erds::identity
