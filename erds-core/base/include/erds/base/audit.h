// Audit log: append-only records of security-relevant events (who, what, when, request id), each
// row carrying the SHA-256 of its writer's previous row. A writer is one database connection, so
// processes and nodes never serialise on one chain. Anchors time-stamp the chains' heads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
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

// The last row of one writer's chain at some moment.
struct AuditChainHead {
  std::string writerId;
  int64_t seq = 0;
  std::string hash;  // 32 raw bytes
};

// An anchor: the heads that moved since the previous anchor, chained to that anchor's digest,
// hashed together (digest) and time-stamped (RFC 3161 token over the digest). Because the token
// comes from the time-stamping unit, not from the database, the database owner cannot rewrite a
// row that an anchor covers, recompute the chain and the anchor, and still match the token.
struct AuditAnchor {
  int64_t id = 0;
  TimePoint at;
  std::string prevDigest;             // 32 raw bytes; zeros for the first anchor
  std::vector<AuditChainHead> heads;  // sorted by writerId
  std::string digest;                 // 32 raw bytes: AuditLog::anchorDigest(prevDigest, heads)
  std::string timestampToken;         // DER TimeStampToken whose imprint is `digest`
};

// Obtains a time-stamp token (DER) over a 32-byte SHA-256 digest. erdsd wires erds::evidence's
// TimestampAuthority here, so that base does not depend on evidence. Must be thread-safe.
using AuditTimestamper = std::function<Result<std::string>(std::string_view sha256Digest)>;

// Checks that `tokenDer` is a time-stamp token over `sha256Digest` (its message imprint), and,
// when the caller has trust anchors, that its signature chains to one. IntegrityFailure (or
// InvalidInput for a token that does not parse) otherwise. erdsctl wires erds::evidence here.
using AuditTokenChecker =
    std::function<Result<void>(std::string_view tokenDer, std::string_view sha256Digest)>;

struct AuditVerifyReport {
  int64_t rows = 0;
  int64_t writers = 0;
  int64_t anchors = 0;
  bool anchorTokensChecked = false;  // false when verify() ran without a token checker
  std::optional<TimePoint> lastAnchorAt;
  bool ok = true;
  std::string firstProblem;  // e.g. "writer h/12/3/ab: row id 17 (seq 4) changed: hash mismatch"
  std::vector<std::string> problems;  // every problem found, in order (at most 100)
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

  // Appends `events` in order as consecutive records of `conn`'s chain, the same records append()
  // would write one by one. Inside the caller's transaction if one is open, else as one atomic
  // statement or in its own transaction. All or nothing: any invalid event is InvalidInput and
  // nothing is written. An empty list writes nothing. Used by group commits (erds-signer,
  // DeliveryStore).
  // Statements: one multi-row INSERT when `conn` remembers its chain head (it wrote the previous
  // record) and every details object is in the subset canonicalJsonb() handles; the INSERT itself
  // checks that the remembered head is still the table's (a caller's rollback makes it stale), and
  // writes nothing otherwise. Else, or then, two: one reading the head and normalising every
  // details object in PostgreSQL, one multi-row INSERT.
  Result<std::vector<AuditRecord>> appendMany(pg::Connection& conn, const std::vector<AuditEvent>& events) const;

  // Recomputes every writer's chain and reports the first changed, deleted or reordered row; then
  // checks every anchor: the anchor chain (prevDigest), the digest over its heads, the token over
  // the digest (only when `checkToken` is given), and that each anchored head is still the row at
  // that (writer, seq) with that hash. A chain rewritten consistently by the database owner is
  // named by the first anchor whose head no longer matches ("rows seq a..b rewritten"). Errors:
  // database errors only; problems found are in the report. Reads in one REPEATABLE READ snapshot.
  static Result<AuditVerifyReport> verify(pg::Connection& conn, const AuditTokenChecker& checkToken = nullptr);

  // Writes an anchor over the heads that moved since the last anchor (nullopt, and nothing
  // written, when none moved). `conn` must not be in a transaction: the heads are read, the token
  // is obtained (outside any transaction, it may be slow), then the anchor is inserted in its own
  // transaction. Unavailable when the time-stamper fails; Conflict if another anchor was written
  // meanwhile (retry later). Needs SELECT/INSERT on audit_log, audit_anchor, audit_anchor_head.
  Result<std::optional<AuditAnchor>> anchor(pg::Connection& conn, const AuditTimestamper& timestamper) const;

  // The digest an anchor's token covers: SHA-256 over a domain tag, `prevDigest` and the heads
  // (sorted by writerId by the caller).
  static std::string anchorDigest(std::string_view prevDigest, const std::vector<AuditChainHead>& heads);

  // The hash of a record given its predecessor's hash (exposed for tests and verifiers).
  static std::string computeHash(const AuditRecord& r);

  // jsonb's text of the object `json` (keys by length, then bytes; ": ", ", "; arrays in order) if
  // its values are, nested up to 32 deep, objects, arrays, printable-ASCII strings (escapes \" \\ \/
  // \b \f \n \r \t), integers (<= 18 digits), true, false, null, no object repeating a key; else
  // nullopt (a non-object top level too) and PostgreSQL normalises. Tests: equal to $1::jsonb::text.
  static std::optional<std::string> canonicalJsonb(std::string_view json);

 private:
  const Clock& clock_;
};

// Runs AuditLog::anchor every `interval` on a background thread (and once shortly after start),
// logging failures (audit.anchor_failed) and retrying at the next tick. Thread-safe; `pool`,
// `clock` and the time-stamper must outlive it. The destructor stops the thread.
class AuditAnchorer {
 public:
  AuditAnchorer(pg::Pool& pool, const Clock& clock, AuditTimestamper timestamper, std::chrono::milliseconds interval);
  ~AuditAnchorer();
  AuditAnchorer(const AuditAnchorer&) = delete;
  AuditAnchorer& operator=(const AuditAnchorer&) = delete;

  void start();
  void stop();
  // One anchoring pass now (as the thread does). See AuditLog::anchor.
  Result<std::optional<AuditAnchor>> anchorNow();

 private:
  pg::Pool& pool_;
  AuditLog log_;
  AuditTimestamper timestamper_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace erds
