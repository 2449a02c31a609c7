// PasswordLogin: the login sequence for identifier + password (+ TOTP or recovery code).
// Order matters: throttle check first (no Argon2 while locked), then Argon2id (a dummy hash for
// unknown identifiers, so timing does not reveal accounts), then the second factor.
#pragma once

#include <chrono>
#include <string>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/identity/credential_store.h"
#include "erds/identity/login_throttle.h"
#include "erds/identity/party.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/totp.h"

namespace erds::identity {

struct LoginRequest {
  std::string identifier;    // "mailto:alice@example.test"
  Secret password;
  std::string totp;          // "" if not given
  std::string recoveryCode;  // "" if not given; used only when totp is empty
  std::string clientIp;
};

enum class LoginStatus {
  Authenticated,
  SecondFactorRequired,  // password right, TOTP enrolled, no code given: ask for it (no session)
};

struct LoginOutcome {
  LoginStatus status = LoginStatus::Authenticated;
  std::string partyId;
  AuthenticationContext authentication;  // Password (low), PasswordTotp (substantial) or
                                         // RecoveryCode (low: a recovery-code login is weaker)
  bool passwordRehashed = false;         // the stored hash was upgraded to current parameters
};

// Thread-safe if the stores are.
class PasswordLogin {
 public:
  PasswordLogin(CredentialStore& credentials, SecondFactorStore& secondFactors, LoginThrottle& throttle,
                const PasswordHasher& hasher, const Clock& clock, TotpParams totp = {})
      : credentials_(credentials),
        secondFactors_(secondFactors),
        throttle_(throttle),
        hasher_(hasher),
        clock_(clock),
        totp_(secondFactors, clock, totp) {}

  // Errors: Unauthorized "invalid credentials" for an unknown identifier, a disabled account, a
  // wrong password or a wrong/replayed second factor (one message, no enumeration);
  // Unauthorized "too many failed attempts" while the identifier or IP is locked (checked before
  // any Argon2 work; it does not reveal whether the account exists); Unavailable when a store fails.
  // Every failure, including SecondFactorRequired, counts towards the lockout.
  Result<LoginOutcome> login(const LoginRequest& request);

 private:
  CredentialStore& credentials_;
  SecondFactorStore& secondFactors_;
  LoginThrottle& throttle_;
  const PasswordHasher& hasher_;
  const Clock& clock_;
  TotpVerifier totp_;
};

}  // namespace erds::identity
