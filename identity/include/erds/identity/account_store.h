// AccountStore: the storage port for parties and what belongs to them besides passwords and second
// factors: roles, login identifiers, delivery identifier bindings (proof of control), recorded
// identifications and the party's own verification requests. PostgreSQL implementation in
// postgres_stores.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/identity/party.h"
#include "erds/identity/verification.h"

namespace erds::identity {

// The key identifier_bindings.identifier holds for `identifier` (ASCII lower case), e.g. for a
// caller that looks the binding up in its own statement (core::RecipientSpec::bindingKey).
std::string bindingKey(std::string identifier);

enum class BindingStatus { Pending, Bound, Released };
std::string_view bindingStatusName(BindingStatus s);

// A delivery identifier ("mailto:...", lower-cased) claimed by a party. It is Bound only after the
// party proved control with the code sent to it; at most one party has an identifier Bound.
struct IdentifierBinding {
  std::string id;
  std::string identifier;
  std::string partyId;
  BindingStatus status = BindingStatus::Pending;
  TimePoint createdAt{};
  std::optional<TimePoint> boundAt;
  TimePoint codeExpiresAt{};
};

// Proof-of-control codes: at most this many wrong attempts per code, then a new code is needed.
inline constexpr int kMaxIdentifierCodeAttempts = 5;

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Creates the party and its password credentials. `loginIdentifier` is stored lower-cased.
  // Conflict if the login identifier (or the party id) exists; Unavailable on storage failure.
  virtual Result<void> createAccount(const Party& party, const std::string& loginIdentifier,
                                     const std::string& passwordHash) = 0;
  // NotFound if absent. `disabled` receives the account's disabled flag when not null.
  virtual Result<Party> findParty(const std::string& partyId, bool* disabled = nullptr) = 0;
  // Oldest first, at most `limit` from `offset`.
  virtual Result<std::vector<Party>> listParties(int limit, int offset) = 0;
  // NotFound if the party does not exist.
  virtual Result<void> setRoles(const std::string& partyId, RoleSet roles) = 0;
  virtual Result<void> setDisabled(const std::string& partyId, bool disabled) = 0;
  // NotFound if the party has no password credentials.
  virtual Result<std::string> loginIdentifierOf(const std::string& partyId) = 0;

  // TOTP enrolment state: a seed is set (SecondFactorStore::setTotpSeed, unconfirmed) and becomes
  // effective for logins once confirmed with a first valid code. NotFound without a seed.
  virtual Result<bool> totpConfirmed(const std::string& partyId) = 0;
  virtual Result<void> confirmTotp(const std::string& partyId) = 0;

  // Starts (or restarts, with a new code) the party's claim of `identifier`. Conflict if the party
  // already has it bound. The code is stored only as `codeHash` (SHA-256).
  virtual Result<IdentifierBinding> claimIdentifier(const std::string& partyId, const std::string& identifier,
                                                    const std::string& codeHash, TimePoint codeExpiresAt,
                                                    TimePoint now) = 0;
  // Pending and bound identifiers of the party (released ones omitted), oldest first.
  virtual Result<std::vector<IdentifierBinding>> bindingsOf(const std::string& partyId) = 0;
  // Binds the claim `bindingId` of `partyId` if `codeHash` matches an unexpired code. NotFound if
  // the claim is not the party's (or not pending); Unauthorized for a wrong or expired code or
  // after kMaxIdentifierCodeAttempts wrong ones (every wrong code counts); Conflict if another
  // party has the identifier bound.
  virtual Result<IdentifierBinding> confirmIdentifier(const std::string& partyId, const std::string& bindingId,
                                                      const std::string& codeHash, TimePoint now) = 0;
  // The party the identifier is bound to now (what a handover must go to); nullopt if none.
  // The lookup is by bindingKey(identifier).
  virtual Result<std::optional<std::string>> partyBoundTo(const std::string& identifier) = 0;

  // Records an identification that needs no officer workflow (certificate, eID, seeding).
  virtual Result<void> recordIdentification(const Identification& identification) = 0;
  // The party's own verification requests, newest first.
  virtual Result<std::vector<VerificationRequest>> verificationRequestsOf(const std::string& partyId) = 0;
};

}  // namespace erds::identity
