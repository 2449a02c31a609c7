// CachingSessionStore over the in-memory store: hits within the TTL, expiry after it, local
// revocation at once, remote revocation within the TTL, NotFound never cached.
#include "erds/identity/session_cache.h"

#include <gtest/gtest.h>

#include "erds/identity/testing/in_memory_session_store.h"

#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

// Counts find() calls reaching the inner store.
class CountingStore final : public SessionStore {
 public:
  Result<void> insert(const Session& s) override { return inner.insert(s); }
  Result<Session> find(const std::string& h) override {
    ++finds;
    return inner.find(h);
  }
  Result<void> touch(const std::string& h, TimePoint t) override { return inner.touch(h, t); }
  Result<void> revoke(const std::string& h) override { return inner.revoke(h); }
  Result<int> revokeAllOf(const std::string& p) override { return inner.revokeAllOf(p); }
  testing::InMemorySessionStore inner;
  int finds = 0;
};

Session session(const std::string& hash, const std::string& party) {
  Session s;
  s.tokenHash = hash;
  s.partyId = party;
  s.createdAt = s.lastSeenAt = TimePoint(std::chrono::seconds(1'800'000'000));
  s.absoluteExpiresAt = s.createdAt + 1h;
  return s;
}

class SessionCacheTest : public ::testing::Test {
 protected:
  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  CountingStore inner_;
};

TEST_F(SessionCacheTest, HitsWithinTtlAndRereadsAfter) {
  CachingSessionStore cache(inner_, clock_, 5s);
  ASSERT_TRUE(cache.insert(session("h1", "p1")).has_value());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(cache.find("h1").has_value());
  EXPECT_EQ(inner_.finds, 1);
  clock_.advance(5s);
  ASSERT_TRUE(cache.find("h1").has_value());
  EXPECT_EQ(inner_.finds, 2);
}

TEST_F(SessionCacheTest, NotFoundIsNeverCached) {
  CachingSessionStore cache(inner_, clock_, 5s);
  EXPECT_FALSE(cache.find("h2").has_value());
  ASSERT_TRUE(inner_.insert(session("h2", "p1")).has_value());  // created by another node
  EXPECT_TRUE(cache.find("h2").has_value());
}

TEST_F(SessionCacheTest, LocalRevocationIsImmediate) {
  CachingSessionStore cache(inner_, clock_, 5s);
  ASSERT_TRUE(cache.insert(session("h1", "p1")).has_value());
  ASSERT_TRUE(cache.insert(session("h2", "p1")).has_value());
  ASSERT_TRUE(cache.find("h1").has_value());
  ASSERT_TRUE(cache.find("h2").has_value());
  ASSERT_TRUE(cache.revoke("h1").has_value());
  auto s = cache.find("h1");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->revoked);
  ASSERT_TRUE(cache.revokeAllOf("p1").has_value());
  s = cache.find("h2");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->revoked);
}

TEST_F(SessionCacheTest, RemoteRevocationVisibleWithinTtl) {
  CachingSessionStore cache(inner_, clock_, 5s);
  ASSERT_TRUE(cache.insert(session("h1", "p1")).has_value());
  ASSERT_TRUE(cache.find("h1").has_value());
  ASSERT_TRUE(inner_.revoke("h1").has_value());  // another node
  clock_.advance(4900ms);
  EXPECT_FALSE(cache.find("h1")->revoked);  // still within the documented window
  clock_.advance(100ms);
  EXPECT_TRUE(cache.find("h1")->revoked);
}

TEST_F(SessionCacheTest, TtlIsClampedAndZeroDisables) {
  CachingSessionStore longer(inner_, clock_, 60s);
  EXPECT_EQ(longer.ttl(), CachingSessionStore::kMaxTtl);
  CachingSessionStore off(inner_, clock_, 0ms);
  ASSERT_TRUE(off.insert(session("h1", "p1")).has_value());
  ASSERT_TRUE(off.find("h1").has_value());
  ASSERT_TRUE(off.find("h1").has_value());
  EXPECT_EQ(inner_.finds, 2);
}

TEST_F(SessionCacheTest, TouchUpdatesTheCachedRow) {
  CachingSessionStore cache(inner_, clock_, 5s);
  ASSERT_TRUE(cache.insert(session("h1", "p1")).has_value());
  ASSERT_TRUE(cache.find("h1").has_value());
  const TimePoint later = TimePoint(std::chrono::seconds(1'800'000'100));
  ASSERT_TRUE(cache.touch("h1", later).has_value());
  EXPECT_EQ(cache.find("h1")->lastSeenAt, later);
  EXPECT_EQ(inner_.finds, 1);
}

}  // namespace
}  // namespace erds::identity
