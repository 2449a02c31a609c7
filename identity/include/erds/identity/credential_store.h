// CredentialStore: the storage port for what a password login needs to know about an account
// (party, Argon2id hash, whether TOTP is enrolled). The PostgreSQL implementation comes with the
// identity migrations; the in-memory fake lives in identity/testing.
#pragma once

#include <optional>
#include <string>

#include "erds/base/result.h"

namespace erds::identity {

struct Credentials {
  std::string partyId;
  std::string passwordHash;  // PHC string (Argon2id)
  bool totpEnrolled = false;
  bool disabled = false;     // an administrator disabled the account
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // The credentials bound to a login identifier ("mailto:..."), matched case-insensitively;
  // nullopt when no account has it. Unavailable on storage failure.
  virtual Result<std::optional<Credentials>> findByIdentifier(const std::string& identifier) = 0;
  // Replaces the party's password hash (rehash with current parameters, password change).
  virtual Result<void> setPasswordHash(const std::string& partyId, const std::string& phc) = 0;
};

}  // namespace erds::identity
