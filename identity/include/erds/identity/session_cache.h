// CachingSessionStore: a short-lived (<= 5 s) in-process cache in front of a SessionStore, so that
// checking a session on every request usually costs no database round trip. A revocation made
// through this cache is seen at once on this node and within the TTL on every other node.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "erds/base/clock.h"
#include "erds/identity/session.h"

namespace erds::identity {

// Decorates `inner` (which must outlive it). find() answers from the cache when the entry was
// read from `inner` less than `ttl` ago (ttl is clamped to 0..5 s; 0 disables caching); NotFound
// answers are never cached, so a new session is usable at once on every node. insert, touch,
// revoke and revokeAllOf go to `inner` first and then update or drop the cached entries, so this
// node never serves a session it revoked. At most `maxEntries` are kept (the cache is cleared when
// full). Thread-safe if `inner` is.
class CachingSessionStore final : public SessionStore {
 public:
  static constexpr std::chrono::milliseconds kMaxTtl{5000};

  CachingSessionStore(SessionStore& inner, const Clock& clock,
                      std::chrono::milliseconds ttl = kMaxTtl, std::size_t maxEntries = 100000);

  Result<void> insert(const Session& s) override;
  Result<Session> find(const std::string& tokenHash) override;
  Result<void> touch(const std::string& tokenHash, TimePoint lastSeenAt) override;
  Result<void> revoke(const std::string& tokenHash) override;
  Result<int> revokeAllOf(const std::string& partyId) override;

  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  struct Entry {
    Session session;
    std::chrono::steady_clock::time_point readAt;
  };
  SessionStore& inner_;
  const Clock& clock_;
  std::chrono::milliseconds ttl_;
  std::size_t maxEntries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace erds::identity
