#include "erds/identity/party.h"

#include <gtest/gtest.h>

namespace erds::identity {
namespace {

TEST(PartyTest, NamesRoundTrip) {
  for (auto m : {IdentificationMethod::PhysicalPresence, IdentificationMethod::RemoteIdDocumentScan,
                 IdentificationMethod::QualifiedCertificate, IdentificationMethod::NcpCertificate,
                 IdentificationMethod::EidNotified, IdentificationMethod::EudiWallet,
                 IdentificationMethod::CabConfirmedRemote}) {
    auto parsed = parseIdentificationMethod(identificationMethodName(m));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, m);
  }
  for (auto m : {AuthenticationMethod::Password, AuthenticationMethod::PasswordTotp, AuthenticationMethod::RecoveryCode,
                 AuthenticationMethod::ClientCertificate, AuthenticationMethod::QualifiedCertificate,
                 AuthenticationMethod::ApplicationToken}) {
    auto parsed = parseAuthenticationMethod(authenticationMethodName(m));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_EQ(identificationMethodName(IdentificationMethod::CabConfirmedRemote), "cab_confirmed_remote");
  EXPECT_EQ(levelName(LevelOfAssurance::Substantial), "substantial");
  EXPECT_EQ(*parseLevel("high"), LevelOfAssurance::High);
  EXPECT_EQ(*parseRole("officer"), Role::Officer);
  EXPECT_EQ(*parsePartyKind("legal"), PartyKind::Legal);
}

TEST(PartyTest, ParsersRejectUnknownNames) {
  EXPECT_TRUE(parseLevel("HIGH").error().is(ErrorCode::InvalidInput));
  EXPECT_FALSE(parseIdentificationMethod("id_scan").has_value());
  EXPECT_FALSE(parseRole("root").has_value());
  EXPECT_FALSE(parseAuthenticationMethod("").has_value());
}

TEST(PartyTest, LevelsAreOrdered) {
  EXPECT_TRUE(atLeast(LevelOfAssurance::High, LevelOfAssurance::Substantial));
  EXPECT_FALSE(atLeast(LevelOfAssurance::Low, LevelOfAssurance::Substantial));
  EXPECT_EQ(stricter(LevelOfAssurance::Low, LevelOfAssurance::High), LevelOfAssurance::High);
  EXPECT_EQ(stricter(LevelOfAssurance::Substantial, LevelOfAssurance::None), LevelOfAssurance::Substantial);
}

TEST(PartyTest, AuthenticationStrengthAndLevel) {
  EXPECT_TRUE(isStrongAuthentication(AuthenticationMethod::PasswordTotp));
  EXPECT_TRUE(isStrongAuthentication(AuthenticationMethod::ClientCertificate));
  EXPECT_TRUE(isStrongAuthentication(AuthenticationMethod::QualifiedCertificate));
  EXPECT_FALSE(isStrongAuthentication(AuthenticationMethod::Password));
  EXPECT_FALSE(isStrongAuthentication(AuthenticationMethod::RecoveryCode));
  EXPECT_FALSE(isStrongAuthentication(AuthenticationMethod::ApplicationToken));
  EXPECT_EQ(authenticationLevel(AuthenticationMethod::RecoveryCode), LevelOfAssurance::Low);
  EXPECT_EQ(authenticationLevel(AuthenticationMethod::PasswordTotp), LevelOfAssurance::Substantial);
  EXPECT_EQ(authenticationLevel(AuthenticationMethod::QualifiedCertificate), LevelOfAssurance::High);
  AuthenticationContext ctx{LevelOfAssurance::Low, {AuthenticationMethod::Password}, {}};
  EXPECT_FALSE(ctx.strong());
  ctx.methods.push_back(AuthenticationMethod::ClientCertificate);
  EXPECT_TRUE(ctx.strong());
}

TEST(PartyTest, RoleSet) {
  RoleSet r{Role::User};
  EXPECT_TRUE(r.has(Role::User));
  EXPECT_FALSE(r.has(Role::Officer));
  r.add(Role::Officer);
  EXPECT_TRUE(r.has(Role::Officer));
  r.remove(Role::User);
  EXPECT_FALSE(r.has(Role::User));
  EXPECT_FALSE(r.has(Role::Admin));
}

}  // namespace
}  // namespace erds::identity
