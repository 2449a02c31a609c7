// senderAuthentication(): what SubmissionAcceptance evidence of an SMTP submission records as the
// sender's AuthenticationDetails (EN 319 522-2 I10).
#include "erds/smtp/core_submission_sink.h"

#include <gtest/gtest.h>

namespace erds::smtp {
namespace {

using identity::AuthenticationMethod;
using identity::LevelOfAssurance;

TEST(SenderAuthentication, MethodLevelAndTimeOfTheSmtpSender) {
  const TimePoint authAt(std::chrono::microseconds(1795773600000000));
  const TimePoint fallback = authAt + std::chrono::seconds(5);
  struct Case {
    std::vector<AuthenticationMethod> methods;
    LevelOfAssurance level;
    TimePoint at;
    std::string method;
    std::string levelUri;
    TimePoint time;
  };
  const std::vector<Case> cases = {
      // AUTH PLAIN/LOGIN with a password (basic / development).
      {{AuthenticationMethod::Password}, LevelOfAssurance::Low, authAt, "urn:erds:authn:password",
       "http://eidas.europa.eu/LoA/low", authAt},
      // Qualified: client certificate in STARTTLS, then AUTH of the same party.
      {{AuthenticationMethod::Password, AuthenticationMethod::ClientCertificate}, LevelOfAssurance::Low, authAt,
       "urn:erds:authn:password+client_certificate", "http://eidas.europa.eu/LoA/low", authAt},
      {{AuthenticationMethod::ApplicationToken}, LevelOfAssurance::Substantial, authAt,
       "urn:erds:authn:application_token", "http://eidas.europa.eu/LoA/substantial", authAt},
      // A level not granted: the methods' own level; an unknown time: the fallback.
      {{AuthenticationMethod::ClientCertificate}, LevelOfAssurance::None, TimePoint{},
       "urn:erds:authn:client_certificate", "http://eidas.europa.eu/LoA/substantial", fallback},
      {{}, LevelOfAssurance::None, TimePoint{}, "urn:erds:authn:unknown", "http://eidas.europa.eu/LoA/low", fallback},
  };
  for (const auto& c : cases) {
    AuthenticatedParty p;
    p.partyId = "p-1";
    p.methods = c.methods;
    p.level = c.level;
    p.at = c.at;
    const core::SenderAuthentication a = senderAuthentication(p, fallback);
    EXPECT_EQ(a.method, c.method);
    EXPECT_EQ(a.level, c.levelUri) << c.method;
    EXPECT_EQ(a.time, c.time) << c.method;
  }
}

}  // namespace
}  // namespace erds::smtp
