#include "signature_audit.h"

#include <vector>

#include "erds/base/log.h"

namespace erds::signer {

AuditEvent toAuditEvent(const SignatureAuditRecord& r) {
  AuditEvent e;
  e.actor = "uid:" + std::to_string(r.peerUid);
  e.action = "signer.sign";
  e.object = "key:" + r.keyLabel;
  e.outcome = r.success ? "success" : "failure";
  e.detailsJson = "{\"key_label\":\"" + log::jsonEscape(r.keyLabel) + "\",\"digest\":\"" +
                  log::jsonEscape(r.digestHex) + "\",\"peer_uid\":" + std::to_string(r.peerUid) +
                  ",\"peer_pid\":" + std::to_string(r.peerPid) +
                  (r.success ? std::string() : ",\"error\":\"" + log::jsonEscape(r.error) + "\"") +
                  "}";
  return e;
}

Result<void> LogSignatureAudit::record(const SignatureAuditRecord& r) {
  log::write(r.success ? log::Level::Info : log::Level::Warn, "signer.signature",
             {{"audit", true},
              {"key_label", r.keyLabel},
              {"digest", r.digestHex},
              {"peer_uid", r.peerUid},
              {"peer_pid", r.peerPid},
              {"result", r.success ? std::string("success") : r.error}});
  return ok();
}

struct DatabaseSignatureAudit::Pending {
  AuditEvent event;
  bool finished = false;
  bool abandoned = false;
  Result<void> result = ok();
};

DatabaseSignatureAudit::DatabaseSignatureAudit(pg::Pool& pool, const Clock& clock,
                                               std::chrono::milliseconds timeout)
    : pool_(pool), log_(clock), timeout_(timeout) {
  writer_ = std::thread([this] { run(); });
}

DatabaseSignatureAudit::~DatabaseSignatureAudit() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

Result<void> DatabaseSignatureAudit::record(const SignatureAuditRecord& record) {
  auto p = std::make_shared<Pending>();
  p->event = toAuditEvent(record);
  std::unique_lock lock(mutex_);
  if (stop_) return Error::unavailable("audit trail is shutting down");
  queue_.push_back(p);
  wake_.notify_one();
  if (!done_.wait_for(lock, timeout_, [&] { return p->finished; })) {
    // The writer may still commit it later; the signature is withheld either way, so an audit
    // row can exist for a signature the client never received, never the reverse.
    p->abandoned = true;
    return Error::unavailable("audit trail: timed out writing the signature record");
  }
  return p->result;
}

void DatabaseSignatureAudit::run() {
  for (;;) {
    std::vector<std::shared_ptr<Pending>> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      batch.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    Result<void> result = ok();
    auto lease = pool_.acquire();
    if (!lease) {
      result = Error::unavailable("audit trail: " + lease.error().message);
    } else {
      pg::Connection& conn = **lease;
      // The whole batch atomically (AuditLog::appendMany: one INSERT once this connection knows
      // its chain head, else its own transaction).
      std::vector<AuditEvent> events;
      events.reserve(batch.size());
      for (const auto& p : batch) events.push_back(p->event);
      auto appended = log_.appendMany(conn, events);
      if (!appended) result = appended.error();
      if (!result) {
        log::error("signer.audit_failed", {{"error", result.error().toString()},
                                           {"records", static_cast<int64_t>(batch.size())}});
        result = Error::unavailable("audit trail: " + result.error().message);
      }
    }
    {
      std::lock_guard lock(mutex_);
      for (const auto& p : batch) {
        p->result = result;
        p->finished = true;
      }
    }
    done_.notify_all();
  }
}

}  // namespace erds::signer
