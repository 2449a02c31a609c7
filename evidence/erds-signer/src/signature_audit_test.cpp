#include "signature_audit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "erds/base/log.h"
#include "erds/base/migrations.h"
#include "erds/migrations/migrations.h"

#include "test_database.h"

namespace erds::signer {
namespace {

SignatureAuditRecord sample(int i, bool success = true) {
  SignatureAuditRecord r;
  r.keyLabel = "seal";
  r.digestHex = std::string(62, 'a') + (i < 10 ? "0" : "") + std::to_string(i % 100);
  r.peerUid = 1000;
  r.peerPid = 4242;
  r.success = success;
  if (!success) r.error = "not_found";
  return r;
}

TEST(SignatureAuditTest, EventCarriesLabelDigestPeerAndResult) {
  const AuditEvent ok = toAuditEvent(sample(7));
  EXPECT_EQ(ok.action, "signer.sign");
  EXPECT_EQ(ok.actor, "uid:1000");
  EXPECT_EQ(ok.object, "key:seal");
  EXPECT_EQ(ok.outcome, "success");
  EXPECT_EQ(ok.detailsJson, "{\"key_label\":\"seal\",\"digest\":\"" + sample(7).digestHex +
                                "\",\"peer_uid\":1000,\"peer_pid\":4242}");
  const AuditEvent bad = toAuditEvent(sample(7, false));
  EXPECT_EQ(bad.outcome, "failure");
  EXPECT_NE(bad.detailsJson.find("\"error\":\"not_found\""), std::string::npos);
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
  EXPECT_NE(sink.find("\"peer_pid\":4242"), std::string::npos) << sink;
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

TEST(SignatureAuditTest, DatabaseSinkGroupCommitsConcurrentRecordsIntoTheChain) {
  auto db = testing::TestDatabase::create();
  ASSERT_TRUE(db.has_value()) << db.error().message;
  auto owner = pg::Connection::connect((*db)->ownerConninfo());
  ASSERT_TRUE(owner.has_value()) << owner.error().message;
  auto m = pg::applyMigrations(**owner, allMigrations(), (*db)->appRole());
  ASSERT_TRUE(m.has_value()) << m.error().message;

  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
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
        for (int i = 0; i < kPerThread; ++i)
          if (!audit.record(sample(t * kPerThread + i, i % 5 != 0))) ++failures;
      });
    for (auto& th : threads)
      th.join();
    EXPECT_EQ(failures.load(), 0);
  }
  auto count = (*owner)->execParams(
      "SELECT count(*), count(*) FILTER (WHERE outcome = 'failure') FROM audit_log "
      "WHERE action = 'signer.sign' AND object = 'key:seal' AND actor = 'uid:1000'",
      {});
  ASSERT_TRUE(count.has_value()) << count.error().message;
  EXPECT_EQ(count->get(0, 0), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(count->get(0, 1), std::to_string(kThreads * kPerThread / 5));
  auto verified = AuditLog::verify(**owner);
  ASSERT_TRUE(verified.has_value()) << verified.error().message;
  EXPECT_TRUE(verified->ok) << verified->firstProblem;
  EXPECT_GE(verified->rows, kThreads * kPerThread);
}

}  // namespace
}  // namespace erds::signer
