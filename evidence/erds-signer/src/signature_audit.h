// SignatureAudit: an audit trail of every signature erds-signer makes (or refuses after checking
// the request): key label, digest, the peer's uid/pid from SO_PEERCRED, and the result. Two
// sinks: the database audit trail (erds::AuditLog, hash-chained; one record per group commit and
// (uid, label, outcome) listing each signature) or one JSON log line with "audit":true per
// signature when no database is configured. Never carries key material or signatures.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::signer {

struct SignatureAuditRecord {
  std::string keyLabel;
  std::string digestHex;  // the SHA-256 digest that was signed (hex)
  int64_t peerUid = -1;
  int64_t peerPid = -1;
  bool success = false;
  std::string error;  // errorCodeName() of the failure, "" on success
};

class SignatureAudit {
 public:
  virtual ~SignatureAudit() = default;
  // Records `record` durably before returning. erds-signer withholds a signature whose record
  // could not be written (the client gets Unavailable). Errors: Unavailable. Thread-safe.
  virtual Result<void> record(const SignatureAuditRecord& record) = 0;
};

// Writes {"event":"signer.signature","audit":true,...} lines through erds::log.
class LogSignatureAudit final : public SignatureAudit {
 public:
  Result<void> record(const SignatureAuditRecord& record) override;
};

// Appends to the audit_log table through erds::AuditLog (see toAuditEvents for the records).
// Group commit: one writer thread takes every queued record and appends them, as one record per
// (peer uid, key label, outcome), atomically (AuditLog::appendMany), so concurrent signatures share
// a commit and a row; record() returns only once its batch is durable (at most `timeout`), and
// Unavailable if the database cannot be reached: never a signature without its audit record.
class DatabaseSignatureAudit final : public SignatureAudit {
 public:
  // `pool` and `clock` must outlive this object.
  DatabaseSignatureAudit(pg::Pool& pool, const Clock& clock,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~DatabaseSignatureAudit() override;
  Result<void> record(const SignatureAuditRecord& record) override;

 private:
  struct Pending;
  void run();
  pg::Pool& pool_;
  AuditLog log_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool stop_ = false;
  std::thread writer_;
};

// At most this many signatures in one audit record (a larger group is split), which bounds a
// row's size whatever the number of concurrent clients.
inline constexpr std::size_t kMaxSignaturesPerAuditRecord = 256;

// The AuditEvents DatabaseSignatureAudit writes for one batch: one per (peerUid, keyLabel,
// success) in order of first appearance, action "signer.sign", actor "uid:<uid>", object
// "key:<label>", outcome "success"/"failure", details
//   {"key_label": L, "peer_uid": U, "count": N,
//    "signatures": [{"digest": hex, "peer_pid": P[, "error": code]}, ...]}
// listing that group's signatures in `records` order (split after kMaxSignaturesPerAuditRecord).
// Pure; exposed for tests.
std::vector<AuditEvent> toAuditEvents(const std::vector<SignatureAuditRecord>& records);

}  // namespace erds::signer
