#include "erds/identity/password_login.h"

#include <gtest/gtest.h>

#include "erds/identity/testing/in_memory_credential_store.h"
#include "erds/identity/testing/in_memory_second_factor_store.h"
#include "erds/identity/testing/in_memory_throttle_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

Argon2Params cheap() {
  Argon2Params p;
  p.timeCost = 1;
  p.memoryKiB = 1024;
  return p;
}

class PasswordLoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    credentials_.putForTest("mailto:alice@example.test", {"alice", hasher_.hash("alice-password").value(), true, false});
    credentials_.putForTest("mailto:bob@example.test", {"bob", hasher_.hash("bob-password").value(), false, false});
    credentials_.putForTest("mailto:eve@example.test", {"eve", hasher_.hash("eve-password").value(), false, true});
    seed_ = TotpVerifier(secondFactors_, clock_).enrol("alice").value();
  }
  LoginRequest req(std::string id, std::string pw, std::string totp = "", std::string recovery = "") {
    return {std::move(id), Secret(std::move(pw)), std::move(totp), std::move(recovery), "198.51.100.1"};
  }
  std::string currentCode() { return totpCode(seed_, totpStep(clock_.now())); }

  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemoryCredentialStore credentials_;
  testing::InMemorySecondFactorStore secondFactors_;
  testing::InMemoryThrottleStore throttleStore_;
  LoginThrottle throttle_{throttleStore_, clock_, LoginThrottle::deriveIdentifierHashKey(Secret(std::string(32, 'k'))).value()};
  PasswordHasher hasher_ = PasswordHasher::create(cheap()).value();
  PasswordLogin login_{credentials_, secondFactors_, throttle_, hasher_, clock_};
  Secret seed_;
};

TEST_F(PasswordLoginTest, PasswordAndTotpGiveSubstantialMultiFactor) {
  auto r = login_.login(req("mailto:Alice@Example.test", "alice-password", currentCode()));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, LoginStatus::Authenticated);
  EXPECT_EQ(r->partyId, "alice");
  EXPECT_EQ(r->authentication.level, LevelOfAssurance::Substantial);
  EXPECT_TRUE(r->authentication.strong());
  // The same code again is a replay.
  EXPECT_TRUE(login_.login(req("mailto:alice@example.test", "alice-password", currentCode())).error().is(ErrorCode::Unauthorized));
}

TEST_F(PasswordLoginTest, MissingSecondFactorIsAskedForAndCounted) {
  auto r = login_.login(req("mailto:alice@example.test", "alice-password"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, LoginStatus::SecondFactorRequired);
  EXPECT_TRUE(r->partyId.empty());
  EXPECT_EQ(throttleStore_.load(throttle_.identifierKey("mailto:alice@example.test"))->failures, 1);
}

TEST_F(PasswordLoginTest, RecoveryCodeLoginIsLowAndSingleUse) {
  RecoveryCodeSet set = generateRecoveryCodes();
  ASSERT_TRUE(secondFactors_.replaceRecoveryCodes("alice", set.hashes).has_value());
  std::string code(set.codes[0].reveal());
  auto r = login_.login(req("mailto:alice@example.test", "alice-password", "", code));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->authentication.methods, std::vector<AuthenticationMethod>{AuthenticationMethod::RecoveryCode});
  EXPECT_EQ(r->authentication.level, LevelOfAssurance::Low);
  EXPECT_FALSE(r->authentication.strong());
  EXPECT_FALSE(login_.login(req("mailto:alice@example.test", "alice-password", "", code)).has_value());
}

TEST_F(PasswordLoginTest, NoEnumeration) {
  auto unknown = login_.login(req("mailto:nobody@example.test", "whatever"));
  auto wrongPassword = login_.login(req("mailto:bob@example.test", "wrong"));
  auto disabled = login_.login(req("mailto:eve@example.test", "eve-password"));
  auto wrongTotp = login_.login(req("mailto:alice@example.test", "alice-password", "000000"));
  for (const auto* r : {&unknown, &wrongPassword, &disabled, &wrongTotp}) {
    ASSERT_FALSE(r->has_value());
    EXPECT_EQ(r->error().code, ErrorCode::Unauthorized);
    EXPECT_EQ(r->error().message, "invalid credentials");
  }
}

TEST_F(PasswordLoginTest, SingleFactorAccountIsLow) {
  auto r = login_.login(req("mailto:bob@example.test", "bob-password"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->authentication.level, LevelOfAssurance::Low);
  EXPECT_FALSE(r->authentication.strong());
}

TEST_F(PasswordLoginTest, LockoutStopsEvenTheRightPasswordAndAppliesToUnknownIdentifiers) {
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(login_.login(req("mailto:bob@example.test", "wrong")).has_value());
  auto locked = login_.login(req("mailto:bob@example.test", "bob-password"));
  ASSERT_FALSE(locked.has_value());
  EXPECT_NE(locked.error().message.find("too many failed attempts"), std::string::npos);
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(login_.login(req("mailto:ghost@example.test", "x")).has_value());
  EXPECT_NE(login_.login(req("mailto:ghost@example.test", "x")).error().message.find("too many"), std::string::npos);
  clock_.advance(61s);
  EXPECT_TRUE(login_.login(req("mailto:bob@example.test", "bob-password")).has_value());
}

TEST_F(PasswordLoginTest, RehashesWeakHashOnSuccessfulLogin) {
  Argon2Params stronger = cheap();
  stronger.timeCost = 2;
  PasswordHasher strongHasher = PasswordHasher::create(stronger).value();
  PasswordLogin upgraded{credentials_, secondFactors_, throttle_, strongHasher, clock_};
  auto r = upgraded.login(req("mailto:bob@example.test", "bob-password"));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->passwordRehashed);
  auto stored = credentials_.findByIdentifier("mailto:bob@example.test");
  EXPECT_FALSE(strongHasher.needsRehash((*stored)->passwordHash));
  EXPECT_TRUE(strongHasher.verify("bob-password", (*stored)->passwordHash));
  EXPECT_FALSE(upgraded.login(req("mailto:bob@example.test", "bob-password"))->passwordRehashed);
}

}  // namespace
}  // namespace erds::identity
