// Application tokens: high-entropy secrets a party creates in a strongly authenticated web session
// for one scope (today "smtp-submit": SMTP AUTH in place of a password, or of the client
// certificate in qualified mode when policy allows), stored only as a keyed hash.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/identity/party.h"

namespace erds::identity {

// "erds_at_" + base64url(32 random bytes) (43 characters): 256 bits, so a keyed hash is enough to
// store it (no Argon2: nothing to guess) and it can be looked up by its hash.
inline constexpr std::string_view kAppTokenPrefix = "erds_at_";
inline constexpr std::size_t kAppTokenLength = 8 + 43;
// Scopes: lower-case names; a token is valid for exactly one.
inline constexpr std::string_view kScopeSmtpSubmit = "smtp-submit";
// HKDF-SHA256 info label of the token hashing key.
inline constexpr std::string_view kAppTokenKeyInfo = "erds app token key v1";

struct AppToken {
  std::string id;  // "apt_" + 32 hex characters; not secret
  std::string partyId;
  std::string name;  // 1..100 characters, the user's label ("laptop Thunderbird")
  std::string scope;
  std::string tokenHash;  // HMAC-SHA256(hash key, token): 32 raw bytes, the lookup key
  // The authentication of the session that created the token (methods, level, time).
  AuthenticationContext createdWith;
  std::string createdSession;  // "session:<hex prefix>" of the creating session (audit)
  TimePoint createdAt{};
  TimePoint expiresAt{};
  std::optional<TimePoint> lastUsedAt;
  std::optional<TimePoint> revokedAt;
};

// Storage port. PostgresAppTokenStore (below) keeps the app_tokens table of migration 0007; the
// in-memory fake is in identity/testing. Every call is thread-safe.
class AppTokenStore {
 public:
  virtual ~AppTokenStore() = default;
  // Conflict if the id or hash exists.
  virtual Result<void> insert(const AppToken& t) = 0;
  // All of a party's tokens (revoked and expired ones too), newest first.
  virtual Result<std::vector<AppToken>> listOf(const std::string& partyId) = 0;
  // NotFound if no token has this hash.
  virtual Result<AppToken> findByHash(const std::string& tokenHash) = 0;
  // Sets revokedAt. NotFound if `id` is not `partyId`'s or is already revoked.
  virtual Result<void> revoke(const std::string& partyId, const std::string& id, TimePoint now) = 0;
  // Sets lastUsedAt. NotFound if absent.
  virtual Result<void> touch(const std::string& id, TimePoint now) = 0;
};

// The app_tokens table (migration 0007) as the daemon role. Thread-safe (a connection per call).
class PostgresAppTokenStore final : public AppTokenStore {
 public:
  explicit PostgresAppTokenStore(pg::Pool& pool) : pool_(pool) {}
  Result<void> insert(const AppToken& t) override;
  Result<std::vector<AppToken>> listOf(const std::string& partyId) override;
  Result<AppToken> findByHash(const std::string& tokenHash) override;
  Result<void> revoke(const std::string& partyId, const std::string& id, TimePoint now) override;
  Result<void> touch(const std::string& id, TimePoint now) override;

 private:
  pg::Pool& pool_;
};

struct AppTokenPolicy {
  std::chrono::seconds defaultLifetime{std::chrono::hours(24 * 90)};
  std::chrono::seconds maxLifetime{std::chrono::hours(24 * 365)};
  std::chrono::seconds minLifetime{std::chrono::hours(1)};
  int maxActivePerParty = 20;
  // lastUsedAt is written at most this often per token.
  std::chrono::seconds touchInterval{std::chrono::seconds(60)};
};

struct IssuedAppToken {
  Secret token;  // give to the user once; never stored or logged
  AppToken record;
};

// Whether application tokens are accepted for SMTP submission, from identity.smtp_app_tokens:
// "true"/"false" as set; "" = allowed in development and basic mode, NOT in qualified mode (there
// they may only be turned on explicitly, as EN 319 522-1 5.2.2-03 allows "if the policy table
// allows it").
bool smtpAppTokensAllowed(const Config& config);

// Thread-safe if the store is.
class AppTokenManager {
 public:
  // `hashKey` (deriveHashKey of the KEK) keys the stored hashes: every process that creates or
  // checks tokens must use the same key. `store` and `clock` must outlive the manager.
  AppTokenManager(AppTokenStore& store, const Clock& clock, Secret hashKey,
                  AppTokenPolicy policy = {})
      : store_(store), clock_(clock), hashKey_(std::move(hashKey)), policy_(policy) {}

  // HKDF-SHA256(ikm = KEK, no salt, info = kAppTokenKeyInfo), 32 bytes. `kek` is 32 raw bytes or
  // 64 hex characters (both forms of one KEK give one key). InvalidInput otherwise.
  static Result<Secret> deriveHashKey(const Secret& kek);
  // True iff `s` has the token format (prefix + 43 base64url characters). Says nothing about
  // validity; lets a caller route a credential without a database round trip.
  static bool looksLikeToken(std::string_view s);

  // A new token of `partyId` for `scope`, valid `lifetime` (default policy.defaultLifetime).
  // The creating session must be strong (creator.strong(): multi-factor or certificate), else
  // Unauthorized. InvalidInput: empty/overlong name or control characters, unknown scope, lifetime
  // outside [minLifetime, maxLifetime]. Conflict: maxActivePerParty live tokens already.
  Result<IssuedAppToken> create(const std::string& partyId, std::string_view name,
                                std::string_view scope,
                                std::optional<std::chrono::seconds> lifetime,
                                const AuthenticationContext& creator,
                                const std::string& sessionRef);

  // The live token for `token` and `scope`; records its use (lastUsedAt, at most every
  // touchInterval). Unauthorized (one message) for a malformed, unknown, revoked or expired token
  // or another scope; `*found` (if given) is set to the record whenever the hash matched, so the
  // caller can audit a refusal against its party. Unavailable on store failure.
  Result<AppToken> verify(std::string_view token, std::string_view scope,
                          std::optional<AppToken>* found = nullptr);

  Result<std::vector<AppToken>> list(const std::string& partyId) { return store_.listOf(partyId); }
  // NotFound if `id` is not one of `partyId`'s live tokens.
  Result<void> revoke(const std::string& partyId, const std::string& id) {
    return store_.revoke(partyId, id, clock_.now());
  }

  // HMAC-SHA256(hashKey, token).
  std::string hashOf(std::string_view token) const;

  // The authentication a use of `t` at `usedAt` stands for (evidence I10): methods
  // ApplicationToken followed by the creating session's methods (e.g. application_token +
  // password_totp: strong, because the token was created in a multi-factor session); level the
  // creating session's, at most substantial (a bearer secret proves no more); time `usedAt`.
  static AuthenticationContext authenticationOf(const AppToken& t, TimePoint usedAt);

  static bool knownScope(std::string_view scope);

 private:
  AppTokenStore& store_;
  const Clock& clock_;
  Secret hashKey_;
  AppTokenPolicy policy_;
};

}  // namespace erds::identity
