// Authenticator: the port through which the SMTP gateway asks the identity component who a client
// is (AUTH PLAIN/LOGIN, TLS client certificate) and which envelope senders that party may use.
// The gateway never sees password hashes or credential tables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/core/evidence_issuer.h"
#include "erds/identity/party.h"

namespace erds::smtp {

// Who authenticated, and how (the evidence records the method).
struct AuthenticatedParty {
  std::string partyId;
  std::vector<identity::AuthenticationMethod> methods;
  identity::LevelOfAssurance level = identity::LevelOfAssurance::None;
  TimePoint at{};  // when the (last) authentication step succeeded; TimePoint{} = not known
};

// The sender's authentication as EN 319 522-2 I10 records it in SubmissionAcceptance evidence:
// method "urn:erds:authn:" + the method names joined by '+' in the order they were proved (e.g.
// "urn:erds:authn:password", "urn:erds:authn:password+client_certificate"), level the eIDAS LoA
// URI of party.level (at least the level of the strongest method; "low" for a password), time
// party.at, or `fallbackTime` when it is not known.
core::SenderAuthentication senderAuthentication(const AuthenticatedParty& party, TimePoint fallbackTime);

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // SASL PLAIN/LOGIN: `username` and `password` as the client sent them (already base64-decoded).
  // A password in the application-token format (identity::AppTokenManager::looksLikeToken) is
  // checked as an application token of scope smtp-submit instead, when acceptsApplicationTokens();
  // the party then has methods {ApplicationToken, <the factors of the session that created it>}.
  // Returns the party on success. Errors: Unauthorized (wrong credentials, locked, throttled, a
  // token not accepted by policy; the message must not say which), Unavailable (the credential
  // store is down). Thread-safe; may block (password hashing).
  virtual Result<AuthenticatedParty> authenticatePassword(std::string_view username,
                                                          const Secret& password) = 0;

  // As authenticatePassword, with the client's IP address (no port) for the per-IP login
  // throttle (identity::LoginThrottle: 20 failures per IP and 15 minutes lock that IP, not
  // everyone). The session calls this one; the default ignores the address.
  virtual Result<AuthenticatedParty> authenticatePasswordFrom(std::string_view username, const Secret& password,
                                                              std::string_view clientIp) {
    (void)clientIp;
    return authenticatePassword(username, password);
  }

  // Whether AUTH may succeed with an application token (identity.smtp_app_tokens). Where a client
  // certificate is required (qualified mode, SessionConfig::requireClientCertificate), a token
  // created in a multi-factor session is the policy-table alternative of EN 319 522-1 5.2.2-03:
  // the session then lets AUTH proceed without a certificate, but accepts only a token.
  // Thread-safe. Default: no.
  virtual bool acceptsApplicationTokens() const { return false; }

  // A TLS client certificate (DER of the leaf, then DER of any chain the client sent) presented
  // during STARTTLS. Returns the party bound to it. Errors: Unauthorized (unknown, untrusted,
  // expired or revoked), Unavailable. Thread-safe.
  virtual Result<AuthenticatedParty> authenticateCertificate(
      std::string_view leafDer, const std::vector<std::string>& chainDer) = 0;

  // Whether `party` may use `address` (an RFC 5321 mailbox, as given in MAIL FROM, without angle
  // brackets) as envelope sender. Errors: Unauthorized (not bound), Unavailable. Thread-safe.
  virtual Result<void> authorizeSender(const AuthenticatedParty& party, std::string_view address) = 0;
};

}  // namespace erds::smtp
