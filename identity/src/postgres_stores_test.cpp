// The PostgreSQL identity stores against a fresh migrated database, as the daemon role.
#include "erds/identity/postgres_stores.h"

#include <gtest/gtest.h>

#include "crypto_util.h"
#include "fake_clock.h"
#include "erds/identity/password_login.h"
#include "identity_test_db.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

TimePoint t0() { return TimePoint(std::chrono::seconds(1'800'000'000)); }

crypto::KeyEncryptionKey testKek() {
  auto k = crypto::KeyEncryptionKey::fromSecret(Secret(std::string(32, 'k')));
  EXPECT_TRUE(k.has_value());
  return std::move(k).value();
}

class PostgresStoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::MigratedDatabase::create();
    ASSERT_NE(db_, nullptr);
  }

  Party newParty(const std::string& id, RoleSet roles = {Role::User}) {
    Party p;
    p.id = id;
    p.roles = roles;
    p.natural = NaturalPersonAttributes{"Doe", "Jane", "1990-01-02", ""};
    p.createdAt = clock_.now();
    return p;
  }
  void createAccount(const std::string& id, const std::string& login, RoleSet roles = {Role::User}) {
    auto r = accounts().createAccount(newParty(id, roles), login, "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA");
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  PostgresAccountStore& accounts() { return accounts_ ? *accounts_ : *(accounts_ = std::make_unique<PostgresAccountStore>(*db_->pool)); }

  erds::testing::FakeClock clock_{t0()};
  std::unique_ptr<testing::MigratedDatabase> db_;
  std::unique_ptr<PostgresAccountStore> accounts_;
};

TEST_F(PostgresStoresTest, AccountsAndCredentials) {
  createAccount("p1", "mailto:Alice@Example.Test");
  PostgresCredentialStore creds(*db_->pool);
  auto c = creds.findByIdentifier("MAILTO:alice@example.test");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->partyId, "p1");
  EXPECT_FALSE((*c)->totpEnrolled);
  EXPECT_FALSE((*c)->disabled);
  auto none = creds.findByIdentifier("mailto:bob@example.test");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());

  // Same login identifier again (any case) is a conflict; nothing half-created remains.
  auto dup = accounts().createAccount(newParty("p2"), "mailto:ALICE@example.test", "$argon2id$x");
  ASSERT_FALSE(dup.has_value());
  EXPECT_TRUE(dup.error().is(ErrorCode::Conflict)) << dup.error().message;
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM parties WHERE id = 'p2'"), "0");

  ASSERT_TRUE(creds.setPasswordHash("p1", "$argon2id$v=19$new").has_value());
  EXPECT_EQ((*creds.findByIdentifier("mailto:alice@example.test"))->passwordHash, "$argon2id$v=19$new");

  ASSERT_TRUE(accounts().setRoles("p1", RoleSet{Role::User, Role::Officer}).has_value());
  ASSERT_TRUE(accounts().setDisabled("p1", true).has_value());
  bool disabled = false;
  auto p = accounts().findParty("p1", &disabled);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_TRUE(p->roles.has(Role::Officer));
  EXPECT_TRUE(disabled);
  ASSERT_TRUE(p->natural.has_value());
  EXPECT_EQ(p->natural->familyName, "Doe");
  EXPECT_EQ(p->createdAt, t0());
  EXPECT_TRUE((*creds.findByIdentifier("mailto:alice@example.test"))->disabled);
  EXPECT_TRUE(accounts().findParty("nope").error().is(ErrorCode::NotFound));
  EXPECT_TRUE(accounts().setRoles("nope", RoleSet{}).error().is(ErrorCode::NotFound));
  EXPECT_EQ(*accounts().loginIdentifierOf("p1"), "mailto:alice@example.test");
  auto list = accounts().listParties(10, 0);
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(PostgresStoresTest, TotpSeedEncryptedReplayRefusedRecoveryCodesSingleUse) {
  createAccount("p1", "mailto:a@example.test");
  createAccount("p2", "mailto:b@example.test");
  auto kek = testKek();
  PostgresSecondFactorStore store(*db_->pool, kek);
  EXPECT_TRUE(store.totpSeed("p1").error().is(ErrorCode::NotFound));
  Secret seed(std::string(20, 's'));
  ASSERT_TRUE(store.setTotpSeed("p1", seed).has_value());
  // Stored wrapped, never in clear.
  EXPECT_EQ(db_->scalar("SELECT position($1::bytea in seed_wrapped) FROM totp_secrets WHERE party_id = 'p1'",
                        {pg::Param::bytes(std::string(20, 's'))}),
            "0");
  auto back = store.totpSeed("p1");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->reveal(), seed.reveal());
  EXPECT_FALSE(*accounts().totpConfirmed("p1"));
  ASSERT_TRUE(accounts().confirmTotp("p1").has_value());
  EXPECT_TRUE(*accounts().totpConfirmed("p1"));
  PostgresCredentialStore creds(*db_->pool);
  EXPECT_TRUE((*creds.findByIdentifier("mailto:a@example.test"))->totpEnrolled);

  // A wrapped seed copied to another party's row does not decrypt (context binds the party).
  {
    auto lease = db_->owner->acquire();
    ASSERT_TRUE(lease.has_value());
    auto q = (*lease)->exec(
        "INSERT INTO totp_secrets (party_id, seed_wrapped, confirmed, created_at) "
        "SELECT 'p2', seed_wrapped, true, now() FROM totp_secrets WHERE party_id = 'p1'");
    ASSERT_TRUE(q.has_value()) << q.error().message;
  }
  auto stolen = store.totpSeed("p2");
  ASSERT_FALSE(stolen.has_value());
  EXPECT_TRUE(stolen.error().is(ErrorCode::IntegrityFailure));

  EXPECT_TRUE(*store.advanceTotpStep("p1", 100));
  EXPECT_FALSE(*store.advanceTotpStep("p1", 100));  // replay
  EXPECT_FALSE(*store.advanceTotpStep("p1", 99));
  EXPECT_TRUE(*store.advanceTotpStep("p1", 101));
  // Re-enrolment resets the step and the confirmation.
  ASSERT_TRUE(store.setTotpSeed("p1", seed).has_value());
  EXPECT_FALSE(*accounts().totpConfirmed("p1"));
  EXPECT_TRUE(*store.advanceTotpStep("p1", 50));

  auto set = generateRecoveryCodes(3);
  ASSERT_TRUE(store.replaceRecoveryCodes("p1", set.hashes).has_value());
  EXPECT_EQ(*store.remainingRecoveryCodes("p1"), 3);
  EXPECT_TRUE(redeemRecoveryCode(store, "p1", set.codes[1].reveal()).has_value());
  EXPECT_TRUE(redeemRecoveryCode(store, "p1", set.codes[1].reveal()).error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(redeemRecoveryCode(store, "p2", set.codes[0].reveal()).error().is(ErrorCode::Unauthorized));
  EXPECT_EQ(*store.remainingRecoveryCodes("p1"), 2);
}

TEST_F(PostgresStoresTest, SessionsExpireAndRevocationIsImmediate) {
  createAccount("p1", "mailto:a@example.test");
  PostgresSessionStore store(*db_->pool, 30min);
  SessionPolicy policy;
  SessionManager sessions(store, clock_, policy);
  AuthenticationContext ctx{LevelOfAssurance::Substantial, {AuthenticationMethod::PasswordTotp}, clock_.now()};
  auto issued = sessions.create("p1", ctx);
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  // Only the hash is stored.
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM sessions WHERE token_hash = $1",
                        {pg::Param::bytes(std::string(issued->token.reveal()))}),
            "0");
  auto s = sessions.check(issued->token.reveal());
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->partyId, "p1");
  EXPECT_EQ(s->authentication.level, LevelOfAssurance::Substantial);
  ASSERT_EQ(s->authentication.methods.size(), 1u);
  EXPECT_EQ(s->authentication.methods[0], AuthenticationMethod::PasswordTotp);
  EXPECT_EQ(s->createdAt, t0());

  // Idle: touched after the touch interval, so 25 + 25 minutes of activity keeps it alive...
  clock_.advance(25min);
  ASSERT_TRUE(sessions.check(issued->token.reveal()).has_value());
  clock_.advance(25min);
  ASSERT_TRUE(sessions.check(issued->token.reveal()).has_value());
  // ...but 31 idle minutes end it.
  clock_.advance(31min);
  EXPECT_TRUE(sessions.check(issued->token.reveal()).error().is(ErrorCode::Unauthorized));

  // Revocation through a second store (another node) is seen at once.
  auto other = sessions.create("p1", ctx);
  ASSERT_TRUE(other.has_value());
  PostgresSessionStore node2Store(*db_->pool, 30min);
  SessionManager node2(node2Store, clock_, policy);
  ASSERT_TRUE(node2.check(other->token.reveal()).has_value());
  ASSERT_TRUE(sessions.revoke(other->token.reveal()).has_value());
  EXPECT_TRUE(node2.check(other->token.reveal()).error().is(ErrorCode::Unauthorized));

  // Absolute expiry.
  auto third = sessions.create("p1", ctx);
  ASSERT_TRUE(third.has_value());
  for (int i = 0; i < 25; ++i) {
    clock_.advance(29min);
    if (!sessions.check(third->token.reveal())) break;
  }
  EXPECT_TRUE(sessions.check(third->token.reveal()).error().is(ErrorCode::Unauthorized));

  auto fourth = sessions.create("p1", ctx);
  ASSERT_TRUE(fourth.has_value());
  EXPECT_EQ(*store.revokeAllOf("p1"), 3);  // first (idle-expired, not revoked), third, fourth
  EXPECT_TRUE(sessions.check(fourth->token.reveal()).error().is(ErrorCode::Unauthorized));
  auto purged = store.purgeExpired(clock_.now() + 24h);
  ASSERT_TRUE(purged.has_value()) << purged.error().message;
  EXPECT_EQ(*purged, 4);
}

TEST_F(PostgresStoresTest, ThrottleLocksAcrossStores) {
  PostgresThrottleStore store(*db_->pool);
  LoginThrottle throttle(store, clock_, LoginThrottle::deriveIdentifierHashKey(Secret(std::string(32, 'k'))).value());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(throttle.recordFailure("mailto:x@example.test", "10.0.0.1").has_value());
  auto d = throttle.check("MAILTO:x@example.test", "10.0.0.2");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_FALSE(d->allowed);
  EXPECT_EQ(d->retryAfter, 60s);
  // No identifier in clear in the table.
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM login_throttle WHERE key LIKE '%example%'"), "0");
  clock_.advance(61s);
  EXPECT_TRUE(throttle.check("mailto:x@example.test", "10.0.0.2")->allowed);
  ASSERT_TRUE(throttle.recordSuccess("mailto:x@example.test").has_value());
  EXPECT_EQ(store.load(throttle.identifierKey("mailto:x@example.test"))->failures, 0);
  EXPECT_EQ(store.load(LoginThrottle::ipKey("10.0.0.1"))->failures, 5);
}

TEST_F(PostgresStoresTest, PasswordLoginEndToEnd) {
  auto hasher = PasswordHasher::create(Argon2Params{1, 64, 1, 16, 32});
  ASSERT_TRUE(hasher.has_value());
  auto phc = hasher->hash("correct horse");
  ASSERT_TRUE(phc.has_value());
  ASSERT_TRUE(accounts().createAccount(newParty("p1"), "mailto:a@example.test", *phc).has_value());
  auto kek = testKek();
  PostgresCredentialStore creds(*db_->pool);
  PostgresSecondFactorStore factors(*db_->pool, kek);
  PostgresThrottleStore throttleStore(*db_->pool);
  LoginThrottle throttle(throttleStore, clock_, LoginThrottle::deriveIdentifierHashKey(Secret(std::string(32, 'k'))).value());
  PasswordLogin login(creds, factors, throttle, *hasher, clock_);
  auto ok = login.login({"mailto:a@example.test", Secret("correct horse"), "", "", "127.0.0.1"});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->partyId, "p1");
  EXPECT_EQ(ok->authentication.level, LevelOfAssurance::Low);
  auto bad = login.login({"mailto:a@example.test", Secret("wrong"), "", "", "127.0.0.1"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, "invalid credentials");
}

TEST_F(PostgresStoresTest, IdentifierBindingNeedsProofOfControl) {
  createAccount("p1", "mailto:a@example.test");
  createAccount("p2", "mailto:b@example.test");
  const std::string good = internal::sha256("code-1");
  const std::string wrong = internal::sha256("code-x");
  auto claim = accounts().claimIdentifier("p1", "mailto:Shared@Example.Test", good, clock_.now() + 15min, clock_.now());
  ASSERT_TRUE(claim.has_value()) << claim.error().message;
  EXPECT_EQ(claim->identifier, "mailto:shared@example.test");
  EXPECT_EQ(claim->status, BindingStatus::Pending);
  EXPECT_FALSE(accounts().partyBoundTo("mailto:shared@example.test")->has_value());

  // Another party cannot confirm p1's claim (NotFound), a wrong code counts an attempt.
  EXPECT_TRUE(accounts().confirmIdentifier("p2", claim->id, good, clock_.now()).error().is(ErrorCode::NotFound));
  EXPECT_TRUE(accounts().confirmIdentifier("p1", claim->id, wrong, clock_.now()).error().is(ErrorCode::Unauthorized));
  EXPECT_EQ(db_->scalar("SELECT code_attempts FROM identifier_bindings WHERE id = $1", {pg::Param::text(claim->id)}),
            "1");
  auto bound = accounts().confirmIdentifier("p1", claim->id, good, clock_.now());
  ASSERT_TRUE(bound.has_value()) << bound.error().message;
  EXPECT_EQ(bound->status, BindingStatus::Bound);
  EXPECT_EQ(**accounts().partyBoundTo("MAILTO:shared@example.test"), "p1");
  EXPECT_TRUE(accounts()
                  .claimIdentifier("p1", "mailto:shared@example.test", good, clock_.now() + 15min, clock_.now())
                  .error()
                  .is(ErrorCode::Conflict));

  // p2 claims the same address: allowed as a claim, but binding it conflicts while p1 holds it.
  auto claim2 = accounts().claimIdentifier("p2", "mailto:shared@example.test", good, clock_.now() + 15min, clock_.now());
  ASSERT_TRUE(claim2.has_value()) << claim2.error().message;
  EXPECT_TRUE(accounts().confirmIdentifier("p2", claim2->id, good, clock_.now()).error().is(ErrorCode::Conflict));

  // Expired code, and the attempt limit.
  auto claim3 = accounts().claimIdentifier("p2", "mailto:other@example.test", good, clock_.now() + 15min, clock_.now());
  ASSERT_TRUE(claim3.has_value());
  EXPECT_TRUE(accounts().confirmIdentifier("p2", claim3->id, good, clock_.now() + 16min).error().is(ErrorCode::Unauthorized));
  auto again = accounts().claimIdentifier("p2", "mailto:other@example.test", good, clock_.now() + 15min, clock_.now());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id, claim3->id);  // a new code for the same claim
  for (int i = 0; i < kMaxIdentifierCodeAttempts; ++i) {
    EXPECT_FALSE(accounts().confirmIdentifier("p2", claim3->id, wrong, clock_.now()).has_value());
  }
  EXPECT_TRUE(accounts().confirmIdentifier("p2", claim3->id, good, clock_.now()).error().is(ErrorCode::Unauthorized));
  auto list = accounts().bindingsOf("p2");
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->size(), 2u);
}

TEST_F(PostgresStoresTest, VerificationWorkflowWithSecondApprovalIsAudited) {
  createAccount("user", "mailto:u@example.test");
  createAccount("off1", "mailto:o1@example.test", RoleSet{Role::User, Role::Officer});
  createAccount("off2", "mailto:o2@example.test", RoleSet{Role::User, Role::Officer});
  AuditLog audit(clock_);
  PostgresVerificationStore store(*db_->pool, audit);
  auto hasher = DocumentNumberHasher::create(Secret(std::string(32, 'p')));
  ASSERT_TRUE(hasher.has_value());
  VerificationWorkflow wf(store, clock_, *hasher);
  Actor user{"user", RoleSet{Role::User}, "s-user", false};
  Actor o1{"off1", RoleSet{Role::User, Role::Officer}, "s-o1", true};
  Actor o2{"off2", RoleSet{Role::User, Role::Officer}, "s-o2", true};

  auto req = wf.open(user, "user", LevelOfAssurance::High);
  ASSERT_TRUE(req.has_value()) << req.error().message;
  auto queue = wf.queue(o1);
  ASSERT_TRUE(queue.has_value()) << queue.error().message;
  ASSERT_EQ(queue->size(), 1u);
  ASSERT_TRUE(wf.recordDocument(o1, req->id, "passport", "BE", "EN-123.456", "2031-01-01").has_value());
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM verification_documents WHERE number_hash = $1",
                        {pg::Param::bytes(hasher->hash("BE", "passport", "EN123456"))}),
            "1");
  auto first = wf.approve(o1, req->id, IdentificationMethod::PhysicalPresence, LevelOfAssurance::High);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->status, VerificationStatus::AwaitingSecondApproval);
  EXPECT_TRUE(wf.approve(o1, req->id, IdentificationMethod::PhysicalPresence, LevelOfAssurance::High)
                  .error()
                  .is(ErrorCode::Unauthorized));
  auto second = wf.approve(o2, req->id, IdentificationMethod::PhysicalPresence, LevelOfAssurance::High);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->status, VerificationStatus::Approved);

  auto stored = store.find(req->id);
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  EXPECT_EQ(stored->status, VerificationStatus::Approved);
  ASSERT_EQ(stored->approvals.size(), 2u);
  EXPECT_EQ(stored->approvals[1].officerAuthenticationRef, "s-o2");
  ASSERT_TRUE(stored->document.has_value());
  EXPECT_EQ(stored->document->issuingCountry, "BE");
  EXPECT_EQ(stored->version, 3);
  auto ids = store.identificationsOf("user");
  ASSERT_TRUE(ids.has_value());
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ((*ids)[0].level, LevelOfAssurance::High);
  EXPECT_EQ((*ids)[0].officerIds, (std::vector<std::string>{"off1", "off2"}));
  EXPECT_EQ((*ids)[0].verificationRequestId, req->id);
  auto mine = accounts().verificationRequestsOf("user");
  ASSERT_TRUE(mine.has_value());
  EXPECT_EQ(mine->size(), 1u);
  EXPECT_TRUE(wf.queue(o1)->empty());

  // Stale version: Conflict.
  EXPECT_TRUE(store.update(*stored, 1, std::nullopt).error().is(ErrorCode::Conflict));

  EXPECT_EQ(db_->scalar("SELECT string_agg(action, ',' ORDER BY id) FROM audit_log"),
            "identity.verification.requested,identity.verification.document_recorded,"
            "identity.verification.awaiting_second_approval,identity.verification.approved");
  EXPECT_EQ(db_->scalar("SELECT actor FROM audit_log WHERE action = 'identity.verification.approved'"), "party:off2");
}

TEST_F(PostgresStoresTest, DaemonRoleCannotRewriteHistory) {
  createAccount("p1", "mailto:a@example.test");
  Identification i;
  i.id = "idn_1";
  i.partyId = "p1";
  i.method = IdentificationMethod::PhysicalPresence;
  i.level = LevelOfAssurance::Substantial;
  i.at = clock_.now();
  ASSERT_TRUE(accounts().recordIdentification(i).has_value());
  auto lease = db_->pool->acquire();
  ASSERT_TRUE(lease.has_value());
  for (const char* sql : {"UPDATE identifications SET level = 'high'", "DELETE FROM identifications",
                          "DELETE FROM parties", "UPDATE credentials SET login_identifier = 'x'",
                          "DELETE FROM verification_approvals", "UPDATE sessions SET party_id = 'p1'"}) {
    auto q = (*lease)->exec(sql);
    ASSERT_FALSE(q.has_value()) << sql;
    EXPECT_TRUE(q.error().is(ErrorCode::Unauthorized)) << sql << ": " << q.error().message;
  }
}

}  // namespace
}  // namespace erds::identity

namespace erds::identity {
namespace {

TEST_F(PostgresStoresTest, ExpiredDocumentScansArePurgedDecisionKept) {
  createAccount("p1", "mailto:p1@example.test");
  // Two reviewed documents with scans: one past its retention, one not yet.
  for (const std::string id : {"vr-old", "vr-new"}) {
    ASSERT_EQ(db_->scalar("INSERT INTO verification_requests (id, party_id, created_by, requested_level, status, "
                          "created_at) VALUES ($1, 'p1', 'p1', 'substantial', 'approved', now()) RETURNING id",
                          {pg::Param::text(id)}),
              id);
    const std::string purgeAfter =
        formatRfc3339(id == "vr-old" ? t0() - std::chrono::hours(1) : t0() + std::chrono::hours(1));
    ASSERT_EQ(db_->scalar("INSERT INTO verification_documents (request_id, document_type, issuing_country, "
                          "number_hash, expires_on, reviewed_by, scan_encrypted, scan_media_type, scan_purge_after) "
                          "VALUES ($1, 'passport', 'BE', $2, '2030-01-01', 'p1', $3, 'image/jpeg', $4) "
                          "RETURNING request_id",
                          {pg::Param::text(id), pg::Param::bytes(std::string(32, 'h')),
                           pg::Param::bytes("encrypted-scan-bytes"), pg::Param::text(purgeAfter)}),
              id);
  }
  AuditLog audit(clock_);
  PostgresVerificationStore store(*db_->pool, audit);
  auto purged = store.purgeExpiredScans(t0());
  ASSERT_TRUE(purged.has_value()) << purged.error().message;
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(db_->scalar("SELECT scan_encrypted IS NULL AND scan_media_type IS NULL FROM verification_documents "
                        "WHERE request_id = 'vr-old'"),
            "t");
  EXPECT_EQ(db_->scalar("SELECT scan_encrypted IS NULL FROM verification_documents WHERE request_id = 'vr-new'"), "f");
  // The decision record stays.
  EXPECT_EQ(db_->scalar("SELECT document_type || ':' || status FROM verification_documents JOIN verification_requests "
                        "ON id = request_id WHERE request_id = 'vr-old'"),
            "passport:approved");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.verification.scan_purged' AND "
                        "object = 'verification_request:vr-old'"),
            "1");
  // Idempotent: nothing more to purge until the other scan's time comes.
  purged = store.purgeExpiredScans(t0());
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 0);
  purged = store.purgeExpiredScans(t0() + std::chrono::hours(2));
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 1);
}

}  // namespace
}  // namespace erds::identity
