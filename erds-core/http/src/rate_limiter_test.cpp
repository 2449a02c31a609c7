#include "erds/http/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "erds/http/problem.h"
#include "fake_clock.h"

namespace erds::http {
namespace {

using namespace std::chrono_literals;

testing::FakeClock makeClock() { return testing::FakeClock(TimePoint(std::chrono::seconds(1'800'000'000))); }

TEST(KeyedRateLimiter, BurstThenRefusalWithRetryAfterThenRefill) {
  auto clock = makeClock();
  KeyedRateLimiter limiter(RateLimit{2, 3}, clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire("a").allowed) << i;
  RateDecision refused = limiter.acquire("a");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retryAfter, 1s);  // one token per 0.5 s, rounded up to whole seconds
  // Other keys have their own bucket.
  EXPECT_TRUE(limiter.acquire("b").allowed);
  clock.advance(400ms);
  EXPECT_FALSE(limiter.acquire("a").allowed);  // 0.8 tokens
  clock.advance(100ms);
  EXPECT_TRUE(limiter.acquire("a").allowed);   // 1.0 token
  EXPECT_FALSE(limiter.acquire("a").allowed);
  clock.advance(10s);  // refills up to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire("a").allowed) << i;
  EXPECT_FALSE(limiter.acquire("a").allowed);
}

TEST(KeyedRateLimiter, RetryAfterCoversTheWait) {
  auto clock = makeClock();
  KeyedRateLimiter limiter(RateLimit{0.25, 1}, clock);  // one request per 4 s
  EXPECT_TRUE(limiter.acquire("k").allowed);
  RateDecision d = limiter.acquire("k");
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.retryAfter, 4s);
  clock.advance(d.retryAfter - 1ms);
  EXPECT_FALSE(limiter.acquire("k").allowed);
  clock.advance(1ms);
  EXPECT_TRUE(limiter.acquire("k").allowed);
}

TEST(KeyedRateLimiter, DisabledAllowsEverything) {
  auto clock = makeClock();
  KeyedRateLimiter limiter(RateLimit{0, 0}, clock);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.acquire("x").allowed);
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(KeyedRateLimiter, MemoryIsBoundedAndIdleBucketsAreDropped) {
  auto clock = makeClock();
  KeyedRateLimiter limiter(RateLimit{10, 10}, clock, 100);
  for (int i = 0; i < 1000; ++i) limiter.acquire("key-" + std::to_string(i));
  EXPECT_EQ(limiter.size(), 100u);  // the cap holds against many keys
  // The most recent keys are still limited: their buckets were kept.
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(limiter.acquire("key-999").allowed);
  EXPECT_FALSE(limiter.acquire("key-999").allowed);
  // Once a bucket is full again (capacity / rate = 1 s idle), it is forgotten.
  clock.advance(1001ms);
  limiter.acquire("fresh");
  EXPECT_EQ(limiter.size(), 1u);
}

TEST(KeyedRateLimiter, ConcurrentAcquireNeverGrantsMoreThanTheBurst) {
  auto clock = makeClock();
  KeyedRateLimiter limiter(RateLimit{1, 500}, clock);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 400; ++i) granted += limiter.acquire("shared").allowed ? 1 : 0;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 500);
}

TEST(ClientAddress, HostAndKey) {
  struct Case {
    const char* address;
    const char* host;
    const char* key;
  };
  const Case kCases[] = {
      {"203.0.113.5:41234", "203.0.113.5", "203.0.113.5"},
      {"203.0.113.5", "203.0.113.5", "203.0.113.5"},
      {"[::1]:8443", "::1", "::/64"},
      {"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
      {"[::ffff:192.0.2.7]:80", "192.0.2.7", "192.0.2.7"},
      {"2001:DB8::5", "2001:db8::5", "2001:db8::/64"},
      {"unknown", "unknown", "unknown"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(clientHost(c.address), c.host) << c.address;
    EXPECT_EQ(clientIpKey(c.address), c.key) << c.address;
  }
  // Two hosts of one /64 share a bucket; another /64 does not.
  EXPECT_EQ(clientIpKey("[2001:db8::1]:1"), clientIpKey("[2001:db8::ffff:2]:2"));
  EXPECT_NE(clientIpKey("[2001:db8::1]:1"), clientIpKey("[2001:db8:0:1::1]:1"));
}

TEST(RateLimitedError, RoundTripsThroughResult) {
  Error e = rateLimitedError(7s);
  EXPECT_TRUE(e.is(ErrorCode::Unavailable));
  ASSERT_TRUE(rateLimitRetryAfter(e));
  EXPECT_EQ(*rateLimitRetryAfter(e), 7s);
  EXPECT_EQ(*rateLimitRetryAfter(rateLimitedError(0s)), 1s);
  EXPECT_FALSE(rateLimitRetryAfter(Error::unavailable("database down")));
  EXPECT_FALSE(rateLimitRetryAfter(Error::invalidInput(e.message)));
}

TEST(RateLimit, FromConfig) {
  char tmpl[] = "/tmp/erds-rl.XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/a.ini") << "[http]\nrate_per_ip_per_second = 5\nrate_burst = 0\n";
  auto cfg = Config::load(dir + "/a.ini", {});
  ASSERT_TRUE(cfg) << cfg.error().toString();
  auto r = RateLimit::fromConfig(*cfg, "http.rate_per_ip_per_second", "http.rate_burst");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ratePerSecond, 5);
  EXPECT_EQ(r->capacity(), 5);  // burst 0 = one second of rate
  auto account = RateLimit::fromConfig(*cfg, "http.rate_per_account_per_second", "http.rate_account_burst");
  ASSERT_TRUE(account);
  EXPECT_TRUE(account->enabled());  // on by default
  std::ofstream(dir + "/b.ini") << "[http]\nrate_per_ip_per_second = -1\n";
  auto bad = Config::load(dir + "/b.ini", {});
  ASSERT_TRUE(bad);
  auto refused = RateLimit::fromConfig(*bad, "http.rate_per_ip_per_second", "http.rate_burst");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("http.rate_per_ip_per_second"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace erds::http
