#include "erds/core/delivery_store.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "core_test_fixture.h"
#include "erds/core/content_vault.h"

namespace erds::core {
namespace {

using std::chrono::hours;

class DeliveryStoreTest : public CoreDbTest {
 protected:
  void SetUp() override {
    CoreDbTest::SetUp();
    if (HasFatalFailure()) return;
    vault_ = std::make_unique<ContentVault>(*pool_, *kek_, clock_, audit_);
    jobs_ = std::make_unique<JobQueue>(*pool_, clock_);
    store_ = std::make_unique<DeliveryStore>(*pool_, issuer_, *jobs_, clock_, audit_);
  }

  std::string stagePart(const std::string& msg, const std::string& data) {
    auto up = vault_->beginUpload(msg, "a.txt", "text/plain");
    EXPECT_TRUE(up.has_value());
    EXPECT_TRUE(up->append(data).has_value());
    auto fin = up->finish();
    EXPECT_TRUE(fin.has_value());
    return fin ? fin->partId : "";
  }

  SubmissionRequest request(ConsignmentMode mode = ConsignmentMode::Basic, int recipients = 2) {
    SubmissionRequest r;
    r.messageId = ContentVault::newMessageId();
    r.senderPartyId = "p-alice";
    r.senderIdentifier = "mailto:alice@example.test";
    r.subject = "Contract";
    r.mode = mode;
    r.requiredLoa = "substantial";
    r.expiresAt = clock_.now() + hours(24 * 15);
    for (int i = 0; i < recipients; ++i) {
      r.recipients.push_back({"mailto:r" + std::to_string(i) + "@example.test", "p-r" + std::to_string(i), ""});
    }
    return r;
  }

  TransitionResult step(const std::string& msg, int idx, Event e, int seq = 0) {
    TransitionRequest t;
    t.messageId = msg;
    t.recipientIndex = idx;
    t.event = e;
    t.sequence = seq;
    auto r = store_->transition(t);
    EXPECT_TRUE(r.has_value()) << eventName(e) << ": " << r.error().toString();
    return r ? *r : TransitionResult{};
  }

  int64_t jobsOfKind(std::string_view kind) {
    return count("SELECT count(*) FROM jobs WHERE kind = '" + std::string(kind) + "'");
  }

  std::unique_ptr<ContentVault> vault_;
  std::unique_ptr<JobQueue> jobs_;
  std::unique_ptr<DeliveryStore> store_;
};

TEST_F(DeliveryStoreTest, SubmissionStoresEverythingTogether) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 2);
  const std::string p0 = stagePart(req.messageId, "first part");
  const std::string p1 = stagePart(req.messageId, "second");
  req.partIds = {p1, p0};  // order is the caller's
  auto res = store_->submit(req);
  ASSERT_TRUE(res.has_value()) << res.error().toString();
  EXPECT_EQ(res->messageId, req.messageId);
  EXPECT_FALSE(res->replayed);
  EXPECT_TRUE(res->accepted);

  auto m = store_->message(req.messageId);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, "accepted");
  EXPECT_EQ(m->partCount, 2);
  EXPECT_EQ(m->contentSize, 16);
  EXPECT_EQ(m->contentDigest, crypto::sha256(crypto::sha256("second") + crypto::sha256("first part")));
  EXPECT_EQ(m->createdAt, clock_.now());
  EXPECT_EQ(m->expiresAt, req.expiresAt);

  auto ds = store_->deliveries(req.messageId);
  ASSERT_TRUE(ds.has_value());
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ((*ds)[1].recipientIdentifier, "mailto:r1@example.test");
  EXPECT_EQ((*ds)[1].state, DeliveryState::Submitted);
  EXPECT_EQ((*ds)[1].lastEvent, Event::SubmissionAcceptance);

  auto ev = store_->evidenceOf(req.messageId);
  ASSERT_TRUE(ev.has_value());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].id, res->evidenceId);
  EXPECT_EQ((*ev)[0].event, Event::SubmissionAcceptance);
  EXPECT_EQ((*ev)[0].reason, "RA01");
  EXPECT_FALSE((*ev)[0].recipientIndex.has_value());
  auto full = store_->evidence(res->evidenceId);
  ASSERT_TRUE(full.has_value());
  EXPECT_NE(full->xml.find("SubmissionAcceptance"), std::string::npos);
  EXPECT_EQ(issuer_.requests().back().message.contentDigest, m->contentDigest);
  EXPECT_EQ(issuer_.requests().back().message.recipientIdentifiers,
            (std::vector<std::string>{"mailto:r0@example.test", "mailto:r1@example.test"}));

  EXPECT_EQ(jobsOfKind(kJobConsign), 2);
  EXPECT_EQ(jobsOfKind(kJobExpire), 1);
  EXPECT_EQ(count("SELECT count(*) FROM content_parts WHERE state = 'linked'"), 2);
  EXPECT_EQ(count("SELECT position FROM content_parts WHERE id = '" + p1 + "'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), 1);
  auto dl = vault_->openPart(req.messageId, 1);
  ASSERT_TRUE(dl.has_value());
  EXPECT_EQ(dl->part().partId, p0);
  // The message id is spent: no more uploads under it.
  EXPECT_TRUE(vault_->beginUpload(req.messageId, "late", "text/plain").error().is(ErrorCode::Conflict));
}

TEST_F(DeliveryStoreTest, NoTimeStampNothingStored) {
  SubmissionRequest req = request();
  req.partIds = {stagePart(req.messageId, "x")};
  issuer_.setFailing(true);
  auto res = store_->submit(req);
  ASSERT_FALSE(res.has_value());
  EXPECT_TRUE(res.error().is(ErrorCode::Unavailable));
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM content_parts WHERE state = 'staged'"), 1);
  issuer_.setFailing(false);
  EXPECT_TRUE(store_->submit(req).has_value());  // the client's retry works
}

TEST_F(DeliveryStoreTest, RefusesBadSubmissions) {
  SubmissionRequest other = request();
  const std::string foreignPart = stagePart(other.messageId, "not yours");
  struct Case {
    const char* name;
    std::function<void(SubmissionRequest&)> mutate;
  };
  const Case cases[] = {
      {"no recipients", [](SubmissionRequest& r) { r.recipients.clear(); }},
      {"bad loa", [](SubmissionRequest& r) { r.requiredLoa = "extreme"; }},
      {"expired", [&](SubmissionRequest& r) { r.expiresAt = clock_.now(); }},
      {"bad message id", [](SubmissionRequest& r) { r.messageId = "1; DROP TABLE messages"; }},
      {"foreign part", [&](SubmissionRequest& r) { r.partIds = {foreignPart}; }},
      {"repeated part", [&](SubmissionRequest& r) {
         const std::string p = stagePart(r.messageId, "p");
         r.partIds = {p, p};
       }},
      {"key without hash", [](SubmissionRequest& r) { r.idempotencyKey = "k"; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    SubmissionRequest r = request();
    c.mutate(r);
    auto res = store_->submit(r);
    ASSERT_FALSE(res.has_value());
    EXPECT_TRUE(res.error().is(ErrorCode::InvalidInput)) << res.error().toString();
  }
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
  EXPECT_EQ(issuer_.calls(), 0);
}

TEST_F(DeliveryStoreTest, IdempotencyKey) {
  SubmissionRequest req = request();
  req.idempotencyKey = "key-1";
  req.requestHash = crypto::sha256("body-1");
  auto first = store_->submit(req);
  ASSERT_TRUE(first.has_value()) << first.error().toString();

  SubmissionRequest again = req;
  again.messageId = ContentVault::newMessageId();  // a retry allocates a new id; the key decides
  auto second = store_->submit(again);
  ASSERT_TRUE(second.has_value()) << second.error().toString();
  EXPECT_TRUE(second->replayed);
  EXPECT_EQ(second->messageId, first->messageId);
  EXPECT_EQ(second->evidenceId, first->evidenceId);

  SubmissionRequest changed = req;
  changed.requestHash = crypto::sha256("body-2");
  auto third = store_->submit(changed);
  ASSERT_FALSE(third.has_value());
  EXPECT_TRUE(third.error().is(ErrorCode::Conflict));

  // Another sender may use the same key.
  SubmissionRequest bob = request();
  bob.senderPartyId = "p-bob";
  bob.idempotencyKey = "key-1";
  bob.requestHash = crypto::sha256("body-1");
  auto b = store_->submit(bob);
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->replayed);
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 2);
}

TEST_F(DeliveryStoreTest, ConcurrentSubmissionsWithOneKeyStoreOneMessage) {
  SubmissionRequest req = request();
  req.idempotencyKey = "race";
  req.requestHash = crypto::sha256("body");
  constexpr int kThreads = 6;
  std::vector<Result<SubmissionResult>> results(kThreads, Error::internal("not run"));
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      SubmissionRequest r = req;
      r.messageId = ContentVault::newMessageId();
      results[static_cast<std::size_t>(i)] = store_->submit(r);
    });
  }
  for (auto& t : ts) t.join();
  std::set<std::string> ids;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().toString();
    ids.insert(r->messageId);
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries"), 2);
}

TEST_F(DeliveryStoreTest, RejectionStoresEvidenceWithReason) {
  SubmissionRequest req = request();
  req.recipients.clear();
  auto res = store_->reject(req, "RA02");
  ASSERT_TRUE(res.has_value()) << res.error().toString();
  EXPECT_FALSE(res->accepted);
  auto m = store_->message(req.messageId);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, "rejected");
  auto ev = store_->evidence(res->evidenceId);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->event, Event::SubmissionRejection);
  EXPECT_EQ(ev->reason, "RA02");
  EXPECT_EQ(count("SELECT count(*) FROM deliveries"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);
}

TEST_F(DeliveryStoreTest, BasicLifecycle) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 1);
  ASSERT_TRUE(store_->submit(req).has_value());
  const auto& id = req.messageId;

  auto bad = store_->transition({id, 0, Event::ContentHandover, "", 0, {}, "party:p-r0"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().is(ErrorCode::Conflict));

  auto c = step(id, 0, Event::ContentConsignment);
  EXPECT_EQ(c.state, DeliveryState::Consigned);
  EXPECT_FALSE(c.alreadyDone);
  EXPECT_EQ(jobsOfKind(kJobNotifyConsignment), 1);
  EXPECT_EQ(step(id, 0, Event::ConsignmentNotification).state, DeliveryState::Notified);
  auto h = step(id, 0, Event::ContentHandover);
  EXPECT_EQ(h.state, DeliveryState::HandedOver);
  // Transitions carry every recipient of the message for the evidence, not just this one.
  EXPECT_EQ(issuer_.requests().back().event, Event::ContentHandover);
  EXPECT_EQ(issuer_.requests().back().message.recipientIdentifiers,
            std::vector<std::string>{"mailto:r0@example.test"});

  // A retried worker step is a no-op returning the stored evidence.
  auto retry = step(id, 0, Event::ContentConsignment);
  EXPECT_TRUE(retry.alreadyDone);
  EXPECT_EQ(retry.evidenceId, c.evidenceId);
  EXPECT_EQ(retry.state, DeliveryState::HandedOver);

  auto ev = store_->evidenceOf(id);
  ASSERT_TRUE(ev.has_value());
  ASSERT_EQ(ev->size(), 4u);
  EXPECT_EQ((*ev)[3].event, Event::ContentHandover);
  EXPECT_EQ((*ev)[3].recipientIndex, 0);
  EXPECT_EQ((*ev)[3].reason, "RE01");
  auto d = store_->delivery(id, 0);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->lastEvent, Event::ContentHandover);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'delivery.ContentHandover'"), 1);
  EXPECT_TRUE(store_->delivery(id, 5).error().is(ErrorCode::NotFound));
  EXPECT_TRUE(store_->transition({id, 5, Event::ContentConsignment, "", 0, {}, "x"}).error().is(ErrorCode::NotFound));
}

TEST_F(DeliveryStoreTest, ConsentLifecycleAndExtraJobs) {
  SubmissionRequest req = request(ConsignmentMode::Consent, 3);
  ASSERT_TRUE(store_->submit(req).has_value());
  const auto& id = req.messageId;
  EXPECT_EQ(jobsOfKind(kJobNotifyForAcceptance), 3);
  EXPECT_EQ(jobsOfKind(kJobConsign), 0);
  EXPECT_TRUE(store_->transition({id, 0, Event::ContentConsignment, "", 0, {}, "x"}).error().is(ErrorCode::Conflict));

  EXPECT_EQ(step(id, 0, Event::NotificationForAcceptance).state, DeliveryState::AwaitingAcceptance);
  TransitionRequest accept{id, 0, Event::ConsignmentAcceptance, "", 0, {}, "party:p-r0"};
  accept.extraJobs.push_back(JobSpec{"test.extra", "{}", {}, "", 3});
  auto a = store_->transition(accept);
  ASSERT_TRUE(a.has_value()) << a.error().toString();
  EXPECT_EQ(a->state, DeliveryState::Accepted);
  EXPECT_EQ(jobsOfKind(kJobConsign), 1);
  EXPECT_EQ(jobsOfKind("test.extra"), 1);
  EXPECT_EQ(step(id, 0, Event::ContentConsignment).state, DeliveryState::Consigned);
  EXPECT_EQ(step(id, 0, Event::ContentHandover).state, DeliveryState::HandedOver);

  EXPECT_EQ(step(id, 1, Event::NotificationForAcceptanceFailure).state, DeliveryState::AwaitingAcceptance);
  EXPECT_EQ(step(id, 1, Event::ConsignmentRejection).state, DeliveryState::Rejected);
  EXPECT_TRUE(store_->transition({id, 1, Event::ConsignmentAcceptance, "", 0, {}, "x"}).error().is(ErrorCode::Conflict));
  EXPECT_EQ(step(id, 2, Event::AcceptanceRejectionExpiry).state, DeliveryState::Expired);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 1 + 4 + 2 + 1);
}

TEST_F(DeliveryStoreTest, IssuerFailureLeavesTheDeliveryUnchanged) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 1);
  ASSERT_TRUE(store_->submit(req).has_value());
  issuer_.setFailing(true);
  auto r = store_->transition({req.messageId, 0, Event::ContentConsignment, "", 0, {}, "x"});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::Unavailable));
  EXPECT_EQ(store_->delivery(req.messageId, 0)->state, DeliveryState::Submitted);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 1);
  EXPECT_EQ(jobsOfKind(kJobNotifyConsignment), 0);
}

TEST_F(DeliveryStoreTest, ConcurrentIdenticalTransitionsWriteEvidenceOnce) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 1);
  ASSERT_TRUE(store_->submit(req).has_value());
  auto pool2 = newPool(4);
  JobQueue jobs2(*pool2, clock_);
  DeliveryStore store2(*pool2, issuer_, jobs2, clock_, audit_);
  constexpr int kThreads = 8;
  std::vector<Result<TransitionResult>> results(kThreads, Error::internal("not run"));
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      DeliveryStore& s = (i % 2 == 0) ? *store_ : store2;
      results[static_cast<std::size_t>(i)] = s.transition({req.messageId, 0, Event::ContentConsignment, "", 0, {}, "x"});
    });
  }
  for (auto& t : ts) t.join();
  int applied = 0;
  std::set<std::string> ids;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().toString();
    if (!r->alreadyDone) applied++;
    ids.insert(r->evidenceId);
    EXPECT_EQ(r->state, DeliveryState::Consigned);
  }
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE event = 'ContentConsignment'"), 1);
  EXPECT_EQ(jobsOfKind(kJobNotifyConsignment), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'delivery.ContentConsignment'"), 1);
}

TEST_F(DeliveryStoreTest, ConcurrentAcceptAndRejectOnlyOneWins) {
  SubmissionRequest req = request(ConsignmentMode::Consent, 1);
  ASSERT_TRUE(store_->submit(req).has_value());
  Result<TransitionResult> acc = Error::internal("not run");
  Result<TransitionResult> rej = Error::internal("not run");
  std::thread t1([&] { acc = store_->transition({req.messageId, 0, Event::ConsignmentAcceptance, "", 0, {}, "x"}); });
  std::thread t2([&] { rej = store_->transition({req.messageId, 0, Event::ConsignmentRejection, "", 0, {}, "x"}); });
  t1.join();
  t2.join();
  EXPECT_NE(acc.has_value(), rej.has_value());
  const auto& loser = acc.has_value() ? rej : acc;
  EXPECT_TRUE(loser.error().is(ErrorCode::Conflict)) << loser.error().toString();
  EXPECT_EQ(count("SELECT count(*) FROM evidence WHERE recipient_index = 0"), 1);
}

TEST_F(DeliveryStoreTest, PendingMailboxBinding) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 2);
  req.recipients[1] = {"mailto:new@example.test", "", "new@example.test"};
  ASSERT_TRUE(store_->submit(req).has_value());
  EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes"), 1);
  EXPECT_EQ(store_->delivery(req.messageId, 1)->recipientPartyId, "");
  auto bound = store_->bindPendingMailbox("new@example.test", "p-new");
  ASSERT_TRUE(bound.has_value()) << bound.error().toString();
  ASSERT_EQ(bound->size(), 1u);
  EXPECT_EQ((*bound)[0], std::make_pair(req.messageId, 1));
  EXPECT_EQ(store_->delivery(req.messageId, 1)->recipientPartyId, "p-new");
  EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes"), 0);
  EXPECT_TRUE(store_->bindPendingMailbox("new@example.test", "p-new")->empty());
}

TEST_F(DeliveryStoreTest, ExternalRecipientsAreRelayedNotConsigned) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 1);
  RecipientSpec ext;
  ext.identifier = "mailto:carol@elsewhere.example";
  ext.external = true;
  req.recipients.push_back(ext);
  req.extraJobs.push_back(JobSpec{"smtp.relay", "{\"message_id\":\"" + req.messageId + "\",\"recipient_index\":1}",
                                  {}, "relay:" + req.messageId, 5});
  req.extraJobs.push_back(JobSpec{"smtp.receipt", "{}", {}, "", 5});
  ASSERT_TRUE(store_->submit(req).has_value());
  const auto& id = req.messageId;
  // Committed with the submission; the consign job only for the local recipient.
  EXPECT_EQ(jobsOfKind("smtp.relay"), 1);
  EXPECT_EQ(jobsOfKind("smtp.receipt"), 1);
  EXPECT_EQ(jobsOfKind(kJobConsign), 1);
  auto ds = store_->deliveries(id);
  ASSERT_TRUE(ds.has_value());
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_FALSE((*ds)[0].external);
  EXPECT_TRUE((*ds)[1].external);

  TransitionRequest relayed{id, 1, Event::RelayToNonERDS, "", 0, {}, "system:erds-smtpd"};
  relayed.extraJobs.push_back(JobSpec{"smtp.receipt", "{\"event\":\"RelayToNonERDS\"}", {}, "", 5});
  auto r = store_->transition(relayed);
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  EXPECT_EQ(r->state, DeliveryState::Relayed);
  EXPECT_EQ(jobsOfKind("smtp.receipt"), 2);
  // Terminal: no failure afterwards, no consignment ever.
  EXPECT_TRUE(store_->transition({id, 1, Event::RelayToNonERDSFailure, "RF03", 0, {}, "x"}).error().is(ErrorCode::Conflict));
  EXPECT_TRUE(store_->transition({id, 1, Event::ContentConsignment, "", 0, {}, "x"}).error().is(ErrorCode::Conflict));
  EXPECT_TRUE(store_->transition({id, 0, Event::RelayToNonERDS, "", 0, {}, "x"}).has_value());  // table allows; policy is the caller's
  auto ev = store_->evidenceOf(id);
  ASSERT_TRUE(ev.has_value());
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ((*ev)[1].event, Event::RelayToNonERDS);
  EXPECT_EQ((*ev)[1].reason, "RF01");
}

TEST_F(DeliveryStoreTest, RelayFailureEndsTheDeliveryWithItsReason) {
  SubmissionRequest req = request(ConsignmentMode::Consent, 0);
  RecipientSpec ext;
  ext.identifier = "mailto:carol@elsewhere.example";
  ext.external = true;
  req.recipients.push_back(ext);
  ASSERT_TRUE(store_->submit(req).has_value());
  EXPECT_EQ(jobsOfKind(kJobNotifyForAcceptance), 0);
  auto f = store_->transition({req.messageId, 0, Event::RelayToNonERDSFailure, "RF03", 0, {}, "system:erds-smtpd"});
  ASSERT_TRUE(f.has_value()) << f.error().toString();
  EXPECT_EQ(f->state, DeliveryState::Failed);
  auto again = store_->transition({req.messageId, 0, Event::RelayToNonERDSFailure, "RF03", 0, {}, "system:erds-smtpd"});
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->alreadyDone);
  EXPECT_EQ(again->evidenceId, f->evidenceId);
  auto ev = store_->evidence(f->evidenceId);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->reason, "RF03");
  EXPECT_EQ(ev->recipientIndex, 0);
}

TEST_F(DeliveryStoreTest, RecipientNeedsExactlyOneDestination) {
  SubmissionRequest none = request(ConsignmentMode::Basic, 1);
  none.recipients[0].partyId.clear();
  auto r = store_->submit(none);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput));
  SubmissionRequest both = request(ConsignmentMode::Basic, 1);
  both.recipients[0].external = true;
  EXPECT_TRUE(store_->submit(both).error().is(ErrorCode::InvalidInput));
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
}

TEST_F(DeliveryStoreTest, ReceivedFromNonErdsStoresMessageAndRunsTheLocalLifecycle) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 0);
  req.senderPartyId.clear();
  req.senderIdentifier = "mailto:someone@elsewhere.example";
  req.requiredLoa = "low";
  req.recipients.push_back({"mailto:r0@example.test", "p-r0", ""});
  req.recipients.push_back({"mailto:new@example.test", "", "new@example.test"});
  req.partIds.push_back(stagePart(req.messageId, "From: someone@elsewhere.example\r\n\r\nhello\r\n"));
  req.actor = "external:192.0.2.7";
  req.auditNote = "spf=not_checked dkim=not_checked dmarc=not_checked";
  req.extraJobs.push_back(JobSpec{"test.extra", "{}", {}, "", 3});
  auto res = store_->receive(req);
  ASSERT_TRUE(res.has_value()) << res.error().toString();
  EXPECT_TRUE(res->accepted);
  const auto& id = req.messageId;

  auto m = store_->message(id);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, "accepted");
  EXPECT_EQ(m->senderIdentifier, "mailto:someone@elsewhere.example");
  EXPECT_EQ(m->partCount, 1);
  auto ev = store_->evidenceOf(id);
  ASSERT_TRUE(ev.has_value());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].event, Event::ReceivedFromNonERDS);
  EXPECT_EQ((*ev)[0].reason, "RF04");
  EXPECT_FALSE((*ev)[0].recipientIndex.has_value());
  EXPECT_EQ((*ev)[0].id, res->evidenceId);
  EXPECT_EQ(issuer_.requests().back().event, Event::ReceivedFromNonERDS);
  EXPECT_EQ(issuer_.requests().back().message.recipientIdentifiers.size(), 2u);
  EXPECT_EQ(jobsOfKind(kJobConsign), 2);
  EXPECT_EQ(jobsOfKind(kJobExpire), 1);
  EXPECT_EQ(jobsOfKind("test.extra"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.received' AND actor = 'external:192.0.2.7' "
                  "AND details::text LIKE '%spf=not_checked%'"),
            1);
  auto d = store_->delivery(id, 0);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->state, DeliveryState::Submitted);
  EXPECT_EQ(d->lastEvent, Event::ReceivedFromNonERDS);
  EXPECT_FALSE(d->external);
  // The normal lifecycle follows.
  EXPECT_EQ(step(id, 0, Event::ContentConsignment).state, DeliveryState::Consigned);
  EXPECT_EQ(step(id, 0, Event::ContentHandover).state, DeliveryState::HandedOver);
}

TEST_F(DeliveryStoreTest, ReceiveRefusesRelayingAndKeysAndStoresNothingWithoutTimeStamp) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 1);
  req.senderPartyId.clear();
  req.senderIdentifier = "mailto:someone@elsewhere.example";
  RecipientSpec ext;
  ext.identifier = "mailto:carol@elsewhere.example";
  ext.external = true;
  SubmissionRequest relay = req;
  relay.recipients.push_back(ext);
  EXPECT_TRUE(store_->receive(relay).error().is(ErrorCode::InvalidInput));
  SubmissionRequest keyed = req;
  keyed.idempotencyKey = "k";
  keyed.requestHash = std::string(32, 'h');
  EXPECT_TRUE(store_->receive(keyed).error().is(ErrorCode::InvalidInput));
  SubmissionRequest anonymous = req;
  anonymous.senderIdentifier.clear();
  EXPECT_TRUE(store_->receive(anonymous).error().is(ErrorCode::InvalidInput));
  // A submission (not a reception) still needs the sender party.
  EXPECT_TRUE(store_->submit(req).error().is(ErrorCode::InvalidInput));
  issuer_.setFailing(true);
  auto r = store_->receive(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::Unavailable));
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);
}

}  // namespace
}  // namespace erds::core
