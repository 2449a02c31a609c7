#include "erds/api/sealing_evidence_issuer.h"

#include "erds/base/log.h"
#include "erds/core/content_vault.h"
#include "erds/evidence/evidence_builder.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/signer_client.h"

namespace erds::api {
namespace {

// "mailto:alice@example.test" -> {"mailto", "alice@example.test"}; other forms keep the whole
// string as value under scheme "uri".
evidence::Identifier identifierOf(const std::string& s) {
  const std::size_t colon = s.find(':');
  if (colon != std::string::npos && colon > 0) return {s.substr(0, colon), s.substr(colon + 1)};
  return {"uri", s};
}

// The built-in time-stamping unit needs the TSU certificate from the signer; erds-signer may start
// after erdsd, so the unit is created on first use and creation is retried until it succeeds.
class LazyTsu final : public evidence::TimestampAuthority {
 public:
  LazyTsu(std::shared_ptr<evidence::Signer> signer, evidence::Rfc3161TsuOptions options, const Clock& clock)
      : signer_(std::move(signer)), options_(std::move(options)), clock_(clock) {}

  Result<evidence::TimestampToken> timestamp(std::string_view digest) override {
    std::shared_ptr<evidence::Rfc3161Tsu> tsu;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!tsu_) {
        auto t = evidence::Rfc3161Tsu::create(signer_, options_, clock_);
        if (!t) return Error::unavailable("time-stamping unit not ready: " + t.error().toString());
        tsu_ = std::shared_ptr<evidence::Rfc3161Tsu>(std::move(t).value());
      }
      tsu = tsu_;
    }
    return tsu->timestamp(digest);
  }

 private:
  std::shared_ptr<evidence::Signer> signer_;
  evidence::Rfc3161TsuOptions options_;
  const Clock& clock_;
  std::mutex mu_;
  std::shared_ptr<evidence::Rfc3161Tsu> tsu_;
};

}  // namespace

Result<std::unique_ptr<SealingEvidenceIssuer>> SealingEvidenceIssuer::create(
    std::shared_ptr<evidence::Signer> signer, std::shared_ptr<evidence::TimestampAuthority> tsa, const Clock& clock,
    RecipientLookup recipients, SealingEvidenceIssuerOptions options) {
  if (!signer || !tsa) return Error::invalidInput("evidence issuer needs a signer and a time-stamp authority");
  auto sealer = evidence::EvidenceSealer::create(signer, tsa, clock);
  if (!sealer) return std::move(sealer).error();
  std::unique_ptr<SealingEvidenceIssuer> out(new SealingEvidenceIssuer());
  // The seal certificate is optional in R02; without a reachable signer at startup it is left out
  // rather than failing the daemon (the sealer reports Unavailable per evidence instead).
  auto info = signer->keyInfo(options.sealKeyLabel);
  if (info) {
    out->sealCertificateDer_ = info->certificateDer;
  } else if (info.error().is(ErrorCode::NotFound)) {
    return Error::invalidInput("seal key '" + options.sealKeyLabel + "' not found: " + info.error().message);
  } else {
    log::warn("evidence.seal_key_unavailable", {{"error", info.error().toString()}});
  }
  out->signer_ = std::move(signer);
  out->tsa_ = std::move(tsa);
  out->sealer_ = std::move(sealer).value();
  out->lookup_ = std::move(recipients);
  out->options_ = std::move(options);
  return out;
}

Result<std::unique_ptr<SealingEvidenceIssuer>> SealingEvidenceIssuer::fromConfig(const Config& config,
                                                                                 const Clock& clock,
                                                                                 RecipientLookup recipients) {
  std::shared_ptr<evidence::Signer> signer;
  if (config.getString("signer.mode") == "inprocess") {
    if (config.mode() == ServiceMode::Qualified)
      return Error::invalidInput("signer.mode (" + config.sourceOf("signer.mode") +
                                 "): inprocess keys are not allowed with service.mode=qualified");
    const std::string dir = config.getPath("signer.key_dir");
    if (dir.empty())
      return Error::invalidInput("signer.key_dir (" + config.sourceOf("signer.key_dir") +
                                 "): required with signer.mode=inprocess");
    auto s = evidence::FileKeySigner::fromDirectory(dir, {"seal", "tsu"});
    if (!s) return Error::invalidInput("signer.key_dir (" + config.sourceOf("signer.key_dir") + "): " + s.error().message);
    signer = std::shared_ptr<evidence::Signer>(std::move(s).value());
  } else {
    evidence::SignerClientOptions o;
    o.socketPath = config.getPath("signer.socket");
    auto s = evidence::SignerClient::create(o);
    if (!s) return Error::invalidInput("signer.socket (" + config.sourceOf("signer.socket") + "): " + s.error().message);
    signer = std::shared_ptr<evidence::Signer>(std::move(s).value());
  }
  if (config.getString("tsa.source") != "builtin")
    return Error::invalidInput("tsa.source (" + config.sourceOf("tsa.source") +
                               "): external time-stamp authorities are not wired into erdsd yet");
  evidence::Rfc3161TsuOptions t;
  t.policyOid = config.getString("tsa.policy_oid");
  t.accuracy = std::chrono::milliseconds(config.getMillis("tsa.accuracy"));
  t.requireSyncedClock = config.getBool("tsa.require_synced_clock") && config.mode() != ServiceMode::Development;
  std::shared_ptr<evidence::TimestampAuthority> tsa;
  auto tsu = evidence::Rfc3161Tsu::create(signer, t, clock);
  if (tsu) {
    tsa = std::shared_ptr<evidence::TimestampAuthority>(std::move(tsu).value());
  } else if (tsu.error().is(ErrorCode::Unavailable)) {
    log::warn("tsa.not_ready", {{"error", tsu.error().toString()}});
    tsa = std::make_shared<LazyTsu>(signer, t, clock);
  } else {
    return Error::invalidInput("tsa.policy_oid (" + config.sourceOf("tsa.policy_oid") + "): " + tsu.error().message);
  }
  SealingEvidenceIssuerOptions o;
  o.serviceName = config.getString("service.name");
  return create(signer, std::move(tsa), clock, std::move(recipients), o);
}

void SealingEvidenceIssuer::announceRecipients(const std::string& messageId, std::vector<std::string> identifiers) {
  std::lock_guard<std::mutex> g(mu_);
  announced_[messageId] = std::move(identifiers);
}

void SealingEvidenceIssuer::forgetRecipients(const std::string& messageId) {
  std::lock_guard<std::mutex> g(mu_);
  announced_.erase(messageId);
}

Result<std::vector<std::string>> SealingEvidenceIssuer::recipientsOf(const std::string& messageId) {
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = announced_.find(messageId);
    if (it != announced_.end()) return it->second;
  }
  if (!lookup_) return Error::notFound("recipients of message " + messageId + " unknown");
  return lookup_(messageId);
}

Result<std::string> SealingEvidenceIssuer::buildUnsealed(const core::EvidenceRequest& r, const std::string& evidenceId) {
  auto xml = buildXml(r, evidenceId);
  if (!xml) return std::move(xml).error();
  return xml->document;
}

Result<evidence::EvidenceXml> SealingEvidenceIssuer::buildXml(const core::EvidenceRequest& r,
                                                             const std::string& evidenceId) {
  auto event = evidence::eventFromName(core::eventName(r.event));
  if (!event) return Error::invalidInput("unknown event " + std::string(core::eventName(r.event)));
  // The store fills the recipients of every request; the announced/looked-up list is the
  // fallback for callers that do not (older tests, tools).
  auto recipients = r.message.recipientIdentifiers.empty()
                        ? recipientsOf(r.message.messageId)
                        : Result<std::vector<std::string>>(r.message.recipientIdentifiers);
  if (!recipients) return std::move(recipients).error();
  if (recipients->empty()) return Error::invalidInput("message " + r.message.messageId + " has no recipients");
  const char group = evidence::eventCode(*event)[0];
  // F.x (relay to / reception from a non-ERDS system) carry no I09 EvidenceRefersToRecipient: a
  // per-recipient relay evidence names only the recipient concerned.
  if (group == 'F' && r.recipientIndex) {
    if (r.recipientIdentifier.empty()) return Error::invalidInput("relay evidence without its recipient");
    recipients = std::vector<std::string>{r.recipientIdentifier};
  }

  evidence::EvidenceBuilder b(*event);
  b.evidenceIdentifier(evidenceId).xmlId("ev-" + evidenceId).eventTime(r.eventTime);
  if (!r.reason.empty()) {
    auto reason = evidence::reasonFromCode(r.reason);
    if (!reason) return Error::invalidInput("unknown reason code " + r.reason);
    b.reason(*reason);
  }
  evidence::EntityDetails issuer;
  issuer.identity.push_back(evidence::legalName(options_.serviceName));
  if (!sealCertificateDer_.empty()) issuer.x509CertificateDer = sealCertificateDer_;
  b.issuer(std::move(issuer));
  evidence::Party sender;
  sender.identifier = identifierOf(r.message.senderIdentifier);
  b.sender(sender);
  for (const auto& id : *recipients) {
    evidence::Party p;
    p.identifier = identifierOf(id);
    b.addRecipient(p);
  }
  if (r.recipientIndex && group != 'F') {
    if (*r.recipientIndex < 0 || *r.recipientIndex >= static_cast<int>(recipients->size()))
      return Error::invalidInput("recipient index out of range");
    b.refersToRecipient(*r.recipientIndex + 1);
  }
  if (group == 'A') b.submissionTime(r.message.submittedAt);
  if (group == 'F') b.externalSystem(r.externalSystem.empty() ? "non-ERDS e-mail system (SMTP)" : r.externalSystem);
  b.messageIdentifier(r.message.messageId);
  evidence::UserContentInfo content;
  evidence::PartInfo part;
  part.identifier = "urn:uuid:" + r.message.messageId;
  part.contentType = "multipart/mixed";
  if (r.message.contentDigest.size() == 32) {
    part.digestAlgorithm = std::string(evidence::kSha256DigestUri);
    part.digest = r.message.contentDigest;
  }
  content.parts.push_back(std::move(part));
  b.userContentInfo(std::move(content));
  if (!r.message.subject.empty()) b.subject(r.message.subject);
  auto ev = b.build();
  if (!ev) return std::move(ev).error();
  return evidence::writeEvidenceXml(*ev);
}

Result<core::IssuedEvidence> SealingEvidenceIssuer::issue(const core::EvidenceRequest& r) {
  const std::string evidenceId = core::ContentVault::newMessageId();
  auto xml = buildXml(r, evidenceId);
  if (!xml) return std::move(xml).error();
  auto sealed = sealer_->seal(*xml, options_.sealKeyLabel);
  if (!sealed) {
    // NotFound (no seal key) is a deployment fault, not the caller's: report it as unavailable
    // so that nothing is acknowledged and the operator sees it in the log.
    if (sealed.error().is(ErrorCode::NotFound)) return Error::unavailable(sealed.error().message);
    return std::move(sealed).error();
  }
  return core::IssuedEvidence{evidenceId, std::move(sealed->document)};
}

}  // namespace erds::api
