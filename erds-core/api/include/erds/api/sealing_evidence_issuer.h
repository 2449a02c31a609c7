// SealingEvidenceIssuer: the core's EvidenceIssuer port implemented over erds::evidence. Builds the
// EN 319 522 evidence (EvidenceBuilder), writes its XML and seals it as XAdES-B-T (EvidenceSealer:
// seal key through a Signer, SignatureTimeStamp from a TimestampAuthority).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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

struct SealingEvidenceIssuerOptions {
  std::string sealKeyLabel = "seal";
  std::string serviceName = "erds";  // R02 EvidenceIssuerDetails (LegalName)
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
  // at signer.socket) and tsa.source (builtin: the RFC 3161 unit with the "tsu" key; external is
  // not wired in erdsd yet -> InvalidInput). InvalidInput names the key and the file.
  static Result<std::unique_ptr<SealingEvidenceIssuer>> fromConfig(const Config& config, const Clock& clock,
                                                                   RecipientLookup recipients);

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

  // The XML that issue() would seal, unsealed (for tests and diagnostics).
  Result<std::string> buildUnsealed(const core::EvidenceRequest& request, const std::string& evidenceId);

 private:
  SealingEvidenceIssuer() = default;
  Result<std::vector<std::string>> recipientsOf(const std::string& messageId);
  Result<evidence::EvidenceXml> buildXml(const core::EvidenceRequest& request, const std::string& evidenceId);

  std::shared_ptr<evidence::Signer> signer_;
  std::shared_ptr<evidence::TimestampAuthority> tsa_;
  std::unique_ptr<evidence::EvidenceSealer> sealer_;
  RecipientLookup lookup_;
  SealingEvidenceIssuerOptions options_;
  std::string sealCertificateDer_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> announced_;
};

}  // namespace erds::api
