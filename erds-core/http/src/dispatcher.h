// The transport-independent request pipeline of erds::http: request id, limits, routing, body
// reading, the per-request catch-all, problem+json, security headers, access log and metrics.
// The Poco adapter (server.cpp) feeds it; unit tests drive it directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "erds/base/clock.h"
#include "erds/base/metrics.h"
#include "erds/http/message.h"
#include "erds/http/problem.h"
#include "erds/http/rate_limiter.h"
#include "erds/http/router.h"
#include "erds/http/server.h"

namespace erds::http::internal {

// Where the body bytes come from. read() returns the number of bytes read, 0 at the end of the
// body; InvalidInput for malformed framing (bad chunk), Unavailable on a transport error or
// timeout.
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual Result<std::size_t> read(char* buf, std::size_t n) = 0;
};

// The request head as parsed by the transport.
struct IncomingRequest {
  std::string method;
  std::string target;  // request target as sent ("/path?query")
  Headers headers;
  std::optional<int64_t> contentLength;
  bool chunked = false;
  std::string clientAddress;
  std::vector<std::string> clientCertificateChain = {};  // DER, leaf first (see Request)
};

struct OutgoingResponse {
  int status = 200;
  Headers headers;  // Content-Type included; Content-Length is the transport's job
  std::string body;
  bool closeConnection = false;  // the body was not (fully) read or the request was bad
  // Streaming body (Response::producer): the transport sends the head, then runs the producer;
  // on a producer error or a Content-Length mismatch it aborts the connection.
  BodyProducer producer;
  std::optional<int64_t> contentLength;  // with a producer: known length, else chunked
};

// An X-Request-Id we accept from clients: 1..64 characters of [A-Za-z0-9._-].
bool isSaneRequestId(std::string_view id);

class Dispatcher {
 public:
  Dispatcher(std::shared_ptr<const Router> router, Limits limits, metrics::Registry& registry,
             const Clock& clock);

  // Never throws; every outcome is a response. Thread-safe. The per-IP rate limit is checked first
  // (429 + Retry-After, before routing or reading the body); a handler error made by
  // rateLimitedError() (the per-account limit) is also a 429 + Retry-After.
  OutgoingResponse handle(const IncomingRequest& request, BodySource& body) const;

  // A response for a request the transport could not parse (400/431/408); logged and counted.
  OutgoingResponse transportError(FrameworkError error, std::string_view detail) const;

 private:
  OutgoingResponse handleInner(const IncomingRequest& in, BodySource& body,
                               const std::string& requestId, std::string& routeLabel) const;
  OutgoingResponse problem(const ProblemType& type, std::string_view detail,
                           std::string_view instance, const std::string& requestId) const;
  void finish(OutgoingResponse& out, const std::string& requestId) const;
  OutgoingResponse tooManyRequests(std::chrono::seconds retryAfter, std::string_view detail,
                                   std::string_view path, std::string_view scope,
                                   const std::string& requestId) const;

  std::shared_ptr<const Router> router_;
  Limits limits_;
  metrics::Registry& registry_;
  const Clock& clock_;
  std::unique_ptr<KeyedRateLimiter> ipLimiter_;
  std::set<std::string> rateExempt_;  // canonical client addresses (clientHost)
};

}  // namespace erds::http::internal
