// PostgreSQL implementations of the identity storage ports (tables of migration 0003_identity).
// Each store borrows connections from a pg::Pool per call, so all are thread-safe, and every
// node reads the same rows: a revoked session is refused by every node on its next check.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/pg.h"
#include "erds/identity/account_store.h"
#include "erds/identity/credential_store.h"
#include "erds/identity/login_throttle.h"
#include "erds/identity/session.h"
#include "erds/identity/totp.h"
#include "erds/identity/verification.h"

namespace erds::identity {

// Errors of every store: Unavailable when the database is unreachable or busy; Internal for an
// unexpected database error; the port-specific ones as documented on the port.

class PostgresCredentialStore final : public CredentialStore {
 public:
  explicit PostgresCredentialStore(pg::Pool& pool) : pool_(pool) {}
  // Credentials.totpEnrolled is true only for a confirmed TOTP enrolment; disabled mirrors
  // parties.disabled.
  Result<std::optional<Credentials>> findByIdentifier(const std::string& identifier) override;
  Result<void> setPasswordHash(const std::string& partyId, const std::string& phc) override;

 private:
  pg::Pool& pool_;
};

// TOTP seeds are wrapped under the KEK with context "totp:<party id>", so a seed row copied to
// another party does not decrypt.
class PostgresSecondFactorStore final : public SecondFactorStore {
 public:
  PostgresSecondFactorStore(pg::Pool& pool, const crypto::KeyEncryptionKey& kek) : pool_(pool), kek_(kek) {}
  // Sets an UNCONFIRMED seed (AccountStore::confirmTotp makes it effective) and clears last_step.
  Result<void> setTotpSeed(const std::string& partyId, const Secret& seed) override;
  Result<Secret> totpSeed(const std::string& partyId) override;  // IntegrityFailure if unwrap fails
  Result<bool> advanceTotpStep(const std::string& partyId, int64_t step) override;
  Result<void> replaceRecoveryCodes(const std::string& partyId, std::vector<std::string> hashes) override;
  Result<bool> consumeRecoveryCode(const std::string& partyId, const std::string& hash) override;
  Result<int> remainingRecoveryCodes(const std::string& partyId) override;

 private:
  pg::Pool& pool_;
  const crypto::KeyEncryptionKey& kek_;
};

// Reads the row on every find() (no cache), so revocation is immediate on every node.
class PostgresSessionStore final : public SessionStore {
 public:
  // `idleTimeout` only fills sessions.idle_expires_at (for housekeeping and operators); the
  // SessionManager's policy decides.
  PostgresSessionStore(pg::Pool& pool, std::chrono::seconds idleTimeout) : pool_(pool), idle_(idleTimeout) {}
  Result<void> insert(const Session& s) override;
  Result<Session> find(const std::string& tokenHash) override;
  Result<void> touch(const std::string& tokenHash, TimePoint lastSeenAt) override;
  Result<void> revoke(const std::string& tokenHash) override;
  Result<int> revokeAllOf(const std::string& partyId) override;
  // Deletes sessions whose absolute expiry is before `cutoff`; returns how many.
  Result<int64_t> purgeExpired(TimePoint cutoff);

 private:
  pg::Pool& pool_;
  std::chrono::seconds idle_;
};

// update() runs SELECT ... FOR UPDATE in a transaction, so concurrent failures on several nodes
// are all counted.
class PostgresThrottleStore final : public ThrottleStore {
 public:
  explicit PostgresThrottleStore(pg::Pool& pool) : pool_(pool) {}
  Result<ThrottleState> load(const std::string& key) override;
  Result<ThrottleState> update(const std::string& key,
                               const std::function<ThrottleState(const ThrottleState&)>& fn) override;
  Result<void> reset(const std::string& key) override;

 private:
  pg::Pool& pool_;
};

// update() writes the request, its document, new approvals, the identification (if any) and an
// audit record ("identity.verification.<status>", actor = the deciding officer) in one
// transaction.
class PostgresVerificationStore final : public VerificationStore {
 public:
  PostgresVerificationStore(pg::Pool& pool, const AuditLog& audit) : pool_(pool), audit_(audit) {}
  Result<void> create(const VerificationRequest& r) override;
  Result<VerificationRequest> find(const std::string& id) override;
  Result<void> update(const VerificationRequest& r, int64_t expectedVersion,
                      const std::optional<Identification>& identification) override;
  Result<std::vector<VerificationRequest>> openRequests() override;
  Result<std::vector<Identification>> identificationsOf(const std::string& partyId) override;

  // Data minimisation: clears the encrypted document scan (and its media type) of every document
  // whose scan_purge_after is at or before `now`, keeping the decision record (request, document
  // type, number hash, approvals, identification). One audit record per purged scan
  // ("identity.verification.scan_purged", actor system:erdsd) in the same transaction. Returns
  // how many scans were purged. Idempotent; safe to run on several nodes at once.
  Result<int64_t> purgeExpiredScans(TimePoint now);

 private:
  pg::Pool& pool_;
  const AuditLog& audit_;
};

class PostgresAccountStore final : public AccountStore {
 public:
  explicit PostgresAccountStore(pg::Pool& pool) : pool_(pool) {}
  Result<void> createAccount(const Party& party, const std::string& loginIdentifier,
                             const std::string& passwordHash) override;
  Result<Party> findParty(const std::string& partyId, bool* disabled = nullptr) override;
  Result<std::vector<Party>> listParties(int limit, int offset) override;
  Result<void> setRoles(const std::string& partyId, RoleSet roles) override;
  Result<void> setDisabled(const std::string& partyId, bool disabled) override;
  Result<std::string> loginIdentifierOf(const std::string& partyId) override;
  Result<bool> totpConfirmed(const std::string& partyId) override;
  Result<void> confirmTotp(const std::string& partyId) override;
  Result<IdentifierBinding> claimIdentifier(const std::string& partyId, const std::string& identifier,
                                            const std::string& codeHash, TimePoint codeExpiresAt,
                                            TimePoint now) override;
  Result<std::vector<IdentifierBinding>> bindingsOf(const std::string& partyId) override;
  Result<IdentifierBinding> confirmIdentifier(const std::string& partyId, const std::string& bindingId,
                                              const std::string& codeHash, TimePoint now) override;
  Result<std::optional<std::string>> partyBoundTo(const std::string& identifier) override;
  Result<void> recordIdentification(const Identification& identification) override;
  Result<std::vector<VerificationRequest>> verificationRequestsOf(const std::string& partyId) override;

 private:
  pg::Pool& pool_;
};

}  // namespace erds::identity
