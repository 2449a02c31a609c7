// The authentication helper every HTTP component uses: request -> authenticated party (with its
// current roles) + session level + methods, or Unauthorized. Tokens come from
// "Authorization: Bearer <token>" or the erds_session cookie.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "erds/base/result.h"
#include "erds/base/clock.h"
#include "erds/http/message.h"
#include "erds/http/rate_limiter.h"
#include "erds/identity/account_store.h"
#include "erds/identity/party.h"
#include "erds/identity/session.h"

namespace erds::identity {

inline constexpr std::string_view kSessionCookieName = "erds_session";

struct AuthenticatedParty {
  std::string partyId;
  RoleSet roles;                          // read from the store on every request (role changes apply at once)
  AuthenticationContext authentication;   // level + methods of the login behind the session
  std::string sessionRef;                 // "session:<hex prefix of the token hash>", for audit records
};

// Thread-safe if the stores are. Every call checks the session through the SessionManager's store
// (in erdsd a CachingSessionStore: a revocation on another node is refused within 5 s, one made
// in this process at once) and the party row, which it keeps for up to kPartyCacheTtl: a role
// change or a disabled account made through this process (forgetParty) applies at once, one made
// by another node or by erdsctl within kPartyCacheTtl.
//
// Per-account rate limit: every authenticated request takes a token from its party's bucket
// (http.rate_per_account_per_second / http.rate_account_burst, see kDefaultAccountRateLimit);
// over it, authenticate() returns http::rateLimitedError(), which the HTTP dispatcher answers with
// 429 Too Many Requests and Retry-After. Buckets are bounded (http::KeyedRateLimiter).
inline constexpr http::RateLimit kDefaultAccountRateLimit{1000, 2000};
inline constexpr std::chrono::milliseconds kPartyCacheTtl{1000};

class HttpAuthenticator {
 public:
  // `clock` must outlive the authenticator.
  HttpAuthenticator(SessionManager& sessions, AccountStore& accounts,
                    http::RateLimit accountLimit = kDefaultAccountRateLimit,
                    const Clock& clock = SystemClock::instance())
      : sessions_(sessions),
        accounts_(accounts),
        clock_(clock),
        accountLimiter_(std::make_unique<http::KeyedRateLimiter>(accountLimit, clock)),
        partyCache_(std::make_unique<PartyCache>()) {}

  // Unauthorized (one message: "authentication required") for a missing, malformed, unknown,
  // revoked or expired token, or a disabled or deleted party. Unavailable when the store fails.
  // http::rateLimitedError() (Unavailable carrying the Retry-After) when the party is over its
  // rate limit; the session is checked first, so unauthenticated requests never consume a token.
  // A bearer token takes precedence over the cookie.
  Result<AuthenticatedParty> authenticate(const http::Request& request) const;

  // The token the request presents (Bearer header first, then the erds_session cookie); nullopt
  // if none. Does not validate it.
  static std::optional<std::string> presentedToken(const http::Request& request);
  // The erds_session cookie value, if any.
  static std::optional<std::string> sessionCookie(const http::Request& request);

  // Drops the cached party row (after a role change or disabling made in this process).
  void forgetParty(const std::string& partyId) const;

 private:
  struct CachedParty {
    Party party;
    bool disabled = false;
    TimePoint fetchedAt{};
  };
  struct PartyCache {
    std::mutex mu;
    std::unordered_map<std::string, CachedParty> entries;  // bounded: cleared when too large
  };
  // The party row, from the cache if younger than kPartyCacheTtl.
  Result<CachedParty> partyOf(const std::string& partyId) const;

  SessionManager& sessions_;
  AccountStore& accounts_;
  const Clock& clock_;
  std::unique_ptr<http::KeyedRateLimiter> accountLimiter_;
  std::unique_ptr<PartyCache> partyCache_;
};

}  // namespace erds::identity
