// IdentityAuthenticator: the Authenticator port over the identity component's PostgreSQL stores:
// AUTH PLAIN/LOGIN through identity::PasswordLogin (throttle, Argon2id, no enumeration) and MAIL
// FROM through the party's bound delivery identifiers (AccountStore::partyBoundTo).
#pragma once

#include <memory>
#include <string>

#include "erds/base/aead.h"
#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/smtp/authenticator.h"

namespace erds::smtp {

// Thread-safe. `pool` and `clock` must outlive it.
class IdentityAuthenticator final : public Authenticator {
 public:
  // Reads identity.argon2_* from `config`; `kek` unwraps TOTP seeds (an account with TOTP enrolled
  // cannot use SMTP AUTH: SMTP has no second-factor step, so it is refused as Unauthorized).
  // Password AUTH is refused under service.mode=qualified (EN 319 522 gate; the certificate path is
  // required there). Errors: InvalidInput (bad argon2 parameters, naming the key).
  static Result<std::unique_ptr<IdentityAuthenticator>> create(const Config& config, pg::Pool& pool,
                                                               crypto::KeyEncryptionKey kek, const Clock& clock);
  ~IdentityAuthenticator() override;

  Result<AuthenticatedParty> authenticatePassword(std::string_view username, const Secret& password) override;
  // Not wired yet: no store binds client certificates to parties (see README); Unauthorized.
  Result<AuthenticatedParty> authenticateCertificate(std::string_view leafDer,
                                                     const std::vector<std::string>& chainDer) override;
  // Bound when the lower-cased "mailto:<address>" is bound to the party (AccountStore).
  Result<void> authorizeSender(const AuthenticatedParty& party, std::string_view address) override;

  struct Impl;

 private:
  explicit IdentityAuthenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "mailto:" + lower-cased address (the identifier form of the identity and core components).
std::string mailtoIdentifier(std::string_view address);

}  // namespace erds::smtp
