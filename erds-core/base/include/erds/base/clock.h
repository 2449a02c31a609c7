// Clock: the one source of "now" for erds. Production code gets SystemClock; tests inject
// erds::testing::FakeClock (erds-core/base/testing, linked into test binaries only), so release
// binaries cannot set or offset their clock.
#pragma once

#include <chrono>
#include <string>

namespace erds {

using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  // Current UTC wall-clock time, microsecond precision. Thread-safe.
  virtual TimePoint now() const = 0;
  // Monotonic time for measuring durations. Thread-safe.
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  std::chrono::steady_clock::time_point steadyNow() const override;
  // A process-wide instance.
  static const SystemClock& instance();
};

// RFC 3339 UTC with 'Z', e.g. 2026-11-27T10:00:00.123456Z (fraction omitted when zero if
// withFraction is false).
std::string formatRfc3339(TimePoint t, bool withFraction = true);

}  // namespace erds
