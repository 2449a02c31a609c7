#include "html.h"

#include <gtest/gtest.h>

namespace erds::portal::internal {
namespace {

TEST(Escape, EscapesEveryMarkupCharacter) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"plain", "plain"},
      {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
      {"\"><img src=x onerror=alert(1)>", "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"},
      {"a & b", "a &amp; b"},
      {"it's", "it&#39;s"},
      {"&amp;", "&amp;amp;"},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(escape(c.in), c.out) << c.in;
}

TEST(UrlSegment, EncodesReservedCharacters) {
  EXPECT_EQ(urlSegment("abc-123_~."), "abc-123_~.");
  EXPECT_EQ(urlSegment("a/b?c#d\"<"), "a%2Fb%3Fc%23d%22%3C");
}

TEST(RenderPage, EscapesTitleFlashAndUserAndHasNoInlineScriptOrStyle) {
  Page p;
  p.title = "<script>alert(1)</script>";
  p.flash = "\"><img src=x onerror=alert(1)>";
  p.bodyHtml = "<p>body</p>";
  NavContext n;
  n.signedIn = true;
  n.userLabel = "<b>eve</b>";
  n.csrfToken = "\"tok";
  std::string html = renderPage(p, n);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>eve"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("value=\"&quot;tok\""), std::string::npos);
  // Only the external script and stylesheet; no inline <style>, no style= or on*= attributes.
  EXPECT_EQ(html.find("<style"), std::string::npos);
  EXPECT_EQ(html.find(" style="), std::string::npos);
  EXPECT_EQ(html.find(" onclick"), std::string::npos);
  EXPECT_NE(html.find("<script src=\"/static/portal.js\" defer></script>"), std::string::npos);
  EXPECT_NE(html.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(html.find("<main id=\"main\""), std::string::npos);
}

TEST(RenderPage, NavigationDependsOnSignInAndRole) {
  Page p;
  p.title = "t";
  p.current = "inbox";
  NavContext anon;
  std::string a = renderPage(p, anon);
  EXPECT_EQ(a.find("/inbox"), std::string::npos);
  EXPECT_NE(a.find("/register"), std::string::npos);
  NavContext user;
  user.signedIn = true;
  std::string u = renderPage(p, user);
  EXPECT_NE(u.find("href=\"/inbox\" aria-current=\"page\""), std::string::npos);
  EXPECT_EQ(u.find("/officer"), std::string::npos);
  user.officer = true;
  EXPECT_NE(renderPage(p, user).find("/officer"), std::string::npos);
}

TEST(DisplayTime, FormatsUtcAndEscapesOtherInput) {
  EXPECT_EQ(displayTime("2025-01-31T10:00:00Z"), "2025-01-31 10:00:00 UTC");
  EXPECT_EQ(displayTime("<x>"), "&lt;x&gt;");
}

}  // namespace
}  // namespace erds::portal::internal
