#include "dispatcher.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "erds/base/log.h"
#include "fake_clock.h"

namespace erds::http::internal {
namespace {

// Serves `data` in pieces and records how much was read.
class StringBody final : public BodySource {
 public:
  explicit StringBody(std::string data) : data_(std::move(data)) {}
  Result<std::size_t> read(char* buf, std::size_t n) override {
    ++calls;
    std::size_t k = std::min(n, data_.size() - pos_);
    std::copy_n(data_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  std::size_t consumed() const { return pos_; }
  int calls = 0;

 private:
  std::string data_;
  std::size_t pos_ = 0;
};

class FailingBody final : public BodySource {
 public:
  explicit FailingBody(Error e) : e_(std::move(e)) {}
  Result<std::size_t> read(char*, std::size_t) override { return e_; }

 private:
  Error e_;
};

std::string header(const OutgoingResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (headerNameEquals(k, name)) return v;
  }
  return "<absent>";
}

Poco::JSON::Object::Ptr json(const std::string& s) {
  Poco::JSON::Parser p;
  return p.parse(s).extract<Poco::JSON::Object::Ptr>();
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("test", log::Level::Debug);
    log::setSinkForTest(&logSink);
    auto r = std::make_shared<Router>();
    RouteSpec echo;
    echo.method = "POST";
    echo.path = "/api/v1/echo/{id}";
    echo.operationId = "echo";
    echo.requestMediaType = "application/json";
    ASSERT_TRUE(r->add(echo, [](const Request& req) -> Result<Response> {
      return Response::json(200, "{\"id\":\"" + req.param("id") +
                                     "\",\"len\":" + std::to_string(req.body.size()) +
                                     ",\"rid\":\"" + req.requestId + "\"}");
    }));
    RouteSpec small;
    small.method = "POST";
    small.path = "/small";
    small.operationId = "small";
    small.requestMediaType = "application/json";
    small.maxBodyBytes = 10;
    ASSERT_TRUE(
        r->add(small, [](const Request&) -> Result<Response> { return Response::noContent(); }));
    RouteSpec get;
    get.method = "GET";
    get.path = "/thing";
    get.operationId = "thing";
    ASSERT_TRUE(r->add(get, [](const Request& req) -> Result<Response> {
      if (req.queryParam("fail") == "notfound") return Error::notFound("no thing here");
      if (req.queryParam("fail") == "internal")
        return Error::internal("sqlstate 42P01: secret table");
      if (req.queryParam("fail") == "throw") throw std::runtime_error("boom with internals");
      if (req.queryParam("fail") == "throwint") throw 42;
      Response resp = Response::text(200, "thing");
      if (req.queryParam("csp"))
        resp.headers.emplace_back("Content-Security-Policy", "default-src 'self'");
      resp.headers.emplace_back("X-Request-Id", "handler-cannot-set-this");
      return resp;
    }));
    router = r;
    limits.maxBodyBytes = 100;
    limits.maxHeaderBytes = 200;
    limits.maxHeaders = 5;
    dispatcher = std::make_unique<Dispatcher>(router, limits, registry, SystemClock::instance());
  }
  void TearDown() override { log::setSinkForTest(nullptr); }

  OutgoingResponse run(IncomingRequest in, std::string body = "") {
    StringBody b(std::move(body));
    return dispatcher->handle(in, b);
  }

  std::string logSink;
  std::shared_ptr<Router> router;
  Limits limits;
  metrics::Registry registry;
  std::unique_ptr<Dispatcher> dispatcher;
};

TEST(RequestId, Sanity) {
  EXPECT_TRUE(isSaneRequestId("abc-DEF_1.2"));
  EXPECT_TRUE(isSaneRequestId(std::string(64, 'a')));
  EXPECT_FALSE(isSaneRequestId(std::string(65, 'a')));
  EXPECT_FALSE(isSaneRequestId(""));
  EXPECT_FALSE(isSaneRequestId("a b"));
  EXPECT_FALSE(isSaneRequestId("a\nb"));
  EXPECT_FALSE(isSaneRequestId("a\"b"));
}

TEST_F(DispatcherTest, RoutesAndEchoesSaneRequestId) {
  IncomingRequest in{"POST",
                     "/api/v1/echo/x%201",
                     {{"Content-Type", "application/json"}, {"X-Request-Id", "client-42"}},
                     4,
                     false,
                     "1.2.3.4:5"};
  auto out = run(in, "abcd");
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(header(out, "X-Request-Id"), "client-42");
  auto body = json(out.body);
  EXPECT_EQ(body->getValue<std::string>("id"), "x 1");
  EXPECT_EQ(body->getValue<int>("len"), 4);
  EXPECT_EQ(body->getValue<std::string>("rid"), "client-42");
  EXPECT_FALSE(out.closeConnection);
}

TEST_F(DispatcherTest, ReplacesInsaneRequestId) {
  IncomingRequest in{"GET",        "/thing", {{"X-Request-Id", "bad id with spaces"}},
                     std::nullopt, false,    ""};
  auto out = run(in);
  std::string rid = header(out, "X-Request-Id");
  EXPECT_NE(rid, "bad id with spaces");
  EXPECT_TRUE(isSaneRequestId(rid));
  // A handler cannot replace the request id.
  int count = 0;
  for (const auto& h : out.headers)
    count += headerNameEquals(h.first, "X-Request-Id");
  EXPECT_EQ(count, 1);
}

TEST_F(DispatcherTest, SecurityHeadersOnEveryResponse) {
  for (const char* target : {"/thing", "/missing", "/thing?fail=internal"}) {
    auto out = run(IncomingRequest{"GET", target, {}, std::nullopt, false, ""});
    EXPECT_EQ(header(out, "Strict-Transport-Security"), "max-age=31536000; includeSubDomains")
        << target;
    EXPECT_EQ(header(out, "X-Content-Type-Options"), "nosniff") << target;
    EXPECT_EQ(header(out, "Cache-Control"), "no-store") << target;
    EXPECT_EQ(header(out, "Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'")
        << target;
  }
  auto custom = run(IncomingRequest{"GET", "/thing?csp=1", {}, std::nullopt, false, ""});
  EXPECT_EQ(header(custom, "Content-Security-Policy"), "default-src 'self'");
}

TEST_F(DispatcherTest, NotFoundAndMethodNotAllowedAreProblems) {
  auto nf = run(IncomingRequest{"GET", "/nope?x=1", {}, std::nullopt, false, ""});
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(header(nf, "Content-Type"), "application/problem+json");
  auto p = json(nf.body);
  EXPECT_EQ(p->getValue<int>("status"), 404);
  EXPECT_EQ(p->getValue<std::string>("instance"), "/nope");
  EXPECT_EQ(p->getValue<std::string>("request_id"), header(nf, "X-Request-Id"));

  auto mna = run(IncomingRequest{"DELETE", "/thing", {}, std::nullopt, false, ""});
  EXPECT_EQ(mna.status, 405);
  EXPECT_EQ(header(mna, "Allow"), "GET");
  EXPECT_EQ(header(mna, "Content-Type"), "application/problem+json");
}

TEST_F(DispatcherTest, ErrorsMapThroughTheTable) {
  auto nf = run(IncomingRequest{"GET", "/thing?fail=notfound", {}, std::nullopt, false, ""});
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(json(nf.body)->getValue<std::string>("detail"), "no thing here");
  EXPECT_EQ(json(nf.body)->getValue<std::string>("type"), "urn:erds:problem:not-found");
  auto internal = run(IncomingRequest{"GET", "/thing?fail=internal", {}, std::nullopt, false, ""});
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.body.find("secret"), std::string::npos);
  EXPECT_NE(logSink.find("secret table"), std::string::npos);  // logged, not returned
}

TEST_F(DispatcherTest, ExceptionsBecomeGeneric500WithRequestIdOnly) {
  for (const char* target : {"/thing?fail=throw", "/thing?fail=throwint"}) {
    auto out =
        run(IncomingRequest{"GET", target, {{"X-Request-Id", "r-1"}}, std::nullopt, false, ""});
    EXPECT_EQ(out.status, 500) << target;
    EXPECT_EQ(out.body.find("boom"), std::string::npos);
    auto p = json(out.body);
    EXPECT_EQ(p->getValue<std::string>("request_id"), "r-1");
    EXPECT_FALSE(p->has("detail"));
  }
  EXPECT_NE(logSink.find("http.unhandled_exception"), std::string::npos);
}

TEST_F(DispatcherTest, ContentLengthOverLimitIs413WithoutReading) {
  IncomingRequest in{
      "POST", "/api/v1/echo/1", {{"Content-Type", "application/json"}}, 1'000'000, false, ""};
  StringBody body(std::string(1'000'000, 'x'));
  auto out = dispatcher->handle(in, body);
  EXPECT_EQ(out.status, 413);
  EXPECT_EQ(body.calls, 0);
  EXPECT_TRUE(out.closeConnection);
  // Also on a path without a route: the global limit is checked first.
  StringBody body2(std::string(1'000, 'x'));
  auto out2 = dispatcher->handle(IncomingRequest{"POST", "/healthz", {}, 1'000, false, ""}, body2);
  EXPECT_EQ(out2.status, 413);
  EXPECT_EQ(body2.calls, 0);
}

TEST_F(DispatcherTest, ChunkedBodyIsCountedWhileStreaming) {
  IncomingRequest in{
      "POST", "/api/v1/echo/1", {{"Content-Type", "application/json"}}, std::nullopt, true, ""};
  StringBody big(std::string(5'000'000, 'x'));
  auto out = dispatcher->handle(in, big);
  EXPECT_EQ(out.status, 413);
  EXPECT_LT(big.consumed(), 200'000u);  // stopped early, not after reading everything
  EXPECT_TRUE(out.closeConnection);
  StringBody fits(std::string(100, 'x'));
  EXPECT_EQ(dispatcher->handle(in, fits).status, 200);
}

TEST_F(DispatcherTest, PerRouteBodyLimit) {
  IncomingRequest in{"POST", "/small", {{"Content-Type", "application/json"}}, 11, false, ""};
  EXPECT_EQ(run(in, std::string(11, 'x')).status, 413);
  in.contentLength = 10;
  EXPECT_EQ(run(in, std::string(10, 'x')).status, 204);
}

TEST_F(DispatcherTest, MediaTypeChecks) {
  IncomingRequest wrong{"POST", "/api/v1/echo/1", {{"Content-Type", "text/plain"}}, 2, false, ""};
  EXPECT_EQ(run(wrong, "{}").status, 415);
  IncomingRequest missing{"POST", "/api/v1/echo/1", {}, 2, false, ""};
  EXPECT_EQ(run(missing, "{}").status, 415);
  IncomingRequest withParams{
      "POST", "/api/v1/echo/1", {{"content-type", "Application/JSON; charset=utf-8"}}, 2, false,
      ""};
  EXPECT_EQ(run(withParams, "{}").status, 200);
  IncomingRequest bodyOnGet{"GET", "/thing", {{"Content-Type", "application/json"}}, 2, false, ""};
  EXPECT_EQ(run(bodyOnGet, "{}").status, 415);
  IncomingRequest emptyBodyOnGet{"GET", "/thing", {}, 0, false, ""};
  EXPECT_EQ(run(emptyBodyOnGet).status, 200);
}

TEST_F(DispatcherTest, HeaderLimitsGive431) {
  Headers many;
  for (int i = 0; i < 6; ++i)
    many.emplace_back("X-H" + std::to_string(i), "v");
  auto out = run(IncomingRequest{"GET", "/thing", many, std::nullopt, false, ""});
  EXPECT_EQ(out.status, 431);
  auto big = run(IncomingRequest{
      "GET", "/thing", {{"X-Big", std::string(300, 'a')}}, std::nullopt, false, ""});
  EXPECT_EQ(big.status, 431);
  EXPECT_EQ(header(big, "Content-Type"), "application/problem+json");
}

TEST_F(DispatcherTest, BodyReadFailures) {
  IncomingRequest in{"POST", "/api/v1/echo/1", {{"Content-Type", "application/json"}}, 10, false,
                     ""};
  FailingBody timeout(Error::unavailable("timeout"));
  EXPECT_EQ(dispatcher->handle(in, timeout).status, 408);
  FailingBody malformed(Error::invalidInput("bad chunk"));
  EXPECT_EQ(dispatcher->handle(in, malformed).status, 400);
}

TEST_F(DispatcherTest, AccessLogAndMetrics) {
  logSink.clear();
  run(IncomingRequest{"GET", "/thing", {{"X-Request-Id", "log-me"}}, std::nullopt, false, ""});
  EXPECT_NE(logSink.find("\"http.request\""), std::string::npos) << logSink;
  EXPECT_NE(logSink.find("\"route\":\"/thing\""), std::string::npos) << logSink;
  EXPECT_NE(logSink.find("\"status\":200"), std::string::npos) << logSink;
  EXPECT_NE(logSink.find("log-me"), std::string::npos) << logSink;
  run(IncomingRequest{"GET", "/random/123", {}, std::nullopt, false, ""});
  std::string text = registry.render();
  EXPECT_NE(text.find("erds_http_requests_total"), std::string::npos) << text;
  EXPECT_NE(text.find("route=\"/thing\""), std::string::npos) << text;
  EXPECT_NE(text.find("route=\"unmatched\""), std::string::npos) << text;
  EXPECT_EQ(text.find("/random/123"), std::string::npos)
      << "unmatched paths must not become labels";
  EXPECT_NE(text.find("erds_http_request_duration_seconds"), std::string::npos) << text;
}

TEST_F(DispatcherTest, TransportErrorsAreProblems) {
  auto out = dispatcher->transportError(FrameworkError::HeadersTooLarge, "Too many header fields");
  EXPECT_EQ(out.status, 431);
  EXPECT_TRUE(out.closeConnection);
  EXPECT_EQ(header(out, "Content-Type"), "application/problem+json");
  EXPECT_EQ(header(out, "X-Content-Type-Options"), "nosniff");
}

}  // namespace
}  // namespace erds::http::internal

namespace erds::http::internal {
namespace {

// Routes with several media types and streaming bodies (request and response).
class StreamingDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("test", log::Level::Debug);
    log::setSinkForTest(&logSink);
    auto r = std::make_shared<Router>();
    RouteSpec multi;
    multi.method = "POST";
    multi.path = "/multi";
    multi.operationId = "multi";
    multi.requestMediaType = "multipart/form-data";
    multi.requestMediaTypes = {{"application/json", ""}};
    EXPECT_TRUE(r->add(multi, [](const Request& req) -> Result<Response> {
      return Response::text(200, req.mediaType + ":" + req.body);
    }));
    RouteSpec up;
    up.method = "POST";
    up.path = "/upload";
    up.operationId = "upload";
    up.requestMediaType = "application/octet-stream";
    up.streamRequestBody = true;
    EXPECT_TRUE(r->add(up, [this](const Request& req) -> Result<Response> {
      EXPECT_TRUE(req.body.empty());
      if (req.bodyReader == nullptr) return Response::text(200, "no body");
      std::size_t total = 0;
      char buf[7];
      for (;;) {
        auto n = req.bodyReader->read(buf, sizeof buf);
        if (!n) {
          if (passReadErrors) return std::move(n).error();
          return Response::text(299, req.bodyReader->limitExceeded() ? "over limit" : "read failed");
        }
        if (*n == 0) break;
        total += *n;
        ++pieces;
        if (stopAfterPieces > 0 && pieces >= stopAfterPieces) break;
      }
      return Response::text(200, std::to_string(total));
    }));
    RouteSpec down;
    down.method = "GET";
    down.path = "/download";
    down.operationId = "download";
    EXPECT_TRUE(r->add(down, [](const Request& req) -> Result<Response> {
      Response resp;
      resp.contentType = "application/octet-stream";
      bool fail = req.queryParam("fail").has_value();
      if (req.queryParam("length")) resp.contentLength = 6;
      resp.producer = [fail](BodyWriter& w) -> Result<void> {
        ERDS_RETURN_IF_ERROR(w.write("abc"));
        if (fail) return Error::integrityFailure("chunk 2 altered");
        return w.write("def");
      };
      return resp;
    }));
    limits.maxBodyBytes = 100;
    dispatcher = std::make_unique<Dispatcher>(r, limits, registry, SystemClock::instance());
  }
  void TearDown() override { log::setSinkForTest(nullptr); }

  static IncomingRequest post(std::string target, std::string ct, int64_t len, bool chunked = false) {
    IncomingRequest in;
    in.method = "POST";
    in.target = std::move(target);
    in.headers = {{"Content-Type", std::move(ct)}};
    if (!chunked) in.contentLength = len;
    in.chunked = chunked;
    return in;
  }

  std::string logSink;
  Limits limits;
  metrics::Registry registry;
  std::unique_ptr<Dispatcher> dispatcher;
  bool passReadErrors = false;
  int pieces = 0;
  int stopAfterPieces = 0;
};

class CollectingWriter final : public BodyWriter {
 public:
  Result<void> write(std::string_view b) override {
    out += b;
    return ok();
  }
  std::string out;
};

TEST_F(StreamingDispatcherTest, SeveralMediaTypesPerRoute) {
  StringBody json("{\"a\":1}");
  auto r = dispatcher->handle(post("/multi", "application/json; charset=utf-8", 7), json);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "application/json:{\"a\":1}");
  StringBody form("x");
  r = dispatcher->handle(post("/multi", "Multipart/Form-Data; boundary=zz", 1), form);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "multipart/form-data:x");
  StringBody text("x");
  r = dispatcher->handle(post("/multi", "text/plain", 1), text);
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("multipart/form-data or application/json"), std::string::npos) << r.body;
  EXPECT_EQ(text.consumed(), 0u);
}

TEST_F(StreamingDispatcherTest, StreamingRequestIsReadIncrementally) {
  StringBody b(std::string(50, 'x'));
  auto r = dispatcher->handle(post("/upload", "application/octet-stream", 50), b);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "50");
  EXPECT_GE(pieces, 8);  // the handler's 7-byte reads reached it piece by piece
  EXPECT_FALSE(r.closeConnection);
}

TEST_F(StreamingDispatcherTest, AnnouncedOversizedStreamingBodyIs413BeforeReading) {
  StringBody b(std::string(500, 'x'));
  auto r = dispatcher->handle(post("/upload", "application/octet-stream", 500), b);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(b.calls, 0);
  EXPECT_TRUE(r.closeConnection);
}

TEST_F(StreamingDispatcherTest, ChunkedStreamingBodyIsCutAtTheLimit) {
  StringBody b(std::string(100000, 'x'));
  auto r = dispatcher->handle(post("/upload", "application/octet-stream", 0, true), b);
  EXPECT_EQ(r.status, 299);
  EXPECT_EQ(r.body, "over limit");
  EXPECT_LE(b.consumed(), 101u);  // at most one byte past the limit was read
  EXPECT_TRUE(r.closeConnection);

  // A handler that passes the read error on gets the framework's 413.
  passReadErrors = true;
  StringBody b2(std::string(100000, 'x'));
  r = dispatcher->handle(post("/upload", "application/octet-stream", 0, true), b2);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(r.closeConnection);
  EXPECT_LE(b2.consumed(), 101u);
}

TEST_F(StreamingDispatcherTest, MalformedFramingAndTimeoutsMapToProblems) {
  passReadErrors = true;
  FailingBody bad(Error::invalidInput("bad chunk"));
  auto r = dispatcher->handle(post("/upload", "application/octet-stream", 0, true), bad);
  EXPECT_EQ(r.status, 400);
  FailingBody slow(Error::unavailable("timeout"));
  r = dispatcher->handle(post("/upload", "application/octet-stream", 10), slow);
  EXPECT_EQ(r.status, 408);
}

TEST_F(StreamingDispatcherTest, UnreadStreamingBodyClosesTheConnection) {
  stopAfterPieces = 1;
  StringBody b(std::string(50, 'x'));
  auto r = dispatcher->handle(post("/upload", "application/octet-stream", 50), b);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "7");
  EXPECT_TRUE(r.closeConnection);
}

TEST_F(StreamingDispatcherTest, ResponseProducerIsHandedToTheTransport) {
  IncomingRequest in;
  in.method = "GET";
  in.target = "/download?length=1";
  StringBody none("");
  auto r = dispatcher->handle(in, none);
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(r.producer);
  EXPECT_EQ(r.contentLength, 6);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  CollectingWriter w;
  EXPECT_TRUE(r.producer(w).has_value());
  EXPECT_EQ(w.out, "abcdef");

  in.target = "/download?fail=1";
  r = dispatcher->handle(in, none);
  ASSERT_TRUE(r.producer);
  EXPECT_FALSE(r.contentLength.has_value());
  CollectingWriter w2;
  auto res = r.producer(w2);
  ASSERT_FALSE(res.has_value());
  EXPECT_TRUE(res.error().is(ErrorCode::IntegrityFailure));
  EXPECT_EQ(w2.out, "abc");
}

// Rate limits: per client IP before routing, per account from a handler's rateLimitedError().
class RateLimitDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("test", log::Level::Warn);
    auto r = std::make_shared<Router>();
    RouteSpec get;
    get.method = "GET";
    get.path = "/thing";
    get.operationId = "thing";
    ASSERT_TRUE(r->add(get, [](const Request&) -> Result<Response> { return Response::text(200, "ok"); }));
    RouteSpec post;
    post.method = "POST";
    post.path = "/upload";
    post.operationId = "upload";
    post.requestMediaType = "application/json";
    ASSERT_TRUE(r->add(post, [](const Request&) -> Result<Response> { return Response::noContent(); }));
    RouteSpec account;
    account.method = "GET";
    account.path = "/mine";
    account.operationId = "mine";
    // What an authenticated handler returns when HttpAuthenticator refuses the party's request.
    ASSERT_TRUE(r->add(account, [](const Request&) -> Result<Response> {
      return rateLimitedError(std::chrono::seconds(3));
    }));
    limits.ratePerIpPerSecond = 1;
    limits.rateBurst = 2;
    limits.rateExemptIps = {"127.0.0.1", "::1"};
    dispatcher = std::make_unique<Dispatcher>(r, limits, registry, clock);
  }
  OutgoingResponse get(const std::string& client, const std::string& target = "/thing") {
    StringBody none("");
    return dispatcher->handle(IncomingRequest{"GET", target, {}, std::nullopt, false, client}, none);
  }

  testing::FakeClock clock{TimePoint(std::chrono::seconds(1'800'000'000))};
  Limits limits;
  metrics::Registry registry;
  std::unique_ptr<Dispatcher> dispatcher;
};

TEST_F(RateLimitDispatcherTest, PerIpLimitAnswers429WithRetryAfterThenRecovers) {
  EXPECT_EQ(get("198.51.100.7:1000").status, 200);
  EXPECT_EQ(get("198.51.100.7:1001").status, 200);  // another connection, same address
  auto limited = get("198.51.100.7:1002");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(header(limited, "Retry-After"), "1");
  EXPECT_EQ(header(limited, "Content-Type"), "application/problem+json");
  EXPECT_EQ(header(limited, "Strict-Transport-Security"), "max-age=31536000; includeSubDomains");
  auto p = json(limited.body);
  EXPECT_EQ(p->getValue<int>("status"), 429);
  EXPECT_EQ(p->getValue<std::string>("type"), "urn:erds:problem:too-many-requests");
  EXPECT_FALSE(limited.closeConnection);  // no body left unread
  // Another client is not affected.
  EXPECT_EQ(get("198.51.100.8:1000").status, 200);
  // After the announced wait the client is served again.
  clock.advance(std::chrono::seconds(std::stoi(header(limited, "Retry-After"))));
  EXPECT_EQ(get("198.51.100.7:1003").status, 200);
  EXPECT_EQ(get("198.51.100.7:1004").status, 429);
  std::string text = registry.render();
  EXPECT_NE(text.find("erds_http_rate_limited_total{scope=\"ip\"} 2"), std::string::npos) << text;
}

TEST_F(RateLimitDispatcherTest, LimitedRequestWithBodyClosesTheConnectionUnread) {
  for (int i = 0; i < 2; ++i) EXPECT_EQ(get("192.0.2.1:1").status, 200);
  StringBody body("{\"a\":1}");
  auto out = dispatcher->handle(
      IncomingRequest{"POST", "/upload", {{"Content-Type", "application/json"}}, 7, false, "192.0.2.1:1"}, body);
  EXPECT_EQ(out.status, 429);
  EXPECT_TRUE(out.closeConnection);
  EXPECT_EQ(body.consumed(), 0u);  // refused before the body was read
}

TEST_F(RateLimitDispatcherTest, Ipv6ClientsAreLimitedPerSlash64) {
  EXPECT_EQ(get("[2001:db8::1]:1").status, 200);
  EXPECT_EQ(get("[2001:db8::2]:1").status, 200);
  EXPECT_EQ(get("[2001:db8::3]:1").status, 429);  // same /64
  EXPECT_EQ(get("[2001:db8:0:1::1]:1").status, 200);  // another /64
}

TEST_F(RateLimitDispatcherTest, ExemptAddressesAreNeverLimited) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(get("127.0.0.1:" + std::to_string(2000 + i)).status, 200) << i;
    ASSERT_EQ(get("[::1]:" + std::to_string(2000 + i)).status, 200) << i;
  }
}

TEST_F(RateLimitDispatcherTest, AccountLimitFromTheAuthenticatorIs429WithRetryAfter) {
  auto out = get("127.0.0.1:1", "/mine");
  EXPECT_EQ(out.status, 429);
  EXPECT_EQ(header(out, "Retry-After"), "3");
  EXPECT_EQ(header(out, "Content-Type"), "application/problem+json");
  EXPECT_EQ(json(out.body)->getValue<std::string>("detail"), "too many requests for this account");
  std::string text = registry.render();
  EXPECT_NE(text.find("erds_http_rate_limited_total{scope=\"account\"} 1"), std::string::npos) << text;
}

TEST_F(RateLimitDispatcherTest, ZeroRateTurnsThePerIpLimitOff) {
  limits.ratePerIpPerSecond = 0;
  auto r = std::make_shared<Router>();
  RouteSpec get;
  get.method = "GET";
  get.path = "/thing";
  get.operationId = "thing";
  ASSERT_TRUE(r->add(get, [](const Request&) -> Result<Response> { return Response::noContent(); }));
  Dispatcher open(r, limits, registry, clock);
  for (int i = 0; i < 100; ++i) {
    StringBody none("");
    ASSERT_EQ(open.handle(IncomingRequest{"GET", "/thing", {}, std::nullopt, false, "192.0.2.9:1"}, none).status, 204);
  }
}

}  // namespace
}  // namespace erds::http::internal
