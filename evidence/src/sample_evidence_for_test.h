// Test-only: a complete, deterministic evidence for any event (fixed ids and times), built through
// EvidenceBuilder, used by the builder, writer and golden-file tests.
#pragma once

#include <chrono>
#include <string>

#include "erds/evidence/evidence_builder.h"

namespace erds::evidence::testing {

inline TimePoint fixedTime(int secondsAfter = 0) {
  using namespace std::chrono;
  // 2026-11-27T10:00:00Z
  return time_point_cast<microseconds>(sys_days{year{2026} / 11 / 27} + hours{10} +
                                       seconds{secondsAfter});
}

inline EntityDetails issuerDetails() {
  EntityDetails e;
  e.identity.push_back(legalName("DEVELOPMENT erds provider"));
  return e;
}

inline Party senderParty() {
  Party p;
  p.identifier = {"mailto", "alice@example.test"};
  p.attributes = {personIdentifier("IT/IT/ABCDEF0123456789"), familyName("Rossi"),
                  givenName("Alice"), dateOfBirth("1980-01-31")};
  p.assurance = AssuranceDetails{
      AssuranceLevel{"http://eidas.europa.eu/LoA/substantial", "urn:erds:policy:assurance",
                     std::nullopt},
      AuthenticationDetails{fixedTime(-300), "urn:erds:authn:password+totp"}, false};
  return p;
}

inline Party recipientParty(int i) {
  Party p;
  p.identifier = {"mailto", "rcpt" + std::to_string(i) + "@example.test"};
  return p;
}

// A builder with every component the event needs (and only those it allows), plus a subject.
inline EvidenceBuilder fullBuilder(Event e, DisclosurePolicy policy = {}) {
  EvidenceBuilder b(e, policy);
  const char g = eventGroup(e);
  b.evidenceIdentifier("EVID-" + std::string(eventName(e)) + "@example.test")
      .eventTime(fixedTime(2))
      .policyId(std::string(kRemBaselinePolicy))
      .issuer(issuerDetails())
      .sender(senderParty())
      .addRecipient(recipientParty(1))
      .addRecipient(recipientParty(2))
      .messageIdentifier("MSG-0001@example.test")
      .userContentInfo(remUserContentInfo("<orig-0001@example.test>", std::string(32, '\x5a')))
      .subject("Purchase order #1237 & <friends>");
  if (g == 'A' || g == 'B' || g == 'C' || g == 'D' || g == 'E') b.submissionTime(fixedTime(0));
  if (g == 'C' || g == 'D' || g == 'E') b.refersToRecipient(1);
  if (g == 'B') {
    EntityDetails other;
    other.identity.push_back(legalName("Other REMS provider"));
    b.externalErds(other).relayEvidenceRefersTo(1).relayEvidenceRefersTo(2);
  }
  if (g == 'F') b.externalSystem("mx.plain-mail.test");
  return b;
}

}  // namespace erds::evidence::testing
