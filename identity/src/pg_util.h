// Helpers private to the identity PostgreSQL stores: time conversion, transaction guards, audit
// records written inside a store's transaction.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <memory>

#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/identity/party.h"

namespace erds::identity::internal {

inline pg::Param timeParam(TimePoint t) { return pg::Param::text(formatRfc3339(t, true)); }
// SQL expression: a timestamptz column as microseconds since the epoch (bigint; NULL stays NULL).
inline std::string micros(std::string_view column) {
  return "(extract(epoch from " + std::string(column) + ") * 1000000)::bigint";
}
inline TimePoint fromMicros(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

// Authentication methods as stored in a text column: names joined by ','; unknown names dropped.
inline std::string joinMethods(const std::vector<AuthenticationMethod>& methods) {
  std::string out;
  for (AuthenticationMethod m : methods) {
    if (!out.empty()) out += ",";
    out += authenticationMethodName(m);
  }
  return out;
}
inline std::vector<AuthenticationMethod> splitMethods(const std::string& s) {
  std::vector<AuthenticationMethod> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    if (auto m = parseAuthenticationMethod(s.substr(start, comma - start))) out.push_back(*m);
    start = comma + 1;
  }
  return out;
}

inline std::string lowerAscii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Rolls back on destruction unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(pg::Connection& c) : c_(c) {}
  ~Transaction() {
    if (open_) (void)c_.rollback();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Result<void> begin() {
    auto r = c_.begin();
    if (r) open_ = true;
    return r;
  }
  Result<void> commit() {
    open_ = false;
    auto r = c_.commit();
    if (!r) (void)c_.rollback();
    return r;
  }

 private:
  pg::Connection& c_;
  bool open_ = false;
};

// A pooled connection inside a transaction, how every multi-statement store call starts: rolled
// back on destruction unless commit() succeeded; the connection then goes back to the pool.
class PooledTransaction {
 public:
  // The pool's error when no connection is available, else BEGIN's error.
  static Result<PooledTransaction> begin(pg::Pool& pool) {
    auto lease = pool.acquire();
    if (!lease) return lease.error();
    PooledTransaction t(std::move(lease).value());
    ERDS_RETURN_IF_ERROR(t.tx_->begin());
    return t;
  }
  pg::Connection& connection() { return *lease_; }
  Result<void> commit() { return tx_->commit(); }

 private:
  // The Connection lives behind the Lease's pointer, so moving the Lease keeps tx_'s reference valid.
  explicit PooledTransaction(pg::Lease lease)
      : lease_(std::move(lease)), tx_(std::make_unique<Transaction>(*lease_)) {}
  pg::Lease lease_;
  std::unique_ptr<Transaction> tx_;  // destroyed first: rollback before the lease returns
};

// Appends a "success" audit record through `c`, so it commits or rolls back with the caller's
// transaction.
inline Result<void> appendAudit(const AuditLog& audit, pg::Connection& c, std::string actor, std::string action,
                                std::string object, std::string detailsJson = "{}") {
  AuditEvent e;
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.object = std::move(object);
  e.outcome = "success";
  e.detailsJson = std::move(detailsJson);
  auto a = audit.append(c, e);
  if (!a) return a.error();
  return ok();
}

}  // namespace erds::identity::internal
