#include "erds/core/job_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "core_test_fixture.h"

namespace erds::core {
namespace {

using std::chrono::seconds;

class JobQueueTest : public CoreDbTest {
 protected:
  JobSpec spec(const std::string& kind = "test.kind", std::string dedupe = "") {
    JobSpec s;
    s.kind = kind;
    s.payloadJson = "{\"n\": 1}";
    s.dedupeKey = std::move(dedupe);
    return s;
  }
  int64_t enqueueCommitted(const JobQueue& q, const JobSpec& s) {
    auto lease = pool_->acquire();
    EXPECT_TRUE(lease.has_value());
    auto id = q.enqueue(**lease, s);
    EXPECT_TRUE(id.has_value()) << id.error().message;
    return id ? *id : -1;
  }
};

TEST_F(JobQueueTest, EnqueueFollowsTheCallersTransaction) {
  JobQueue q(*pool_, clock_);
  auto lease = pool_->acquire();
  ASSERT_TRUE(lease.has_value());
  ASSERT_TRUE((*lease)->begin().has_value());
  ASSERT_TRUE(q.enqueue(**lease, spec()).has_value());
  ASSERT_TRUE((*lease)->rollback().has_value());
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);
  ASSERT_TRUE((*lease)->begin().has_value());
  ASSERT_TRUE(q.enqueue(**lease, spec()).has_value());
  ASSERT_TRUE((*lease)->commit().has_value());
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 1);
}

TEST_F(JobQueueTest, ClaimLeaseCompleteAndPayload) {
  JobQueue q(*pool_, clock_, JobQueueOptions{seconds(30), seconds(5), seconds(60)});
  const int64_t id = enqueueCommitted(q, spec());
  auto got = q.claim("w1", 10);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, id);
  EXPECT_EQ((*got)[0].kind, "test.kind");
  EXPECT_EQ((*got)[0].payloadJson, "{\"n\": 1}");
  EXPECT_EQ((*got)[0].attempts, 1);
  EXPECT_EQ((*got)[0].lockedUntil, clock_.now() + seconds(30));
  // Leased: nobody else gets it.
  EXPECT_TRUE(q.claim("w2", 10)->empty());
  auto d = q.depth();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->leased, 1);
  EXPECT_EQ(d->ready, 0);
  // Another worker cannot complete it.
  auto wrong = q.complete(id, "w2");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(wrong.error().is(ErrorCode::Conflict));
  ASSERT_TRUE(q.complete(id, "w1").has_value());
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);
}

TEST_F(JobQueueTest, ExpiredLeaseIsClaimedAgainAndOldHolderLosesIt) {
  JobQueue q(*pool_, clock_, JobQueueOptions{seconds(30), seconds(5), seconds(60)});
  const int64_t id = enqueueCommitted(q, spec());
  ASSERT_EQ(q.claim("w1", 1)->size(), 1u);
  clock_.advance(seconds(31));
  auto again = q.claim("w2", 1);
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].attempts, 2);
  EXPECT_TRUE(q.complete(id, "w1").error().is(ErrorCode::Conflict));
  EXPECT_TRUE(q.complete(id, "w2").has_value());
}

TEST_F(JobQueueTest, FailBacksOffExponentiallyThenDies) {
  JobQueue q(*pool_, clock_, JobQueueOptions{seconds(30), seconds(5), seconds(60)});
  JobSpec s = spec();
  s.maxAttempts = 3;
  const int64_t id = enqueueCommitted(q, s);
  const seconds expected[] = {seconds(5), seconds(10)};
  for (const auto delay : expected) {
    auto c = q.claim("w", 1);
    ASSERT_TRUE(c.has_value());
    ASSERT_EQ(c->size(), 1u);
    ASSERT_TRUE(q.fail(id, "w", "smtp relay down").has_value());
    EXPECT_EQ(q.depth()->delayed, 1);
    clock_.advance(delay - seconds(1));
    EXPECT_TRUE(q.claim("w", 1)->empty()) << "claimed before its backoff ran out";
    clock_.advance(seconds(1));
  }
  ASSERT_EQ(q.claim("w", 1)->size(), 1u);
  ASSERT_TRUE(q.fail(id, "w", "still down").has_value());
  auto d = q.depth();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->dead, 1);
  clock_.advance(seconds(3600));
  EXPECT_TRUE(q.claim("w", 1)->empty());
  auto err = owner_->exec("SELECT last_error, attempts FROM jobs");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->get(0, 0), "still down");
  EXPECT_EQ(err->getInt(0, 1), 3);
}

TEST_F(JobQueueTest, WorkerDyingOnLastAttemptBuriesTheJob) {
  JobQueue q(*pool_, clock_, JobQueueOptions{seconds(30), seconds(5), seconds(60)});
  JobSpec s = spec();
  s.maxAttempts = 1;
  enqueueCommitted(q, s);
  ASSERT_EQ(q.claim("w", 1)->size(), 1u);
  clock_.advance(seconds(31));
  EXPECT_TRUE(q.claim("w", 1)->empty());
  EXPECT_EQ(q.depth()->dead, 1);
}

TEST_F(JobQueueTest, DelayedJobsDedupeAndKinds) {
  JobQueue q(*pool_, clock_);
  JobSpec later = spec("a");
  later.runAt = clock_.now() + seconds(100);
  enqueueCommitted(q, later);
  EXPECT_GT(enqueueCommitted(q, spec("b", "once")), 0);
  EXPECT_EQ(enqueueCommitted(q, spec("b", "once")), 0);
  auto d = q.depth();
  EXPECT_EQ(d->ready, 1);
  EXPECT_EQ(d->delayed, 1);
  EXPECT_TRUE(q.claim("w", 10, {"a"})->empty());
  clock_.advance(seconds(100));
  auto onlyA = q.claim("w", 10, {"a", "x\"y"});
  ASSERT_TRUE(onlyA.has_value()) << onlyA.error().message;
  ASSERT_EQ(onlyA->size(), 1u);
  EXPECT_EQ((*onlyA)[0].kind, "a");
}

TEST_F(JobQueueTest, ConcurrentClaimersFromTwoPoolsNeverShareAJob) {
  constexpr int kJobs = 300;
  auto pool2 = newPool(4);
  JobQueue q1(*pool_, clock_);
  JobQueue q2(*pool2, clock_);
  {
    auto lease = pool_->acquire();
    ASSERT_TRUE(lease.has_value());
    ASSERT_TRUE((*lease)->begin().has_value());
    for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(q1.enqueue(**lease, spec()).has_value());
    ASSERT_TRUE((*lease)->commit().has_value());
  }
  std::mutex mu;
  std::vector<int64_t> seen;
  std::atomic<int> errors{0};
  auto worker = [&](const JobQueue& q, const std::string& name) {
    for (;;) {
      auto got = q.claim(name, 3);
      if (!got) {
        errors++;
        return;
      }
      if (got->empty()) return;
      for (const auto& j : *got) {
        {
          std::lock_guard<std::mutex> g(mu);
          seen.push_back(j.id);
        }
        if (!q.complete(j.id, name)) errors++;
      }
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back(worker, std::cref(q1), "p1-w" + std::to_string(i));
    ts.emplace_back(worker, std::cref(q2), "p2-w" + std::to_string(i));
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<int64_t> unique(seen.begin(), seen.end());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kJobs)) << "a job was claimed twice or lost";
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(count("SELECT count(*) FROM jobs"), 0);
}

}  // namespace
}  // namespace erds::core
