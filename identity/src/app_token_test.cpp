// Application tokens: format, key derivation, the SMTP policy key, and the manager over the
// PostgreSQL store (fresh migrated database, daemon role).
#include "erds/identity/app_token.h"

#include <gtest/gtest.h>

#include "erds/identity/login_throttle.h"
#include "erds/identity/postgres_stores.h"

#include "crypto_util.h"
#include "fake_clock.h"
#include "identity_test_db.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

TimePoint t0() {
  return TimePoint(std::chrono::seconds(1'800'000'000));
}

AuthenticationContext mfa() {
  return {LevelOfAssurance::Substantial, {AuthenticationMethod::PasswordTotp}, t0()};
}

TEST(AppTokenFormatTest, LooksLikeToken) {
  const std::string good = "erds_at_" + std::string(43, 'A');
  struct Case {
    std::string s;
    bool want;
  };
  const Case cases[] = {
      {good, true},
      {"erds_at_" + std::string(42, 'A') + "-", true},
      {"erds_at_" + std::string(42, 'A') + "_", true},
      {"erds_at_" + std::string(42, 'A'), false},  // short
      {"erds_at_" + std::string(44, 'A'), false},  // long
      {"erds_at_" + std::string(42, 'A') + "=", false},
      {"erds_at_" + std::string(42, 'A') + "+", false},
      {"ERDS_AT_" + std::string(43, 'A'), false},
      {"sender-demo-password", false},
      {"", false},
  };
  for (const Case& c : cases)
    EXPECT_EQ(AppTokenManager::looksLikeToken(c.s), c.want) << c.s;
}

TEST(AppTokenFormatTest, HashKeyIsDerivedFromTheKekInEitherFormAndIsNotTheIdentifierKey) {
  const std::string raw(32, '\x42');
  auto a = AppTokenManager::deriveHashKey(Secret(raw));
  auto b = AppTokenManager::deriveHashKey(Secret(internal::hex(raw)));
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->reveal(), b->reveal());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(a->reveal(), raw);
  auto id = LoginThrottle::deriveIdentifierHashKey(Secret(raw));
  ASSERT_TRUE(id.has_value());
  EXPECT_NE(a->reveal(), id->reveal());
  EXPECT_FALSE(AppTokenManager::deriveHashKey(Secret("short")).has_value());
  EXPECT_FALSE(AppTokenManager::deriveHashKey(Secret(std::string(64, 'z'))).has_value());
}

TEST(AppTokenPolicyTest, SmtpAppTokensDefaultOffOnlyInQualifiedMode) {
  struct Case {
    std::string mode, value;
    bool want;
  };
  const Case cases[] = {
      {"development", "", true},     {"basic", "", true},           {"qualified", "", false},
      {"qualified", "true", true},   {"qualified", "false", false}, {"basic", "false", false},
      {"development", "true", true},
  };
  for (const Case& c : cases) {
    auto cfg = Config::load("", {});
    ASSERT_TRUE(cfg.has_value());
    ASSERT_TRUE(cfg->setForTest("service.mode", c.mode).has_value());
    ASSERT_TRUE(cfg->setForTest("identity.smtp_app_tokens", c.value).has_value());
    EXPECT_EQ(smtpAppTokensAllowed(*cfg), c.want) << c.mode << " '" << c.value << "'";
  }
  auto cfg = Config::load("", {});
  ASSERT_TRUE(cfg.has_value());
  EXPECT_FALSE(cfg->setForTest("identity.smtp_app_tokens", "yes").has_value())
      << "an Enum key refuses other values";
}

TEST(AppTokenAuthenticationTest, MethodsRecordTheTokenAndTheCreatingFactorsAndTheLevelIsCapped) {
  AppToken t;
  t.createdWith = {LevelOfAssurance::High, {AuthenticationMethod::QualifiedCertificate}, t0()};
  const AuthenticationContext a = AppTokenManager::authenticationOf(t, t0() + 1h);
  ASSERT_EQ(a.methods.size(), 2u);
  EXPECT_EQ(a.methods[0], AuthenticationMethod::ApplicationToken);
  EXPECT_EQ(a.methods[1], AuthenticationMethod::QualifiedCertificate);
  EXPECT_EQ(a.level, LevelOfAssurance::Substantial);
  EXPECT_EQ(a.at, t0() + 1h);
  EXPECT_TRUE(a.strong());
  EXPECT_EQ(a.methodUri(), "urn:erds:authn:application_token+qualified_certificate");

  t.createdWith = mfa();
  EXPECT_EQ(AppTokenManager::authenticationOf(t, t0()).methodUri(),
            "urn:erds:authn:application_token+password_totp");
  EXPECT_EQ(AppTokenManager::authenticationOf(t, t0()).levelUri(),
            "http://eidas.europa.eu/LoA/substantial");
}

class AppTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::MigratedDatabase::create();
    ASSERT_NE(db_, nullptr);
    accounts_ = std::make_unique<PostgresAccountStore>(*db_->pool);
    for (const char* id : {"alice", "bob"}) {
      Party p;
      p.id = id;
      p.createdAt = t0();
      ASSERT_TRUE(
          accounts_->createAccount(p, std::string("mailto:") + id + "@example.test", "$argon2id$x")
              .has_value());
    }
    store_ = std::make_unique<PostgresAppTokenStore>(*db_->pool);
    auto key = AppTokenManager::deriveHashKey(Secret(std::string(32, 'k')));
    ASSERT_TRUE(key.has_value());
    tokens_ = std::make_unique<AppTokenManager>(*store_, clock_, std::move(*key));
  }

  IssuedAppToken issue(const std::string& party,
                       std::optional<std::chrono::seconds> life = std::nullopt) {
    auto t = tokens_->create(party, "laptop", kScopeSmtpSubmit, life, mfa(), "session:abcd");
    EXPECT_TRUE(t.has_value()) << t.error().toString();
    return std::move(t).value();
  }

  erds::testing::FakeClock clock_{t0()};
  std::unique_ptr<testing::MigratedDatabase> db_;
  std::unique_ptr<PostgresAccountStore> accounts_;
  std::unique_ptr<PostgresAppTokenStore> store_;
  std::unique_ptr<AppTokenManager> tokens_;
};

TEST_F(AppTokenStoreTest, CreatedTokenVerifiesAndOnlyItsKeyedHashIsStored) {
  IssuedAppToken t = issue("alice");
  const std::string token(t.token.reveal());
  EXPECT_TRUE(AppTokenManager::looksLikeToken(token)) << "format";
  EXPECT_EQ(t.record.expiresAt, t0() + std::chrono::hours(24 * 90)) << "default lifetime 90 days";
  // Only HMAC-SHA256 under the derived key is in the table, never the token or its plain SHA-256.
  EXPECT_EQ(db_->scalar("SELECT encode(token_hash, 'hex') FROM app_tokens WHERE id = $1",
                        {pg::Param::text(t.record.id)}),
            internal::hex(tokens_->hashOf(token)));
  EXPECT_NE(internal::hex(tokens_->hashOf(token)), internal::hex(internal::sha256(token)));
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM app_tokens WHERE position($1 in name || auth_methods "
                        "|| created_session) > 0 "
                        "OR encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
                        {pg::Param::text(token.substr(8))}),
            "0");
  EXPECT_EQ(
      db_->scalar(
          "SELECT auth_methods || ' ' || auth_level || ' ' || created_session FROM app_tokens"),
      "password_totp substantial session:abcd");

  clock_.advance(5min);
  auto v = tokens_->verify(token, kScopeSmtpSubmit);
  ASSERT_TRUE(v.has_value()) << v.error().toString();
  EXPECT_EQ(v->partyId, "alice");
  EXPECT_EQ(v->createdWith.methods,
            std::vector<AuthenticationMethod>{AuthenticationMethod::PasswordTotp});
  EXPECT_EQ(v->createdWith.level, LevelOfAssurance::Substantial);
  ASSERT_TRUE(v->lastUsedAt.has_value());
  EXPECT_EQ(*v->lastUsedAt, t0() + 5min);
  auto listed = tokens_->list("alice");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE((*listed)[0].lastUsedAt.has_value());
  EXPECT_EQ(*(*listed)[0].lastUsedAt, t0() + 5min);
}

TEST_F(AppTokenStoreTest, RefusalsAreAllTheSameUnauthorized) {
  IssuedAppToken t = issue("alice", 2h);
  const std::string token(t.token.reveal());
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad : {tampered, std::string("erds_at_short"),
                                 std::string("sender-demo-password"), std::string()}) {
    auto v = tokens_->verify(bad, kScopeSmtpSubmit);
    ASSERT_FALSE(v.has_value()) << bad;
    EXPECT_TRUE(v.error().is(ErrorCode::Unauthorized));
    EXPECT_EQ(v.error().message, "invalid application token");
  }
  // Another scope.
  std::optional<AppToken> found;
  auto scope = tokens_->verify(token, "api-read", &found);
  ASSERT_FALSE(scope.has_value());
  EXPECT_TRUE(scope.error().is(ErrorCode::Unauthorized));
  ASSERT_TRUE(found.has_value()) << "the record is handed back for the audit of the refusal";
  EXPECT_EQ(found->partyId, "alice");
  // Expired.
  clock_.advance(2h);
  auto expired = tokens_->verify(token, kScopeSmtpSubmit);
  ASSERT_FALSE(expired.has_value());
  EXPECT_TRUE(expired.error().is(ErrorCode::Unauthorized));
}

TEST_F(AppTokenStoreTest, RevokeOnlyOwnTokensAndRevokedTokensAreRefused) {
  IssuedAppToken t = issue("alice");
  auto other = tokens_->revoke("bob", t.record.id);
  ASSERT_FALSE(other.has_value());
  EXPECT_TRUE(other.error().is(ErrorCode::NotFound))
      << "another party's token is not found, not forbidden";
  ASSERT_TRUE(tokens_->verify(t.token.reveal(), kScopeSmtpSubmit).has_value());
  ASSERT_TRUE(tokens_->revoke("alice", t.record.id).has_value());
  auto again = tokens_->revoke("alice", t.record.id);
  EXPECT_TRUE(!again.has_value() && again.error().is(ErrorCode::NotFound));
  auto v = tokens_->verify(t.token.reveal(), kScopeSmtpSubmit);
  ASSERT_FALSE(v.has_value());
  EXPECT_TRUE(v.error().is(ErrorCode::Unauthorized));
  auto listed = tokens_->list("alice");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].revokedAt.has_value());
  EXPECT_TRUE(tokens_->list("bob")->empty());
}

TEST_F(AppTokenStoreTest, CreationNeedsAStrongSessionAndValidInput) {
  const AuthenticationContext weak{LevelOfAssurance::Low, {AuthenticationMethod::Password}, t0()};
  const AuthenticationContext recovery{
      LevelOfAssurance::Low, {AuthenticationMethod::RecoveryCode}, t0()};
  for (const AuthenticationContext& a : {weak, recovery}) {
    auto r = tokens_->create("alice", "x", kScopeSmtpSubmit, std::nullopt, a, "session:1");
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().is(ErrorCode::Unauthorized));
  }
  const AuthenticationContext cert{
      LevelOfAssurance::Substantial, {AuthenticationMethod::ClientCertificate}, t0()};
  EXPECT_TRUE(tokens_->create("alice", "cert", kScopeSmtpSubmit, std::nullopt, cert, "session:2")
                  .has_value());

  struct Case {
    std::string name, scope;
    std::optional<std::chrono::seconds> life;
  };
  const Case bad[] = {
      {"", "smtp-submit", std::nullopt},
      {std::string(101, 'n'), "smtp-submit", std::nullopt},
      {"tab\there", "smtp-submit", std::nullopt},
      {"ok", "admin", std::nullopt},
      {"ok", "smtp-submit", std::chrono::seconds(60)},
      {"ok", "smtp-submit", std::chrono::hours(24 * 366)},
  };
  for (const Case& c : bad) {
    auto r = tokens_->create("alice", c.name, c.scope, c.life, mfa(), "session:3");
    ASSERT_FALSE(r.has_value()) << c.name << " " << c.scope;
    EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput)) << r.error().toString();
  }
  EXPECT_TRUE(
      tokens_->create("alice", "a year", kScopeSmtpSubmit, std::chrono::hours(24 * 365), mfa(), "s")
          .has_value());
}

TEST_F(AppTokenStoreTest, AtMostTwentyLiveTokensPerParty) {
  for (int i = 0; i < 20; ++i)
    issue("alice");
  auto r = tokens_->create("alice", "one more", kScopeSmtpSubmit, std::nullopt, mfa(), "s");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::Conflict));
  EXPECT_TRUE(
      tokens_->create("bob", "bob's", kScopeSmtpSubmit, std::nullopt, mfa(), "s").has_value());
  auto list = tokens_->list("alice");
  ASSERT_TRUE(list.has_value());
  ASSERT_TRUE(tokens_->revoke("alice", list->front().id).has_value());
  EXPECT_TRUE(
      tokens_->create("alice", "after a revocation", kScopeSmtpSubmit, std::nullopt, mfa(), "s")
          .has_value());
}

}  // namespace
}  // namespace erds::identity
