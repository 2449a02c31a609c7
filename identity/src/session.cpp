#include "erds/identity/session.h"

#include "crypto_util.h"

namespace erds::identity {
namespace {
constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kTokenChars = 43;  // unpadded base64url of 32 bytes
}  // namespace

Result<std::string> SessionManager::tokenHash(std::string_view token) {
  if (token.size() != kTokenChars) return Error::invalidInput("malformed session token");
  auto raw = internal::base64UrlDecode(token);
  if (!raw || raw->size() != kTokenBytes) return Error::invalidInput("malformed session token");
  return internal::sha256(*raw);
}

Result<IssuedSession> SessionManager::create(const std::string& partyId, AuthenticationContext authentication) {
  if (partyId.empty()) return Error::invalidInput("session without a party");
  std::string raw = internal::randomBytes(kTokenBytes);
  IssuedSession out;
  out.token = Secret(internal::base64UrlEncode(raw));
  const TimePoint now = clock_.now();
  out.session.tokenHash = internal::sha256(raw);
  out.session.partyId = partyId;
  out.session.authentication = std::move(authentication);
  if (out.session.authentication.at == TimePoint{}) out.session.authentication.at = now;
  out.session.createdAt = now;
  out.session.lastSeenAt = now;
  out.session.absoluteExpiresAt = now + std::chrono::duration_cast<std::chrono::microseconds>(policy_.absoluteTimeout);
  ERDS_RETURN_IF_ERROR(store_.insert(out.session));
  return out;
}

Result<Session> SessionManager::check(std::string_view token) {
  const Error refused = Error::unauthorized("session invalid or expired");
  auto hash = tokenHash(token);
  if (!hash) return refused;
  auto s = store_.find(*hash);
  if (!s) return s.error().is(ErrorCode::NotFound) ? refused : s.error();
  const TimePoint now = clock_.now();
  if (s->revoked || now >= s->absoluteExpiresAt || now - s->lastSeenAt >= policy_.idleTimeout) return refused;
  if (now - s->lastSeenAt >= policy_.touchInterval) {
    auto t = store_.touch(*hash, now);
    if (!t) return t.error().is(ErrorCode::NotFound) ? refused : t.error();
    s->lastSeenAt = now;
  }
  return s;
}

Result<void> SessionManager::revoke(std::string_view token) {
  auto hash = tokenHash(token);
  if (!hash) return Error::unauthorized("session invalid or expired");
  auto r = store_.revoke(*hash);
  if (!r && r.error().is(ErrorCode::NotFound)) return Error::unauthorized("session invalid or expired");
  return r;
}

}  // namespace erds::identity
