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

// One request as seen by a handler. The server fills every field before calling the handler; the
// body has already been checked against the size limits and the route's media type.
struct Request {
  std::string method;         // "GET", "POST", ...
  std::string path;           // path part of the target, still percent-encoded
  std::string query;          // after '?', still percent-encoded ("" if none)
  std::string routeTemplate;  // the matched template, e.g. "/api/v1/messages/{id}"
  std::map<std::string, std::string> pathParams;  // percent-decoded values
  Headers headers;
  std::string body;
  std::string requestId;      // validated incoming X-Request-Id or a generated one
  std::string clientAddress;  // "ip:port"
  // The TLS client's certificate chain as sent in the handshake (DER, leaf first), NOT validated:
  // filled only on a listener with ServerOptions::requestClientCertificates, empty otherwise.
  std::vector<std::string> clientCertificateChain;

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
