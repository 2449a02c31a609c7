// RFC 9457 problem details: the ONE table mapping erds::ErrorCode and framework errors (405, 413,
// ...) to an HTTP status, a problem type URI and a title, and the application/problem+json writer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::http {

inline constexpr std::string_view kProblemContentType = "application/problem+json";

// Errors raised by the HTTP layer itself rather than by a handler's Error.
enum class FrameworkError {
  BadRequest,            // 400 malformed request line, header or path
  Forbidden,             // 403 authenticated, but the role, policy or sign-in strength forbids it
  RouteNotFound,         // 404 no route has this path
  MethodNotAllowed,      // 405 (the response carries Allow)
  RequestTimeout,        // 408 the body did not arrive within http.request_timeout
  PayloadTooLarge,       // 413 body larger than http.max_body_bytes
  UnsupportedMediaType,  // 415 body media type not accepted by the route
  TooManyRequests,       // 429 rate limited
  HeadersTooLarge,       // 431 header bytes or count over the limits
  InternalError,         // 500 the per-request catch-all
};

struct ProblemType {
  int status;
  std::string_view type;   // a URN, e.g. "urn:erds:problem:not-found"
  std::string_view title;  // short, human-readable, constant per type
};

// The table. Total over both enums; never fails.
const ProblemType& problemType(ErrorCode code);
const ProblemType& problemType(FrameworkError error);
// Every distinct entry (for the OpenAPI document and tests).
std::vector<ProblemType> allProblemTypes();

// The detail that may be shown to a client for `e`: the message for 4xx classes (the caller's own
// input), a fixed sentence for 5xx classes (internals stay in the log).
std::string publicDetail(const Error& e);

// Renders {"type","title","status","detail","instance","request_id"}; `detail` and `instance` are
// omitted when empty. Always valid JSON (strings are escaped).
std::string renderProblem(const ProblemType& type, std::string_view detail,
                          std::string_view instance, std::string_view requestId);

// A rate-limit refusal carried through Result by code that has no HTTP response of its own (the
// identity HttpAuthenticator): Unavailable (retryable) with a fixed message. The dispatcher turns
// it into 429 Too Many Requests with "Retry-After: <seconds>" (seconds >= 1).
Error rateLimitedError(std::chrono::seconds retryAfter);
// The Retry-After of an error made by rateLimitedError(); nullopt for any other error.
std::optional<std::chrono::seconds> rateLimitRetryAfter(const Error& e);

}  // namespace erds::http
