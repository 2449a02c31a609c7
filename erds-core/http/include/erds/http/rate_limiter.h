// KeyedRateLimiter: one token bucket per key (a client IP, a party id) with bounded memory. Used
// before routing (per client IP) and after authentication (per account); a refusal becomes
// 429 Too Many Requests with Retry-After.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/result.h"

namespace erds::http {

// A bucket of `burst` tokens refilled at `ratePerSecond`. ratePerSecond <= 0 disables the limit.
struct RateLimit {
  double ratePerSecond = 0;
  double burst = 0;  // <= 0: one second of rate (at least 1)

  bool enabled() const { return ratePerSecond > 0; }
  double capacity() const;

  // Reads `rateKey` (Int, requests per second, 0 = off) and `burstKey` (Int, 0 = one second of
  // rate). InvalidInput naming the key and its source for negative values.
  static Result<RateLimit> fromConfig(const Config& config, const std::string& rateKey,
                                      const std::string& burstKey);
};

struct RateDecision {
  bool allowed = true;
  // When refused: whole seconds until one token is back (>= 1), for Retry-After.
  std::chrono::seconds retryAfter{0};
};

class KeyedRateLimiter {
 public:
  // Keeps at most `maxEntries` buckets (> 0). A bucket idle long enough to be full again is
  // dropped (it is equivalent to a new one); at the cap the least recently used bucket is dropped,
  // so memory stays bounded even against many keys (that key then starts with a full bucket).
  // `clock` must outlive the limiter.
  KeyedRateLimiter(RateLimit limit, const Clock& clock, std::size_t maxEntries = 100000);

  // Takes one token from `key`'s bucket. Always allowed when the limit is disabled. Thread-safe.
  RateDecision acquire(std::string_view key);

  // Buckets currently kept (for tests and metrics). Thread-safe.
  std::size_t size() const;
  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
    std::list<std::string>::iterator lru;
  };
  void evictIdle(std::chrono::steady_clock::time_point now);

  const RateLimit limit_;
  const double capacity_;
  const Clock& clock_;
  const std::size_t maxEntries_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, Bucket> buckets_;
};

// The bare client address in canonical text ("203.0.113.5", "2001:db8::1"; IPv4-mapped IPv6
// gives the IPv4 address), from "ip:port", "[ipv6]:port" or a bare address. Unparsable input is
// returned as it is (minus brackets/port).
std::string clientHost(std::string_view clientAddress);

// The rate-limit key of a client address as the transport reports it ("203.0.113.5:41234",
// "[2001:db8::1]:443", or a bare address): the IPv4 address, or the /64 prefix of an IPv6 address
// (one host usually owns a whole /64). IPv4-mapped IPv6 addresses give the IPv4 address.
std::string clientIpKey(std::string_view clientAddress);

}  // namespace erds::http
