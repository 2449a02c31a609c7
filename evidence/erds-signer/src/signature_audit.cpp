#include "signature_audit.h"

#include <vector>

#include "erds/base/log.h"

namespace erds::signer {

std::vector<AuditEvent> toAuditEvents(const std::vector<SignatureAuditRecord>& records) {
  // Group members by index, keeping arrival order within and between groups. Batches are small
  // (about as many records as concurrent clients), so a linear search beats a map.
  struct Group {
    const SignatureAuditRecord* first;
    std::vector<std::size_t> members;
  };
  std::vector<Group> groups;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const SignatureAuditRecord& r = records[i];
    Group* g = nullptr;
    for (auto& candidate : groups) {
      const SignatureAuditRecord& f = *candidate.first;
      if (f.peerUid == r.peerUid && f.success == r.success && f.keyLabel == r.keyLabel &&
          candidate.members.size() < kMaxSignaturesPerAuditRecord) {
        g = &candidate;
        break;
      }
    }
    if (g == nullptr) g = &groups.emplace_back(Group{&r, {}});
    g->members.push_back(i);
  }
  std::vector<AuditEvent> events;
  events.reserve(groups.size());
  for (const auto& g : groups) {
    const SignatureAuditRecord& f = *g.first;
    AuditEvent e;
    e.actor = "uid:" + std::to_string(f.peerUid);
    e.action = "signer.sign";
    e.object = "key:" + f.keyLabel;
    e.outcome = f.success ? "success" : "failure";
    std::string& d = e.detailsJson;
    d.clear();
    d.reserve(96 + g.members.size() * 110);
    d += "{\"key_label\":\"" + log::jsonEscape(f.keyLabel) + "\",\"peer_uid\":" +
        std::to_string(f.peerUid) + ",\"count\":" + std::to_string(g.members.size()) +
        ",\"signatures\":[";
    for (std::size_t k = 0; k < g.members.size(); ++k) {
      const SignatureAuditRecord& r = records[g.members[k]];
      if (k > 0) d += ',';
      d += "{\"digest\":\"" + log::jsonEscape(r.digestHex) + "\",\"peer_pid\":" +
           std::to_string(r.peerPid);
      if (!r.success) d += ",\"error\":\"" + log::jsonEscape(r.error) + "\"";
      d += '}';
    }
    d += "]}";
    events.push_back(std::move(e));
  }
  return events;
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
  SignatureAuditRecord record;
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
  p->record = record;
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
      // The whole batch atomically, one record per (uid, label, outcome) (AuditLog::appendMany:
      // one INSERT once this connection knows its chain head, else its own transaction).
      std::vector<SignatureAuditRecord> records;
      records.reserve(batch.size());
      for (const auto& p : batch)
        records.push_back(p->record);
      auto appended = log_.appendMany(conn, toAuditEvents(records));
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
