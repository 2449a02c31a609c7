#include "erds/identity/party.h"

#include <algorithm>
#include <array>
#include <utility>

namespace erds::identity {
namespace {

template <typename E, std::size_t N>
std::string_view nameOf(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [e, n] : table) {
    if (e == v) return n;
  }
  return "unknown";
}

template <typename E, std::size_t N>
Result<E> parseOf(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s,
                  std::string_view what) {
  for (const auto& [e, n] : table) {
    if (n == s) return e;
  }
  return Error::invalidInput("unknown " + std::string(what) + " \"" + std::string(s.substr(0, 64)) + "\"");
}

constexpr std::array<std::pair<PartyKind, std::string_view>, 2> kKinds{{
    {PartyKind::Natural, "natural"}, {PartyKind::Legal, "legal"}}};
constexpr std::array<std::pair<Role, std::string_view>, 3> kRoles{{
    {Role::User, "user"}, {Role::Officer, "officer"}, {Role::Admin, "admin"}}};
constexpr std::array<std::pair<LevelOfAssurance, std::string_view>, 4> kLevels{{
    {LevelOfAssurance::None, "none"},
    {LevelOfAssurance::Low, "low"},
    {LevelOfAssurance::Substantial, "substantial"},
    {LevelOfAssurance::High, "high"}}};
constexpr std::array<std::pair<IdentificationMethod, std::string_view>, 7> kIdMethods{{
    {IdentificationMethod::PhysicalPresence, "physical_presence"},
    {IdentificationMethod::RemoteIdDocumentScan, "remote_id_document_scan"},
    {IdentificationMethod::QualifiedCertificate, "qualified_certificate"},
    {IdentificationMethod::NcpCertificate, "ncp_certificate"},
    {IdentificationMethod::EidNotified, "eid_notified"},
    {IdentificationMethod::EudiWallet, "eudi_wallet"},
    {IdentificationMethod::CabConfirmedRemote, "cab_confirmed_remote"}}};
constexpr std::array<std::pair<AuthenticationMethod, std::string_view>, 6> kAuthMethods{{
    {AuthenticationMethod::Password, "password"},
    {AuthenticationMethod::PasswordTotp, "password_totp"},
    {AuthenticationMethod::RecoveryCode, "recovery_code"},
    {AuthenticationMethod::ClientCertificate, "client_certificate"},
    {AuthenticationMethod::QualifiedCertificate, "qualified_certificate"},
    {AuthenticationMethod::ApplicationToken, "application_token"}}};

}  // namespace

std::string_view partyKindName(PartyKind k) { return nameOf(kKinds, k); }
std::string_view roleName(Role r) { return nameOf(kRoles, r); }
std::string_view levelName(LevelOfAssurance l) { return nameOf(kLevels, l); }
std::string_view identificationMethodName(IdentificationMethod m) { return nameOf(kIdMethods, m); }
std::string_view authenticationMethodName(AuthenticationMethod m) { return nameOf(kAuthMethods, m); }

Result<PartyKind> parsePartyKind(std::string_view s) { return parseOf(kKinds, s, "party kind"); }
Result<Role> parseRole(std::string_view s) { return parseOf(kRoles, s, "role"); }
Result<LevelOfAssurance> parseLevel(std::string_view s) { return parseOf(kLevels, s, "level of assurance"); }
Result<IdentificationMethod> parseIdentificationMethod(std::string_view s) {
  return parseOf(kIdMethods, s, "identification method");
}
Result<AuthenticationMethod> parseAuthenticationMethod(std::string_view s) {
  return parseOf(kAuthMethods, s, "authentication method");
}

LevelOfAssurance authenticationLevel(AuthenticationMethod m) {
  switch (m) {
    case AuthenticationMethod::PasswordTotp:
    case AuthenticationMethod::ClientCertificate:
      return LevelOfAssurance::Substantial;
    case AuthenticationMethod::QualifiedCertificate:
      return LevelOfAssurance::High;
    case AuthenticationMethod::Password:
    case AuthenticationMethod::RecoveryCode:
    case AuthenticationMethod::ApplicationToken:
      return LevelOfAssurance::Low;
  }
  return LevelOfAssurance::None;
}

bool isStrongAuthentication(AuthenticationMethod m) {
  return m == AuthenticationMethod::PasswordTotp || m == AuthenticationMethod::ClientCertificate ||
         m == AuthenticationMethod::QualifiedCertificate;
}

std::string AuthenticationContext::methodUri() const {
  std::string out = "urn:erds:authn:";
  for (std::size_t i = 0; i < methods.size(); ++i)
    out += (i > 0 ? "+" : "") + std::string(authenticationMethodName(methods[i]));
  if (methods.empty()) out += "unknown";
  return out;
}

std::string AuthenticationContext::levelUri() const {
  LevelOfAssurance best = level;
  if (level == LevelOfAssurance::None) {
    for (AuthenticationMethod m : methods) best = std::max(best, authenticationLevel(m));
  }
  best = std::max(best, LevelOfAssurance::Low);
  return "http://eidas.europa.eu/LoA/" + std::string(levelName(best));
}

bool AuthenticationContext::strong() const {
  for (AuthenticationMethod m : methods) {
    if (isStrongAuthentication(m)) return true;
  }
  return false;
}

}  // namespace erds::identity
