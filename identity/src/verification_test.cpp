#include "erds/identity/verification.h"

#include <gtest/gtest.h>

#include "erds/identity/testing/in_memory_verification_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using M = IdentificationMethod;
using L = LevelOfAssurance;

Actor user(const std::string& id) { return {id, RoleSet{Role::User}, "auth-" + id, true}; }
Actor officer(const std::string& id) { return {id, RoleSet{Role::User, Role::Officer}, "auth-" + id, true}; }

class VerificationTest : public ::testing::Test {
 protected:
  VerificationWorkflow workflow(WorkflowOptions o = {}) { return VerificationWorkflow(store_, clock_, hasher_, o); }
  std::string openFor(const std::string& party, L level = L::Substantial) {
    auto r = workflow().open(user(party), party, level);
    EXPECT_TRUE(r.has_value());
    return r->id;
  }
  void recordDoc(const std::string& id, const Actor& by) {
    auto r = workflow().recordDocument(by, id, "passport", "BE", "EH 123-456", "2031-05-01");
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemoryVerificationStore store_;
  DocumentNumberHasher hasher_ = DocumentNumberHasher::create(Secret(std::string(32, 'k'))).value();
};

TEST_F(VerificationTest, ApproveRecordsIdentification) {
  std::string id = openFor("alice");
  recordDoc(id, officer("olga"));
  auto r = workflow().approve(officer("olga"), id, M::PhysicalPresence, L::Substantial);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, VerificationStatus::Approved);
  EXPECT_EQ(r->decidedBy, "olga");
  ASSERT_EQ(r->approvals.size(), 1u);
  EXPECT_EQ(r->approvals[0].officerAuthenticationRef, "auth-olga");
  auto ids = store_.identificationsOf("alice");
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ((*ids)[0].method, M::PhysicalPresence);
  EXPECT_EQ((*ids)[0].level, L::Substantial);
  EXPECT_EQ((*ids)[0].verificationRequestId, id);
  EXPECT_EQ((*ids)[0].officerIds, std::vector<std::string>{"olga"});
  // Decided: no second decision.
  EXPECT_TRUE(workflow().reject(officer("oscar"), id, "late").error().is(ErrorCode::Conflict));
}

TEST_F(VerificationTest, OfficerCannotDecideOwnRequest) {
  std::string id = openFor("olga");
  recordDoc(id, officer("oscar"));
  auto r = workflow().approve(officer("olga"), id, M::PhysicalPresence, L::Substantial);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::Unauthorized));
  EXPECT_FALSE(workflow().reject(officer("olga"), id, "no").has_value());
  EXPECT_TRUE(store_.identificationsOf("olga")->empty());
}

TEST_F(VerificationTest, OfficerCannotDecideRequestTheyCreated) {
  auto opened = workflow().open(officer("olga"), "bob", L::Substantial);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->createdBy, "olga");
  EXPECT_TRUE(workflow()
                  .recordDocument(officer("olga"), opened->id, "id_card", "BE", "1", "2030-01-01")
                  .error()
                  .is(ErrorCode::Unauthorized));
  recordDoc(opened->id, officer("oscar"));
  EXPECT_TRUE(workflow().approve(officer("olga"), opened->id, M::PhysicalPresence, L::Low).error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(workflow().approve(officer("oscar"), opened->id, M::PhysicalPresence, L::Low).has_value());
}

TEST_F(VerificationTest, OnlyOfficersWithStrongAuthenticationDecide) {
  std::string id = openFor("alice");
  EXPECT_TRUE(workflow().approve(user("mallory"), id, M::PhysicalPresence, L::Low).error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(workflow().queue(user("mallory")).error().is(ErrorCode::Unauthorized));
  Actor weak = officer("olga");
  weak.strongAuthentication = false;
  recordDoc(id, officer("oscar"));
  EXPECT_TRUE(workflow().approve(weak, id, M::PhysicalPresence, L::Low).error().is(ErrorCode::Unauthorized));
  // A user may not open a request for someone else.
  EXPECT_TRUE(workflow().open(user("mallory"), "alice", L::Low).error().is(ErrorCode::Unauthorized));
}

TEST_F(VerificationTest, HighNeedsSecondDistinctOfficer) {
  std::string id = openFor("alice", L::High);
  recordDoc(id, officer("olga"));
  auto first = workflow().approve(officer("olga"), id, M::PhysicalPresence, L::High);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, VerificationStatus::AwaitingSecondApproval);
  EXPECT_TRUE(store_.identificationsOf("alice")->empty());
  // Same officer again: refused.
  EXPECT_TRUE(workflow().approve(officer("olga"), id, M::PhysicalPresence, L::High).error().is(ErrorCode::Unauthorized));
  // Second officer must confirm the same method and level.
  EXPECT_TRUE(workflow().approve(officer("oscar"), id, M::PhysicalPresence, L::Substantial).error().is(ErrorCode::InvalidInput));
  auto second = workflow().approve(officer("oscar"), id, M::PhysicalPresence, L::High);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->status, VerificationStatus::Approved);
  auto ids = store_.identificationsOf("alice");
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ((*ids)[0].officerIds, (std::vector<std::string>{"olga", "oscar"}));
}

TEST_F(VerificationTest, HighWithoutSecondApprovalWhenConfiguredOff) {
  std::string id = openFor("alice", L::High);
  recordDoc(id, officer("olga"));
  auto r = workflow({false}).approve(officer("olga"), id, M::PhysicalPresence, L::High);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerificationStatus::Approved);
  EXPECT_EQ(store_.identificationsOf("alice")->size(), 1u);
}

TEST_F(VerificationTest, SecondOfficerMayReject) {
  std::string id = openFor("alice", L::High);
  recordDoc(id, officer("olga"));
  ASSERT_TRUE(workflow().approve(officer("olga"), id, M::PhysicalPresence, L::High).has_value());
  auto r = workflow().reject(officer("oscar"), id, "photo does not match");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerificationStatus::Rejected);
  EXPECT_TRUE(store_.identificationsOf("alice")->empty());
}

TEST_F(VerificationTest, RejectNeedsReason) {
  std::string id = openFor("alice");
  EXPECT_TRUE(workflow().reject(officer("olga"), id, "  ").error().is(ErrorCode::InvalidInput));
  auto r = workflow().reject(officer("olga"), id, "document expired");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerificationStatus::Rejected);
  EXPECT_EQ(r->rejectionReason, "document expired");
  EXPECT_TRUE(workflow().queue(officer("olga"))->empty());
}

TEST_F(VerificationTest, ApprovalRules) {
  std::string id = openFor("alice");
  // Document-based methods need a reviewed document.
  EXPECT_TRUE(workflow().approve(officer("olga"), id, M::PhysicalPresence, L::Low).error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(workflow().approve(officer("olga"), id, M::PhysicalPresence, L::None).error().is(ErrorCode::InvalidInput));
  recordDoc(id, officer("olga"));
  // A scan never reaches high.
  EXPECT_TRUE(workflow().approve(officer("olga"), id, M::RemoteIdDocumentScan, L::High).error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(workflow().approve(officer("olga"), id, M::RemoteIdDocumentScan, L::Substantial).has_value());
  EXPECT_TRUE(workflow().approve(officer("olga"), "vr_missing", M::PhysicalPresence, L::Low).error().is(ErrorCode::NotFound));
  EXPECT_TRUE(workflow().open(user("alice"), "alice", L::None).error().is(ErrorCode::InvalidInput));
}

TEST_F(VerificationTest, ConcurrentDecisionLosesWithConflict) {
  std::string id = openFor("alice");
  recordDoc(id, officer("olga"));
  auto stale = store_.find(id).value();
  ASSERT_TRUE(workflow().reject(officer("olga"), id, "no").has_value());
  stale.status = VerificationStatus::Approved;
  EXPECT_TRUE(store_.update(stale, stale.version, std::nullopt).error().is(ErrorCode::Conflict));
}

TEST_F(VerificationTest, DocumentNumberStoredOnlyAsKeyedHash) {
  std::string id = openFor("alice");
  recordDoc(id, officer("olga"));
  auto r = store_.find(id).value();
  ASSERT_TRUE(r.document.has_value());
  EXPECT_EQ(r.document->documentNumberHash.size(), 32u);
  EXPECT_EQ(r.document->documentNumberHash.find("123"), std::string::npos);
  // Normalisation: spacing, dashes and case do not matter; country and type do; the pepper does.
  EXPECT_EQ(hasher_.hash("BE", "passport", "EH 123-456"), hasher_.hash("be", "PASSPORT", "eh123456"));
  EXPECT_EQ(r.document->documentNumberHash, hasher_.hash("BE", "passport", "EH123456"));
  EXPECT_NE(hasher_.hash("BE", "passport", "EH123456"), hasher_.hash("FR", "passport", "EH123456"));
  EXPECT_NE(hasher_.hash("BE", "passport", "EH123456"), hasher_.hash("BE", "id_card", "EH123456"));
  auto other = DocumentNumberHasher::create(Secret(std::string(32, 'x')));
  EXPECT_NE(other->hash("BE", "passport", "EH123456"), hasher_.hash("BE", "passport", "EH123456"));
  EXPECT_FALSE(DocumentNumberHasher::create(Secret(std::string(16, 'k'))).has_value());
  EXPECT_TRUE(workflow().recordDocument(officer("olga"), id, "passport", "BEL", "1", "2030-01-01").error().is(ErrorCode::InvalidInput));
  EXPECT_TRUE(workflow().recordDocument(officer("olga"), id, "passport", "BE", "1", "01/01/2030").error().is(ErrorCode::InvalidInput));
}

TEST_F(VerificationTest, QueueListsOpenRequestsOldestFirst) {
  std::string a = openFor("alice");
  std::string b = openFor("bob");
  auto q = workflow().queue(officer("olga"));
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[0].id, a);
  EXPECT_EQ((*q)[1].id, b);
}

}  // namespace
}  // namespace erds::identity
