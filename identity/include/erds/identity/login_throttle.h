// Login rate limiting and temporary lockout, consulted BEFORE any Argon2 work: per login identifier
// and per client IP, N failures within a window lock the key for T, doubling with each lockout.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds::identity {

// Counters for one throttle key.
struct ThrottleState {
  int failures = 0;          // failures since windowStart
  int lockouts = 0;          // consecutive lockouts (drives the exponential back-off)
  TimePoint windowStart{};
  TimePoint lastFailure{};
  TimePoint lockedUntil{};   // epoch = not locked
};

// HKDF-SHA256 info label of the identifier hashing key (issue 4 item 7: keyed hashes).
inline constexpr std::string_view kIdentifierKeyInfo = "erds identifier key v1";

// Storage port. Keys are opaque ("id:<hmac-sha256 hex>", "ip:<address>"). Implementations: the in-memory
// fake (identity/testing) and, next, PostgreSQL (row per key, SELECT ... FOR UPDATE).
class ThrottleStore {
 public:
  virtual ~ThrottleStore() = default;
  // The state of `key`; a default ThrottleState when unknown. Unavailable on storage failure.
  virtual Result<ThrottleState> load(const std::string& key) = 0;
  // Atomically replaces the state of `key` by fn(current) and returns the new state. Thread-safe;
  // concurrent updates of one key are serialised. `fn` must be pure.
  virtual Result<ThrottleState> update(const std::string& key,
                                       const std::function<ThrottleState(const ThrottleState&)>& fn) = 0;
  // Forgets `key` (after a successful login).
  virtual Result<void> reset(const std::string& key) = 0;
};

struct LockoutRule {
  int maxFailures = 5;                                  // failures within `window` that lock
  std::chrono::seconds window = std::chrono::minutes(15);
  std::chrono::seconds baseLockout = std::chrono::minutes(1);
  std::chrono::seconds maxLockout = std::chrono::hours(1);
  std::chrono::seconds forgetAfter = std::chrono::hours(24);  // quiet time that resets lockouts
};

struct ThrottlePolicy {
  LockoutRule perIdentifier;                            // 5 failures -> 1 min, 2, 4, ... 60 min
  LockoutRule perIp{20, std::chrono::minutes(15), std::chrono::minutes(1), std::chrono::hours(1),
                    std::chrono::hours(24)};
};

struct ThrottleDecision {
  bool allowed = true;
  std::chrono::seconds retryAfter{0};  // when !allowed
};

// Thread-safe if the store is. Does no I/O itself besides the store.
class LoginThrottle {
 public:
  // `identifierHashKey` (from deriveIdentifierHashKey) keys identifierKey(). Every process sharing
  // the throttle table must pass the same key, or their per-identifier counters diverge.
  LoginThrottle(ThrottleStore& store, const Clock& clock, Secret identifierHashKey, ThrottlePolicy policy = {})
      : store_(store), clock_(clock), policy_(policy), identifierHashKey_(std::move(identifierHashKey)) {}

  // Call before verifying a password. Denied while the identifier or the IP is locked; the
  // caller answers exactly as for a wrong password (no user enumeration). Unavailable on store failure
  // (callers must then refuse the login: fail closed).
  Result<ThrottleDecision> check(std::string_view identifier, std::string_view ip);
  // Counts a failed attempt for both keys; may start a lockout.
  Result<void> recordFailure(std::string_view identifier, std::string_view ip);
  // Clears the identifier's counters. The IP's are kept: one valid account must not let an
  // attacker reset the per-IP limit.
  Result<void> recordSuccess(std::string_view identifier);

  // The store key for an identifier, also logged as `identifier_key` in audit records:
  // "id:" + hex HMAC-SHA256(identifierHashKey, lower-case identifier). Stable for one key, so the
  // throttle table and the audit log hold no addresses, and a guessed address cannot be tested
  // against them without the KEK. Pure; thread-safe.
  std::string identifierKey(std::string_view identifier) const;
  static std::string identifierKey(const Secret& identifierHashKey, std::string_view identifier);
  // The identifier hashing key: HKDF-SHA256(ikm = KEK, no salt, info = kIdentifierKeyInfo), 32
  // bytes. `kek` is 32 raw bytes or 64 hex characters (the same KEK in either form gives the same
  // key, as crypto::KeyEncryptionKey::fromSecret). InvalidInput otherwise (the KEK is never echoed).
  static Result<Secret> deriveIdentifierHashKey(const Secret& kek);
  static std::string ipKey(std::string_view ip);
  // Pure transition used by recordFailure (exposed for tests).
  static ThrottleState afterFailure(const ThrottleState& s, const LockoutRule& rule, TimePoint now);

 private:
  ThrottleStore& store_;
  const Clock& clock_;
  ThrottlePolicy policy_;
  Secret identifierHashKey_;  // HMAC key of identifierKey()
};

}  // namespace erds::identity
