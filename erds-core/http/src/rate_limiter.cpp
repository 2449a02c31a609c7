// Token buckets per key with an LRU list: O(1) per request, memory bounded by maxEntries.
#include "erds/http/rate_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace erds::http {

double RateLimit::capacity() const {
  if (burst > 0) return std::max(1.0, burst);
  return std::max(1.0, ratePerSecond);
}

Result<RateLimit> RateLimit::fromConfig(const Config& config, const std::string& rateKey,
                                        const std::string& burstKey) {
  const int64_t rate = config.getInt(rateKey);
  const int64_t burst = config.getInt(burstKey);
  if (rate < 0)
    return Error::invalidInput(rateKey + " (" + config.sourceOf(rateKey) +
                               "): must be >= 0 (0 = no limit)");
  if (burst < 0)
    return Error::invalidInput(burstKey + " (" + config.sourceOf(burstKey) +
                               "): must be >= 0 (0 = one second of rate)");
  return RateLimit{static_cast<double>(rate), static_cast<double>(burst)};
}

KeyedRateLimiter::KeyedRateLimiter(RateLimit limit, const Clock& clock, std::size_t maxEntries)
    : limit_(limit), capacity_(limit.capacity()), clock_(clock), maxEntries_(maxEntries) {
  ERDS_CHECK(maxEntries > 0, "KeyedRateLimiter needs room for one bucket");
}

void KeyedRateLimiter::evictIdle(std::chrono::steady_clock::time_point now) {
  // A bucket untouched for capacity/rate seconds is full again: forgetting it changes nothing.
  const auto refill = std::chrono::duration<double>(capacity_ / limit_.ratePerSecond);
  while (!lru_.empty()) {
    auto it = buckets_.find(lru_.back());
    if (it != buckets_.end() && now - it->second.last < refill) break;
    if (it != buckets_.end()) buckets_.erase(it);
    lru_.pop_back();
  }
}

RateDecision KeyedRateLimiter::acquire(std::string_view key) {
  if (!limit_.enabled()) return {};
  std::lock_guard lock(mutex_);
  const auto now = clock_.steadyNow();
  evictIdle(now);
  std::string k(key);
  auto it = buckets_.find(k);
  if (it == buckets_.end()) {
    if (buckets_.size() >= maxEntries_) {
      buckets_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(k);
    it = buckets_.emplace(std::move(k), Bucket{capacity_, now, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    if (now > it->second.last) {
      const double elapsed = std::chrono::duration<double>(now - it->second.last).count();
      it->second.tokens = std::min(capacity_, it->second.tokens + elapsed * limit_.ratePerSecond);
    }
  }
  // `last` moves only on refill, so a refused burst cannot push the refill time out.
  if (now > it->second.last) it->second.last = now;
  Bucket& b = it->second;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  const double wait = (1.0 - b.tokens) / limit_.ratePerSecond;
  const auto seconds = static_cast<int64_t>(std::ceil(wait));
  return {false, std::chrono::seconds(std::max<int64_t>(1, seconds))};
}

std::size_t KeyedRateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

std::string clientHost(std::string_view address) {
  std::string host(address);
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    host = host.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));  // IPv4 with a port
  }
  in6_addr v6{};
  if (host.find(':') != std::string::npos && ::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    char buf[INET6_ADDRSTRLEN];
    if (IN6_IS_ADDR_V4MAPPED(&v6))
      return ::inet_ntop(AF_INET, &v6.s6_addr[12], buf, sizeof buf) != nullptr ? buf : host;
    return ::inet_ntop(AF_INET6, &v6, buf, sizeof buf) != nullptr ? buf : host;
  }
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    char buf[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, &v4, buf, sizeof buf) != nullptr) return buf;
  }
  return host;
}

std::string clientIpKey(std::string_view address) {
  std::string host = clientHost(address);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    std::memset(&v6.s6_addr[8], 0, 8);
    char buf[INET6_ADDRSTRLEN];
    if (::inet_ntop(AF_INET6, &v6, buf, sizeof buf) != nullptr) return std::string(buf) + "/64";
  }
  return host;
}

}  // namespace erds::http
