// The AUTH part of SmtpSession with application tokens, without sockets: where a client
// certificate is required (qualified mode), a token is the policy-permitted alternative, password
// AUTH stays refused, and a token next to another party's certificate is refused.
#include <gtest/gtest.h>

#include "erds/smtp/smtp_session.h"

#include "base64.h"
#include "fake_ports.h"

namespace erds::smtp {
namespace {

using identity::AuthenticationMethod;

const std::string kToken = "erds_at_" + std::string(43, 'T');
const std::string kOtherToken = "erds_at_" + std::string(43, 'U');

// alice: password "s3cret", token kToken (created with password + TOTP), certificate "alice-cert";
// bob: certificate "bob-cert". Counts calls so the tests can see what reached it.
class TokenAuthenticator final : public Authenticator {
 public:
  Result<AuthenticatedParty> authenticatePassword(std::string_view username,
                                                  const Secret& password) override {
    ++calls;
    if (username != "alice@example.test") return Error::unauthorized("authentication failed");
    if (password.reveal() == "s3cret") {
      return AuthenticatedParty{
          "alice", {AuthenticationMethod::Password}, identity::LevelOfAssurance::Low, {}};
    }
    if (tokens && password.reveal() == kToken) {
      return AuthenticatedParty{
          "alice",
          {AuthenticationMethod::ApplicationToken, AuthenticationMethod::PasswordTotp},
          identity::LevelOfAssurance::Substantial,
          {}};
    }
    return Error::unauthorized("authentication failed");
  }
  Result<AuthenticatedParty> authenticatePasswordFrom(std::string_view username,
                                                      const Secret& password,
                                                      std::string_view clientIp) override {
    lastIp = std::string(clientIp);
    return authenticatePassword(username, password);
  }
  bool acceptsApplicationTokens() const override { return tokens; }
  Result<AuthenticatedParty> authenticateCertificate(std::string_view leafDer,
                                                     const std::vector<std::string>&) override {
    if (leafDer == "alice-cert")
      return AuthenticatedParty{"alice", {AuthenticationMethod::ClientCertificate}, {}, {}};
    if (leafDer == "bob-cert")
      return AuthenticatedParty{"bob", {AuthenticationMethod::ClientCertificate}, {}, {}};
    return Error::unauthorized("client certificate not accepted");
  }
  Result<void> authorizeSender(const AuthenticatedParty& party, std::string_view address) override {
    if (party.partyId == "alice" && address == "alice@example.test") return {};
    return Error::unauthorized("not bound");
  }
  bool tokens = true;
  int calls = 0;
  std::string lastIp;
};

class AppTokenSessionTest : public ::testing::Test {
 protected:
  std::unique_ptr<SmtpSession> tlsSession(const std::string& cert) {
    SessionConfig c;
    c.listener = ListenerKind::Submission;
    c.hostname = "submit.example.test";
    c.localDomains = {"example.test"};
    c.tlsAvailable = true;
    c.requireClientCertificate = requireCert_;
    auto s = std::make_unique<SmtpSession>(c, "192.0.2.1:1234", &auth_, &sink_);
    s->receive("EHLO client\r\n");
    EXPECT_TRUE(s->receive("STARTTLS\r\n").startTls);
    s->tlsEstablished({"TLSv1.3", "x", cert, {}});
    s->receive("EHLO client\r\n");
    return s;
  }
  static std::string plain(const std::string& user, const std::string& password) {
    return "AUTH PLAIN " +
           internal::base64Encode(std::string(1, '\0') + user + std::string(1, '\0') + password) +
           "\r\n";
  }
  // Submits one message after a successful AUTH; returns the last reply.
  std::string submit(SmtpSession& s) {
    s.receive("MAIL FROM:<alice@example.test>\r\n");
    s.receive("RCPT TO:<bob@example.test>\r\n");
    s.receive("DATA\r\n");
    return s
        .receive(
            "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: t\r\n\r\nhi\r\n.\r\n")
        .replies;
  }

  TokenAuthenticator auth_;
  testing::InMemorySubmissionSink sink_;
  bool requireCert_ = true;
};

TEST_F(AppTokenSessionTest, QualifiedTokenWithoutCertificateIsAcceptedAndRecordsTheTokenMethod) {
  auto s = tlsSession("");
  EXPECT_EQ(s->receive(plain("alice@example.test", kToken)).replies.substr(0, 10), "235 2.7.0 ");
  EXPECT_EQ(submit(*s).substr(0, 10), "250 2.0.0 ");
  ASSERT_EQ(sink_.messages().size(), 1u);
  const AuthenticatedParty party = *sink_.messages()[0].envelope.party;
  EXPECT_EQ(party.partyId, "alice");
  EXPECT_EQ(party.methods,
            (std::vector<AuthenticationMethod>{AuthenticationMethod::ApplicationToken,
                                               AuthenticationMethod::PasswordTotp}));
  EXPECT_EQ(senderAuthentication(party, TimePoint{}).method,
            "urn:erds:authn:application_token+password_totp");
}

TEST_F(AppTokenSessionTest, TheClientIpReachesTheAuthenticatorForThePerIpThrottle) {
  auto s = tlsSession("");
  EXPECT_EQ(s->receive(plain("alice@example.test", kOtherToken)).replies.substr(0, 4), "535 ");
  EXPECT_EQ(auth_.lastIp, "192.0.2.1");
}

TEST_F(AppTokenSessionTest, QualifiedTokenViaAuthLoginToo) {
  auto s = tlsSession("");
  EXPECT_EQ(s->receive("AUTH LOGIN\r\n").replies, "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(s->receive(internal::base64Encode("alice@example.test") + "\r\n").replies,
            "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(s->receive(internal::base64Encode(kToken) + "\r\n").replies.substr(0, 10),
            "235 2.7.0 ");
}

TEST_F(AppTokenSessionTest, QualifiedPasswordWithoutCertificateIsRefusedBeforeTheAuthenticator) {
  auto s = tlsSession("");
  EXPECT_EQ(s->receive(plain("alice@example.test", "s3cret")).replies.substr(0, 10), "535 5.7.8 ");
  EXPECT_EQ(auth_.calls, 0) << "no password check (nor throttle update) without a certificate";
  EXPECT_EQ(s->receive("MAIL FROM:<alice@example.test>\r\n").replies.substr(0, 10), "530 5.7.0 ");
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(AppTokenSessionTest, QualifiedWithTokensOffAuthNeedsACertificate) {
  auth_.tokens = false;
  auto s = tlsSession("");
  EXPECT_EQ(s->receive(plain("alice@example.test", kToken)).replies.substr(0, 10), "530 5.7.0 ");
  EXPECT_EQ(auth_.calls, 0);
}

TEST_F(AppTokenSessionTest, QualifiedTokenWithTheSamePartysCertificateRecordsBoth) {
  auto s = tlsSession("alice-cert");
  EXPECT_EQ(s->receive(plain("alice@example.test", kToken)).replies.substr(0, 10), "235 2.7.0 ");
  EXPECT_EQ(submit(*s).substr(0, 10), "250 2.0.0 ");
  ASSERT_EQ(sink_.messages().size(), 1u);
  EXPECT_EQ(senderAuthentication(*sink_.messages()[0].envelope.party, TimePoint{}).method,
            "urn:erds:authn:application_token+password_totp+client_certificate");
}

TEST_F(AppTokenSessionTest,
       QualifiedPasswordWithTheSamePartysCertificateIsTwoFactorsAtSubstantial) {
  auto s = tlsSession("alice-cert");
  EXPECT_EQ(s->receive(plain("alice@example.test", "s3cret")).replies.substr(0, 10), "235 2.7.0 ");
  EXPECT_EQ(submit(*s).substr(0, 10), "250 2.0.0 ");
  ASSERT_EQ(sink_.messages().size(), 1u);
  const AuthenticatedParty party = *sink_.messages()[0].envelope.party;
  const core::SenderAuthentication a = senderAuthentication(party, TimePoint{});
  EXPECT_EQ(a.method, "urn:erds:authn:password+client_certificate");
  EXPECT_EQ(a.level, "http://eidas.europa.eu/LoA/substantial");
}

TEST_F(AppTokenSessionTest, QualifiedTokenOrPasswordWithAnotherPartysCertificateIsRefused) {
  for (const std::string& secret : {kToken, std::string("s3cret")}) {
    auto s = tlsSession("bob-cert");
    EXPECT_EQ(s->receive(plain("alice@example.test", secret)).replies.substr(0, 10), "535 5.7.8 ")
        << secret;
    EXPECT_EQ(s->receive("MAIL FROM:<alice@example.test>\r\n").replies.substr(0, 3), "530");
  }
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(AppTokenSessionTest, WrongTokensCountAsAuthFailuresAndCloseAfterTheLimit) {
  auto s = tlsSession("");
  EXPECT_EQ(s->receive(plain("alice@example.test", kOtherToken)).replies.substr(0, 10),
            "535 5.7.8 ");
  EXPECT_EQ(s->receive(plain("alice@example.test", kOtherToken)).replies.substr(0, 10),
            "535 5.7.8 ");
  auto third = s->receive(plain("alice@example.test", kOtherToken));
  EXPECT_NE(third.replies.find("421 4.7.0"), std::string::npos) << third.replies;
  EXPECT_TRUE(third.close);
}

TEST_F(AppTokenSessionTest, BasicModeTokensAndPasswordsBothWork) {
  requireCert_ = false;
  auto a = tlsSession("");
  EXPECT_EQ(a->receive(plain("alice@example.test", "s3cret")).replies.substr(0, 10), "235 2.7.0 ");
  auto b = tlsSession("");
  EXPECT_EQ(b->receive(plain("alice@example.test", kToken)).replies.substr(0, 10), "235 2.7.0 ");
}

}  // namespace
}  // namespace erds::smtp
