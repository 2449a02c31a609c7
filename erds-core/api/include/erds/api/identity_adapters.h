// Adapters of the message API's ports (ports.h) over erds::identity: the HTTP authentication helper
// and the PostgreSQL identity stores.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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
// What a caller is (senderIdentifierOf, identificationsOf) is cached per party for kCallerCacheTtl,
// so a bulk sender's submissions do not re-read it each time: a change (a binding or an
// identification revoked) takes effect at most that long later. partyBoundTo() (where a recipient's
// message goes) is never cached.
class PostgresPartyDirectory final : public PartyDirectory {
 public:
  static constexpr std::chrono::milliseconds kCallerCacheTtl{1000};
  static constexpr std::size_t kCallerCacheMaxParties = 4096;

  PostgresPartyDirectory(pg::Pool& pool, const AuditLog& audit) : accounts_(pool), verifications_(pool, audit) {}
  Result<std::optional<std::string>> partyBoundTo(const std::string& identifier) override;
  Result<std::vector<identity::Identification>> identificationsOf(const std::string& partyId) override;
  Result<std::string> senderIdentifierOf(const std::string& partyId) override;

 private:
  Result<std::string> readSenderIdentifier(const std::string& partyId);
  template <class T>
  struct Cached {
    T value;
    std::chrono::steady_clock::time_point until;
  };
  identity::PostgresAccountStore accounts_;
  identity::PostgresVerificationStore verifications_;
  std::mutex mu_;
  std::unordered_map<std::string, Cached<std::string>> senders_;
  std::unordered_map<std::string, Cached<std::vector<identity::Identification>>> identifications_;
};

}  // namespace erds::api
