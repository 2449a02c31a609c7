// IdentityService: the identity component as erdsd runs it. Builds the PostgreSQL stores, the
// login sequence, sessions and the officer workflow from configuration, registers the identity
// HTTP routes (erds::http::RouteProvider) and seeds the development demo accounts.
//
// Routes (all JSON, errors application/problem+json, all in the OpenAPI document):
//   POST   /api/v1/registrations                      self-registration -> unidentified party
//   POST   /api/v1/sessions                           login -> bearer token + erds_session cookie
//   POST   /api/v1/sessions/certificate               login with the TLS client certificate (client-cert listener)
//   DELETE /api/v1/sessions/current                   logout
//   GET    /api/v1/me                                 the caller, its session, identifiers, identifications
//   GET    /api/v1/me/export                          personal data export (audited)
//   POST   /api/v1/me/totp, /api/v1/me/totp/confirm   TOTP enrolment
//   POST   /api/v1/me/certificate-challenge, /api/v1/me/certificate-identification
//                                                      identification by a signed challenge
//   GET|POST /api/v1/me/identifiers, POST /api/v1/me/identifiers/{id}/confirm   address binding
//   GET    /api/v1/identity/policy                    the identification policy in force (no auth)
//   GET|POST /api/v1/identity/verification-requests, GET .../{id}               the user's requests
//   POST   /api/v1/identity/verification-requests/{id}/documents   upload an ID document scan
//   GET    /api/v1/officer/verification-requests, POST .../{id}/approve|reject  officer queue
//   GET    /api/v1/officer/verification-requests/{id}/documents/{doc}          read a scan (audited)
//   GET|POST /api/v1/me/certificates, DELETE /api/v1/me/certificates/{id}      certificate registry
//   GET|POST /api/v1/me/app-tokens, DELETE /api/v1/me/app-tokens/{id}          application tokens (SMTP AUTH)
//   GET|POST /api/v1/admin/parties, POST /api/v1/admin/parties/{id}/roles       administration
//   GET    /api/v1/admin/parties/{id}/export          one party's data (administrators; audited)
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/http/router.h"
#include "erds/identity/account_store.h"
#include "erds/identity/client_certificate.h"
#include "erds/identity/gate.h"
#include "erds/identity/http_auth.h"
#include "erds/identity/notifier.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/session.h"
#include "erds/identity/verification.h"

namespace erds::identity {

struct IdentityOptions {
  Argon2Params argon2;
  SessionPolicy sessions;
  WorkflowOptions workflow;
  bool requireStrongAuthentication = false;  // resolved from identity.require_strong_authentication
  std::string totpIssuer = "erds";
  Secret kek;             // 32 bytes / 64 hex (secrets.kek_file)
  Secret documentPepper;  // >= 32 bytes (identity.document_pepper_file)
  bool revealCodesInLog = false;  // development only
  ServiceMode mode = ServiceMode::Development;
  // gatePolicyFromConfig(): the mode's profile with the identity.* overrides.
  GatePolicy gatePolicy;
  std::chrono::seconds verificationDeadline{std::chrono::hours(24 * 5)};  // identity.verification_deadline
  int64_t maxDocumentBytes = 10 * 1024 * 1024;                           // identity.max_document_bytes
  // http.rate_per_account_per_second / http.rate_account_burst: the HttpAuthenticator's limit.
  http::RateLimit accountRateLimit = kDefaultAccountRateLimit;
  int maxDocumentsPerRequest = 4;
  std::chrono::seconds documentRetention{std::chrono::hours(24 * 30)};   // identity.document_retention
  std::chrono::seconds purgeInterval{std::chrono::hours(1)};             // identity.purge_interval
  // Client certificate sign-in (POST /api/v1/sessions/certificate on the listener of
  // http.client_cert_port): enabled when identity.client_ca_file or identity.qualified_ca_file is
  // set; the PEM contents of those files and identity.crl_file.
  bool certificateLogin = false;
  CertificateValidatorOptions certificates;
  // identity.smtp_app_tokens resolved (smtpAppTokensAllowed): whether SMTP AUTH accepts application
  // tokens; tokens for scope smtp-submit can only be created when it does.
  bool smtpAppTokens = true;

  // From configuration. secrets.kek_file is required in basic/qualified; in development a missing
  // one is replaced by a random per-process key (logged as a warning: TOTP enrolments do not
  // survive a restart). Without identity.document_pepper_file the pepper is derived from the KEK
  // (HMAC-SHA256, domain-separated). InvalidInput naming the key and the file otherwise.
  static Result<IdentityOptions> fromConfig(const Config& config);
};

struct DemoAccount {
  std::string identifier;
  std::string password;
  std::string description;   // "identified (physical_presence, substantial)", "officer", ...
  std::string totpSecret;    // base32, "" when the account has no TOTP
};

class IdentityService : public http::RouteProvider {
 public:
  // `pool` (the daemon role), `clock` and `notifier` must outlive the service. InvalidInput for
  // bad options (Argon2 parameters, KEK, pepper).
  static Result<std::unique_ptr<IdentityService>> create(IdentityOptions options, pg::Pool& pool, const Clock& clock,
                                                         Notifier& notifier);
  ~IdentityService() override;

  // Adds the identity routes, schemas and the "bearerAuth"/"cookieAuth" security schemes. Once.
  Result<void> registerRoutes(http::Router& router) override;

  // For other components' routes. Thread-safe.
  const HttpAuthenticator& authenticator() const;
  // For the core's identity gate and handover: who holds an identifier now
  // (AccountStore::partyBoundTo) and a party's identifications (identificationsOf). Thread-safe;
  // valid as long as the service.
  AccountStore& accounts();
  VerificationStore& verifications();
  // The gate policy in force (IdentityOptions::gatePolicy). Valid as long as the service.
  const GatePolicy& gatePolicy() const;

  // For other front ends (erds-smtpd binding a STARTTLS client certificate to a party): validates
  // `chainDer` (DER, leaf first, as presented in the handshake) against the configured anchors
  // and returns the party it belongs to: the certificate registry (POST /api/v1/me/certificates)
  // first, then an e-mail address of the certificate bound to a party as a delivery identifier.
  // nullopt if it validates but belongs to nobody (or to a disabled party). Unauthorized if it does
  // not validate (the message names the status); Unavailable if client certificates are not
  // configured or the database is down. Thread-safe.
  Result<std::optional<std::string>> partyForCertificate(const std::vector<std::string>& chainDer);

  // Housekeeping (startBackgroundTasks() runs it every identity.purge_interval): purges uploaded
  // document scans of decided requests past identity.document_retention and officer-recorded
  // scans past their purge time (the decision record and the metadata stay; each purge is
  // audited) and sessions a day past their absolute expiry. Returns the number of scans purged. Unavailable while the database is down.
  Result<int64_t> purgeExpiredPersonalData();

  // Runs purgeExpiredPersonalData() at once and then every IdentityOptions::purgeInterval on a
  // background thread (failures are logged and retried at the next interval). start is
  // idempotent; stop wakes the thread and joins it (the destructor stops it too). Call both from
  // one thread.
  void startBackgroundTasks();
  void stopBackgroundTasks();

  // Creates (idempotently) mailto:sender@example.test (identified: physical_presence,
  // substantial), mailto:recipient@example.test (not identified) and mailto:officer@example.test
  // (officer, TOTP enrolled: officers must authenticate strongly), with their identifiers bound.
  // Passwords are fixed demo values; only for service.mode=development (InvalidInput otherwise).
  // Unavailable while the database or its schema is not ready (call again later).
  Result<std::vector<DemoAccount>> seedDemoAccounts();

 private:
  struct Impl;
  explicit IdentityService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace erds::identity
