#include "erds/evidence/evidence_builder.h"

#include <string>
#include <utility>

namespace erds::evidence {
namespace {

bool onRecipientSide(Event e) {
  const char g = eventGroup(e);
  return g == 'C' || g == 'D' || g == 'E';
}

Error missing(Event e, std::string_view component) {
  return Error::invalidInput(std::string(eventName(e)) + " requires " + std::string(component));
}

Error forbidden(Event e, std::string_view component) {
  return Error::invalidInput(std::string(eventName(e)) + " must not carry " +
                             std::string(component));
}

// Identifiers, names and the identifier of legal persons: what evidence needs to name a party.
bool isMinimalAttribute(const SamlAttribute& a) {
  static constexpr std::string_view kMinimal[] = {
      "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier",
      "http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName",
      "http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName",
      "http://eidas.europa.eu/attributes/legalperson/LegalName",
      "http://eidas.europa.eu/attributes/legalperson/LegalPersonIdentifier",
  };
  for (auto n : kMinimal) {
    if (a.name == n) return true;
  }
  return false;
}

bool isDateOfBirth(const SamlAttribute& a) {
  return a.name == "http://eidas.europa.eu/attributes/naturalperson/DateOfBirth";
}

Result<void> checkUser(const UserDetails& u, std::string_view what) {
  for (const auto& a : u.identity) {
    if (a.name.empty() || a.values.empty()) {
      return Error::invalidInput(std::string(what) +
                                 " Identity has an attribute without name or value");
    }
  }
  if (u.identifier && (u.identifier->scheme.empty() || u.identifier->value.empty())) {
    return Error::invalidInput(std::string(what) + " Identifier needs a scheme and a value");
  }
  if (u.assurance && (u.assurance->global.level.empty() || !u.assurance->authentication)) {
    return Error::invalidInput(
        std::string(what) +
        " AssuranceLevelsDetails needs a GlobalAssuranceLevel and AuthenticationDetails");
  }
  return ok();
}

}  // namespace

Result<void> validateEvidence(const Evidence& ev) {
  const Event e = ev.event;
  const char group = eventGroup(e);
  if (ev.version.empty()) return missing(e, "G02 version");
  if (ev.evidenceIdentifier.empty()) return missing(e, "G01 EvidenceIdentifier");
  if (ev.eventTime == TimePoint{}) return missing(e, "G05 EventTime");
  if (ev.policyIds.empty()) return missing(e, "R01 EvidenceIssuerPolicyID");
  for (const auto& p : ev.policyIds) {
    if (p.empty())
      return Error::invalidInput("R01 EvidenceIssuerPolicyID contains an empty PolicyID");
  }
  if (ev.issuer.identity.empty()) return missing(e, "R02 EvidenceIssuerDetails (Identity)");
  // Sender identifier: 1 on every event except F.3 ReceivedFromNonERDS (0..1).
  if (!ev.sender.identifier && e != Event::ReceivedFromNonERDS)
    return missing(e, "I02 SenderDetails/Identifier");
  ERDS_RETURN_IF_ERROR(checkUser(ev.sender, "SenderDetails"));
  if (ev.senderDelegate) {
    if (e == Event::ReceivedFromNonERDS) return forbidden(e, "I03/I04 SenderDelegateDetails");
    ERDS_RETURN_IF_ERROR(checkUser(*ev.senderDelegate, "SenderDelegateDetails"));
  }
  if (ev.recipients.empty()) return missing(e, "I06 RecipientDetails");
  for (const auto& r : ev.recipients) {
    if (!r.identifier) return missing(e, "I06 RecipientDetails/Identifier");
    ERDS_RETURN_IF_ERROR(checkUser(r, "RecipientDetails"));
  }
  const int n = static_cast<int>(ev.recipients.size());
  if (!ev.recipientDelegates.empty()) {
    if (!onRecipientSide(e)) return forbidden(e, "I07/I08 RecipientsDelegateDetails");
    for (const auto& d : ev.recipientDelegates) {
      ERDS_RETURN_IF_ERROR(checkUser(d.delegate, "RecipientsDelegateDetails"));
      for (int i : d.delegatingRecipients) {
        if (i < 1 || i > n) return Error::invalidInput("DelegatingRecipients index out of range");
      }
    }
  }
  if (group == 'A' && !ev.submissionTime) return missing(e, "M03 SubmissionTime");
  if (onRecipientSide(e)) {
    if (!ev.evidenceRefersToRecipient) return missing(e, "I09 EvidenceRefersToRecipient");
    if (*ev.evidenceRefersToRecipient < 1 || *ev.evidenceRefersToRecipient > n) {
      return Error::invalidInput(
          "I09 EvidenceRefersToRecipient must be between 1 and the number of recipients");
    }
  } else if (ev.evidenceRefersToRecipient) {
    return forbidden(e, "I09 EvidenceRefersToRecipient");
  }
  if (!ev.messageIdentifier || ev.messageIdentifier->empty())
    return missing(e, "M01 MessageIdentifier");
  if (!ev.userContentInfo || ev.userContentInfo->parts.empty())
    return missing(e, "M02 UserContentInfo (PartInfo)");
  for (const auto& p : ev.userContentInfo->parts) {
    if (p.identifier.empty() || p.contentType.empty()) {
      return Error::invalidInput("M02 PartInfo needs an Identifier and a ContentType");
    }
    if (p.digest.has_value() != p.digestAlgorithm.has_value()) {
      return Error::invalidInput(
          "M02 PartInfo needs both ds:DigestMethod and ds:DigestValue, or neither");
    }
  }
  if (group == 'F') {
    if (!ev.externalSystem || ev.externalSystem->empty()) return missing(e, "M04 ExternalSystem");
  } else if (ev.externalSystem) {
    return forbidden(e, "M04 ExternalSystem");
  }
  if (group == 'B') {
    if (!ev.externalErds || ev.externalErds->identity.empty())
      return missing(e, "M05 ExternalERDSDetails");
  } else if (ev.externalErds) {
    return forbidden(e, "M05 ExternalERDSDetails");
  }
  if (isNegativeEvent(e) && ev.reasons.empty())
    return missing(e, "G04 EventReasons (negative event)");
  for (const auto& r : ev.reasons) {
    if (r.code.empty()) return Error::invalidInput("G04 EventReason without Code");
    if (auto k = r.known(); k && !reasonAppliesTo(*k, e)) {
      return Error::invalidInput("G04 reason " + std::string(reasonCode(*k)) +
                                 " does not apply to " + std::string(eventName(e)));
    }
  }
  if (ev.relayInfo) {
    for (int i : ev.relayInfo->relayEvidenceRefersTo) {
      if (i < 1 || i > n) return Error::invalidInput("RelayEvidenceRefersTo index out of range");
    }
  }
  if (ev.generalInfo) {
    for (int i : ev.generalInfo->untrustedPathToRecipient) {
      if (i < 1 || i > n) return Error::invalidInput("UntrustedPathToRecipient index out of range");
    }
  }
  return ok();
}

EvidenceBuilder::EvidenceBuilder(Event event, DisclosurePolicy policy) : policy_(policy) {
  e_.event = event;
}

EvidenceBuilder& EvidenceBuilder::evidenceIdentifier(std::string id) {
  e_.evidenceIdentifier = std::move(id);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::xmlId(std::string id) {
  e_.xmlId = std::move(id);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::reason(Reason r, std::string extraDetails) {
  auto er = makeEventReason(r);
  if (!extraDetails.empty()) er.details.push_back(std::move(extraDetails));
  e_.reasons.push_back(std::move(er));
  return *this;
}
EvidenceBuilder& EvidenceBuilder::noDefaultReason() {
  defaultReason_ = false;
  return *this;
}
EvidenceBuilder& EvidenceBuilder::eventTime(TimePoint t) {
  e_.eventTime = t;
  return *this;
}
EvidenceBuilder& EvidenceBuilder::policyId(std::string uri) {
  e_.policyIds.push_back(std::move(uri));
  return *this;
}
EvidenceBuilder& EvidenceBuilder::issuer(EntityDetails issuer) {
  e_.issuer = std::move(issuer);
  return *this;
}
UserDetails EvidenceBuilder::filtered(const Party& p) const {
  UserDetails u;
  for (const auto& a : p.attributes) {
    const bool keep = isMinimalAttribute(a) || (isDateOfBirth(a) ? policy_.includeDateOfBirth
                                                                 : policy_.includeOtherAttributes);
    if (keep) u.identity.push_back(a);
  }
  if (!p.identifier.value.empty() || !p.identifier.scheme.empty()) u.identifier = p.identifier;
  u.assurance = p.assurance;
  return u;
}
EvidenceBuilder& EvidenceBuilder::sender(const Party& sender) {
  e_.sender = filtered(sender);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::senderDelegate(const Party& delegate) {
  e_.senderDelegate = filtered(delegate);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::addRecipient(const Party& recipient) {
  e_.recipients.push_back(filtered(recipient));
  return *this;
}
EvidenceBuilder& EvidenceBuilder::addRecipientDelegate(const Party& delegate,
                                                       std::vector<int> delegating) {
  e_.recipientDelegates.push_back(
      RecipientDelegateDetails{filtered(delegate), std::move(delegating)});
  return *this;
}
EvidenceBuilder& EvidenceBuilder::submissionTime(TimePoint t) {
  e_.submissionTime = t;
  return *this;
}
EvidenceBuilder& EvidenceBuilder::refersToRecipient(int oneBasedIndex) {
  e_.evidenceRefersToRecipient = oneBasedIndex;
  return *this;
}
EvidenceBuilder& EvidenceBuilder::messageIdentifier(std::string id) {
  e_.messageIdentifier = std::move(id);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::userContentInfo(UserContentInfo info) {
  e_.userContentInfo = std::move(info);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::externalSystem(std::string description) {
  e_.externalSystem = std::move(description);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::externalErds(EntityDetails erds) {
  e_.externalErds = std::move(erds);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::transactionLog(std::string log) {
  e_.transactionLogs.push_back(std::move(log));
  return *this;
}
EvidenceBuilder& EvidenceBuilder::subject(std::string subject) {
  if (!e_.generalInfo) e_.generalInfo.emplace();
  e_.generalInfo->subject = std::move(subject);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::untrustedPathToRecipient(int oneBasedIndex) {
  if (!e_.generalInfo) e_.generalInfo.emplace();
  e_.generalInfo->untrustedPathToRecipient.push_back(oneBasedIndex);
  return *this;
}
EvidenceBuilder& EvidenceBuilder::relayEvidenceRefersTo(int oneBasedIndex) {
  if (!e_.relayInfo) e_.relayInfo.emplace();
  e_.relayInfo->relayEvidenceRefersTo.push_back(oneBasedIndex);
  return *this;
}

Result<Evidence> EvidenceBuilder::build() const {
  Evidence out = e_;
  if (out.reasons.empty() && defaultReason_)
    out.reasons.push_back(makeEventReason(defaultReason(out.event)));
  if (out.policyIds.empty()) out.policyIds.emplace_back(kRemBaselinePolicy);
  ERDS_RETURN_IF_ERROR(validateEvidence(out));
  return out;
}

}  // namespace erds::evidence
