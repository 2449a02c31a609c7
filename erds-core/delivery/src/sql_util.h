// Internal helpers of erds::core for talking to PostgreSQL: times, ids and a transaction guard.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::core::internal {

// A timestamptz parameter (RFC 3339 UTC, microseconds).
pg::Param timeParam(TimePoint t);
// SQL expression turning a timestamptz column into microseconds since the epoch (bigint).
std::string micros(std::string_view column);
TimePoint fromMicros(int64_t us);

// Random UUID v4, lower case.
std::string newUuid();
bool isUuid(std::string_view s);

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
  // The caller sent BEGIN itself (e.g. first in a pipeline) and it succeeded.
  void opened() { open_ = true; }
  Result<void> commit() {
    open_ = false;
    auto r = c_.commit();
    if (!r) (void)c_.rollback();
    return r;
  }
  void rollback() {
    if (open_) (void)c_.rollback();
    open_ = false;
  }

 private:
  pg::Connection& c_;
  bool open_ = false;
};

// A PostgreSQL array literal in text form ({"a","b"}) of the given elements, each quoted and
// escaped, for a text[] / uuid[] / timestamptz[] / integer[] / boolean[] parameter.
std::string arrayLiteral(const std::vector<std::string>& elements);

// Escapes a string for a JSON string literal (without the quotes).
std::string jsonEscape(std::string_view s);

}  // namespace erds::core::internal
