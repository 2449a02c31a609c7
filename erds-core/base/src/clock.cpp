// SystemClock and RFC 3339 formatting.
#include "erds/base/clock.h"

#include <cstdio>
#include <ctime>

namespace erds {

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::chrono::steady_clock::time_point SystemClock::steadyNow() const {
  return std::chrono::steady_clock::now();
}

const SystemClock& SystemClock::instance() {
  static const SystemClock kInstance;
  return kInstance;
}

std::string formatRfc3339(TimePoint t, bool withFraction) {
  const int64_t us = t.time_since_epoch().count();
  // Floor division so that times before 1970 still get a non-negative fraction.
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<std::size_t>(n));
  if (withFraction || frac != 0) {
    n = std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    out.append(buf, static_cast<std::size_t>(n));
  }
  out += 'Z';
  return out;
}

}  // namespace erds
