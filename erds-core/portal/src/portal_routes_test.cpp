// PortalRoutes against fake API handlers on the same Router: hostile data from the API is escaped,
// every POST needs the CSRF token, pages carry the strict CSP, the gate refusal page explains.
#include "erds/portal/portal_routes.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "csrf.h"

namespace erds::portal {
namespace {

using http::Request;
using http::Response;

constexpr const char* kXss1 = "<script>alert(1)</script>";
constexpr const char* kXss2 = "\\\"><img src=x onerror=alert(1)>";  // JSON-escaped form of "><img ...>

// A streamed request body handed out in small reads (as the server does for streamed routes).
class StringReader final : public http::BodyReader {
 public:
  explicit StringReader(std::string body) : body_(std::move(body)) {}
  Result<std::size_t> read(char* buf, std::size_t n) override {
    std::size_t k = std::min<std::size_t>({n, 1000, body_.size() - pos_});
    std::copy_n(body_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  bool limitExceeded() const override { return false; }
  int64_t limit() const override { return 1 << 30; }

 private:
  std::string body_;
  std::size_t pos_ = 0;
};

struct Fixture : ::testing::Test {
  http::Router router;
  std::unique_ptr<PortalRoutes> portal;
  std::string lastSubmission;
  std::string lastSubmissionType;
  std::map<std::string, std::string> received;  // "METHOD path" -> body (+ " | " content type)
  std::mutex mu;

  void remember(const Request& r) {
    std::lock_guard lock(mu);
    std::string body = r.body;
    if (r.bodyReader) {
      auto all = r.bodyReader->readAll();
      if (all) body = *all;
    }
    received[r.method + " " + r.path] = body + " | " + (r.header("Content-Type") ? *r.header("Content-Type") : "");
  }

  static bool signedIn(const Request& r) {
    const std::string* c = r.header("Cookie");
    return c != nullptr && c->find("erds_session=good") != std::string::npos;
  }
  // "erds_session=goodstrong": a session signed in with a second factor.
  static bool strongSession(const Request& r) {
    const std::string* c = r.header("Cookie");
    return c != nullptr && c->find("erds_session=goodstrong") != std::string::npos;
  }
  bool tokensAllowed = true;  // identity.smtp_app_tokens as the policy route reports it

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
      return Response::json(200, std::string(R"({"party":{"id":"o1","roles":["user","officer"]},"login_identifier":"mailto:)") + kXss1 +
                                     R"(","session":{"level":"substantial")" + (strongSession(r) ? R"(,"strong":true)" : "") +
                                     R"(},"totp_enrolled":true,"identifiers":[],"identifications":[]})");
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
                                     R"({"evidence_id":"e2","event":"ContentHandover","reason":"<i>x</i>","recipient_index":0,"created_at":"2025-01-02T00:00:00Z"}],)"
                                     R"("parts":[{"index":0,"name":")" + std::string(kXss2) + R"(.pdf","content_type":"application/pdf","size":4096,"sha256":"ab12"}]})");
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
    api("GET", "/api/v1/identity/policy", "", [this](const Request&) -> Result<Response> {
      return Response::json(200, std::string(R"({"smtp_app_tokens":)") + (tokensAllowed ? "true" : "false") +
                                 R"(,"profile":"qualified","submit":{"min_level":"substantial","methods":[],"strong_authentication":true},)"
                                 R"("handover":{"min_level":"substantial","methods":[{"method":"physical_presence"},"qualified_certificate"],"strong_authentication":false},)"
                                 R"("methods":[{"method":"physical_presence","label":"In person <desk>","requestable":true},)"
                                 R"({"method":"remote_id_document_scan","label":"ID scan","requestable":true},)"
                                 R"({"method":"qualified_certificate","label":"Qualified certificate","requestable":true}]})");
    });
    const std::string hostileNote = std::string(kXss1) + " " + kXss2;
    const std::string requests =
        R"({"verification_requests":[)"
        R"({"id":"r2","party_id":"p2","requested_level":"high","status":"awaiting_second_approval","method":"physical_presence","created_at":"2025-01-03T00:00:00Z",)"
        R"("deadline":"2025-01-08T00:00:00Z","appointment":{"preferred_at":"2025-01-05T09:30:00Z","note":")" + hostileNote + R"("},"documents":[],)"
        R"("approvals":[{"officer_id":"o1","method":"physical_presence","level":"high","at":"2025-01-04T00:00:00Z"}]},)"
        R"({"id":"r1","party_id":"p1","requested_level":"substantial","status":"open","method":"remote_id_document_scan","created_at":"2025-01-01T00:00:00Z",)"
        R"("deadline":"2025-01-06T00:00:00Z","documents":[{"id":"d1","content_type":"image/png","size":2048,"uploaded_at":"2025-01-01T00:01:00Z","purged":false}],"approvals":[]}]})";
    api("GET", "/api/v1/identity/verification-requests", "", [requests](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, requests);
    });
    api("GET", "/api/v1/officer/verification-requests", "", [requests](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, requests);
    });
    api("POST", "/api/v1/identity/verification-requests", "application/json", [this](const Request& r) -> Result<Response> {
      remember(r);
      return Response::json(201, R"({"id":"r7","status":"open"})");
    });
    api("POST", "/api/v1/identity/verification-requests/{id}/documents", "image/png", [this](const Request& r) -> Result<Response> {
      remember(r);
      return Response::json(201, R"({"document_id":"d7","sha256":"00"})");
    }, /*stream=*/true);
    api("GET", "/api/v1/officer/verification-requests/{id}/documents/{doc}", "", [](const Request&) -> Result<Response> {
      Response out;
      out.contentType = "image/png";
      out.body = "\x89PNG";
      return out;
    });
    api("POST", "/api/v1/me/certificate-challenge", "", [](const Request&) -> Result<Response> {
      return Response::json(201, R"({"challenge":"abc.123.<mac>","expires_at":"2025-01-01T00:05:00Z"})");
    });
    api("POST", "/api/v1/me/certificate-identification", "application/json", [this](const Request& r) -> Result<Response> {
      remember(r);
      return Response::json(201, "{}");
    });
    api("POST", "/api/v1/sessions/certificate", "", [](const Request& r) -> Result<Response> {
      if (r.clientCertificateChain.empty()) return Error::unauthorized("no client certificate");
      Response out = Response::json(201, "{}");
      out.headers.emplace_back("Set-Cookie", "erds_session=good; Path=/; Secure; HttpOnly; SameSite=Strict");
      return out;
    });
    api("GET", "/api/v1/me/certificates", "", [](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, std::string(R"({"certificates":[{"id":"c1","subject":"CN=)") + kXss1 +
                                     R"(","issuer":"CN=DEVELOPMENT root","not_after":"2030-01-01T00:00:00Z"}]})");
    });
    api("DELETE", "/api/v1/me/certificates/{id}", "", [this](const Request& r) -> Result<Response> {
      remember(r);
      return Response::noContent();
    });
    api("GET", "/api/v1/me/app-tokens", "", [](const Request& r) -> Result<Response> {
      if (!signedIn(r)) return Error::unauthorized("authentication required");
      return Response::json(200, std::string(R"({"app_tokens":[{"id":"apt_1","name":")") + kXss1 +
                                     R"(","scope":"smtp-submit","created_at":"2025-01-01T00:00:00Z","expires_at":"2025-04-01T00:00:00Z","last_used_at":null,"revoked":false},)"
                                     R"({"id":"apt_2","name":"old","scope":"smtp-submit","created_at":"2024-01-01T00:00:00Z","expires_at":"2024-04-01T00:00:00Z","last_used_at":"2024-02-01T10:00:00Z","revoked":true}]})");
    });
    api("POST", "/api/v1/me/app-tokens", "application/json", [this](const Request& r) -> Result<Response> {
      remember(r);
      if (!strongSession(r)) {
        Response out;
        out.status = 403;
        out.contentType = "application/problem+json";
        out.body = R"({"type":"about:blank","status":403,"detail":"sign in with a second factor (or a certificate) before creating an application token"})";
        return out;
      }
      return Response::json(201, std::string(R"({"id":"apt_9","name":")") + kXss2 +
                                     R"(","scope":"smtp-submit","expires_at":"2025-02-01T00:00:00Z","token":"erds_at_SECRETsecretSECRETsecretSECRETsecretSECR"})");
    });
    api("DELETE", "/api/v1/me/app-tokens/{id}", "", [this](const Request& r) -> Result<Response> {
      remember(r);
      return Response::noContent();
    });
    PortalOptions o;
    o.clientCertPort = 8444;
    o.smtpHost = "mail.example.test";
    o.smtpPort = 2525;
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
    std::optional<StringReader> reader;
    if (m.spec->streamRequestBody && !r.body.empty()) {
      reader.emplace(std::move(r.body));
      r.body.clear();
      r.bodyReader = &*reader;
    }
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

TEST_F(Fixture, SentListsEachMessageWithItsEscapedRecipientsAndStates) {
  Response r = getPage("/sent");
  EXPECT_EQ(r.status, 200);
  expectSafe(r);
  EXPECT_NE(r.body.find("<caption>Messages you sent, newest first</caption>"), std::string::npos);
  EXPECT_NE(r.body.find("<th scope=\"col\">Recipients and status</th>"), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/messages/m1\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/messages/m2\""), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);  // subject, escaped
  // One recipient line per message (the detail call), escaped, with the human state.
  std::size_t items = 0;
  for (std::size_t at = r.body.find("<li>"); at != std::string::npos; at = r.body.find("<li>", at + 1)) {
    if (r.body.compare(at, 11, "<li>mailto:") == 0) ++items;
  }
  EXPECT_EQ(items, 2u) << r.body;
  EXPECT_NE(r.body.find("<span class=\"state\">"), std::string::npos);
  EXPECT_EQ(r.body.find("shown after you accept"), std::string::npos);  // inbox-only column
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
  for (const char* p : {"/inbox", "/sent", "/compose", "/messages/m1", "/identity", "/officer", "/account", "/account/app-tokens"}) {
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
  const std::string filePart =
      "--B\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"notice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF" +
      std::string(200000, 'z') + "\r\n";
  r.body = field("csrf_token", token) + field("recipients", "bruno@example.test, c@example.test") +
           field("subject", "Notice \"1\"") + field("body", "Dear Bruno") + field("consignment_mode", "consent") +
           field("required_recipient_level", "substantial") + field("expiry_days", "15") + filePart + "--B--\r\n";
  Response out = run(r);
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/messages/m9?done=sent");
  std::lock_guard lock(mu);
  EXPECT_EQ(lastSubmissionType.rfind("multipart/form-data; boundary=", 0), 0u);
  EXPECT_NE(lastSubmission.find(R"("recipients":["mailto:bruno@example.test","mailto:c@example.test"])"), std::string::npos);
  EXPECT_NE(lastSubmission.find(R"("subject":"Notice \"1\"")"), std::string::npos);
  EXPECT_NE(lastSubmission.find(R"("expires_in":1296000)"), std::string::npos);
  EXPECT_NE(lastSubmission.find("filename=\"message.txt\""), std::string::npos);
  // The metadata part comes first; the browser's file part follows byte for byte, then the end.
  EXPECT_EQ(lastSubmission.rfind("--B\r\nContent-Disposition: form-data; name=\"metadata\"", 0), 0u);
  ASSERT_GE(lastSubmission.size(), filePart.size() + 7);
  EXPECT_EQ(lastSubmission.substr(lastSubmission.size() - filePart.size() - 7), filePart + "--B--\r\n");
}

TEST_F(Fixture, ComposeFormPutsTheFileInputLastAndShowsTheLimit) {
  Response r = getPage("/compose");
  const auto files = r.body.find("name=\"attachments\"");
  ASSERT_NE(files, std::string::npos);
  for (const char* f : {"name=\"csrf_token\"", "name=\"recipients\"", "name=\"subject\"", "name=\"body\"", "name=\"consignment_mode\"",
                        "name=\"required_recipient_level\"", "name=\"expiry_days\""})
    EXPECT_LT(r.body.find(f), files) << f;  // the portal streams files on and needs every field first
  EXPECT_NE(r.body.find("at most 64 MB in total"), std::string::npos);
  EXPECT_NE(r.body.find("<progress id=\"upload-bar\""), std::string::npos);
}

TEST_F(Fixture, StaticAssetsAreServed) {
  Response css = getPage("/static/portal.css", false);
  EXPECT_EQ(css.contentType, "text/css; charset=utf-8");
  EXPECT_NE(css.body.find("@media print"), std::string::npos);
  Response js = getPage("/static/portal.js", false);
  EXPECT_NE(js.body.find("upload.addEventListener('progress'"), std::string::npos);
}

TEST_F(Fixture, PolicyTableMarksWhatEachMethodCountsFor) {
  Response r = getPage("/identity");
  EXPECT_EQ(r.status, 200);
  // The row of the scan: sending any method (substantial), receiving only desk or certificate.
  const auto row = r.body.find("<th scope=\"row\">ID scan</th>");
  ASSERT_NE(row, std::string::npos);
  EXPECT_EQ(r.body.substr(row, r.body.find("</tr>", row) - row),
            "<th scope=\"row\">ID scan</th><td class=\"yes\">yes, level substantial or higher</td><td class=\"no\">no</td>"
            "<td><a href=\"#scan\">upload a scan</a></td>");
  const auto desk = r.body.find("<th scope=\"row\">In person &lt;desk&gt;</th>");
  ASSERT_NE(desk, std::string::npos);
  EXPECT_NE(r.body.substr(desk, r.body.find("</tr>", desk) - desk).find("<td class=\"yes\">yes, level substantial or higher</td><td class=\"yes\">"),
            std::string::npos);
}

// A POST with the CSRF cookie, the token and the session.
Request formPost(const std::string& path, const std::string& contentType, const std::string& body, const std::string& token) {
  Request r;
  r.method = "POST";
  r.path = path;
  r.headers.emplace_back("Cookie", "erds_session=good; " + std::string(internal::kCsrfCookieName) + "=" + token);
  r.headers.emplace_back("Content-Type", contentType);
  r.body = body;
  return r;
}
std::string mpField(const char* n, const std::string& v) {
  return "--B\r\nContent-Disposition: form-data; name=\"" + std::string(n) + "\"\r\n\r\n" + v + "\r\n";
}
std::string mpFile(const char* n, const std::string& filename, const std::string& type, const std::string& data) {
  return "--B\r\nContent-Disposition: form-data; name=\"" + std::string(n) + "\"; filename=\"" + filename +
         "\"\r\nContent-Type: " + type + "\r\n\r\n" + data + "\r\n";
}

TEST_F(Fixture, IdentityPageShowsPolicyTableRequestFormsAndEscapedStatus) {
  Response r = getPage("/identity");
  EXPECT_EQ(r.status, 200);
  expectSafe(r);
  // The policy table from GET /api/v1/identity/policy, labels escaped.
  EXPECT_NE(r.body.find("<table class=\"policy\">"), std::string::npos);
  EXPECT_NE(r.body.find("In person &lt;desk&gt;"), std::string::npos);
  EXPECT_NE(r.body.find("Counts for sending"), std::string::npos);
  EXPECT_NE(r.body.find("<td class=\"no\">no</td>"), std::string::npos);  // the scan does not count for receiving
  EXPECT_NE(r.body.find("2025/1944"), std::string::npos);
  // One form per way of getting verified.
  EXPECT_NE(r.body.find("action=\"/identity/requests/scan\" enctype=\"multipart/form-data\""), std::string::npos);
  EXPECT_NE(r.body.find("accept=\"image/jpeg,image/png,application/pdf\""), std::string::npos);
  EXPECT_NE(r.body.find("at most 10 MB"), std::string::npos);
  EXPECT_NE(r.body.find("action=\"/identity/requests/appointment\""), std::string::npos);
  EXPECT_NE(r.body.find("type=\"datetime-local\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/identity/certificate\""), std::string::npos);
  // Status of each request: method, documents, appointment (hostile note escaped), deadline, approvals.
  EXPECT_NE(r.body.find("awaiting second approval"), std::string::npos);
  EXPECT_NE(r.body.find("2025-01-05 09:30:00 UTC"), std::string::npos);
  EXPECT_NE(r.body.find("note: &lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(r.body.find("2025-01-08 00:00:00 UTC"), std::string::npos);
  EXPECT_NE(r.body.find("image/png, 2 KB"), std::string::npos);
  EXPECT_NE(r.body.find("officer <span class=\"mono\">o1</span>"), std::string::npos);
}

TEST_F(Fixture, ScanUploadOpensRequestAndSendsRawDocument) {
  const std::string token = internal::newCsrfToken();
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, '\0');
  Response out = run(formPost("/identity/requests/scan", "multipart/form-data; boundary=B",
                              mpField("csrf_token", token) + mpField("requested_level", "substantial") +
                                  mpFile("document", "<id>.png", "image/png", png) + "--B--\r\n",
                              token));
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/identity?done=uploaded");
  std::lock_guard lock(mu);
  EXPECT_EQ(received["POST /api/v1/identity/verification-requests"],
            R"({"requested_level":"substantial","method":"remote_id_document_scan"} | application/json)");
  EXPECT_EQ(received["POST /api/v1/identity/verification-requests/r7/documents"], png + " | image/png");
}

TEST_F(Fixture, ScanOfAnotherTypeIsRefusedBeforeOpeningARequest) {
  const std::string token = internal::newCsrfToken();
  Response out = run(formPost("/identity/requests/scan", "multipart/form-data; boundary=B",
                              mpField("csrf_token", token) + mpFile("document", "x.html", "text/html", "<script>") + "--B--\r\n", token));
  EXPECT_EQ(out.status, 415);
  expectSafe(out);
  std::lock_guard lock(mu);
  EXPECT_EQ(received.count("POST /api/v1/identity/verification-requests"), 0u);
}

TEST_F(Fixture, AppointmentBookingSendsMethodTimeAndNoteAsJson) {
  const std::string token = internal::newCsrfToken();
  Response out = run(formPost("/identity/requests/appointment", "application/x-www-form-urlencoded",
                              "csrf_token=" + token + "&requested_level=high&preferred_at=2025-02-03T14%3A30&note=%22%3E%3Cimg+src%3Dx%3E%0Aramp",
                              token));
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/identity?done=booked");
  std::lock_guard lock(mu);
  EXPECT_EQ(received["POST /api/v1/identity/verification-requests"],
            R"({"requested_level":"high","method":"physical_presence","appointment":{"preferred_at":"2025-02-03T14:30:00Z","note":"\"><img src=x>\nramp"}} | application/json)");
}

TEST_F(Fixture, AppointmentWithoutADateIsRefused) {
  const std::string token = internal::newCsrfToken();
  Response out = run(formPost("/identity/requests/appointment", "application/x-www-form-urlencoded",
                              "csrf_token=" + token + "&preferred_at=tomorrow", token));
  EXPECT_EQ(out.status, 400);
}

TEST_F(Fixture, OfficerQueueIsOldestFirstWithDocumentsAndSecondApproval) {
  Response r = getPage("/officer");
  EXPECT_EQ(r.status, 200);
  expectSafe(r);
  const auto older = r.body.find("/officer/r1/approve");
  const auto newer = r.body.find("/officer/r2/reject");
  ASSERT_NE(older, std::string::npos);
  ASSERT_NE(newer, std::string::npos);
  EXPECT_LT(older, newer);  // the API listed r2 first; the queue shows the oldest first
  EXPECT_NE(r.body.find("href=\"/officer/r1/documents/d1?view=1\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/officer/r1/documents/d1\""), std::string::npos);
  EXPECT_NE(r.body.find("Awaiting second approval."), std::string::npos);
  EXPECT_NE(r.body.find("second, different officer"), std::string::npos);
  // o1 (the viewer) gave the first approval of r2: no approve form for it, a notice instead.
  EXPECT_EQ(r.body.find("/officer/r2/approve"), std::string::npos);
  EXPECT_NE(r.body.find("You gave the first approval"), std::string::npos);
  EXPECT_NE(r.body.find("Approve</button>"), std::string::npos);  // r1 (level substantial)
  EXPECT_NE(r.body.find("Remote ID document scan"), std::string::npos);
  EXPECT_NE(r.body.find("2025-01-06 00:00:00 UTC"), std::string::npos);  // deadline from the API
}

TEST_F(Fixture, OfficerDocumentIsProxiedAsSandboxedAttachment) {
  Response r = getPage("/officer/r1/documents/d1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.contentType, "image/png");
  EXPECT_EQ(header(r, "Content-Disposition"), "attachment; filename=\"document-d1.png\"");
  EXPECT_NE(header(r, "Content-Security-Policy").find("sandbox"), std::string::npos);
  Request v;
  v.method = "GET";
  v.path = "/officer/r1/documents/d1";
  v.query = "view=1";
  v.headers.emplace_back("Cookie", "erds_session=good");
  Response view = run(v);
  EXPECT_EQ(view.status, 200);
  EXPECT_EQ(view.contentType, "text/html; charset=utf-8");
  EXPECT_NE(view.body.find("<img class=\"scan\" src=\"/officer/r1/documents/d1\" alt=\""), std::string::npos);
  v.path = "/officer/r1/documents/nope";
  EXPECT_EQ(run(v).status, 404);
}

TEST_F(Fixture, MessagePageListsPartsWithEscapedNames) {
  Response r = getPage("/messages/m1");
  expectSafe(r);
  EXPECT_NE(r.body.find("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.pdf"), std::string::npos);
  EXPECT_NE(r.body.find("4 KB"), std::string::npos);
  EXPECT_NE(r.body.find("ab12"), std::string::npos);
}

TEST_F(Fixture, CertificateChallengePageExplainsOpensslAndSubmitsBase64Url) {
  Response page = getPage("/identity/certificate");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("abc.123.&lt;mac&gt;"), std::string::npos);
  EXPECT_EQ(page.body.find("<mac>"), std::string::npos);
  EXPECT_NE(page.body.find("openssl dgst -sha256 -sign key.pem"), std::string::npos);

  const std::string token = internal::newCsrfToken();
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const std::string der = std::string("\x30\x45\xff\xfe", 4);
  Response out = run(formPost("/identity/certificate", "multipart/form-data; boundary=B",
                              mpField("csrf_token", token) + mpField("challenge", "abc.123.mac") +
                                  mpFile("certificate", "cert.pem", "application/x-pem-file", pem) +
                                  mpFile("signature", "challenge.sig", "application/octet-stream", der) + "--B--\r\n",
                              token));
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/identity?done=identified");
  std::lock_guard lock(mu);
  EXPECT_EQ(received["POST /api/v1/me/certificate-identification"],
            R"({"certificate":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","challenge":"abc.123.mac","signature":"MEX__g"} | application/json)");
}

TEST_F(Fixture, CertificateSignInOnTheCertificateListener) {
  Response home = getPage("/", false);
  EXPECT_NE(home.body.find("href=\"https://127.0.0.1:8444/signin/certificate\""), std::string::npos);

  Response none = getPage("/signin/certificate", false);
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("No certificate was presented"), std::string::npos);

  Request withCert;
  withCert.method = "GET";
  withCert.path = "/signin/certificate";
  withCert.clientCertificateChain = {"DER"};
  Response offer = run(withCert);
  EXPECT_EQ(offer.status, 200);
  EXPECT_NE(offer.body.find("action=\"/signin/certificate\""), std::string::npos);

  const std::string token = internal::newCsrfToken();
  Request post;
  post.method = "POST";
  post.path = "/signin/certificate";
  post.clientCertificateChain = {"DER"};
  post.headers.emplace_back("Cookie", std::string(internal::kCsrfCookieName) + "=" + token);
  post.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  post.body = "csrf_token=" + token;
  Response in = run(post);
  EXPECT_EQ(in.status, 303);
  EXPECT_EQ(header(in, "Location"), "/inbox");
  bool session = false;
  for (const auto& [n, v] : in.headers)
    if (n == "Set-Cookie" && v.rfind("erds_session=good", 0) == 0) session = true;
  EXPECT_TRUE(session);
}

TEST_F(Fixture, AccountOffersToRegisterThePresentedCertificate) {
  Request r;
  r.method = "GET";
  r.path = "/account";
  r.headers.emplace_back("Cookie", "erds_session=good");
  r.clientCertificateChain = {"DER"};
  Response with = run(r);
  EXPECT_NE(with.body.find("Register this certificate"), std::string::npos);
  Response without = getPage("/account");
  expectSafe(without);
  EXPECT_NE(without.body.find("CN=&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(without.body.find("action=\"/account/certificates/c1/delete\""), std::string::npos);
  EXPECT_EQ(without.body.find("Register this certificate"), std::string::npos);
  EXPECT_NE(without.body.find("https://127.0.0.1:8444/account"), std::string::npos);
}

TEST_F(Fixture, RemovingACertificateCallsTheApi) {
  const std::string token = internal::newCsrfToken();
  Response out = run(formPost("/account/certificates/c1/delete", "application/x-www-form-urlencoded", "csrf_token=" + token, token));
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/account?done=certificate_removed");
  std::lock_guard lock(mu);
  EXPECT_EQ(received.count("DELETE /api/v1/me/certificates/c1"), 1u);
}

TEST_F(Fixture, StreamedComposeChecksCsrfBeforeForwardingAnything) {
  const std::string token = internal::newCsrfToken();
  const std::string body = mpField("csrf_token", "wrong") + mpField("recipients", "b@example.test") +
                           mpFile("attachments", "a.pdf", "application/pdf", std::string(100000, 'q')) + "--B--\r\n";
  Response out = run(formPost("/compose", "multipart/form-data; boundary=B", body, token));
  EXPECT_EQ(out.status, 403);
  std::lock_guard lock(mu);
  EXPECT_TRUE(lastSubmission.empty());
}

TEST_F(Fixture, ComposeWithNeitherTextNorFilesIsRefusedWithTheFormKept) {
  const std::string token = internal::newCsrfToken();
  const std::string body = mpField("csrf_token", token) + mpField("recipients", "b@example.test") +
                           mpField("subject", kXss1) + mpFile("attachments", "", "application/octet-stream", "") + "--B--\r\n";
  Response out = run(formPost("/compose", "multipart/form-data; boundary=B", body, token));
  EXPECT_EQ(out.status, 400);
  expectSafe(out);
  EXPECT_NE(out.body.find("Write a message or attach at least one file."), std::string::npos);
  EXPECT_NE(out.body.find("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""), std::string::npos);
  std::lock_guard lock(mu);
  EXPECT_TRUE(lastSubmission.empty());
}

// ---- application tokens ----

TEST_F(Fixture, AppTokensPageListsEscapedTokensAndAsksAWeakSessionForASecondFactor) {
  Response r = getPage("/account/app-tokens");
  EXPECT_EQ(r.status, 200);
  expectSafe(r);
  EXPECT_NE(r.body.find("<caption>Your application tokens</caption>"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);  // the name, escaped
  EXPECT_NE(r.body.find("never"), std::string::npos);                                    // not used yet
  EXPECT_NE(r.body.find("revoked"), std::string::npos);
  EXPECT_NE(r.body.find("action=\"/account/app-tokens/apt_1/revoke\""), std::string::npos);
  EXPECT_EQ(r.body.find("action=\"/account/app-tokens/apt_2/revoke\""), std::string::npos) << "already revoked";
  // A password-only session: a clear message, no creation form.
  EXPECT_NE(r.body.find("Sign in with a second factor to create a token."), std::string::npos);
  EXPECT_EQ(r.body.find("action=\"/account/app-tokens\""), std::string::npos);
  // The SMTP settings a mail program needs.
  EXPECT_NE(r.body.find("mail.example.test"), std::string::npos);
  EXPECT_NE(r.body.find(">2525<"), std::string::npos);
  EXPECT_NE(r.body.find("STARTTLS"), std::string::npos);
  EXPECT_NE(r.body.find("AUTH PLAIN"), std::string::npos);
  // The account page links to it.
  EXPECT_NE(getPage("/account").body.find("href=\"/account/app-tokens\""), std::string::npos);
}

TEST_F(Fixture, AppTokensPageOffersCreationOnlyInAStrongSessionAndWhenThePolicyAllows) {
  Request r;
  r.method = "GET";
  r.path = "/account/app-tokens";
  r.headers.emplace_back("Cookie", "erds_session=goodstrong");
  Response strong = run(r);
  EXPECT_EQ(strong.status, 200);
  EXPECT_NE(strong.body.find("action=\"/account/app-tokens\""), std::string::npos);
  EXPECT_NE(strong.body.find("name=\"csrf_token\""), std::string::npos);
  EXPECT_EQ(strong.body.find("Sign in with a second factor to create a token."), std::string::npos);

  tokensAllowed = false;
  Response off = run(r);
  EXPECT_NE(off.body.find("does not accept application tokens"), std::string::npos);
  EXPECT_EQ(off.body.find("action=\"/account/app-tokens\""), std::string::npos);
}

TEST_F(Fixture, CreatingATokenShowsItOnceWithTheSmtpSettingsAndIsNotCached) {
  const std::string token = internal::newCsrfToken();
  Request r = formPost("/account/app-tokens", "application/x-www-form-urlencoded",
                       "name=Thunderbird+%26+laptop&days=30&csrf_token=" + token, token);
  r.headers[0].second = "erds_session=goodstrong; " + std::string(internal::kCsrfCookieName) + "=" + token;
  Response out = run(r);
  EXPECT_EQ(out.status, 201);
  expectSafe(out);
  EXPECT_EQ(header(out, "Cache-Control"), "no-store");
  EXPECT_NE(out.body.find("erds_at_SECRETsecretSECRETsecretSECRETsecretSECR"), std::string::npos);
  EXPECT_NE(out.body.find("shown only once"), std::string::npos);
  EXPECT_NE(out.body.find("mail.example.test"), std::string::npos);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(received["POST /api/v1/me/app-tokens"], R"({"name":"Thunderbird & laptop","expires_in":2592000} | application/json)");
  }
  // An unknown lifetime falls back to 90 days; without the CSRF token nothing reaches the API.
  r.body = "name=x&days=7&csrf_token=" + token;
  EXPECT_EQ(run(r).status, 201);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(received["POST /api/v1/me/app-tokens"], R"({"name":"x","expires_in":7776000} | application/json)");
    received.clear();
  }
  r.body = "name=y&days=30";
  EXPECT_EQ(run(r).status, 403);
  std::lock_guard lock(mu);
  EXPECT_EQ(received.count("POST /api/v1/me/app-tokens"), 0u);
}

TEST_F(Fixture, CreatingATokenInAWeakSessionShowsTheApisReason) {
  const std::string token = internal::newCsrfToken();
  Response out = run(formPost("/account/app-tokens", "application/x-www-form-urlencoded", "name=x&days=90&csrf_token=" + token, token));
  EXPECT_EQ(out.status, 403);
  EXPECT_NE(out.body.find("second factor"), std::string::npos);
  EXPECT_EQ(out.body.find("erds_at_"), std::string::npos);
}

TEST_F(Fixture, RevokingATokenCallsTheApi) {
  const std::string token = internal::newCsrfToken();
  Response out = run(formPost("/account/app-tokens/apt_1/revoke", "application/x-www-form-urlencoded", "csrf_token=" + token, token));
  EXPECT_EQ(out.status, 303);
  EXPECT_EQ(header(out, "Location"), "/account/app-tokens?done=token_revoked");
  std::lock_guard lock(mu);
  EXPECT_EQ(received.count("DELETE /api/v1/me/app-tokens/apt_1"), 1u);
}

}  // namespace
}  // namespace erds::portal
