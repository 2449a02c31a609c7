// Helpers private to the identity PostgreSQL stores: time conversion, a transaction guard.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::identity::internal {

inline pg::Param timeParam(TimePoint t) { return pg::Param::text(formatRfc3339(t, true)); }
// SQL expression: a timestamptz column as microseconds since the epoch (bigint; NULL stays NULL).
inline std::string micros(std::string_view column) {
  return "(extract(epoch from " + std::string(column) + ") * 1000000)::bigint";
}
inline TimePoint fromMicros(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

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

}  // namespace erds::identity::internal
