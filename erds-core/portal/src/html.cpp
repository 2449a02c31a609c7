#include "html.h"

namespace erds::portal::internal {

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string urlSegment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {
std::string navLink(const std::string& href, const std::string& label, const std::string& key,
                    const std::string& current) {
  std::string a = "<li><a href=\"" + escape(href) + "\"";
  if (key == current) a += " aria-current=\"page\"";
  return a + ">" + escape(label) + "</a></li>";
}
}  // namespace

std::string renderPage(const Page& page, const NavContext& nav) {
  std::string o;
  o.reserve(page.bodyHtml.size() + 2048);
  o += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<title>";
  o += escape(page.title);
  o += " - erds</title><link rel=\"stylesheet\" href=\"/static/portal.css\">"
       "<script src=\"/static/portal.js\" defer></script></head>";
  o += page.printable ? "<body class=\"print\">" : "<body>";
  o += "<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\">"
       "<a class=\"brand\" href=\"/\">erds <span>registered delivery</span></a>";
  o += "<nav aria-label=\"Main\"><ul>";
  if (nav.signedIn) {
    o += navLink("/inbox", "Inbox", "inbox", page.current);
    o += navLink("/sent", "Sent", "sent", page.current);
    o += navLink("/compose", "Compose", "compose", page.current);
    o += navLink("/identity", "Identity", "identity", page.current);
    if (nav.officer) o += navLink("/officer", "Officer queue", "officer", page.current);
    o += navLink("/account", "Account", "account", page.current);
  } else {
    o += navLink("/", "Sign in", "signin", page.current);
    o += navLink("/register", "Register", "register", page.current);
  }
  o += navLink("/verify", "Verify evidence", "verify", page.current);
  o += "</ul></nav>";
  if (nav.signedIn) {
    o += "<div class=\"who\"><span>" + escape(nav.userLabel) + "</span>";
    o += buttonForm("/signout", nav.csrfToken, "Sign out", "link");
    o += "</div>";
  }
  o += "</header><main id=\"main\" tabindex=\"-1\"><h1>" + escape(page.title) + "</h1>";
  if (!page.flash.empty()) {
    o += page.flashError ? "<div class=\"flash error\" role=\"alert\">" : "<div class=\"flash\" role=\"status\">";
    o += escape(page.flash) + "</div>";
  }
  o += page.bodyHtml;
  o += "</main><footer><p>erds - qualified electronic registered delivery (ETSI EN 319 522). "
       "<a href=\"/verify\">Verify an evidence</a></p></footer></body></html>\n";
  return o;
}

std::string csrfField(std::string_view token) {
  return "<input type=\"hidden\" name=\"csrf_token\" value=\"" + escape(token) + "\">";
}

std::string buttonForm(std::string_view action, std::string_view csrfToken, std::string_view label,
                       std::string_view cssClass) {
  std::string o = "<form method=\"post\" action=\"" + escape(action) + "\" class=\"inline\">" + csrfField(csrfToken);
  o += "<button type=\"submit\"";
  if (!cssClass.empty()) o += " class=\"" + escape(cssClass) + "\"";
  o += ">" + escape(label) + "</button></form>";
  return o;
}

std::string displayTime(std::string_view t) {
  if (t.size() >= 20 && t[10] == 'T' && (t.back() == 'Z')) {
    std::string s(t.substr(0, 19));
    s[10] = ' ';
    return escape(s) + " UTC";
  }
  return escape(t);
}

}  // namespace erds::portal::internal
