// EvidenceIssuer: the port through which the core obtains sealed, time-stamped evidence. The core
// never formats XML; erdsd wires an adapter over erds::evidence (builder + signer client + TSA).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/core/lifecycle.h"

namespace erds::core {

// What the evidence is about. Digests are raw SHA-256 bytes.
struct EvidenceSubject {
  std::string messageId;          // canonical lower-case UUID
  std::string senderPartyId;
  std::string senderIdentifier;   // e.g. "mailto:alice@example.test"
  std::string subject;
  std::string contentDigest;      // SHA-256 over the parts' digests in order (32 bytes)
  TimePoint submittedAt;
  // Every recipient of the message in recipient-index order (e.g. "mailto:bob@example.test"),
  // filled by DeliveryStore for every request (submit, reject, transition), so an issuer never
  // needs to read the deliveries itself. Never empty for requests made by the store.
  std::vector<std::string> recipientIdentifiers;
};

// EN 319 522-2 I10 (the sender's AssuranceLevelsDetails, AuthenticationDetails form): how the
// sender authenticated for the submission the evidence is about. Only on SubmissionAcceptance.
struct SenderAuthentication {
  std::string method;             // URI, e.g. "urn:erds:authn:client_certificate+password"
  std::string level;              // eIDAS LoA URI, e.g. "http://eidas.europa.eu/LoA/low"
  TimePoint time{};               // when the sender authenticated
  bool operator==(const SenderAuthentication&) const = default;
};

struct EvidenceRequest {
  Event event = Event::SubmissionAcceptance;
  std::string reason;                    // EN 319 522-2 reason code ("RA01"); "" = the event's default
  EvidenceSubject message;
  std::optional<int> recipientIndex;     // nullopt for message-level events (SubmissionAcceptance)
  std::string recipientIdentifier;       // "" for message-level events
  int sequence = 0;                      // > 0 only for events that legitimately repeat
  TimePoint eventTime;                   // when the event happened (the core's clock)
  // F.x events (RelayToNonERDS, RelayToNonERDSFailure, ReceivedFromNonERDS): the non-ERDS system
  // concerned (EN 319 522-2 M04), e.g. "SMTP mx.example.net: 250 2.0.0 queued"; "" = issuer default.
  std::string externalSystem{};
  // SubmissionAcceptance only: the sender's authentication (I10), when the caller knows it.
  std::optional<SenderAuthentication> senderAuthentication{};
  // Steps the recipient takes (ConsignmentAcceptance/Rejection, ContentHandover): how the recipient
  // concerned (recipientIndex) authenticated for it (I10 of that recipient's details).
  std::optional<SenderAuthentication> recipientAuthentication{};
};

struct IssuedEvidence {
  std::string evidenceId;  // unique, chosen by the issuer; also inside the XML
  std::string xml;         // sealed and time-stamped EN 319 522-3 evidence
};

// Thread-safe implementations required (the core calls it from request and worker threads).
class EvidenceIssuer {
 public:
  virtual ~EvidenceIssuer() = default;
  // Builds, seals and time-stamps the evidence. Must not touch the database. Errors: Unavailable
  // when the signer or time-stamp authority cannot be reached (the core then stores nothing and
  // the caller answers 503 / retries the job); InvalidInput for a request it cannot express.
  virtual Result<IssuedEvidence> issue(const EvidenceRequest& request) = 0;
};

}  // namespace erds::core
