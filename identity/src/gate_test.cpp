#include "erds/identity/gate.h"

#include <gtest/gtest.h>

namespace erds::identity {
namespace {

using M = IdentificationMethod;
using L = LevelOfAssurance;
using A = GateAction;
using namespace std::chrono_literals;

const TimePoint kNow{std::chrono::seconds(1'800'000'000)};

Identification ident(M m, L l) {
  Identification i;
  i.id = "idn";
  i.partyId = "p";
  i.method = m;
  i.level = l;
  i.at = kNow - 24h;
  return i;
}

AuthenticationContext mfa() { return {L::Substantial, {AuthenticationMethod::PasswordTotp}, kNow}; }
AuthenticationContext passwordOnly() { return {L::Low, {AuthenticationMethod::Password}, kNow}; }

std::string modeLabel(ServiceMode m) {
  return m == ServiceMode::Qualified ? "qualified" : m == ServiceMode::Basic ? "basic" : "development";
}

struct MatrixCase {
  ServiceMode mode;
  A action;
  M method;
  L level;
  bool allowed;
  const char* code;
};

// Method x role (sender = submit, recipient = handover) x profile, with strong authentication.
const MatrixCase kMatrix[] = {
    // qualified, recipient (2025/1944 Annex I 5.2.1.1-01)
    {ServiceMode::Qualified, A::Handover, M::PhysicalPresence, L::Substantial, true, ""},
    {ServiceMode::Qualified, A::Handover, M::RemoteIdDocumentScan, L::Substantial, false, "identification_method_not_accepted"},
    {ServiceMode::Qualified, A::Handover, M::EidNotified, L::High, true, ""},
    {ServiceMode::Qualified, A::Handover, M::EidNotified, L::Substantial, false, "identification_method_not_accepted"},
    {ServiceMode::Qualified, A::Handover, M::EudiWallet, L::High, true, ""},
    {ServiceMode::Qualified, A::Handover, M::QualifiedCertificate, L::High, true, ""},
    {ServiceMode::Qualified, A::Handover, M::NcpCertificate, L::Substantial, false, "identification_method_not_accepted"},
    {ServiceMode::Qualified, A::Handover, M::CabConfirmedRemote, L::Substantial, true, ""},
    // qualified, sender (5.2.1.1-01A)
    {ServiceMode::Qualified, A::Submit, M::PhysicalPresence, L::Substantial, true, ""},
    {ServiceMode::Qualified, A::Submit, M::RemoteIdDocumentScan, L::Substantial, false, "identification_method_not_accepted"},
    {ServiceMode::Qualified, A::Submit, M::EidNotified, L::Substantial, true, ""},
    {ServiceMode::Qualified, A::Submit, M::EidNotified, L::Low, false, "identification_method_not_accepted"},
    {ServiceMode::Qualified, A::Submit, M::EudiWallet, L::Substantial, true, ""},
    {ServiceMode::Qualified, A::Submit, M::NcpCertificate, L::Substantial, true, ""},
    {ServiceMode::Qualified, A::Submit, M::QualifiedCertificate, L::High, true, ""},
    {ServiceMode::Qualified, A::Submit, M::CabConfirmedRemote, L::Substantial, true, ""},
    // basic: levels only
    {ServiceMode::Basic, A::Handover, M::RemoteIdDocumentScan, L::Substantial, true, ""},
    {ServiceMode::Basic, A::Handover, M::RemoteIdDocumentScan, L::Low, true, ""},
    {ServiceMode::Basic, A::Submit, M::RemoteIdDocumentScan, L::Substantial, true, ""},
    {ServiceMode::Basic, A::Submit, M::RemoteIdDocumentScan, L::Low, false, "identification_level_too_low"},
    {ServiceMode::Basic, A::Submit, M::NcpCertificate, L::High, true, ""},
    // development: levels only, sender substantial by default
    {ServiceMode::Development, A::Handover, M::RemoteIdDocumentScan, L::Low, true, ""},
    {ServiceMode::Development, A::Submit, M::EidNotified, L::Low, false, "identification_level_too_low"},
    {ServiceMode::Development, A::Submit, M::PhysicalPresence, L::Substantial, true, ""},
};

TEST(GateTest, MethodRoleProfileMatrix) {
  for (const MatrixCase& c : kMatrix) {
    IdentityGate gate(builtinGatePolicy(c.mode));
    GateRequest req;
    req.action = c.action;
    req.identifications = {ident(c.method, c.level)};
    req.authentication = mfa();
    GateDecision d = gate.decide(req, kNow);
    std::string label = modeLabel(c.mode) + "/" + std::string(gateActionName(c.action)) + "/" +
                        std::string(identificationMethodName(c.method)) + "/" + std::string(levelName(c.level));
    EXPECT_EQ(d.allowed, c.allowed) << label << " -> " << d.code;
    EXPECT_EQ(d.code, c.code) << label;
    if (d.allowed) {
      ASSERT_TRUE(d.usedIdentification.has_value()) << label;
      EXPECT_EQ(d.usedIdentification->method, c.method);
    } else {
      EXPECT_FALSE(d.advice.empty()) << label;
    }
  }
}

TEST(GateTest, IdScanRecipientRefusedInQualifiedAllowedInBasicWithAdvice) {
  GateRequest req;
  req.action = A::Handover;
  req.identifications = {ident(M::RemoteIdDocumentScan, L::Substantial)};
  req.authentication = mfa();
  GateDecision q = IdentityGate(builtinGatePolicy(ServiceMode::Qualified)).decide(req, kNow);
  EXPECT_FALSE(q.allowed);
  EXPECT_NE(q.advice.find("in person"), std::string::npos);
  EXPECT_NE(q.advice.find("qualified signature or seal certificate"), std::string::npos);
  EXPECT_TRUE(IdentityGate(builtinGatePolicy(ServiceMode::Basic)).decide(req, kNow).allowed);
}

TEST(GateTest, StrongAuthenticationRequiredInQualifiedOnly) {
  GateRequest req;
  req.action = A::Submit;
  req.identifications = {ident(M::PhysicalPresence, L::High)};
  for (auto auth : {passwordOnly(), AuthenticationContext{L::Low, {AuthenticationMethod::RecoveryCode}, kNow},
                    AuthenticationContext{L::Low, {AuthenticationMethod::ApplicationToken}, kNow}}) {
    req.authentication = auth;
    GateDecision d = IdentityGate(builtinGatePolicy(ServiceMode::Qualified)).decide(req, kNow);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.code, "strong_authentication_required");
    EXPECT_TRUE(IdentityGate(builtinGatePolicy(ServiceMode::Basic)).decide(req, kNow).allowed);
  }
  for (auto m : {AuthenticationMethod::PasswordTotp, AuthenticationMethod::ClientCertificate,
                 AuthenticationMethod::QualifiedCertificate}) {
    req.authentication = {authenticationLevel(m), {m}, kNow};
    EXPECT_TRUE(IdentityGate(builtinGatePolicy(ServiceMode::Qualified)).decide(req, kNow).allowed);
  }
  req.action = A::Handover;
  req.authentication = passwordOnly();
  EXPECT_EQ(IdentityGate(builtinGatePolicy(ServiceMode::Qualified)).decide(req, kNow).code,
            "strong_authentication_required");
}

TEST(GateTest, HandoverLevelIsStricterOfProfileAndMessage) {
  GateRequest req;
  req.action = A::Handover;
  req.authentication = mfa();
  req.identifications = {ident(M::PhysicalPresence, L::Substantial)};
  IdentityGate basic(builtinGatePolicy(ServiceMode::Basic));
  req.messageRequiredLevel = L::None;
  GateDecision d = basic.decide(req, kNow);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.requiredLevel, L::Low);  // profile wins
  req.messageRequiredLevel = L::High;
  d = basic.decide(req, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.requiredLevel, L::High);  // message wins
  EXPECT_EQ(d.code, "identification_level_too_low");
  EXPECT_NE(d.advice.find("level high"), std::string::npos);
  // Qualified: physical presence accepted as a method, but the message demands high.
  IdentityGate qualified(builtinGatePolicy(ServiceMode::Qualified));
  EXPECT_EQ(qualified.decide(req, kNow).code, "identification_level_too_low");
  req.identifications.push_back(ident(M::PhysicalPresence, L::High));
  d = qualified.decide(req, kNow);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.usedIdentification->level, L::High);
}

TEST(GateTest, UnidentifiedParty) {
  GateRequest req;
  req.authentication = mfa();
  req.action = A::Handover;
  // Development: a recipient with no identification gets a message that asks for none.
  EXPECT_TRUE(IdentityGate(builtinGatePolicy(ServiceMode::Development)).decide(req, kNow).allowed);
  req.messageRequiredLevel = L::Substantial;
  EXPECT_EQ(IdentityGate(builtinGatePolicy(ServiceMode::Development)).decide(req, kNow).code,
            "identification_required");
  req.messageRequiredLevel = L::None;
  EXPECT_EQ(IdentityGate(builtinGatePolicy(ServiceMode::Basic)).decide(req, kNow).code, "identification_required");
  EXPECT_EQ(IdentityGate(builtinGatePolicy(ServiceMode::Qualified)).decide(req, kNow).code, "identification_required");
  req.action = A::Submit;
  EXPECT_EQ(IdentityGate(builtinGatePolicy(ServiceMode::Development)).decide(req, kNow).code,
            "identification_required");
}

TEST(GateTest, RevokedOrExpiredIdentificationDoesNotCount) {
  GateRequest req;
  req.action = A::Submit;
  req.authentication = mfa();
  Identification revoked = ident(M::PhysicalPresence, L::High);
  revoked.revoked = true;
  Identification expired = ident(M::PhysicalPresence, L::High);
  expired.validUntil = kNow - 1s;
  req.identifications = {revoked, expired};
  IdentityGate gate(builtinGatePolicy(ServiceMode::Qualified));
  EXPECT_EQ(gate.decide(req, kNow).code, "identification_required");
  expired.validUntil = kNow + 1s;
  req.identifications = {revoked, expired};
  EXPECT_TRUE(gate.decide(req, kNow).allowed);
}


// ---- gatePolicyFromConfig ----

Config configWith(ServiceMode mode, std::vector<std::pair<std::string, std::string>> keys) {
  auto cfg = Config::load("", {});
  EXPECT_TRUE(cfg.has_value());
  EXPECT_TRUE(cfg->setForTest("service.mode", modeLabel(mode)).has_value());
  for (const auto& [k, v] : keys) EXPECT_TRUE(cfg->setForTest(k, v).has_value()) << k;
  return std::move(*cfg);
}

TEST(GatePolicyFromConfigTest, WithoutOverridesIsTheBuiltinProfile) {
  for (ServiceMode m : {ServiceMode::Development, ServiceMode::Basic, ServiceMode::Qualified}) {
    auto p = gatePolicyFromConfig(configWith(m, {}));
    ASSERT_TRUE(p.has_value()) << p.error().message;
    GatePolicy b = builtinGatePolicy(m);
    EXPECT_EQ(p->profile, b.profile);
    EXPECT_EQ(p->submit.minLevel, b.submit.minLevel);
    EXPECT_EQ(p->handover.minLevel, b.handover.minLevel);
    EXPECT_EQ(p->submit.acceptedMethods.size(), b.submit.acceptedMethods.size());
    EXPECT_EQ(p->handover.requireStrongAuthentication, b.handover.requireStrongAuthentication);
  }
}

TEST(GatePolicyFromConfigTest, EachOverrideIsApplied) {
  auto p = gatePolicyFromConfig(configWith(ServiceMode::Basic, {{"identity.sender_min_level", "high"},
                                                                {"identity.recipient_min_level", "substantial"},
                                                                {"identity.require_strong_authentication", "true"},
                                                                {"identity.submit_methods", "physical_presence, eudi_wallet"},
                                                                {"identity.handover_methods", "remote_id_document_scan"}}));
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->profile, "basic");
  EXPECT_EQ(p->submit.minLevel, L::High);
  EXPECT_EQ(p->handover.minLevel, L::Substantial);
  EXPECT_TRUE(p->submit.requireStrongAuthentication);
  EXPECT_TRUE(p->handover.requireStrongAuthentication);
  ASSERT_EQ(p->submit.acceptedMethods.size(), 2u);
  EXPECT_EQ(p->submit.acceptedMethods[0].method, M::PhysicalPresence);
  EXPECT_EQ(p->submit.acceptedMethods[1].method, M::EudiWallet);
  ASSERT_EQ(p->handover.acceptedMethods.size(), 1u);
  EXPECT_EQ(p->handover.acceptedMethods[0].method, M::RemoteIdDocumentScan);

  // The gate enforces the overrides: a scan at substantial is no longer enough to submit.
  IdentityGate gate(*p);
  GateRequest req;
  req.action = A::Submit;
  req.identifications = {ident(M::RemoteIdDocumentScan, L::High)};
  req.authentication = mfa();
  EXPECT_EQ(gate.decide(req, kNow).code, "identification_method_not_accepted");
  req.identifications = {ident(M::PhysicalPresence, L::Substantial)};
  EXPECT_EQ(gate.decide(req, kNow).code, "identification_level_too_low");
  req.identifications = {ident(M::PhysicalPresence, L::High)};
  req.authentication = passwordOnly();
  EXPECT_EQ(gate.decide(req, kNow).code, "strong_authentication_required");
  req.authentication = mfa();
  EXPECT_TRUE(gate.decide(req, kNow).allowed);
}

TEST(GatePolicyFromConfigTest, DevelopmentMayBeRelaxed) {
  auto p = gatePolicyFromConfig(configWith(ServiceMode::Development, {{"identity.sender_min_level", "none"},
                                                                      {"identity.require_strong_authentication", "false"}}));
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->submit.minLevel, L::None);
  EXPECT_FALSE(p->submit.requireStrongAuthentication);
}

TEST(GatePolicyFromConfigTest, QualifiedMayBeTightened) {
  auto p = gatePolicyFromConfig(configWith(ServiceMode::Qualified, {{"identity.sender_min_level", "substantial"},
                                                                    {"identity.recipient_min_level", "high"},
                                                                    {"identity.require_strong_authentication", "true"},
                                                                    {"identity.handover_methods", "physical_presence,eid_notified"}}));
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->submit.minLevel, L::Substantial);
  EXPECT_EQ(p->handover.minLevel, L::High);
  ASSERT_EQ(p->handover.acceptedMethods.size(), 2u);
  // eid_notified keeps the profile's own minimum (high).
  EXPECT_EQ(p->handover.acceptedMethods[1].method, M::EidNotified);
  EXPECT_EQ(p->handover.acceptedMethods[1].minLevel, L::High);
}

TEST(GatePolicyFromConfigTest, QualifiedRefusesWeakening) {
  const std::vector<std::pair<std::string, std::string>> weakening[] = {
      {{"identity.sender_min_level", "none"}},
      {{"identity.recipient_min_level", "none"}},
      {{"identity.require_strong_authentication", "false"}},
      {{"identity.handover_methods", "physical_presence,remote_id_document_scan"}},
      {{"identity.submit_methods", "remote_id_document_scan"}},
  };
  for (const auto& keys : weakening) {
    auto p = gatePolicyFromConfig(configWith(ServiceMode::Qualified, keys));
    ASSERT_FALSE(p.has_value()) << keys[0].first;
    EXPECT_TRUE(p.error().is(ErrorCode::InvalidInput));
    EXPECT_NE(p.error().message.find(keys[0].first), std::string::npos) << p.error().message;
    EXPECT_EQ(p.error().message.find('\n'), std::string::npos);
  }
}

TEST(GatePolicyFromConfigTest, UnknownMethodIsAConfigError) {
  auto p = gatePolicyFromConfig(configWith(ServiceMode::Basic, {{"identity.submit_methods", "physical_presence,telepathy"}}));
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message.find("identity.submit_methods"), std::string::npos);
  EXPECT_NE(p.error().message.find("telepathy"), std::string::npos);
}

}  // namespace
}  // namespace erds::identity
