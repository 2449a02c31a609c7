// A bounded TTL cache of session rows (see session_cache.h for the revocation guarantees).
#include "erds/identity/session_cache.h"

#include <algorithm>

namespace erds::identity {

CachingSessionStore::CachingSessionStore(SessionStore& inner, const Clock& clock,
                                         std::chrono::milliseconds ttl, std::size_t maxEntries)
    : inner_(inner),
      clock_(clock),
      ttl_(std::clamp(ttl, std::chrono::milliseconds(0), kMaxTtl)),
      maxEntries_(std::max<std::size_t>(1, maxEntries)) {}

Result<void> CachingSessionStore::insert(const Session& s) {
  return inner_.insert(s);
}

Result<Session> CachingSessionStore::find(const std::string& tokenHash) {
  const auto now = clock_.steadyNow();
  if (ttl_.count() > 0) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(tokenHash);
    if (it != entries_.end()) {
      if (now - it->second.readAt < ttl_) return it->second.session;
      entries_.erase(it);
    }
  }
  auto found = inner_.find(tokenHash);
  if (!found || ttl_.count() == 0) return found;
  std::lock_guard lock(mu_);
  if (entries_.size() >= maxEntries_) entries_.clear();  // rare; the next reads refill it
  entries_[tokenHash] = Entry{*found, now};
  return found;
}

Result<void> CachingSessionStore::touch(const std::string& tokenHash, TimePoint lastSeenAt) {
  auto r = inner_.touch(tokenHash, lastSeenAt);
  std::lock_guard lock(mu_);
  auto it = entries_.find(tokenHash);
  if (it != entries_.end()) {
    if (r) {
      it->second.session.lastSeenAt = lastSeenAt;
    } else {
      entries_.erase(it);
    }
  }
  return r;
}

Result<void> CachingSessionStore::revoke(const std::string& tokenHash) {
  {
    // Drop first: even if the store fails, this node must not keep serving the cached row.
    std::lock_guard lock(mu_);
    entries_.erase(tokenHash);
  }
  return inner_.revoke(tokenHash);
}

Result<int> CachingSessionStore::revokeAllOf(const std::string& partyId) {
  {
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.session.partyId == partyId ? entries_.erase(it) : std::next(it);
    }
  }
  return inner_.revokeAllOf(partyId);
}

}  // namespace erds::identity
