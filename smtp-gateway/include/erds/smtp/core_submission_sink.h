// CoreSubmissionSink: the SubmissionSink port over the core library. A submitted message becomes an
// ERDS message whose one content part is the raw message ("message.eml", message/rfc822), with its
// sealed SubmissionAcceptance evidence, in the core's one transaction; outbound relay and REM
// receipt jobs follow. The inbound MX path applies a per-IP rate limit.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "erds/api/sealing_evidence_issuer.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/core/content_vault.h"
#include "erds/core/delivery_store.h"
#include "erds/core/job_queue.h"
#include "erds/base/audit.h"
#include "erds/smtp/dns_resolver.h"
#include "erds/smtp/rem_peer_verifier.h"
#include "erds/smtp/submission_sink.h"

namespace erds::smtp {

// Job kinds of the gateway (payload JSON, see relay_worker.h).
inline constexpr std::string_view kJobSmtpRelay = "smtp.relay";      // {"message_id","recipient_index"}
// {"message_id","event"[,"recipient_index"]}: the stored evidence of that event (message level
// without recipient_index) as a REM receipt to the sender; older jobs carry {"evidence_id"}.
inline constexpr std::string_view kJobSmtpReceipt = "smtp.receipt";
// The sender identifier recorded for inbound mail with the null reverse-path (MAIL FROM:<>).
inline constexpr std::string_view kNullReversePath = "urn:erds:null-reverse-path";

// At most `max` bytes of `s` with everything outside printable ASCII replaced by '?' (for
// untrusted strings such as HELO names and remote replies recorded in evidence and logs).
std::string printable(std::string_view s, std::size_t max);

// The smtp.receipt job for the evidence of `event` (deduplicated per message, event, recipient).
core::JobSpec receiptJob(const std::string& messageId, core::Event event, std::optional<int> recipientIndex);

struct CoreSinkOptions {
  std::vector<std::string> localDomains;  // lower case; recipients elsewhere are relayed
  std::chrono::seconds defaultExpiry{std::chrono::hours(24 * 15)};
  int mxRatePerMinute = 600;               // per client IP; beyond: 451 4.7.0 (temporary)
  bool sendReceipts = true;                // queue a REM receipt of SubmissionAcceptance to the sender
  // MX: refuse (550 5.7.1) a message whose DMARC result is fail under p=reject; otherwise the
  // results are only recorded (smtp.mx_dmarc_enforce).
  bool mxDmarcEnforce = false;
  std::string authservId = "localhost";   // authserv-id of the Authentication-Results field
};

struct CoreSinkDeps {
  pg::Pool* pool = nullptr;
  core::DeliveryStore* store = nullptr;
  core::ContentVault* vault = nullptr;
  const core::JobQueue* jobs = nullptr;
  api::SealingEvidenceIssuer* issuer = nullptr;  // may be null (tests with another issuer)
  const Clock* clock = nullptr;
  // MX sender authentication (SPF/DKIM/DMARC); null = not checked (recorded as not_checked).
  DnsResolver* dns = nullptr;
  // MX: inbound REM messages (REM-* header fields) are accepted only when this verifies them;
  // null = no pinned peer, every REM message is refused.
  const RemPeerVerifier* remPeers = nullptr;
  const AuditLog* audit = nullptr;  // refusals on MX (REM, DMARC) are audited when set
};

// Thread-safe. Everything in `deps` must outlive the sink.
class CoreSubmissionSink final : public SubmissionSink {
 public:
  CoreSubmissionSink(CoreSinkDeps deps, CoreSinkOptions options);

  // Submission: envelope.party must be set (the session authenticated it and checked MAIL FROM).
  // A message held in memory (<= core::kMaxChunkBytes) goes through sealInMemory +
  // submitWithContent, a larger one is streamed into the vault, then DeliveryStore::submit
  // (SubmissionAcceptance sealed and time-stamped before the transaction, carrying the sender's
  // authentication, senderAuthentication()); returns the message id once committed. Errors:
  // Unavailable (database, signer or TSU: nothing is linked; staged chunks are collected as
  // garbage), InvalidInput. Recipients at other domains are `external` deliveries with an
  // smtp.relay job; the relay and receipt jobs commit with the submission.
  // MX (envelope.listener == Mx): per-IP rate limit (Unavailable: 451 4.3.0),
  // then a REM message (REM-* header fields) must verify through deps.remPeers (pinned signer,
  // S/MIME signature, every evidence; else IntegrityFailure: 554 5.7.7, audited, nothing stored),
  // then SPF/DKIM/DMARC through deps.dns (results in the audit record and an
  // Authentication-Results field prepended to the stored message; DMARC fail with p=reject is
  // refused as Unauthorized, 550 5.7.1, when options.mxDmarcEnforce), then the message for our own
  // users (bound party or pending mailbox) is stored with ReceivedFromNonERDS evidence: held in
  // memory and at most core::kMaxChunkBytes, in one transaction (ContentVault::sealInMemory +
  // DeliveryStore::receiveWithContent), else streamed into the vault, then DeliveryStore::receive;
  // the message id once committed.
  Result<std::string> accept(const Envelope& envelope, const MessageData& message) override;

 private:
  Result<std::string> submit(const Envelope& envelope, const MessageData& message);
  Result<std::string> mxAccept(const Envelope& envelope, const MessageData& message);
  bool mxAllowed(const std::string& ip);
  void auditRefusal(const std::string& ip, const std::string& action, const std::string& reason);

  CoreSinkDeps d_;
  CoreSinkOptions opt_;
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, int>> mxWindow_;  // ip -> (minute, count)
};

// Reads the header section of `message` (at most the first 256 KiB) and returns the unfolded
// Subject, "" if absent (kept as received, RFC 2047 words undecoded, at most 998 bytes).
std::string subjectOf(const MessageData& message);

// Calls `fn` with consecutive chunks (at most `chunk` bytes) of the message. Unavailable on I/O
// errors; the first error of `fn` is returned.
Result<void> forEachChunk(const MessageData& message, std::size_t chunk,
                          const std::function<Result<void>(std::string_view)>& fn);

}  // namespace erds::smtp
