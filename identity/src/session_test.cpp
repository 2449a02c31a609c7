#include "erds/identity/session.h"

#include <gtest/gtest.h>

#include "erds/identity/testing/in_memory_session_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

class SessionTest : public ::testing::Test {
 protected:
  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemorySessionStore store_;
  SessionManager sessions_{store_, clock_};
  AuthenticationContext mfa_{LevelOfAssurance::Substantial, {AuthenticationMethod::PasswordTotp}, {}};
};

TEST_F(SessionTest, CreateAndCheckRecordsLevelAndMethods) {
  auto issued = sessions_.create("party-1", mfa_);
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->token.size(), 43u);
  auto s = sessions_.check(issued->token.reveal());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->partyId, "party-1");
  EXPECT_EQ(s->authentication.level, LevelOfAssurance::Substantial);
  ASSERT_EQ(s->authentication.methods.size(), 1u);
  EXPECT_EQ(s->authentication.methods[0], AuthenticationMethod::PasswordTotp);
  EXPECT_EQ(s->authentication.at, clock_.now());
}

TEST_F(SessionTest, StoresOnlyTheHash) {
  auto issued = sessions_.create("party-1", mfa_);
  std::string token(issued->token.reveal());
  EXPECT_EQ(issued->session.tokenHash.size(), 32u);
  EXPECT_EQ(issued->session.tokenHash.find(token), std::string::npos);
  EXPECT_EQ(*SessionManager::tokenHash(token), issued->session.tokenHash);
  EXPECT_TRUE(store_.find(issued->session.tokenHash).has_value());
}

TEST_F(SessionTest, TokensAreUnique) {
  auto a = sessions_.create("p", mfa_);
  auto b = sessions_.create("p", mfa_);
  EXPECT_NE(a->token.reveal(), b->token.reveal());
}

TEST_F(SessionTest, IdleExpiryIsExtendedByUse) {
  auto issued = sessions_.create("p", mfa_);
  std::string token(issued->token.reveal());
  clock_.advance(20min);
  ASSERT_TRUE(sessions_.check(token).has_value());  // touches
  clock_.advance(20min);
  ASSERT_TRUE(sessions_.check(token).has_value());  // 20 min since last use
  clock_.advance(30min);
  auto r = sessions_.check(token);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::Unauthorized));
}

TEST_F(SessionTest, AbsoluteExpiry) {
  auto issued = sessions_.create("p", mfa_);
  std::string token(issued->token.reveal());
  for (int i = 0; i < 24; ++i) {
    clock_.advance(29min);
    ASSERT_TRUE(sessions_.check(token).has_value()) << i;
  }
  clock_.advance(29min);  // 12 h 5 min in total
  EXPECT_TRUE(sessions_.check(token).error().is(ErrorCode::Unauthorized));
}

TEST_F(SessionTest, Revocation) {
  auto a = sessions_.create("p", mfa_);
  auto b = sessions_.create("p", mfa_);
  auto c = sessions_.create("q", mfa_);
  ASSERT_TRUE(sessions_.revoke(a->token.reveal()).has_value());
  EXPECT_TRUE(sessions_.check(a->token.reveal()).error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(sessions_.check(b->token.reveal()).has_value());
  EXPECT_EQ(*store_.revokeAllOf("p"), 1);
  EXPECT_FALSE(sessions_.check(b->token.reveal()).has_value());
  EXPECT_TRUE(sessions_.check(c->token.reveal()).has_value());
}

TEST_F(SessionTest, MalformedAndUnknownTokensGetTheSameAnswer) {
  auto unknown = sessions_.check("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  auto shortToken = sessions_.check("abc");
  auto badChars = sessions_.check(std::string(43, '*'));
  ASSERT_FALSE(unknown.has_value());
  ASSERT_FALSE(shortToken.has_value());
  ASSERT_FALSE(badChars.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::Unauthorized);
  EXPECT_EQ(unknown.error().message, shortToken.error().message);
  EXPECT_EQ(unknown.error().message, badChars.error().message);
  EXPECT_TRUE(sessions_.revoke("abc").error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(sessions_.create("", mfa_).error().is(ErrorCode::InvalidInput));
}

}  // namespace
}  // namespace erds::identity
