// RelayWorker: erds-smtpd's job worker. Claims the gateway's jobs from the core JobQueue and turns
// them into outbound REM messages through a RelayTransport:
//  - smtp.relay: a REM dispatch (original + SubmissionAcceptance evidence, signed through the
//    Signer's forwarding key) to a recipient at an ordinary mail domain, then RelayToNonERDS /
//    RelayToNonERDSFailure (RF03 refused / RF02 unreachable) through the core, with the REM
//    receipt job of that evidence in the same transaction; a delivery no longer Submitted is
//    skipped (never a second dispatch after the evidence is stored);
//  - smtp.receipt: the evidence wrapped as a REM receipt, to the sender.
// Temporary failures are retried by the queue with exponential backoff.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "erds/core/content_vault.h"
#include "erds/core/delivery_store.h"
#include "erds/core/job_queue.h"
#include "erds/evidence/signer.h"
#include "erds/smtp/relay_transport.h"

namespace erds::smtp {

struct RelayWorkerOptions {
  std::string serviceAddress;       // envelope sender and From of REM messages
  std::string domain;               // right-hand side of Message-IDs
  std::string signingKeyLabel = "seal";
  std::size_t maxMessageBytes = 64 * 1024 * 1024;
  bool sendReceipts = true;         // RelayToNonERDS(Failure) as REM receipts to the sender
  int batch = 4;
  std::chrono::milliseconds idle{500};
};

struct RelayWorkerDeps {
  const core::JobQueue* jobs = nullptr;
  core::DeliveryStore* store = nullptr;
  core::ContentVault* vault = nullptr;
  RelayTransport* transport = nullptr;
  std::shared_ptr<evidence::Signer> signer;
  const Clock* clock = nullptr;
};

class RelayWorker {
 public:
  RelayWorker(RelayWorkerDeps deps, RelayWorkerOptions options);
  ~RelayWorker();  // stop()
  void start();
  void stop();
  // Claims and runs at most one batch; returns the number of jobs handled (for tests).
  int runOnce();

 private:
  Result<void> relay(const std::string& messageId, int recipientIndex, bool lastAttempt);
  // The evidence `evidenceId`, or (if empty) the stored evidence of `event` for `recipientIndex`
  // (nullopt: message level), as a REM receipt to the sender.
  Result<void> receipt(const std::string& messageId, std::string evidenceId, const std::string& event,
                       std::optional<int> recipientIndex);
  Result<std::string> original(const std::string& messageId);

  RelayWorkerDeps d_;
  RelayWorkerOptions opt_;
  std::string workerId_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace erds::smtp
