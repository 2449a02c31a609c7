#include "signature_audit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "erds/base/log.h"
#include "erds/base/migrations.h"
#include "erds/migrations/migrations.h"

#include "test_database.h"

namespace erds::signer {
namespace {

// A unique 64-hex digest per `i`.
std::string digestFor(int i) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064x", static_cast<unsigned>(i));
  return buf;
}

SignatureAuditRecord sample(int i, bool success = true, int64_t uid = 1000,
                            const std::string& label = "seal") {
  SignatureAuditRecord r;
  r.keyLabel = label;
  r.digestHex = digestFor(i);
  r.peerUid = uid;
  r.peerPid = 4242 + i;
  r.success = success;
  if (!success) r.error = "not_found";
  return r;
}

TEST(SignatureAuditTest, OneEventPerUidLabelAndOutcomeListingEachSignatureInOrder) {
  const std::vector<SignatureAuditRecord> batch = {
      sample(1), sample(2, true, 1000, "tsu"), sample(3, false), sample(4),
      sample(5, true, 0), sample(6, true, 1000, "tsu"), sample(7)};
  // One entry of "signatures" for sample(i).
  auto sig = [](int i) {
    return "{\"digest\":\"" + digestFor(i) + "\",\"peer_pid\":" + std::to_string(4242 + i);
  };
  const std::vector<AuditEvent> events = toAuditEvents(batch);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].action, "signer.sign");
  EXPECT_EQ(events[0].actor, "uid:1000");
  EXPECT_EQ(events[0].object, "key:seal");
  EXPECT_EQ(events[0].outcome, "success");
  EXPECT_EQ(events[0].detailsJson,
            "{\"key_label\":\"seal\",\"peer_uid\":1000,\"count\":3,\"signatures\":[" + sig(1) +
                "}," + sig(4) + "}," + sig(7) + "}]}");
  EXPECT_EQ(events[1].object, "key:tsu");
  EXPECT_EQ(events[1].outcome, "success");
  EXPECT_EQ(events[1].detailsJson,
            "{\"key_label\":\"tsu\",\"peer_uid\":1000,\"count\":2,\"signatures\":[" + sig(2) +
                "}," + sig(6) + "}]}");
  EXPECT_EQ(events[2].object, "key:seal");
  EXPECT_EQ(events[2].outcome, "failure");
  EXPECT_EQ(events[2].detailsJson,
            "{\"key_label\":\"seal\",\"peer_uid\":1000,\"count\":1,\"signatures\":[" + sig(3) +
                ",\"error\":\"not_found\"}]}");
  EXPECT_EQ(events[3].actor, "uid:0");
  EXPECT_NE(events[3].detailsJson.find(digestFor(5)), std::string::npos);
  // Every record takes AuditLog's one-statement path (its details are in canonicalJsonb's subset).
  for (const auto& e : events)
    EXPECT_TRUE(AuditLog::canonicalJsonb(e.detailsJson).has_value()) << e.detailsJson;
  EXPECT_TRUE(toAuditEvents({}).empty());
}

TEST(SignatureAuditTest, LargeGroupsAreSplit) {
  std::vector<SignatureAuditRecord> batch;
  const int n = static_cast<int>(kMaxSignaturesPerAuditRecord) * 2 + 3;
  for (int i = 0; i < n; ++i)
    batch.push_back(sample(i));
  const std::vector<AuditEvent> events = toAuditEvents(batch);
  ASSERT_EQ(events.size(), 3u);
  const std::string fullCount = "\"count\":" + std::to_string(kMaxSignaturesPerAuditRecord) + ",";
  EXPECT_NE(events[0].detailsJson.find(fullCount), std::string::npos);
  EXPECT_NE(events[1].detailsJson.find(fullCount), std::string::npos);
  EXPECT_NE(events[2].detailsJson.find("\"count\":3,"), std::string::npos);
  EXPECT_NE(events[2].detailsJson.find(digestFor(n - 1)), std::string::npos);
}

TEST(SignatureAuditTest, LogSinkWritesAuditLine) {
  std::string sink;
  log::setSinkForTest(&sink);
  LogSignatureAudit audit;
  EXPECT_TRUE(audit.record(sample(3)).has_value());
  log::setSinkForTest(nullptr);
  EXPECT_NE(sink.find("\"audit\":true"), std::string::npos) << sink;
  EXPECT_NE(sink.find("\"event\":\"signer.signature\""), std::string::npos) << sink;
  EXPECT_NE(sink.find(sample(3).digestHex), std::string::npos) << sink;
  EXPECT_NE(sink.find("\"peer_pid\":4245"), std::string::npos) << sink;
  EXPECT_NE(sink.find("\"result\":\"success\""), std::string::npos) << sink;
}

TEST(SignatureAuditTest, UnreachableDatabaseIsUnavailable) {
  pg::PoolOptions o;
  o.conninfo = "host=/nonexistent-erds-signer-test port=1 dbname=x user=x";
  o.size = 1;
  o.acquireTimeout = std::chrono::milliseconds(200);
  o.connectTimeout = std::chrono::seconds(1);
  pg::Pool pool(o);
  DatabaseSignatureAudit audit(pool, SystemClock::instance(), std::chrono::seconds(5));
  auto r = audit.record(sample(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
}

// Concurrent signatures share commits and rows: fewer rows than signatures, yet every digest is
// listed exactly once, with its outcome, and the chain verifies.
TEST(SignatureAuditTest, DatabaseSinkGroupCommitsConcurrentSignaturesIntoFewerRecords) {
  auto db = testing::TestDatabase::create();
  ASSERT_TRUE(db.has_value()) << db.error().message;
  auto owner = pg::Connection::connect((*db)->ownerConninfo());
  ASSERT_TRUE(owner.has_value()) << owner.error().message;
  auto m = pg::applyMigrations(**owner, allMigrations(), (*db)->appRole());
  ASSERT_TRUE(m.has_value()) << m.error().message;

  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  constexpr int kTotal = kThreads * kPerThread;
  {
    pg::PoolOptions o;
    o.conninfo = (*db)->appConninfo();
    o.size = 2;
    pg::Pool pool(o);
    DatabaseSignatureAudit audit(pool, SystemClock::instance());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        // Two key labels and some failures, so batches hold several groups.
        for (int i = 0; i < kPerThread; ++i) {
          const int n = t * kPerThread + i;
          if (!audit.record(sample(n, i % 5 != 0, 1000, t % 2 ? "seal" : "tsu"))) ++failures;
        }
      });
    for (auto& th : threads)
      th.join();
    EXPECT_EQ(failures.load(), 0);
  }
  auto rows = (*owner)->execParams(
      "SELECT count(*), coalesce(sum((details->>'count')::int), 0),"
      " count(*) FILTER (WHERE (details->>'count')::int"
      "  <> jsonb_array_length(details->'signatures'))"
      " FROM audit_log WHERE action = 'signer.sign'",
      {});
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  const int records = std::stoi(rows->get(0, 0));
  EXPECT_GT(records, 0);
  EXPECT_LT(records, kTotal) << "group commit wrote one record per signature";
  EXPECT_EQ(rows->get(0, 1), std::to_string(kTotal));
  EXPECT_EQ(rows->get(0, 2), "0");
  // Each signature once, under the record of its own key, uid and outcome.
  auto sigs = (*owner)->execParams(
      "SELECT s->>'digest', r.outcome, r.object, r.actor, r.details->>'key_label', s->>'peer_pid',"
      " coalesce(s->>'error', '')"
      " FROM audit_log r, jsonb_array_elements(r.details->'signatures') s"
      " WHERE r.action = 'signer.sign' ORDER BY 1",
      {});
  ASSERT_TRUE(sigs.has_value()) << sigs.error().message;
  ASSERT_EQ(sigs->rows(), kTotal);
  for (int n = 0; n < kTotal; ++n) {
    const int t = n / kPerThread, i = n % kPerThread;
    const bool success = i % 5 != 0;
    const std::string label = t % 2 ? "seal" : "tsu";
    EXPECT_EQ(sigs->get(n, 0), digestFor(n));
    EXPECT_EQ(sigs->get(n, 1), success ? "success" : "failure") << n;
    EXPECT_EQ(sigs->get(n, 2), "key:" + label) << n;
    EXPECT_EQ(sigs->get(n, 3), "uid:1000") << n;
    EXPECT_EQ(sigs->get(n, 4), label) << n;
    EXPECT_EQ(sigs->get(n, 5), std::to_string(4242 + n)) << n;
    EXPECT_EQ(sigs->get(n, 6), success ? "" : "not_found") << n;
  }
  auto verified = AuditLog::verify(**owner);
  ASSERT_TRUE(verified.has_value()) << verified.error().message;
  EXPECT_TRUE(verified->ok) << verified->firstProblem;
  EXPECT_GE(verified->rows, records);
}

}  // namespace
}  // namespace erds::signer
