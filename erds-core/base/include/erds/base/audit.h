// Audit log: append-only records of security-relevant events (who, what, when, request id), each
// row carrying the SHA-256 of its writer's previous row. A writer is one database connection, so
// processes and nodes never serialise on one chain.
#pragma once

#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds {

struct AuditEvent {
  std::string actor;      // "party:<id>", "operator:<name>", "system:erdsd", "anonymous"
  std::string action;     // dotted name: "auth.login.failed", "evidence.issued", ...
  std::string object;     // what it was done to ("message:<id>", "party:<id>", "" if none)
  std::string outcome;    // "success" | "failure" | "denied"
  std::string requestId;  // defaults to log::currentRequestId() when empty
  std::string detailsJson = "{}";  // a JSON object; never secrets
};

struct AuditRecord {
  int64_t id = 0;
  std::string writerId;
  int64_t seq = 0;
  TimePoint at;
  AuditEvent event;
  std::string prevHash;   // 32 raw bytes
  std::string hash;       // 32 raw bytes
};

struct AuditVerifyReport {
  int64_t rows = 0;
  int64_t writers = 0;
  bool ok = true;
  std::string firstProblem;  // e.g. "writer h/12/3/ab: row id 17 (seq 4) changed: hash mismatch"
};

class AuditLog {
 public:
  explicit AuditLog(const Clock& clock) : clock_(clock) {}

  // Appends `event` using `conn` as the writer, inside the caller's open transaction if there is one
  // (so the record commits or rolls back with the change it describes). Thread-safety: as the
  // connection (one user at a time).
  Result<AuditRecord> append(pg::Connection& conn, const AuditEvent& event) const;

  // Convenience: borrows a connection from `pool` and appends in its own transaction.
  Result<AuditRecord> append(pg::Pool& pool, const AuditEvent& event) const;

  // Recomputes every writer's chain and reports the first changed, deleted or reordered row.
  static Result<AuditVerifyReport> verify(pg::Connection& conn);

  // The hash of a record given its predecessor's hash (exposed for tests and verifiers).
  static std::string computeHash(const AuditRecord& r);

 private:
  const Clock& clock_;
};

}  // namespace erds
