// Sessions: 256-bit random opaque tokens handed to the client, stored only as their SHA-256, with
// idle and absolute expiry, revocation, and the level + methods of the authentication behind them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/identity/party.h"

namespace erds::identity {

struct Session {
  std::string tokenHash;  // SHA-256 of the raw 32 token bytes (32 raw bytes): the store's key
  std::string partyId;
  AuthenticationContext authentication;
  TimePoint createdAt{};
  TimePoint lastSeenAt{};
  TimePoint absoluteExpiresAt{};
  bool revoked = false;
};

// Storage port. The PostgreSQL implementation keeps one row per session keyed by token_hash, so a
// revocation is visible to every node on its next check.
class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Conflict if the hash exists (cannot happen with random tokens; checked anyway).
  virtual Result<void> insert(const Session& s) = 0;
  // NotFound if absent. Thread-safe.
  virtual Result<Session> find(const std::string& tokenHash) = 0;
  // Sets lastSeenAt (idle expiry extension). NotFound if absent.
  virtual Result<void> touch(const std::string& tokenHash, TimePoint lastSeenAt) = 0;
  // Marks revoked. NotFound if absent.
  virtual Result<void> revoke(const std::string& tokenHash) = 0;
  // Revokes every session of a party (password change, logout everywhere); returns how many.
  virtual Result<int> revokeAllOf(const std::string& partyId) = 0;
};

struct SessionPolicy {
  std::chrono::seconds idleTimeout = std::chrono::minutes(30);
  std::chrono::seconds absoluteTimeout = std::chrono::hours(12);
  // lastSeenAt is written at most this often, so most checks are a read only.
  std::chrono::seconds touchInterval = std::chrono::seconds(60);
};

struct IssuedSession {
  Secret token;     // base64url of 32 random bytes (43 characters); give to the client, never store
  Session session;
};

// Thread-safe if the store is.
class SessionManager {
 public:
  SessionManager(SessionStore& store, const Clock& clock, SessionPolicy policy = {})
      : store_(store), clock_(clock), policy_(policy) {}

  // A new session with a fresh token (never reuses a token the client presented: no fixation).
  Result<IssuedSession> create(const std::string& partyId, AuthenticationContext authentication);
  // The live session for `token`. Unauthorized (one message) when the token is malformed, unknown,
  // revoked, idle-expired or past its absolute lifetime; Unavailable on store failure.
  Result<Session> check(std::string_view token);
  // Revokes the session of `token`. Unauthorized for a malformed/unknown token.
  Result<void> revoke(std::string_view token);

  // SHA-256 of the decoded token; InvalidInput if `token` is not 43 base64url characters.
  static Result<std::string> tokenHash(std::string_view token);

 private:
  SessionStore& store_;
  const Clock& clock_;
  SessionPolicy policy_;
};

}  // namespace erds::identity
