// EvidenceVerifier: verifies a sealed EN 319 522-3 evidence (XAdES-B-T) through libxml2 +
// libxmlsec1: structure and anti-wrapping, the XMLDSig signature, SigningCertificateV2, the seal
// certificate chain and revocation as of the time-stamp time, the SignatureTimeStamp token, and
// EventTime against the time stamp. Results follow EN 319 102-1 (valid/invalid/indeterminate).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/evidence/evidence.h"

namespace erds::evidence {

enum class VerifyStatus { Valid, Invalid, Indeterminate };
// "valid", "invalid", "indeterminate".
std::string_view verifyStatusName(VerifyStatus s);

struct VerifyOptions {
  std::size_t maxBytes = 4 * 1024 * 1024;  // larger input is Invalid before parsing
  // EN 319 102-1: when the validation policy requires revocation information and none is
  // available for the seal chain or the TSA certificate's chain, the result is INDETERMINATE.
  // When false and no revocation data is at hand, the report says "revocation not checked" and
  // the result can still be valid. A revoked seal or TSA certificate is INVALID either way.
  bool requireRevocation = false;
  // CRLs (PEM, one or more, may be concatenated) used for the seal certificate chain, together with
  // the CRLs the evidence embeds (xades:RevocationValues/CRLValues). When given, every certificate
  // of the chain must be covered by one valid at the time-stamp time (else INDETERMINATE). Embedded
  // CRLs alone that do not cover it count as no revocation information (a warning, INDETERMINATE
  // only under requireRevocation). A CRL listing a chain certificate: INVALID.
  std::vector<std::string> crlsPem;
  // OCSP responses (DER, or PEM-armoured "-----BEGIN OCSP RESPONSE-----"; one string may hold
  // several PEM blocks) for the seal chain and the TSA certificate, used together with the ones the
  // evidence embeds (xades:RevocationValues/OCSPValues). A response counts only when its signature
  // verifies with the issuer's key or with a delegated responder certificate issued by the issuer
  // with id-kp-OCSPSigning (valid at the time-stamp time), its certID matches, and it speaks for the
  // time-stamp time T: thisUpdate >= T (issued after T: "good" proves the certificate was not revoked
  // at T), or T < nextUpdate (thisUpdate + 1 h without nextUpdate). "revoked" with revocationTime
  // <= T: INVALID naming the certificate; "unknown" or unusable: no information (a warning).
  std::vector<std::string> ocspResponses;
  // Fetch revocation data over the network for the chain certificates (seal and TSA) that lack
  // usable data: OCSP from the AIA OCSP URL, then CRLs from cRLDistributionPoints (http/https).
  // No redirects, `fetchTimeout` per request, at most maxCrlBytes/maxOcspBytes. When false (the
  // default) the verifier never touches the network.
  bool online = false;
  std::chrono::milliseconds fetchTimeout{10000};
  std::size_t maxCrlBytes = 10 * 1024 * 1024;
  std::size_t maxOcspBytes = 64 * 1024;
  std::string tlsCaFile;  // https:// CRL URLs: PEM CAs ("" = the system trust store)
  // Extra untrusted certificates (PEM) to build the seal chain (intermediates not in KeyInfo).
  std::string untrustedPem;
  // Validate the seal chain at this time instead of the time-stamp time.
  std::optional<TimePoint> validationTime;
  // |EventTime - time-stamp genTime| must not exceed this.
  std::chrono::seconds maxEventTimeSkew{60};
  // Qualified mode: the token must be a qualified time stamp (EN 319 422 qcStatement).
  bool requireQualifiedTimestamp = false;
};

struct VerificationReport {
  VerifyStatus status = VerifyStatus::Indeterminate;
  std::string reason;  // the first reason for invalid/indeterminate; "" when valid
  std::vector<std::string> warnings;  // e.g. "revocation not checked"
  bool revocationChecked = false;     // every certificate of the seal chain (trust anchor exempt)
  bool tsaRevocationChecked = false;  // the same for the TSA certificate's chain
  // Which revocation data decided, one entry per certificate: "seal certificate \"CN=...\": embedded
  // OCSP" / "...: embedded CRL" / "CRL file" / "OCSP file" / "fetched CRL" / "fetched OCSP".
  std::vector<std::string> revocationSources;
  // What the evidence says (filled as far as parsing got).
  std::optional<Evidence> evidence;
  std::string event;       // e.g. "SubmissionAcceptance"
  std::string reasonCode;  // first EventReason code as written (URI), "" if none
  std::optional<TimePoint> eventTime;
  std::optional<TimePoint> timestampTime;  // genTime of the SignatureTimeStamp
  std::optional<TimePoint> signingTime;    // xades:SigningTime (claimed)
  std::string sender;                      // "scheme:value" of the sender identifier
  std::vector<std::string> recipients;     // "scheme:value" each
  std::string signerSubject;               // RFC 2253 subject of the seal certificate
  std::string tsaSubject;                  // RFC 2253 subject of the TSA certificate
  std::string signatureMethod;             // SignatureMethod URI
};

struct VerifierTrust {
  // Trust anchors for the seal certificate: PEM text, each may hold several certificates.
  std::vector<std::string> sealAnchorsPem;
  // Trust anchors for the time-stamping authority; empty = the seal anchors.
  std::vector<std::string> tsaAnchorsPem;
};

class EvidenceVerifier {
 public:
  // Builds the cached trust stores. InvalidInput when no certificate parses. Initialises libxml2
  // and xmlsec once per process.
  static Result<std::shared_ptr<const EvidenceVerifier>> create(const VerifierTrust& trust);
  // Same, reading PEM files (NotFound/InvalidInput naming the file).
  static Result<std::shared_ptr<const EvidenceVerifier>> fromPemFiles(const std::vector<std::string>& sealAnchors,
                                                                      const std::vector<std::string>& tsaAnchors = {});
  ~EvidenceVerifier();
  EvidenceVerifier(const EvidenceVerifier&) = delete;
  EvidenceVerifier& operator=(const EvidenceVerifier&) = delete;

  // Verifies `xml` (a sealed evidence document, hostile input). Every outcome about the document,
  // including "not XML", is a report (status + first reason); the Result fails only for Internal
  // library failures. Hardened parsing: no DTD, no external entities, no network, size limit.
  // Thread-safe; the trust stores are shared read-only.
  Result<VerificationReport> verify(std::string_view xml, const VerifyOptions& options = {}) const;

  struct State;  // opaque; defined in evidence_verifier.cpp

 private:
  explicit EvidenceVerifier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace erds::evidence
