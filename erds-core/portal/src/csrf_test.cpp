#include "csrf.h"

#include <gtest/gtest.h>

namespace erds::portal::internal {
namespace {

http::Request withCookie(const std::string& cookie) {
  http::Request r;
  r.method = "POST";
  r.headers.emplace_back("Host", "portal.example.test:8443");
  if (!cookie.empty()) r.headers.emplace_back("Cookie", cookie);
  return r;
}

TEST(Csrf, FreshTokensAreDistinctHex) {
  std::string a = newCsrfToken(), b = newCsrfToken();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
  auto r = withCookie(std::string(kCsrfCookieName) + "=" + a);
  ASSERT_TRUE(csrfCookie(r));
  EXPECT_EQ(*csrfCookie(r), a);
}

TEST(Csrf, SetCookieIsHostPrefixedSecureHttpOnlyStrict) {
  std::string c = csrfSetCookie("ab");
  EXPECT_EQ(c.rfind("__Host-erds_csrf=ab;", 0), 0u);
  EXPECT_NE(c.find("Secure"), std::string::npos);
  EXPECT_NE(c.find("HttpOnly"), std::string::npos);
  EXPECT_NE(c.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(c.find("Path=/"), std::string::npos);
  EXPECT_EQ(c.find("Domain"), std::string::npos);
}

TEST(Csrf, ValidationTable) {
  const std::string t = newCsrfToken();
  const std::string other = newCsrfToken();
  const std::string cookie = std::string(kCsrfCookieName) + "=" + t;
  struct Case {
    std::string name;
    std::string cookie;
    std::string submitted;
    std::vector<std::pair<std::string, std::string>> extra;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"matching", "erds_session=x; " + cookie, t, {}, true},
      {"same-origin fetch metadata", cookie, t, {{"Sec-Fetch-Site", "same-origin"}, {"Origin", "https://portal.example.test:8443"}}, true},
      {"no cookie", "", t, {}, false},
      {"no field", cookie, "", {}, false},
      {"different token", cookie, other, {}, false},
      {"malformed cookie", std::string(kCsrfCookieName) + "=xyz", "xyz", {}, false},
      {"two cookies (planted)", cookie + "; " + std::string(kCsrfCookieName) + "=" + t, t, {}, false},
      {"cross-site fetch", cookie, t, {{"Sec-Fetch-Site", "cross-site"}}, false},
      {"foreign origin", cookie, t, {{"Origin", "https://evil.example"}}, false},
      {"http origin", cookie, t, {{"Origin", "http://portal.example.test:8443"}}, false},
      {"null origin tolerated", cookie, t, {{"Origin", "null"}}, true},
  };
  for (const auto& c : cases) {
    auto r = withCookie(c.cookie);
    for (const auto& h : c.extra) r.headers.push_back(h);
    EXPECT_EQ(csrfValid(r, c.submitted), c.valid) << c.name;
  }
}

}  // namespace
}  // namespace erds::portal::internal
