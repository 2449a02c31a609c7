// Adapters of the message API's ports (ports.h) over erds::identity: the HTTP authentication helper
// and the PostgreSQL identity stores.
#pragma once

#include "erds/api/ports.h"
#include "erds/base/audit.h"
#include "erds/base/pg.h"
#include "erds/identity/http_auth.h"
#include "erds/identity/postgres_stores.h"

namespace erds::api {

// Thread-safe. `auth` must outlive the adapter.
class IdentityCallerAuthenticator final : public CallerAuthenticator {
 public:
  explicit IdentityCallerAuthenticator(const identity::HttpAuthenticator& auth) : auth_(auth) {}
  Result<Caller> authenticate(const http::Request& request) const override;

 private:
  const identity::HttpAuthenticator& auth_;
};

// Thread-safe (each call borrows a pooled connection). `pool` and `audit` must outlive it.
class PostgresPartyDirectory final : public PartyDirectory {
 public:
  PostgresPartyDirectory(pg::Pool& pool, const AuditLog& audit) : accounts_(pool), verifications_(pool, audit) {}
  Result<std::optional<std::string>> partyBoundTo(const std::string& identifier) override;
  Result<std::vector<identity::Identification>> identificationsOf(const std::string& partyId) override;
  Result<std::string> senderIdentifierOf(const std::string& partyId) override;

 private:
  identity::PostgresAccountStore accounts_;
  identity::PostgresVerificationStore verifications_;
};

}  // namespace erds::api
