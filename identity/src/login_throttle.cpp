#include "erds/identity/login_throttle.h"

#include <algorithm>
#include <cctype>

#include "crypto_util.h"
#include "erds/base/aead.h"

namespace erds::identity {

namespace {
std::string lowerCase(std::string_view s) {
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}
}  // namespace

std::string LoginThrottle::identifierKey(const Secret& identifierHashKey, std::string_view identifier) {
  return "id:" + internal::hex(internal::hmac("SHA256", identifierHashKey.reveal(), lowerCase(identifier)));
}

std::string LoginThrottle::identifierKey(std::string_view identifier) const {
  return identifierKey(identifierHashKey_, identifier);
}

Result<Secret> LoginThrottle::deriveIdentifierHashKey(const Secret& kek) {
  return internal::keyFromKek(kek, kIdentifierKeyInfo);
}

std::string LoginThrottle::ipKey(std::string_view ip) { return "ip:" + std::string(ip.substr(0, 64)); }

ThrottleState LoginThrottle::afterFailure(const ThrottleState& s, const LockoutRule& rule, TimePoint now) {
  ThrottleState n = s;
  if (n.lastFailure != TimePoint{} && now - n.lastFailure >= rule.forgetAfter) n = ThrottleState{};
  if (n.failures == 0 || now - n.windowStart >= rule.window) {
    n.failures = 0;
    n.windowStart = now;
  }
  n.failures += 1;
  n.lastFailure = now;
  if (n.failures >= rule.maxFailures) {
    // base * 2^lockouts, capped; the shift is bounded so it cannot overflow.
    auto lock = rule.baseLockout * (int64_t{1} << std::min(n.lockouts, 20));
    lock = std::min<std::chrono::seconds>(lock, rule.maxLockout);
    n.lockedUntil = now + std::chrono::duration_cast<std::chrono::microseconds>(lock);
    n.lockouts += 1;
    n.failures = 0;
  }
  return n;
}

Result<ThrottleDecision> LoginThrottle::check(std::string_view identifier, std::string_view ip) {
  const TimePoint now = clock_.now();
  ThrottleDecision d;
  for (const std::string& key : {identifierKey(identifier), ipKey(ip)}) {
    auto s = store_.load(key);
    if (!s) return s.error();
    if (s->lockedUntil > now) {
      d.allowed = false;
      auto left = std::chrono::ceil<std::chrono::seconds>(s->lockedUntil - now);
      d.retryAfter = std::max(d.retryAfter, left);
    }
  }
  return d;
}

Result<void> LoginThrottle::recordFailure(std::string_view identifier, std::string_view ip) {
  const TimePoint now = clock_.now();
  auto a = store_.update(identifierKey(identifier), [&](const ThrottleState& s) {
    return afterFailure(s, policy_.perIdentifier, now);
  });
  if (!a) return a.error();
  auto b = store_.update(ipKey(ip), [&](const ThrottleState& s) { return afterFailure(s, policy_.perIp, now); });
  if (!b) return b.error();
  return ok();
}

Result<void> LoginThrottle::recordSuccess(std::string_view identifier) {
  return store_.reset(identifierKey(identifier));
}

}  // namespace erds::identity
