#include "erds/evidence/tsa_client.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "erds/evidence/rfc3161_tsu.h"

#include "crypto_test_util.h"
#include "fake_clock.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;
using erds::testing::FakeClock;

constexpr const char* kPolicy = "1.3.6.1.4.1.99999.1.1";

const TestPki& pki() {
  static const TestPki p;
  return p;
}

// (request body) -> (HTTP status, response body)
using Handler = std::function<std::pair<int, std::string>(const std::string&)>;

class FnHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit FnHandler(Handler h) : h_(std::move(h)) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& resp) override {
    std::ostringstream body;
    Poco::StreamCopier::copyStream(req.stream(), body);
    auto [status, out] = h_(body.str());
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    resp.setContentType("application/timestamp-reply");
    resp.setContentLength(static_cast<std::streamsize>(out.size()));
    resp.send() << out;
  }

 private:
  Handler h_;
};

class FnFactory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit FnFactory(Handler h) : h_(std::move(h)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new FnHandler(h_);
  }

 private:
  Handler h_;
};

// A real HTTP server on 127.0.0.1, port 0.
class TestServer {
 public:
  explicit TestServer(Handler h)
      : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)),
        server_(new FnFactory(std::move(h)), socket_, new Poco::Net::HTTPServerParams) {
    server_.start();
  }
  ~TestServer() { server_.stopAll(true); }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + "/tsa";
  }

 private:
  Poco::Net::ServerSocket socket_;
  Poco::Net::HTTPServer server_;
};

std::string deadUrl() {
  Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
  const auto port = s.address().port();
  s.close();
  return "http://127.0.0.1:" + std::to_string(port) + "/tsa";
}

struct ClientFixture {
  FakeClock clock{nowSeconds()};
  std::unique_ptr<TsuFixture> tsuKeys;
  std::unique_ptr<Rfc3161Tsu> tsu;
  explicit ClientFixture(bool qualified = false) {
    TestCertOptions o;
    o.qtstStatement = qualified;
    tsuKeys = std::make_unique<TsuFixture>(pki(), o);
    Rfc3161TsuOptions opts;
    opts.policyOid = kPolicy;
    opts.clockSyncCheck = [] { return ok(); };
    auto t = Rfc3161Tsu::create(tsuKeys->signer, opts, clock);
    ERDS_CHECK(t.has_value(), "test TSU");
    tsu = std::move(*t);
  }
  Handler good() {
    return [this](const std::string& body) -> std::pair<int, std::string> {
      auto r = tsu->respond(body);
      return r ? std::pair<int, std::string>{200, *r} : std::pair<int, std::string>{500, ""};
    };
  }
  std::unique_ptr<HttpTsaClient> client(std::vector<std::string> urls,
                                        bool requireQualified = false,
                                        const std::string& trustPem = "") {
    HttpTsaClientOptions o;
    o.urls = std::move(urls);
    o.policyOid = kPolicy;
    o.requireQualified = requireQualified;
    o.connectTimeout = std::chrono::milliseconds(2000);
    o.requestTimeout = std::chrono::milliseconds(5000);
    auto v = TimestampVerifier::fromPem(trustPem.empty() ? pki().root().certPem : trustPem);
    ERDS_CHECK(v.has_value(), "verifier");
    auto c = HttpTsaClient::create(o, *v, clock);
    ERDS_CHECK(c.has_value(), "client");
    return std::move(*c);
  }
};

TEST(HttpTsaClientTest, GetsVerifiedTokenOverHttp) {
  ClientFixture f;
  TestServer server(f.good());
  const std::string digest = sha256Of("evidence");
  auto token = f.client({server.url()})->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  EXPECT_EQ(token->genTime, f.clock.now());
  auto v = TimestampVerifier::fromPem(pki().root().certPem);
  EXPECT_TRUE((*v)->verify(token->der, digest).has_value());
}

TEST(HttpTsaClientTest, FailsOverFromDeadAndBadServersInOrder) {
  ClientFixture f;
  int badCalls = 0;
  TestServer garbage([&](const std::string&) -> std::pair<int, std::string> {
    ++badCalls;
    return {200, "this is not DER"};
  });
  // A well-formed, validly signed response, but for another digest (imprint and nonce mismatch).
  TestServer wrongImprint([&](const std::string&) -> std::pair<int, std::string> {
    ++badCalls;
    return {200, *f.tsu->respond(*buildTimestampRequest(sha256Of("something else")))};
  });
  TestServer error500([&](const std::string&) -> std::pair<int, std::string> {
    ++badCalls;
    return {500, "oops"};
  });
  TestServer good(f.good());
  const std::string digest = sha256Of("evidence");
  auto client =
      f.client({deadUrl(), garbage.url(), wrongImprint.url(), error500.url(), good.url()});
  auto token = client->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  EXPECT_EQ(badCalls, 3);

  auto none = f.client({deadUrl(), garbage.url(), wrongImprint.url()})->timestamp(digest);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::Unavailable);
}

TEST(HttpTsaClientTest, RejectsUntrustedAndUnqualifiedTsa) {
  ClientFixture f;
  TestServer server(f.good());
  const std::string digest = sha256Of("evidence");
  const TestPki other("other DEVELOPMENT root");
  auto untrusted = f.client({server.url()}, false, other.root().certPem)->timestamp(digest);
  ASSERT_FALSE(untrusted.has_value());
  EXPECT_EQ(untrusted.error().code, ErrorCode::Unavailable);

  auto unqualified = f.client({server.url()}, true)->timestamp(digest);
  ASSERT_FALSE(unqualified.has_value());
  EXPECT_NE(unqualified.error().message.find("not qualified"), std::string::npos)
      << unqualified.error().message;

  ClientFixture q(/*qualified=*/true);
  TestServer qserver(q.good());
  auto qualified = q.client({qserver.url()}, true)->timestamp(digest);
  EXPECT_TRUE(qualified.has_value()) << qualified.error().toString();
}

TEST(HttpTsaClientTest, RejectsGenTimeFarFromLocalClock) {
  ClientFixture f;
  TestServer server(f.good());
  FakeClock localClock(f.clock.now() + std::chrono::hours(1));
  HttpTsaClientOptions o;
  o.urls = {server.url()};
  auto c = HttpTsaClient::create(o, *TimestampVerifier::fromPem(pki().root().certPem), localClock);
  ASSERT_TRUE(c.has_value());
  auto token = (*c)->timestamp(sha256Of("x"));
  ASSERT_FALSE(token.has_value());
  EXPECT_NE(token.error().message.find("too far"), std::string::npos) << token.error().message;
}

TEST(HttpTsaClientTest, CreateValidatesOptions) {
  FakeClock clock(nowSeconds());
  auto v = *TimestampVerifier::fromPem(pki().root().certPem);
  for (const auto& urls :
       std::vector<std::vector<std::string>>{{}, {"ftp://x/"}, {"http://"}, {"not a url"}}) {
    HttpTsaClientOptions o;
    o.urls = urls;
    auto c = HttpTsaClient::create(o, v, clock);
    ASSERT_FALSE(c.has_value()) << (urls.empty() ? "" : urls[0]);
    EXPECT_EQ(c.error().code, ErrorCode::InvalidInput);
  }
  HttpTsaClientOptions o;
  o.urls = {"https://tsa.example.test/"};
  EXPECT_EQ(HttpTsaClient::create(o, nullptr, clock).error().code, ErrorCode::InvalidInput);
  EXPECT_TRUE(HttpTsaClient::create(o, v, clock).has_value());
  auto c = HttpTsaClient::create(o, v, clock);
  EXPECT_EQ((*c)->timestamp("short").error().code, ErrorCode::InvalidInput);
}

}  // namespace
}  // namespace erds::evidence
