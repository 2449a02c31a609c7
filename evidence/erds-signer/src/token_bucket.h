// TokenBucket: the erds-signer rate limit. A bucket of `ratePerSecond` tokens (a burst of one
// second) refilled continuously from the injected monotonic clock.
#pragma once

#include <chrono>
#include <mutex>

#include "erds/base/clock.h"

namespace erds::signer {

class TokenBucket {
 public:
  // `ratePerSecond` > 0 (a bug otherwise: checked by the caller from config). The bucket starts
  // full. `clock` must outlive the bucket.
  TokenBucket(double ratePerSecond, const Clock& clock);

  // Takes one token if there is one. Thread-safe.
  bool tryAcquire();

 private:
  const double rate_;
  const Clock& clock_;
  std::mutex mutex_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace erds::signer
