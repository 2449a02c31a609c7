// In-memory SessionStore for tests and the session-check benchmark (identity/testing).
#pragma once

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "erds/identity/session.h"

namespace erds::identity::testing {

class InMemorySessionStore final : public SessionStore {
 public:
  Result<void> insert(const Session& s) override {
    std::unique_lock lock(mu_);
    if (!sessions_.emplace(s.tokenHash, s).second) return Error::conflict("session exists");
    return ok();
  }
  Result<Session> find(const std::string& tokenHash) override {
    std::shared_lock lock(mu_);
    auto it = sessions_.find(tokenHash);
    if (it == sessions_.end()) return Error::notFound("no such session");
    return it->second;
  }
  Result<void> touch(const std::string& tokenHash, TimePoint lastSeenAt) override {
    std::unique_lock lock(mu_);
    auto it = sessions_.find(tokenHash);
    if (it == sessions_.end()) return Error::notFound("no such session");
    it->second.lastSeenAt = lastSeenAt;
    return ok();
  }
  Result<void> revoke(const std::string& tokenHash) override {
    std::unique_lock lock(mu_);
    auto it = sessions_.find(tokenHash);
    if (it == sessions_.end()) return Error::notFound("no such session");
    it->second.revoked = true;
    return ok();
  }
  Result<int> revokeAllOf(const std::string& partyId) override {
    std::unique_lock lock(mu_);
    int n = 0;
    for (auto& [hash, s] : sessions_) {
      if (s.partyId == partyId && !s.revoked) {
        s.revoked = true;
        ++n;
      }
    }
    return n;
  }

 private:
  std::shared_mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
};

}  // namespace erds::identity::testing
