// The identity model: parties (natural or legal persons with their eIDAS minimum data set), roles,
// levels of assurance, how a party was identified and how it authenticated.
// Pure value types; names and parsers give the stable lower_snake_case spellings used in storage,
// configuration, logs and evidence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"

namespace erds::identity {

enum class PartyKind { Natural, Legal };

enum class Role : uint8_t { User = 1, Officer = 2, Admin = 4 };

// eIDAS levels of assurance (Regulation (EU) 2015/1502), ordered: None < Low < Substantial < High.
enum class LevelOfAssurance { None = 0, Low = 1, Substantial = 2, High = 3 };

// How a party's identity was verified (Implementing Regulation (EU) 2025/1944, Annex I 5.2.1.1).
enum class IdentificationMethod {
  PhysicalPresence,      // an officer checked an identity document face to face
  RemoteIdDocumentScan,  // an officer reviewed a scan of an identity document (never enough alone
                         // for a qualified handover)
  QualifiedCertificate,  // a qualified electronic signature or seal certificate
  NcpCertificate,        // an advanced signature/seal certificate issued under NCP (EN 319 411-1)
  EidNotified,           // a notified eID scheme; the Identification's level is the scheme's level
  EudiWallet,            // the European Digital Identity Wallet
  CabConfirmedRemote,    // a remote method confirmed by the conformity assessment body
};

// How a party proved, for one session, that it is the party.
enum class AuthenticationMethod {
  Password,              // password only (single factor)
  PasswordTotp,          // password + RFC 6238 code (multi-factor)
  RecoveryCode,          // password + single-use recovery code (lowered level)
  ClientCertificate,     // TLS client certificate validated against the configured anchors
  QualifiedCertificate,  // qualified certificate (mutual TLS or a signed challenge)
  ApplicationToken,      // an API token issued to the party
};

std::string_view partyKindName(PartyKind k);
std::string_view roleName(Role r);
std::string_view levelName(LevelOfAssurance l);
std::string_view identificationMethodName(IdentificationMethod m);
std::string_view authenticationMethodName(AuthenticationMethod m);
// Parsers accept exactly the names above; InvalidInput otherwise (the message quotes the input).
Result<PartyKind> parsePartyKind(std::string_view s);
Result<Role> parseRole(std::string_view s);
Result<LevelOfAssurance> parseLevel(std::string_view s);
Result<IdentificationMethod> parseIdentificationMethod(std::string_view s);
Result<AuthenticationMethod> parseAuthenticationMethod(std::string_view s);

inline bool atLeast(LevelOfAssurance have, LevelOfAssurance need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}
inline LevelOfAssurance stricter(LevelOfAssurance a, LevelOfAssurance b) { return atLeast(a, b) ? a : b; }

// The authentication level one method reaches on its own: Password, RecoveryCode, ApplicationToken ->
// Low; PasswordTotp, ClientCertificate -> Substantial; QualifiedCertificate -> High.
LevelOfAssurance authenticationLevel(AuthenticationMethod m);
// True for methods that are multi-factor or certificate-based (2025/1944 Annex I 5.2.2-03/-03A):
// PasswordTotp, ClientCertificate, QualifiedCertificate. A recovery code is deliberately not.
bool isStrongAuthentication(AuthenticationMethod m);

// A set of roles (bit mask of Role values).
class RoleSet {
 public:
  RoleSet() = default;
  RoleSet(std::initializer_list<Role> roles) {
    for (Role r : roles) add(r);
  }
  void add(Role r) { bits_ |= static_cast<uint8_t>(r); }
  void remove(Role r) { bits_ &= static_cast<uint8_t>(~static_cast<uint8_t>(r)); }
  bool has(Role r) const { return (bits_ & static_cast<uint8_t>(r)) != 0; }
  uint8_t bits() const { return bits_; }
  bool operator==(const RoleSet&) const = default;

 private:
  uint8_t bits_ = 0;
};

// eIDAS minimum data set, natural person (2015/1501 Annex). DateOfBirth is "YYYY-MM-DD".
struct NaturalPersonAttributes {
  std::string familyName;
  std::string firstName;
  std::string dateOfBirth;
  std::string personIdentifier;  // unique, persistent (e.g. "BE/BE/123456"); "" until identified
};

// eIDAS minimum data set, legal person.
struct LegalPersonAttributes {
  std::string legalName;
  std::string legalPersonIdentifier;
};

struct Party {
  std::string id;  // opaque, stable
  PartyKind kind = PartyKind::Natural;
  RoleSet roles{Role::User};
  std::optional<NaturalPersonAttributes> natural;  // set iff kind == Natural (may be partial)
  std::optional<LegalPersonAttributes> legal;      // set iff kind == Legal
  TimePoint createdAt{};
};

// One completed identity verification of a party. The gate and the evidence (I10-I13) read it.
struct Identification {
  std::string id;
  std::string partyId;
  IdentificationMethod method = IdentificationMethod::PhysicalPresence;
  LevelOfAssurance level = LevelOfAssurance::None;
  TimePoint at{};
  std::optional<TimePoint> validUntil;  // e.g. the identity document's expiry; none = no limit
  std::vector<std::string> officerIds;  // officers who approved (empty for automatic methods)
  std::string verificationRequestId;    // "" for automatic methods (certificate, wallet, eID)
  bool revoked = false;
};

// What the party proved in the current session.
struct AuthenticationContext {
  LevelOfAssurance level = LevelOfAssurance::None;
  std::vector<AuthenticationMethod> methods;
  TimePoint at{};
  bool strong() const;  // any method is isStrongAuthentication()
  // For evidence (EN 319 522-2 I10/I11): "urn:erds:authn:" + the method names joined by '+'
  // ("unknown" when none), and the eIDAS level URI "http://eidas.europa.eu/LoA/<level>" of the level
  // granted, or, when none was granted (a certificate step on its own), of the best level the
  // methods reach by themselves; never below low.
  std::string methodUri() const;
  std::string levelUri() const;
};

}  // namespace erds::identity
