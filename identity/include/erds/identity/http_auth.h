// The authentication helper every HTTP component uses: request -> authenticated party (with its
// current roles) + session level + methods, or Unauthorized. Tokens come from
// "Authorization: Bearer <token>" or the erds_session cookie.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
// in this process at once) and reads the party row (disabled accounts and role changes at once).
//
// Per-account rate limit: every authenticated request takes a token from its party's bucket
// (http.rate_per_account_per_second / http.rate_account_burst, see kDefaultAccountRateLimit);
// over it, authenticate() returns http::rateLimitedError(), which the HTTP dispatcher answers with
// 429 Too Many Requests and Retry-After. Buckets are bounded (http::KeyedRateLimiter).
inline constexpr http::RateLimit kDefaultAccountRateLimit{1000, 2000};

class HttpAuthenticator {
 public:
  // `clock` must outlive the authenticator.
  HttpAuthenticator(SessionManager& sessions, AccountStore& accounts,
                    http::RateLimit accountLimit = kDefaultAccountRateLimit,
                    const Clock& clock = SystemClock::instance())
      : sessions_(sessions),
        accounts_(accounts),
        accountLimiter_(std::make_unique<http::KeyedRateLimiter>(accountLimit, clock)) {}

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

 private:
  SessionManager& sessions_;
  AccountStore& accounts_;
  std::unique_ptr<http::KeyedRateLimiter> accountLimiter_;
};

}  // namespace erds::identity
