// EvidenceBuilder: assembles one Evidence for an event and enforces the components EN 319 522-2
// Table 13 requires for that event. Personal data is minimal unless a DisclosurePolicy asks for
// more.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/result.h"
#include "erds/evidence/evidence.h"

namespace erds::evidence {

// Which identity attributes may appear in evidence. By default only identifiers, names and the
// assurance details (data minimisation); DateOfBirth and any other attribute only when asked.
struct DisclosurePolicy {
  bool includeDateOfBirth = false;
  bool includeOtherAttributes = false;  // BirthName, PlaceOfBirth, addresses, Gender, VAT, ...
};

// A party as the caller knows it; the builder keeps only what the policy allows.
struct Party {
  Identifier identifier;                  // e.g. {"mailto", "alice@example.test"}
  std::vector<SamlAttribute> attributes;  // eIDAS attributes (filtered by DisclosurePolicy)
  std::optional<AssuranceDetails> assurance;
};

// Checks an Evidence against the per-event rules below. Returns InvalidInput naming the first
// missing or forbidden component by its EN 319 522-2 code and XML name, e.g.
// "SubmissionAcceptance requires M03 SubmissionTime". Rules:
//  - always: G01 EvidenceIdentifier, G05 EventTime, R01 EvidenceIssuerPolicyID, R02
//    EvidenceIssuerDetails (Identity), I06 RecipientDetails/Identifier (each recipient),
//    M01 MessageIdentifier, M02 UserContentInfo (>= 1 part); I02 SenderDetails/Identifier except
//    F.3;
//  - A.x: M03 SubmissionTime;  B.x: M05 ExternalERDSDetails;  F.x: M04 ExternalSystem;
//  - C.1-E.2: I09 EvidenceRefersToRecipient in 1..recipients;  other events: I09 absent;
//  - M05 only on B.x, M04 only on F.x, I07/I08 delegates only on C.1-E.2, I03/I04 not on F.3;
//  - negative events: G04 at least one reason; every known reason must apply to the event.
// Thread-safe (pure function).
Result<void> validateEvidence(const Evidence& evidence);

// Fluent builder. Not thread-safe; build() may be called repeatedly.
class EvidenceBuilder {
 public:
  explicit EvidenceBuilder(Event event, DisclosurePolicy policy = {});

  EvidenceBuilder& evidenceIdentifier(std::string id);  // G01
  EvidenceBuilder& xmlId(std::string id);               // Evidence/@Id
  // G04: adds a reason with the standard URI and details {code, description}. `extraDetails`,
  // when non-empty, is appended as a third Details line.
  EvidenceBuilder& reason(Reason r, std::string extraDetails = {});
  // Without any reason() call, build() adds defaultReason(event).
  EvidenceBuilder& noDefaultReason();
  EvidenceBuilder& eventTime(TimePoint t);  // G05
  // R01. Without any call, build() uses {kRemBaselinePolicy}.
  EvidenceBuilder& policyId(std::string uri);
  EvidenceBuilder& issuer(EntityDetails issuer);           // R02
  EvidenceBuilder& sender(const Party& sender);            // I01, I02, I10
  EvidenceBuilder& senderDelegate(const Party& delegate);  // I03, I04, I11
  EvidenceBuilder& addRecipient(const Party& recipient);   // I05, I06, I12
  EvidenceBuilder& addRecipientDelegate(const Party& delegate, std::vector<int> delegating);
  EvidenceBuilder& submissionTime(TimePoint t);                  // M03
  EvidenceBuilder& refersToRecipient(int oneBasedIndex);         // I09
  EvidenceBuilder& messageIdentifier(std::string id);            // M01
  EvidenceBuilder& userContentInfo(UserContentInfo info);        // M02
  EvidenceBuilder& externalSystem(std::string description);      // M04
  EvidenceBuilder& externalErds(EntityDetails erds);             // M05
  EvidenceBuilder& transactionLog(std::string log);              // G06
  EvidenceBuilder& subject(std::string subject);                 // E01 GeneralEvidenceInfo/Subject
  EvidenceBuilder& untrustedPathToRecipient(int oneBasedIndex);  // E01 GeneralEvidenceInfo
  EvidenceBuilder& relayEvidenceRefersTo(int oneBasedIndex);     // E01 RelayEvidenceInfo

  // The evidence, or InvalidInput from validateEvidence().
  Result<Evidence> build() const;

 private:
  UserDetails filtered(const Party& p) const;

  Evidence e_;
  DisclosurePolicy policy_;
  bool defaultReason_ = true;
};

}  // namespace erds::evidence
