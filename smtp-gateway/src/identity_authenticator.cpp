#include "erds/smtp/identity_authenticator.h"

#include "erds/base/audit.h"
#include "erds/base/log.h"
#include "erds/identity/app_token.h"
#include "erds/identity/login_throttle.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/password_login.h"
#include "erds/identity/postgres_stores.h"

namespace erds::smtp {
namespace {
std::string lowerAscii(std::string s) {
  for (char& c : s) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return s;
}
}  // namespace

std::string mailtoIdentifier(std::string_view address) {
  std::string out = "mailto:";
  for (char c : address) out += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return out;
}

struct IdentityAuthenticator::Impl {
  Impl(pg::Pool& p, crypto::KeyEncryptionKey k, identity::PasswordHasher h, const Clock& c, bool q, Secret idKey,
       std::optional<Secret> tokenKey)
      : pool(p),
        clock(c),
        audit(c),
        kek(std::move(k)),
        hasher(std::move(h)),
        accounts(p),
        credentials(p),
        factors(p, kek),
        throttleStore(p),
        throttle(throttleStore, c, std::move(idKey)),
        login(credentials, factors, throttle, hasher, c),
        qualified(q),
        tokenStore(p) {
    if (tokenKey) tokens.emplace(tokenStore, c, std::move(*tokenKey));
  }
  pg::Pool& pool;
  const Clock& clock;
  AuditLog audit;
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
  identity::PostgresAppTokenStore tokenStore;
  std::optional<identity::AppTokenManager> tokens;  // set iff identity.smtp_app_tokens allows them

  // An audit record of a token use by the party owning it ("identity.app_token.use").
  Result<void> recordUse(const identity::AppToken& t, const std::string& outcome, const std::string& reason) {
    AuditEvent e;
    e.actor = "party:" + t.partyId;
    e.action = "identity.app_token.use";
    e.object = "party:" + t.partyId;
    e.outcome = outcome;
    e.detailsJson = "{\"token_id\":\"" + log::jsonEscape(t.id) + "\",\"via\":\"smtp\"" +
                    (reason.empty() ? std::string() : ",\"reason\":\"" + log::jsonEscape(reason) + "\"") + "}";
    auto r = audit.append(pool, e);
    if (!r) return std::move(r).error();
    return ok();
  }

  // AUTH with an application token (scope smtp-submit): throttled per identifier like passwords,
  // the username must be the token's party (login or bound address), every use is audited.
  Result<AuthenticatedParty> authenticateToken(std::string_view username, const Secret& token, const std::string& ip) {
    const Error refused = Error::unauthorized("authentication failed");
    if (!tokens) return refused;
    const std::string u(username);
    const std::string identifier = u.rfind("mailto:", 0) == 0 ? lowerAscii(u) : mailtoIdentifier(u);
    auto decision = throttle.check(identifier, ip);
    if (!decision) return Error::unavailable("login throttle unavailable");
    if (!decision->allowed) return refused;
    auto fail = [&](const identity::AppToken* t, const std::string& reason) -> Result<AuthenticatedParty> {
      (void)throttle.recordFailure(identifier, ip);
      if (t != nullptr) (void)recordUse(*t, "denied", reason);
      return Error::unauthorized("authentication failed");
    };
    std::optional<identity::AppToken> found;
    auto t = tokens->verify(token.reveal(), identity::kScopeSmtpSubmit, &found);
    if (!t) {
      if (!t.error().is(ErrorCode::Unauthorized)) return std::move(t).error();
      if (!found) return fail(nullptr, "");
      const TimePoint now = clock.now();
      return fail(&*found, found->revokedAt ? "revoked" : now >= found->expiresAt ? "expired" : "scope");
    }
    // The token authenticates its own party only: the username must be that party's.
    bool own = false;
    auto bound = accounts.partyBoundTo(identifier);
    if (!bound) return std::move(bound).error();
    own = *bound && **bound == t->partyId;
    if (!own) {
      auto login = accounts.loginIdentifierOf(t->partyId);
      if (!login && !login.error().is(ErrorCode::NotFound)) return std::move(login).error();
      own = login && lowerAscii(*login) == identifier;
    }
    if (!own) return fail(&*t, "username is not the token's party");
    bool disabled = false;
    auto party = accounts.findParty(t->partyId, &disabled);
    if (!party) {
      if (party.error().is(ErrorCode::NotFound)) return fail(&*t, "party unknown");
      return std::move(party).error();
    }
    if (disabled) return fail(&*t, "party disabled");
    if (auto a = recordUse(*t, "success", ""); !a) return Error::unavailable("audit log unavailable");  // no unaudited use
    (void)throttle.recordSuccess(identifier);
    const identity::AuthenticationContext ctx = identity::AppTokenManager::authenticationOf(*t, clock.now());
    AuthenticatedParty out;
    out.partyId = t->partyId;
    out.methods = ctx.methods;
    out.level = ctx.level;
    out.at = ctx.at;
    return out;
  }
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
  // Application tokens (identity.smtp_app_tokens): their hashes are keyed by a key derived from the
  // KEK, so this process must read the same secrets.kek_file as erdsd.
  std::optional<Secret> tokenKey;
  if (identity::smtpAppTokensAllowed(config)) {
    if (config.isSet("secrets.kek_file")) {
      auto kekSecret = config.readSecret("secrets.kek_file");
      if (!kekSecret) return std::move(kekSecret).error();
      auto k = identity::AppTokenManager::deriveHashKey(*kekSecret);
      if (!k) return Error::invalidInput("secrets.kek_file (" + config.sourceOf("secrets.kek_file") + "): " + k.error().message);
      tokenKey = std::move(*k);
    } else {
      log::warn("smtp.app_tokens_disabled", {{"reason", "secrets.kek_file unset: application tokens cannot be checked"}});
    }
  }
  auto impl = std::make_unique<Impl>(pool, std::move(kek), std::move(*hasher), clock,
                                     config.mode() == ServiceMode::Qualified, std::move(identifierHashKey),
                                     std::move(tokenKey));
  return std::unique_ptr<IdentityAuthenticator>(new IdentityAuthenticator(std::move(impl)));
}

Result<AuthenticatedParty> IdentityAuthenticator::authenticatePassword(std::string_view username,
                                                                       const Secret& password) {
  return authenticatePasswordFrom(username, password, "");
}

Result<AuthenticatedParty> IdentityAuthenticator::authenticatePasswordFrom(std::string_view username,
                                                                           const Secret& password,
                                                                           std::string_view clientIp) {
  const std::string ip(clientIp.substr(0, 64));
  // Under qualified, password AUTH alone never meets the gate (EN 319 522-1 5.2.2-03/-04): the
  // session calls this only after a client certificate of a party (requireClientCertificate) and
  // then requires the same party; without a certificate resolver there is no such path at all.
  if (identity::AppTokenManager::looksLikeToken(password.reveal())) return impl_->authenticateToken(username, password, ip);
  if (impl_->qualified && !impl_->resolver) return Error::unauthorized("password authentication is not allowed in qualified mode");
  identity::LoginRequest req;
  const std::string u(username);
  req.identifier = u.rfind("mailto:", 0) == 0 ? u : mailtoIdentifier(u);
  req.password = password;
  req.clientIp = ip;
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

bool IdentityAuthenticator::acceptsApplicationTokens() const { return impl_->tokens.has_value(); }

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
