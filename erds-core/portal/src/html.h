// HTML building blocks of the portal: the ONE escape function every template uses, the page
// layout (skip link, navigation, main landmark) and small helpers. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace erds::portal::internal {

// Escapes text for HTML element content and double- or single-quoted attribute values:
// & < > " ' become character references. Every dynamic value goes through this (or through
// `attr`/`text` below, which call it). Invalid UTF-8 is passed through byte for byte: the browser
// replaces it, and no byte of it can start markup.
std::string escape(std::string_view s);

// Percent-encodes a path segment (RFC 3986 unreserved characters stay).
std::string urlSegment(std::string_view s);

struct NavContext {
  bool signedIn = false;
  bool officer = false;
  std::string userLabel;  // login identifier (escaped when rendered)
  std::string csrfToken;  // for the sign-out form
};

struct Page {
  std::string title;       // plain text; escaped
  std::string bodyHtml;    // already-built HTML (made of escaped values)
  std::string flash;       // plain text; escaped; "" = none
  bool flashError = false;
  std::string current;     // the nav entry to mark with aria-current ("inbox", "sent", ...)
  bool printable = false;  // receipt: class="print" on <body>
};

// The whole document: <!doctype html>, lang="en", viewport for 360 px phones, the one stylesheet
// and the one script from /static/, a skip link, the navigation and <main id="main">.
std::string renderPage(const Page& page, const NavContext& nav);

// <input type="hidden" name="csrf_token" value="...">
std::string csrfField(std::string_view token);

// A POST form with the CSRF field and one submit button (used for accept/reject/sign-out...).
std::string buttonForm(std::string_view action, std::string_view csrfToken, std::string_view label,
                       std::string_view cssClass = "");

// "2025-01-31T10:00:00Z" -> "2025-01-31 10:00:00 UTC" (other input returned unchanged), escaped.
std::string displayTime(std::string_view rfc3339);

}  // namespace erds::portal::internal
