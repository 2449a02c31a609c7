#include "erds/evidence/tsa_client.h"

#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "erds/evidence/rfc3161_tsu.h"

#include "crypto_test_util.h"
#include "test_http_tsa.h"
#include "fake_clock.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;
using erds::testing::FakeClock;

constexpr const char* kPolicy = "1.3.6.1.4.1.99999.1.1";

using Handler = TestHttpTsa::Handler;
using TestServer = TestHttpTsa;

std::string deadUrl() { return TestHttpTsa::deadUrl(); }

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

TEST(HttpTsaClientTest, BearerTokenOnlyWithHttpsUrls) {
  FakeClock clock(nowSeconds());
  auto v = *TimestampVerifier::fromPem(pki().root().certPem);
  HttpTsaClientOptions o;
  o.bearerToken = Secret("s3cr3t-session-token");
  o.urls = {"https://a.example.test/tsa", "http://b.example.test/tsa"};
  auto mixed = HttpTsaClient::create(o, v, clock);
  ASSERT_FALSE(mixed.has_value());
  EXPECT_EQ(mixed.error().code, ErrorCode::InvalidInput);
  EXPECT_NE(mixed.error().message.find("http://b.example.test/tsa"), std::string::npos) << mixed.error().message;
  EXPECT_EQ(mixed.error().message.find("s3cr3t"), std::string::npos);  // the token is never echoed
  o.urls = {"https://a.example.test/tsa"};
  EXPECT_TRUE(HttpTsaClient::create(o, v, clock).has_value());
  o.bearerToken = Secret("");
  EXPECT_EQ(HttpTsaClient::create(o, v, clock).error().code, ErrorCode::InvalidInput);
}

}  // namespace
}  // namespace erds::evidence
