#include "erds/identity/http_auth.h"

#include "erds/http/problem.h"

#include "crypto_util.h"

namespace erds::identity {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> HttpAuthenticator::sessionCookie(const http::Request& request) {
  // Several Cookie fields may arrive (HTTP/2 splits them); look at each.
  for (const auto& [name, value] : request.headers) {
    if (!http::headerNameEquals(name, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim(pair.substr(0, eq)) == kSessionCookieName) return std::string(trim(pair.substr(eq + 1)));
    }
  }
  return std::nullopt;
}

std::optional<std::string> HttpAuthenticator::presentedToken(const http::Request& request) {
  if (const std::string* auth = request.header("Authorization")) {
    std::string_view v = trim(*auth);
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
      return std::string(trim(v.substr(7)));
    }
    return std::string();  // another scheme: present but unusable (never fall back to the cookie)
  }
  return sessionCookie(request);
}

Result<AuthenticatedParty> HttpAuthenticator::authenticate(const http::Request& request) const {
  const Error refused = Error::unauthorized("authentication required");
  auto token = presentedToken(request);
  if (!token || token->empty()) return refused;
  auto session = sessions_.check(*token);
  if (!session) return session.error().is(ErrorCode::Unauthorized) ? refused : session.error();
  // Before the party lookup: a client over its limit costs no further database work.
  if (http::RateDecision d = accountLimiter_->acquire(session->partyId); !d.allowed)
    return http::rateLimitedError(d.retryAfter);
  auto cached = partyOf(session->partyId);
  if (!cached) return cached.error().is(ErrorCode::NotFound) ? refused : cached.error();
  if (cached->disabled) return refused;
  AuthenticatedParty out;
  out.partyId = cached->party.id;
  out.roles = cached->party.roles;
  out.authentication = session->authentication;
  out.sessionRef = "session:" + internal::hex(session->tokenHash).substr(0, 32);
  return out;
}

Result<HttpAuthenticator::CachedParty> HttpAuthenticator::partyOf(const std::string& partyId) const {
  constexpr std::size_t kMaxEntries = 10000;
  const TimePoint now = clock_.now();
  {
    std::lock_guard lock(partyCache_->mu);
    auto it = partyCache_->entries.find(partyId);
    if (it != partyCache_->entries.end() && now - it->second.fetchedAt < kPartyCacheTtl) return it->second;
  }
  CachedParty fresh;
  auto party = accounts_.findParty(partyId, &fresh.disabled);
  if (!party) return std::move(party).error();
  fresh.party = std::move(*party);
  fresh.fetchedAt = now;
  std::lock_guard lock(partyCache_->mu);
  if (partyCache_->entries.size() >= kMaxEntries) partyCache_->entries.clear();
  partyCache_->entries[partyId] = fresh;
  return fresh;
}

void HttpAuthenticator::forgetParty(const std::string& partyId) const {
  std::lock_guard lock(partyCache_->mu);
  partyCache_->entries.erase(partyId);
}

}  // namespace erds::identity
