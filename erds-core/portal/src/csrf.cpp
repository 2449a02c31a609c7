#include "csrf.h"

#include <openssl/crypto.h>

#include "erds/base/aead.h"

namespace erds::portal::internal {

namespace {
bool wellFormed(std::string_view t) {
  if (t.size() != 64) return false;
  for (char c : t)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::string> csrfCookie(const http::Request& request) {
  std::optional<std::string> found;
  for (const auto& [name, value] : request.headers) {
    if (!http::headerNameEquals(name, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim(pair.substr(0, eq)) != kCsrfCookieName) continue;
      std::string_view v = trim(pair.substr(eq + 1));
      // Two cookies of this name means someone planted one: trust neither.
      if (found) return std::nullopt;
      if (!wellFormed(v)) return std::nullopt;
      found = std::string(v);
    }
  }
  return found;
}

std::string newCsrfToken() { return crypto::toHex(crypto::randomBytes(32)); }

std::string csrfSetCookie(std::string_view token) {
  return std::string(kCsrfCookieName) + "=" + std::string(token) + "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

bool csrfValid(const http::Request& request, std::string_view submitted) {
  auto cookie = csrfCookie(request);
  if (!cookie || !wellFormed(submitted)) return false;
  if (CRYPTO_memcmp(cookie->data(), submitted.data(), cookie->size()) != 0) return false;
  if (const std::string* site = request.header("Sec-Fetch-Site")) {
    if (*site != "same-origin" && *site != "none") return false;
  }
  if (const std::string* origin = request.header("Origin")) {
    if (*origin != "null") {
      const std::string* host = request.header("Host");
      if (host == nullptr || *origin != "https://" + *host) return false;
    }
  }
  return true;
}

}  // namespace erds::portal::internal
