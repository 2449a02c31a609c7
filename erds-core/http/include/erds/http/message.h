// HTTP request and response values exchanged between the server and route handlers. No Poco or
// OpenSSL types: components that register routes depend only on erds::http and erds::base.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "erds/base/result.h"

namespace erds::http {

// Header name/value pairs in arrival (or emission) order. Names are compared case-insensitively.
using Headers = std::vector<std::pair<std::string, std::string>>;

// Incremental access to the body of a route with RouteSpec::streamRequestBody. Not thread-safe;
// valid only during the handler call.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Reads up to `n` bytes into `buf`; 0 at the end of the body. Errors: InvalidInput for a body
  // over the route's limit (then limitExceeded() is true and nothing more is read) or malformed
  // chunked framing; Unavailable when the client is too slow (http.request_timeout) or gone.
  // If the handler returns an Error after a failed read, the server answers 413/400/408 itself.
  virtual Result<std::size_t> read(char* buf, std::size_t n) = 0;
  // True once the body was found larger than the route's limit.
  virtual bool limitExceeded() const = 0;
  // The body's byte limit for this route (http.max_body_bytes or the route's lower limit).
  virtual int64_t limit() const = 0;
  // Reads the rest of the body into a string (bounded by limit()).
  Result<std::string> readAll();
};

// Where a streaming response body goes (see Response::producer).
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Sends `bytes` (may block on a slow client). Unavailable if the client is gone; the producer
  // should then return that error.
  virtual Result<void> write(std::string_view bytes) = 0;
};

// Produces a response body incrementally, after the status line and headers have been sent. An
// Error from it ABORTS the connection: the client sees a truncated body (no terminating chunk,
// or fewer bytes than Content-Length), never a complete-looking one. Runs on the request's
// thread after the handler returned; it must own (capture by value) everything it uses.
using BodyProducer = std::function<Result<void>(BodyWriter&)>;

// One request as seen by a handler. The server fills every field before calling the handler; the
// body has already been checked against the size limits and the route's media type.
struct Request {
  std::string method;         // "GET", "POST", ...
  std::string path;           // path part of the target, still percent-encoded
  std::string query;          // after '?', still percent-encoded ("" if none)
  std::string routeTemplate;  // the matched template, e.g. "/api/v1/messages/{id}"
  std::map<std::string, std::string> pathParams;  // percent-decoded values
  Headers headers;
  std::string body;           // empty for RouteSpec::streamRequestBody routes
  // The body's media type as accepted by the route (lower-case "type/subtype", parameters
  // removed; see the Content-Type header for them); "" without a body.
  std::string mediaType;
  // Streaming routes only (RouteSpec::streamRequestBody): the body, read incrementally; nullptr
  // for other routes and for requests without a body.
  BodyReader* bodyReader = nullptr;
  std::string requestId;      // validated incoming X-Request-Id or a generated one
  std::string clientAddress;  // "ip:port"
  // The TLS client's certificate chain as sent in the handshake (DER, leaf first), NOT validated:
  // filled only on a listener with ServerOptions::requestClientCertificates, empty otherwise.
  std::vector<std::string> clientCertificateChain = {};

  // Case-insensitive header lookup; nullptr if absent. The pointer lives as long as the Request.
  const std::string* header(std::string_view name) const;
  // A path parameter by name; "" if the template has no such parameter.
  const std::string& param(const std::string& name) const;
  // The first query parameter `name`, percent-decoded ('+' as space); nullopt if absent or
  // malformed.
  std::optional<std::string> queryParam(std::string_view name) const;
};

// What a handler returns. Handlers may set any header; the server adds the security headers
// (see server.h) unless the handler already set the same header.
struct Response {
  int status = 200;
  std::string contentType;
  Headers headers;
  std::string body;
  // Streaming body: if set, `body` is ignored and the producer writes the body after the head.
  // With contentLength it is sent with that Content-Length (producing a different number of bytes
  // aborts the connection), otherwise with chunked transfer encoding.
  BodyProducer producer;
  std::optional<int64_t> contentLength;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body,
                       std::string contentType = "text/plain; charset=utf-8");
  static Response noContent();
};

// A route handler. Return an Error for expected failures: the server renders it as
// application/problem+json through the one table in problem.h. Exceptions are caught by the
// server's per-request catch-all and become a generic 500. Handlers run concurrently on the
// server's worker threads and must be thread-safe.
using Handler = std::function<Result<Response>(const Request&)>;

// Case-insensitive ASCII comparison of header names.
bool headerNameEquals(std::string_view a, std::string_view b);
// Percent-decodes `s` (and '+' as space if `plusAsSpace`); nullopt on a malformed escape or an
// encoded NUL.
std::optional<std::string> percentDecode(std::string_view s, bool plusAsSpace = false);

}  // namespace erds::http
