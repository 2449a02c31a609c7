#include "token_bucket.h"

#include <algorithm>

#include "erds/base/result.h"

namespace erds::signer {

TokenBucket::TokenBucket(double ratePerSecond, const Clock& clock)
    : rate_(ratePerSecond), clock_(clock), tokens_(ratePerSecond), last_(clock.steadyNow()) {
  ERDS_CHECK(ratePerSecond > 0, "TokenBucket rate must be positive");
}

bool TokenBucket::tryAcquire() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.steadyNow();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(rate_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace erds::signer
