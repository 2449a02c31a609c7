#include "erds/smtp/smtp_session.h"

#include <gtest/gtest.h>

#include "base64.h"
#include "fake_ports.h"

namespace erds::smtp {
namespace {

using testing::InMemoryAuthenticator;
using testing::InMemorySubmissionSink;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auth_.addUser({"alice", "s3cret", "party-alice", {"alice@example.test"}, "CERT-ALICE"});
    auth_.addUser({"bob", "hunter2", "party-bob", {"bob@example.test"}, ""});
  }

  std::unique_ptr<SmtpSession> make(ListenerKind kind, bool tls = true) {
    SessionConfig c;
    c.listener = kind;
    c.hostname = "mx.example.test";
    c.localDomains = {"Example.Test"};
    c.tlsAvailable = tls;
    c.limits = limits_;
    c.requireClientCertificate = requireCert_;
    return std::make_unique<SmtpSession>(c, "192.0.2.1:1234", &auth_, &sink_);
  }

  // A submission session that completed EHLO, STARTTLS (with `cert`) and AUTH PLAIN as alice.
  std::unique_ptr<SmtpSession> authed(const std::string& cert = "") {
    auto s = make(ListenerKind::Submission);
    s->receive("EHLO client\r\n");
    auto o = s->receive("STARTTLS\r\n");
    EXPECT_TRUE(o.startTls);
    s->tlsEstablished({"TLSv1.3", "x", cert, {}});
    s->receive("EHLO client\r\n");
    std::string resp = internal::base64Encode(std::string("\0alice\0s3cret", 13));
    EXPECT_EQ(s->receive("AUTH PLAIN " + resp + "\r\n").replies.substr(0, 4), "235 ");
    return s;
  }

  static std::string code(const std::string& replies) { return replies.substr(0, 3); }
  // The last reply line's code.
  static std::string lastCode(const std::string& replies) {
    auto pos = replies.rfind("\r\n", replies.size() - 3);
    return replies.substr(pos == std::string::npos ? 0 : pos + 2, 3);
  }

  InMemoryAuthenticator auth_;
  InMemorySubmissionSink sink_;
  SessionLimits limits_;
  bool requireCert_ = false;
};

const std::string kMsg = "From: alice@example.test\r\nTo: bob@other.test\r\nSubject: hi\r\n\r\nHello\r\n";

TEST_F(SessionTest, GreetingAndEhloAdvertiseExtensions) {
  auto s = make(ListenerKind::Submission);
  EXPECT_EQ(s->greeting(), "220 mx.example.test ESMTP erds\r\n");
  auto r = s->receive("EHLO client.test\r\n").replies;
  EXPECT_NE(r.find("250-SIZE 67108864\r\n"), std::string::npos);
  EXPECT_NE(r.find("250-8BITMIME\r\n"), std::string::npos);
  EXPECT_NE(r.find("250-PIPELINING\r\n"), std::string::npos);
  EXPECT_NE(r.find("250-ENHANCEDSTATUSCODES\r\n"), std::string::npos);
  EXPECT_NE(r.find("STARTTLS\r\n"), std::string::npos);
  EXPECT_EQ(r.find("AUTH"), std::string::npos) << "AUTH must not be offered before TLS";
}

TEST_F(SessionTest, AuthBeforeStartTlsIsRefused) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\n");
  std::string resp = internal::base64Encode(std::string("\0alice\0s3cret", 13));
  EXPECT_EQ(s->receive("AUTH PLAIN " + resp + "\r\n").replies, "530 5.7.0 Must issue a STARTTLS command first\r\n");
  EXPECT_EQ(code(s->receive("MAIL FROM:<alice@example.test>\r\n").replies), "530");
}

TEST_F(SessionTest, StartTlsDiscardsPipelinedPlaintext) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\n");
  auto o = s->receive("STARTTLS\r\nMAIL FROM:<alice@example.test>\r\n");
  EXPECT_TRUE(o.startTls);
  EXPECT_EQ(o.replies, "220 2.0.0 Ready to start TLS\r\n");
  s->tlsEstablished({"TLSv1.3", "x", "", {}});
  // The injected MAIL was dropped and EHLO is needed again.
  EXPECT_EQ(code(s->receive("MAIL FROM:<alice@example.test>\r\n").replies), "503");
  auto r = s->receive("EHLO c\r\n").replies;
  EXPECT_NE(r.find("250 AUTH PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_EQ(r.find("STARTTLS"), std::string::npos);
}

TEST_F(SessionTest, AuthPlainAndLoginAndFailures) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\nSTARTTLS\r\n");
  s->tlsEstablished({"TLSv1.3", "x", "", {}});
  s->receive("EHLO c\r\n");
  EXPECT_EQ(s->receive("AUTH PLAIN\r\n").replies, "334 \r\n");
  EXPECT_EQ(s->receive(internal::base64Encode(std::string("\0alice\0wrong", 12)) + "\r\n").replies,
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(code(s->receive("AUTH CRAM-MD5\r\n").replies), "504");
  EXPECT_EQ(s->receive("AUTH LOGIN\r\n").replies, "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(s->receive(internal::base64Encode("bob") + "\r\n").replies, "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(s->receive(internal::base64Encode("hunter2") + "\r\n").replies, "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(code(s->receive("AUTH LOGIN\r\n").replies), "503");
}

TEST_F(SessionTest, TooManyAuthFailuresCloses) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\nSTARTTLS\r\n");
  s->tlsEstablished({"TLSv1.3", "x", "", {}});
  s->receive("EHLO c\r\n");
  std::string bad = "AUTH PLAIN " + internal::base64Encode(std::string("\0alice\0x", 8)) + "\r\n";
  s->receive(bad);
  s->receive(bad);
  auto o = s->receive(bad);
  EXPECT_TRUE(o.close);
  EXPECT_NE(o.replies.find("421 4.7.0"), std::string::npos);
}

TEST_F(SessionTest, AuthCancelAndBadBase64) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\nSTARTTLS\r\n");
  s->tlsEstablished({"TLSv1.3", "x", "", {}});
  s->receive("EHLO c\r\n");
  s->receive("AUTH PLAIN\r\n");
  EXPECT_EQ(s->receive("*\r\n").replies, "501 5.0.0 Authentication cancelled\r\n");
  EXPECT_EQ(s->receive("AUTH PLAIN !!!!\r\n").replies, "501 5.5.2 Invalid base64 data\r\n");
}

TEST_F(SessionTest, UnavailableAuthenticatorGivesTemporaryReplies) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\nSTARTTLS\r\n");
  s->tlsEstablished({"TLSv1.3", "x", "", {}});
  s->receive("EHLO c\r\n");
  auth_.setUnavailable(true);
  EXPECT_EQ(s->receive("AUTH PLAIN " + internal::base64Encode(std::string("\0alice\0s3cret", 13)) + "\r\n").replies,
            "454 4.7.0 Temporary authentication failure\r\n");
}

TEST_F(SessionTest, SubmissionHappyPathPipelined) {
  auto s = authed();
  auto o = s->receive("MAIL FROM:<alice@example.test> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<bob@other.test>\r\n"
                      "RCPT TO:<carol@third.test>\r\nDATA\r\n");
  EXPECT_EQ(o.replies, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  o = s->receive(kMsg + "..leading dot\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(o.replies, "250 2.0.0 Ok: queued as mem1\r\n221 2.0.0 Bye\r\n");
  EXPECT_TRUE(o.close);
  auto msgs = sink_.messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].bytes, kMsg + ".leading dot\r\n");
  EXPECT_EQ(msgs[0].envelope.mailFrom, "alice@example.test");
  EXPECT_EQ(msgs[0].envelope.recipients, (std::vector<std::string>{"bob@other.test", "carol@third.test"}));
  ASSERT_TRUE(msgs[0].envelope.party.has_value());
  EXPECT_EQ(msgs[0].envelope.party->partyId, "party-alice");
  EXPECT_TRUE(msgs[0].envelope.tls);
  EXPECT_TRUE(msgs[0].envelope.eightBitMime);
}

TEST_F(SessionTest, ByteAtATimeInputGivesSameResult) {
  auto s = authed();
  std::string all = "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n" + kMsg + ".\r\n";
  std::string replies;
  for (char c : all) replies += s->receive(std::string_view(&c, 1)).replies;
  EXPECT_TRUE(replies.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as mem1\r\n")) << replies;
  ASSERT_EQ(sink_.messages().size(), 1u);
  EXPECT_EQ(sink_.messages()[0].bytes, kMsg);
}

TEST_F(SessionTest, MailFromNotBoundIsRefused) {
  auto s = authed();
  EXPECT_EQ(s->receive("MAIL FROM:<bob@example.test>\r\n").replies,
            "553 5.7.1 Sender address not owned by the authenticated user\r\n");
  EXPECT_EQ(code(s->receive("MAIL FROM:<>\r\n").replies), "553");
  EXPECT_EQ(code(s->receive("MAIL FROM:<ALICE@example.test>\r\n").replies), "250");
}

TEST_F(SessionTest, SubmissionWithoutAuthIsRefused) {
  auto s = make(ListenerKind::Submission);
  s->receive("EHLO c\r\nSTARTTLS\r\n");
  s->tlsEstablished({"TLSv1.3", "x", "", {}});
  s->receive("EHLO c\r\n");
  EXPECT_EQ(s->receive("MAIL FROM:<alice@example.test>\r\n").replies, "530 5.7.0 Authentication required\r\n");
  EXPECT_EQ(code(s->receive("RCPT TO:<bob@other.test>\r\n").replies), "503");
}

TEST_F(SessionTest, MxRefusesRelayingButAcceptsLocalDomains) {
  auto s = make(ListenerKind::Mx, false);
  s->receive("EHLO outside.test\r\n");
  EXPECT_EQ(code(s->receive("AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n").replies), "502");
  EXPECT_EQ(code(s->receive("MAIL FROM:<someone@outside.test>\r\n").replies), "250");
  EXPECT_EQ(s->receive("RCPT TO:<victim@elsewhere.test>\r\n").replies, "550 5.7.1 Relay access denied\r\n");
  EXPECT_EQ(s->receive("RCPT TO:<alice@EXAMPLE.test>\r\n").replies, "250 2.1.5 Ok\r\n");
  // Percent hack and source routes do not open a relay.
  EXPECT_EQ(code(s->receive("RCPT TO:<victim%elsewhere.test@other.test>\r\n").replies), "550");
  EXPECT_EQ(code(s->receive("RCPT TO:<@example.test:victim@elsewhere.test>\r\n").replies), "550");
  s->receive("DATA\r\n");
  auto o = s->receive("From: someone@outside.test\r\n\r\nhi\r\n.\r\n");
  EXPECT_EQ(code(o.replies), "250");
  ASSERT_EQ(sink_.messages().size(), 1u);
  EXPECT_EQ(sink_.messages()[0].envelope.recipients, std::vector<std::string>{"alice@EXAMPLE.test"});
  EXPECT_FALSE(sink_.messages()[0].envelope.party.has_value());
}

struct BadDataCase {
  std::string name;
  std::string mailParams;
  std::string data;  // without the final ".\r\n"
  std::string expected;
};

class BadDataTest : public SessionTest, public ::testing::WithParamInterface<BadDataCase> {};

TEST_P(BadDataTest, RefusedAndNothingDelivered) {
  limits_.maxMessageBytes = 2000;
  auto s = authed();
  s->receive("MAIL FROM:<alice@example.test>" + GetParam().mailParams + "\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
  auto o = s->receive(GetParam().data + ".\r\n");
  EXPECT_EQ(o.replies.substr(0, GetParam().expected.size()), GetParam().expected) << o.replies;
  EXPECT_TRUE(sink_.messages().empty());
  // The session remains usable for the next transaction.
  EXPECT_EQ(code(s->receive("MAIL FROM:<alice@example.test>\r\n").replies), "250");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadDataTest,
    ::testing::Values(
        BadDataCase{"BareLf", "", "From: a@example.test\r\n\r\nline\nsmuggled\r\n", "554 5.6.0"},
        BadDataCase{"BareCr", "", "From: a@example.test\r\n\r\nline\rmore\r\n", "554 5.6.0"},
        BadDataCase{"SmugglingDotLf", "", "From: a@example.test\r\n\r\nx\r\n.\nMAIL FROM:<x@y>\r\n", "554 5.6.0"},
        BadDataCase{"OverlongLine", "", "From: a@example.test\r\n\r\n" + std::string(999, 'x') + "\r\n", "500 5.5.2"},
        BadDataCase{"EightBitHeader", "", "From: a@example.test\r\nSubject: caf\xc3\xa9\r\n\r\nx\r\n", "554 5.6.7"},
        BadDataCase{"OverSizeMidData", "", "From: a@example.test\r\n\r\n" + std::string(3000 / 100, 'x') + "\r\n" +
                                                [] { std::string s; for (int i = 0; i < 30; ++i) s += std::string(98, 'y') + "\r\n"; return s; }(),
                    "552 5.3.4"},
        BadDataCase{"NoFrom", "", "To: b@other.test\r\n\r\nx\r\n", "554 5.6.0 Malformed message: no From"},
        BadDataCase{"HeaderWithoutColon", "", "From: a@example.test\r\nthis is not a header\r\n\r\nx\r\n", "554 5.6.0"},
        BadDataCase{"MultipartWithoutBoundary", "", "From: a@example.test\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n", "554 5.6.0"},
        BadDataCase{"MultipartNotClosed", "",
                    "From: a@example.test\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
                    "Content-Type: text/plain\r\n\r\nx\r\n",
                    "554 5.6.0"}),
    [](const auto& info) { return info.param.name; });

TEST_F(SessionTest, EightBitHeaderAcceptedWith8BitMime) {
  auto s = authed();
  s->receive("MAIL FROM:<alice@example.test> BODY=8BITMIME\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
  EXPECT_EQ(code(s->receive("From: a@example.test\r\nSubject: caf\xc3\xa9\r\n\r\nx\r\n.\r\n").replies), "250");
}

TEST_F(SessionTest, SizeParameterOverLimit) {
  limits_.maxMessageBytes = 1000;
  auto s = authed();
  EXPECT_EQ(s->receive("MAIL FROM:<alice@example.test> SIZE=1001\r\n").replies,
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_EQ(code(s->receive("MAIL FROM:<alice@example.test> SIZE=abc\r\n").replies), "501");
  EXPECT_EQ(code(s->receive("MAIL FROM:<alice@example.test> FOO=1\r\n").replies), "555");
}

TEST_F(SessionTest, CommandLineLimitsAndBareLf) {
  auto s = make(ListenerKind::Mx, false);
  EXPECT_EQ(s->receive("EHLO c\n").replies, "500 5.5.2 Bare LF not allowed (RFC 5321 2.3.8)\r\n");
  EXPECT_EQ(s->receive("NOOP " + std::string(995, 'x') + "\r\n").replies, "500 5.5.2 Line too long\r\n");
  // An overlong line arriving in pieces: one reply, then the rest of the line is dropped.
  EXPECT_EQ(s->receive(std::string(1500, 'y')).replies, "500 5.5.2 Line too long\r\n");
  EXPECT_EQ(s->receive(std::string(500, 'y') + "\r\nNOOP\r\n").replies, "250 2.0.0 Ok\r\n");
  EXPECT_EQ(s->receive("VRFY alice\r\n").replies.substr(0, 10), "252 2.5.0 ");
  EXPECT_EQ(s->receive("BOGUS\r\n").replies, "500 5.5.2 Command not recognized\r\n");
}

TEST_F(SessionTest, TooManyErrorsCloses) {
  limits_.maxErrors = 3;
  auto s = make(ListenerKind::Mx, false);
  SmtpSession::Output o;
  for (int i = 0; i < 4 && !o.close; ++i) o = s->receive("BOGUS\r\n");
  EXPECT_TRUE(o.close);
  EXPECT_NE(o.replies.find("421 4.7.0"), std::string::npos);
  EXPECT_TRUE(s->closed());
}

TEST_F(SessionTest, TooManyCommandsCloses) {
  limits_.maxCommands = 5;
  auto s = make(ListenerKind::Mx, false);
  std::string r;
  for (int i = 0; i < 6; ++i) r = s->receive("NOOP\r\n").replies;
  EXPECT_EQ(r, "421 4.7.0 Too many commands, closing connection\r\n");
  EXPECT_TRUE(s->closed());
}

TEST_F(SessionTest, TooManyRecipients) {
  limits_.maxRecipients = 2;
  auto s = make(ListenerKind::Mx, false);
  s->receive("HELO c\r\nMAIL FROM:<>\r\n");
  EXPECT_EQ(code(s->receive("RCPT TO:<a@example.test>\r\n").replies), "250");
  EXPECT_EQ(code(s->receive("RCPT TO:<b@example.test>\r\n").replies), "250");
  EXPECT_EQ(s->receive("RCPT TO:<c@example.test>\r\n").replies, "452 4.5.3 Too many recipients\r\n");
}

TEST_F(SessionTest, SequenceErrors) {
  auto s = make(ListenerKind::Mx, false);
  EXPECT_EQ(code(s->receive("MAIL FROM:<a@b.test>\r\n").replies), "503");
  s->receive("EHLO c\r\n");
  EXPECT_EQ(code(s->receive("RCPT TO:<a@example.test>\r\n").replies), "503");
  EXPECT_EQ(code(s->receive("DATA\r\n").replies), "503");
  s->receive("MAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(code(s->receive("MAIL FROM:<a@b.test>\r\n").replies), "503");
  EXPECT_EQ(code(s->receive("DATA\r\n").replies), "554");
  EXPECT_EQ(s->receive("RSET\r\n").replies, "250 2.0.0 Ok\r\n");
  EXPECT_EQ(code(s->receive("RCPT TO:<a@example.test>\r\n").replies), "503");
  EXPECT_EQ(code(s->receive("MAIL FROM:a@b.test\r\n").replies), "553");
  EXPECT_EQ(code(s->receive("STARTTLS\r\n").replies), "502");
}

TEST_F(SessionTest, ClientGoneMidDataDeliversNothing) {
  auto s = authed();
  s->receive("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
  s->receive(kMsg);
  s->connectionLost();
  EXPECT_TRUE(s->closed());
  EXPECT_TRUE(sink_.messages().empty());
  EXPECT_TRUE(s->receive(".\r\n").replies.empty());
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(SessionTest, SinkErrorsMapThroughTheTable) {
  auto s = authed();
  sink_.failWith(Error::unavailable("db down at 10.0.0.5"));
  s->receive("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
  EXPECT_EQ(s->receive(kMsg + ".\r\n").replies, "451 4.3.0 Temporary failure, try again later\r\n");
  sink_.failWith(Error::invalidInput("recipient not reachable"));
  s->receive("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
  EXPECT_EQ(s->receive(kMsg + ".\r\n").replies, "550 5.6.0 Message refused: recipient not reachable\r\n");
}

TEST_F(SessionTest, LargeMessageIsSpooledAndKeptExactly) {
  limits_.memoryThreshold = 1024;
  auto s = authed();
  s->receive("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
  std::string body = "From: alice@example.test\r\n\r\n";
  for (int i = 0; i < 200; ++i) body += "line " + std::to_string(i) + " \xe2\x82\xac\r\n";
  EXPECT_EQ(code(s->receive(body + ".\r\n").replies), "250");
  ASSERT_EQ(sink_.messages().size(), 1u);
  EXPECT_EQ(sink_.messages()[0].bytes, body);
}

TEST_F(SessionTest, QualifiedRequiresMatchingClientCertificate) {
  requireCert_ = true;
  {
    auto s = make(ListenerKind::Submission);
    s->receive("EHLO c\r\nSTARTTLS\r\n");
    s->tlsEstablished({"TLSv1.3", "x", "", {}});
    s->receive("EHLO c\r\n");
    EXPECT_EQ(code(s->receive("AUTH PLAIN " + internal::base64Encode(std::string("\0alice\0s3cret", 13)) + "\r\n").replies), "530");
  }
  {
    auto s = make(ListenerKind::Submission);
    s->receive("EHLO c\r\nSTARTTLS\r\n");
    s->tlsEstablished({"TLSv1.3", "x", "CERT-ALICE", {}});
    s->receive("EHLO c\r\n");
    // bob's password with alice's certificate: refused.
    EXPECT_EQ(code(s->receive("AUTH PLAIN " + internal::base64Encode(std::string("\0bob\0hunter2", 12)) + "\r\n").replies), "535");
    EXPECT_EQ(code(s->receive("AUTH PLAIN " + internal::base64Encode(std::string("\0alice\0s3cret", 13)) + "\r\n").replies), "235");
    s->receive("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@other.test>\r\nDATA\r\n");
    EXPECT_EQ(code(s->receive(kMsg + ".\r\n").replies), "250");
    auto m = sink_.messages();
    ASSERT_EQ(m.size(), 1u);
    auto& methods = m[0].envelope.party->methods;
    EXPECT_NE(std::find(methods.begin(), methods.end(), identity::AuthenticationMethod::ClientCertificate), methods.end());
    EXPECT_NE(std::find(methods.begin(), methods.end(), identity::AuthenticationMethod::Password), methods.end());
  }
}

}  // namespace
}  // namespace erds::smtp
