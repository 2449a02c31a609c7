#include "erds/identity/login_throttle.h"

#include <gtest/gtest.h>

#include "erds/base/aead.h"
#include "erds/identity/testing/in_memory_throttle_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

// Known-answer vector for deriveIdentifierHashKey (see IdentifierHashKeyTest below).
constexpr const char* kExpectedIdentifierHashKeyHex =
    "b29b698846288066a88ee7ba04e66d3152e024c6ff1aba34c18fefcd1d4d018a";

class LoginThrottleTest : public ::testing::Test {
 protected:
  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemoryThrottleStore store_;
  Secret kek_{std::string(32, '\x42')};
  LoginThrottle throttle_{store_, clock_, LoginThrottle::deriveIdentifierHashKey(kek_).value()};
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
  std::string key = throttle_.identifierKey("mailto:a@example.test");
  EXPECT_EQ(key.find("example"), std::string::npos);
  EXPECT_EQ(key.size(), 3u + 64u);
  // The failure counter is stored under exactly that key.
  ASSERT_TRUE(throttle_.recordFailure("mailto:A@example.test", "10.0.0.1").has_value());
  EXPECT_EQ(store_.load(key)->failures, 1);
}

// Issue 4 item 7: a keyed hash, so a guessed address cannot be tested against audit or login records.
TEST_F(LoginThrottleTest, IdentifierKeyIsKeyedHmacNotPlainSha256) {
  const std::string id = "mailto:a@example.test";
  const std::string key = throttle_.identifierKey(id);
  EXPECT_NE(key, "id:" + crypto::toHex(crypto::sha256(id)));
  // Stable for the same address (case-insensitive) and KEK, also across instances.
  testing::InMemoryThrottleStore other;
  LoginThrottle again(other, clock_, LoginThrottle::deriveIdentifierHashKey(kek_).value());
  EXPECT_EQ(again.identifierKey("MAILTO:A@Example.TEST"), key);
  EXPECT_EQ(LoginThrottle::identifierKey(LoginThrottle::deriveIdentifierHashKey(kek_).value(), id), key);
  // The same KEK written as 64 hex characters gives the same key.
  Secret hexKek(crypto::toHex(kek_.reveal()));
  EXPECT_EQ(LoginThrottle::identifierKey(LoginThrottle::deriveIdentifierHashKey(hexKek).value(), id), key);
  // Another KEK, another key; another address, another key.
  Secret otherKek(std::string(32, '\x43'));
  EXPECT_NE(LoginThrottle::identifierKey(LoginThrottle::deriveIdentifierHashKey(otherKek).value(), id), key);
  EXPECT_NE(throttle_.identifierKey("mailto:b@example.test"), key);
}

TEST(IdentifierHashKeyTest, HkdfSha256OfTheKekWithTheFixedLabel) {
  // RFC 5869 HKDF-SHA256, salt empty, IKM = 32 x 0x42, info "erds identifier key v1", L = 32;
  // independently computed with Python's hmac module (extract with a zero salt, one expand block).
  auto k = LoginThrottle::deriveIdentifierHashKey(Secret(std::string(32, '\x42')));
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->size(), 32u);
  EXPECT_EQ(crypto::toHex(k->reveal()), kExpectedIdentifierHashKeyHex);
  EXPECT_NE(k->reveal(), std::string(32, '\x42'));
}

TEST(IdentifierHashKeyTest, RefusesAKekOfTheWrongShape) {
  for (const std::string& bad : {std::string(), std::string(31, 'a'), std::string(33, 'a'), std::string(64, 'z')}) {
    auto k = LoginThrottle::deriveIdentifierHashKey(Secret(bad));
    ASSERT_FALSE(k.has_value()) << bad.size();
    EXPECT_TRUE(k.error().is(ErrorCode::InvalidInput));
    if (!bad.empty()) {
      EXPECT_EQ(k.error().message.find(bad), std::string::npos);  // never echoed
    }
  }
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
