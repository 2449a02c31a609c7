// Integration: the real erdsd binary against a private durable PostgreSQL, over real TLS that
// trusts the development root CA made by `erdsctl pki init`.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/SSLManager.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>
#include <thread>

#include "harness.h"
#include "https_client.h"
#include "test_pki.h"

namespace erds::itest {
namespace {

using namespace std::chrono_literals;

// Creates root-ca.pem, tls.pem, tls.key in `dir` with the real erdsctl when it is built, else
// with the OpenSSL test helper (subjects marked DEVELOPMENT either way).
void makePki(const std::string& dir) {
#ifdef ERDSCTL_PATH
  auto r = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", dir});
  ASSERT_EQ(r.exitCode, 0) << "erdsctl pki init failed: " << r.out
                           << (r.err.empty() ? "" : r.err.front());
#else
  std::filesystem::create_directories(dir);
  auto r = erds::testing::writeTestPki(dir, "DEVELOPMENT");
  ASSERT_TRUE(r) << r.error().toString();
#endif
  ASSERT_TRUE(std::filesystem::exists(dir + "/root-ca.pem"));
  ASSERT_TRUE(std::filesystem::exists(dir + "/tls.pem"));
  ASSERT_TRUE(std::filesystem::exists(dir + "/tls.key"));
}

class Client {
 public:
  Client(const std::string& caFile, uint16_t port) : port_(port), ctx_(clientContext(caFile)) {}
  HttpReply get(const std::string& target) { return send("GET", target, std::nullopt, ""); }
  // Announces `contentLength` but sends no body (the server must answer before reading it).
  HttpReply announceBody(const std::string& method, const std::string& target,
                         int64_t contentLength) {
    return send(method, target, contentLength, "application/json");
  }

 private:
  HttpReply send(const std::string& method, const std::string& target,
                 std::optional<int64_t> contentLength, const std::string& contentType) {
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("X-Request-Id", "itest-1");
    if (contentLength) {
      req.setContentLength64(*contentLength);
      req.setContentType(contentType);
    }
    return httpsExchange(ctx_, port_, req, nullptr, std::chrono::seconds(15));
  }
  uint16_t port_;
  Poco::Net::Context::Ptr ctx_;
};

Poco::JSON::Object::Ptr parseJson(const std::string& s) {
  Poco::JSON::Parser p;
  return p.parse(s).extract<Poco::JSON::Object::Ptr>();
}

int handshake(uint16_t port, int minVersion, int maxVersion) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx, minVersion);
  SSL_CTX_set_max_proto_version(ctx, maxVersion);
  std::string addr = "127.0.0.1:" + std::to_string(port);
  BIO* bio = BIO_new_ssl_connect(ctx);
  BIO_set_conn_hostname(bio, addr.c_str());
  int version = 0;
  if (BIO_do_handshake(bio) == 1) {
    SSL* ssl = nullptr;
    BIO_get_ssl(bio, &ssl);
    version = SSL_version(ssl);
  }
  BIO_free_all(bio);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return version;
}

// Shared by every test of the suite: one durable cluster, migrated, one PKI, one erdsd.
class ErdsdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Poco::Net::initializeSSL();
    dir_ = new TempDir("erds-itest");
    auto db = startMigratedDatabase(/*durable=*/true, "erds_itest");
    ASSERT_TRUE(db) << db.error().toString();
    pg_ = db->pg.release();
    db->owner.reset();
    makePki(dir_->path + "/pki");
    auto [conninfo, password] = splitPassword(db->roles.appConninfo);
    ASSERT_FALSE(password.empty()) << "expected a password in the app conninfo";
    writeFile(dir_->path + "/db.password", password + "\n", 0600);
    config_ = dir_->path + "/erds.ini";
    writeFile(config_,
              "[service]\nmode = development\n"
              "[log]\nlevel = info\n"
              "[http]\naddress = 127.0.0.1\nport = 0\n"
              "tls_certificate = " +
                  dir_->path +
                  "/pki/tls.pem\n"
                  "tls_key = " +
                  dir_->path +
                  "/pki/tls.key\n"
                  "max_body_bytes = 1MiB\n"
                  "[database]\nconninfo = " +
                  conninfo +
                  "\n"
                  "password_file = " +
                  dir_->path +
                  "/db.password\n"
                  "acquire_timeout = 1s\n");
    auto port = startDaemon(erdsd_, {ERDSD_PATH, "--config", config_}, 30s);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }

  static void TearDownTestSuite() {
    EXPECT_EQ(stopSuite(erdsd_, pg_, dir_), 0) << "erdsd must stop gracefully on SIGTERM";
  }

  void SetUp() override {
    ASSERT_NE(erdsd_, nullptr);
    ASSERT_NE(port_, 0) << "suite set-up failed";
  }

  Client client() { return Client(dir_->path + "/pki/root-ca.pem", port_); }

  // Polls /readyz until `status` or the timeout; returns the last reply.
  HttpReply pollReady(int status, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    HttpReply r;
    while (true) {
      r = client().get("/readyz");
      if (r.status == status || std::chrono::steady_clock::now() > deadline) return r;
      std::this_thread::sleep_for(200ms);
    }
  }

  static inline TempDir* dir_ = nullptr;
  static inline erds::testing::PrivatePostgres* pg_ = nullptr;
  static inline ChildProcess* erdsd_ = nullptr;
  static inline std::string config_;
  static inline uint16_t port_ = 0;
};

TEST_F(ErdsdTest, HealthzOverVerifiedTls) {
  auto r = client().get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(parseJson(r.body)->getValue<std::string>("status"), "alive");
  EXPECT_EQ(r.head.get("X-Request-Id", ""), "itest-1");
  EXPECT_EQ(r.head.get("X-Content-Type-Options", ""), "nosniff");
  EXPECT_NE(r.head.get("Strict-Transport-Security", ""), "");
  EXPECT_EQ(r.head.get("Content-Security-Policy", ""),
            "default-src 'none'; frame-ancestors 'none'");
}

TEST_F(ErdsdTest, ReadyzWithMigratedDatabase) {
  auto r = pollReady(200, 10s);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(ErdsdTest, MetricsExposeRequestsAndPool) {
  client().get("/healthz");
  auto r = client().get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.contentType.rfind("text/plain; version=0.0.4", 0), 0u) << r.contentType;
  EXPECT_NE(r.body.find("erds_http_requests_total"), std::string::npos);
  EXPECT_NE(r.body.find("erds_db_pool"), std::string::npos);
  EXPECT_NE(r.body.find("erds_job_queue_depth"), std::string::npos);
}

TEST_F(ErdsdTest, OpenApiDocumentMatchesTheRouteList) {
  auto r = client().get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  Poco::JSON::Object::Ptr doc;
  ASSERT_NO_THROW(doc = parseJson(r.body)) << "not valid JSON";
  EXPECT_EQ(doc->getValue<std::string>("openapi"), "3.1.0");
  std::vector<std::string> fromDoc;
  for (const auto& [path, item] : *doc->getObject("paths")) {
    for (const auto& [method, op] : *item.extract<Poco::JSON::Object::Ptr>()) {
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      fromDoc.push_back(m + " " + path);
    }
  }
  auto printed = runToCompletion({ERDSD_PATH, "--print-routes", "--config", config_});
  ASSERT_EQ(printed.exitCode, 0) << joined(printed.err);
  std::vector<std::string> fromServer;
  std::istringstream lines(printed.out);
  for (std::string l; std::getline(lines, l);) {
    if (!l.empty()) fromServer.push_back(l);
  }
  std::sort(fromDoc.begin(), fromDoc.end());
  std::sort(fromServer.begin(), fromServer.end());
  EXPECT_EQ(fromDoc, fromServer);
  for (const char* must :
       {"GET /healthz", "GET /readyz", "GET /metrics", "GET /api/v1/openapi.json"}) {
    EXPECT_NE(std::find(fromServer.begin(), fromServer.end(), must), fromServer.end()) << must;
  }
}

TEST_F(ErdsdTest, UnknownPathIsProblem404) {
  auto r = client().get("/api/v1/does-not-exist");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.contentType, "application/problem+json");
  auto p = parseJson(r.body);
  EXPECT_EQ(p->getValue<int>("status"), 404);
  EXPECT_EQ(p->getValue<std::string>("request_id"), "itest-1");
}

TEST_F(ErdsdTest, OversizedBodyIs413BeforeReading) {
  auto r = client().announceBody("POST", "/api/v1/openapi.json", 2 * 1024 * 1024);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.contentType, "application/problem+json");
}

TEST_F(ErdsdTest, Tls11ClientRefused) {
  EXPECT_EQ(handshake(port_, TLS1_1_VERSION, TLS1_1_VERSION), 0);
  EXPECT_EQ(handshake(port_, TLS1_VERSION, TLS1_VERSION), 0);
  // Positive control: the same client code succeeds with TLS 1.2 and 1.3.
  EXPECT_EQ(handshake(port_, TLS1_2_VERSION, TLS1_2_VERSION), TLS1_2_VERSION);
  EXPECT_EQ(handshake(port_, TLS1_3_VERSION, TLS1_3_VERSION), TLS1_3_VERSION);
}

TEST_F(ErdsdTest, ReadyzFollowsPostgres) {
  ASSERT_EQ(pollReady(200, 10s).status, 200);
  ASSERT_TRUE(pg_->stop());
  auto down = pollReady(503, 10s);
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.contentType, "application/problem+json");
  EXPECT_NE(parseJson(down.body)->getValue<std::string>("detail").find("database"),
            std::string::npos)
      << down.body;
  auto single = std::chrono::steady_clock::now();
  client().get("/readyz");
  EXPECT_LT(std::chrono::steady_clock::now() - single, 3s) << "/readyz must not block";
  // healthz stays alive while the database is down.
  EXPECT_EQ(client().get("/healthz").status, 200);
  ASSERT_TRUE(pg_->restart());
  auto up = pollReady(200, 10s);
  EXPECT_EQ(up.status, 200) << up.body;
}

// Startup refusals: exit code 2 and one line on stderr naming the key (no database needed).
class ErdsdConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { makePki(dir.path + "/pki"); }
  std::string config(const std::string& extra, const std::string& mode = "development") {
    std::string path = dir.path + "/erds.ini";
    writeFile(path, "[service]\nmode = " + mode + "\n" +
                        "[http]\nport = 0\ntls_certificate = " + dir.path +
                        "/pki/tls.pem\ntls_key = " + dir.path + "/pki/tls.key\n" + extra);
    return path;
  }
  void expectExit2(const std::string& path, const std::string& mustMention,
                   const std::map<std::string, std::string>& env = {}) {
    auto r = runToCompletion({ERDSD_PATH, "--config", path}, env);
    EXPECT_EQ(r.exitCode, 2) << mustMention;
    std::vector<std::string> nonEmpty;
    for (const auto& l : r.err) {
      if (!l.empty()) nonEmpty.push_back(l);
    }
    ASSERT_EQ(nonEmpty.size(), 1u) << "expected exactly one line on stderr";
    EXPECT_NE(nonEmpty[0].find(mustMention), std::string::npos) << nonEmpty[0];
  }
  TempDir dir;
};

TEST_F(ErdsdConfigTest, UnknownKey) {
  std::string path = config("bogus_key = 1\n");
  expectExit2(path, "bogus_key");
  auto r = runToCompletion({ERDSD_PATH, "--config", path});
  ASSERT_FALSE(r.err.empty());
  EXPECT_NE(r.err[0].find(path), std::string::npos) << "the line names the file: " << r.err[0];
}

TEST_F(ErdsdConfigTest, BadPortValue) {
  std::string path = dir.path + "/bad-port.ini";
  writeFile(path, "[http]\nport = 70000\ntls_certificate = " + dir.path +
                      "/pki/tls.pem\ntls_key = " + dir.path + "/pki/tls.key\n");
  expectExit2(path, "http.port");
  expectExit2(config(""), "http.port", {{"ERDS_HTTP_PORT", "not-a-port"}});
}

TEST_F(ErdsdConfigTest, SecretThroughEnvironmentRefused) {
  expectExit2(config(""), "database.password", {{"ERDS_DATABASE_PASSWORD", "x"}});
}

TEST_F(ErdsdConfigTest, UnreadableKey) {
  std::string path = dir.path + "/erds.ini";
  writeFile(path, "[http]\nport = 0\ntls_certificate = " + dir.path +
                      "/pki/tls.pem\ntls_key = " + dir.path + "/pki/missing.key\n");
  expectExit2(path, "http.tls_key");
  ::chmod((dir.path + "/pki/tls.key").c_str(), 0644);
  expectExit2(config(""), "http.tls_key");
}

TEST_F(ErdsdConfigTest, QualifiedModeRefusesDevelopmentPki) {
  writeFile(dir.path + "/kek", std::string(64, 'a') + "\n", 0600);
  std::string kek = "[secrets]\nkek_file = " + dir.path + "/kek\n";
  expectExit2(config(kek, "qualified"), "DEVELOPMENT");
  // Control: the same configuration with a certificate chain that is not marked DEVELOPMENT passes.
  std::filesystem::create_directories(dir.path + "/prod");
  auto prod = erds::testing::writeTestPki(dir.path + "/prod", "PRODUCTION-LIKE");
  ASSERT_TRUE(prod) << prod.error().toString();
  std::string path = dir.path + "/qualified.ini";
  // Qualified mode also needs qualified time stamps: an external TSA under a configured anchor
  // (--check-config does not contact it).
  writeFile(path, "[service]\nmode = qualified\n[http]\nport = 0\ntls_certificate = " +
                      prod->tlsCert + "\ntls_key = " + prod->tlsKey + "\n" + kek +
                      "[tsa]\nsource = external\nurls = https://tsa.invalid/tsr\ntrust_anchors = " +
                      prod->rootCa + "\n");
  auto r = runToCompletion({ERDSD_PATH, "--check-config", "--config", path});
  EXPECT_EQ(r.exitCode, 0) << joined(r.err);
}

TEST_F(ErdsdConfigTest, QualifiedModeRefusesDemoAccounts) {
  std::string path = dir.path + "/erds.ini";
  writeFile(
      path,
      "[service]\nmode = qualified\ndemo_accounts = true\n[http]\nport = 0\ntls_certificate = " +
          dir.path + "/pki/tls.pem\ntls_key = " + dir.path + "/pki/tls.key\n");
  expectExit2(path, "service.demo_accounts");
}

TEST_F(ErdsdConfigTest, CheckConfigAcceptsAGoodFile) {
  auto r = runToCompletion({ERDSD_PATH, "--check-config", "--config", config("")});
  EXPECT_EQ(r.exitCode, 0) << joined(r.err);
}

TEST_F(ErdsdConfigTest, UsageErrors) {
  EXPECT_EQ(runToCompletion({ERDSD_PATH, "--bogus"}).exitCode, 2);
  EXPECT_EQ(runToCompletion({ERDSD_PATH}).exitCode, 2);
  auto help = runToCompletion({ERDSD_PATH, "--help"});
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.out.find("--config"), std::string::npos);
}

}  // namespace
}  // namespace erds::itest
