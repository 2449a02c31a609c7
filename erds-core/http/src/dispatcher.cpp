// The request pipeline. The catch-all here is the one per request required by STYLE.md.
#include "dispatcher.h"

#include <algorithm>
#include <exception>

#include "erds/base/log.h"

namespace erds::http::internal {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

std::string_view methodLabel(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "OTHER";
}

std::string mediaTypeOf(std::string_view value) {
  std::size_t semi = value.find(';');
  std::string_view t = value.substr(0, semi);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
    t.remove_prefix(1);
  std::string out(t);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool hasHeader(const Headers& h, std::string_view name) {
  return std::any_of(h.begin(), h.end(),
                     [&](const auto& p) { return headerNameEquals(p.first, name); });
}

void addDefault(Headers& h, std::string name, std::string value) {
  if (!hasHeader(h, name)) h.emplace_back(std::move(name), std::move(value));
}

// The BodyReader of streaming routes: counts bytes against the limit, enforces the request
// timeout, and remembers why it stopped so that the dispatcher can answer for the handler.
class LimitedBodyReader final : public BodyReader {
 public:
  enum class Failure { None, TooLarge, Malformed, Timeout };

  LimitedBodyReader(BodySource& source, int64_t limit, const Clock& clock,
                    std::chrono::steady_clock::time_point deadline)
      : source_(source), limit_(limit), clock_(clock), deadline_(deadline) {}

  Result<std::size_t> read(char* buf, std::size_t n) override {
    if (failure_ == Failure::TooLarge)
      return Error::invalidInput("request body larger than " + std::to_string(limit_) + " bytes");
    if (failure_ != Failure::None) return Error::unavailable("request body not received");
    if (eof_ || n == 0) return std::size_t{0};
    if (clock_.steadyNow() > deadline_) {
      failure_ = Failure::Timeout;
      return Error::unavailable("request body too slow");
    }
    // Read at most one byte past the limit: enough to know it is exceeded.
    const int64_t room = limit_ - read_ + 1;
    std::size_t want = n;
    if (static_cast<int64_t>(want) > room) want = static_cast<std::size_t>(room);
    auto got = source_.read(buf, want);
    if (!got) {
      failure_ = got.error().is(ErrorCode::InvalidInput) ? Failure::Malformed : Failure::Timeout;
      return got.error().is(ErrorCode::InvalidInput)
                 ? Error::invalidInput("malformed request body framing")
                 : Error::unavailable("request body not received");
    }
    if (*got == 0) {
      eof_ = true;
      return std::size_t{0};
    }
    read_ += static_cast<int64_t>(*got);
    if (read_ > limit_) {
      failure_ = Failure::TooLarge;
      return Error::invalidInput("request body larger than " + std::to_string(limit_) + " bytes");
    }
    return *got;
  }
  bool limitExceeded() const override { return failure_ == Failure::TooLarge; }
  int64_t limit() const override { return limit_; }

  Failure failure() const { return failure_; }
  bool atEnd() const { return eof_; }

 private:
  BodySource& source_;
  int64_t limit_;
  const Clock& clock_;
  std::chrono::steady_clock::time_point deadline_;
  int64_t read_ = 0;
  bool eof_ = false;
  Failure failure_ = Failure::None;
};

}  // namespace

bool isSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Dispatcher::Dispatcher(std::shared_ptr<const Router> router, Limits limits,
                       metrics::Registry& registry, const Clock& clock)
    : router_(std::move(router)),
      limits_(limits),
      registry_(registry),
      clock_(clock),
      ipLimiter_(std::make_unique<KeyedRateLimiter>(
          RateLimit{limits.ratePerIpPerSecond, limits.rateBurst}, clock)) {
  for (const auto& ip : limits_.rateExemptIps)
    rateExempt_.insert(clientHost(ip));
  registry_.describe("erds_http_rate_limited_total", "counter",
                     "Requests refused with 429 by scope (ip: per client IP, account: per party).");
  registry_.describe("erds_http_requests_total", "counter",
                     "HTTP requests by method, route and status.");
  registry_.describe("erds_http_request_duration_seconds", "histogram",
                     "HTTP request latency by route (seconds).");
}

OutgoingResponse Dispatcher::problem(const ProblemType& type, std::string_view detail,
                                     std::string_view instance,
                                     const std::string& requestId) const {
  OutgoingResponse out;
  out.status = type.status;
  out.headers.emplace_back("Content-Type", std::string(kProblemContentType));
  out.body = renderProblem(type, detail, instance, requestId);
  return out;
}

void Dispatcher::finish(OutgoingResponse& out, const std::string& requestId) const {
  addDefault(out.headers, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
  addDefault(out.headers, "X-Content-Type-Options", "nosniff");
  addDefault(out.headers, "Cache-Control", "no-store");
  addDefault(out.headers, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  addDefault(out.headers, "Referrer-Policy", "no-referrer");
  // The request id is ours; a handler cannot replace it.
  out.headers.erase(
      std::remove_if(out.headers.begin(), out.headers.end(),
                     [](const auto& p) { return headerNameEquals(p.first, "X-Request-Id"); }),
      out.headers.end());
  out.headers.emplace_back("X-Request-Id", requestId);
}

OutgoingResponse Dispatcher::tooManyRequests(std::chrono::seconds retryAfter,
                                             std::string_view detail, std::string_view path,
                                             std::string_view scope,
                                             const std::string& requestId) const {
  OutgoingResponse out =
      problem(problemType(FrameworkError::TooManyRequests), detail, path, requestId);
  out.headers.emplace_back("Retry-After", std::to_string(retryAfter.count()));
  registry_.inc("erds_http_rate_limited_total", {{"scope", std::string(scope)}});
  return out;
}

OutgoingResponse Dispatcher::transportError(FrameworkError error, std::string_view detail) const {
  std::string requestId = log::newRequestId();
  log::ScopedRequestId scoped(requestId);
  OutgoingResponse out = problem(problemType(error), detail, "", requestId);
  out.closeConnection = true;
  finish(out, requestId);
  registry_.inc(
      "erds_http_requests_total",
      {{"method", "OTHER"}, {"route", "unmatched"}, {"status", std::to_string(out.status)}});
  log::info("http.request", {{"method", ""},
                             {"route", "unmatched"},
                             {"status", out.status},
                             {"ms", 0.0},
                             {"error", std::string(detail)}});
  return out;
}

OutgoingResponse Dispatcher::handle(const IncomingRequest& in, BodySource& body) const {
  auto start = clock_.steadyNow();
  std::string requestId;
  for (const auto& [k, v] : in.headers) {
    if (headerNameEquals(k, "X-Request-Id") && isSaneRequestId(v)) requestId = v;
  }
  if (requestId.empty()) requestId = log::newRequestId();
  log::ScopedRequestId scoped(requestId);

  std::string routeLabel = "unmatched";
  OutgoingResponse out;
  try {
    out = handleInner(in, body, requestId, routeLabel);
  } catch (const std::exception& e) {
    log::error("http.unhandled_exception", {{"route", routeLabel}, {"what", e.what()}});
    out = problem(problemType(FrameworkError::InternalError), "", "", requestId);
  } catch (...) {
    log::error("http.unhandled_exception", {{"route", routeLabel}, {"what", "unknown"}});
    out = problem(problemType(FrameworkError::InternalError), "", "", requestId);
  }
  finish(out, requestId);

  double seconds = std::chrono::duration<double>(clock_.steadyNow() - start).count();
  std::string method(methodLabel(in.method));
  registry_.inc(
      "erds_http_requests_total",
      {{"method", method}, {"route", routeLabel}, {"status", std::to_string(out.status)}});
  registry_.observe("erds_http_request_duration_seconds", {{"route", routeLabel}}, seconds);
  log::info("http.request", {{"method", method},
                             {"route", routeLabel},
                             {"status", out.status},
                             {"ms", seconds * 1000.0}});
  return out;
}

OutgoingResponse Dispatcher::handleInner(const IncomingRequest& in, BodySource& body,
                                         const std::string& requestId,
                                         std::string& routeLabel) const {
  std::string_view target = in.target;
  std::size_t q = target.find('?');
  std::string path(target.substr(0, q));
  std::string query(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
  bool hasBody = in.chunked || (in.contentLength && *in.contentLength > 0);

  // Per client IP, before any routing or body reading.
  if (ipLimiter_->limit().enabled() && !rateExempt_.count(clientHost(in.clientAddress))) {
    RateDecision d = ipLimiter_->acquire(clientIpKey(in.clientAddress));
    if (!d.allowed) {
      auto out = tooManyRequests(d.retryAfter, "too many requests from this address", path,
                                 "ip", requestId);
      out.closeConnection = hasBody;  // the body stays unread
      return out;
    }
  }

  // Header limits (Poco already bounds single fields and, at 100, the count).
  int64_t headerBytes = 0;
  for (const auto& [k, v] : in.headers)
    headerBytes += static_cast<int64_t>(k.size() + v.size());
  if (static_cast<int64_t>(in.headers.size()) > limits_.maxHeaders) {
    auto out = problem(problemType(FrameworkError::HeadersTooLarge),
                       "more than " + std::to_string(limits_.maxHeaders) + " header fields", path,
                       requestId);
    out.closeConnection = true;
    return out;
  }
  if (headerBytes > limits_.maxHeaderBytes) {
    auto out =
        problem(problemType(FrameworkError::HeadersTooLarge),
                "header fields larger than " + std::to_string(limits_.maxHeaderBytes) + " bytes",
                path, requestId);
    out.closeConnection = true;
    return out;
  }
  // An announced body over the global limit is refused before anything is read.
  if (in.contentLength && *in.contentLength > limits_.maxBodyBytes) {
    auto out =
        problem(problemType(FrameworkError::PayloadTooLarge),
                "request body larger than " + std::to_string(limits_.maxBodyBytes) + " bytes", path,
                requestId);
    out.closeConnection = true;
    return out;
  }

  Router::Match m = router_->match(in.method, path);
  if (m.status != Router::MatchStatus::Found) {
    OutgoingResponse out;
    if (m.status == Router::MatchStatus::MethodNotAllowed) {
      std::string allow;
      for (const auto& a : m.allowed)
        allow += (allow.empty() ? "" : ", ") + a;
      out = problem(problemType(FrameworkError::MethodNotAllowed), "allowed: " + allow, path,
                    requestId);
      out.headers.emplace_back("Allow", allow);
    } else if (m.status == Router::MatchStatus::BadPath) {
      out = problem(problemType(FrameworkError::BadRequest), "malformed path", "", requestId);
    } else {
      out = problem(problemType(FrameworkError::RouteNotFound), "", path, requestId);
    }
    out.closeConnection = hasBody;  // the body stays unread
    return out;
  }
  const RouteSpec& spec = *m.spec;
  routeLabel = spec.path;

  int64_t bodyLimit = limits_.maxBodyBytes;
  if (spec.maxBodyBytes > 0) bodyLimit = std::min(bodyLimit, spec.maxBodyBytes);
  std::string bodyMediaType;
  if (hasBody) {
    const std::string* ct = nullptr;
    for (const auto& [k, v] : in.headers) {
      if (headerNameEquals(k, "Content-Type")) ct = &v;
    }
    const std::vector<std::string> accepted = spec.acceptedMediaTypes();
    if (ct != nullptr) bodyMediaType = mediaTypeOf(*ct);
    if (accepted.empty() || ct == nullptr ||
        std::find(accepted.begin(), accepted.end(), bodyMediaType) == accepted.end()) {
      std::string expected;
      for (const auto& a : accepted)
        expected += (expected.empty() ? "" : " or ") + a;
      auto out = problem(problemType(FrameworkError::UnsupportedMediaType),
                         accepted.empty() ? "this operation takes no request body"
                                          : "expected " + expected,
                         path, requestId);
      out.closeConnection = true;
      return out;
    }
    if (in.contentLength && *in.contentLength > bodyLimit) {
      auto out = problem(problemType(FrameworkError::PayloadTooLarge),
                         "request body larger than " + std::to_string(bodyLimit) + " bytes", path,
                         requestId);
      out.closeConnection = true;
      return out;
    }
  }

  Request req;
  req.method = in.method;
  req.path = path;
  req.query = query;
  req.routeTemplate = spec.path;
  req.pathParams = std::move(m.params);
  req.headers = in.headers;
  req.requestId = requestId;
  req.clientAddress = in.clientAddress;
  req.clientCertificateChain = in.clientCertificateChain;
  req.mediaType = bodyMediaType;

  std::optional<LimitedBodyReader> streamReader;
  if (hasBody && spec.streamRequestBody) {
    streamReader.emplace(body, bodyLimit, clock_, clock_.steadyNow() + limits_.requestTimeout);
    req.bodyReader = &*streamReader;
  } else if (hasBody) {
    // Count as we read, so a chunked body cannot exceed the limit either.
    auto deadline = clock_.steadyNow() + limits_.requestTimeout;
    std::string buf(kReadChunk, '\0');
    while (true) {
      if (clock_.steadyNow() > deadline) {
        auto out = problem(problemType(FrameworkError::RequestTimeout), "request body too slow",
                           path, requestId);
        out.closeConnection = true;
        return out;
      }
      auto n = body.read(buf.data(), buf.size());
      if (!n) {
        bool malformed = n.error().is(ErrorCode::InvalidInput);
        auto out = problem(
            problemType(malformed ? FrameworkError::BadRequest : FrameworkError::RequestTimeout),
            malformed ? "malformed request body framing" : "request body not received", path,
            requestId);
        out.closeConnection = true;
        return out;
      }
      if (*n == 0) break;
      if (static_cast<int64_t>(req.body.size() + *n) > bodyLimit) {
        auto out = problem(problemType(FrameworkError::PayloadTooLarge),
                           "request body larger than " + std::to_string(bodyLimit) + " bytes", path,
                           requestId);
        out.closeConnection = true;
        return out;
      }
      req.body.append(buf.data(), *n);
    }
  }

  Result<Response> result = (*m.handler)(req);
  // A streaming body the handler did not read to its end cannot be skipped safely: close.
  const bool unreadBody = streamReader && !streamReader->atEnd();
  if (!result && streamReader && streamReader->failure() != LimitedBodyReader::Failure::None) {
    // The handler passed on a body read failure: answer for the transport.
    const auto f = streamReader->failure();
    auto out =
        f == LimitedBodyReader::Failure::TooLarge
            ? problem(problemType(FrameworkError::PayloadTooLarge),
                      "request body larger than " + std::to_string(bodyLimit) + " bytes", path,
                      requestId)
        : f == LimitedBodyReader::Failure::Malformed
            ? problem(problemType(FrameworkError::BadRequest), "malformed request body framing",
                      path, requestId)
            : problem(problemType(FrameworkError::RequestTimeout), "request body not received",
                      path, requestId);
    out.closeConnection = true;
    return out;
  }
  if (!result) {
    const Error& e = result.error();
    if (auto retryAfter = rateLimitRetryAfter(e)) {
      auto out = tooManyRequests(*retryAfter, "too many requests for this account", path,
                                 "account", requestId);
      out.closeConnection = unreadBody;
      return out;
    }
    const ProblemType& type = problemType(e.code);
    if (type.status >= 500) {
      log::error("http.handler_error", {{"route", routeLabel},
                                        {"code", std::string(errorCodeName(e.code))},
                                        {"message", e.message}});
    }
    auto out = problem(type, publicDetail(e), path, requestId);
    out.closeConnection = unreadBody;
    return out;
  }
  Response& r = *result;
  OutgoingResponse out;
  out.status = r.status;
  out.headers = std::move(r.headers);
  if (!r.contentType.empty()) out.headers.emplace_back("Content-Type", r.contentType);
  out.body = std::move(r.body);
  out.producer = std::move(r.producer);
  out.contentLength = r.contentLength;
  if (out.producer) out.body.clear();
  out.closeConnection = unreadBody;
  return out;
}

}  // namespace erds::http::internal
