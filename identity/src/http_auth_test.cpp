// HttpAuthenticator's per-account rate limit (issue 8, item 6): an in-memory session store, a
// one-party account store and a FakeClock.
#include "erds/identity/http_auth.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "erds/http/problem.h"
#include "erds/identity/testing/in_memory_session_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

// Knows the parties it is given; every other operation is outside this test.
class PartiesOnly final : public AccountStore {
 public:
  void add(const std::string& id) { parties_.insert(id); }
  Result<Party> findParty(const std::string& partyId, bool* disabled) override {
    ++lookups;
    if (!parties_.count(partyId)) return Error::notFound("no party");
    if (disabled != nullptr) *disabled = false;
    Party p;
    p.id = partyId;
    return p;
  }
  Result<void> createAccount(const Party&, const std::string&, const std::string&) override { return no(); }
  Result<std::vector<Party>> listParties(int, int) override { return no(); }
  Result<void> setRoles(const std::string&, RoleSet) override { return no(); }
  Result<void> setDisabled(const std::string&, bool) override { return no(); }
  Result<std::string> loginIdentifierOf(const std::string&) override { return no(); }
  Result<bool> totpConfirmed(const std::string&) override { return no(); }
  Result<void> confirmTotp(const std::string&) override { return no(); }
  Result<IdentifierBinding> claimIdentifier(const std::string&, const std::string&, const std::string&, TimePoint,
                                            TimePoint) override {
    return no();
  }
  Result<std::vector<IdentifierBinding>> bindingsOf(const std::string&) override { return no(); }
  Result<IdentifierBinding> confirmIdentifier(const std::string&, const std::string&, const std::string&,
                                              TimePoint) override {
    return no();
  }
  Result<std::optional<std::string>> partyBoundTo(const std::string&) override { return no(); }
  Result<void> recordIdentification(const Identification&) override { return no(); }
  Result<std::vector<VerificationRequest>> verificationRequestsOf(const std::string&) override { return no(); }
  int lookups = 0;

 private:
  static Error no() { return Error::internal("not used by this test"); }
  std::set<std::string> parties_;
};

class AccountRateLimitTest : public ::testing::Test {
 protected:
  AccountRateLimitTest() : sessions(store, clock), auth(sessions, accounts, http::RateLimit{1, 3}, clock) {
    accounts.add("party-a");
    accounts.add("party-b");
  }
  http::Request withToken(const Secret& token) {
    http::Request r;
    r.headers.emplace_back("Authorization", "Bearer " + std::string(token.reveal()));
    return r;
  }
  Secret login(const std::string& party) {
    auto s = sessions.create(party, AuthenticationContext{});
    EXPECT_TRUE(s) << s.error().toString();
    return std::move(s->token);
  }

  erds::testing::FakeClock clock{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemorySessionStore store;
  PartiesOnly accounts;
  SessionManager sessions;
  HttpAuthenticator auth;
};

TEST_F(AccountRateLimitTest, OverTheLimitIsRateLimitedWithRetryAfterThenServedAgain) {
  const Secret a = login("party-a");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(auth.authenticate(withToken(a))) << i;
  const int lookupsBefore = accounts.lookups;
  auto limited = auth.authenticate(withToken(a));
  ASSERT_FALSE(limited);
  auto retryAfter = http::rateLimitRetryAfter(limited.error());
  ASSERT_TRUE(retryAfter) << limited.error().toString();  // the dispatcher makes it a 429
  EXPECT_EQ(*retryAfter, 1s);
  EXPECT_EQ(accounts.lookups, lookupsBefore);  // refused before the party lookup
  // Another account (even its second session) is not affected.
  EXPECT_TRUE(auth.authenticate(withToken(login("party-b"))));
  // A second session of the same party shares the party's bucket.
  EXPECT_FALSE(auth.authenticate(withToken(login("party-a"))));
  clock.advance(*retryAfter);
  EXPECT_TRUE(auth.authenticate(withToken(a)));
}

TEST_F(AccountRateLimitTest, UnauthenticatedRequestsConsumeNoAccountTokens) {
  http::Request bad;
  bad.headers.emplace_back("Authorization", "Bearer " + std::string(43, 'A'));
  for (int i = 0; i < 20; ++i) {
    auto r = auth.authenticate(bad);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(ErrorCode::Unauthorized));
  }
  const Secret a = login("party-a");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(auth.authenticate(withToken(a))) << i;
}

TEST(AccountRateLimitDefault, IsOnAndGenerous) {
  EXPECT_TRUE(kDefaultAccountRateLimit.enabled());
  EXPECT_GE(kDefaultAccountRateLimit.ratePerSecond, 1000);  // the submission benchmark's rate
}

TEST_F(AccountRateLimitTest, PartyRowIsCachedForTheTtlAndForgottenOnRequest) {
  const Secret a = login("party-a");
  ASSERT_TRUE(auth.authenticate(withToken(a)));
  const int first = accounts.lookups;
  clock.advance(1s);  // the bucket refills; the party row is now kPartyCacheTtl old
  ASSERT_TRUE(auth.authenticate(withToken(a)));
  EXPECT_EQ(accounts.lookups, first + 1) << "re-read once kPartyCacheTtl has passed";
  clock.advance(kPartyCacheTtl / 2);
  ASSERT_TRUE(auth.authenticate(withToken(a)));
  EXPECT_EQ(accounts.lookups, first + 1) << "served from the cache within kPartyCacheTtl";
  auth.forgetParty("party-a");
  ASSERT_TRUE(auth.authenticate(withToken(a)));
  EXPECT_EQ(accounts.lookups, first + 2) << "re-read after forgetParty";
}

}  // namespace
}  // namespace erds::identity
