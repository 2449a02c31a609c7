// Application tokens: creation (strong sessions only), verification by keyed hash, and the
// PostgreSQL store of migration 0007_app_tokens.
#include "erds/identity/app_token.h"

#include <algorithm>
#include <sstream>

#include "erds/base/aead.h"

#include "crypto_util.h"
#include "pg_util.h"

namespace erds::identity {
namespace {

using namespace internal;
using pg::Param;

bool isBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

const std::string kColumns = "id, party_id, name, scope, token_hash, auth_methods, auth_level, " +
                             micros("auth_at") + ", created_session, " + micros("created_at") +
                             ", " + micros("expires_at") + ", " + micros("last_used_at") + ", " +
                             micros("revoked_at");

AppToken fromRow(const pg::QueryResult& q, int row) {
  AppToken t;
  t.id = q.get(row, 0);
  t.partyId = q.get(row, 1);
  t.name = q.get(row, 2);
  t.scope = q.get(row, 3);
  t.tokenHash = q.getBytea(row, 4);
  t.createdWith.methods = splitMethods(q.get(row, 5));
  auto level = parseLevel(q.get(row, 6));
  t.createdWith.level = level ? *level : LevelOfAssurance::None;
  t.createdWith.at = fromMicros(q.getInt(row, 7));
  t.createdSession = q.get(row, 8);
  t.createdAt = fromMicros(q.getInt(row, 9));
  t.expiresAt = fromMicros(q.getInt(row, 10));
  if (!q.isNull(row, 11)) t.lastUsedAt = fromMicros(q.getInt(row, 11));
  if (!q.isNull(row, 12)) t.revokedAt = fromMicros(q.getInt(row, 12));
  return t;
}

}  // namespace

bool smtpAppTokensAllowed(const Config& config) {
  const std::string v = config.getString("identity.smtp_app_tokens");
  if (v.empty()) return config.mode() != ServiceMode::Qualified;
  return v == "true";
}

Result<Secret> AppTokenManager::deriveHashKey(const Secret& kek) { return keyFromKek(kek, kAppTokenKeyInfo); }

bool AppTokenManager::looksLikeToken(std::string_view s) {
  if (s.size() != kAppTokenLength || s.substr(0, kAppTokenPrefix.size()) != kAppTokenPrefix)
    return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(kAppTokenPrefix.size()), s.end(),
                     isBase64Url);
}

bool AppTokenManager::knownScope(std::string_view scope) {
  return scope == kScopeSmtpSubmit;
}

std::string AppTokenManager::hashOf(std::string_view token) const {
  return hmac("SHA256", hashKey_.reveal(), token);
}

Result<IssuedAppToken> AppTokenManager::create(const std::string& partyId, std::string_view name,
                                               std::string_view scope,
                                               std::optional<std::chrono::seconds> lifetime,
                                               const AuthenticationContext& creator,
                                               const std::string& sessionRef) {
  if (!creator.strong())
    return Error::unauthorized(
        "application tokens can only be created after a sign-in with a second factor or a "
        "certificate");
  if (name.empty() || name.size() > 100)
    return Error::invalidInput("\"name\" must be 1..100 characters");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      return Error::invalidInput("\"name\" must not contain control characters");
  }
  if (!knownScope(scope))
    return Error::invalidInput("unknown scope \"" + std::string(scope.substr(0, 32)) + "\"");
  const std::chrono::seconds life = lifetime.value_or(policy_.defaultLifetime);
  if (life < policy_.minLifetime || life > policy_.maxLifetime)
    return Error::invalidInput("\"expires_in\" must be " +
                               std::to_string(policy_.minLifetime.count()) + ".." +
                               std::to_string(policy_.maxLifetime.count()) + " seconds");
  auto existing = store_.listOf(partyId);
  if (!existing) return existing.error();
  const TimePoint now = clock_.now();
  const auto live = std::count_if(existing->begin(), existing->end(), [&](const AppToken& t) {
    return !t.revokedAt && t.expiresAt > now;
  });
  if (live >= policy_.maxActivePerParty)
    return Error::conflict("at most " + std::to_string(policy_.maxActivePerParty) +
                           " live application tokens; revoke one first");

  IssuedAppToken out;
  out.token = Secret(std::string(kAppTokenPrefix) + base64UrlEncode(randomBytes(32)));
  AppToken& t = out.record;
  t.id = "apt_" + hex(randomBytes(16));
  t.partyId = partyId;
  t.name = std::string(name);
  t.scope = std::string(scope);
  t.tokenHash = hashOf(out.token.reveal());
  t.createdWith = creator;
  t.createdSession = sessionRef;
  t.createdAt = now;
  t.expiresAt = now + std::chrono::duration_cast<std::chrono::microseconds>(life);
  ERDS_RETURN_IF_ERROR(store_.insert(t));
  return out;
}

Result<AppToken> AppTokenManager::verify(std::string_view token, std::string_view scope,
                                         std::optional<AppToken>* found) {
  const Error refused = Error::unauthorized("invalid application token");
  if (!looksLikeToken(token)) return refused;
  auto t = store_.findByHash(hashOf(token));
  if (!t) {
    if (t.error().is(ErrorCode::NotFound)) return refused;
    return t.error();
  }
  if (found != nullptr) *found = *t;
  const TimePoint now = clock_.now();
  // The lookup was by hash; the comparison is repeated in constant time for defence in depth.
  if (!constantTimeEquals(t->tokenHash, hashOf(token))) return refused;
  if (t->revokedAt || now >= t->expiresAt || t->scope != scope) return refused;
  if (!t->lastUsedAt || now - *t->lastUsedAt >= policy_.touchInterval) {
    // A failed touch only loses the "last used" hint; the token was valid.
    if (store_.touch(t->id, now)) t->lastUsedAt = now;
  }
  return std::move(t).value();
}

AuthenticationContext AppTokenManager::authenticationOf(const AppToken& t, TimePoint usedAt) {
  AuthenticationContext a;
  a.methods.push_back(AuthenticationMethod::ApplicationToken);
  for (AuthenticationMethod m : t.createdWith.methods) {
    if (std::find(a.methods.begin(), a.methods.end(), m) == a.methods.end()) a.methods.push_back(m);
  }
  a.level = std::min(t.createdWith.level, LevelOfAssurance::Substantial);
  a.at = usedAt;
  return a;
}

// ---- PostgreSQL ----

Result<void> PostgresAppTokenStore::insert(const AppToken& t) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_app_token_insert",
      "INSERT INTO app_tokens (id, party_id, name, scope, token_hash, auth_methods, auth_level, "
      "auth_at, "
      "created_session, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
      "$11)",
      {Param::text(t.id), Param::text(t.partyId), Param::text(t.name), Param::text(t.scope),
       Param::bytes(t.tokenHash), Param::text(joinMethods(t.createdWith.methods)),
       Param::text(std::string(levelName(t.createdWith.level))), timeParam(t.createdWith.at),
       Param::text(t.createdSession), timeParam(t.createdAt), timeParam(t.expiresAt)});
  if (!q) return q.error();
  return ok();
}

Result<std::vector<AppToken>> PostgresAppTokenStore::listOf(const std::string& partyId) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_app_token_list",
      "SELECT " + kColumns + " FROM app_tokens WHERE party_id = $1 ORDER BY created_at DESC, id",
      {Param::text(partyId)});
  if (!q) return q.error();
  std::vector<AppToken> out;
  for (int i = 0; i < q->rows(); ++i)
    out.push_back(fromRow(*q, i));
  return out;
}

Result<AppToken> PostgresAppTokenStore::findByHash(const std::string& tokenHash) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_app_token_find",
                                  "SELECT " + kColumns + " FROM app_tokens WHERE token_hash = $1",
                                  {Param::bytes(tokenHash)});
  if (!q) return q.error();
  if (q->rows() == 0) return Error::notFound("no such application token");
  return fromRow(*q, 0);
}

Result<void> PostgresAppTokenStore::revoke(const std::string& partyId, const std::string& id,
                                           TimePoint now) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared("identity_app_token_revoke",
                                  "UPDATE app_tokens SET revoked_at = $3 WHERE id = $1 AND "
                                  "party_id = $2 AND revoked_at IS NULL",
                                  {Param::text(id), Param::text(partyId), timeParam(now)});
  if (!q) return q.error();
  if (q->affectedRows() != 1) return Error::notFound("no such application token");
  return ok();
}

Result<void> PostgresAppTokenStore::touch(const std::string& id, TimePoint now) {
  auto lease = pool_.acquire();
  if (!lease) return lease.error();
  auto q = (*lease)->execPrepared(
      "identity_app_token_touch",
      "UPDATE app_tokens SET last_used_at = greatest(coalesce(last_used_at, $2), $2) WHERE id = $1",
      {Param::text(id), timeParam(now)});
  if (!q) return q.error();
  if (q->affectedRows() != 1) return Error::notFound("no such application token");
  return ok();
}

}  // namespace erds::identity
