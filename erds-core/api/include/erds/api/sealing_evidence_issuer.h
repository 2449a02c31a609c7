// SealingEvidenceIssuer: the core's EvidenceIssuer port implemented over erds::evidence. Builds the
// EN 319 522 evidence (EvidenceBuilder), writes its XML and seals it as XAdES-B-T (EvidenceSealer:
// seal key through a Signer, SignatureTimeStamp from a TimestampAuthority: the built-in RFC 3161
// unit or external TSAs, per tsa.*).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/result.h"
#include "erds/core/evidence_issuer.h"
#include "erds/evidence/evidence_sealer.h"
#include "erds/evidence/signer.h"
#include "erds/evidence/timestamp_authority.h"

namespace erds::api {

// Returns the recipient identifiers ("mailto:...") of a stored message, in recipient-index order.
// NotFound if the message is not stored (yet).
using RecipientLookup = std::function<Result<std::vector<std::string>>(const std::string& messageId)>;

// Answers a DER TimeStampReq with a DER TimeStampResp (a granted token or an RFC 3161 rejection
// naming the reason, e.g. badDataFormat). Errors (no response at all): InvalidInput for a request
// over the unit's size limit, Unavailable while the unit cannot be built (signer unreachable,
// certificate refused), Internal on a library failure. Thread-safe.
using TimestampResponder = std::function<Result<std::string>(std::string_view derRequest)>;

// Where time stamps come from, as configured (see SealingEvidenceIssuer::timestampSourcesFromConfig).
struct TimestampSources {
  // What evidence sealing and audit anchoring use: the built-in unit or the external TSAs.
  std::shared_ptr<evidence::TimestampAuthority> authority;
  // The built-in unit answering raw requests (POST /tsa), whatever tsa.source says. Never empty.
  TimestampResponder builtinResponder;
};

struct SealingEvidenceIssuerOptions {
  std::string sealKeyLabel = "seal";
  std::string serviceName = "erds";  // R02 EvidenceIssuerDetails (LegalName)
  evidence::SealerOptions sealer;    // revocation data kept with each seal (signer.crl_files)
};

// Thread-safe.
class SealingEvidenceIssuer final : public core::EvidenceIssuer {
 public:
  // `recipients` supplies the recipient list of stored messages (EN 319 522-2 I06 requires every
  // recipient in every evidence; core::EvidenceRequest carries only the one concerned). The
  // seal key's certificate goes into R02. Errors: as EvidenceSealer::create and Signer::keyInfo.
  static Result<std::unique_ptr<SealingEvidenceIssuer>> create(std::shared_ptr<evidence::Signer> signer,
                                                               std::shared_ptr<evidence::TimestampAuthority> tsa,
                                                               const Clock& clock, RecipientLookup recipients,
                                                               SealingEvidenceIssuerOptions options = {});

  // From configuration: signer.mode (inprocess: PEM keys from signer.key_dir; socket: erds-signer
  // at signer.socket) and the time-stamp sources (timestampSourcesFromConfig). InvalidInput (one
  // line naming the key and the file) for bad configuration.
  static Result<std::unique_ptr<SealingEvidenceIssuer>> fromConfig(const Config& config, const Clock& clock,
                                                                   RecipientLookup recipients);

  // The time-stamp sources from tsa.* and service.mode, with `signer` holding the "tsu" key:
  //  - tsa.source=builtin: the RFC 3161 unit (tsa.policy_oid, tsa.accuracy,
  //    tsa.require_synced_clock; the clock check is off in development). If the signer is not
  //    reachable yet (erds-signer starts later) the unit is built on first use.
  //  - tsa.source=external: the TSAs of tsa.urls (comma-separated http:// or https:// URLs, tried
  //    in order, tsa.timeout each; https servers checked against tsa.tls_ca_file or the system
  //    store; "Authorization: Bearer <tsa.auth_token_file>" sent when that key is set). Every
  //    token is verified before use (imprint, nonce, signature with TS_VFY_SIGNATURE, TSA
  //    certificate with EKU timeStamping chaining to tsa.trust_anchors, genTime within 5 min).
  //    No valid token from any URL -> Unavailable (nothing is sealed).
  //  - service.mode=qualified: trust anchors are tsa.qualified_trust_anchors (or, when unset,
  //    tsa.trust_anchors, which must then hold qualified TSA anchors only) and only qualified
  //    tokens (esi4-qtstStatement-1, EN 319 422) are accepted. The built-in unit is accepted only
  //    if its certificate carries that qcStatement and chains to those anchors, checked at start
  //    (InvalidInput naming the key) or, when the signer is not reachable yet, on first use
  //    (Unavailable until then).
  // `signer` and `clock` must outlive the sources.
  static Result<TimestampSources> timestampSourcesFromConfig(const Config& config,
                                                             std::shared_ptr<evidence::Signer> signer,
                                                             const Clock& clock);

  // Announces the recipients of a submission that is about to be stored (its SubmissionAcceptance
  // or SubmissionRejection is issued before the message row exists). Pair with forgetRecipients().
  void announceRecipients(const std::string& messageId, std::vector<std::string> identifiers);
  void forgetRecipients(const std::string& messageId);

  // See core::EvidenceIssuer. InvalidInput for an event or reason the evidence model rejects,
  // NotFound if the recipients of the message are unknown, Unavailable when the signer or the
  // time-stamp authority cannot be reached.
  Result<core::IssuedEvidence> issue(const core::EvidenceRequest& request) override;

  // The signer (seal key, forwarding key for REM signatures) and the time-stamp authority this
  // issuer seals with, for other users in the same process (erds-smtpd's REM signatures, erdsd's
  // audit anchoring) so that they share one configuration and one connection. Never null.
  std::shared_ptr<evidence::Signer> signer() const { return signer_; }
  std::shared_ptr<evidence::TimestampAuthority> timestampAuthority() const { return tsa_; }

  // The built-in time-stamping unit for POST /tsa (see TimestampSources::builtinResponder). Set
  // by fromConfig; empty for issuers made with create().
  TimestampResponder builtinResponder() const { return builtinResponder_; }

  // The XML that issue() would seal, unsealed (for tests and diagnostics).
  Result<std::string> buildUnsealed(const core::EvidenceRequest& request, const std::string& evidenceId);

 private:
  SealingEvidenceIssuer() = default;
  Result<std::vector<std::string>> recipientsOf(const std::string& messageId);
  Result<evidence::EvidenceXml> buildXml(const core::EvidenceRequest& request, const std::string& evidenceId);

  std::shared_ptr<evidence::Signer> signer_;
  std::shared_ptr<evidence::TimestampAuthority> tsa_;
  TimestampResponder builtinResponder_;
  std::unique_ptr<evidence::EvidenceSealer> sealer_;
  RecipientLookup lookup_;
  SealingEvidenceIssuerOptions options_;
  std::string sealCertificateDer_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> announced_;
};

}  // namespace erds::api
