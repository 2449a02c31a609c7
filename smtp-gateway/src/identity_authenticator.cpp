#include "erds/smtp/identity_authenticator.h"

#include "erds/base/log.h"
#include "erds/identity/login_throttle.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/password_login.h"
#include "erds/identity/postgres_stores.h"

namespace erds::smtp {

std::string mailtoIdentifier(std::string_view address) {
  std::string out = "mailto:";
  for (char c : address) out += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return out;
}

struct IdentityAuthenticator::Impl {
  Impl(pg::Pool& p, crypto::KeyEncryptionKey k, identity::PasswordHasher h, const Clock& c, bool q, Secret idKey)
      : kek(std::move(k)),
        hasher(std::move(h)),
        accounts(p),
        credentials(p),
        factors(p, kek),
        throttleStore(p),
        throttle(throttleStore, c, std::move(idKey)),
        login(credentials, factors, throttle, hasher, c),
        qualified(q) {}
  crypto::KeyEncryptionKey kek;
  identity::PasswordHasher hasher;
  identity::PostgresAccountStore accounts;
  identity::PostgresCredentialStore credentials;
  identity::PostgresSecondFactorStore factors;
  identity::PostgresThrottleStore throttleStore;
  identity::LoginThrottle throttle;
  identity::PasswordLogin login;
  bool qualified;
  IdentityAuthenticator::CertificateResolver resolver;
};

IdentityAuthenticator::IdentityAuthenticator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IdentityAuthenticator::~IdentityAuthenticator() = default;

Result<std::unique_ptr<IdentityAuthenticator>> IdentityAuthenticator::create(const Config& config, pg::Pool& pool,
                                                                             crypto::KeyEncryptionKey kek,
                                                                             const Clock& clock,
                                                                             Secret identifierHashKey) {
  identity::Argon2Params a;
  auto in = [&](const std::string& key, int64_t lo, int64_t hi) -> Result<uint32_t> {
    const int64_t v = config.getInt(key);
    if (v < lo || v > hi)
      return Error::invalidInput(key + " (" + config.sourceOf(key) + "): must be " + std::to_string(lo) + ".." +
                                 std::to_string(hi));
    return static_cast<uint32_t>(v);
  };
  auto t = in("identity.argon2_t_cost", 1, 20);
  if (!t) return std::move(t).error();
  auto m = in("identity.argon2_m_cost_kib", 64, 1 << 21);
  if (!m) return std::move(m).error();
  auto p = in("identity.argon2_parallelism", 1, 16);
  if (!p) return std::move(p).error();
  a.timeCost = *t;
  a.memoryKiB = *m;
  a.parallelism = *p;
  auto hasher = identity::PasswordHasher::create(a);
  if (!hasher) return Error::invalidInput("identity.argon2_*: " + hasher.error().message);
  auto impl = std::make_unique<Impl>(pool, std::move(kek), std::move(*hasher), clock,
                                     config.mode() == ServiceMode::Qualified, std::move(identifierHashKey));
  return std::unique_ptr<IdentityAuthenticator>(new IdentityAuthenticator(std::move(impl)));
}

Result<AuthenticatedParty> IdentityAuthenticator::authenticatePassword(std::string_view username,
                                                                       const Secret& password) {
  // Under qualified, password AUTH alone never meets the gate (EN 319 522-1 5.2.2-03/-04): the
  // session calls this only after a client certificate of a party (requireClientCertificate) and
  // then requires the same party; without a certificate resolver there is no such path at all.
  if (impl_->qualified && !impl_->resolver) return Error::unauthorized("password authentication is not allowed in qualified mode");
  identity::LoginRequest req;
  const std::string u(username);
  req.identifier = u.rfind("mailto:", 0) == 0 ? u : mailtoIdentifier(u);
  req.password = password;
  auto r = impl_->login.login(req);
  if (!r) {
    if (r.error().is(ErrorCode::Unavailable)) return std::move(r).error();
    return Error::unauthorized("authentication failed");
  }
  if (r->status != identity::LoginStatus::Authenticated)
    return Error::unauthorized("authentication failed");  // TOTP enrolled: no second factor in SMTP AUTH
  AuthenticatedParty out;
  out.partyId = r->partyId;
  out.methods = r->authentication.methods;
  out.level = r->authentication.level;
  out.at = r->authentication.at;
  return out;
}

void IdentityAuthenticator::setCertificateResolver(CertificateResolver resolver) { impl_->resolver = std::move(resolver); }

Result<AuthenticatedParty> IdentityAuthenticator::authenticateCertificate(std::string_view leafDer,
                                                                          const std::vector<std::string>& chainDer) {
  if (!impl_->resolver) return Error::unauthorized("client certificates are not configured on this gateway");
  std::vector<std::string> chain{std::string(leafDer)};
  chain.insert(chain.end(), chainDer.begin(), chainDer.end());
  auto party = impl_->resolver(chain);
  if (!party) {
    if (party.error().is(ErrorCode::Unavailable)) return std::move(party).error();
    return Error::unauthorized("client certificate not accepted");
  }
  if (!*party) return Error::unauthorized("client certificate bound to no party");
  AuthenticatedParty out;
  out.partyId = **party;
  out.methods = {identity::AuthenticationMethod::ClientCertificate};
  out.level = identity::LevelOfAssurance::None;  // the password step gives the level; both together are two factors
  return out;
}

Result<void> IdentityAuthenticator::authorizeSender(const AuthenticatedParty& party, std::string_view address) {
  if (address.empty()) return Error::unauthorized("a null sender is not allowed on submission");
  auto bound = impl_->accounts.partyBoundTo(mailtoIdentifier(address));
  if (!bound) {
    if (bound.error().is(ErrorCode::Unavailable)) return std::move(bound).error();
    return Error::unauthorized("sender address not bound to the authenticated party");
  }
  if (!*bound || **bound != party.partyId) return Error::unauthorized("sender address not bound to the authenticated party");
  return {};
}

}  // namespace erds::smtp
