// Integration: identity end to end through the real erdsd (development mode, demo accounts) over
// verified TLS with a private PostgreSQL: sign-in and cookie flags, /me, no user enumeration,
// logout, an officer (TOTP from the seed erdsd logs) approving a recipient's verification request,
// personal data export, an account made with `erdsctl user add`, and sign-in with X.509 client
// certificates on the second TLS listener (trusted, qualified, revoked, untrusted, unbound).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/SSLManager.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/identity/testing/test_pki.h"

#include "harness.h"
#include "https_client.h"

namespace erds::itest {
namespace {

using namespace std::chrono_literals;

using Reply = HttpReply;

Poco::JSON::Object::Ptr json(const std::string& s) {
  Poco::JSON::Parser p;
  return p.parse(s).extract<Poco::JSON::Object::Ptr>();
}

// An HTTPS client that verifies the server against the development root CA.
class Client {
 public:
  // With `certFile`/`keyFile`, presents that client certificate when the server asks.
  Client(const std::string& caFile, uint16_t port, const std::string& certFile = "",
         const std::string& keyFile = "")
      : port_(port), ctx_(clientContext(caFile, certFile, keyFile)) {}
  // `auth`: "" none, "Bearer <token>" as Authorization, or "cookie:<value>" as the erds_session
  // cookie.
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& auth = "") {
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    if (auth.rfind("cookie:", 0) == 0) {
      req.set("Cookie", "erds_session=" + auth.substr(7));
    } else if (!auth.empty()) {
      req.set("Authorization", auth);
    }
    if (!body.empty() || method == "POST") {
      req.setContentType("application/json");
      req.setContentLength64(static_cast<int64_t>(body.size()));
    }
    return httpsExchange(ctx_, port_, req, &body, std::chrono::seconds(30));
  }

 private:
  uint16_t port_;
  Poco::Net::Context::Ptr ctx_;
};

std::string jsonField(const std::string& line, const std::string& name) {
  const std::regex re("\"" + name + "\":\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(line, m, re) ? std::string(m[1]) : std::string();
}

// RFC 4648 base32 (no padding) -> bytes; an independent implementation for the test.
std::string base32Decode(const std::string& s) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      continue;
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) at the current time.
std::string totpNow(const std::string& key) {
  const uint64_t step = static_cast<uint64_t>(std::time(nullptr)) / 30;
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i)
    msg[7 - i] = static_cast<unsigned char>((step >> (8 * i)) & 0xff);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), msg, sizeof msg, mac, &len);
  const int off = mac[len - 1] & 0x0f;
  const uint32_t bin =
      ((mac[off] & 0x7fu) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  std::string code = std::to_string(bin % 1000000);
  return std::string(6 - code.size(), '0') + code;
}

std::string login(const std::string& identifier, const std::string& password,
                  const std::string& totp = "") {
  std::string body = "{\"identifier\":\"" + identifier + "\",\"password\":\"" + password + "\"";
  if (!totp.empty()) body += ",\"totp\":\"" + totp + "\"";
  return body + "}";
}

class IdentityIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Poco::Net::initializeSSL();
    dir_ = new TempDir("erds-idtest");
    auto db = startMigratedDatabase(/*durable=*/false, "erds_idtest");
    ASSERT_TRUE(db) << db.error().toString();
    pg_ = db->pg.release();
    db->owner.reset();
    ownerConninfo_ = db->roles.ownerConninfo;
    const std::string pki = dir_->path + "/pki";
#ifdef ERDSCTL_PATH
    auto made = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", pki});
    ASSERT_EQ(made.exitCode, 0) << made.out;
#else
    GTEST_FAIL() << "erdsctl is needed to make the development PKI";
#endif
    makeClientPki();
    auto [conninfo, password] = splitPassword(db->roles.appConninfo);
    writeFile(dir_->path + "/db.password", password + "\n", 0600);
    config_ = dir_->path + "/erds.ini";
    writeFile(config_,
              "[service]\nmode = development\ndemo_accounts = true\n"
              "[log]\nlevel = info\n"
              "[http]\naddress = 127.0.0.1\nport = 0\nclient_cert_port = 0\ntls_certificate = " +
                  pki + "/tls.pem\ntls_key = " + pki +
                  "/tls.key\n"
                  "[database]\nconninfo = " +
                  conninfo + "\npassword_file = " + dir_->path +
                  "/db.password\n"
                  "[identity]\nargon2_t_cost = 1\nargon2_m_cost_kib = 8192\n"
                  "client_ca_file = " +
                  dir_->path +
                  "/client-ca.pem\n"
                  "qualified_ca_file = " +
                  dir_->path +
                  "/qualified-ca.pem\n"
                  "crl_file = " +
                  dir_->path + "/crl.pem\n");
    auto port = startDaemon(erdsd_, {ERDSD_PATH, "--config", config_}, 60s);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    auto certPort = waitForPort(*erdsd_, 30s, "http.client_cert_listening");
    ASSERT_TRUE(certPort) << "erdsd did not open the client-certificate listener";
    certPort_ = *certPort;
    // The officer's TOTP seed is in the demo account log line (development only).
    auto officer = erdsd_->waitForLine(
        [](const std::string& l) {
          return l.find("\"identity.demo_account\"") != std::string::npos &&
                 l.find("officer@example.test") != std::string::npos;
        },
        60s);
    ASSERT_TRUE(officer) << "no demo officer logged";
    officerSeed_ = base32Decode(jsonField(*officer, "totp_secret_base32"));
    ASSERT_FALSE(officerSeed_.empty()) << *officer;
  }

  static void TearDownTestSuite() { EXPECT_EQ(stopSuite(erdsd_, pg_, dir_), 0); }

  void SetUp() override {
    ASSERT_NE(port_, 0) << "suite set-up failed";
  }

  Client client() {
    return Client(dir_->path + "/pki/root-ca.pem", port_);
  }
  // A client of the client-certificate listener presenting `name`.pem/.key ("" = no certificate).
  Client certClient(const std::string& name) {
    if (name.empty()) return Client(dir_->path + "/pki/root-ca.pem", certPort_);
    return Client(dir_->path + "/pki/root-ca.pem", certPort_, dir_->path + "/" + name + ".pem",
                  dir_->path + "/" + name + ".key");
  }

  // Client CAs (a plain one with a CRL, a qualified one) and client certificates, test-made.
  static void makeClientPki() {
    using erds::identity::testing::CertSpec;
    using erds::identity::testing::TestCertificate;
    const TimePoint now = SystemClock::instance().now();
    auto spec = [&](std::string cn, bool ca, long serial) {
      CertSpec s;
      s.commonName = "DEVELOPMENT " + cn;
      s.isCa = ca;
      s.serial = serial;
      s.notBefore = now - std::chrono::hours(1);
      s.notAfter = now + std::chrono::hours(24 * 30);
      return s;
    };
    const TestCertificate clientCa = TestCertificate::issue(spec("client CA", true, 1), nullptr);
    const TestCertificate qualifiedCa =
        TestCertificate::issue(spec("qualified CA", true, 2), nullptr);
    const TestCertificate otherCa = TestCertificate::issue(spec("unknown CA", true, 3), nullptr);
    writeFile(dir_->path + "/client-ca.pem", clientCa.pem());
    writeFile(dir_->path + "/qualified-ca.pem", qualifiedCa.pem());
    writeFile(dir_->path + "/crl.pem",
              clientCa.crlPem({11}, now - std::chrono::hours(1), now + std::chrono::hours(48)));
    auto leaf = [&](const std::string& name, const TestCertificate& issuer, long serial,
                    const std::string& email, bool qualified) {
      CertSpec s = spec(name, false, serial);
      s.emails = {email};
      if (qualified) {
        s.qcCompliance = true;
        s.qcTypeOids = {"0.4.0.1862.1.6.1"};
        s.policyOids = {"0.4.0.194112.1.2"};
      }
      TestCertificate c = TestCertificate::issue(s, &issuer);
      writeFile(dir_->path + "/" + name + ".pem", c.pem());
      writeFile(dir_->path + "/" + name + ".key", c.keyPem(), 0600);
    };
    leaf("sender-cert", clientCa, 10, "sender@example.test", false);
    leaf("revoked-cert", clientCa, 11, "sender@example.test", false);
    leaf("unbound-cert", clientCa, 12, "nobody@example.test", false);
    leaf("untrusted-cert", otherCa, 13, "sender@example.test", false);
    leaf("qualified-cert", qualifiedCa, 14, "officer@example.test", true);
  }

  std::string signIn(const std::string& identifier, const std::string& password,
                     const std::string& totp = "") {
    Reply r = client().call("POST", "/api/v1/sessions", login(identifier, password, totp));
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return "";
    return json(r.body)->getValue<std::string>("token");
  }

  int64_t auditCount(const std::string& action, const std::string& outcome) {
    auto c = pg::Connection::connect(ownerConninfo_);
    if (!c) return -1;
    auto q = (*c)->execParams("SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = $2",
                              {pg::Param::text(action), pg::Param::text(outcome)});
    return q ? q->getInt(0, 0) : -1;
  }

  static inline TempDir* dir_ = nullptr;
  static inline erds::testing::PrivatePostgres* pg_ = nullptr;
  static inline ChildProcess* erdsd_ = nullptr;
  static inline std::string config_;
  static inline std::string ownerConninfo_;
  static inline std::string officerSeed_;
  static inline uint16_t port_ = 0;
  static inline uint16_t certPort_ = 0;
};

TEST_F(IdentityIntegrationTest, SignInSetsStrictCookieAndMeWorksWithBearerAndCookie) {
  Reply r = client().call("POST", "/api/v1/sessions",
                          login("mailto:sender@example.test", "sender-demo-password"));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string token = json(r.body)->getValue<std::string>("token");
  EXPECT_EQ(token.size(), 43u);
  EXPECT_NE(r.setCookie.find("erds_session=" + token), std::string::npos) << r.setCookie;
  for (const char* flag : {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"}) {
    EXPECT_NE(r.setCookie.find(flag), std::string::npos) << flag << " missing: " << r.setCookie;
  }
  for (const std::string& auth : {"Bearer " + token, "cookie:" + token}) {
    Reply me = client().call("GET", "/api/v1/me", "", auth);
    ASSERT_EQ(me.status, 200) << me.body;
    auto obj = json(me.body);
    EXPECT_EQ(obj->getValue<std::string>("login_identifier"), "mailto:sender@example.test");
    EXPECT_EQ(obj->getObject("session")->getValue<std::string>("level"), "low");
    EXPECT_GE(obj->getArray("identifications")->size(), 1u);
  }
  EXPECT_GE(auditCount("auth.login", "success"), 1);
}

TEST_F(IdentityIntegrationTest, WrongPasswordAndUnknownUserGetTheSame401) {
  Reply wrong = client().call("POST", "/api/v1/sessions",
                              login("mailto:sender@example.test", "not-the-password"));
  Reply unknown = client().call("POST", "/api/v1/sessions",
                                login("mailto:nobody@example.test", "not-the-password"));
  ASSERT_EQ(wrong.status, 401);
  ASSERT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.contentType, "application/problem+json");
  auto a = json(wrong.body);
  auto b = json(unknown.body);
  for (const char* field : {"type", "title", "detail"}) {
    EXPECT_EQ(a->getValue<std::string>(field), b->getValue<std::string>(field)) << field;
  }
  EXPECT_EQ(a->getValue<std::string>("detail"), "invalid credentials");
  EXPECT_TRUE(wrong.setCookie.empty());
  EXPECT_GE(auditCount("auth.login", "failure"), 2);
}

TEST_F(IdentityIntegrationTest, LogoutEndsTheSession) {
  const std::string token = signIn("mailto:sender@example.test", "sender-demo-password");
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(client().call("GET", "/api/v1/me", "", "Bearer " + token).status, 200);
  Reply out = client().call("DELETE", "/api/v1/sessions/current", "", "Bearer " + token);
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_NE(out.setCookie.find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(client().call("GET", "/api/v1/me", "", "Bearer " + token).status, 401);
  EXPECT_EQ(client().call("GET", "/api/v1/me", "", "cookie:" + token).status, 401);
}

TEST_F(IdentityIntegrationTest, OfficerApprovesRecipientVerificationRequest) {
  const std::string recipient = signIn("mailto:recipient@example.test", "recipient-demo-password");
  ASSERT_FALSE(recipient.empty());
  Reply opened = client().call("POST", "/api/v1/identity/verification-requests",
                               R"({"requested_level":"substantial"})", "Bearer " + recipient);
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string requestId = json(opened.body)->getValue<std::string>("id");

  // Password alone is not enough for an officer with TOTP: the same 401 as a wrong password.
  Reply noTotp = client().call("POST", "/api/v1/sessions",
                               login("mailto:officer@example.test", "officer-demo-password"));
  EXPECT_EQ(noTotp.status, 401);

  // The recipient is no officer.
  Reply notOfficer =
      client().call("GET", "/api/v1/officer/verification-requests", "", "Bearer " + recipient);
  EXPECT_EQ(notOfficer.status, 403);
  EXPECT_EQ(json(notOfficer.body)->getValue<std::string>("type"), "urn:erds:problem:forbidden");

  const std::string officer =
      signIn("mailto:officer@example.test", "officer-demo-password", totpNow(officerSeed_));
  ASSERT_FALSE(officer.empty());
  Reply queue =
      client().call("GET", "/api/v1/officer/verification-requests", "", "Bearer " + officer);
  ASSERT_EQ(queue.status, 200) << queue.body;
  EXPECT_NE(queue.body.find(requestId), std::string::npos);

  Reply approved = client().call(
      "POST", "/api/v1/officer/verification-requests/" + requestId + "/approve",
      R"({"method":"physical_presence","level":"substantial","document":{"type":"passport",)"
      R"("issuing_country":"BE","number":"EH 123456","expires_on":"2031-05-01"}})",
      "Bearer " + officer);
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(json(approved.body)->getValue<std::string>("status"), "approved");

  Reply me = client().call("GET", "/api/v1/me", "", "Bearer " + recipient);
  ASSERT_EQ(me.status, 200);
  auto ids = json(me.body)->getArray("identifications");
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ(ids->getObject(0)->getValue<std::string>("method"), "physical_presence");
  EXPECT_EQ(ids->getObject(0)->getValue<std::string>("level"), "substantial");
  EXPECT_GE(auditCount("identity.verification.approved", "success"), 1);

  // The recipient's export holds the request and the identification; it is audited.
  Reply exported = client().call("GET", "/api/v1/me/export", "", "Bearer " + recipient);
  ASSERT_EQ(exported.status, 200) << exported.body;
  auto e = json(exported.body);
  EXPECT_EQ(e->getValue<std::string>("login_identifier"), "mailto:recipient@example.test");
  EXPECT_EQ(e->getArray("verification_requests")->size(), 1u);
  EXPECT_EQ(e->getArray("identifications")->size(), 1u);
  EXPECT_EQ(exported.body.find("password"), std::string::npos);
  EXPECT_EQ(exported.body.find("EH 123456"), std::string::npos);  // only a keyed hash is stored
  EXPECT_GE(auditCount("identity.personal_data.export", "success"), 1);

  // Another party's data through the admin route: forbidden without the role, and audited.
  Reply denied =
      client().call("GET", "/api/v1/admin/parties/demo-recipient/export", "", "Bearer " + officer);
  EXPECT_EQ(denied.status, 403);
  EXPECT_GE(auditCount("admin.parties.export", "denied"), 1);
}

TEST_F(IdentityIntegrationTest, ClientCertificateSignInOnTheSecondListener) {
  Reply r = certClient("sender-cert").call("POST", "/api/v1/sessions/certificate", "");
  ASSERT_EQ(r.status, 201) << r.body;
  auto obj = json(r.body);
  EXPECT_EQ(obj->getValue<std::string>("party_id"), "demo-sender");
  EXPECT_FALSE(obj->getValue<bool>("qualified"));
  auto auth = obj->getObject("authentication");
  EXPECT_EQ(auth->getValue<std::string>("level"), "substantial");
  EXPECT_EQ(auth->getArray("methods")->getElement<std::string>(0), "client_certificate");
  EXPECT_TRUE(auth->getValue<bool>("strong"));
  EXPECT_NE(r.setCookie.find("HttpOnly"), std::string::npos);
  // The session works on the main listener too.
  const std::string token = obj->getValue<std::string>("token");
  Reply me = client().call("GET", "/api/v1/me", "", "Bearer " + token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json(me.body)->getValue<std::string>("login_identifier"), "mailto:sender@example.test");
  EXPECT_GE(auditCount("auth.login.certificate", "success"), 1);
}

TEST_F(IdentityIntegrationTest, QualifiedCertificateGivesLevelHighAndAnIdentification) {
  Reply r = certClient("qualified-cert").call("POST", "/api/v1/sessions/certificate", "");
  ASSERT_EQ(r.status, 201) << r.body;
  auto obj = json(r.body);
  EXPECT_TRUE(obj->getValue<bool>("qualified"));
  EXPECT_EQ(obj->getObject("authentication")->getValue<std::string>("level"), "high");
  EXPECT_EQ(obj->getObject("authentication")->getArray("methods")->getElement<std::string>(0),
            "qualified_certificate");
  Reply me =
      client().call("GET", "/api/v1/me", "", "Bearer " + obj->getValue<std::string>("token"));
  ASSERT_EQ(me.status, 200);
  EXPECT_NE(me.body.find("\"method\":\"qualified_certificate\",\"level\":\"high\""),
            std::string::npos)
      << me.body;
}

TEST_F(IdentityIntegrationTest, BadClientCertificatesAreHttpRefusalsNotTlsAlerts) {
  struct Case {
    std::string cert;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"revoked-cert", 403, "revoked"},
      {"untrusted-cert", 401, "untrusted"},
      {"unbound-cert", 401, "not bound"},
      {"", 401, "no client certificate"},
  };
  const int64_t deniedBefore = auditCount("auth.login.certificate", "denied");
  const int64_t failedBefore = auditCount("auth.login.certificate", "failure");
  for (const auto& c : cases) {
    Reply r = certClient(c.cert).call("POST", "/api/v1/sessions/certificate", "");
    EXPECT_EQ(r.status, c.status) << c.cert << ": " << r.body;
    EXPECT_EQ(r.contentType, "application/problem+json") << c.cert;
    EXPECT_NE(r.body.find(c.detail), std::string::npos) << c.cert << ": " << r.body;
    EXPECT_TRUE(r.setCookie.empty()) << c.cert;
  }
  EXPECT_EQ(auditCount("auth.login.certificate", "denied"), deniedBefore + 1);
  EXPECT_EQ(auditCount("auth.login.certificate", "failure"), failedBefore + 3);
  // The main listener never asks for a certificate.
  Reply plain = client().call("POST", "/api/v1/sessions/certificate", "");
  EXPECT_EQ(plain.status, 401);
}

#ifdef ERDSCTL_PATH
TEST_F(IdentityIntegrationTest, AccountFromErdsctlSignsInAndAdminExports) {
  // erdsctl connects with the same configuration (the daemon role) as erdsd.
  auto made = runToCompletion({ERDSCTL_PATH, "user", "add", "--config", config_, "--identifier",
                               "mailto:admin@example.test", "--role", "admin"});
  ASSERT_EQ(made.exitCode, 0) << made.out << (made.err.empty() ? "" : made.err.front());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(made.out, m, std::regex("one-time password: ([a-zA-Z0-9]+)")))
      << made.out;
  const std::string password = m[1];
  const std::string admin = signIn("mailto:admin@example.test", password);
  ASSERT_FALSE(admin.empty());
  Reply exported =
      client().call("GET", "/api/v1/admin/parties/demo-sender/export", "", "Bearer " + admin);
  ASSERT_EQ(exported.status, 200) << exported.body;
  EXPECT_EQ(json(exported.body)->getValue<std::string>("login_identifier"),
            "mailto:sender@example.test");
  EXPECT_GE(auditCount("admin.parties.export", "success"), 1);
  Reply missing =
      client().call("GET", "/api/v1/admin/parties/p_nobody/export", "", "Bearer " + admin);
  EXPECT_EQ(missing.status, 404);
}
#endif

}  // namespace
}  // namespace erds::itest
