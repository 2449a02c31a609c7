// DeliveryStore: messages, per-recipient deliveries and their evidence in PostgreSQL. Every step is
// one transaction holding the state change, its evidence row (sealed before the transaction by the
// EvidenceIssuer port) and the jobs that follow, so evidence exists once or not at all whatever
// crashes, retries or concurrent workers happen (unique key: message, recipient or none, event,
// sequence).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/core/content_vault.h"
#include "erds/core/evidence_issuer.h"
#include "erds/core/job_queue.h"
#include "erds/core/lifecycle.h"

namespace erds::core {

struct RecipientSpec {
  std::string identifier;        // "mailto:bob@example.test"
  std::string partyId;           // "" if not (yet) bound to a party
  // An address of our own domains without a party: the delivery waits in a pending mailbox for
  // that address until bindPendingMailbox(). Never revealed to the sender.
  std::string pendingAddress;    // "" = not pending
  // Not known yet: the party is looked up when the message is stored, in the same statement
  // (identifier_bindings, status bound, under this key: identity::bindingKey(identifier)). Bound:
  // delivered to that party; not bound: a pending mailbox for `identifier`. The same answer as
  // asking partyBoundTo() first, without the separate round trip. "" = not looked up.
  std::string bindingKey{};
  // A recipient outside ERDS (an ordinary mail domain): no party, no pending mailbox, no consign
  // or notify job; a gateway relays it and records RelayToNonERDS / RelayToNonERDSFailure.
  bool external = false;
};

struct SubmissionRequest {
  std::string messageId;         // from ContentVault::newMessageId() (the parts were uploaded under it)
  std::string senderPartyId;
  std::string senderIdentifier;
  std::string subject;
  ConsignmentMode mode = ConsignmentMode::Basic;
  std::string requiredLoa = "substantial";  // "low" | "substantial" | "high"
  TimePoint expiresAt{};
  std::optional<TimePoint> scheduledAt;     // delivery not before this time
  std::vector<RecipientSpec> recipients;    // 1..n
  std::vector<std::string> partIds;         // staged parts of messageId, in order (may be empty)
  std::string idempotencyKey;               // "" = none
  std::string requestHash;                  // SHA-256 (32 bytes) of the request body; required with a key
  std::string actor;                        // audit actor, e.g. "party:<id>"
  // Jobs committed in the same transaction as the message (e.g. the gateway's relay and receipt
  // jobs); only for accepted submissions and receptions, not for reject().
  std::vector<JobSpec> extraJobs{};
  // receive() only: the non-ERDS system the message came from (M04 of its evidence), e.g.
  // "SMTP client 192.0.2.7 (HELO mx.example.net)".
  std::string externalSystem{};
  // submit() / submitWithContent(): how the sender authenticated (EN 319 522-2 I10), passed to the
  // SubmissionAcceptance's EvidenceRequest; ignored by receive() and reject().
  std::optional<SenderAuthentication> senderAuthentication{};
  // Free text added to the audit record's details (e.g. "spf=not_checked"); no content, no secrets.
  std::string auditNote{};
};

struct SubmissionResult {
  std::string messageId;
  std::string evidenceId;        // SubmissionAcceptance (or SubmissionRejection) evidence
  bool replayed = false;         // an earlier submission with the same Idempotency-Key and body
  bool accepted = true;          // false for a stored rejection
};

struct MessageInfo {
  std::string id;
  std::string status;            // "accepted" | "rejected"
  std::string senderPartyId;
  std::string senderIdentifier;
  std::string subject;
  ConsignmentMode mode = ConsignmentMode::Basic;
  std::string requiredLoa;
  TimePoint expiresAt{};
  std::optional<TimePoint> scheduledAt;
  TimePoint createdAt{};
  std::string contentDigest;     // raw 32 bytes
  int partCount = 0;
  int64_t contentSize = 0;
};

struct DeliveryInfo {
  std::string messageId;
  int recipientIndex = 0;
  std::string recipientIdentifier;
  std::string recipientPartyId;  // "" if unbound
  // Outside ERDS: no party and not waiting in a pending mailbox (only RecipientSpec::external
  // recipients; the lifecycle workers leave these to the gateway that relays them).
  bool external = false;
  DeliveryState state = DeliveryState::Submitted;
  Event lastEvent = Event::SubmissionAcceptance;
  TimePoint stateChangedAt{};
};

struct EvidenceRecord {
  std::string id;
  std::string messageId;
  std::optional<int> recipientIndex;
  Event event = Event::SubmissionAcceptance;
  std::string reason;
  int sequence = 0;
  std::string xml;               // only filled by evidence()
  TimePoint createdAt{};
};

struct TransitionRequest {
  std::string messageId;
  int recipientIndex = 0;
  Event event = Event::ContentConsignment;
  std::string reason;            // "" = the event's default
  int sequence = 0;
  std::vector<JobSpec> extraJobs;  // committed with the transition, besides the table's next job
  std::string actor = "system:erdsd";
  std::string externalSystem{};  // F.x events: the non-ERDS system (evidence M04); "" = issuer default
  // A step the recipient takes (accept, reject, fetch): how it authenticated (evidence I10).
  std::optional<SenderAuthentication> partyAuthentication{};
};

struct TransitionResult {
  std::string evidenceId;
  DeliveryState state = DeliveryState::Submitted;  // the state after the transition
  bool alreadyDone = false;      // the same event (and sequence) was already recorded: nothing written
};

// Thread-safe.
class DeliveryStore {
 public:
  DeliveryStore(pg::Pool& pool, EvidenceIssuer& issuer, const JobQueue& jobs, const Clock& clock,
                const AuditLog& audit);

  // Stores an authenticated sender's submission: message, one delivery per recipient (state
  // Submitted), the staged parts linked in order, the SubmissionAcceptance evidence (issued before
  // the transaction), pending mailbox rows and the first jobs (consent: notify_for_acceptance;
  // basic: consign; both at scheduledAt or now; none for external recipients; one expire job at
  // expiresAt) and request.extraJobs, in one transaction. Each recipient has exactly one of a
  // party, a pending address or `external` (InvalidInput otherwise).
  // Idempotency-Key: the same key and requestHash return the first result (replayed = true);
  // the same key with another hash is Conflict. Errors: InvalidInput (no recipients, bad id,
  // bad LoA, expiry not after now, a part that is not a staged part of this message), Conflict
  // (message id already used, key reuse), Unavailable (database or evidence issuer: nothing stored).
  Result<SubmissionResult> submit(const SubmissionRequest& request);

  // Like submit(), for a small message whose content is already encrypted in memory
  // (ContentVault::sealInMemory under request.messageId): the SubmissionAcceptance is sealed and
  // time-stamped first (no connection held), then ONE transaction stores the message, its data
  // key, parts and chunks (linked at once, never staged), the deliveries, pending mailbox rows,
  // evidence, first jobs and the audit record: BEGIN, one statement, the audit append, COMMIT.
  // Group commit: concurrent callers share that transaction (a leader takes every waiting
  // submission, up to 64, runs one statement each, appends all audit records at once and commits
  // once; at most two such transactions run at a time). Each caller returns only after the commit
  // that made its message durable. A statement that fails inside a shared transaction does not fail
  // the others: the group is retried one message per transaction.
  // The Idempotency-Key check is folded into the message insert (ON CONFLICT DO NOTHING): a
  // replay or a key reused with another body is found only after sealing (that evidence is then
  // never stored nor acknowledged), with the same answers as submit(). request.partIds must be
  // empty. Errors as submit(); Conflict also if the message id already has content.
  Result<SubmissionResult> submitWithContent(const SubmissionRequest& request, const SealedContent& content);

  // Stores a message received from outside ERDS (e.g. inbound MX mail for our users): like submit()
  // but the sender is external (senderPartyId may be empty; senderIdentifier required, e.g.
  // "mailto:x@elsewhere.example"), the message-level evidence is ReceivedFromNonERDS (`reason` of
  // always RF04, MessageReceivedFromNonERDS) instead of SubmissionAcceptance, and every recipient
  // must be local (a party or a pending address; external recipients are InvalidInput: no
  // relaying). Then the normal lifecycle runs per recipient (consign / notify jobs). No
  // Idempotency-Key (InvalidInput if given). Errors as submit().
  Result<SubmissionResult> receive(const SubmissionRequest& request);

  // receive() in one transaction, for a small message already encrypted in memory (as
  // submitWithContent(): ReceivedFromNonERDS sealed first with no connection held, then BEGIN, one
  // statement storing message, data key, parts, chunks, deliveries, pending mailbox rows, jobs and
  // evidence, the audit append (message.received), COMMIT). Validation as receive() (no
  // Idempotency-Key, every recipient local); request.partIds must be empty. Errors as receive();
  // Conflict also if the message id already has content. On any error nothing is stored.
  Result<SubmissionResult> receiveWithContent(const SubmissionRequest& request, const SealedContent& content);

  // Stores a refused submission of an authenticated sender (bad format, too large, policy): a
  // message row with status "rejected", no deliveries, and SubmissionRejection evidence with
  // `reason` (e.g. "RA02"). Same idempotency rules as submit(); parts are not linked.
  Result<SubmissionResult> reject(const SubmissionRequest& request, const std::string& reason);

  // Applies one lifecycle event to one recipient's delivery (see lifecycle.h for the table). If the
  // evidence for (message, recipient, event, sequence) already exists, returns it with alreadyDone
  // and changes nothing (retries are safe). Errors: NotFound (no such delivery), Conflict (the
  // lifecycle does not allow the event in the current state), Unavailable (database or issuer;
  // nothing stored).
  Result<TransitionResult> transition(const TransitionRequest& request);

  // Binds the deliveries waiting in `address`'s pending mailbox to `partyId` and empties it.
  // Returns the (message id, recipient index) pairs bound.
  Result<std::vector<std::pair<std::string, int>>> bindPendingMailbox(const std::string& address,
                                                                      const std::string& partyId);

  // Reads. NotFound if absent (ids that are not canonical UUIDs are NotFound too).
  Result<MessageInfo> message(const std::string& messageId);
  Result<std::vector<DeliveryInfo>> deliveries(const std::string& messageId);
  Result<DeliveryInfo> delivery(const std::string& messageId, int recipientIndex);
  // Evidence of a message in issuance order, without XML.
  Result<std::vector<EvidenceRecord>> evidenceOf(const std::string& messageId);
  // One evidence with its XML.
  Result<EvidenceRecord> evidence(const std::string& evidenceId);

 private:
  enum class Kind { Submit, Reject, Receive };
  Result<SubmissionResult> store(const SubmissionRequest& request, Kind kind, const std::string& reason);
  // submitWithContent() and receiveWithContent() (kind Submit or Receive).
  Result<SubmissionResult> storeWithContent(const SubmissionRequest& request, const SealedContent& content, Kind kind);
  Result<void> validate(const SubmissionRequest& request, Kind kind, TimePoint now) const;
  // Group commit of storeWithContent (see submitWithContent).
  struct GroupItem;
  Result<SubmissionResult> commitGrouped(GroupItem& item);
  std::vector<Result<SubmissionResult>> runGroup(const std::vector<GroupItem*>& batch);
  std::vector<Result<SubmissionResult>> runGroupOnce(const std::vector<GroupItem*>& batch, bool& retrySingly);
  Result<std::optional<SubmissionResult>> replay(pg::Connection& conn, const SubmissionRequest& request);

  pg::Pool& pool_;
  EvidenceIssuer& issuer_;
  const JobQueue& jobs_;
  const Clock& clock_;
  const AuditLog& audit_;
  std::mutex groupMu_;
  std::condition_variable groupCv_;
  std::deque<GroupItem*> groupQueue_;  // waiting submissions, oldest first
  int groupLeaders_ = 0;               // transactions running for the queue
};

}  // namespace erds::core
