// End-to-end tests of `erdsctl user add|list|show|set-role|reset-password`: the built binary
// against a throwaway database (erds::testing::TestDatabase) migrated in-process, connecting as
// the daemon role.
#include <memory>
#include <string>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/pg.h"
#include "erds/identity/app_token.h"
#include "erds/identity/document_store.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/postgres_stores.h"

#include "test_support.h"  // checks that ERDSCTL_PATH names the built erdsctl

namespace erds::ctl {
namespace {

using namespace clitest;
using CtlRun = CliRun;

// Runs erdsctl with `args`, feeding `stdinText` on standard input.
CtlRun erdsctl(const std::vector<std::string>& args, const std::string& stdinText = {}) {
  return testsupport::erdsctl(args, {}, stdinText);
}

// Cheap Argon2 parameters for the test (the binary reads them from the config file).
identity::Argon2Params testArgon2() {
  identity::Argon2Params p;
  p.timeCost = 1;
  p.memoryKiB = 1024;
  return p;
}

class ErdsctlUser : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testsupport::testDatabase(/*migrate=*/true);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(*db);
    writeFile(dir_.file("erds.ini"),
              databaseSection(*db_, DbRole::Daemon, dir_) +
                  "[identity]\nargon2_t_cost = 1\nargon2_m_cost_kib = 1024\n",
              0644);
    pool_ = std::make_unique<pg::Pool>(pg::PoolOptions{db_->appConninfo(), "", 2});
  }

  std::string config() const { return dir_.file("erds.ini"); }

  // The stored hash of `identifier` verifies `password`.
  bool passwordWorks(const std::string& identifier, const std::string& password) {
    identity::PostgresCredentialStore creds(*pool_);
    auto c = creds.findByIdentifier(identifier);
    if (!c || !c->has_value()) return false;
    auto hasher = identity::PasswordHasher::create(testArgon2());
    return hasher && hasher->verify(password, (*c)->passwordHash);
  }

  // Number of audit rows with this action and outcome success.
  int64_t auditCount(const std::string& action) {
    auto lease = pool_->acquire();
    if (!lease) return -1;
    auto r = (*lease)->execParams(
        "SELECT count(*) FROM audit_log WHERE action = $1 AND actor LIKE 'operator:%'",
        {pg::Param::text(action)});
    if (!r) return -1;
    return r->getInt(0, 0);
  }

  std::unique_ptr<erds::testing::TestDatabase> db_;
  TempDir dir_;
  std::unique_ptr<pg::Pool> pool_;
};

TEST_F(ErdsctlUser, AddPrintsPartyIdAndOneTimePasswordThatWorks) {
  CtlRun r = erdsctl(
      {"user", "add", "--config", config(), "--identifier", "mailto:Clerk@Example.test", "--bind"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  EXPECT_THAT(id, MatchesRegex("p_[0-9a-f]{32}"));
  const std::string marker = "one-time password: ";
  auto at = r.out.find(marker);
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string pw = r.out.substr(at + marker.size());
  pw = pw.substr(0, pw.find('\n'));
  EXPECT_EQ(pw.size(), 20u);
  EXPECT_TRUE(passwordWorks("mailto:clerk@example.test", pw));
  EXPECT_FALSE(passwordWorks("mailto:clerk@example.test", pw + "x"));
  EXPECT_EQ(auditCount("identity.operator.user_add"), 1);

  identity::PostgresAccountStore accounts(*pool_);
  auto bound = accounts.partyBoundTo("mailto:clerk@example.test");
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ(bound->value_or(""), id);

  // The same identifier twice: refused, exit 1, no second account.
  r = erdsctl({"user", "add", "--config", config(), "--identifier", "mailto:clerk@example.test"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("exists"));
}

TEST_F(ErdsctlUser, AddWithPasswordFromStdinAndRoles) {
  CtlRun r = erdsctl({"user", "add", "--config", config(), "--identifier",
                      "mailto:officer2@example.test", "--role", "officer", "--password-stdin"},
                     "a-long-operator-chosen-pw\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("one-time password")));
  EXPECT_TRUE(passwordWorks("mailto:officer2@example.test", "a-long-operator-chosen-pw"));

  r = erdsctl({"user", "list", "--config", config()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mailto:officer2@example.test\tuser,officer\tno\t"));
  EXPECT_THAT(r.out, Not(HasSubstr("a-long-operator-chosen-pw")));
}

TEST_F(ErdsctlUser, SetRoleIsAuditedAndReplacesRoles) {
  CtlRun r =
      erdsctl({"user", "add", "--config", config(), "--identifier", "mailto:u@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  r = erdsctl({"user", "set-role", "--config", config(), "--party", id, "--role", "admin", "--role",
               "officer"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, id + "\tuser,officer,admin\n");
  identity::PostgresAccountStore accounts(*pool_);
  auto p = accounts.findParty(id);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->roles.has(identity::Role::Admin));
  EXPECT_TRUE(p->roles.has(identity::Role::Officer));

  r = erdsctl({"user", "set-role", "--config", config(), "--identifier", "mailto:u@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  p = accounts.findParty(id);
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->roles.has(identity::Role::Admin));
  EXPECT_EQ(auditCount("identity.operator.set_role"), 2);
}

TEST_F(ErdsctlUser, ResetPasswordRevokesSessions) {
  CtlRun r = erdsctl({"user", "add", "--config", config(), "--identifier", "mailto:r@example.test",
                      "--password-stdin"},
                     "the-first-password-1\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  identity::PostgresSessionStore sessions(*pool_, std::chrono::minutes(30));
  identity::Session s;
  s.tokenHash = std::string(32, '\x07');
  s.partyId = id;
  s.createdAt = s.lastSeenAt = SystemClock::instance().now();
  s.absoluteExpiresAt = s.createdAt + std::chrono::hours(1);
  ASSERT_TRUE(sessions.insert(s).has_value());

  r = erdsctl({"user", "reset-password", "--config", config(), "--party", id, "--password-stdin"},
              "the-second-password-2\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 session(s) revoked"));
  EXPECT_TRUE(passwordWorks("mailto:r@example.test", "the-second-password-2"));
  EXPECT_FALSE(passwordWorks("mailto:r@example.test", "the-first-password-1"));
  auto found = sessions.find(s.tokenHash);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->revoked);

  r = erdsctl(
      {"user", "reset-password", "--config", config(), "--identifier", "mailto:r@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("one-time password: "));
  EXPECT_EQ(auditCount("identity.operator.reset_password"), 2);
}

TEST_F(ErdsctlUser, ShowPrintsIdentificationsRequestsAndCertificatesAndIsAudited) {
  CtlRun r = erdsctl({"user", "add", "--config", config(), "--identifier",
                      "mailto:clerk@example.test", "--bind", "--role", "officer"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  r = erdsctl({"user", "add", "--config", config(), "--identifier", "mailto:desk@example.test",
               "--role", "officer"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string deskOfficer = r.out.substr(0, r.out.find('\n'));
  const TimePoint at = TimePoint(std::chrono::seconds(1'800'000'000));

  // What an officer's decision, an upload and a certificate registration would have stored.
  identity::PostgresAccountStore accounts(*pool_);
  identity::Identification ident;
  ident.id = "idn_test1";
  ident.partyId = id;
  ident.method = identity::IdentificationMethod::PhysicalPresence;
  ident.level = identity::LevelOfAssurance::Substantial;
  ident.at = at;
  ASSERT_TRUE(accounts.recordIdentification(ident).has_value());
  AuditLog audit(SystemClock::instance());
  identity::PostgresVerificationStore verifications(*pool_, audit);
  identity::VerificationRequest vr;
  vr.id = "vr_test1";
  vr.partyId = id;
  vr.createdBy = deskOfficer;
  vr.requestedLevel = identity::LevelOfAssurance::High;
  vr.requestedMethod = identity::IdentificationMethod::PhysicalPresence;
  vr.createdAt = at;
  auto created = verifications.create(vr);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  auto kek = crypto::KeyEncryptionKey::fromSecret(Secret(std::string(32, 'k')));
  ASSERT_TRUE(kek.has_value());
  identity::PostgresDocumentStore documents(*pool_, *kek, audit);
  const std::string jpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "scan";
  ASSERT_TRUE(documents.add("vr_test1", id, "image/jpeg", jpeg, at, 4).has_value());
  ASSERT_TRUE(documents.add("vr_test1", id, "image/jpeg", jpeg + "2", at, 4).has_value());
  identity::PostgresPartyCertificateStore certificates(*pool_);
  identity::PartyCertificate cert;
  cert.id = "crt_test1";
  cert.partyId = id;
  cert.sha256Hex = std::string(64, 'a');
  cert.subject = "CN=Clerk,O=Example";
  cert.issuer = "CN=Test CA";
  cert.serialHex = "01";
  cert.notAfter = at + std::chrono::hours(24 * 365);
  cert.addedAt = at;
  ASSERT_TRUE(certificates.add(cert).has_value());

  r = erdsctl({"user", "show", "--config", config(), "mailto:Clerk@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(id + "\tmailto:clerk@example.test\tuser,officer\tno\t"));
  EXPECT_THAT(r.out, HasSubstr("\nIDENTIFIERS\n"));
  EXPECT_THAT(r.out, HasSubstr("mailto:clerk@example.test\tbound\t"));
  EXPECT_THAT(r.out, HasSubstr("\nIDENTIFICATIONS\nMETHOD\tLEVEL\tAT\tVALID_UNTIL\tREVOKED\n"
                               "physical_presence\tsubstantial\t" +
                               formatRfc3339(at, false) + "\t-\tno\n"));
  EXPECT_THAT(r.out, HasSubstr("vr_test1\tpending\tphysical_presence\thigh\t2\t" +
                               formatRfc3339(at, false) + "\t" + deskOfficer + "\n"));
  EXPECT_THAT(r.out, HasSubstr("\nCERTIFICATES\nSHA256\tSUBJECT\tNOT_AFTER\tREVOKED\n" +
                               std::string(64, 'a') + "\tCN=Clerk,O=Example\t" +
                               formatRfc3339(cert.notAfter, false) + "\tno\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("scan")));  // never document contents
  EXPECT_THAT(r.out, HasSubstr("\nAPP TOKENS\nID\tNAME\tSCOPE\tCREATED\tEXPIRES\tLAST_USED\tREVOKED\n(none)\n"));

  // By party id the same party; a party with nothing recorded shows "(none)".
  CtlRun byId = erdsctl({"user", "show", "--config", config(), id});
  ASSERT_EQ(byId.rc, 0) << byId.err;
  EXPECT_EQ(byId.out, r.out);
  r = erdsctl({"user", "add", "--config", config(), "--identifier", "mailto:new@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = erdsctl({"user", "show", "--config", config(), "mailto:new@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nIDENTIFICATIONS\nMETHOD\tLEVEL\tAT\tVALID_UNTIL\tREVOKED\n(none)\n"));
  EXPECT_EQ(auditCount("identity.operator.user_show"), 3);

  // Unknown: exit 1, nothing audited; no IDENTIFIER: usage error.
  r = erdsctl({"user", "show", "--config", config(), "mailto:nobody@example.test"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("no party has that identifier"));
  r = erdsctl({"user", "show", "--config", config(), "p_nobody"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(auditCount("identity.operator.user_show"), 3);
  r = erdsctl({"user", "show", "--config", config()});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("IDENTIFIER"));
  r = erdsctl({"user", "show", "--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("identifications (method, level, time"));
  EXPECT_THAT(r.out, HasSubstr("identity.operator.user_show"));
}

TEST_F(ErdsctlUser, RevokeTokensEndsEveryTokenOfTheParty) {
  CtlRun r = erdsctl({"user", "add", "--config", config(), "--identifier", "mailto:mobile@example.test", "--bind"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  // Two tokens as a strong web session would have created them.
  identity::PostgresAppTokenStore store(*pool_);
  const Clock& clock = SystemClock::instance();
  auto key = identity::AppTokenManager::deriveHashKey(Secret(std::string(32, 'k')));
  ASSERT_TRUE(key.has_value());
  identity::AppTokenManager manager(store, clock, std::move(*key));
  identity::AuthenticationContext strong{identity::LevelOfAssurance::Substantial,
                                         {identity::AuthenticationMethod::PasswordTotp}, clock.now()};
  auto laptop = manager.create(id, "laptop", identity::kScopeSmtpSubmit, std::nullopt, strong, "session:test");
  ASSERT_TRUE(laptop.has_value()) << laptop.error().message;
  auto phone = manager.create(id, "phone \"work\"", identity::kScopeSmtpSubmit, std::nullopt, strong, "session:test");
  ASSERT_TRUE(phone.has_value()) << phone.error().message;
  ASSERT_TRUE(manager.verify(laptop->token.reveal(), identity::kScopeSmtpSubmit).has_value());

  r = erdsctl({"user", "show", "--config", config(), id});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(laptop->record.id + "\tlaptop\tsmtp-submit\t"));
  EXPECT_THAT(r.out, Not(HasSubstr(laptop->token.reveal())));

  r = erdsctl({"user", "revoke-tokens", "--config", config(), "--identifier", "mailto:mobile@example.test"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 application token(s) revoked for " + id));
  EXPECT_FALSE(manager.verify(laptop->token.reveal(), identity::kScopeSmtpSubmit).has_value());
  EXPECT_FALSE(manager.verify(phone->token.reveal(), identity::kScopeSmtpSubmit).has_value());
  EXPECT_EQ(auditCount("identity.operator.revoke_app_tokens"), 1);
  // Again: nothing left to revoke, still audited; an unknown party is exit 1.
  r = erdsctl({"user", "revoke-tokens", "--config", config(), "--party", id});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0 application token(s) revoked"));
  r = erdsctl({"user", "show", "--config", config(), id});
  for (const auto* t : {&laptop->record, &phone->record}) {
    const auto row = r.out.find(t->id + "\t");
    ASSERT_NE(row, std::string::npos);
    const std::string line = r.out.substr(row, r.out.find('\n', row) - row);
    EXPECT_FALSE(line.ends_with("\tno")) << line;  // a revocation time instead
  }
  r = erdsctl({"user", "revoke-tokens", "--config", config(), "--identifier", "mailto:nobody@example.test"});
  EXPECT_EQ(r.rc, 1);
}

TEST_F(ErdsctlUser, BadInputExitsTwoAndUnknownPartyOne) {
  struct Case {
    std::vector<std::string> args;
    std::string stdinText;
    int rc;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"user", "add", "--config", config(), "--identifier", "not-an-address"},
       "",
       2,
       "--identifier"},
      {{"user", "add", "--config", config(), "--identifier", "mailto:a@example.test", "--role",
        "root"},
       "",
       2,
       "--role"},
      {{"user", "add", "--config", config(), "--identifier", "mailto:a@example.test",
        "--password-stdin"},
       "short\n",
       2,
       "at least 12"},
      {{"user", "set-role", "--config", config()}, "", 2, "exactly one of --party"},
      {{"user", "set-role", "--config", config(), "--party", "p_nobody"}, "", 1, "no such party"},
      {{"user", "reset-password", "--config", config(), "--identifier",
        "mailto:nobody@example.test"},
       "",
       1,
       "no account"},
  };
  for (const auto& c : cases) {
    CtlRun r = erdsctl(c.args, c.stdinText);
    EXPECT_EQ(r.rc, c.rc) << c.args.back() << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.err)) << c.args.back();
  }
}

}  // namespace
}  // namespace erds::ctl
