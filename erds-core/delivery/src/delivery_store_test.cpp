#include "erds/core/delivery_store.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "core_test_fixture.h"
#include "erds/base/log.h"
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

// ---- one-transaction path (content sealed in memory) ----------------------------------------

std::string patterned(std::size_t n, int seed) {
  std::string d(n, '\0');
  for (std::size_t i = 0; i < n; ++i) d[i] = static_cast<char>((i * 131 + static_cast<std::size_t>(seed)) % 251);
  return d;
}

std::string readAll(ContentVault& vault, const std::string& msg, int position, Error* failure = nullptr) {
  auto dl = vault.openPart(msg, position);
  if (!dl) {
    if (failure) *failure = dl.error();
    return "<open failed>";
  }
  std::string out;
  for (;;) {
    auto n = dl->next();
    if (!n) {
      if (failure) *failure = n.error();
      return "<read failed>";
    }
    if (!n->has_value()) return out;
    out += **n;
  }
}

class OneTransactionTest : public DeliveryStoreTest {
 protected:
  Result<SubmissionResult> submitInline(const SubmissionRequest& req, const std::vector<std::string>& datas) {
    std::vector<PlainPart> parts;
    for (std::size_t i = 0; i < datas.size(); ++i)
      parts.push_back({"part" + std::to_string(i) + ".bin", "application/octet-stream", datas[i]});
    auto sealed = vault_->sealInMemory(req.messageId, parts);
    if (!sealed) return std::move(sealed).error();
    return store_->submitWithContent(req, *sealed);
  }
};

TEST_F(OneTransactionTest, StoresMessageContentEvidenceAndJobsTogether) {
  SubmissionRequest req = request(ConsignmentMode::Basic, 2);
  req.recipients[1] = {"mailto:new@example.test", "", "new@example.test"};  // pending mailbox
  req.extraJobs.push_back(JobSpec{"test.extra", "{\"x\":1}", {}, "extra-once", 3});
  const std::string small = "first part";
  const std::string big = patterned(2 * kMaxChunkBytes + 5, 3);  // three chunks
  const std::string empty;
  auto res = submitInline(req, {small, big, empty});
  ASSERT_TRUE(res.has_value()) << res.error().toString();
  EXPECT_EQ(res->messageId, req.messageId);
  EXPECT_TRUE(res->accepted);
  EXPECT_FALSE(res->replayed);

  auto m = store_->message(req.messageId);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, "accepted");
  EXPECT_EQ(m->partCount, 3);
  EXPECT_EQ(m->contentSize, static_cast<int64_t>(small.size() + big.size()));
  EXPECT_EQ(m->contentDigest, crypto::sha256(crypto::sha256(small) + crypto::sha256(big) + crypto::sha256(empty)));
  EXPECT_EQ(issuer_.requests().back().message.contentDigest, m->contentDigest);
  EXPECT_EQ(issuer_.requests().back().message.recipientIdentifiers,
            (std::vector<std::string>{"mailto:r0@example.test", "mailto:new@example.test"}));

  auto ds = store_->deliveries(req.messageId);
  ASSERT_TRUE(ds.has_value());
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ((*ds)[0].recipientPartyId, "p-r0");
  EXPECT_EQ((*ds)[1].recipientPartyId, "");
  EXPECT_FALSE((*ds)[1].external);
  EXPECT_EQ((*ds)[1].state, DeliveryState::Submitted);
  EXPECT_EQ((*ds)[1].lastEvent, Event::SubmissionAcceptance);
  EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes WHERE address = 'new@example.test' AND recipient_index = 1"), 1);

  auto ev = store_->evidenceOf(req.messageId);
  ASSERT_TRUE(ev.has_value());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].id, res->evidenceId);
  EXPECT_EQ((*ev)[0].event, Event::SubmissionAcceptance);
  EXPECT_EQ((*ev)[0].reason, "RA01");

  EXPECT_EQ(jobsOfKind(kJobConsign), 2);
  EXPECT_EQ(jobsOfKind(kJobExpire), 1);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE kind = 'test.extra' AND dedupe_key = 'extra-once' AND "
                  "max_attempts = 3 AND payload->>'x' = '1'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE kind = 'delivery.expire' AND run_at = '" +
                  formatRfc3339(req.expiresAt, true) + "'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM content_parts WHERE state = 'linked' AND message_id = '" + req.messageId + "'"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM content_chunks"), 1 + 3 + 1);
  EXPECT_EQ(count("SELECT next_part_index FROM message_keys WHERE message_id = '" + req.messageId + "'"), 3);

  // Content round trip (each chunk authenticated), and the parts list in message order.
  EXPECT_EQ(readAll(*vault_, req.messageId, 0), small);
  EXPECT_TRUE(readAll(*vault_, req.messageId, 1) == big);
  EXPECT_EQ(readAll(*vault_, req.messageId, 2), "");
  auto parts = vault_->partsOf(req.messageId);
  ASSERT_TRUE(parts.has_value());
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[1].filename, "part1.bin");
  EXPECT_EQ((*parts)[1].size, static_cast<int64_t>(big.size()));
  EXPECT_EQ((*parts)[1].sha256, crypto::sha256(big));
  EXPECT_EQ((*parts)[1].chunkCount, 3);
  auto none = vault_->partsOf(ContentVault::newMessageId());
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  // The message id is spent: no streamed upload can add a part (and reuse a nonce) under it.
  auto up = vault_->beginUpload(req.messageId, "late.txt", "text/plain");
  ASSERT_FALSE(up.has_value());
  EXPECT_TRUE(up.error().is(ErrorCode::Conflict));

  // The lifecycle runs on it as on a streamed submission.
  step(req.messageId, 0, Event::ContentConsignment);
}

TEST_F(OneTransactionTest, IdempotencyKeyReplayAndConflict) {
  SubmissionRequest req = request();
  req.idempotencyKey = "key-1";
  req.requestHash = crypto::sha256("body-1");
  auto first = submitInline(req, {"hello"});
  ASSERT_TRUE(first.has_value()) << first.error().toString();

  SubmissionRequest again = req;
  again.messageId = ContentVault::newMessageId();
  auto second = submitInline(again, {"hello"});
  ASSERT_TRUE(second.has_value()) << second.error().toString();
  EXPECT_TRUE(second->replayed);
  EXPECT_EQ(second->messageId, first->messageId);
  EXPECT_EQ(second->evidenceId, first->evidenceId);

  SubmissionRequest changed = req;
  changed.messageId = ContentVault::newMessageId();
  changed.requestHash = crypto::sha256("body-2");
  auto third = submitInline(changed, {"other"});
  ASSERT_FALSE(third.has_value());
  EXPECT_TRUE(third.error().is(ErrorCode::Conflict));

  // A key first used on the streamed path is honoured here too (and the other way round).
  SubmissionRequest streamed = request();
  streamed.idempotencyKey = "key-2";
  streamed.requestHash = crypto::sha256("body-3");
  streamed.partIds = {stagePart(streamed.messageId, "x")};
  auto s1 = store_->submit(streamed);
  ASSERT_TRUE(s1.has_value()) << s1.error().toString();
  SubmissionRequest s2req = streamed;
  s2req.messageId = ContentVault::newMessageId();
  s2req.partIds.clear();
  auto s2 = submitInline(s2req, {"x"});
  ASSERT_TRUE(s2.has_value()) << s2.error().toString();
  EXPECT_TRUE(s2->replayed);
  EXPECT_EQ(s2->messageId, s1->messageId);

  // Nothing doubled, nothing left behind by the replays and the conflict.
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM message_keys"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM content_parts"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE kind = 'delivery.expire'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), 2);
}

TEST_F(OneTransactionTest, ConcurrentSubmissionsWithOneKeyStoreOneMessage) {
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
      results[static_cast<std::size_t>(i)] = submitInline(r, {"same body"});
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
  EXPECT_EQ(count("SELECT count(*) FROM content_parts"), 1);
}

// Group commit: while the first transactions wait (audit_log locked by another session), the
// submissions arriving meanwhile queue up and are then stored in one shared transaction; every
// caller gets its answer only after that commit, and the audit chain stays intact.
TEST_F(OneTransactionTest, ConcurrentSubmissionsShareTransactions) {
  ASSERT_TRUE(owner_->begin().has_value());
  ASSERT_TRUE(owner_->exec("LOCK TABLE audit_log IN EXCLUSIVE MODE").has_value());
  constexpr int kThreads = 16;
  std::vector<Result<SubmissionResult>> results(kThreads, Error::internal("not run"));
  std::vector<std::thread> ts;
  auto launch = [&](int i) {
    ts.emplace_back([&, i] {
      log::ScopedRequestId rid("group-" + std::to_string(i));
      SubmissionRequest r = request(ConsignmentMode::Basic, 1);
      results[static_cast<std::size_t>(i)] = submitInline(r, {"body " + std::to_string(i)});
    });
  };
  launch(0);
  launch(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both leaders wait on the lock
  for (int i = 2; i < kThreads; ++i) launch(i);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the rest queue behind them
  for (const auto& r : results) EXPECT_FALSE(r.has_value()) << "answered before its commit";
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
  ASSERT_TRUE(owner_->commit().has_value());
  for (auto& t : ts) t.join();
  std::set<std::string> ids;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().toString();
    EXPECT_TRUE(r->accepted);
    ids.insert(r->messageId);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads));
  // Each audit record carries its own caller's request id, not the leader's.
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE object = 'message:" +
                    results[static_cast<std::size_t>(i)]->messageId + "' AND request_id = 'group-" + std::to_string(i) + "'"),
              1)
        << i;
  }
  EXPECT_EQ(count("SELECT count(*) FROM messages"), kThreads);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), kThreads);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), kThreads);
  // 16 messages in at most 4 transactions (2 leaders, then the queued 14 in one or two groups).
  EXPECT_LE(count("SELECT count(DISTINCT xmin::text) FROM messages"), 4);
  auto v = AuditLog::verify(*owner_);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok) << v->firstProblem;
}

// A statement failing inside a shared transaction fails only its own submission: the group is
// rolled back and retried one message per transaction.
TEST_F(OneTransactionTest, AFailingSubmissionInAGroupDoesNotFailTheOthers) {
  ASSERT_TRUE(owner_->begin().has_value());
  ASSERT_TRUE(owner_->exec("LOCK TABLE audit_log IN EXCLUSIVE MODE").has_value());
  constexpr int kThreads = 12;
  constexpr int kBad = 7;
  std::vector<Result<SubmissionResult>> results(kThreads, Error::internal("not run"));
  std::vector<std::string> messageIds(kThreads);
  std::vector<std::thread> ts;
  auto launch = [&](int i) {
    SubmissionRequest r = request(ConsignmentMode::Basic, 1);
    messageIds[static_cast<std::size_t>(i)] = r.messageId;
    // Passes validation, fails in the database (the payload is not JSON).
    if (i == kBad) r.extraJobs.push_back(JobSpec{"test.bad", "not json", {}, "", 1});
    ts.emplace_back([&, i, r] { results[static_cast<std::size_t>(i)] = submitInline(r, {"body"}); });
  };
  launch(0);
  launch(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 2; i < kThreads; ++i) launch(i);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(owner_->commit().has_value());
  for (auto& t : ts) t.join();
  for (int i = 0; i < kThreads; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    if (i == kBad) {
      EXPECT_FALSE(r.has_value());
      EXPECT_EQ(count("SELECT count(*) FROM messages WHERE id = '" + messageIds[kBad] + "'"), 0);
    } else {
      ASSERT_TRUE(r.has_value()) << i << ": " << r.error().toString();
      EXPECT_EQ(r->messageId, messageIds[static_cast<std::size_t>(i)]);
    }
  }
  EXPECT_EQ(count("SELECT count(*) FROM messages"), kThreads - 1);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), kThreads - 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), kThreads - 1);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE kind = 'test.bad'"), 0);
  auto v = AuditLog::verify(*owner_);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok) << v->firstProblem;
}

TEST_F(OneTransactionTest, NoTimeStampNothingStoredAndBadInputRefused) {
  SubmissionRequest req = request();
  issuer_.setFailing(true);
  auto res = submitInline(req, {"data"});
  ASSERT_FALSE(res.has_value());
  EXPECT_TRUE(res.error().is(ErrorCode::Unavailable));
  issuer_.setFailing(false);
  for (const char* table : {"messages", "message_keys", "content_parts", "content_chunks", "deliveries", "evidence",
                            "jobs", "audit_log"}) {
    EXPECT_EQ(count(std::string("SELECT count(*) FROM ") + table), 0) << table;
  }

  // Content sealed for another message, staged part ids mixed in, and an id whose data key exists.
  auto sealed = vault_->sealInMemory(ContentVault::newMessageId(), {{"a", "text/plain", "x"}});
  ASSERT_TRUE(sealed.has_value());
  auto wrong = store_->submitWithContent(req, *sealed);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(wrong.error().is(ErrorCode::InvalidInput));
  SubmissionRequest staged = request();
  staged.partIds = {stagePart(staged.messageId, "y")};
  auto mine = vault_->sealInMemory(staged.messageId, {{"a", "text/plain", "x"}});
  ASSERT_TRUE(mine.has_value());
  auto mixed = store_->submitWithContent(staged, *mine);
  ASSERT_FALSE(mixed.has_value());
  EXPECT_TRUE(mixed.error().is(ErrorCode::InvalidInput));
  staged.partIds.clear();
  auto reused = store_->submitWithContent(staged, *mine);  // staged.messageId already has a data key
  ASSERT_FALSE(reused.has_value());
  EXPECT_TRUE(reused.error().is(ErrorCode::Conflict)) << reused.error().toString();
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 0);
  EXPECT_FALSE(vault_->sealInMemory("not-a-uuid", {}).has_value());
  EXPECT_FALSE(vault_->sealInMemory(req.messageId, {{"", "text/plain", "x"}}).has_value());
}

TEST_F(OneTransactionTest, TruncatedOrReorderedChunksAreRefused) {
  const std::string data = patterned(2 * kMaxChunkBytes + 9, 5);  // chunks 0, 1, 2 (final)
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    SubmissionRequest req = request();
    auto res = submitInline(req, {data});
    ASSERT_TRUE(res.has_value()) << res.error().toString();
    ids.push_back(req.messageId);
  }
  auto partOf = [&](const std::string& msg) {
    return "(SELECT id FROM content_parts WHERE message_id = '" + msg + "')";
  };
  // Truncated: the final chunk is gone.
  ASSERT_TRUE(owner_->exec("DELETE FROM content_chunks WHERE part_id = " + partOf(ids[0]) + " AND chunk_index = 2"));
  // Reordered: chunks 0 and 1 swap their ciphertexts.
  ASSERT_TRUE(owner_->exec("UPDATE content_chunks c SET ciphertext = o.ciphertext FROM content_chunks o "
                           "WHERE c.part_id = " + partOf(ids[1]) + " AND o.part_id = c.part_id AND "
                           "o.chunk_index = 1 - c.chunk_index AND c.chunk_index IN (0, 1)"));
  for (int i = 0; i < 2; ++i) {
    Error e{ErrorCode::Internal, ""};
    EXPECT_NE(readAll(*vault_, ids[static_cast<std::size_t>(i)], 0, &e), data);
    EXPECT_TRUE(e.is(ErrorCode::IntegrityFailure)) << i << ": " << e.toString();
  }
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'content.integrity_failure'"), 2);
  EXPECT_TRUE(readAll(*vault_, ids[2], 0) == data);  // the untouched one still reads
}

// A reception from outside ERDS: no sender party, every recipient local.
SubmissionRequest receivedRequest(SubmissionRequest req) {
  req.senderPartyId.clear();
  req.senderIdentifier = "mailto:someone@elsewhere.example";
  req.requiredLoa = "low";
  req.recipients = {{"mailto:r0@example.test", "p-r0", ""}, {"mailto:new@example.test", "", "new@example.test"}};
  req.actor = "smtp-mx:192.0.2.7";
  req.externalSystem = "SMTP client 192.0.2.7 (HELO mx.elsewhere.example)";
  req.auditNote = "spf=pass";
  return req;
}

TEST_F(OneTransactionTest, ReceiveWithContentStoresMessageContentAndEvidenceOnce) {
  SubmissionRequest req = receivedRequest(request());
  req.extraJobs.push_back(JobSpec{"test.extra", "{}", {}, "extra-rcv", 3});
  const std::string mail = "From: someone@elsewhere.example\r\nSubject: hi\r\n\r\nhello\r\n";
  const std::string big = patterned(kMaxChunkBytes + 7, 9);  // two chunks
  auto sealed = vault_->sealInMemory(req.messageId, {{"message.eml", "message/rfc822", mail},
                                                     {"big.bin", "application/octet-stream", big}});
  ASSERT_TRUE(sealed.has_value()) << sealed.error().toString();
  auto res = store_->receiveWithContent(req, *sealed);
  ASSERT_TRUE(res.has_value()) << res.error().toString();
  EXPECT_TRUE(res->accepted);
  EXPECT_FALSE(res->replayed);
  const std::string& id = req.messageId;

  auto m = store_->message(id);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, "accepted");
  EXPECT_EQ(m->senderPartyId, "");
  EXPECT_EQ(m->senderIdentifier, "mailto:someone@elsewhere.example");
  EXPECT_EQ(m->partCount, 2);
  EXPECT_EQ(m->contentDigest, crypto::sha256(crypto::sha256(mail) + crypto::sha256(big)));

  // Exactly one message-level evidence, ReceivedFromNonERDS with RF04 and the external system (M04).
  auto ev = store_->evidenceOf(id);
  ASSERT_TRUE(ev.has_value());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].id, res->evidenceId);
  EXPECT_EQ((*ev)[0].event, Event::ReceivedFromNonERDS);
  EXPECT_EQ((*ev)[0].reason, "RF04");
  EXPECT_FALSE((*ev)[0].recipientIndex.has_value());
  ASSERT_EQ(issuer_.calls(), 1);
  const EvidenceRequest er = issuer_.requests().back();
  EXPECT_EQ(er.event, Event::ReceivedFromNonERDS);
  EXPECT_EQ(er.externalSystem, "SMTP client 192.0.2.7 (HELO mx.elsewhere.example)");
  EXPECT_EQ(er.message.contentDigest, m->contentDigest);
  EXPECT_EQ(er.message.recipientIdentifiers,
            (std::vector<std::string>{"mailto:r0@example.test", "mailto:new@example.test"}));
  EXPECT_FALSE(er.senderAuthentication.has_value());

  auto ds = store_->deliveries(id);
  ASSERT_TRUE(ds.has_value());
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ((*ds)[0].lastEvent, Event::ReceivedFromNonERDS);
  EXPECT_EQ((*ds)[1].state, DeliveryState::Submitted);
  EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes WHERE address = 'new@example.test'"), 1);
  EXPECT_EQ(jobsOfKind(kJobConsign), 2);
  EXPECT_EQ(jobsOfKind(kJobExpire), 1);
  EXPECT_EQ(jobsOfKind("test.extra"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.received' AND actor = 'smtp-mx:192.0.2.7' "
                  "AND details->>'note' = 'spf=pass' AND details->>'reason' = 'RF04'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.submitted'"), 0);

  // Content round trip.
  EXPECT_EQ(readAll(*vault_, id, 0), mail);
  EXPECT_TRUE(readAll(*vault_, id, 1) == big);

  // The same message id again: Conflict, nothing doubled (the second evidence is never stored).
  auto again = vault_->sealInMemory(id, {{"message.eml", "message/rfc822", mail}});
  ASSERT_TRUE(again.has_value());
  auto dup = store_->receiveWithContent(req, *again);
  ASSERT_FALSE(dup.has_value());
  EXPECT_TRUE(dup.error().is(ErrorCode::Conflict)) << dup.error().toString();
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'message.received'"), 1);

  // The normal lifecycle follows.
  EXPECT_EQ(step(id, 0, Event::ContentConsignment).state, DeliveryState::Consigned);
}

// RecipientSpec::bindingKey: the party is looked up in the storing statement (or the storing
// transaction of the staged-parts path): bound -> that party, otherwise (none, pending, released)
// a pending mailbox for the identifier, exactly as partyBoundTo() first would have decided.
TEST_F(OneTransactionTest, BindingLookedUpWhenStored) {
  count("INSERT INTO parties (id, kind, created_at) VALUES ('p-bound', 'natural', now()), ('p-other', 'natural', now())"
        " RETURNING 1");
  count("INSERT INTO identifier_bindings (id, identifier, party_id, status, created_at) VALUES"
        " ('b1', 'mailto:bound@example.test', 'p-bound', 'bound', now()),"
        " ('b2', 'mailto:claimed@example.test', 'p-other', 'pending', now()),"
        " ('b3', 'mailto:gone@example.test', 'p-other', 'released', now()) RETURNING 1");
  auto lookup = [](const std::string& identifier, const std::string& key) {
    RecipientSpec r;
    r.identifier = identifier;
    r.bindingKey = key;
    return r;
  };
  const std::vector<RecipientSpec> rcpts = {
      lookup("mailto:Bound@Example.test", "mailto:bound@example.test"),
      lookup("mailto:claimed@example.test", "mailto:claimed@example.test"),
      lookup("mailto:gone@example.test", "mailto:gone@example.test"),
      lookup("mailto:nobody@example.test", "mailto:nobody@example.test"),
      RecipientSpec{"mailto:r0@example.test", "p-r0", ""}};
  auto check = [&](const std::string& id) {
    auto ds = store_->deliveries(id);
    ASSERT_TRUE(ds.has_value());
    ASSERT_EQ(ds->size(), 5u);
    EXPECT_EQ((*ds)[0].recipientPartyId, "p-bound");
    EXPECT_EQ((*ds)[1].recipientPartyId, "");
    EXPECT_EQ((*ds)[2].recipientPartyId, "");
    EXPECT_EQ((*ds)[3].recipientPartyId, "");
    EXPECT_EQ((*ds)[4].recipientPartyId, "p-r0");
    EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes WHERE message_id = '" + id + "'"), 3);
    EXPECT_EQ(count("SELECT count(*) FROM pending_mailboxes WHERE message_id = '" + id +
                    "' AND (address, recipient_index) IN (('mailto:claimed@example.test', 1),"
                    " ('mailto:gone@example.test', 2), ('mailto:nobody@example.test', 3))"),
              3);
    EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE kind = '" + std::string(kJobConsign) + "' AND payload->>'message_id' = '" +
                    id + "'"),
              5);
  };
  // One statement (content sealed in memory), as received by the MX listener.
  SubmissionRequest rcv = receivedRequest(request());
  rcv.recipients = rcpts;
  auto sealed = vault_->sealInMemory(rcv.messageId, {{"message.eml", "message/rfc822", "Subject: x\r\n\r\nx\r\n"}});
  ASSERT_TRUE(sealed.has_value());
  auto r1 = store_->receiveWithContent(rcv, *sealed);
  ASSERT_TRUE(r1.has_value()) << r1.error().toString();
  check(rcv.messageId);
  // Staged parts (large messages): looked up in the storing transaction.
  SubmissionRequest sub = request(ConsignmentMode::Basic, 0);
  sub.recipients = rcpts;
  sub.partIds.push_back(stagePart(sub.messageId, "hello"));
  auto r2 = store_->submit(sub);
  ASSERT_TRUE(r2.has_value()) << r2.error().toString();
  check(sub.messageId);
  // A binding key is a destination of its own: not together with a party or a pending mailbox.
  SubmissionRequest both = request(ConsignmentMode::Basic, 1);
  both.recipients[0].bindingKey = "mailto:r0@example.test";
  EXPECT_TRUE(store_->submit(both).error().is(ErrorCode::InvalidInput));
}

TEST_F(OneTransactionTest, ReceiveWithContentValidatesAsReceiveAndStoresNothingOnFailure) {
  const SubmissionRequest base = receivedRequest(request());
  auto sealFor = [&](const SubmissionRequest& r) {
    auto s = vault_->sealInMemory(r.messageId, {{"message.eml", "message/rfc822", "x"}});
    EXPECT_TRUE(s.has_value());
    return s ? *s : SealedContent{};
  };
  SubmissionRequest relay = base;
  RecipientSpec ext;
  ext.identifier = "mailto:carol@elsewhere.example";
  ext.external = true;
  relay.recipients.push_back(ext);
  EXPECT_TRUE(store_->receiveWithContent(relay, sealFor(relay)).error().is(ErrorCode::InvalidInput));
  SubmissionRequest keyed = base;
  keyed.idempotencyKey = "k";
  keyed.requestHash = std::string(32, 'h');
  EXPECT_TRUE(store_->receiveWithContent(keyed, sealFor(keyed)).error().is(ErrorCode::InvalidInput));
  SubmissionRequest anonymous = base;
  anonymous.senderIdentifier.clear();
  EXPECT_TRUE(store_->receiveWithContent(anonymous, sealFor(anonymous)).error().is(ErrorCode::InvalidInput));
  // Without a sender party it is a reception, never a submission.
  EXPECT_TRUE(store_->submitWithContent(base, sealFor(base)).error().is(ErrorCode::InvalidInput));
  EXPECT_EQ(issuer_.calls(), 0);  // refused before sealing

  issuer_.setFailing(true);
  auto noStamp = store_->receiveWithContent(base, sealFor(base));
  ASSERT_FALSE(noStamp.has_value());
  EXPECT_TRUE(noStamp.error().is(ErrorCode::Unavailable));
  issuer_.setFailing(false);
  for (const char* table : {"messages", "message_keys", "content_parts", "content_chunks", "deliveries", "evidence",
                            "pending_mailboxes", "jobs", "audit_log"}) {
    EXPECT_EQ(count(std::string("SELECT count(*) FROM ") + table), 0) << table;
  }
}

TEST_F(OneTransactionTest, ConnectionDyingMidTransactionLeavesNoRows) {
  // The audit append runs after the one statement that inserted everything else: a trigger there
  // kills the daemon's own backend in the middle of the transaction.
  ASSERT_TRUE(owner_->exec(
      "CREATE FUNCTION erds_test_die() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); RETURN NEW; END $$"));
  ASSERT_TRUE(owner_->exec("CREATE TRIGGER erds_test_die BEFORE INSERT ON audit_log FOR EACH ROW "
                           "EXECUTE FUNCTION erds_test_die()"));
  const SubmissionRequest rcv = receivedRequest(request());
  auto sealedRcv = vault_->sealInMemory(rcv.messageId, {{"message.eml", "message/rfc822", "hello"}});
  ASSERT_TRUE(sealedRcv.has_value());
  auto r1 = store_->receiveWithContent(rcv, *sealedRcv);
  ASSERT_FALSE(r1.has_value());
  // A lost connection is temporary (the SMTP client gets 451 and retries).
  EXPECT_TRUE(r1.error().is(ErrorCode::Unavailable)) << r1.error().toString();
  const SubmissionRequest sub = request();
  auto sealedSub = vault_->sealInMemory(sub.messageId, {{"a.txt", "text/plain", "hello"}});
  ASSERT_TRUE(sealedSub.has_value());
  auto r2 = store_->submitWithContent(sub, *sealedSub);
  ASSERT_FALSE(r2.has_value());
  EXPECT_TRUE(r2.error().is(ErrorCode::Unavailable)) << r2.error().toString();
  EXPECT_EQ(issuer_.calls(), 2);  // both sealed, neither stored nor acknowledged
  for (const char* table : {"messages", "message_keys", "content_parts", "content_chunks", "deliveries", "evidence",
                            "pending_mailboxes", "jobs", "audit_log"}) {
    EXPECT_EQ(count(std::string("SELECT count(*) FROM ") + table), 0) << table;
  }

  // Once the database is healthy again, the pool reconnects and the same reception succeeds.
  ASSERT_TRUE(owner_->exec("DROP TRIGGER erds_test_die ON audit_log"));
  auto retry = store_->receiveWithContent(rcv, *sealedRcv);
  ASSERT_TRUE(retry.has_value()) << retry.error().toString();
  EXPECT_EQ(count("SELECT count(*) FROM evidence"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries"), 2);
  EXPECT_EQ(readAll(*vault_, rcv.messageId, 0), "hello");
}

TEST_F(OneTransactionTest, SenderAuthenticationReachesOnlyTheSubmissionAcceptance) {
  const SenderAuthentication auth{"urn:erds:authn:client_certificate+password", "http://eidas.europa.eu/LoA/low",
                                  clock_.now() - std::chrono::seconds(3)};
  SubmissionRequest inline1 = request();
  inline1.senderAuthentication = auth;
  ASSERT_TRUE(submitInline(inline1, {"x"}).has_value());
  ASSERT_TRUE(issuer_.requests().back().senderAuthentication.has_value());
  EXPECT_EQ(*issuer_.requests().back().senderAuthentication, auth);

  SubmissionRequest streamed = request();
  streamed.senderAuthentication = auth;
  streamed.partIds = {stagePart(streamed.messageId, "y")};
  ASSERT_TRUE(store_->submit(streamed).has_value());
  EXPECT_EQ(issuer_.requests().back().event, Event::SubmissionAcceptance);
  EXPECT_EQ(issuer_.requests().back().senderAuthentication, std::optional<SenderAuthentication>(auth));

  // Later evidence of the message does not repeat it.
  step(streamed.messageId, 0, Event::ContentConsignment);
  EXPECT_FALSE(issuer_.requests().back().senderAuthentication.has_value());
  SubmissionRequest rcv = receivedRequest(request());
  rcv.senderAuthentication = auth;  // ignored: an outside sender did not authenticate to us
  auto sealed = vault_->sealInMemory(rcv.messageId, {{"m", "message/rfc822", "z"}});
  ASSERT_TRUE(sealed.has_value());
  ASSERT_TRUE(store_->receiveWithContent(rcv, *sealed).has_value());
  EXPECT_FALSE(issuer_.requests().back().senderAuthentication.has_value());
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
