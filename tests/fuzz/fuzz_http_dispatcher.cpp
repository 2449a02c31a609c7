// Fuzz target: the HTTP request pipeline. Input: raw HTTP/1.1 request bytes. The head is parsed
// by Poco's HTTPRequest::read (the parser erdsd's server uses), converted as server.cpp does, and
// handed to the transport-independent Dispatcher (limits, Router::match with percent-decoded
// parameters, media type and body limits, handler errors, problem+json, security headers). One
// route parses a JSON body with Poco::JSON like the API handlers.
// Invariants: every response has a status in 100..599 and an X-Request-Id; every 4xx/5xx is
// application/problem+json whose body is a JSON object carrying the same status.
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/NetException.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "dispatcher.h"
#include "erds/base/metrics.h"
#include "erds/http/router.h"
#include "fake_clock.h"
#include "fuzz_support.h"

namespace {

using namespace erds;
using namespace erds::http;
using namespace erds::http::internal;

class StringBody final : public BodySource {
 public:
  explicit StringBody(std::string_view data) : data_(data) {}
  Result<std::size_t> read(char* buf, std::size_t n) override {
    std::size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

Result<Response> parseJsonBody(const Request& req) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(req.body);
    auto obj = v.extract<Poco::JSON::Object::Ptr>();
    if (obj.isNull()) return Error::invalidInput("body must be a JSON object");
    std::string subject = obj->optValue<std::string>("subject", "");
    if (subject.empty()) return Error::invalidInput("subject is required");
    return Response::json(201, "{\"subject_length\":" + std::to_string(subject.size()) + "}");
  } catch (const Poco::Exception& e) {
    return Error::invalidInput("malformed JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return Error::invalidInput(std::string("malformed JSON: ") + e.what());
  }
}

struct Fixture {
  metrics::Registry registry;
  testing::FakeClock clock{TimePoint(std::chrono::seconds(1767225600))};
  std::unique_ptr<Dispatcher> dispatcher;
  std::shared_ptr<Router> router;
};

Fixture* g_fixture = nullptr;

void addRoute(Router& r, const std::string& method, const std::string& path, const std::string& id,
              Handler h, const std::string& media = "", int64_t maxBody = 0) {
  RouteSpec s;
  s.method = method;
  s.path = path;
  s.operationId = id;
  s.requestMediaType = media;
  s.maxBodyBytes = maxBody;
  auto added = r.add(std::move(s), std::move(h));
  if (!added) fuzz::fail("Router::add " + path + ": " + added.error().message);
}

// RFC 8259 JSON text is UTF-8: true when `s` is well-formed UTF-8 (no overlongs or surrogates).
bool isValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return false;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

Router::Match g_lastMatch;  // keeps the optimiser from dropping the direct match() call

void checkResponse(const OutgoingResponse& out) {
  if (out.status < 100 || out.status > 599) fuzz::fail("status out of range");
  const std::string* contentType = nullptr;
  bool requestId = false;
  for (const auto& [k, v] : out.headers) {
    if (headerNameEquals(k, "Content-Type")) contentType = &v;
    if (headerNameEquals(k, "X-Request-Id")) requestId = !v.empty();
  }
  if (!requestId) fuzz::fail("response without X-Request-Id");
  if (out.status < 400) return;
  if (contentType == nullptr || *contentType != kProblemContentType)
    fuzz::fail("error response is not application/problem+json");
  if (!isValidUtf8(out.body))
    fuzz::fail("problem JSON is not UTF-8 (request bytes >= 0x80 copied unescaped):\n" + out.body);
  try {
    Poco::JSON::Parser parser;
    auto obj = parser.parse(out.body).extract<Poco::JSON::Object::Ptr>();
    if (obj.isNull() || obj->getValue<int>("status") != out.status)
      fuzz::fail("problem JSON status differs from the response status");
  } catch (const Poco::Exception& e) {
    fuzz::fail("problem body is not valid JSON: " + e.displayText() + "\n" + out.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quietLogs();
  g_fixture = new Fixture();
  auto r = std::make_shared<Router>();
  addRoute(*r, "GET", "/healthz", "health",
           [](const Request&) -> Result<Response> { return Response::text(200, "ok"); });
  addRoute(*r, "GET", "/api/v1/messages/{id}", "getMessage",
           [](const Request& req) -> Result<Response> {
             const std::string& id = req.param("id");
             if (id == "missing") return Error::notFound("no message " + id);
             if (id == "locked") return Error::conflict("message " + id + " is locked");
             if (id == "down") return Error::unavailable("database unavailable");
             if (id == "throw") throw std::runtime_error("handler bug");
             auto q = req.queryParam("format");
             return Response::json(200, "{\"len\":" + std::to_string(id.size()) + ",\"fmt\":" +
                                            std::to_string(q ? q->size() : 0) + "}");
           });
  addRoute(*r, "POST", "/api/v1/messages", "submitMessage", parseJsonBody, "application/json",
           64 * 1024);
  addRoute(*r, "PUT", "/api/v1/messages/{id}", "putMessage", parseJsonBody, "application/json");
  addRoute(*r, "DELETE", "/api/v1/messages/{id}/attachments/{name}", "deleteAttachment",
           [](const Request& req) -> Result<Response> {
             if (req.param("name").empty()) return Error::invalidInput("empty name");
             return Response::noContent();
           });
  addRoute(*r, "GET", "/api/v1/messages/inbox", "inbox",
           [](const Request&) -> Result<Response> { return Response::json(200, "[]"); });
  g_fixture->router = r;
  Limits limits;
  limits.maxBodyBytes = 256 * 1024;
  limits.maxHeaderBytes = 16 * 1024;
  limits.maxHeaders = 100;
  g_fixture->dispatcher =
      std::make_unique<Dispatcher>(r, limits, g_fixture->registry, g_fixture->clock);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::clearLogs();
  const std::string raw(fuzz::asView(data, size));
  std::istringstream stream(raw);
  Poco::Net::HTTPRequest request;
  IncomingRequest in;
  try {
    request.read(stream);
    in.method = request.getMethod();
    in.target = request.getURI();
    for (const auto& [k, v] : request) in.headers.emplace_back(k, v);
    if (request.hasContentLength()) in.contentLength = request.getContentLength64();
    in.chunked = request.getChunkedTransferEncoding();
  } catch (const Poco::Net::MessageException& e) {
    checkResponse(g_fixture->dispatcher->transportError(FrameworkError::BadRequest, e.message()));
    return 0;
  } catch (const Poco::Exception& e) {
    // e.g. a non-numeric Content-Length (SyntaxException from getContentLength64).
    checkResponse(g_fixture->dispatcher->transportError(FrameworkError::BadRequest, e.message()));
    return 0;
  }
  in.clientAddress = "192.0.2.1:40000";

  std::size_t headEnd = stream.eof() ? raw.size() : static_cast<std::size_t>(stream.tellg());
  std::string_view body = std::string_view(raw).substr(std::min(headEnd, raw.size()));
  if (in.contentLength && *in.contentLength >= 0 &&
      static_cast<uint64_t>(*in.contentLength) < body.size()) {
    body = body.substr(0, static_cast<std::size_t>(*in.contentLength));
  }
  StringBody source(body);
  checkResponse(g_fixture->dispatcher->handle(in, source));

  std::string_view target = in.target;
  g_lastMatch = g_fixture->router->match(in.method, target.substr(0, target.find('?')));
  return 0;
}
