// IdentityAuthenticator: the Authenticator port over the identity component's PostgreSQL stores:
// AUTH PLAIN/LOGIN through identity::PasswordLogin (throttle, Argon2id, no enumeration) or an
// application token (identity::AppTokenManager), and MAIL FROM through the party's bound delivery
// identifiers (AccountStore::partyBoundTo).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/base/secret.h"
#include "erds/smtp/authenticator.h"

namespace erds::smtp {

// Thread-safe. `pool` and `clock` must outlive it.
class IdentityAuthenticator final : public Authenticator {
 public:
  // Reads identity.argon2_* from `config`; `kek` unwraps TOTP seeds (an account with TOTP enrolled
  // cannot use SMTP AUTH: SMTP has no second-factor step, so it is refused as Unauthorized).
  // Under service.mode=qualified the session (SessionConfig::requireClientCertificate, set from
  // the same mode) accepts AUTH only after a client certificate of the same party (5.2.2-04), or
  // with an application token when identity.smtp_app_tokens = true (5.2.2-03, policy table).
  // Reads identity.smtp_app_tokens and, when tokens are allowed, secrets.kek_file (the tokens'
  // hash key; without a KEK file tokens are refused and a warning is logged). Errors: InvalidInput
  // (bad argon2 parameters, unreadable or malformed KEK file, naming the key).
  // `identifierHashKey` (identity::LoginThrottle::deriveIdentifierHashKey of the same KEK) keys the
  // login throttle's identifier hashes, so SMTP AUTH and erdsd count failures for one address together.
  static Result<std::unique_ptr<IdentityAuthenticator>> create(const Config& config, pg::Pool& pool,
                                                               crypto::KeyEncryptionKey kek, const Clock& clock,
                                                               Secret identifierHashKey);
  ~IdentityAuthenticator() override;

  // A password in the token format is checked as an application token (scope smtp-submit) when
  // identity.smtp_app_tokens allows them: HMAC-SHA256 lookup under the key derived from
  // secrets.kek_file (read here), the same login throttle per identifier as passwords, the
  // username must be the token's party (login identifier or bound address), party not disabled;
  // each use is audited ("identity.app_token.use", success or denied with the reason; never the
  // token). Methods: application_token + the creating session's factors.
  Result<AuthenticatedParty> authenticatePassword(std::string_view username, const Secret& password) override;
  // The same, with the per-IP throttle keyed by `clientIp` (authenticatePassword uses "").
  Result<AuthenticatedParty> authenticatePasswordFrom(std::string_view username, const Secret& password,
                                                      std::string_view clientIp) override;
  // identity.smtp_app_tokens resolved (identity::smtpAppTokensAllowed) and a KEK to check them with.
  bool acceptsApplicationTokens() const override;
  // Maps a validated client certificate (DER chain, leaf first) to its party, or nullopt if it
  // belongs to nobody; Unauthorized if it does not validate. erds-smtpd wires
  // identity::IdentityService::partyForCertificate here.
  using CertificateResolver = std::function<Result<std::optional<std::string>>(const std::vector<std::string>& chainDer)>;
  // Call once before serving. Without a resolver, certificates are refused (Unauthorized).
  void setCertificateResolver(CertificateResolver resolver);

  // Through the resolver: the party bound to the certificate, method ClientCertificate.
  // Unauthorized (not valid, bound to nobody, no resolver), Unavailable.
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
