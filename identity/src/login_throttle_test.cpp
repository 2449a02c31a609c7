#include "erds/identity/login_throttle.h"

#include <gtest/gtest.h>

#include "erds/identity/testing/in_memory_throttle_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

class LoginThrottleTest : public ::testing::Test {
 protected:
  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemoryThrottleStore store_;
  LoginThrottle throttle_{store_, clock_};
};

TEST_F(LoginThrottleTest, LocksIdentifierAfterFiveFailuresThenDoubles) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(throttle_.check("mailto:a@example.test", "10.0.0.1")->allowed);
    ASSERT_TRUE(throttle_.recordFailure("mailto:a@example.test", "10.0.0.1").has_value());
  }
  EXPECT_TRUE(throttle_.check("mailto:a@example.test", "10.0.0.1")->allowed);
  ASSERT_TRUE(throttle_.recordFailure("mailto:a@example.test", "10.0.0.1").has_value());
  auto d = throttle_.check("mailto:a@example.test", "10.0.0.2");  // other IP: identifier still locked
  EXPECT_FALSE(d->allowed);
  EXPECT_EQ(d->retryAfter, 60s);
  // Identifier keys are case-insensitive.
  EXPECT_FALSE(throttle_.check("MAILTO:A@EXAMPLE.TEST", "10.0.0.2")->allowed);
  // Another identifier is not affected.
  EXPECT_TRUE(throttle_.check("mailto:b@example.test", "10.0.0.2")->allowed);

  clock_.advance(61s);
  EXPECT_TRUE(throttle_.check("mailto:a@example.test", "10.0.0.2")->allowed);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(throttle_.recordFailure("mailto:a@example.test", "10.0.0.2").has_value());
  EXPECT_EQ(throttle_.check("mailto:a@example.test", "10.0.0.2")->retryAfter, 120s);  // exponential
}

TEST_F(LoginThrottleTest, SuccessResetsIdentifierButNotIp) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(throttle_.recordFailure("mailto:a@example.test", "10.0.0.1").has_value());
  ASSERT_TRUE(throttle_.recordSuccess("mailto:a@example.test").has_value());
  ASSERT_TRUE(throttle_.recordFailure("mailto:a@example.test", "10.0.0.1").has_value());
  EXPECT_TRUE(throttle_.check("mailto:a@example.test", "10.0.0.1")->allowed);
  auto ip = store_.load(LoginThrottle::ipKey("10.0.0.1"));
  EXPECT_EQ(ip->failures, 5);
}

TEST_F(LoginThrottleTest, IpLockedAfterTwentyFailuresAcrossIdentifiers) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(throttle_.recordFailure("mailto:user" + std::to_string(i) + "@example.test", "192.0.2.7").has_value());
  }
  EXPECT_FALSE(throttle_.check("mailto:fresh@example.test", "192.0.2.7")->allowed);
  EXPECT_TRUE(throttle_.check("mailto:fresh@example.test", "192.0.2.8")->allowed);
}

TEST_F(LoginThrottleTest, IdentifierKeyHoldsNoAddress) {
  std::string key = LoginThrottle::identifierKey("mailto:a@example.test");
  EXPECT_EQ(key.find("example"), std::string::npos);
  EXPECT_EQ(key.size(), 3u + 64u);
}

TEST(LoginThrottleRuleTest, WindowExpiryAndCapAndForgetting) {
  LockoutRule rule;
  TimePoint t0(std::chrono::seconds(1000));
  ThrottleState s;
  for (int i = 0; i < 4; ++i) s = LoginThrottle::afterFailure(s, rule, t0);
  EXPECT_EQ(s.failures, 4);
  // Outside the window the count restarts.
  s = LoginThrottle::afterFailure(s, rule, t0 + 16min);
  EXPECT_EQ(s.failures, 1);
  EXPECT_EQ(s.lockedUntil, TimePoint{});
  // Many lockouts: capped at maxLockout.
  s = ThrottleState{};
  s.lockouts = 30;
  s.lastFailure = t0;
  for (int i = 0; i < 5; ++i) s = LoginThrottle::afterFailure(s, rule, t0);
  EXPECT_EQ(s.lockedUntil, t0 + 1h);
  // A long quiet period forgets earlier lockouts.
  s = LoginThrottle::afterFailure(s, rule, t0 + 25h);
  EXPECT_EQ(s.lockouts, 0);
  EXPECT_EQ(s.failures, 1);
}

}  // namespace
}  // namespace erds::identity
