// HTTP-level tests of the identity routes: requests go through the Router exactly as the server
// dispatches them (match -> handler; an Error becomes the problem table's status), against a fresh
// migrated PostgreSQL database as the daemon role.
#include "erds/identity/identity_service.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "crypto_util.h"
#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/http/problem.h"
#include "erds/identity/app_token.h"
#include "erds/identity/postgres_stores.h"
#include "erds/identity/testing/test_pki.h"
#include "erds/identity/totp.h"
#include "fake_clock.h"
#include "identity_test_db.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

class CapturingNotifier final : public Notifier {
 public:
  Result<void> sendProofOfControlCode(const std::string& identifier, const Secret& code, TimePoint) override {
    std::lock_guard lock(mu);
    last[identifier] = std::string(code.reveal());
    return ok();
  }
  std::string codeFor(const std::string& identifier) {
    std::lock_guard lock(mu);
    return last[identifier];
  }
  std::mutex mu;
  std::map<std::string, std::string> last;
};

struct Reply {
  int status = 0;
  std::string body;
  http::Headers headers;
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (http::headerNameEquals(n, name)) return v;
    }
    return "";
  }
};

// Pulls "field":"value" out of a flat JSON reply (enough for these tests).
std::string field(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  auto p = json.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  return json.substr(p, json.find('"', p) - p);
}

std::string jsonString(std::string_view s) { return "\"" + log::jsonEscape(s) + "\""; }

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::MigratedDatabase::create();
    ASSERT_NE(db_, nullptr);
    auto cfg = Config::load("", {});
    ASSERT_TRUE(cfg.has_value());
    ASSERT_TRUE(cfg->setForTest("identity.argon2_t_cost", "1").has_value());
    ASSERT_TRUE(cfg->setForTest("identity.argon2_m_cost_kib", "64").has_value());
    auto options = IdentityOptions::fromConfig(*cfg);
    ASSERT_TRUE(options.has_value()) << options.error().message;
    adjustOptions(*options);
    auto svc = IdentityService::create(std::move(*options), *db_->pool, clock_, notifier_);
    ASSERT_TRUE(svc.has_value()) << svc.error().message;
    service_ = std::move(*svc);
    ASSERT_TRUE(service_->registerRoutes(router_).has_value());
    accounts_ = std::make_unique<PostgresAccountStore>(*db_->pool);
  }

  virtual void adjustOptions(IdentityOptions&) {}

  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             http::Headers headers = {}) {
    http::Request req;
    req.clientCertificateChain = clientChain_;
    req.method = method;
    auto qpos = target.find('?');
    req.path = target.substr(0, qpos);
    if (qpos != std::string::npos) req.query = target.substr(qpos + 1);
    req.headers = std::move(headers);
    req.body = body;
    req.requestId = "req-test";
    req.clientAddress = "192.0.2.7:40000";
    auto m = router_.match(method, req.path);
    EXPECT_EQ(m.status, http::Router::MatchStatus::Found) << method << " " << target;
    if (m.status != http::Router::MatchStatus::Found) return {};
    req.routeTemplate = m.spec->path;
    req.pathParams = m.params;
    auto r = (*m.handler)(req);
    if (!r) {
      const auto& t = http::problemType(r.error().code);
      return {t.status, http::renderProblem(t, http::publicDetail(r.error()), req.path, req.requestId), {}};
    }
    return {r->status, r->body, r->headers};
  }
  static http::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

  void registerUser(const std::string& identifier, const std::string& password) {
    auto r = call("POST", "/api/v1/registrations",
                  "{\"identifier\":" + jsonString(identifier) + ",\"password\":" + jsonString(password) + "}");
    ASSERT_EQ(r.status, 202) << r.body;
  }
  Reply login(const std::string& identifier, const std::string& password, const std::string& totp = "",
              http::Headers headers = {}) {
    std::string body = "{\"identifier\":" + jsonString(identifier) + ",\"password\":" + jsonString(password);
    if (!totp.empty()) body += ",\"totp\":" + jsonString(totp);
    return call("POST", "/api/v1/sessions", body + "}", std::move(headers));
  }
  std::string tokenOf(const std::string& identifier, const std::string& password) {
    auto r = login(identifier, password);
    EXPECT_EQ(r.status, 201) << r.body;
    return field(r.body, "token");
  }
  std::string partyOf(const std::string& token) {
    auto r = call("GET", "/api/v1/me", "", bearer(token));
    EXPECT_EQ(r.status, 200) << r.body;
    auto p = r.body.find("\"party\":{\"id\":\"");
    if (p == std::string::npos) return "";
    p += 15;
    return r.body.substr(p, r.body.find('"', p) - p);
  }
  // Enrols TOTP for the account behind `token`; returns the seed.
  Secret enrolTotp(const std::string& token) {
    auto start = call("POST", "/api/v1/me/totp", "", bearer(token));
    EXPECT_EQ(start.status, 201) << start.body;
    auto seed = internal::base32Decode(field(start.body, "secret"));
    EXPECT_TRUE(seed.has_value());
    Secret s(seed ? *seed : std::string());
    auto confirm = call("POST", "/api/v1/me/totp/confirm",
                        "{\"code\":\"" + totpCode(s, totpStep(clock_.now())) + "\"}", bearer(token));
    EXPECT_EQ(confirm.status, 200) << confirm.body;
    return s;
  }
  // A party with `roles`, TOTP enrolled, signed in strongly; returns {partyId, token}.
  std::pair<std::string, std::string> strongUser(const std::string& identifier, RoleSet roles) {
    registerUser(identifier, "a long enough password");
    std::string weak = tokenOf(identifier, "a long enough password");
    std::string party = partyOf(weak);
    EXPECT_TRUE(accounts_->setRoles(party, roles).has_value());
    Secret seed = enrolTotp(weak);
    clock_.advance(30s);
    auto r = login(identifier, "a long enough password", totpCode(seed, totpStep(clock_.now())));
    EXPECT_EQ(r.status, 201) << r.body;
    return {party, field(r.body, "token")};
  }
  std::string auditActions() {
    return db_->scalar("SELECT string_agg(action || ':' || outcome, ',' ORDER BY id) FROM audit_log");
  }

  std::vector<std::string> clientChain_;  // what the TLS layer would hand over (DER, leaf first)
  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  CapturingNotifier notifier_;
  std::unique_ptr<testing::MigratedDatabase> db_;
  std::unique_ptr<IdentityService> service_;
  std::unique_ptr<PostgresAccountStore> accounts_;
  http::Router router_;
};

TEST_F(IdentityServiceTest, RegisterLoginMeLogout) {
  registerUser("mailto:Alice@example.test", "alice password 1");
  // Registering again: the same answer (no enumeration), no second party.
  registerUser("mailto:alice@example.test", "another password");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM parties"), "1");
  EXPECT_EQ(call("POST", "/api/v1/registrations", R"({"identifier":"alice","password":"alice password 1"})").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/registrations", R"({"identifier":"mailto:b@example.test","password":"short"})").status,
            400);
  EXPECT_EQ(call("POST", "/api/v1/registrations", "not json").status, 400);

  auto r = login("mailto:alice@example.test", "alice password 1");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string token = field(r.body, "token");
  ASSERT_EQ(token.size(), 43u);
  const std::string cookie = r.header("Set-Cookie");
  EXPECT_EQ(cookie.rfind("erds_session=" + token + ";", 0), 0u) << cookie;
  for (const char* attr : {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"}) {
    EXPECT_NE(cookie.find(attr), std::string::npos) << attr;
  }
  EXPECT_NE(r.body.find("\"level\":\"low\""), std::string::npos);

  auto me = call("GET", "/api/v1/me", "", bearer(token));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_NE(me.body.find("\"login_identifier\":\"mailto:alice@example.test\""), std::string::npos) << me.body;
  // Registration claimed the address (pending until the code is confirmed).
  EXPECT_NE(me.body.find("\"status\":\"pending\""), std::string::npos) << me.body;
  EXPECT_FALSE(notifier_.codeFor("mailto:alice@example.test").empty());
  EXPECT_EQ(call("GET", "/api/v1/me", "", {{"Cookie", "theme=dark; erds_session=" + token}}).status, 200);

  auto anonymous = call("GET", "/api/v1/me");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(anonymous.header("WWW-Authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer("not-a-token")).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/me", "", {{"Authorization", "Basic YTpi"}}).status, 401);

  auto out = call("DELETE", "/api/v1/sessions/current", "", bearer(token));
  EXPECT_EQ(out.status, 204);
  EXPECT_NE(out.header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer(token)).status, 401);
  const std::string audit = auditActions();
  EXPECT_NE(audit.find("identity.registration:success"), std::string::npos) << audit;
  EXPECT_NE(audit.find("identity.registration:denied"), std::string::npos) << audit;
  EXPECT_NE(audit.find("auth.login:success"), std::string::npos) << audit;
  EXPECT_NE(audit.find("auth.logout:success"), std::string::npos) << audit;
}

TEST_F(IdentityServiceTest, WrongPasswordAndUnknownUserGetTheSameAnswer) {
  registerUser("mailto:alice@example.test", "alice password 1");
  auto wrong = login("mailto:alice@example.test", "wrong password!!");
  auto unknown = login("mailto:nobody@example.test", "wrong password!!");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.body, unknown.body);
  EXPECT_EQ(wrong.header("WWW-Authenticate"), unknown.header("WWW-Authenticate"));
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'failure'"), "2");
  // The audit record does not hold the address in clear.
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE details::text LIKE '%nobody%'"), "0");
}

TEST_F(IdentityServiceTest, LockoutGives429WithRetryAfterEvenForTheRightPassword) {
  registerUser("mailto:alice@example.test", "alice password 1");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(login("mailto:alice@example.test", "wrong password!!").status, 401);
  auto locked = login("mailto:alice@example.test", "alice password 1");
  EXPECT_EQ(locked.status, 429) << locked.body;
  EXPECT_EQ(locked.header("Retry-After"), "60");
  EXPECT_NE(locked.body.find("too-many-requests"), std::string::npos);
  // An unknown identifier locks the same way (no enumeration through lockout).
  for (int i = 0; i < 5; ++i) (void)login("mailto:ghost@example.test", "wrong password!!");
  EXPECT_EQ(login("mailto:ghost@example.test", "wrong password!!").status, 429);
  clock_.advance(61s);
  EXPECT_EQ(login("mailto:alice@example.test", "alice password 1").status, 201);
}

TEST_F(IdentityServiceTest, SessionFixationExpiryAndRevocation) {
  registerUser("mailto:alice@example.test", "alice password 1");
  registerUser("mailto:mallory@example.test", "mallory password");
  // Mallory plants her own valid session cookie in Alice's browser; Alice signs in.
  const std::string planted = tokenOf("mailto:mallory@example.test", "mallory password");
  auto r = login("mailto:alice@example.test", "alice password 1", "", {{"Cookie", "erds_session=" + planted}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string fresh = field(r.body, "token");
  EXPECT_NE(fresh, planted);
  EXPECT_NE(r.header("Set-Cookie").find(fresh), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/me", "", {{"Cookie", "erds_session=" + planted}}).status, 401);
  const std::string alice = partyOf(fresh);
  EXPECT_NE(alice, "");

  // A token the attacker made up is never adopted either.
  const std::string made_up(43, 'A');
  auto r2 = login("mailto:alice@example.test", "alice password 1", "", {{"Cookie", "erds_session=" + made_up}});
  ASSERT_EQ(r2.status, 201);
  EXPECT_NE(field(r2.body, "token"), made_up);

  // Idle expiry (30 min default).
  clock_.advance(31min);
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer(fresh)).status, 401);

  // A revocation made on another node (or by erdsctl) is seen within the 5 s session cache.
  const std::string again = tokenOf("mailto:alice@example.test", "alice password 1");
  ASSERT_EQ(call("GET", "/api/v1/me", "", bearer(again)).status, 200);
  PostgresSessionStore otherNode(*db_->pool, 30min);
  ASSERT_EQ(*otherNode.revokeAllOf(alice), 3);
  clock_.advance(5s);
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer(again)).status, 401);

  // Logout on this node is immediate.
  const std::string third = tokenOf("mailto:alice@example.test", "alice password 1");
  ASSERT_EQ(call("GET", "/api/v1/me", "", bearer(third)).status, 200);
  ASSERT_EQ(call("DELETE", "/api/v1/sessions/current", "", bearer(third)).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer(third)).status, 401);
}

TEST_F(IdentityServiceTest, TotpEnrolmentLoginAndReplay) {
  registerUser("mailto:alice@example.test", "alice password 1");
  const std::string weak = tokenOf("mailto:alice@example.test", "alice password 1");
  EXPECT_EQ(call("POST", "/api/v1/me/totp/confirm", R"({"code":"123456"})", bearer(weak)).status, 409);
  auto start = call("POST", "/api/v1/me/totp", "", bearer(weak));
  ASSERT_EQ(start.status, 201) << start.body;
  EXPECT_EQ(field(start.body, "otpauth_uri").rfind("otpauth://totp/erds:alice@example.test?secret=", 0), 0u)
      << start.body;
  Secret seed(*internal::base32Decode(field(start.body, "secret")));
  EXPECT_EQ(call("POST", "/api/v1/me/totp/confirm", R"({"code":"000000x"})", bearer(weak)).status, 400);
  const std::string code0 = totpCode(seed, totpStep(clock_.now()));
  auto confirm = call("POST", "/api/v1/me/totp/confirm", "{\"code\":\"" + code0 + "\"}", bearer(weak));
  ASSERT_EQ(confirm.status, 200) << confirm.body;
  EXPECT_EQ(std::count(confirm.body.begin(), confirm.body.end(), '-'), 30);  // 10 codes XXXX-XXXX-XXXX-XXXX
  EXPECT_EQ(call("POST", "/api/v1/me/totp", "", bearer(weak)).status, 409);

  // Password alone is no longer enough; the answer is the same 401 as a wrong password.
  auto noCode = login("mailto:alice@example.test", "alice password 1");
  EXPECT_EQ(noCode.status, 401);
  EXPECT_EQ(noCode.body, login("mailto:alice@example.test", "wrong password!!").body);
  // The code used for confirmation cannot be replayed for a login.
  EXPECT_EQ(login("mailto:alice@example.test", "alice password 1", code0).status, 401);
  clock_.advance(30s);
  const std::string code1 = totpCode(seed, totpStep(clock_.now()));
  auto strong = login("mailto:alice@example.test", "alice password 1", code1);
  ASSERT_EQ(strong.status, 201) << strong.body;
  EXPECT_NE(strong.body.find("\"level\":\"substantial\""), std::string::npos);
  EXPECT_NE(strong.body.find("\"password_totp\""), std::string::npos);
  // Replay of an accepted login code.
  EXPECT_EQ(login("mailto:alice@example.test", "alice password 1", code1).status, 401);
  // The seed is stored encrypted, not in clear.
  EXPECT_EQ(db_->scalar("SELECT position($1::bytea in seed_wrapped) FROM totp_secrets",
                        {pg::Param::bytes(std::string(seed.reveal()))}),
            "0");
}

TEST_F(IdentityServiceTest, IdentifierProofOfControl) {
  registerUser("mailto:alice@example.test", "alice password 1");
  registerUser("mailto:bob@example.test", "bob password 12");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string bob = tokenOf("mailto:bob@example.test", "bob password 12");
  EXPECT_EQ(call("POST", "/api/v1/me/identifiers", R"({"identifier":"alice@example.test"})", bearer(alice)).status, 400);
  auto claim = call("POST", "/api/v1/me/identifiers", R"({"identifier":"mailto:Office@Example.Test"})", bearer(alice));
  ASSERT_EQ(claim.status, 202) << claim.body;
  const std::string id = field(claim.body, "id");
  const std::string code = notifier_.codeFor("mailto:office@example.test");
  ASSERT_EQ(code.size(), 8u);
  EXPECT_EQ(call("POST", "/api/v1/me/identifiers/" + id + "/confirm", "{\"code\":\"" + code + "\"}", bearer(bob)).status,
            404);
  EXPECT_EQ(call("POST", "/api/v1/me/identifiers/" + id + "/confirm", R"({"code":"00000000"})", bearer(alice)).status,
            400);
  auto ok = call("POST", "/api/v1/me/identifiers/" + id + "/confirm", "{\"code\":\"" + code + "\"}", bearer(alice));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(field(ok.body, "status"), "bound");
  auto list = call("GET", "/api/v1/me/identifiers", "", bearer(alice));
  EXPECT_NE(list.body.find("mailto:office@example.test"), std::string::npos);
  EXPECT_EQ(**accounts_->partyBoundTo("mailto:office@example.test"), partyOf(alice));
  EXPECT_NE(auditActions().find("identity.identifier.bound:failure"), std::string::npos);
}

TEST_F(IdentityServiceTest, VerificationRequestsAndOfficerRules) {
  registerUser("mailto:alice@example.test", "alice password 1");
  registerUser("mailto:eve@example.test", "eve password 123");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string eve = tokenOf("mailto:eve@example.test", "eve password 123");
  auto opened = call("POST", "/api/v1/identity/verification-requests", R"({"requested_level":"substantial"})", bearer(alice));
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string req = field(opened.body, "id");
  EXPECT_EQ(call("GET", "/api/v1/identity/verification-requests/" + req, "", bearer(alice)).status, 200);
  // Another party reading it: 404, as for a request that does not exist.
  auto peek = call("GET", "/api/v1/identity/verification-requests/" + req, "", bearer(eve));
  EXPECT_EQ(peek.status, 404);
  EXPECT_EQ(call("GET", "/api/v1/identity/verification-requests/vr_nope", "", bearer(eve)).body.substr(0, 60),
            peek.body.substr(0, 60));
  EXPECT_EQ(call("GET", "/api/v1/identity/verification-requests", "", bearer(eve)).body, "{\"verification_requests\":[]}");

  // Unauthenticated and wrong role.
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests", "", bearer(alice)).status, 403);
  const std::string approval = R"({"method":"physical_presence","level":"substantial",)"
                               R"("document":{"type":"passport","issuing_country":"BE","number":"EN123456","expires_on":"2031-01-01"}})";
  EXPECT_EQ(call("POST", "/api/v1/officer/verification-requests/" + req + "/approve", approval, bearer(eve)).status, 403);

  // An officer signed in with a password only may not decide.
  auto [officerId, officerStrong] = strongUser("mailto:officer@example.test", RoleSet{Role::User, Role::Officer});
  clock_.advance(30s);
  auto officerWeak = login("mailto:officer@example.test", "a long enough password");
  EXPECT_EQ(officerWeak.status, 401);  // TOTP enrolled: password alone is refused anyway

  // Self-approval: the officer's own request.
  auto own = call("POST", "/api/v1/identity/verification-requests", R"({"requested_level":"substantial"})",
                  bearer(officerStrong));
  ASSERT_EQ(own.status, 201);
  auto self = call("POST", "/api/v1/officer/verification-requests/" + field(own.body, "id") + "/approve", approval,
                   bearer(officerStrong));
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_NE(self.body.find("own verification"), std::string::npos) << self.body;

  auto queue = call("GET", "/api/v1/officer/verification-requests", "", bearer(officerStrong));
  ASSERT_EQ(queue.status, 200);
  EXPECT_NE(queue.body.find(req), std::string::npos);
  auto approved = call("POST", "/api/v1/officer/verification-requests/" + req + "/approve", approval, bearer(officerStrong));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(field(approved.body, "status"), "approved");
  EXPECT_EQ(approved.body.find("EN123456"), std::string::npos);  // the number is never echoed
  EXPECT_EQ(call("POST", "/api/v1/officer/verification-requests/" + req + "/reject", R"({"reason":"x"})",
                 bearer(officerStrong))
                .status,
            409);
  auto me = call("GET", "/api/v1/me", "", bearer(alice));
  EXPECT_NE(me.body.find("\"method\":\"physical_presence\",\"level\":\"substantial\""), std::string::npos) << me.body;
  const std::string audit = auditActions();
  EXPECT_NE(audit.find("identity.verification.decision:denied"), std::string::npos) << audit;
  EXPECT_NE(audit.find("identity.verification.approved:success"), std::string::npos) << audit;
  EXPECT_EQ(db_->scalar("SELECT actor FROM audit_log WHERE action = 'identity.verification.approved'"),
            "party:" + officerId);
}

TEST_F(IdentityServiceTest, OfficerOpensWalkInRequestAndAnotherOfficerDecides) {
  registerUser("mailto:alice@example.test", "alice password 1");
  registerUser("mailto:carol@example.test", "carol password 1");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string aliceId = partyOf(alice);
  // Alice proves control of her address; Carol never does.
  auto pending = call("GET", "/api/v1/me/identifiers", "", bearer(alice));
  const std::string binding = field(pending.body, "id");
  auto bound = call("POST", "/api/v1/me/identifiers/" + binding + "/confirm",
                    "{\"code\":\"" + notifier_.codeFor("mailto:alice@example.test") + "\"}", bearer(alice));
  ASSERT_EQ(bound.status, 200) << bound.body;
  const std::string walkIn = "/api/v1/officer/verification-requests";
  const std::string forAlice = R"({"identifier":"mailto:Alice@example.test","requested_level":"high","method":"physical_presence"})";

  // Not an officer: 403, audited.
  auto notOfficer = call("POST", walkIn, forAlice, bearer(alice));
  EXPECT_EQ(notOfficer.status, 403) << notOfficer.body;
  EXPECT_EQ(call("POST", walkIn, forAlice).status, 401);

  auto [officer1Id, officer1] = strongUser("mailto:officer1@example.test", RoleSet{Role::User, Role::Officer});
  auto [officer2Id, officer2] = strongUser("mailto:officer2@example.test", RoleSet{Role::User, Role::Officer});
  // No party bound: 404 (Carol only claimed hers; nobody has the other one); bad input: 400.
  EXPECT_EQ(call("POST", walkIn, R"({"identifier":"mailto:carol@example.test"})", bearer(officer1)).status, 404);
  EXPECT_EQ(call("POST", walkIn, R"({"identifier":"mailto:nobody@example.test"})", bearer(officer1)).status, 404);
  EXPECT_EQ(call("POST", walkIn, R"({"identifier":"alice@example.test"})", bearer(officer1)).status, 400);
  EXPECT_EQ(call("POST", walkIn, R"({"requested_level":"high"})", bearer(officer1)).status, 400);
  EXPECT_EQ(call("POST", walkIn,
                 R"({"identifier":"mailto:alice@example.test","method":"remote_id_document_scan"})", bearer(officer1))
                .status,
            400);

  auto opened = call("POST", walkIn, forAlice, bearer(officer1));
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string req = field(opened.body, "id");
  EXPECT_EQ(field(opened.body, "party_id"), aliceId);
  EXPECT_EQ(field(opened.body, "created_by"), officer1Id);
  EXPECT_EQ(field(opened.body, "method"), "physical_presence");
  EXPECT_EQ(field(opened.body, "requested_level"), "high");
  EXPECT_EQ(field(opened.body, "status"), "pending");
  // Alice sees it among her own requests.
  EXPECT_NE(call("GET", "/api/v1/identity/verification-requests", "", bearer(alice)).body.find(req), std::string::npos);

  // The officer who opened it cannot decide it; another officer can.
  const std::string approval = R"({"method":"physical_presence","level":"substantial",)"
                               R"("document":{"type":"passport","issuing_country":"BE","number":"EN123456","expires_on":"2031-01-01"}})";
  auto byCreator = call("POST", walkIn + "/" + req + "/approve", approval, bearer(officer1));
  EXPECT_EQ(byCreator.status, 403) << byCreator.body;
  auto approved = call("POST", walkIn + "/" + req + "/approve", approval, bearer(officer2));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(field(approved.body, "status"), "approved");

  const std::string audit = auditActions();
  EXPECT_NE(audit.find("identity.verification.walk_in:denied"), std::string::npos) << audit;
  EXPECT_NE(audit.find("identity.verification.walk_in:failure"), std::string::npos) << audit;
  EXPECT_NE(audit.find("identity.verification.walk_in:success"), std::string::npos) << audit;
  EXPECT_EQ(db_->scalar("SELECT actor || ' ' || object FROM audit_log WHERE action = 'identity.verification.walk_in' "
                        "AND outcome = 'success'"),
            "party:" + officer1Id + " party:" + aliceId);
  EXPECT_EQ(db_->scalar("SELECT actor FROM audit_log WHERE action = 'identity.verification.requested' AND object = $1",
                        {pg::Param::text("party:" + aliceId)}),
            "party:" + officer1Id);
  // The address itself is not written to the audit log.
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.verification.walk_in' "
                        "AND details::text LIKE '%example.test%'"),
            "0");
  EXPECT_NE(router_.openApiDocument({}).find("\"openWalkInVerificationRequest\""), std::string::npos);
}

TEST_F(IdentityServiceTest, AdminApiRefusesPrivilegeEscalation) {
  registerUser("mailto:alice@example.test", "alice password 1");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string aliceId = partyOf(alice);
  EXPECT_EQ(call("GET", "/api/v1/admin/parties").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/admin/parties", "", bearer(alice)).status, 403);
  EXPECT_EQ(call("POST", "/api/v1/admin/parties/" + aliceId + "/roles", R"({"roles":["user","admin"]})", bearer(alice))
                .status,
            403);
  EXPECT_EQ(call("POST", "/api/v1/admin/parties",
                 R"({"identifier":"mailto:x@example.test","password":"long password 1","roles":["admin"]})", bearer(alice))
                .status,
            403);
  EXPECT_FALSE(accounts_->findParty(aliceId)->roles.has(Role::Admin));

  // An administrator signed in with a password only cannot grant privileges...
  registerUser("mailto:root@example.test", "root password 12");
  const std::string weakAdmin = tokenOf("mailto:root@example.test", "root password 12");
  const std::string adminId = partyOf(weakAdmin);
  ASSERT_TRUE(accounts_->setRoles(adminId, RoleSet{Role::User, Role::Admin}).has_value());
  // A change made outside this process (here: straight in the store, as erdsctl does) applies
  // once the authenticator's cached party row is older than kPartyCacheTtl.
  clock_.advance(kPartyCacheTtl);
  EXPECT_EQ(call("GET", "/api/v1/admin/parties", "", bearer(weakAdmin)).status, 200);
  EXPECT_EQ(call("POST", "/api/v1/admin/parties/" + aliceId + "/roles", R"({"roles":["user","officer"]})",
                 bearer(weakAdmin))
                .status,
            403);
  // ...nor change its own roles, even when signed in strongly.
  Secret seed = enrolTotp(weakAdmin);
  clock_.advance(30s);
  auto s = login("mailto:root@example.test", "root password 12", totpCode(seed, totpStep(clock_.now())));
  ASSERT_EQ(s.status, 201);
  const std::string admin = field(s.body, "token");
  EXPECT_EQ(call("POST", "/api/v1/admin/parties/" + adminId + "/roles", R"({"roles":["user"]})", bearer(admin)).status,
            403);
  auto granted =
      call("POST", "/api/v1/admin/parties/" + aliceId + "/roles", R"({"roles":["user","officer"]})", bearer(admin));
  ASSERT_EQ(granted.status, 200) << granted.body;
  EXPECT_TRUE(accounts_->findParty(aliceId)->roles.has(Role::Officer));
  // Role changes apply to existing sessions at once (roles are read per request).
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests", "", bearer(alice)).status, 200);
  EXPECT_EQ(call("POST", "/api/v1/admin/parties/" + aliceId + "/roles", R"({"roles":["user"],"disabled":true})",
                 bearer(admin))
                .status,
            200);
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer(alice)).status, 401);
  auto created = call("POST", "/api/v1/admin/parties",
                      R"({"identifier":"mailto:new@example.test","password":"long password 1","roles":["user"]})",
                      bearer(admin));
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(call("POST", "/api/v1/admin/parties/p_nope/roles", R"({"roles":["user"]})", bearer(admin)).status, 404);
  const std::string audit = auditActions();
  EXPECT_NE(audit.find("admin.parties.roles:denied"), std::string::npos) << audit;
  EXPECT_NE(audit.find("admin.parties.roles:success"), std::string::npos) << audit;
  EXPECT_NE(audit.find("admin.parties.create:success"), std::string::npos) << audit;
}

TEST_F(IdentityServiceTest, DemoAccountsAreIdempotent) {
  auto first = service_->seedDemoAccounts();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(first->size(), 3u);
  auto second = service_->seedDemoAccounts();
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM parties"), "3");
  EXPECT_EQ((*first)[2].totpSecret, (*second)[2].totpSecret);
  EXPECT_FALSE((*first)[2].totpSecret.empty());
  EXPECT_TRUE((*first)[0].totpSecret.empty());

  const std::string sender = tokenOf("mailto:sender@example.test", "sender-demo-password");
  auto me = call("GET", "/api/v1/me", "", bearer(sender));
  EXPECT_NE(me.body.find("\"level\":\"substantial\""), std::string::npos) << me.body;
  EXPECT_NE(me.body.find("\"status\":\"bound\""), std::string::npos) << me.body;
  const std::string recipient = tokenOf("mailto:recipient@example.test", "recipient-demo-password");
  EXPECT_NE(call("GET", "/api/v1/me", "", bearer(recipient)).body.find("\"identifications\":[]"), std::string::npos);
  EXPECT_EQ(**accounts_->partyBoundTo("mailto:recipient@example.test"), "demo-recipient");

  Secret seed(*internal::base32Decode((*first)[2].totpSecret));
  auto officer = login("mailto:officer@example.test", "officer-demo-password", totpCode(seed, totpStep(clock_.now())));
  ASSERT_EQ(officer.status, 201) << officer.body;
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests", "", bearer(field(officer.body, "token"))).status, 200);
}

TEST_F(IdentityServiceTest, RoutesAreInTheOpenApiDocument) {
  const std::string doc = router_.openApiDocument({});
  for (const char* path :
       {"/api/v1/sessions", "/api/v1/sessions/current", "/api/v1/me", "/api/v1/me/totp", "/api/v1/me/totp/confirm",
        "/api/v1/me/identifiers", "/api/v1/me/identifiers/{id}/confirm", "/api/v1/registrations",
        "/api/v1/identity/verification-requests", "/api/v1/officer/verification-requests",
        "/api/v1/officer/verification-requests/{id}/approve", "/api/v1/officer/verification-requests/{id}/reject",
        "/api/v1/admin/parties", "/api/v1/admin/parties/{id}/roles", "/api/v1/identity/policy",
        "/api/v1/identity/verification-requests/{id}/documents",
        "/api/v1/officer/verification-requests/{id}/documents/{doc}", "/api/v1/me/certificates",
        "/api/v1/me/certificates/{id}"}) {
    EXPECT_NE(doc.find(std::string("\"") + path + "\""), std::string::npos) << path;
  }
  EXPECT_NE(doc.find("bearerAuth"), std::string::npos);
  for (const char* schema : {"IdentityPolicy", "DocumentUploaded", "DocumentScan", "Appointment", "PartyCertificate"}) {
    EXPECT_NE(doc.find(std::string("\"") + schema + "\""), std::string::npos) << schema;
  }
  EXPECT_NE(doc.find("\"application/pdf\""), std::string::npos);
}

// ---- policy, verification methods, document scans ----------------------------------------------

const std::string kJpegScan = std::string("\xFF\xD8\xFF\xE0", 4) + "JFIF scan of alice's passport, page 2";
const std::string kPdfScan = "%PDF-1.7\nalice passport scan plaintext marker\n%%EOF";

TEST_F(IdentityServiceTest, PolicyNeedsNoAuthenticationAndShowsTheTable) {
  auto r = call("GET", "/api/v1/identity/policy");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field(r.body, "profile"), "development");
  EXPECT_NE(r.body.find("\"submit\":{\"min_level\":\"substantial\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"handover\":{\"min_level\":\"none\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"method":"physical_presence","label":"In person, with an identity document","requestable":true})"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("method":"remote_id_document_scan")"), std::string::npos);
  // Without certificate trust anchors a certificate identification cannot be requested here.
  EXPECT_NE(r.body.find(R"("method":"qualified_certificate","label":"With a qualified electronic signature or seal certificate","requestable":false)"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("method":"eudi_wallet","label":"With the EU Digital Identity Wallet","requestable":false)"),
            std::string::npos);
}

class QualifiedPolicyTest : public IdentityServiceTest {
 protected:
  void adjustOptions(IdentityOptions& o) override {
    auto cfg = Config::load("", {});
    ASSERT_TRUE(cfg.has_value());
    ASSERT_TRUE(cfg->setForTest("service.mode", "qualified").has_value());
    ASSERT_TRUE(cfg->setForTest("identity.recipient_min_level", "substantial").has_value());
    auto p = gatePolicyFromConfig(*cfg);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    o.gatePolicy = *p;
  }
};

TEST_F(QualifiedPolicyTest, PolicyReflectsTheConfiguredProfile) {
  auto r = call("GET", "/api/v1/identity/policy");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field(r.body, "profile"), "qualified");
  EXPECT_NE(r.body.find(R"("handover":{"min_level":"substantial","methods":["physical_presence","eid_notified","eudi_wallet","qualified_certificate","cab_confirmed_remote"],"any_method":false,"method_min_levels":{"eid_notified":"high"},"strong_authentication":true)"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(service_->gatePolicy().handover.minLevel, LevelOfAssurance::Substantial);
}

TEST_F(IdentityServiceTest, VerificationRequestCarriesMethodAppointmentAndDeadline) {
  registerUser("mailto:alice@example.test", "alice password 1");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string url = "/api/v1/identity/verification-requests";
  auto plain = call("POST", url, "{}", bearer(alice));
  ASSERT_EQ(plain.status, 201) << plain.body;
  EXPECT_EQ(field(plain.body, "method"), "physical_presence");
  EXPECT_NE(plain.body.find("\"appointment\":null"), std::string::npos) << plain.body;
  EXPECT_NE(plain.body.find("\"documents\":[]"), std::string::npos);
  EXPECT_NE(plain.body.find("\"approvals\":[]"), std::string::npos);
  EXPECT_EQ(field(plain.body, "deadline"), formatRfc3339(clock_.now() + 120h, false));

  auto visit = call("POST", url,
                    R"({"requested_level":"substantial","method":"physical_presence","appointment":{"preferred_at":"2026-12-01T10:00:00Z","note":"mornings, please"}})",
                    bearer(alice));
  ASSERT_EQ(visit.status, 201) << visit.body;
  EXPECT_NE(visit.body.find(R"("appointment":{"preferred_at":"2026-12-01T10:00:00Z","note":"mornings, please"})"),
            std::string::npos)
      << visit.body;
  auto again = call("GET", url + "/" + field(visit.body, "id"), "", bearer(alice));
  EXPECT_NE(again.body.find("\"preferred_at\":\"2026-12-01T10:00:00Z\""), std::string::npos) << again.body;

  auto scan = call("POST", url, R"({"method":"remote_id_document_scan"})", bearer(alice));
  ASSERT_EQ(scan.status, 201) << scan.body;
  EXPECT_EQ(field(scan.body, "method"), "remote_id_document_scan");

  const std::string longNote(501, 'x');
  const std::string bad[] = {
      R"({"method":"remote_id_document_scan","appointment":{"preferred_at":"2026-12-01T10:00:00Z"}})",
      R"({"method":"physical_presence","appointment":{"preferred_at":"2026-12-01T10:00:00Z","note":")" + longNote + "\"}}",
      R"({"method":"physical_presence","appointment":{"preferred_at":"next tuesday"}})",
      R"({"method":"physical_presence","appointment":"tomorrow"})",
      R"({"method":"telepathy"})",
      R"({"method":"eudi_wallet"})",
      R"({"method":"remote_id_document_scan","requested_level":"high"})",
  };
  for (const std::string& b : bad) EXPECT_EQ(call("POST", url, b, bearer(alice)).status, 400) << b;
  // A 500-character note (multi-byte characters count once) is fine.
  std::string note;
  for (int i = 0; i < 500; ++i) note += "\xC3\xA9";
  EXPECT_EQ(call("POST", url, R"({"appointment":{"preferred_at":"2026-12-01T10:00:00+01:00","note":")" + note + "\"}}",
                 bearer(alice))
                .status,
            201);
}

TEST_F(IdentityServiceTest, DocumentUploadAuthorizationTypesAndLimits) {
  registerUser("mailto:alice@example.test", "alice password 1");
  registerUser("mailto:eve@example.test", "eve password 123");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string eve = tokenOf("mailto:eve@example.test", "eve password 123");
  auto opened = call("POST", "/api/v1/identity/verification-requests", R"({"method":"remote_id_document_scan"})",
                     bearer(alice));
  ASSERT_EQ(opened.status, 201);
  const std::string req = field(opened.body, "id");
  const std::string url = "/api/v1/identity/verification-requests/" + req + "/documents";
  auto h = [](const std::string& token, const std::string& type) {
    return http::Headers{{"Authorization", "Bearer " + token}, {"Content-Type", type}};
  };

  EXPECT_EQ(call("POST", url, kJpegScan, {{"Content-Type", "image/jpeg"}}).status, 401);
  // Another party: 404 exactly as for a request that does not exist.
  auto foreign = call("POST", url, kJpegScan, h(eve, "image/jpeg"));
  EXPECT_EQ(foreign.status, 404);
  auto missing = call("POST", "/api/v1/identity/verification-requests/vr_nope/documents", kJpegScan, h(eve, "image/jpeg"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(foreign.body.substr(0, 80), missing.body.substr(0, 80));

  // Magic bytes, not the header, decide.
  EXPECT_EQ(call("POST", url, kJpegScan, h(alice, "image/png")).status, 415);
  EXPECT_EQ(call("POST", url, "<html><script>alert(1)</script></html>", h(alice, "image/jpeg")).status, 415);
  EXPECT_EQ(call("POST", url, "GIF89a.........", h(alice, "application/pdf")).status, 415);
  EXPECT_EQ(call("POST", url, std::string(10 * 1024 * 1024 + 1, '\xFF'), h(alice, "image/jpeg")).status, 413);

  auto ok = call("POST", url, kJpegScan, h(alice, "image/jpeg; charset=binary"));
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(field(ok.body, "sha256"), internal::hex(crypto::sha256(kJpegScan)));
  EXPECT_EQ(field(ok.body, "document_id").rfind("doc_", 0), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call("POST", url, kPdfScan, h(alice, "application/pdf")).status, 201);
  EXPECT_EQ(call("POST", url, kPdfScan, h(alice, "application/pdf")).status, 409);

  auto mine = call("GET", "/api/v1/identity/verification-requests/" + req, "", bearer(alice));
  EXPECT_NE(mine.body.find("\"content_type\":\"image/jpeg\",\"size\":" + std::to_string(kJpegScan.size())),
            std::string::npos)
      << mine.body;
  EXPECT_NE(mine.body.find("\"purged\":false"), std::string::npos);

  // Encryption at rest: no stored column holds the scan's bytes.
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM identity_documents WHERE position($1::bytea in ciphertext) > 0 OR "
                        "position($1::bytea in key_wrapped) > 0",
                        {pg::Param::bytes("alice passport scan plaintext marker")}),
            "0");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM identity_documents WHERE position($1::bytea in ciphertext) > 0",
                        {pg::Param::bytes("JFIF scan of alice")}),
            "0");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM identity_documents WHERE ciphertext IS NOT NULL"), "4");
  const std::string audit = auditActions();
  EXPECT_NE(audit.find("identity.document.upload:denied"), std::string::npos) << audit;
  EXPECT_NE(audit.find("identity.document.uploaded:success"), std::string::npos) << audit;
}

// A retention shorter than a session's idle timeout, so the same sessions see the purge.
class ShortRetentionTest : public IdentityServiceTest {
 protected:
  void adjustOptions(IdentityOptions& o) override { o.documentRetention = 10min; }
};

TEST_F(ShortRetentionTest, OfficerReadsDocumentsAuditedAndScansArePurgedAfterRetention) {
  registerUser("mailto:alice@example.test", "alice password 1");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  const std::string aliceId = partyOf(alice);
  auto opened = call("POST", "/api/v1/identity/verification-requests", R"({"method":"remote_id_document_scan"})",
                     bearer(alice));
  const std::string req = field(opened.body, "id");
  auto up = call("POST", "/api/v1/identity/verification-requests/" + req + "/documents", kPdfScan,
                 {{"Authorization", "Bearer " + alice}, {"Content-Type", "application/pdf"}});
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string doc = field(up.body, "document_id");
  const std::string docUrl = "/api/v1/officer/verification-requests/" + req + "/documents/" + doc;

  // Not an officer: 403 (the owner included).
  EXPECT_EQ(call("GET", docUrl, "", bearer(alice)).status, 403);
  EXPECT_EQ(call("GET", docUrl).status, 401);
  auto [officerId, officer] = strongUser("mailto:officer@example.test", RoleSet{Role::User, Role::Officer});

  // The officer's own request and its documents: refused.
  auto own = call("POST", "/api/v1/identity/verification-requests", R"({"method":"remote_id_document_scan"})",
                  bearer(officer));
  const std::string ownReq = field(own.body, "id");
  auto ownDoc = call("POST", "/api/v1/identity/verification-requests/" + ownReq + "/documents", kJpegScan,
                     {{"Authorization", "Bearer " + officer}, {"Content-Type", "image/jpeg"}});
  ASSERT_EQ(ownDoc.status, 201);
  auto self = call("GET", "/api/v1/officer/verification-requests/" + ownReq + "/documents/" +
                              field(ownDoc.body, "document_id"),
                   "", bearer(officer));
  EXPECT_EQ(self.status, 403) << self.body;
  // A document id under the wrong request, and unknown ids: 404.
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests/" + ownReq + "/documents/" + doc, "", bearer(officer)).status,
            403);  // still the officer's own request
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests/" + req + "/documents/doc_nope", "", bearer(officer)).status,
            404);
  EXPECT_EQ(call("GET", "/api/v1/officer/verification-requests/vr_nope/documents/" + doc, "", bearer(officer)).status,
            404);

  auto read = call("GET", docUrl, "", bearer(officer));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.body, kPdfScan);
  EXPECT_EQ(read.header("Cache-Control"), "no-store");
  EXPECT_EQ(read.header("Content-Disposition"), "attachment; filename=\"" + doc + ".pdf\"");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.document.read' AND outcome = "
                        "'success' AND actor = $1 AND object = $2",
                        {pg::Param::text("party:" + officerId), pg::Param::text("party:" + aliceId)}),
            "1");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.document.read' AND outcome = 'denied'"),
            "3");

  // The queue shows the documents, and approvals as they come.
  auto queue = call("GET", "/api/v1/officer/verification-requests", "", bearer(officer));
  EXPECT_NE(queue.body.find(doc), std::string::npos);
  const std::string approval = R"({"method":"remote_id_document_scan","level":"substantial",)"
                               R"("document":{"type":"passport","issuing_country":"BE","number":"EN1","expires_on":"2031-01-01"}})";
  auto approved = call("POST", "/api/v1/officer/verification-requests/" + req + "/approve", approval, bearer(officer));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_NE(approved.body.find("\"approvals\":[{\"officer_id\":\"" + officerId + "\""), std::string::npos);
  EXPECT_EQ(field(approved.body, "retention_until"), formatRfc3339(clock_.now() + 10min, false));
  // Decided: no more uploads.
  EXPECT_EQ(call("POST", "/api/v1/identity/verification-requests/" + req + "/documents", kPdfScan,
                 {{"Authorization", "Bearer " + alice}, {"Content-Type", "application/pdf"}})
                .status,
            404);

  // Before the retention ends nothing is purged; the officer's own (pending) request never is.
  clock_.advance(9min);
  auto early = service_->purgeExpiredPersonalData();
  ASSERT_TRUE(early.has_value()) << early.error().message;
  EXPECT_EQ(*early, 0);
  clock_.advance(2min);
  auto purged = service_->purgeExpiredPersonalData();
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM identity_documents WHERE ciphertext IS NOT NULL"), "1");

  const std::string fresh = alice;
  auto after = call("GET", "/api/v1/identity/verification-requests/" + req, "", bearer(fresh));
  EXPECT_NE(after.body.find("\"purged\":true"), std::string::npos) << after.body;
  EXPECT_EQ(field(after.body, "status"), "approved");  // the decision record stays
  EXPECT_NE(call("GET", "/api/v1/me", "", bearer(fresh)).body.find("\"method\":\"remote_id_document_scan\""),
            std::string::npos);
  auto gone = call("GET", docUrl, "", bearer(officer));
  EXPECT_EQ(gone.status, 404) << gone.body;

  // The export lists document metadata (never the bytes) and appointments.
  auto exported = call("GET", "/api/v1/me/export", "", bearer(fresh));
  ASSERT_EQ(exported.status, 200) << exported.body;
  EXPECT_NE(exported.body.find("\"documents\":[{\"request_id\":\"" + req + "\",\"id\":\"" + doc + "\""),
            std::string::npos)
      << exported.body;
  EXPECT_NE(exported.body.find("\"appointments\":[]"), std::string::npos);
  EXPECT_EQ(exported.body.find("plaintext marker"), std::string::npos);
}

TEST_F(IdentityServiceTest, BackgroundTaskPurgesOnItsOwn) {
  registerUser("mailto:alice@example.test", "alice password 1");
  const std::string alice = tokenOf("mailto:alice@example.test", "alice password 1");
  auto opened = call("POST", "/api/v1/identity/verification-requests", R"({"method":"remote_id_document_scan"})",
                     bearer(alice));
  const std::string req = field(opened.body, "id");
  ASSERT_EQ(call("POST", "/api/v1/identity/verification-requests/" + req + "/documents", kJpegScan,
                 {{"Authorization", "Bearer " + alice}, {"Content-Type", "image/jpeg"}})
                .status,
            201);
  auto [officerId, officer] = strongUser("mailto:officer@example.test", RoleSet{Role::User, Role::Officer});
  ASSERT_EQ(call("POST", "/api/v1/officer/verification-requests/" + req + "/reject", R"({"reason":"unreadable"})",
                 bearer(officer))
                .status,
            200);
  clock_.advance(31 * 24h);
  service_->startBackgroundTasks();
  service_->startBackgroundTasks();  // idempotent
  std::string remaining;
  for (int i = 0; i < 100; ++i) {
    remaining = db_->scalar("SELECT count(*) FROM identity_documents WHERE ciphertext IS NOT NULL");
    if (remaining == "0") break;
    std::this_thread::sleep_for(50ms);
  }
  service_->stopBackgroundTasks();
  service_->stopBackgroundTasks();
  EXPECT_EQ(remaining, "0");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.document.purged'"), "1");
}

TEST(IdentityOptionsTest, ModeRules) {
  auto cfg = Config::load("", {});
  ASSERT_TRUE(cfg.has_value());
  auto dev = IdentityOptions::fromConfig(*cfg);
  ASSERT_TRUE(dev.has_value()) << dev.error().message;
  EXPECT_FALSE(dev->requireStrongAuthentication);
  EXPECT_TRUE(dev->revealCodesInLog);
  EXPECT_EQ(dev->kek.size(), 32u);  // per-process in development
  EXPECT_EQ(dev->argon2.memoryKiB, 65536u);
  EXPECT_EQ(dev->sessions.idleTimeout, 30min);
  EXPECT_EQ(dev->sessions.absoluteTimeout, 12h);

  ASSERT_TRUE(cfg->setForTest("service.mode", "basic").has_value());
  auto basic = IdentityOptions::fromConfig(*cfg);
  ASSERT_FALSE(basic.has_value());
  EXPECT_NE(basic.error().message.find("secrets.kek_file"), std::string::npos) << basic.error().message;

  ASSERT_TRUE(cfg->setForTest("service.mode", "development").has_value());
  ASSERT_TRUE(cfg->setForTest("identity.require_strong_authentication", "true").has_value());
  ASSERT_TRUE(cfg->setForTest("identity.argon2_t_cost", "0").has_value());
  auto bad = IdentityOptions::fromConfig(*cfg);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("identity.argon2_t_cost"), std::string::npos);
  ASSERT_TRUE(cfg->setForTest("identity.argon2_t_cost", "2").has_value());
  auto strong = IdentityOptions::fromConfig(*cfg);
  ASSERT_TRUE(strong.has_value());
  EXPECT_TRUE(strong->requireStrongAuthentication);
}

}  // namespace
}  // namespace erds::identity

// ---- client certificates and signed challenges ----------------------------------------------

namespace erds::identity {
namespace {

using erds::identity::testing::CertSpec;
using erds::identity::testing::TestCertificate;

class CertificateRoutesTest : public IdentityServiceTest {
 protected:
  static CertSpec spec(const std::string& cn, bool ca, long serial) {
    CertSpec s;
    s.commonName = "DEVELOPMENT " + cn;
    s.isCa = ca;
    s.serial = serial;
    s.notBefore = TimePoint(std::chrono::seconds(1'790'000'000));
    s.notAfter = TimePoint(std::chrono::seconds(1'810'000'000));
    return s;
  }
  TestCertificate leaf(const TestCertificate& issuer, long serial, const std::string& email, bool qualified) {
    CertSpec s = spec("leaf " + std::to_string(serial), false, serial);
    s.emails = {email};
    if (qualified) {
      s.qcCompliance = true;
      s.policyOids = {"0.4.0.194112.1.2"};
    }
    return TestCertificate::issue(s, &issuer);
  }
  void adjustOptions(IdentityOptions& o) override {
    o.certificateLogin = true;
    o.certificates.trustAnchorsPem = {clientCa_.pem()};
    o.certificates.qualifiedCasPem = {qualifiedCa_.pem()};
    o.certificates.crlsPem = {clientCa_.crlPem({66}, TimePoint(std::chrono::seconds(1'799'000'000)),
                                               TimePoint(std::chrono::seconds(1'801'000'000)))};
  }
  // Registers `identifier` and binds it (proof of control with the code the notifier saw).
  std::string boundUser(const std::string& identifier) {
    registerUser(identifier, "a long enough password");
    std::string token = tokenOf(identifier, "a long enough password");
    auto list = call("GET", "/api/v1/me/identifiers", "", bearer(token));
    const std::string binding = field(list.body, "id");
    auto r = call("POST", "/api/v1/me/identifiers/" + binding + "/confirm",
                  "{\"code\":\"" + notifier_.codeFor(identifier) + "\"}", bearer(token));
    EXPECT_EQ(r.status, 200) << r.body;
    return token;
  }
  std::string audits(const std::string& action, const std::string& outcome) {
    return db_->scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = $2",
                       {pg::Param::text(action), pg::Param::text(outcome)});
  }

  TestCertificate clientCa_ = TestCertificate::issue(spec("client CA", true, 1), nullptr);
  TestCertificate qualifiedCa_ = TestCertificate::issue(spec("qualified CA", true, 2), nullptr);
  TestCertificate otherCa_ = TestCertificate::issue(spec("other CA", true, 3), nullptr);
};

TEST_F(CertificateRoutesTest, ClientCertificateSessions) {
  const std::string password = boundUser("mailto:carol@example.test");
  ASSERT_FALSE(password.empty());

  clientChain_ = {leaf(clientCa_, 10, "carol@example.test", false).der()};
  auto ok = call("POST", "/api/v1/sessions/certificate");
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_NE(ok.body.find("\"methods\":[\"client_certificate\"]"), std::string::npos) << ok.body;
  EXPECT_EQ(field(ok.body, "level"), "substantial");
  EXPECT_NE(ok.header("Set-Cookie").find("HttpOnly"), std::string::npos);
  clientChain_.clear();
  EXPECT_EQ(call("GET", "/api/v1/me", "", bearer(field(ok.body, "token"))).status, 200);

  clientChain_ = {leaf(qualifiedCa_, 11, "Carol@Example.test", true).der()};
  auto q = call("POST", "/api/v1/sessions/certificate");
  ASSERT_EQ(q.status, 201) << q.body;
  EXPECT_NE(q.body.find("\"qualified\":true"), std::string::npos);
  EXPECT_NE(q.body.find("\"methods\":[\"qualified_certificate\"]"), std::string::npos);
  clientChain_.clear();
  auto me = call("GET", "/api/v1/me", "", bearer(field(q.body, "token")));
  EXPECT_NE(me.body.find("\"method\":\"qualified_certificate\",\"level\":\"high\""), std::string::npos) << me.body;

  struct Case {
    std::vector<std::string> chain;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {{leaf(clientCa_, 66, "carol@example.test", false).der()}, 403, "revoked"},
      {{leaf(otherCa_, 12, "carol@example.test", false).der()}, 401, "untrusted"},
      {{leaf(clientCa_, 13, "mallory@example.test", false).der()}, 401, "not bound"},
      {{"not a certificate"}, 401, "malformed"},
      {{}, 401, "no client certificate"},
  };
  for (const auto& c : cases) {
    clientChain_ = c.chain;
    auto r = call("POST", "/api/v1/sessions/certificate");
    EXPECT_EQ(r.status, c.status) << c.detail << ": " << r.body;
    EXPECT_NE(r.body.find(c.detail), std::string::npos) << r.body;
    EXPECT_EQ(field(r.body, "token"), "");
  }
  EXPECT_EQ(audits("auth.login.certificate", "success"), "2");
  EXPECT_EQ(audits("auth.login.certificate", "denied"), "1");
  EXPECT_EQ(audits("auth.login.certificate", "failure"), "4");
}

TEST_F(CertificateRoutesTest, SignedChallengeIdentification) {
  const std::string dave = boundUser("mailto:dave@example.test");
  const std::string erin = boundUser("mailto:erin@example.test");
  const TestCertificate qualified = leaf(qualifiedCa_, 20, "dave@example.test", true);
  auto ch = call("POST", "/api/v1/me/certificate-challenge", "", bearer(dave));
  ASSERT_EQ(ch.status, 201) << ch.body;
  const std::string challenge = field(ch.body, "challenge");
  auto body = [&](const TestCertificate& cert, const std::string& c, const std::string& sig) {
    return "{\"certificate\":" + jsonString(cert.pem()) + ",\"challenge\":" + jsonString(c) + ",\"signature\":" +
           jsonString(internal::base64UrlEncode(sig)) + "}";
  };
  // Someone else's challenge, a tampered one, an expired one: 401.
  auto theirs = call("POST", "/api/v1/me/certificate-identification", body(qualified, challenge, qualified.sign(challenge)),
                     bearer(erin));
  EXPECT_EQ(theirs.status, 401) << theirs.body;
  std::string tampered = challenge;
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(call("POST", "/api/v1/me/certificate-identification", body(qualified, tampered, qualified.sign(tampered)),
                 bearer(dave)).status,
            401);
  // A signature by another key, a certificate for another address: 403.
  const TestCertificate other = leaf(qualifiedCa_, 21, "dave@example.test", true);
  EXPECT_EQ(call("POST", "/api/v1/me/certificate-identification", body(qualified, challenge, other.sign(challenge)),
                 bearer(dave)).status,
            403);
  const TestCertificate erinCert = leaf(qualifiedCa_, 22, "erin@example.test", true);
  EXPECT_EQ(call("POST", "/api/v1/me/certificate-identification", body(erinCert, challenge, erinCert.sign(challenge)),
                 bearer(dave)).status,
            403);
  // The real thing.
  auto ok = call("POST", "/api/v1/me/certificate-identification", body(qualified, challenge, qualified.sign(challenge)),
                 bearer(dave));
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(field(ok.body, "method"), "qualified_certificate");
  EXPECT_EQ(field(ok.body, "level"), "high");
  EXPECT_EQ(audits("identity.certificate_identification", "success"), "1");
  EXPECT_EQ(audits("identity.certificate_identification", "denied"), "2");
  clock_.advance(301s);
  EXPECT_EQ(call("POST", "/api/v1/me/certificate-identification", body(qualified, challenge, qualified.sign(challenge)),
                 bearer(dave)).status,
            401);
}

TEST_F(IdentityServiceTest, PersonalDataExportIsAuditedAndAdminOnlyForOthers) {
  registerUser("mailto:frank@example.test", "a long enough password");
  const std::string frank = tokenOf("mailto:frank@example.test", "a long enough password");
  auto mine = call("GET", "/api/v1/me/export", "", bearer(frank));
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(field(mine.body, "login_identifier"), "mailto:frank@example.test");
  EXPECT_EQ(field(mine.body, "format"), "erds-personal-data-export/1");
  EXPECT_EQ(mine.body.find("argon2"), std::string::npos);
  const std::string frankId = partyOf(frank);
  auto denied = call("GET", "/api/v1/admin/parties/" + frankId + "/export", "", bearer(frank));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(field(denied.body, "type"), "urn:erds:problem:forbidden");
  auto [adminId, admin] = strongUser("mailto:grace@example.test", RoleSet{Role::User, Role::Admin});
  auto theirs = call("GET", "/api/v1/admin/parties/" + frankId + "/export", "", bearer(admin));
  ASSERT_EQ(theirs.status, 200) << theirs.body;
  EXPECT_EQ(field(theirs.body, "login_identifier"), "mailto:frank@example.test");
  EXPECT_EQ(call("GET", "/api/v1/admin/parties/nobody/export", "", bearer(admin)).status, 404);
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.personal_data.export' AND "
                        "outcome = 'success'"),
            "1");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'admin.parties.export' AND outcome = 'success' "
                        "AND object = $1",
                        {pg::Param::text("party:" + frankId)}),
            "1");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'admin.parties.export' AND outcome = 'denied'"),
            "1");
  (void)adminId;
}

TEST_F(CertificateRoutesTest, CertificateRegistryBindsSignsInAndUnbinds) {
  auto [frank, strong] = strongUser("mailto:frank@example.test", RoleSet{Role::User});
  registerUser("mailto:grace@example.test", "grace password 12");
  const std::string weak = tokenOf("mailto:grace@example.test", "grace password 12");
  // A certificate whose e-mail address is nobody's: only the registry can tie it to Frank.
  const TestCertificate card = leaf(clientCa_, 30, "frank.card@elsewhere.test", false);
  const std::string url = "/api/v1/me/certificates";

  clientChain_ = {card.der()};
  EXPECT_EQ(call("POST", "/api/v1/sessions/certificate").status, 401);
  EXPECT_EQ(call("POST", url).status, 401);
  auto weakBind = call("POST", url, "", bearer(weak));
  EXPECT_EQ(weakBind.status, 403) << weakBind.body;
  clientChain_.clear();
  EXPECT_EQ(call("POST", url, "", bearer(strong)).status, 403);  // no certificate presented
  clientChain_ = {leaf(otherCa_, 31, "frank.card@elsewhere.test", false).der()};
  EXPECT_EQ(call("POST", url, "", bearer(strong)).status, 403);  // untrusted
  clientChain_ = {leaf(clientCa_, 66, "frank.card@elsewhere.test", false).der()};
  EXPECT_EQ(call("POST", url, "", bearer(strong)).status, 403);  // revoked

  clientChain_ = {card.der()};
  auto bound = call("POST", url, "", bearer(strong));
  ASSERT_EQ(bound.status, 201) << bound.body;
  const std::string bindingId = field(bound.body, "id");
  EXPECT_EQ(field(bound.body, "sha256").size(), 64u);
  EXPECT_EQ(field(bound.body, "not_after"), formatRfc3339(TimePoint(std::chrono::seconds(1'810'000'000)), false));
  EXPECT_EQ(call("POST", url, "", bearer(strong)).status, 409);

  auto signIn = call("POST", "/api/v1/sessions/certificate");
  ASSERT_EQ(signIn.status, 201) << signIn.body;
  EXPECT_EQ(field(signIn.body, "party_id"), frank);
  auto party = service_->partyForCertificate({card.der()});
  ASSERT_TRUE(party.has_value()) << party.error().message;
  EXPECT_EQ(party->value_or(""), frank);
  auto stranger = service_->partyForCertificate({leaf(clientCa_, 32, "x@elsewhere.test", false).der()});
  ASSERT_TRUE(stranger.has_value());
  EXPECT_FALSE(stranger->has_value());
  auto untrusted = service_->partyForCertificate({leaf(otherCa_, 33, "frank.card@elsewhere.test", false).der()});
  ASSERT_FALSE(untrusted.has_value());
  EXPECT_TRUE(untrusted.error().is(ErrorCode::Unauthorized));

  clientChain_.clear();
  auto list = call("GET", url, "", bearer(strong));
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find(bindingId), std::string::npos);
  EXPECT_EQ(call("GET", url, "", bearer(weak)).body, "{\"certificates\":[]}");
  EXPECT_EQ(call("DELETE", url + "/" + bindingId, "", bearer(weak)).status, 404);  // not Grace's
  EXPECT_EQ(call("DELETE", url + "/" + bindingId, "", bearer(strong)).status, 204);
  EXPECT_EQ(call("DELETE", url + "/" + bindingId, "", bearer(strong)).status, 404);
  clientChain_ = {card.der()};
  EXPECT_EQ(call("POST", "/api/v1/sessions/certificate").status, 401);
  EXPECT_FALSE(service_->partyForCertificate({card.der()})->has_value());

  // The export lists the certificate; every step was audited.
  clientChain_.clear();
  auto exported = call("GET", "/api/v1/me/export", "", bearer(strong));
  EXPECT_NE(exported.body.find("\"certificates\":[{\"id\":\"" + bindingId + "\""), std::string::npos) << exported.body;
  EXPECT_EQ(audits("identity.certificate.bind", "success"), "1");
  EXPECT_EQ(audits("identity.certificate.bind", "denied"), "5");
  EXPECT_EQ(audits("identity.certificate.unbind", "success"), "1");
}

TEST_F(CertificateRoutesTest, PolicyOffersCertificateIdentificationWhenConfigured) {
  auto r = call("GET", "/api/v1/identity/policy");
  EXPECT_NE(r.body.find(R"("method":"qualified_certificate","label":"With a qualified electronic signature or seal certificate","requestable":true)"),
            std::string::npos)
      << r.body;
}

// ---- application tokens ------------------------------------------------------------------------

TEST_F(IdentityServiceTest, AppTokensNeedAStrongSessionAndAreShownOnce) {
  const std::string url = "/api/v1/me/app-tokens";
  // 401 without a session, on every route.
  EXPECT_EQ(call("GET", url).status, 401);
  EXPECT_EQ(call("POST", url, R"({"name":"x"})").status, 401);
  EXPECT_EQ(call("DELETE", url + "/apt_0").status, 401);

  auto [party, strong] = strongUser("mailto:tina@example.test", RoleSet{Role::User});
  registerUser("mailto:walt@example.test", "a long enough password");
  const std::string weak = tokenOf("mailto:walt@example.test", "a long enough password");
  // 403 for a password-only session (the certificate registry's rule), audited as denied.
  auto refused = call("POST", url, R"({"name":"thunderbird"})", bearer(weak));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("second factor"), std::string::npos) << refused.body;
  EXPECT_EQ(call("GET", url, "", bearer(weak)).body, "{\"app_tokens\":[]}");

  // Bad input: 400.
  EXPECT_EQ(call("POST", url, R"({})", bearer(strong)).status, 400);
  EXPECT_EQ(call("POST", url, R"({"name":"x","expires_in":60})", bearer(strong)).status, 400);
  EXPECT_EQ(call("POST", url, R"({"name":"x","expires_in":31622400})", bearer(strong)).status, 400);
  EXPECT_EQ(call("POST", url, R"({"name":"x","expires_in":"90d"})", bearer(strong)).status, 400);
  EXPECT_EQ(call("POST", url, R"({"name":"x","scope":"admin"})", bearer(strong)).status, 400);

  auto created = call("POST", url, R"({"name":"thunderbird","expires_in":86400})", bearer(strong));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.header("Cache-Control"), "no-store");
  const std::string secret = field(created.body, "token");
  const std::string id = field(created.body, "id");
  EXPECT_EQ(secret.rfind("erds_at_", 0), 0u) << created.body;
  EXPECT_EQ(secret.size(), 51u);
  EXPECT_EQ(field(created.body, "scope"), "smtp-submit");
  EXPECT_EQ(field(created.body, "expires_at"), formatRfc3339(clock_.now() + 24h, false));
  EXPECT_NE(created.body.find(R"("created_with":{"level":"substantial","methods":["password_totp"],"strong":true)"),
            std::string::npos)
      << created.body;

  // Listed without the secret; the default lifetime is 90 days.
  auto second = call("POST", url, R"({"name":"phone"})", bearer(strong));
  ASSERT_EQ(second.status, 201) << second.body;
  EXPECT_EQ(field(second.body, "expires_at"), formatRfc3339(clock_.now() + std::chrono::hours(24 * 90), false));
  auto list = call("GET", url, "", bearer(strong));
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"id\":\"" + id + "\""), std::string::npos) << list.body;
  EXPECT_NE(list.body.find("\"last_used_at\":null"), std::string::npos) << list.body;
  EXPECT_EQ(list.body.find("erds_at_"), std::string::npos) << "the secret is never listed";
  EXPECT_EQ(list.body.find("\"token\""), std::string::npos);
  // Neither the secret nor its unkeyed hash is stored or audited.
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%'",
                        {pg::Param::text(secret.substr(8))}),
            "0");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM app_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
                        {pg::Param::text(secret)}),
            "0");

  // Another party's token: 404 (no existence leak), and it stays live.
  EXPECT_EQ(call("DELETE", url + "/" + id, "", bearer(weak)).status, 404);
  EXPECT_EQ(call("DELETE", url + "/apt_unknown", "", bearer(strong)).status, 404);
  EXPECT_EQ(call("DELETE", url + "/" + id, "", bearer(strong)).status, 204);
  EXPECT_EQ(call("DELETE", url + "/" + id, "", bearer(strong)).status, 404);
  list = call("GET", url, "", bearer(strong));
  EXPECT_NE(list.body.find("\"revoked\":true"), std::string::npos) << list.body;

  // The export lists them; every step was audited (create x2, revoke, one denial).
  auto exported = call("GET", "/api/v1/me/export", "", bearer(strong));
  EXPECT_NE(exported.body.find("\"app_tokens\":[{"), std::string::npos) << exported.body;
  EXPECT_EQ(exported.body.find("erds_at_"), std::string::npos);
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.app_token.create' AND outcome = 'success' "
                        "AND actor = $1",
                        {pg::Param::text("party:" + party)}),
            "2");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM audit_log WHERE action = 'identity.app_token.create' AND outcome = 'denied'"),
            "1");
  EXPECT_EQ(db_->scalar("SELECT details->>'token_id' FROM audit_log WHERE action = 'identity.app_token.revoke'"), id);
}

TEST_F(IdentityServiceTest, AppTokenRoutesAreInTheOpenApiDocumentAndThePolicyShowsThem) {
  const std::string doc = router_.openApiDocument({});
  for (const char* s : {"\"/api/v1/me/app-tokens\"", "\"/api/v1/me/app-tokens/{id}\"", "\"AppToken\"",
                        "\"AppTokenCreated\"", "\"NewAppToken\"", "\"createMyAppToken\""}) {
    EXPECT_NE(doc.find(s), std::string::npos) << s;
  }
  auto r = call("GET", "/api/v1/identity/policy");
  EXPECT_NE(r.body.find("\"smtp_app_tokens\":true"), std::string::npos) << r.body;
}

// Qualified mode: identity.smtp_app_tokens unset means no tokens for SMTP, so none are created.
class QualifiedAppTokenTest : public IdentityServiceTest {
 protected:
  void adjustOptions(IdentityOptions& o) override {
    auto cfg = Config::load("", {});
    ASSERT_TRUE(cfg.has_value());
    ASSERT_TRUE(cfg->setForTest("service.mode", "qualified").has_value());
    o.smtpAppTokens = smtpAppTokensAllowed(*cfg);
  }
};

TEST_F(QualifiedAppTokenTest, PolicyOffRefusesCreationWithAClearReason) {
  auto r = call("GET", "/api/v1/identity/policy");
  EXPECT_NE(r.body.find("\"smtp_app_tokens\":false"), std::string::npos) << r.body;
  auto [party, strong] = strongUser("mailto:quinn@example.test", RoleSet{Role::User});
  auto c = call("POST", "/api/v1/me/app-tokens", R"({"name":"x"})", bearer(strong));
  EXPECT_EQ(c.status, 403) << c.body;
  EXPECT_NE(c.body.find("identity.smtp_app_tokens"), std::string::npos) << c.body;
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM app_tokens"), "0");
}

}  // namespace
}  // namespace erds::identity
