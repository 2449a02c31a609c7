// SmtpServer and erds-smtpd against real clients: swaks, Python's smtplib and raw sockets.
#include "erds/smtp/smtp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fake_ports.h"
#include "test_pki.h"

namespace erds::smtp {
namespace {

namespace fs = std::filesystem;
using evidence::testing::TestPki;

struct CommandResult {
  int exitCode = -1;
  std::string output;
};

CommandResult run(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = ::pclose(p);
  r.exitCode = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

// A raw client socket for protocol-level tests.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  void send(const std::string& s) { (void)!::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // Reads until a line that is a final reply ("NNN ") has arrived, or EOF/timeout.
  std::string readReply() {
    std::string out;
    char c;
    while (::recv(fd_, &c, 1, 0) == 1) {
      out += c;
      if (c == '\n') {
        auto start = out.rfind("\r\n", out.size() - 3);
        std::string last = out.substr(start == std::string::npos ? 0 : start + 2);
        if (last.size() >= 4 && last[3] == ' ') break;
      }
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);
    dir_ = evidence::testing::makeTempDir("erds-smtp-test");
    TestPki pki;
    evidence::testing::TestCertOptions o;
    o.commonName = "localhost";
    auto tls = pki.issue(o);
    evidence::testing::writeKeyFiles(dir_, "tls", tls, pki.root().certPem);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    auth_.addUser({"alice", "s3cret", "party-alice", {"alice@example.test"}, ""});
    start(200);
  }

  void start(std::size_t maxConnections, bool requireClientCertificate = false) {
    server_.reset();
    ServerConfig c;
    c.tlsCertificateFile = dir_ + "/tls.pem";
    c.tlsKeyFile = dir_ + "/tls.key";
    c.maxConnections = maxConnections;
    c.idleTimeout = std::chrono::milliseconds(1500);
    ListenerConfig sub;
    sub.session.listener = ListenerKind::Submission;
    sub.session.hostname = "smtp.example.test";
    sub.session.localDomains = {"example.test"};
    sub.session.limits.maxMessageBytes = 100000;
    sub.session.requireClientCertificate = requireClientCertificate;
    ListenerConfig mx = sub;
    mx.session.listener = ListenerKind::Mx;
    c.listeners = {sub, mx};
    auto s = SmtpServer::start(c, &auth_, &sink_);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    server_ = std::move(s).value();
  }

  std::string swaks(uint16_t port, const std::string& args) {
    return "swaks --server 127.0.0.1:" + std::to_string(port) + " --timeout 10 --helo client.test " + args;
  }

  static std::string dir_;
  testing::InMemoryAuthenticator auth_;
  testing::InMemorySubmissionSink sink_;
  std::unique_ptr<SmtpServer> server_;
};
std::string ServerTest::dir_;

TEST_F(ServerTest, SwaksSubmitsWithStartTlsAndAuthPlain) {
  auto r = run(swaks(server_->port(0),
                     "--tls --auth PLAIN --auth-user alice --auth-password s3cret --from alice@example.test "
                     "--to bob@other.test --header 'Subject: swaks test' --body 'hello from swaks'"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("<-  220 2.0.0 Ready to start TLS"), std::string::npos);
  EXPECT_NE(r.output.find("~> AUTH PLAIN"), std::string::npos);
  EXPECT_NE(r.output.find("<~  250 2.0.0 Ok: queued as mem1"), std::string::npos);
  auto msgs = sink_.messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0].bytes.find("Subject: swaks test\r\n"), std::string::npos);
  EXPECT_NE(msgs[0].bytes.find("hello from swaks"), std::string::npos);
  EXPECT_TRUE(msgs[0].bytes.ends_with("\r\n"));
  EXPECT_TRUE(msgs[0].envelope.tls);
  EXPECT_EQ(msgs[0].envelope.party->partyId, "party-alice");
}

TEST_F(ServerTest, SwaksAuthLoginWithPipelining) {
  auto r = run(swaks(server_->port(0),
                     "--tls --pipeline --auth LOGIN --auth-user alice --auth-password s3cret "
                     "--from alice@example.test --to bob@other.test,carol@third.test"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  auto msgs = sink_.messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].envelope.recipients.size(), 2u);
}

TEST_F(ServerTest, SwaksAuthWithoutTlsIsRefused) {
  auto r = run(swaks(server_->port(0),
                     "--auth PLAIN --auth-user alice --auth-password s3cret --from alice@example.test --to bob@other.test"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_TRUE(sink_.messages().empty());
  // swaks refuses itself when AUTH is not advertised; the server's answer is checked raw below.
  RawClient c(server_->port(0));
  c.readReply();
  c.send("EHLO c\r\n");
  EXPECT_EQ(c.readReply().find("AUTH"), std::string::npos);
  c.send("AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
  EXPECT_EQ(c.readReply(), "530 5.7.0 Must issue a STARTTLS command first\r\n");
}

TEST_F(ServerTest, SwaksWrongPasswordAndUnboundSender) {
  auto r = run(swaks(server_->port(0), "--tls --auth PLAIN --auth-user alice --auth-password nope "
                                       "--from alice@example.test --to bob@other.test"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("535 5.7.8"), std::string::npos) << r.output;
  r = run(swaks(server_->port(0), "--tls --auth PLAIN --auth-user alice --auth-password s3cret "
                                  "--from mallory@example.test --to bob@other.test"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("553 5.7.1"), std::string::npos) << r.output;
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(ServerTest, SwaksRelayThroughMxIsRefused) {
  auto r = run(swaks(server_->port(1), "--from someone@outside.test --to victim@elsewhere.test"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("550 5.7.1 Relay access denied"), std::string::npos) << r.output;
  r = run(swaks(server_->port(1), "--from someone@outside.test --to alice@example.test --body inbound"));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  ASSERT_EQ(sink_.messages().size(), 1u);
  EXPECT_EQ(sink_.messages()[0].envelope.listener, ListenerKind::Mx);
}

TEST_F(ServerTest, PythonSmtplibStartTlsLoginSend) {
  std::string script =
      "import smtplib, sys\n"
      "from email.message import EmailMessage\n"
      "m = EmailMessage()\n"
      "m['From'] = 'alice@example.test'\n"
      "m['To'] = 'bob@other.test'\n"
      "m['Subject'] = 'python'\n"
      "m.set_content('Caf\\u00e9 from smtplib\\n')\n"
      "s = smtplib.SMTP('127.0.0.1', " + std::to_string(server_->port(0)) + ", timeout=10)\n"
      "s.ehlo()\n"
      "assert not s.has_extn('auth'), 'AUTH advertised before TLS'\n"
      "s.starttls()\n"
      "s.ehlo()\n"
      "assert s.has_extn('auth') and s.has_extn('size') and s.has_extn('8bitmime')\n"
      "s.login('alice', 's3cret')\n"
      "refused = s.send_message(m)\n"
      "assert refused == {}, refused\n"
      "try:\n"
      "    s.sendmail('alice@example.test', ['bob@other.test'], b'From: alice@example.test\\r\\n\\r\\n' + b'x' * 200000)\n"
      "    print('oversize accepted'); sys.exit(1)\n"
      "except smtplib.SMTPSenderRefused as e:\n"
      "    assert e.smtp_code == 552 and b'5.3.4' in e.smtp_error, e\n"
      "s.quit()\n"
      "print('ok')\n";
  std::string path = dir_ + "/client.py";
  evidence::testing::writeFile(path, script);
  auto r = run("python3 " + path);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("ok"), std::string::npos);
  auto msgs = sink_.messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0].bytes.find("Subject: python\r\n"), std::string::npos);
}

TEST_F(ServerTest, OverSizeMidDataWithoutSizeParameter) {
  RawClient c(server_->port(1));
  c.readReply();
  c.send("EHLO c\r\nMAIL FROM:<x@outside.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  std::string r;
  for (int i = 0; i < 4; ++i) r += c.readReply();
  EXPECT_NE(r.find("354 "), std::string::npos) << r;
  std::string line(98, 'z');
  line += "\r\n";
  c.send("From: x@outside.test\r\n\r\n");
  for (int i = 0; i < 1200; ++i) c.send(line);
  c.send(".\r\n");
  EXPECT_EQ(c.readReply(), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(ServerTest, ClientGoneMidDataStoresNothing) {
  {
    RawClient c(server_->port(1));
    c.readReply();
    c.send("EHLO c\r\nMAIL FROM:<x@outside.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) c.readReply();
    c.send("From: x@outside.test\r\n\r\npartial message without the final dot\r\n");
  }
  EXPECT_TRUE(waitFor([&] { return server_->activeConnections() == 0; }));
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(ServerTest, IdleTimeoutCloses) {
  RawClient c(server_->port(1));
  EXPECT_EQ(c.readReply().substr(0, 4), "220 ");
  EXPECT_EQ(c.readReply(), "421 4.4.2 Timeout, closing connection\r\n");
}

TEST_F(ServerTest, ConnectionLimit) {
  start(1);
  RawClient a(server_->port(1));
  EXPECT_EQ(a.readReply().substr(0, 4), "220 ");
  RawClient b(server_->port(1));
  EXPECT_EQ(b.readReply(), "421 4.7.0 Too many connections, try again later\r\n");
}

TEST_F(ServerTest, ErdsSmtpdWithDevelopmentSinkAndSwaks) {
  std::string sinkDir = dir_ + "/sink";
  fs::create_directories(sinkDir);
  evidence::testing::writeFile(dir_ + "/users", "# dev users\nalice s3cret party-alice alice@example.test\n", 0600);
  std::string portFile = dir_ + "/ports";
  fs::remove(portFile);
  const std::string ini = dir_ + "/smtpd.ini";
  evidence::testing::writeFile(ini,
                               "[service]\nmode = development\ndomains = example.test\n[smtp]\nsubmission_port = 0\n"
                               "mx_port = 0\ntls_certificate = " + dir_ + "/tls.pem\ntls_key = " + dir_ + "/tls.key\n",
                               0600);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string users = dir_ + "/users";
    ::execl(ERDS_SMTPD_PATH, "erds-smtpd", "--config", ini.c_str(), "--development-sink", sinkDir.c_str(),
            "--development-users", users.c_str(), "--port-file", portFile.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_TRUE(waitFor([&] { return fs::exists(portFile); })) << "erds-smtpd did not start";
  std::string ports = readFile(portFile);
  auto subPos = ports.find("submission=");
  ASSERT_NE(subPos, std::string::npos);
  uint16_t port = static_cast<uint16_t>(std::stoi(ports.substr(subPos + 11)));
  auto r = run(swaks(port, "--tls --auth PLAIN --auth-user alice --auth-password s3cret --from alice@example.test "
                           "--to bob@other.test --header 'Subject: daemon' --body 'via erds-smtpd'"));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  int emls = 0;
  for (const auto& e : fs::directory_iterator(sinkDir)) {
    if (e.path().extension() == ".eml") {
      ++emls;
      std::string body = readFile(e.path().string());
      EXPECT_NE(body.find("Subject: daemon\r\n"), std::string::npos);
      fs::path jp = e.path();
      std::string json = readFile(jp.replace_extension(".json").string());
      EXPECT_NE(json.find("\"party\":\"party-alice\""), std::string::npos) << json;
    }
  }
  EXPECT_EQ(emls, 1);
}

// Qualified mode (5.2.2-04): a client certificate bound to the party, presented in STARTTLS, then
// AUTH. swaks with --tls-cert/--tls-key; the envelope carries both methods.
TEST_F(ServerTest, QualifiedSubmissionNeedsClientCertificateThenAuth) {
  TestPki clientCa("erds DEVELOPMENT client CA");
  evidence::testing::TestCertOptions o;
  o.commonName = "carol DEVELOPMENT client";
  const auto carolCert = clientCa.issue(o);
  evidence::testing::writeKeyFiles(dir_, "carol", carolCert);
  o.commonName = "dave DEVELOPMENT client";
  evidence::testing::writeKeyFiles(dir_, "dave", clientCa.issue(o));  // bound to nobody
  auth_.addUser({"carol", "c4rol-pw", "party-carol", {"carol@example.test"}, carolCert.certDer});
  start(200, /*requireClientCertificate=*/true);
  const std::string send = "--from carol@example.test --to bob@other.test --header 'Subject: qualified' --body q";
  auto tlsCert = [&](const std::string& who) {
    return " --tls-cert " + dir_ + "/" + who + ".pem --tls-key " + dir_ + "/" + who + ".key ";
  };

  // Certificate + password of the same party: accepted, both methods recorded.
  auto r = run(swaks(server_->port(0), "--tls" + tlsCert("carol") + "--auth PLAIN --auth-user carol --auth-password c4rol-pw " + send));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  auto msgs = sink_.messages();
  ASSERT_EQ(msgs.size(), 1u) << r.output;
  ASSERT_TRUE(msgs[0].envelope.party.has_value());
  EXPECT_EQ(msgs[0].envelope.party->partyId, "party-carol");
  const auto& m = msgs[0].envelope.party->methods;
  EXPECT_NE(std::find(m.begin(), m.end(), identity::AuthenticationMethod::ClientCertificate), m.end());
  EXPECT_NE(std::find(m.begin(), m.end(), identity::AuthenticationMethod::Password), m.end());

  // Password alone: refused with 530 5.7.0 and a clear text.
  r = run(swaks(server_->port(0), "--tls --auth PLAIN --auth-user carol --auth-password c4rol-pw " + send));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("530 5.7.0 A client certificate bound to your account is required"), std::string::npos) << r.output;
  // A certificate bound to nobody: also no AUTH.
  r = run(swaks(server_->port(0), "--tls" + tlsCert("dave") + "--auth PLAIN --auth-user carol --auth-password c4rol-pw " + send));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("530 5.7.0"), std::string::npos) << r.output;
  // Carol's certificate with another party's password: 535 5.7.8.
  r = run(swaks(server_->port(0), "--tls" + tlsCert("carol") + "--auth PLAIN --auth-user alice --auth-password s3cret "
                "--from alice@example.test --to bob@other.test --body x"));
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("535 5.7.8"), std::string::npos) << r.output;
  EXPECT_EQ(sink_.messages().size(), 1u);
}

pid_t startSmtpd(const std::string& ini, const std::string& sinkDir, const std::string& users, const std::string& portFile) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(ERDS_SMTPD_PATH, "erds-smtpd", "--config", ini.c_str(), "--development-sink", sinkDir.c_str(),
            "--development-users", users.c_str(), "--port-file", portFile.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// kB of a /proc/<pid>/status field ("VmHWM", "VmRSS"); -1 if absent.
long procStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// A 100 MiB message over SMTP (STARTTLS + AUTH, Python smtplib): erds-smtpd's peak RSS must grow
// by less than 64 MiB (the message is spooled and streamed, never held whole), and the stored
// copy is byte-exact in size.
TEST_F(ServerTest, HundredMebibyteMessageKeepsErdsSmtpdMemoryBounded) {
  const std::string base = dir_ + "/big";
  fs::create_directories(base + "/sink");
  evidence::testing::writeFile(base + "/users", "alice s3cret party-alice alice@example.test\n", 0600);
  const std::string ini = base + "/smtpd.ini";
  evidence::testing::writeFile(ini,
                               "[service]\nmode = development\ndomains = example.test\n[smtp]\nsubmission_port = 0\n"
                               "mx_port = 0\nmax_message_bytes = 200MiB\nspool_dir = " + base + "\ntls_certificate = " +
                                   dir_ + "/tls.pem\ntls_key = " + dir_ + "/tls.key\n",
                               0600);
  const std::string portFile = base + "/ports";
  pid_t pid = startSmtpd(ini, base + "/sink", base + "/users", portFile);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(waitFor([&] { return fs::exists(portFile); })) << "erds-smtpd did not start";
  const std::string ports = readFile(portFile);
  const int port = std::stoi(ports.substr(ports.find("submission=") + 11));
  const long before = procStatusKb(pid, "VmHWM");
  ASSERT_GT(before, 0);
  const std::string script = base + "/big.py";
  evidence::testing::writeFile(script,
                               "import smtplib, ssl\n"
                               "line = b'x' * 998 + b'\\r\\n'\n"
                               "n = (100 * 1024 * 1024) // len(line)\n"
                               "msg = b'From: alice@example.test\\r\\nTo: bob@other.test\\r\\nSubject: big\\r\\n\\r\\n' + line * n\n"
                               "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
                               "s = smtplib.SMTP('127.0.0.1', " + std::to_string(port) + ", timeout=120)\n"
                               "s.starttls(context=ctx); s.login('alice', 's3cret')\n"
                               "s.sendmail('alice@example.test', ['bob@other.test'], msg)\n"
                               "s.quit()\nprint(len(msg))\n");
  auto r = run("python3 " + script);
  const long after = procStatusKb(pid, "VmHWM");
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const std::size_t sent = std::stoul(r.output);
  std::size_t stored = 0;
  for (const auto& e : fs::directory_iterator(base + "/sink"))
    if (e.path().extension() == ".eml") stored = fs::file_size(e.path());
  EXPECT_EQ(stored, sent);
  std::printf("erds-smtpd VmHWM before %ld kB, after a %zu-byte message %ld kB (growth %ld kB)\n", before, sent, after,
              after - before);
  EXPECT_LT(after - before, 64 * 1024) << "peak RSS grew by " << (after - before) << " kB";
  fs::remove_all(base);
}

TEST(ErdsSmtpdCli, RefusesDevelopmentSinkOutsideDevelopmentMode) {
  char tmpl[] = "/tmp/erds-smtpd-cli.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  evidence::testing::writeFile(dir + "/smtpd.ini", "[service]\nmode = development\n", 0600);
  auto r = run("ERDS_SERVICE_MODE=basic " + std::string(ERDS_SMTPD_PATH) + " --config " + dir +
               "/smtpd.ini --development-sink /tmp --check-config");
  fs::remove_all(dir);
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find("service.mode=development"), std::string::npos) << r.output;
  r = run(std::string(ERDS_SMTPD_PATH) + " --bogus x");
  EXPECT_EQ(r.exitCode, 2);
  r = run(std::string(ERDS_SMTPD_PATH) + " --help");
  EXPECT_EQ(r.exitCode, 0);
}

}  // namespace
}  // namespace erds::smtp
