// PortalRoutes against fake API handlers on the same Router: hostile data from the API is escaped,
// every POST needs the CSRF token, pages carry the strict CSP, the gate refusal page explains.
#include "erds/portal/portal_routes.h"

#include <gtest/gtest.h>

#include <mutex>

#include "csrf.h"

namespace erds::portal {
namespace {

using http::Request;
using http::Response;

constexpr const char* kXss1 = "<script>alert(1)</script>";
constexpr const char* kXss2 = "\\\"><img src=x onerror=alert(1)>";  // JSON-escaped form of "><img ...>

struct Fixture : ::testing::Test {
  http::Router router;
  std::unique_ptr<PortalRoutes> portal;
  std::string lastSubmission;
  std::string lastSubmissionType;
  std::mutex mu;

  static bool signedIn(const Request& r) {
    const std::string* c = r.header("Cookie");
    return c != nullptr && c->find("erds_session=good") != std::string::npos;
  }

  void api(const char* method, const char* path, std::string media, http::Handler h, bool stream = false) {
    http::RouteSpec s;
    s.streamRequestBody = stream;
    s.method = method;
    s.path = path;
    s.operationId = std::string(method) + path;
    s.requestMediaType = std::move(media);
    ASSERT_TRUE(router.add(std::move(s), std::move(h)));
  }

  void SetUp() override {
    const std::string hostileSubject = std::string(kXss1) + " & " + kXss2;
    api("GET", "/api/v1/me", "", [](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, std::string(R"({"party":{"roles":["user","officer"]},"login_identifier":"mailto:)") + kXss1 +
                                     R"(","session":{"level":"substantial"},"totp_enrolled":true,"identifiers":[],"identifications":[]})");
    });
    api("POST", "/api/v1/sessions", "application/json", [](const Request& r) -> Result<Response> {
      if (r.body.find("\"password\":\"right\"") == std::string::npos) return Error::unauthorized("invalid credentials");
      Response out = Response::json(201, "{}");
      out.headers.emplace_back("Set-Cookie", "erds_session=good; Path=/; Secure; HttpOnly; SameSite=Strict");
      return out;
    });
    api("GET", "/api/v1/messages", "", [hostileSubject](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, R"({"items":[{"message_id":"m1","subject":")" + hostileSubject +
                                     R"(","sender":"mailto:boss@example.test","consignment_mode":"consent","state":"awaiting_acceptance","created_at":"2025-01-01T00:00:00Z","expires_at":"2025-01-16T00:00:00Z"},)"
                                     R"({"message_id":"m2","subject":"s","sender":"mailto:)" + std::string(kXss1) +
                                     R"(","consignment_mode":"basic","state":"consigned","created_at":"2025-01-01T00:00:00Z","expires_at":"2025-01-16T00:00:00Z"}]})");
    });
    api("GET", "/api/v1/messages/{id}", "", [hostileSubject](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, R"({"message_id":"m1","subject":")" + hostileSubject +
                                     R"(","sender":"mailto:a@example.test","consignment_mode":"consent","required_recipient_level":"substantial","role":"sender",)"
                                     R"("recipients":[{"index":0,"identifier":"mailto:)" + std::string(kXss2) +
                                     R"(","state":"handed_over","last_event":"ContentHandover","state_changed_at":"2025-01-02T00:00:00Z"}],)"
                                     R"("evidence":[{"evidence_id":"e1","event":"SubmissionAcceptance","reason":"RA01","created_at":"2025-01-01T00:00:00Z"},)"
                                     R"({"evidence_id":"e2","event":"ContentHandover","reason":"<i>x</i>","recipient_index":0,"created_at":"2025-01-02T00:00:00Z"}]})");
    });
    api("GET", "/api/v1/messages/{id}/content", "", [](const Request&) -> Result<Response> {
      Response out;
      out.status = 403;
      out.contentType = "application/problem+json";
      out.body = R"({"type":"urn:erds:problem:identity-gate","status":403,"detail":"Get identified <now>","required_level":"substantial"})";
      return out;
    });
    api("POST", "/api/v1/messages", "multipart/form-data", [this](const Request& r) -> Result<Response> {
      std::lock_guard lock(mu);
      if (r.bodyReader == nullptr || r.mediaType != "multipart/form-data") return Error::invalidInput("no streamed body");
      auto all = r.bodyReader->readAll();
      if (!all) return all.error();
      lastSubmission = *all;
      lastSubmissionType = r.header("Content-Type") ? *r.header("Content-Type") : "";
      return Response::json(201, R"({"message_id":"m9","evidence_id":"e9","status":"accepted"})");
    }, /*stream=*/true);
    PortalOptions o;
    o.gatePolicy = identity::builtinGatePolicy(ServiceMode::Qualified);
    portal = std::make_unique<PortalRoutes>(router, std::move(o));
    ASSERT_TRUE(portal->registerRoutes(router));
  }

  Response run(Request r) {
    auto m = router.match(r.method, r.path);
    EXPECT_EQ(m.status, http::Router::MatchStatus::Found) << r.path;
    if (m.status != http::Router::MatchStatus::Found) return {};
    r.routeTemplate = m.spec->path;
    r.pathParams = m.params;
    r.headers.emplace_back("Host", "127.0.0.1:8443");
    auto res = (*m.handler)(r);
    EXPECT_TRUE(res) << (res ? "" : res.error().message);
    return res ? *res : Response{};
  }
  Response getPage(const std::string& path, bool session = true) {
    Request r;
    r.method = "GET";
    r.path = path;
    if (session) r.headers.emplace_back("Cookie", "erds_session=good");
    return run(r);
  }
  static std::string header(const Response& r, const char* name) {
    for (const auto& [n, v] : r.headers)
      if (http::headerNameEquals(n, name)) return v;
    return {};
  }
  static void expectSafe(const Response& r) {
    EXPECT_EQ(r.body.find("<script>alert"), std::string::npos);
    EXPECT_EQ(r.body.find("<img src=x"), std::string::npos);
    EXPECT_EQ(r.body.find("<i>x</i>"), std::string::npos);
    EXPECT_EQ(r.body.find("<now>"), std::string::npos);
  }
};

TEST_F(Fixture, AnonymousHomeIsSignInWithCspAndCsrfCookie) {
  Response r = getPage("/", false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.contentType, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("action=\"/signin\""), std::string::npos);
  const std::string csp = header(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(csp.find("form-action 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(header(r, "Set-Cookie").rfind("__Host-erds_csrf=", 0), 0u);
}

TEST_F(Fixture, SignedInHomeRedirectsToInbox) {
  Response r = getPage("/");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(header(r, "Location"), "/inbox");
}

TEST_F(Fixture, InboxEscapesHostileSubjectsAndHidesSenderBeforeAcceptance) {
  Response r = getPage("/inbox");
  EXPECT_EQ(r.status, 200);
  expectSafe(r);
  EXPECT_NE(r.body.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;&gt;&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_EQ(r.body.find("boss@example.test"), std::string::npos);  // consent, not yet accepted
  EXPECT_NE(r.body.find("shown after you accept"), std::string::npos);
  EXPECT_NE(r.body.find("mailto:&lt;script&gt;"), std::string::npos);  // basic mode: shown, escaped
}

TEST_F(Fixture, MessagePageShowsEscapedTimelineAndDownloads) {
  Response r = getPage("/messages/m1");
  EXPECT_EQ(r.status, 200);
  expectSafe(r);
  EXPECT_NE(r.body.find("SubmissionAcceptance"), std::string::npos);
  EXPECT_NE(r.body.find("ContentHandover"), std::string::npos);
  EXPECT_NE(r.body.find("/messages/m1/evidence/e2"), std::string::npos);
  EXPECT_NE(r.body.find("/messages/m1/bundle"), std::string::npos);
  EXPECT_NE(r.body.find("/messages/m1/receipt"), std::string::npos);
  Response receipt = getPage("/messages/m1/receipt");
  expectSafe(receipt);
  EXPECT_NE(receipt.body.find("class=\"print\""), std::string::npos);
}

TEST_F(Fixture, GateRefusalExplainsHowToGetVerified) {
  Response r = getPage("/messages/m1/content");
  EXPECT_EQ(r.status, 403);
  expectSafe(r);
  EXPECT_NE(r.body.find("Get identified &lt;now&gt;"), std::string::npos);
  EXPECT_NE(r.body.find("registration desk"), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/identity\""), std::string::npos);
}

TEST_F(Fixture, UnauthenticatedPagesRedirectToSignIn) {
  for (const char* p : {"/inbox", "/sent", "/compose", "/messages/m1", "/identity", "/officer", "/account"}) {
    Response r = getPage(p, false);
    EXPECT_EQ(r.status, 303) << p;
    EXPECT_EQ(header(r, "Location"), "/") << p;
  }
}

TEST_F(Fixture, PostWithoutValidCsrfIsRefused) {
  const std::string token = internal::newCsrfToken();
  Request r;
  r.method = "POST";
  r.path = "/signin";
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  r.body = "identifier=a%40example.test&password=right&csrf_token=" + token;
  Response noCookie = run(r);
  EXPECT_EQ(noCookie.status, 403);
  EXPECT_EQ(header(noCookie, "Set-Cookie").find("erds_session"), std::string::npos);

  r.headers.emplace_back("Cookie", std::string(internal::kCsrfCookieName) + "=" + token);
  Response ok = run(r);
  EXPECT_EQ(ok.status, 303);
  EXPECT_EQ(header(ok, "Location"), "/inbox");
  bool session = false;
  for (const auto& [n, v] : ok.headers)
    if (n == "Set-Cookie" && v.rfind("erds_session=good", 0) == 0) session = true;
  EXPECT_TRUE(session);

  r.body = "identifier=a%40example.test&password=wrong&csrf_token=" + token;
  Response bad = run(r);
  EXPECT_EQ(bad.status, 401);
  EXPECT_NE(bad.body.find("Sign-in failed"), std::string::npos);
}

TEST_F(Fixture, ComposeBuildsApiMultipartWithMetadataAndFiles) {
  const std::string token = internal::newCsrfToken();
  Request r;
  r.method = "POST";
  r.path = "/compose";
  r.headers.emplace_back("Cookie", "erds_session=good; " + std::string(internal::kCsrfCookieName) + "=" + token);
  r.headers.emplace_back("Content-Type", "multipart/form-data; boundary=B");
  auto field = [](const char* n, const std::string& v) {
    return "--B\r\nContent-Disposition: form-data; name=\"" + std::string(n) + "\"\r\n\r\n" + v + "\r\n";
  };
  r.body = field("csrf_token", token) + field("recipients", "bruno@example.test, c@example.test") +
           field("subject", "Notice \"1\"") + field("body", "Dear Bruno") + field("consignment_mode", "consent") +
           field("required_recipient_level", "substantial") + field("expiry_days", "15") +
           "--B\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"notice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--B--\r\n";
  Response out = run(r);
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/messages/m9?done=sent");
  std::lock_guard lock(mu);
  EXPECT_EQ(lastSubmissionType.rfind("multipart/form-data; boundary=", 0), 0u);
  EXPECT_NE(lastSubmission.find(R"("recipients":["mailto:bruno@example.test","mailto:c@example.test"])"), std::string::npos);
  EXPECT_NE(lastSubmission.find(R"("subject":"Notice \"1\"")"), std::string::npos);
  EXPECT_NE(lastSubmission.find(R"("expires_in":1296000)"), std::string::npos);
  EXPECT_NE(lastSubmission.find("filename=\"message.txt\""), std::string::npos);
  EXPECT_NE(lastSubmission.find("filename=\"notice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n"), std::string::npos);
}

TEST_F(Fixture, StaticAssetsAreServed) {
  Response css = getPage("/static/portal.css", false);
  EXPECT_EQ(css.contentType, "text/css; charset=utf-8");
  EXPECT_NE(css.body.find("@media print"), std::string::npos);
  Response js = getPage("/static/portal.js", false);
  EXPECT_NE(js.body.find("upload.addEventListener('progress'"), std::string::npos);
}

TEST_F(Fixture, IdentityPageListsQualifiedMethods) {
  Response r = getPage("/identity");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("registration desk"), std::string::npos);
  EXPECT_NE(r.body.find("qualified electronic signature certificate"), std::string::npos);
  EXPECT_EQ(r.body.find("Remote ID document scan"), std::string::npos);  // not accepted for handover/submit
}

}  // namespace
}  // namespace erds::portal
