// Integration: TLS and HTTP hardening of the real erdsd and erds-smtpd binaries (issue 8, item 6).
// The servers get
// an RSA certificate (`erdsctl pki init --algorithm rsa3072`) so that RSA key exchange and CBC
// suites would be negotiable if the server allowed them: a refusal is the server's doing, not a
// missing certificate type. No database is needed (erdsd starts without one).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "harness.h"

namespace erds::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRequestTimeout{2000};  // http.request_timeout of the erdsd under test
constexpr std::chrono::milliseconds kHeaderTimeout{1000};   // http.header_timeout of the erdsd under test

// erds-smtpd: ERDS_SMTPD_PATH when the build defines it, else beside erdsd (every executable
// lands in the build directory's root).
std::string smtpdPath() {
#ifdef ERDS_SMTPD_PATH
  return ERDS_SMTPD_PATH;
#else
  return (std::filesystem::path(ERDSD_PATH).parent_path() / "erds-smtpd").string();
#endif
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

// A raw TLS 1.2+ client connection (no HTTP library: the tests send malformed or slow requests).
class RawTls {
 public:
  explicit RawTls(uint16_t port) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_tlsext_host_name(ssl_.get(), "localhost");
    connected_ = SSL_connect(ssl_.get()) == 1;
    ERR_clear_error();
  }
  ~RawTls() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl_.get(), data.data() + off, static_cast<int>(data.size() - off));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // True when the server has closed the connection (or reset it); drains any reply into `got`.
  bool closedByServer(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (SSL_pending(ssl_.get()) == 0 && ::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char buf[4096];
    for (;;) {
      int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) {
        got += std::string(buf, static_cast<std::size_t>(n));
        if (SSL_pending(ssl_.get()) > 0) continue;
        p.revents = 0;
        if (::poll(&p, 1, 200) <= 0) return false;  // a reply, but the connection stays open
        continue;
      }
      ERR_clear_error();
      return true;  // close_notify, EOF or reset
    }
  }
  // Reads until the server closes or `timeout` passes.
  std::string readAll(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && !closedByServer(100ms)) {
    }
    return got;
  }
  std::string got;

 private:
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
  int fd_ = -1;
  bool connected_ = false;
};

// Runs `openssl s_client` (stdin /dev/null: handshake, then quit) against 127.0.0.1:port with
// `connectArgs` (e.g. "-starttls smtp") before -connect and `args` after -servername.
RunResult sClientTo(uint16_t port, const std::string& connectArgs, const std::string& args) {
  return runToCompletion({"/bin/sh", "-c",
                          "exec openssl s_client " + connectArgs + "-connect 127.0.0.1:" + std::to_string(port) +
                              " -servername localhost " + args + " </dev/null 2>&1"});
}

// The protocol and cipher s_client negotiated ("TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"), or "" if none.
std::string negotiatedIn(const RunResult& r) {
  static const std::regex re("New, (TLSv[0-9.]+|\\(NONE\\)), Cipher is ([A-Z0-9_-]+)");
  std::smatch m;
  if (!std::regex_search(r.out, m, re) || m[1] == "(NONE)" || m[2] == "NONE") return "";
  return std::string(m[1]) + " " + std::string(m[2]);
}

class TlsHardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);  // writes to a connection the server dropped must not kill us
    dir_ = new TempDir("erds-tls");
#ifndef ERDSCTL_PATH
    FAIL() << "tls_test needs erdsctl (pki init --algorithm rsa3072); build the erdsctl target";
#else
    auto pki = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", dir_->path + "/pki", "--algorithm", "rsa3072"});
    ASSERT_EQ(pki.exitCode, 0) << pki.out << joined(pki.err);
#endif
    const std::string config = dir_->path + "/erds.ini";
    std::ofstream(config) << "[service]\nmode = development\n"
                          << "[log]\nlevel = debug\n"
                          << "[http]\naddress = 127.0.0.1\nport = 0\n"
                          << "tls_certificate = " << dir_->path << "/pki/tls.pem\n"
                          << "tls_key = " << dir_->path << "/pki/tls.key\n"
                          << "max_header_bytes = 8KiB\nmax_headers = 50\n"
                          << "request_timeout = " << kRequestTimeout.count() << "ms\n"
                          << "header_timeout = " << kHeaderTimeout.count() << "ms\n"
                          // No database: erdsd starts without one (readyz says 503).
                          << "[database]\nconninfo = host=" << dir_->path << "/no-postgres dbname=none\n"
                          << "[audit]\nanchor_interval = 0s\n";
    auto port = startDaemon(erdsd_, {ERDSD_PATH, "--config", config}, 30s);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }
  static void TearDownTestSuite() { EXPECT_EQ(stopSuite(erdsd_, dir_), 0); }
  void SetUp() override { ASSERT_NE(port_, 0) << "suite set-up failed"; }

  static RunResult sClient(const std::string& args) { return sClientTo(port_, "", args); }
  static std::string negotiated(const RunResult& r) { return negotiatedIn(r); }

  static inline TempDir* dir_ = nullptr;
  static inline ChildProcess* erdsd_ = nullptr;
  static inline uint16_t port_ = 0;
};

// `-cipher 'DEFAULT:@SECLEVEL=0'` lets the client offer TLS 1.1 (OpenSSL 3 refuses it by itself at
// the default level), so the refusal below comes from the server.
TEST_F(TlsHardeningTest, Tls11RefusedEvenWhenTheClientAllowsIt) {
  auto refused = sClient("-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'");
  EXPECT_NE(refused.exitCode, 0) << refused.out;
  EXPECT_EQ(negotiated(refused), "") << refused.out;
  auto tls10 = sClient("-tls1 -cipher 'DEFAULT:@SECLEVEL=0'");
  EXPECT_NE(tls10.exitCode, 0) << tls10.out;
  // Control: the same client, same cipher string, TLS 1.2: succeeds (so the refusal is real).
  auto control = sClient("-tls1_2 -cipher 'DEFAULT:@SECLEVEL=0'");
  EXPECT_EQ(control.exitCode, 0) << control.out;
  EXPECT_EQ(negotiated(control).rfind("TLSv1.2 ECDHE-RSA-", 0), 0u) << control.out;
  auto tls13 = sClient("-tls1_3");
  EXPECT_EQ(tls13.exitCode, 0) << tls13.out;
  EXPECT_EQ(negotiated(tls13).rfind("TLSv1.3 ", 0), 0u) << tls13.out;
}

TEST_F(TlsHardeningTest, Tls12OnlyEcdheWithAead) {
  struct Case {
    const char* cipher;
    bool accepted;
  };
  const Case kCases[] = {
      {"ECDHE-RSA-AES128-SHA", false},           // CBC, SHA-1 MAC
      {"ECDHE-RSA-AES256-SHA384", false},        // CBC
      {"ECDHE-RSA-AES128-SHA256", false},        // CBC
      {"AES128-GCM-SHA256", false},              // RSA key exchange (no forward secrecy), AEAD
      {"AES256-SHA256", false},                  // RSA key exchange, CBC
      {"DHE-RSA-AES128-GCM-SHA256", false},      // finite-field DHE
      {"ECDHE-RSA-DES-CBC3-SHA", false},         // 3DES
      {"ECDHE-RSA-AES128-GCM-SHA256", true},     // control
      {"ECDHE-RSA-AES256-GCM-SHA384", true},     // control
      {"ECDHE-RSA-CHACHA20-POLY1305", true},     // control
  };
  for (const auto& c : kCases) {
    auto r = sClient(std::string("-tls1_2 -cipher '") + c.cipher + ":@SECLEVEL=0'");
    if (c.accepted) {
      EXPECT_EQ(r.exitCode, 0) << c.cipher << "\n" << r.out;
      EXPECT_EQ(negotiated(r), std::string("TLSv1.2 ") + c.cipher) << r.out;
    } else {
      EXPECT_NE(r.exitCode, 0) << c.cipher << " must be refused\n" << r.out;
      EXPECT_EQ(negotiated(r), "") << c.cipher << "\n" << r.out;
    }
  }
}

TEST_F(TlsHardeningTest, HstsHeaderOnEveryReply) {
  for (const char* target : {"/healthz", "/readyz", "/does-not-exist"}) {
    RawTls c(port_);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(std::string("GET ") + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    std::string reply = c.readAll(10s);
    ASSERT_EQ(reply.rfind("HTTP/1.1 ", 0), 0u) << target << ": " << reply;
    static const std::regex hsts("\r\nStrict-Transport-Security: max-age=([0-9]+)", std::regex::icase);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(reply, m, hsts)) << target << ": " << reply.substr(0, 600);
    EXPECT_GE(std::stoll(m[1]), 31536000) << "HSTS for at least a year";
  }
}

TEST_F(TlsHardeningTest, OversizedHeadersAre431) {
  struct Case {
    const char* what;
    std::string headers;
  };
  std::string many;
  for (int i = 0; i < 200; ++i) many += "X-Pad-" + std::to_string(i) + ": v\r\n";
  const Case kCases[] = {
      {"one 20 KiB header", "X-Big: " + std::string(20 * 1024, 'a') + "\r\n"},
      {"200 headers (max_headers = 50)", many},
      {"12 headers of 1 KiB (max_header_bytes = 8 KiB)", [] {
         std::string s;
         for (int i = 0; i < 12; ++i) s += "X-K" + std::to_string(i) + ": " + std::string(1024, 'b') + "\r\n";
         return s;
       }()},
  };
  for (const auto& c : kCases) {
    RawTls conn(port_);
    ASSERT_TRUE(conn.connected());
    conn.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + c.headers + "\r\n");  // may fail midway
    std::string reply = conn.readAll(10s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << c.what << ": " << reply.substr(0, 300);
  }
  // Control: a request just under the limits is served.
  RawTls ok(port_);
  ASSERT_TRUE(ok.connected());
  ASSERT_TRUE(ok.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Ok: " + std::string(2048, 'c') +
                      "\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(ok.readAll(10s).rfind("HTTP/1.1 200", 0), 0u);
}

// A client that stops sending in the middle of its headers is dropped after http.request_timeout.
TEST_F(TlsHardeningTest, StalledClientIsDisconnected) {
  RawTls c(port_);
  ASSERT_TRUE(c.connected());
  auto start = Clock::now();
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: local"));
  bool closed = false;
  while (!closed && Clock::now() - start < kRequestTimeout * 4) closed = c.closedByServer(200ms);
  auto took = Clock::now() - start;
  EXPECT_TRUE(closed) << "still connected after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  EXPECT_GE(took, kHeaderTimeout - 200ms);
  EXPECT_LT(took, kHeaderTimeout + 1500ms) << "cut long after http.header_timeout";
  // Nothing had been answered: the server says why it hangs up.
  EXPECT_EQ(c.got.rfind("HTTP/1.1 408", 0), 0u) << c.got.substr(0, 200);
}

// Slowloris: headers byte by byte, each byte well within the per-read timeout, so that only a
// deadline for the whole request (http.request_timeout: "time allowed to receive one request")
// ends the connection.
TEST_F(TlsHardeningTest, SlowHeadersAreDisconnectedAfterRequestTimeout) {
  RawTls c(port_);
  ASSERT_TRUE(c.connected());
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + std::string(200, 's') + "\r\n\r\n";
  auto start = Clock::now();
  bool closed = false;
  std::size_t sent = 0;
  while (!closed && sent < request.size() && Clock::now() - start < kRequestTimeout * 4) {
    if (!c.send(request.substr(sent, 1))) {
      closed = true;
      break;
    }
    ++sent;
    closed = c.closedByServer(kRequestTimeout / 5);  // one byte per 400 ms
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_TRUE(closed) << "a client trickling one byte per " << (kRequestTimeout / 5).count()
                      << " ms was still connected after " << took.count() << " ms (" << sent << " bytes sent)";
  // The deadline runs from the first byte, not per read: cut at http.header_timeout (plus the
  // watchdog's period and scheduling slack), however long the client would keep trickling.
  EXPECT_LT(took, kHeaderTimeout + 1500ms) << "disconnected, but long after http.header_timeout";
  EXPECT_GE(took, kHeaderTimeout - 200ms);
}

// A slow body: complete headers, then one body byte per 200 ms. Cut at http.request_timeout
// after the request's first byte with a 408 (nothing was answered yet).
TEST_F(TlsHardeningTest, SlowBodyIsCutAtTheRequestTimeout) {
  RawTls c(port_);
  ASSERT_TRUE(c.connected());
  auto start = Clock::now();
  // POST /api/v1/sessions (login) takes a JSON body, which the server must receive before anything.
  ASSERT_TRUE(c.send("POST /api/v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: 400\r\n\r\n"));
  bool closed = false;
  int sent = 0;
  while (!closed && sent < 400 && Clock::now() - start < kRequestTimeout * 4) {
    if (!c.send("x")) {
      closed = true;
      break;
    }
    ++sent;
    closed = c.closedByServer(200ms);
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_TRUE(closed) << "a slow body was still being read after " << took.count() << " ms";
  EXPECT_GE(took, kRequestTimeout - 200ms);
  EXPECT_LT(took, kRequestTimeout + 1500ms) << "cut long after http.request_timeout";
  EXPECT_EQ(c.got.rfind("HTTP/1.1 408", 0), 0u) << c.got.substr(0, 300);
}

// ---- erds-smtpd: STARTTLS on the submission port ----

class SmtpTlsHardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("erds-smtp-tls");
    ASSERT_TRUE(std::filesystem::exists(smtpdPath()))
        << smtpdPath() << " not found: build the erds-smtpd target";
#ifndef ERDSCTL_PATH
    FAIL() << "tls_test needs erdsctl (pki init --algorithm rsa3072); build the erdsctl target";
#else
    auto pki = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", dir_->path + "/pki", "--algorithm", "rsa3072"});
    ASSERT_EQ(pki.exitCode, 0) << pki.out << joined(pki.err);
#endif
    const std::string d = dir_->path;
    ASSERT_EQ(::mkdir((d + "/sink").c_str(), 0700), 0);
    // Development mode with the directory sink: no database is needed for the TLS handshake.
    writeFile(d + "/smtpd.ini", "[service]\nmode = development\ndomains = example.test\n[log]\nlevel = info\n"
                                "[smtp]\naddress = 127.0.0.1\nsubmission_port = 0\nmx_port = 0\n"
                                "tls_certificate = " + d + "/pki/tls.pem\ntls_key = " + d + "/pki/tls.key\n");
    smtpd_ = new ChildProcess({smtpdPath(), "--config", d + "/smtpd.ini", "--port-file", d + "/ports",
                               "--development-sink", d + "/sink"},
                              {});
    ASSERT_TRUE(smtpd_->started());
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline && port_ == 0) {
      std::string ports = readFile(d + "/ports");
      std::smatch m;
      static const std::regex submission("submission=([0-9]+)");
      if (std::regex_search(ports, m, submission)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
      if (port_ == 0) std::this_thread::sleep_for(100ms);
    }
    ASSERT_NE(port_, 0) << "erds-smtpd did not start:\n" << joined(smtpd_->stderrLines());
  }
  static void TearDownTestSuite() { (void)stopSuite(smtpd_, dir_); }
  void SetUp() override { ASSERT_NE(port_, 0) << "suite set-up failed"; }

  static RunResult sClient(const std::string& args) { return sClientTo(port_, "-starttls smtp ", args); }
  static std::string negotiated(const RunResult& r) { return negotiatedIn(r); }

  static inline TempDir* dir_ = nullptr;
  static inline ChildProcess* smtpd_ = nullptr;
  static inline uint16_t port_ = 0;
};

// Same client, same permissive cipher string: TLS 1.0 and 1.1 are refused after STARTTLS, TLS 1.2
// (ECDHE + AEAD only) and 1.3 succeed, so the refusals are the server's doing.
TEST_F(SmtpTlsHardeningTest, StarttlsRefusesTls10And11AndAcceptsTls12And13) {
  for (const char* old : {"-tls1_1", "-tls1"}) {
    auto refused = sClient(std::string(old) + " -cipher 'DEFAULT:@SECLEVEL=0'");
    EXPECT_NE(refused.exitCode, 0) << old << "\n" << refused.out;
    EXPECT_EQ(negotiated(refused), "") << old << "\n" << refused.out;
  }
  auto control = sClient("-tls1_2 -cipher 'DEFAULT:@SECLEVEL=0'");
  EXPECT_EQ(control.exitCode, 0) << control.out;
  EXPECT_EQ(negotiated(control).rfind("TLSv1.2 ECDHE-RSA-", 0), 0u) << control.out;
  for (const char* weak : {"AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES128-GCM-SHA256"}) {
    auto r = sClient(std::string("-tls1_2 -cipher '") + weak + ":@SECLEVEL=0'");
    EXPECT_EQ(negotiated(r), "") << weak << " must be refused\n" << r.out;
  }
  auto tls13 = sClient("-tls1_3");
  EXPECT_EQ(tls13.exitCode, 0) << tls13.out;
  EXPECT_EQ(negotiated(tls13).rfind("TLSv1.3 ", 0), 0u) << tls13.out;
}

}  // namespace
}  // namespace erds::itest
