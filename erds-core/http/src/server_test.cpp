// End-to-end over real TLS on 127.0.0.1, port 0, with a throwaway CA.
#include "erds/http/server.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <fstream>
#include <optional>
#include <sstream>

#include "erds/base/log.h"

#include "test_pki.h"

namespace erds::http {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/erds-http-test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::string readFile(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr int kStreamPieces = 40;
constexpr std::size_t kStreamPiece = 64 * 1024;

struct Reply {
  int status = 0;
  std::string contentType;
  std::string body;
  Poco::Net::HTTPResponse response;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("test", log::Level::Warn);
    auto pki = testing::writeTestPki(dir.path);
    ASSERT_TRUE(pki) << pki.error().toString();
    files = *pki;
    router = std::make_shared<Router>();
    RouteSpec hello;
    hello.method = "GET";
    hello.path = "/hello/{name}";
    hello.operationId = "hello";
    ASSERT_TRUE(router->add(hello, [](const Request& r) -> Result<Response> {
      return Response::text(200, "hello " + r.param("name"));
    }));
    RouteSpec upload;
    upload.method = "POST";
    upload.path = "/upload";
    upload.operationId = "upload";
    upload.requestMediaType = "application/octet-stream";
    ASSERT_TRUE(router->add(upload, [](const Request& r) -> Result<Response> {
      return Response::text(200, std::to_string(r.body.size()));
    }));
    RouteSpec stream;
    stream.method = "GET";
    stream.path = "/stream";
    stream.operationId = "stream";
    ASSERT_TRUE(router->add(stream, [](const Request& r) -> Result<Response> {
      Response resp;
      resp.contentType = "application/octet-stream";
      const bool fail = r.queryParam("fail").has_value();
      if (r.queryParam("length")) resp.contentLength = kStreamPieces * kStreamPiece;
      resp.producer = [fail](BodyWriter& w) -> Result<void> {
        for (int i = 0; i < kStreamPieces; ++i) {
          if (fail && i == kStreamPieces / 2) return Error::integrityFailure("piece altered");
          ERDS_RETURN_IF_ERROR(w.write(std::string(kStreamPiece, static_cast<char>('a' + i % 26))));
        }
        return ok();
      };
      return resp;
    }));
    RouteSpec sink;
    sink.method = "POST";
    sink.path = "/sink";
    sink.operationId = "sink";
    sink.requestMediaType = "application/octet-stream";
    sink.requestMediaTypes = {{"text/plain", ""}};
    sink.streamRequestBody = true;
    sink.maxBodyBytes = 1 << 20;
    ASSERT_TRUE(router->add(sink, [](const Request& r) -> Result<Response> {
      if (r.bodyReader == nullptr) return Response::text(200, "0");
      auto all = r.bodyReader->readAll();
      if (!all) return std::move(all).error();
      return Response::text(200, r.mediaType + " " + std::to_string(all->size()));
    }));
    ServerOptions o;
    o.port = 0;
    o.certificateFile = files.tlsCert;
    o.privateKeyPem = Secret(readFile(files.tlsKey));
    o.privateKeySource = files.tlsKey;
    o.threads = 4;
    o.limits.maxBodyBytes = 1024;
    o.limits.maxHeaders = 20;
    auto s = Server::create(std::move(o), router, registry);
    ASSERT_TRUE(s) << s.error().toString();
    server = std::move(*s);
    server->start();
    ASSERT_NE(server->port(), 0);
  }
  void TearDown() override {
    if (server) server->stop();
  }

  Poco::Net::Context::Ptr clientContext() {
    return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", files.rootCa,
                                  Poco::Net::Context::VERIFY_STRICT, 9, false, "ALL");
  }

  Reply request(const std::string& method, const std::string& target, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Poco::Net::HTTPSClientSession session("localhost", server->port(), clientContext());
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers)
      req.add(k, v);
    if (!body.empty() || method == "POST")
      req.setContentLength(static_cast<std::streamsize>(body.size()));
    session.sendRequest(req) << body;
    Reply r;
    std::istream& in = session.receiveResponse(r.response);
    std::ostringstream out;
    Poco::StreamCopier::copyStream(in, out);
    r.status = r.response.getStatus();
    r.contentType = r.response.getContentType();
    r.body = out.str();
    return r;
  }

  TempDir dir;
  testing::TestPkiFiles files;
  std::shared_ptr<Router> router;
  metrics::Registry registry;
  std::unique_ptr<Server> server;
};

TEST_F(ServerTest, StreamsResponsesChunkedAndWithLength) {
  const std::size_t full = static_cast<std::size_t>(kStreamPieces) * kStreamPiece;
  auto r = request("GET", "/stream");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.response.getChunkedTransferEncoding());
  ASSERT_EQ(r.body.size(), full);
  EXPECT_EQ(r.body[0], 'a');
  EXPECT_EQ(r.body[full - 1], static_cast<char>('a' + (kStreamPieces - 1) % 26));
  r = request("GET", "/stream?length=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.response.getContentLength64(), static_cast<Poco::Int64>(full));
  EXPECT_EQ(r.body.size(), full);
}

TEST_F(ServerTest, ProducerErrorAbortsTheConnection) {
  const std::size_t full = static_cast<std::size_t>(kStreamPieces) * kStreamPiece;
  for (const char* target : {"/stream?fail=1", "/stream?fail=1&length=1"}) {
    Poco::Net::HTTPSClientSession session("localhost", server->port(), clientContext());
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req("GET", target, Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    EXPECT_EQ(resp.getStatus(), 200);  // the head went out before the failure
    std::ostringstream out;
    bool threw = false;
    try {
      Poco::StreamCopier::copyStream(in, out);
    } catch (const Poco::Exception&) {
      threw = true;
    }
    // Never a complete-looking body: either the read failed or it is short.
    EXPECT_TRUE(threw || out.str().size() < full) << target;
    EXPECT_LT(out.str().size(), full) << target;
  }
  // The server is fine afterwards.
  EXPECT_EQ(request("GET", "/hello/x").status, 200);
}

TEST_F(ServerTest, StreamingUploadsAndLimits) {
  auto r = request("POST", "/sink", std::string(1000, 'x'), {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "text/plain 1000");
  // Announced over the limit (http.max_body_bytes = 1024 here): 413 without reading.
  r = request("POST", "/sink", std::string(4096, 'x'), {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(r.status, 413);
  // (Chunked bodies cut off at the limit: dispatcher_test.cpp.)
}

TEST_F(ServerTest, ServesOverVerifiedTls) {
  auto r = request("GET", "/hello/world");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.response.get("X-Content-Type-Options"), "nosniff");
  EXPECT_TRUE(r.response.has("Strict-Transport-Security"));
  EXPECT_TRUE(r.response.has("X-Request-Id"));
  EXPECT_FALSE(r.response.has("Server"));
}

TEST_F(ServerTest, UnknownPathIsProblem404) {
  auto r = request("GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.contentType, "application/problem+json");
  EXPECT_NE(r.body.find("\"request_id\""), std::string::npos);
}

TEST_F(ServerTest, BodyLimitOverTheWire) {
  auto ok = request("POST", "/upload", std::string(1000, 'a'),
                    {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "1000");
  auto big = request("POST", "/upload", std::string(5000, 'a'),
                     {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.contentType, "application/problem+json");
}

TEST_F(ServerTest, TooManyHeadersIs431) {
  std::vector<std::pair<std::string, std::string>> h;
  for (int i = 0; i < 30; ++i)
    h.emplace_back("X-Extra-" + std::to_string(i), "v");
  EXPECT_EQ(request("GET", "/hello/x", "", h).status, 431);
  // Over Poco's own hard cap of 100 fields: still 431 problem+json, not a bare 400.
  h.clear();
  for (int i = 0; i < 120; ++i)
    h.emplace_back("X-Extra-" + std::to_string(i), "v");
  auto r = request("GET", "/hello/x", "", h);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.contentType, "application/problem+json");
}

// Handshake with raw OpenSSL so that the client really offers the old protocol (Debian's default
// configuration would otherwise refuse TLS < 1.2 on the client side already).
int handshake(uint16_t port, int minVersion, int maxVersion, std::string* cipher = nullptr) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx, minVersion);
  SSL_CTX_set_max_proto_version(ctx, maxVersion);
  std::string addr = "127.0.0.1:" + std::to_string(port);
  BIO* bio = BIO_new_ssl_connect(ctx);
  BIO_set_conn_hostname(bio, addr.c_str());
  int rc = BIO_do_handshake(bio);
  int version = 0;
  if (rc == 1) {
    SSL* ssl = nullptr;
    BIO_get_ssl(bio, &ssl);
    version = SSL_version(ssl);
    if (cipher) *cipher = SSL_get_cipher_name(ssl);
  }
  BIO_free_all(bio);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return version;
}

TEST_F(ServerTest, OnlyTls12And13) {
  EXPECT_EQ(handshake(server->port(), TLS1_VERSION, TLS1_1_VERSION), 0)
      << "TLS <= 1.1 must be refused";
  EXPECT_EQ(handshake(server->port(), TLS1_VERSION, TLS1_VERSION), 0);
  std::string cipher;
  EXPECT_EQ(handshake(server->port(), TLS1_2_VERSION, TLS1_2_VERSION, &cipher), TLS1_2_VERSION);
  EXPECT_NE(cipher.find("ECDHE"), std::string::npos) << cipher;
  EXPECT_TRUE(cipher.find("GCM") != std::string::npos ||
              cipher.find("CHACHA20") != std::string::npos)
      << cipher;
  EXPECT_EQ(handshake(server->port(), TLS1_3_VERSION, TLS1_3_VERSION), TLS1_3_VERSION);
}

TEST_F(ServerTest, StopIsGracefulAndIdempotent) {
  EXPECT_EQ(request("GET", "/hello/a").status, 200);
  server->stop();
  server->stop();
  EXPECT_THROW(request("GET", "/hello/a"), Poco::Exception);
}

TEST(ServerCreate, BadKeyAndCertificateNameTheKey) {
  log::init("test", log::Level::Error);
  TempDir dir;
  auto pki = testing::writeTestPki(dir.path);
  ASSERT_TRUE(pki);
  metrics::Registry registry;
  auto router = std::make_shared<Router>();
  {
    ServerOptions o;
    o.port = 0;
    o.certificateFile = dir.path + "/missing.pem";
    o.privateKeyPem = Secret(readFile(pki->tlsKey));
    auto s = Server::create(std::move(o), router, registry);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(s.error().message.find("http.tls_certificate"), std::string::npos);
    EXPECT_NE(s.error().message.find("missing.pem"), std::string::npos);
  }
  {
    ServerOptions o;
    o.port = 0;
    o.certificateFile = pki->tlsCert;
    o.privateKeyPem = Secret("not a key");
    o.privateKeySource = "/etc/key.pem";
    auto s = Server::create(std::move(o), router, registry);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("http.tls_key (/etc/key.pem)"), std::string::npos)
        << s.error().message;
  }
  {
    // A key that does not belong to the certificate.
    TempDir other;
    auto pki2 = testing::writeTestPki(other.path);
    ASSERT_TRUE(pki2);
    ServerOptions o;
    o.port = 0;
    o.certificateFile = pki->tlsCert;
    o.privateKeyPem = Secret(readFile(pki2->tlsKey));
    auto s = Server::create(std::move(o), router, registry);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("http.tls_key"), std::string::npos) << s.error().message;
  }
}

TEST(ServerOptions, FromConfig) {
  TempDir dir;
  auto pki = testing::writeTestPki(dir.path);
  ASSERT_TRUE(pki);
  std::string ini = dir.path + "/erds.ini";
  std::ofstream(ini) << "[http]\nport = 0\ntls_certificate = " << pki->tlsCert
                     << "\ntls_key = " << pki->tlsKey
                     << "\nmax_body_bytes = 1MiB\nmax_header_bytes = 8KiB\nmax_headers = "
                        "50\nrequest_timeout = 5s\n"
                     << "threads = 3\n";
  auto cfg = Config::load(ini, {});
  ASSERT_TRUE(cfg) << cfg.error().toString();
  auto o = ServerOptions::fromConfig(*cfg);
  ASSERT_TRUE(o) << o.error().toString();
  EXPECT_EQ(o->port, 0);
  EXPECT_EQ(o->limits.maxBodyBytes, 1024 * 1024);
  EXPECT_EQ(o->limits.maxHeaderBytes, 8 * 1024);
  EXPECT_EQ(o->limits.maxHeaders, 50);
  EXPECT_EQ(o->limits.requestTimeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(o->threads, 3);
  EXPECT_FALSE(o->privateKeyPem.empty());
  // A key file readable by others is refused by Config::readSecret.
  std::filesystem::permissions(pki->tlsKey, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto bad = ServerOptions::fromConfig(*cfg);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("http.tls_key"), std::string::npos) << bad.error().message;
}

// ---- slow clients and per-IP rate limit over real sockets ----

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A raw TLS client: sends exactly what a test gives it, as slowly as the test wants.
class RawTlsClient {
 public:
  explicit RawTlsClient(uint16_t port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~RawTlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& data) {
    if (data.empty()) return true;
    int n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    ERR_clear_error();
    return n == static_cast<int>(data.size());
  }
  // Waits up to `wait` for the server to answer or close; true once it has closed. Any reply bytes
  // are appended to `got`.
  bool closedWithin(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (SSL_pending(ssl_) == 0 && ::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char buf[4096];
    for (;;) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) {
        ERR_clear_error();
        return true;
      }
      got.append(buf, static_cast<std::size_t>(n));
      p.revents = 0;
      if (SSL_pending(ssl_) == 0 && ::poll(&p, 1, 100) <= 0) return false;
    }
  }
  std::string got;

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

class SlowClientTest : public ::testing::Test {
 protected:
  static constexpr std::chrono::milliseconds kHeaderTimeout{800};
  static constexpr std::chrono::milliseconds kRequestTimeout{1500};

  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    log::init("test", log::Level::Error);
    auto pki = testing::writeTestPki(dir.path);
    ASSERT_TRUE(pki) << pki.error().toString();
    auto router = std::make_shared<Router>();
    RouteSpec hello;
    hello.method = "GET";
    hello.path = "/hello";
    hello.operationId = "hello";
    ASSERT_TRUE(router->add(hello, [](const Request&) -> Result<Response> { return Response::text(200, "hi"); }));
    RouteSpec upload;
    upload.method = "POST";
    upload.path = "/upload";
    upload.operationId = "upload";
    upload.requestMediaType = "application/octet-stream";
    ASSERT_TRUE(router->add(upload, [](const Request& r) -> Result<Response> {
      return Response::text(200, std::to_string(r.body.size()));
    }));
    ServerOptions o;
    o.port = 0;
    o.certificateFile = pki->tlsCert;
    o.privateKeyPem = Secret(readFile(pki->tlsKey));
    o.threads = 4;
    o.limits.headerTimeout = kHeaderTimeout;
    o.limits.requestTimeout = kRequestTimeout;
    o.limits.ratePerIpPerSecond = 0.5;  // slow refill: a loaded machine cannot earn a token mid-test
    o.limits.rateBurst = 3;
    o.limits.rateExemptIps = {};  // the test client is 127.0.0.1
    auto s = Server::create(std::move(o), router, registry);
    ASSERT_TRUE(s) << s.error().toString();
    server = std::move(*s);
    server->start();
  }
  void TearDown() override {
    if (server) server->stop();
  }

  // Sends `request` one byte per `gap` until the server closes; returns how long that took after
  // the first byte (or nullopt if it never closed within `limit`).
  std::optional<std::chrono::milliseconds> trickle(RawTlsClient& c, const std::string& request,
                                                   std::chrono::milliseconds gap,
                                                   std::chrono::milliseconds limit) {
    const auto start = SteadyClock::now();
    std::size_t sent = 0;
    while (SteadyClock::now() - start < limit) {
      if (sent < request.size() && !c.send(request.substr(sent++, 1)))
        return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
      if (c.closedWithin(gap))
        return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
    }
    return std::nullopt;
  }

  TempDir dir;
  metrics::Registry registry;
  std::unique_ptr<Server> server;
};

// Slowloris: one header byte every 100 ms (each read well inside any per-read timeout). The
// connection must be cut at http.header_timeout after the first byte, with a 408.
TEST_F(SlowClientTest, SlowlorisHeadersAreCutAtTheHeaderTimeoutWith408) {
  RawTlsClient c(server->port());
  ASSERT_TRUE(c.connected());
  const std::string request = "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + std::string(500, 's') + "\r\n\r\n";
  auto took = trickle(c, request, 100ms, 10s);
  ASSERT_TRUE(took) << "a slowloris client was never cut";
  for (int i = 0; i < 10 && !c.closedWithin(200ms); ++i) {
  }
  EXPECT_GE(*took, kHeaderTimeout - 300ms);  // not before the deadline (handshake counts too)
  EXPECT_LT(*took, kHeaderTimeout + 700ms) << "cut long after http.header_timeout";
  EXPECT_EQ(c.got.rfind("HTTP/1.1 408", 0), 0u) << c.got.substr(0, 200);
  // The body may be lost: the client keeps sending after the cut, so closing the socket with its
  // unread bytes resets the connection. The head is enough to tell the client what happened.
  EXPECT_NE(c.got.find("\r\nContent-Type: application/problem+json\r\n"), std::string::npos) << c.got;
}

// A client that connects and sends nothing at all is cut at the header timeout too.
TEST_F(SlowClientTest, SilentClientIsCutAtTheHeaderTimeout) {
  RawTlsClient c(server->port());
  ASSERT_TRUE(c.connected());
  const auto start = SteadyClock::now();
  bool closed = false;
  while (!closed && SteadyClock::now() - start < 10s) closed = c.closedWithin(100ms);
  auto took = SteadyClock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_LT(took, kHeaderTimeout + 700ms);
}

// A complete head, then the body at one byte per 100 ms: cut at http.request_timeout after the
// first byte of the request, with a 408 (nothing was answered yet).
TEST_F(SlowClientTest, SlowBodyIsCutAtTheRequestTimeoutWith408) {
  RawTlsClient c(server->port());
  ASSERT_TRUE(c.connected());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 1000\r\n\r\n"));
  auto took = trickle(c, std::string(1000, 'b'), 100ms, 10s);
  auto total = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  ASSERT_TRUE(took) << "a slow body was never cut";
  EXPECT_GE(total, kRequestTimeout - 300ms);
  EXPECT_LT(total, kRequestTimeout + 700ms) << "cut long after http.request_timeout";
  EXPECT_EQ(c.got.rfind("HTTP/1.1 408", 0), 0u) << c.got.substr(0, 200);
}

// Control: a client that is slow between keep-alive requests but sends each request at once is
// not cut (the deadline runs per request, from its first byte).
TEST_F(SlowClientTest, PromptRequestsOnAKeepAliveConnectionAreServed) {
  RawTlsClient c(server->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(kHeaderTimeout / 2);
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    c.closedWithin(2s);
    EXPECT_EQ(c.got.rfind("HTTP/1.1 200", 0), 0u) << i << ": " << c.got;
    c.got.clear();
  }
}

// Per client IP over the wire: the burst is served, then 429 + Retry-After + problem+json, then
// success after the announced wait.
TEST_F(SlowClientTest, PerIpRateLimitOverTheWire) {
  auto once = [&] {
    RawTlsClient c(server->port());
    EXPECT_TRUE(c.connected());
    c.send("GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    const auto start = SteadyClock::now();
    while (!c.closedWithin(200ms) && SteadyClock::now() - start < 5s) {
    }
    return c.got;
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(once().rfind("HTTP/1.1 200", 0), 0u) << i;
  std::string limited = once();
  ASSERT_EQ(limited.rfind("HTTP/1.1 429", 0), 0u) << limited;
  EXPECT_NE(limited.find("\r\nRetry-After: 2\r\n"), std::string::npos) << limited;
  EXPECT_NE(limited.find("application/problem+json"), std::string::npos) << limited;
  EXPECT_NE(limited.find("urn:erds:problem:too-many-requests"), std::string::npos) << limited;
  std::this_thread::sleep_for(2s);  // the announced Retry-After
  EXPECT_EQ(once().rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace erds::http
