// FakeClock: a settable Clock for tests only. This header lives outside include/ and its target
// (erds::base_testing) is linked by test binaries only.
#pragma once

#include <atomic>
#include <chrono>

#include "erds/base/clock.h"

namespace erds::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(std::chrono::microseconds(now_.load())); }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(now_.load()));
  }
  void advance(std::chrono::microseconds d) { now_ += d.count(); }
  void set(TimePoint t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<long long> now_;
};

}  // namespace erds::testing
