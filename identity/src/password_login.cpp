#include "erds/identity/password_login.h"

namespace erds::identity {

Result<LoginOutcome> PasswordLogin::login(const LoginRequest& request) {
  const Error invalid = Error::unauthorized("invalid credentials");
  auto gate = throttle_.check(request.identifier, request.clientIp);
  if (!gate) return gate.error();
  if (!gate->allowed) {
    return Error::unauthorized("too many failed attempts; try again in " + std::to_string(gate->retryAfter.count()) +
                               " s");
  }
  auto fail = [&](Error e) -> Result<LoginOutcome> {
    auto r = throttle_.recordFailure(request.identifier, request.clientIp);
    if (!r) return r.error();
    return e;
  };

  auto creds = credentials_.findByIdentifier(request.identifier);
  if (!creds) return creds.error();
  if (!creds->has_value() || (*creds)->disabled) {
    hasher_.verifyDummy(request.password.reveal());
    return fail(invalid);
  }
  const Credentials& c = **creds;
  if (!hasher_.verify(request.password.reveal(), c.passwordHash)) return fail(invalid);

  LoginOutcome out;
  out.partyId = c.partyId;
  out.authentication.at = clock_.now();
  if (c.totpEnrolled) {
    if (!request.totp.empty()) {
      auto step = totp_.verify(c.partyId, request.totp);
      if (!step) return step.error().is(ErrorCode::Unavailable) ? Result<LoginOutcome>(step.error()) : fail(invalid);
      out.authentication.methods = {AuthenticationMethod::PasswordTotp};
    } else if (!request.recoveryCode.empty()) {
      auto used = redeemRecoveryCode(secondFactors_, c.partyId, request.recoveryCode);
      if (!used) return used.error().is(ErrorCode::Unavailable) ? Result<LoginOutcome>(used.error()) : fail(invalid);
      out.authentication.methods = {AuthenticationMethod::RecoveryCode};
    } else {
      auto r = throttle_.recordFailure(request.identifier, request.clientIp);
      if (!r) return r.error();
      out.status = LoginStatus::SecondFactorRequired;
      out.partyId.clear();  // nothing to act on until the second factor is given
      return out;
    }
  } else {
    out.authentication.methods = {AuthenticationMethod::Password};
  }
  out.authentication.level = authenticationLevel(out.authentication.methods.front());

  ERDS_RETURN_IF_ERROR(throttle_.recordSuccess(request.identifier));
  if (hasher_.needsRehash(c.passwordHash)) {
    auto phc = hasher_.hash(request.password.reveal());
    // A failed upgrade does not fail the login; it is retried on the next one.
    if (phc && credentials_.setPasswordHash(c.partyId, *phc)) out.passwordRehashed = true;
  }
  return out;
}

}  // namespace erds::identity
