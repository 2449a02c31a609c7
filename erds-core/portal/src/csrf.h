// CSRF protection for portal forms: a double-submit token in a __Host- cookie (Secure, HttpOnly,
// SameSite=Strict, Path=/) echoed in a hidden form field, plus an Origin / Sec-Fetch-Site check.
// The __Host- prefix stops a sibling subdomain from planting the cookie. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "erds/http/message.h"

namespace erds::portal::internal {

inline constexpr std::string_view kCsrfCookieName = "__Host-erds_csrf";
inline constexpr std::string_view kCsrfFieldName = "csrf_token";

// The token carried by the request's CSRF cookie if it is well-formed (64 lower-case hex
// characters); nullopt otherwise.
std::optional<std::string> csrfCookie(const http::Request& request);

// A fresh 256-bit token (hex) from the OS CSPRNG.
std::string newCsrfToken();

// The Set-Cookie value that stores `token`.
std::string csrfSetCookie(std::string_view token);

// True when a state-changing request may proceed: the cookie token is present and well-formed,
// the submitted field equals it (constant-time), and the browser's Origin (when sent and not
// "null") is https://<Host>, and Sec-Fetch-Site (when sent) is same-origin or none.
bool csrfValid(const http::Request& request, std::string_view submittedToken);

}  // namespace erds::portal::internal
