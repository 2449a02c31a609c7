// Integration: the real erds-smtpd (+ erdsd for the demo accounts, + erds-signer for the "no time
// stamp" case) against a private PostgreSQL, with swaks as the client and an SMTP sink in this
// process as the outside world (smtp.relay_host). `openssl cms -verify` checks what we emit.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <thread>

#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/migrations/migrations.h"
#include "process.h"
#include "smtpd_test_support.h"
#include "test_database.h"

namespace erds::itest {
namespace {

using namespace std::chrono_literals;

class SmtpSink {
 public:
  SmtpSink() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~SmtpSink() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> g(mu_);
    return messages_;
  }
  // Waits for a message containing `needle`.
  std::optional<std::string> waitFor(const std::string& needle, std::chrono::seconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      for (const auto& m : messages())
        if (m.find(needle) != std::string::npos) return m;
      std::this_thread::sleep_for(200ms);
    }
    return std::nullopt;
  }

 private:
  void loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      session(c);
      ::close(c);
    }
  }
  void session(int c) {
    auto say = [&](const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); };
    say("220 sink.test ESMTP\r\n");
    std::string buf;
    bool inData = false;
    std::string data;
    char tmp[65536];
    while (true) {
      auto pos = buf.find("\r\n");
      if (pos == std::string::npos) {
        long n = ::recv(c, tmp, sizeof tmp, 0);
        if (n <= 0) return;
        buf.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      std::string line = buf.substr(0, pos);
      buf.erase(0, pos + 2);
      if (inData) {
        if (line == ".") {
          inData = false;
          {
            std::lock_guard<std::mutex> g(mu_);
            messages_.push_back(data);
          }
          data.clear();
          say("250 2.0.0 stored\r\n");
        } else {
          data += (line.rfind("..", 0) == 0 ? line.substr(1) : line) + "\r\n";
        }
        continue;
      }
      std::string cmd = line.substr(0, 4);
      for (auto& ch : cmd) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (cmd == "EHLO") say("250-sink.test\r\n250 8BITMIME\r\n");
      else if (cmd == "RCPT" && line.find("refused") != std::string::npos) say("550 5.1.1 no such user here\r\n");
      else if (cmd == "DATA") {
        inData = true;
        say("354 go ahead\r\n");
      } else if (cmd == "QUIT") {
        say("221 bye\r\n");
        return;
      } else say("250 ok\r\n");
    }
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> messages_;
};

class SmtpdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("erds-smtp-itest");
    sink_ = new SmtpSink();
    auto pg = erds::testing::PrivatePostgres::start(/*durable=*/false);
    ASSERT_TRUE(pg) << pg.error().toString();
    pg_ = pg->release();
    auto roles = pg_->createDatabaseAndRoles("erds_smtp_itest");
    ASSERT_TRUE(roles) << roles.error().toString();
    superConninfo_ = pg_->superuserConninfo("erds_smtp_itest");
    {
      auto owner = pg::Connection::connect(roles->ownerConninfo);
      ASSERT_TRUE(owner) << owner.error().toString();
      auto applied = pg::applyMigrations(**owner, allMigrations(), roles->appRole);
      ASSERT_TRUE(applied) << applied.error().toString();
    }
    const std::string d = dir_->path;
    auto r = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", d + "/pki"});
    ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
    auto [conninfo, password] = splitPassword(roles->appConninfo);
    writeFile(d + "/db.password", password + "\n", 0600);
    writeFile(d + "/kek", std::string(64, 'a') + "\n", 0600);
    const std::string common =
        "[service]\nmode = development\ndomains = example.test\ndemo_accounts = true\n"
        "[log]\nlevel = info\n"
        "[http]\naddress = 127.0.0.1\nport = 0\ntls_certificate = " + d + "/pki/tls.pem\ntls_key = " + d +
        "/pki/tls.key\n"
        "[database]\nconninfo = " + conninfo + "\npassword_file = " + d + "/db.password\n"
        "[secrets]\nkek_file = " + d + "/kek\n"
        "[smtp]\naddress = 127.0.0.1\nsubmission_port = 0\nmx_port = 0\ntls_certificate = " + d +
        "/pki/tls.pem\ntls_key = " + d + "/pki/tls.key\nrelay_host = 127.0.0.1\nrelay_port = " +
        std::to_string(sink_->port()) + "\n";
    writeFile(d + "/erds.ini", common + "[signer]\nmode = inprocess\nkey_dir = " + d + "/pki\n");
    writeFile(d + "/down.ini", common + "[signer]\nmode = socket\nsocket = " + d + "/signer.sock\nkey_dir = " + d +
                                   "/pki\n");

    erdsd_ = new ChildProcess({ERDSD_PATH, "--config", d + "/erds.ini"}, {});
    auto seeded = erdsd_->waitForLine(
        [](const std::string& l) { return l.find("identity.demo_account\"") != std::string::npos; }, 60s);
    ASSERT_TRUE(seeded) << "erdsd did not seed demo accounts:\n" << joined(erdsd_->stderrLines());

    smtpd_ = new ChildProcess({ERDS_SMTPD_PATH, "--config", d + "/erds.ini", "--port-file", d + "/ports"}, {});
    auto p = readPorts(d + "/ports", 30s);
    ASSERT_TRUE(p) << "erds-smtpd did not start:\n" << joined(smtpd_->stderrLines());
    ports_ = *p;
  }

  static void TearDownTestSuite() {
    for (ChildProcess** c : {&smtpd_, &erdsd_}) {
      if (*c) {
        (*c)->signal(SIGTERM);
        (*c)->wait(20s);
        delete *c;
        *c = nullptr;
      }
    }
    delete pg_;
    pg_ = nullptr;
    delete sink_;
    sink_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(ports_.submission, 0) << "suite set-up failed"; }

  static std::string scalar(const std::string& sql) { return scalarQuery(superConninfo_, sql); }

  static RunResult swaks(uint16_t port, const std::string& from, const std::string& to, const std::string& subject,
                         bool auth = true) {
    std::vector<std::string> argv = {"/usr/bin/swaks", "--server", "127.0.0.1", "--port", std::to_string(port),
                                     "--from", from, "--to", to, "--header", "Subject: " + subject,
                                     "--body", "Hello from swaks.", "--hide-informational", "--timeout", "60"};
    if (auth) {
      for (const char* a : {"--tls", "--auth", "PLAIN", "--auth-user", "sender@example.test", "--auth-password",
                            "sender-demo-password"})
        argv.push_back(a);
    }
    return runToCompletion(argv);
  }

  static inline TempDir* dir_ = nullptr;
  static inline SmtpSink* sink_ = nullptr;
  static inline erds::testing::PrivatePostgres* pg_ = nullptr;
  static inline ChildProcess* erdsd_ = nullptr;
  static inline ChildProcess* smtpd_ = nullptr;
  static inline std::string superConninfo_;
  static inline Ports ports_;
};

TEST_F(SmtpdTest, SwaksSubmitsWithStartTlsAndAuthAndTheMessageIsDurable) {
  auto r = swaks(ports_.submission, "sender@example.test", "recipient@example.test", "itest-local");
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("<~  250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})"))) << r.out;
  const std::string id = m[1];
  EXPECT_EQ(scalar("SELECT status FROM messages WHERE id = '" + id + "'"), "accepted");
  EXPECT_EQ(scalar("SELECT sender_identifier FROM messages WHERE id = '" + id + "'"), "mailto:sender@example.test");
  EXPECT_EQ(scalar("SELECT subject FROM messages WHERE id = '" + id + "'"), "itest-local");
  EXPECT_EQ(scalar("SELECT count(*) FROM evidence WHERE message_id = '" + id + "' AND event = 'SubmissionAcceptance'"), "1");
  EXPECT_EQ(scalar("SELECT media_type || ' ' || filename FROM content_parts WHERE message_id = '" + id + "'"),
            "message/rfc822 message.eml");
  EXPECT_EQ(scalar("SELECT recipient_party_id FROM deliveries WHERE message_id = '" + id + "'"), "demo-recipient");
}

// EN 319 522-2 I10: the SubmissionAcceptance of an SMTP submission records how the sender
// authenticated (AUTH PLAIN with a password here: basic mode, level low), read back with the
// evidence reader.
TEST_F(SmtpdTest, SubmissionAcceptanceRecordsTheSendersAuthenticationMethod) {
  auto r = swaks(ports_.submission, "sender@example.test", "recipient@example.test", "itest-authn");
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("<~  250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})"))) << r.out;
  const std::string id = m[1];
  const std::string xml = scalar("SELECT convert_from(xml, 'UTF8') FROM evidence WHERE message_id = '" + id +
                                 "' AND event = 'SubmissionAcceptance'");
  auto ev = evidence::readEvidenceXml(xml);
  ASSERT_TRUE(ev.has_value()) << ev.error().toString();
  ASSERT_TRUE(ev->sender.assurance.has_value()) << "no AssuranceLevelsDetails for the sender";
  EXPECT_EQ(ev->sender.assurance->global.level, "http://eidas.europa.eu/LoA/low");
  ASSERT_TRUE(ev->sender.assurance->authentication.has_value());
  EXPECT_EQ(ev->sender.assurance->authentication->method, "urn:erds:authn:password");
  // Authenticated in this session, before the message was accepted.
  const TimePoint authAt = ev->sender.assurance->authentication->time;
  EXPECT_LE(authAt, ev->eventTime);
  EXPECT_GT(authAt, ev->eventTime - std::chrono::minutes(5));
}

TEST_F(SmtpdTest, MailFromNotBoundToThePartyIsRefused) {
  const std::string before = scalar("SELECT count(*) FROM messages");
  auto r = swaks(ports_.submission, "recipient@example.test", "recipient@example.test", "itest-unbound");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.out.find("553 5.7.1"), std::string::npos) << r.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
}

TEST_F(SmtpdTest, NoAuthenticationNoSubmission) {
  auto r = swaks(ports_.submission, "sender@example.test", "recipient@example.test", "itest-noauth", false);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.out.find("530"), std::string::npos) << r.out;
}

TEST_F(SmtpdTest, OutboundRemDispatchIsSignedAndVerifiesWithOpenssl) {
  auto r = swaks(ports_.submission, "sender@example.test", "someone@elsewhere.test", "itest-outbound");
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
  auto dispatch = sink_->waitFor("Subject: REM Dispatch: itest-outbound", 60s);
  ASSERT_TRUE(dispatch) << "no REM dispatch reached the sink; smtpd:\n" << joined(smtpd_->stderrLines());
  EXPECT_NE(dispatch->find("REM-MessageType:"), std::string::npos);
  EXPECT_NE(dispatch->find("multipart/signed"), std::string::npos);
  EXPECT_NE(dispatch->find("SubmissionAcceptance.xml"), std::string::npos);
  const std::string file = dir_->path + "/dispatch.eml";
  writeFile(file, *dispatch);
  auto v = runToCompletion({"/usr/bin/openssl", "cms", "-verify", "-in", file, "-CAfile", dir_->path + "/pki/root-ca.pem",
                            "-purpose", "any", "-out", dir_->path + "/dispatch.out"});
  EXPECT_EQ(v.exitCode, 0) << joined(v.err);
  // The REM receipt of the SubmissionAcceptance goes back to the sender.
  auto receipt = sink_->waitFor("Subject: REM SubmissionAcceptance: itest-outbound", 60s);
  if (!receipt) receipt = sink_->waitFor("itest-outbound\r\nREM-MessageType: http://uri.etsi.org/19522/v1#/ERDMessageType/receipt", 1s);
  bool found = false;
  for (const auto& msg : sink_->messages())
    found = found || (msg.find("ERDMessageType/receipt") != std::string::npos && msg.find("itest-outbound") != std::string::npos);
  EXPECT_TRUE(found) << "no REM receipt for the sender";
}

TEST_F(SmtpdTest, NoTimeStampMeans451AndNothingStored) {
  // erds-smtpd starts against a live erds-signer, which then goes away: no seal, no time stamp.
  ChildProcess signer({ERDS_SIGNER_PATH, "--config", dir_->path + "/down.ini"}, {});
  auto up = signer.waitForLine([](const std::string& l) { return l.find("listening") != std::string::npos; }, 30s);
  ASSERT_TRUE(up) << joined(signer.stderrLines());
  ChildProcess smtpd({ERDS_SMTPD_PATH, "--config", dir_->path + "/down.ini", "--port-file", dir_->path + "/ports-down"}, {});
  auto p = readPorts(dir_->path + "/ports-down", 30s);
  ASSERT_TRUE(p) << joined(smtpd.stderrLines());
  signer.signal(SIGTERM);
  ASSERT_EQ(signer.wait(20s), 0);
  const std::string before = scalar("SELECT count(*) FROM messages");
  auto r = swaks(p->submission, "sender@example.test", "recipient@example.test", "itest-no-tsa");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.out.find("451 4.3.0"), std::string::npos) << r.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM content_parts WHERE state = 'linked' AND message_id NOT IN (SELECT id FROM messages)"), "0");
  smtpd.signal(SIGTERM);
  EXPECT_EQ(smtpd.wait(20s), 0);
}

// Polls a scalar query until it returns `want` (the relay worker runs asynchronously).
std::string waitForScalar(const std::function<std::string()>& q, const std::string& want, std::chrono::seconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  std::string got;
  while (std::chrono::steady_clock::now() < end) {
    got = q();
    if (got == want) return got;
    std::this_thread::sleep_for(200ms);
  }
  return got;
}

TEST_F(SmtpdTest, InboundMxStoresTheMessageWithReceivedFromNonErdsEvidence) {
  auto r = swaks(ports_.mx, "outside@elsewhere.test", "recipient@example.test", "itest-mx", false);
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err) << joined(smtpd_->stderrLines());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("<-  250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})")  /* plain: no STARTTLS on MX */)) << r.out;
  const std::string id = m[1];
  // Durable before the 250: message, content, evidence, delivery to the demo recipient.
  EXPECT_EQ(scalar("SELECT status || ' ' || sender_identifier || ' ' || subject FROM messages WHERE id = '" + id + "'"),
            "accepted mailto:outside@elsewhere.test itest-mx");
  EXPECT_EQ(scalar("SELECT string_agg(event || ' ' || reason || ' ' || coalesce(recipient_index::text, '-'), ',') "
                   "FROM evidence WHERE message_id = '" + id + "'"),
            "ReceivedFromNonERDS RF04 -");
  EXPECT_NE(scalar("SELECT convert_from(xml, 'UTF8') FROM evidence WHERE message_id = '" + id + "'").find("ReceivedFromNonERDS"),
            std::string::npos);
  EXPECT_EQ(scalar("SELECT media_type || ' ' || filename || ' ' || state FROM content_parts WHERE message_id = '" + id + "'"),
            "message/rfc822 message.eml linked");
  // A small message goes in one transaction with its content (DeliveryStore::receiveWithContent):
  // parts and chunks carry the message's own creation time, never a staged upload's.
  EXPECT_EQ(scalar("SELECT count(*) FROM content_chunks c JOIN content_parts p ON p.id = c.part_id JOIN messages m "
                   "ON m.id = p.message_id WHERE m.id = '" + id + "' AND c.created_at = m.created_at AND "
                   "p.created_at = m.created_at"),
            "1");
  EXPECT_EQ(scalar("SELECT recipient_party_id FROM deliveries WHERE message_id = '" + id + "'"), "demo-recipient");
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_log WHERE action = 'message.received' AND object = 'message:" + id +
                   "' AND details->>'note' LIKE 'spf=% dkim=none dmarc=% tls=no'"),
            "1")
      << scalar("SELECT details->>'note' FROM audit_log WHERE object = 'message:" + id + "'");
  // Then the normal local lifecycle: erdsd's workers consign it to the recipient.
  EXPECT_EQ(waitForScalar([&] { return scalar("SELECT count(*) FROM evidence WHERE message_id = '" + id +
                                               "' AND event = 'ContentConsignment'"); },
                          "1", 60s),
            "1")
      << joined(erdsd_->stderrLines());
  // Nothing goes back to an outside sender (no REM receipts for mail received from non-ERDS).
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind LIKE 'smtp.%' AND payload->>'message_id' = '" + id + "'"), "0");

  // MX is never a relay.
  auto relay = swaks(ports_.mx, "outside@elsewhere.test", "someone@elsewhere.test", "itest-relay", false);
  EXPECT_NE(relay.exitCode, 0);
  EXPECT_EQ(relay.out.find("<-  250 2.0.0"), std::string::npos) << "open relay: " << relay.out;
}

// A message presenting itself as REM (REM-* fields) on MX from a peer that is not pinned (this
// erds-smtpd pins none): 554 5.7.7, audited, nothing stored.
TEST_F(SmtpdTest, InboundRemFromAnUnpinnedPeerIsRefusedAndAudited) {
  const std::string before = scalar("SELECT count(*) FROM messages");
  const std::string data = dir_->path + "/rem.eml";
  writeFile(data,
            "From: \"On behalf of: a@peer.example\" <rem@peer.example>\r\nTo: recipient@example.test\r\n"
            "Subject: REM Dispatch: x\r\nREM-MessageType: http://uri.etsi.org/19522/v1#/ERDMessageType/dispatch\r\n"
            "\r\nnot signed\r\n");
  auto r = runToCompletion({"/usr/bin/swaks", "--server", "127.0.0.1", "--port", std::to_string(ports_.mx), "--from",
                            "rem@peer.example", "--to", "recipient@example.test", "--data", data, "--hide-informational",
                            "--timeout", "60"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.out.find("554 5.7.7"), std::string::npos) << r.out;
  EXPECT_EQ(scalar("SELECT count(*) FROM messages"), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_log WHERE action = 'smtp.rem.refused' AND outcome = 'denied' AND actor LIKE 'smtp-mx:%'"),
            "1");
}

TEST_F(SmtpdTest, OutboundRelayRecordsRelayToNonErdsAndSendsItAsReceipt) {
  auto r = swaks(ports_.submission, "sender@example.test", "friend@elsewhere.test", "itest-relayed");
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("<~  250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})"))) << r.out;
  const std::string id = m[1];
  // The relay and receipt jobs were committed with the submission.
  EXPECT_EQ(scalar("SELECT count(*) FROM evidence WHERE message_id = '" + id + "' AND event = 'SubmissionAcceptance'"), "1");
  ASSERT_TRUE(sink_->waitFor("Subject: REM Dispatch: itest-relayed", 60s)) << joined(smtpd_->stderrLines());
  const auto q = [&] {
    return scalar("SELECT d.state || ' ' || e.event || ' ' || e.reason FROM deliveries d JOIN evidence e "
                  "ON e.message_id = d.message_id AND e.recipient_index = d.recipient_index WHERE d.message_id = '" + id + "'");
  };
  EXPECT_EQ(waitForScalar(q, "relayed RelayToNonERDS RF01", 60s), "relayed RelayToNonERDS RF01") << joined(smtpd_->stderrLines());
  // Never consigned by erdsd: the recipient is outside ERDS.
  EXPECT_EQ(scalar("SELECT count(*) FROM evidence WHERE message_id = '" + id + "' AND event LIKE 'Content%'"), "0");
  // The RelayToNonERDS evidence goes back to the sender as a REM receipt.
  bool found = false;
  for (auto end = std::chrono::steady_clock::now() + 60s; !found && std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(200ms)) {
    for (const auto& msg : sink_->messages())
      found = found || (msg.find("RelayToNonERDS.xml") != std::string::npos && msg.find("itest-relayed") != std::string::npos &&
                        msg.find("ERDMessageType/receipt") != std::string::npos);
  }
  EXPECT_TRUE(found) << "no RelayToNonERDS receipt for the sender";
}

TEST_F(SmtpdTest, RefusedRcptAtTheRemoteMtaRecordsRelayToNonErdsFailure) {
  auto r = swaks(ports_.submission, "sender@example.test", "refused@elsewhere.test", "itest-refused");
  ASSERT_EQ(r.exitCode, 0) << r.out << joined(r.err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("<~  250 2\\.0\\.0 [^\\n]*?([0-9a-f-]{36})"))) << r.out;
  const std::string id = m[1];
  const auto q = [&] {
    return scalar("SELECT d.state || ' ' || e.event || ' ' || e.reason FROM deliveries d JOIN evidence e "
                  "ON e.message_id = d.message_id AND e.recipient_index = d.recipient_index WHERE d.message_id = '" + id + "'");
  };
  EXPECT_EQ(waitForScalar(q, "failed RelayToNonERDSFailure RF03", 60s), "failed RelayToNonERDSFailure RF03")
      << joined(smtpd_->stderrLines());
  EXPECT_FALSE(sink_->waitFor("Subject: REM Dispatch: itest-refused", 1s).has_value());
  bool found = false;
  for (auto end = std::chrono::steady_clock::now() + 60s; !found && std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(200ms)) {
    for (const auto& msg : sink_->messages())
      found = found || (msg.find("RelayToNonERDSFailure.xml") != std::string::npos && msg.find("itest-refused") != std::string::npos);
  }
  EXPECT_TRUE(found) << "no RelayToNonERDSFailure receipt for the sender";
}

}  // namespace
}  // namespace erds::itest
