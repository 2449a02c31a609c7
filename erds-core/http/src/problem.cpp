// The one error table of the HTTP front end (RFC 9457 problem details).
#include "erds/http/problem.h"

#include "json_util.h"

namespace erds::http {

namespace {

constexpr ProblemType kInvalidInput{400, "urn:erds:problem:invalid-input", "Invalid input"};
constexpr ProblemType kNotFound{404, "urn:erds:problem:not-found", "Not found"};
constexpr ProblemType kConflict{409, "urn:erds:problem:conflict", "Conflict"};
constexpr ProblemType kUnauthorized{401, "urn:erds:problem:unauthorized", "Unauthorized"};
constexpr ProblemType kUnavailable{503, "urn:erds:problem:unavailable", "Service unavailable"};
constexpr ProblemType kIntegrity{422, "urn:erds:problem:integrity-failure",
                                 "Integrity check failed"};
constexpr ProblemType kInternal{500, "urn:erds:problem:internal", "Internal error"};

constexpr ProblemType kBadRequest{400, "urn:erds:problem:bad-request", "Malformed request"};
constexpr ProblemType kForbidden{403, "urn:erds:problem:forbidden", "Forbidden"};
constexpr ProblemType kRouteNotFound{404, "urn:erds:problem:no-such-resource", "No such resource"};
constexpr ProblemType kMethodNotAllowed{405, "urn:erds:problem:method-not-allowed",
                                        "Method not allowed"};
constexpr ProblemType kRequestTimeout{408, "urn:erds:problem:request-timeout", "Request timeout"};
constexpr ProblemType kPayloadTooLarge{413, "urn:erds:problem:payload-too-large",
                                       "Request body too large"};
constexpr ProblemType kUnsupportedMedia{415, "urn:erds:problem:unsupported-media-type",
                                        "Unsupported media type"};
constexpr ProblemType kTooManyRequests{429, "urn:erds:problem:too-many-requests",
                                       "Too many requests"};
constexpr ProblemType kHeadersTooLarge{431, "urn:erds:problem:headers-too-large",
                                       "Request header fields too large"};

}  // namespace

const ProblemType& problemType(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidInput:
      return kInvalidInput;
    case ErrorCode::NotFound:
      return kNotFound;
    case ErrorCode::Conflict:
      return kConflict;
    case ErrorCode::Unauthorized:
      return kUnauthorized;
    case ErrorCode::Unavailable:
      return kUnavailable;
    case ErrorCode::IntegrityFailure:
      return kIntegrity;
    case ErrorCode::Internal:
      return kInternal;
  }
  return kInternal;
}

const ProblemType& problemType(FrameworkError error) {
  switch (error) {
    case FrameworkError::BadRequest:
      return kBadRequest;
    case FrameworkError::Forbidden:
      return kForbidden;
    case FrameworkError::RouteNotFound:
      return kRouteNotFound;
    case FrameworkError::MethodNotAllowed:
      return kMethodNotAllowed;
    case FrameworkError::RequestTimeout:
      return kRequestTimeout;
    case FrameworkError::PayloadTooLarge:
      return kPayloadTooLarge;
    case FrameworkError::UnsupportedMediaType:
      return kUnsupportedMedia;
    case FrameworkError::TooManyRequests:
      return kTooManyRequests;
    case FrameworkError::HeadersTooLarge:
      return kHeadersTooLarge;
    case FrameworkError::InternalError:
      return kInternal;
  }
  return kInternal;
}

std::vector<ProblemType> allProblemTypes() {
  return {kInvalidInput,    kNotFound,         kConflict,         kUnauthorized,
          kUnavailable,     kIntegrity,        kInternal,         kBadRequest,
          kForbidden,       kRouteNotFound,    kMethodNotAllowed, kRequestTimeout,
          kPayloadTooLarge, kUnsupportedMedia, kTooManyRequests,  kHeadersTooLarge};
}

std::string publicDetail(const Error& e) {
  switch (e.code) {
    case ErrorCode::Unavailable:
      return "A dependency is temporarily unavailable; retry later.";
    case ErrorCode::Internal:
      return "";
    default:
      return e.message;
  }
}

namespace {
constexpr std::string_view kRateLimitedPrefix = "too many requests; retry after ";
}  // namespace

Error rateLimitedError(std::chrono::seconds retryAfter) {
  const long long s = retryAfter.count() < 1 ? 1 : static_cast<long long>(retryAfter.count());
  return Error::unavailable(std::string(kRateLimitedPrefix) + std::to_string(s) + " s");
}

std::optional<std::chrono::seconds> rateLimitRetryAfter(const Error& e) {
  if (!e.is(ErrorCode::Unavailable) || e.message.rfind(kRateLimitedPrefix, 0) != 0)
    return std::nullopt;
  std::string_view rest = std::string_view(e.message).substr(kRateLimitedPrefix.size());
  long long s = 0;
  std::size_t i = 0;
  for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && s < 1000000000; ++i)
    s = s * 10 + (rest[i] - '0');
  if (i == 0 || rest.substr(i) != " s") return std::nullopt;
  return std::chrono::seconds(s < 1 ? 1 : s);
}

std::string renderProblem(const ProblemType& type, std::string_view detail,
                          std::string_view instance, std::string_view requestId) {
  using internal::jsonString;
  std::string out = "{\"type\":" + jsonString(type.type);
  out += ",\"title\":" + jsonString(type.title);
  out += ",\"status\":" + std::to_string(type.status);
  if (!detail.empty()) out += ",\"detail\":" + jsonString(detail);
  if (!instance.empty()) out += ",\"instance\":" + jsonString(instance);
  out += ",\"request_id\":" + jsonString(requestId);
  out += "}";
  return out;
}

}  // namespace erds::http
