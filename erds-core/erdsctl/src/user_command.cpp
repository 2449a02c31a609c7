// `erdsctl user add|list|show|set-role|reset-password|revoke-tokens`: account administration for operators,
// through the identity component's PostgreSQL stores. Every change, and every `user show` (it reads
// personal data), is written to the audit log with the actor "operator:<login name>".
#include <openssl/crypto.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/log.h"
#include "erds/base/pg.h"
#include "erds/identity/app_token.h"
#include "erds/identity/document_store.h"
#include "erds/identity/party.h"
#include "erds/identity/password_hasher.h"
#include "erds/identity/postgres_stores.h"

#include "commands.h"

namespace erds::ctl::internal {
namespace {

using identity::Party;
using identity::Role;
using identity::RoleSet;

constexpr std::size_t kMinPasswordLength = 12;  // as the registration API

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The operator named in audit records: the login name of the invoking user.
std::string operatorActor() {
  const char* user = std::getenv("SUDO_USER");
  if (user == nullptr || *user == '\0') user = std::getenv("USER");
  std::string name = (user != nullptr && *user != '\0') ? user : "uid" + std::to_string(::getuid());
  return "operator:" + name;
}

// 20 characters from a 32-symbol alphabet without look-alikes (100 bits).
Secret oneTimePassword() {
  static constexpr char kAlphabet[] = "abcdefghjkmnpqrstuvwxyz23456789Z";
  std::string raw = crypto::randomBytes(20);
  std::string out;
  for (unsigned char c : raw)
    out += kAlphabet[c & 31];
  OPENSSL_cleanse(raw.data(), raw.size());
  return Secret(std::move(out));
}

// Reads one line from standard input (trailing CR/LF removed).
Result<Secret> passwordFromStdin() {
  std::string line;
  if (!std::getline(std::cin, line))
    return Error::invalidInput("--password-stdin: no password on standard input");
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.pop_back();
  Secret s(std::move(line));
  if (s.size() < kMinPasswordLength) {
    return Error::invalidInput("--password-stdin: the password needs at least " +
                               std::to_string(kMinPasswordLength) + " characters");
  }
  if (s.size() > identity::PasswordHasher::kMaxPasswordBytes)
    return Error::invalidInput("--password-stdin: too long");
  return s;
}

Result<RoleSet> parseRoles(const std::vector<std::string>& names) {
  RoleSet roles{Role::User};  // every party is a user
  for (const auto& n : names) {
    auto r = identity::parseRole(n);
    if (!r) return Error::invalidInput("--role: " + r.error().message);
    roles.add(*r);
  }
  return roles;
}

std::string rolesText(RoleSet roles) {
  std::string out;
  for (Role r : {Role::User, Role::Officer, Role::Admin}) {
    if (!roles.has(r)) continue;
    if (!out.empty()) out += ",";
    out += identity::roleName(r);
  }
  return out;
}

std::string rolesJson(RoleSet roles) {
  std::string out = "[";
  for (Role r : {Role::User, Role::Officer, Role::Admin}) {
    if (!roles.has(r)) continue;
    if (out.size() > 1) out += ",";
    out += "\"" + std::string(identity::roleName(r)) + "\"";
  }
  return out + "]";
}

// Everything one user command needs: configuration, a small pool and the stores.
struct Context {
  Config config;
  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<identity::PostgresAccountStore> accounts;
  std::unique_ptr<identity::PostgresCredentialStore> credentials;
  std::unique_ptr<identity::PostgresSessionStore> sessions;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<identity::PostgresVerificationStore> verifications;
  std::unique_ptr<identity::PostgresPartyCertificateStore> certificates;
  std::unique_ptr<identity::PostgresAppTokenStore> appTokens;

  Result<void> record(const std::string& action, const std::string& object,
                      const std::string& outcome, const std::string& details) {
    AuditEvent e;
    e.actor = operatorActor();
    e.action = action;
    e.object = object;
    e.outcome = outcome;
    e.requestId = "erdsctl";
    e.detailsJson = details;
    auto r = audit->append(*pool, e);
    if (!r) return r.error();
    return ok();
  }
};

// Loads the configuration and connects: the owner role when database.owner_conninfo is set,
// else the daemon role. Returns the exit code through `exitCode` on failure.
std::optional<Context> open(const Args& args, Io& io, const std::string& cmd, int& exitCode) {
  auto config = loadConfigOrReport(args, io);
  if (!config) {
    exitCode = kExitUsage;
    return std::nullopt;
  }
  const DbLogin login = ownerOrDaemonLogin(*config);
  pg::PoolOptions po;
  po.conninfo = config->getString(login.conninfoKey);
  po.size = 2;
  // Connect once up front, so a wrong conninfo is reported as such (the pool connects lazily).
  if (!connectOrReport(*config, login, cmd, io, exitCode, &po.password)) return std::nullopt;
  Context c{std::move(*config), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  c.pool = std::make_unique<pg::Pool>(po);
  OPENSSL_cleanse(po.password.data(), po.password.size());
  c.accounts = std::make_unique<identity::PostgresAccountStore>(*c.pool);
  c.credentials = std::make_unique<identity::PostgresCredentialStore>(*c.pool);
  c.sessions = std::make_unique<identity::PostgresSessionStore>(*c.pool, std::chrono::minutes(30));
  c.audit = std::make_unique<AuditLog>(SystemClock::instance());
  c.verifications = std::make_unique<identity::PostgresVerificationStore>(*c.pool, *c.audit);
  c.certificates = std::make_unique<identity::PostgresPartyCertificateStore>(*c.pool);
  c.appTokens = std::make_unique<identity::PostgresAppTokenStore>(*c.pool);
  return c;
}

Result<identity::PasswordHasher> hasherFrom(const Config& config) {
  identity::Argon2Params p;
  auto in = [&](const std::string& key, int64_t lo, int64_t hi) -> Result<uint32_t> {
    int64_t v = config.getInt(key);
    if (v < lo || v > hi) {
      return Error::invalidInput(key + " (" + config.sourceOf(key) + "): must be " +
                                 std::to_string(lo) + ".." + std::to_string(hi));
    }
    return static_cast<uint32_t>(v);
  };
  auto t = in("identity.argon2_t_cost", 1, 20);
  if (!t) return t.error();
  auto m = in("identity.argon2_m_cost_kib", 64, 1 << 21);
  if (!m) return m.error();
  auto par = in("identity.argon2_parallelism", 1, 16);
  if (!par) return par.error();
  p.timeCost = *t;
  p.memoryKiB = *m;
  p.parallelism = *par;
  return identity::PasswordHasher::create(p);
}

// What `user add` and `user reset-password` share: the new password (generated unless
// --password-stdin), the connection and the configured Argon2id hasher.
struct PasswordChange {
  Secret password;
  bool generated = false;
  Context context;
  identity::PasswordHasher hasher;
};

// nullopt after reporting on io.err; then `exitCode` is kExitUsage (bad password on stdin, bad
// identity.argon2_* keys, config) or kExitFailure (database).
std::optional<PasswordChange> preparePasswordChange(const Args& args, Io& io, const std::string& cmd,
                                                    int& exitCode) {
  Secret password;
  const bool generated = !args.has("--password-stdin");
  if (generated) {
    password = oneTimePassword();
  } else {
    auto pw = passwordFromStdin();
    if (!pw) {
      io.err << "erdsctl " << cmd << ": " << pw.error().message << "\n";
      exitCode = kExitUsage;
      return std::nullopt;
    }
    password = std::move(*pw);
  }
  auto c = open(args, io, cmd, exitCode);
  if (!c) return std::nullopt;
  auto hasher = hasherFrom(c->config);
  if (!hasher) {
    io.err << "erdsctl: " << hasher.error().message << "\n";
    exitCode = kExitUsage;
    return std::nullopt;
  }
  return PasswordChange{std::move(password), generated, std::move(*c), std::move(*hasher)};
}

// --party ID or --identifier mailto:... -> party id. Usage error (exit 2) when neither or both are
// given; failure (exit 1) when nobody has that identifier.
std::optional<std::string> targetParty(const Args& args, Context& c, Io& io, const std::string& cmd,
                                       int& exitCode) {
  if (args.has("--party") == args.has("--identifier")) {
    io.err << "erdsctl " << cmd
           << ": give exactly one of --party ID or --identifier mailto:ADDRESS\n";
    exitCode = kExitUsage;
    return std::nullopt;
  }
  if (args.has("--party")) {
    auto p = c.accounts->findParty(args.get("--party"));
    if (!p) {
      io.err << "erdsctl " << cmd << ": "
             << (p.error().is(ErrorCode::NotFound) ? "no such party" : oneLine(p.error().message))
             << "\n";
      exitCode = kExitFailure;
      return std::nullopt;
    }
    return p->id;
  }
  auto creds = c.credentials->findByIdentifier(args.get("--identifier"));
  if (!creds || !creds->has_value()) {
    io.err << "erdsctl " << cmd << ": "
           << (creds ? "no account has that identifier" : oneLine(creds.error().message)) << "\n";
    exitCode = kExitFailure;
    return std::nullopt;
  }
  return (*creds)->partyId;
}

bool validIdentifier(const std::string& id) {
  const std::string l = lower(id);
  if (l.rfind("mailto:", 0) != 0 || id.size() > 320) return false;
  const std::string addr = id.substr(7);
  const auto at = addr.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= addr.size() ||
      addr.find('@', at + 1) != std::string::npos) {
    return false;
  }
  for (unsigned char ch : addr) {
    if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>' || ch == ',' || ch == ';' || ch == '"' ||
        ch == '\\') {
      return false;
    }
  }
  return addr.find('.', at) != std::string::npos;
}

int userAdd(const Args& args, Io& io) {
  const std::string cmd = "user add";
  const std::string identifier = args.get("--identifier");
  if (!validIdentifier(identifier)) {
    io.err << "erdsctl user add: --identifier must be \"mailto:local@domain\"\n";
    return kExitUsage;
  }
  auto roles = parseRoles(args.getAll("--role"));
  if (!roles) {
    io.err << "erdsctl user add: " << roles.error().message << "\n";
    return kExitUsage;
  }
  int exitCode = kExitFailure;
  auto change = preparePasswordChange(args, io, cmd, exitCode);
  if (!change) return exitCode;
  const Secret& password = change->password;
  const bool generated = change->generated;
  Context* c = &change->context;
  auto phc = change->hasher.hash(password.reveal());
  if (!phc) {
    io.err << "erdsctl user add: " << oneLine(phc.error().message) << "\n";
    return kExitFailure;
  }
  Party party;
  party.id = "p_" + crypto::toHex(crypto::randomBytes(16));
  party.roles = *roles;
  party.natural = identity::NaturalPersonAttributes{args.get("--family-name"),
                                                    args.get("--first-name"), "", ""};
  party.createdAt = SystemClock::instance().now();
  const std::string loginId = lower(identifier);
  auto created = c->accounts->createAccount(party, loginId, *phc);
  if (!created) {
    (void)c->record("identity.operator.user_add", "", "failure",
                    "{\"reason\":\"" +
                        std::string(created.error().is(ErrorCode::Conflict) ? "exists" : "error") +
                        "\"}");
    io.err << "erdsctl user add: "
           << (created.error().is(ErrorCode::Conflict) ? "an account with that identifier exists"
                                                       : oneLine(created.error().message))
           << "\n";
    return kExitFailure;
  }
  bool bound = false;
  if (args.has("--bind")) {
    // The operator vouches for control of the address (e.g. checked at the desk): claim and
    // confirm with a code that is never shown.
    const std::string code = crypto::toHex(crypto::randomBytes(16));
    const std::string hash = crypto::sha256("erds-identifier-code:" + code);
    const TimePoint now = SystemClock::instance().now();
    auto claim =
        c->accounts->claimIdentifier(party.id, loginId, hash, now + std::chrono::minutes(1), now);
    if (claim) {
      auto b = c->accounts->confirmIdentifier(party.id, claim->id, hash, now);
      bound = b.has_value();
      if (!b)
        io.err << "erdsctl user add: account created, but binding failed: "
               << oneLine(b.error().message) << "\n";
    } else {
      io.err << "erdsctl user add: account created, but binding failed: "
             << oneLine(claim.error().message) << "\n";
    }
  }
  auto audited =
      c->record("identity.operator.user_add", "party:" + party.id, "success",
                "{\"roles\":" + rolesJson(*roles) + ",\"bound\":" + (bound ? "true" : "false") +
                    ",\"generated_password\":" + (generated ? "true" : "false") + "}");
  if (!audited)
    io.err << "erdsctl user add: audit record failed: " << oneLine(audited.error().message) << "\n";
  io.out << party.id << "\n";
  if (generated) io.out << "one-time password: " << password.reveal() << "\n";
  if (args.has("--bind") && !bound) return kExitFailure;
  return audited ? kExitOk : kExitFailure;
}

int userList(const Args& args, Io& io) {
  int limit = 1000;
  if (args.has("--limit")) {
    try {
      limit = std::stoi(args.get("--limit"));
    } catch (const std::exception&) {
      limit = -1;
    }
    if (limit < 1 || limit > 100000) {
      io.err << "erdsctl user list: --limit must be 1..100000\n";
      return kExitUsage;
    }
  }
  int exitCode = kExitFailure;
  auto c = open(args, io, "user list", exitCode);
  if (!c) return exitCode;
  auto parties = c->accounts->listParties(limit, 0);
  if (!parties) {
    io.err << "erdsctl user list: " << oneLine(parties.error().message) << "\n";
    return kExitFailure;
  }
  io.out << "PARTY\tLOGIN\tROLES\tDISABLED\tCREATED\n";
  for (const Party& p : *parties) {
    bool disabled = false;
    (void)c->accounts->findParty(p.id, &disabled);
    auto login = c->accounts->loginIdentifierOf(p.id);
    io.out << p.id << "\t" << (login ? *login : "-") << "\t" << rolesText(p.roles) << "\t"
           << (disabled ? "yes" : "no") << "\t" << formatRfc3339(p.createdAt, false) << "\n";
  }
  return kExitOk;
}

// IDENTIFIER -> party id: a mailto: address is a login identifier, else a bound delivery
// identifier; anything else is a party id. nullopt if no party matches.
Result<std::optional<std::string>> partyNamed(Context& c, const std::string& name) {
  if (lower(name.substr(0, 7)) == "mailto:") {
    const std::string id = lower(name);
    auto creds = c.credentials->findByIdentifier(id);
    if (!creds) return creds.error();
    if (creds->has_value()) return std::optional<std::string>((*creds)->partyId);
    return c.accounts->partyBoundTo(id);
  }
  auto p = c.accounts->findParty(name);
  if (!p) {
    if (p.error().is(ErrorCode::NotFound)) return std::optional<std::string>();
    return p.error();
  }
  return std::optional<std::string>(p->id);
}

std::string timeText(TimePoint t) { return formatRfc3339(t, false); }

// One tab-separated section: a title line, a header line, then the rows (or "(none)").
template <typename T, typename F>
void printSection(std::ostream& out, const std::string& title, const std::string& header,
                  const std::vector<T>& rows, F row) {
  out << "\n" << title << "\n" << header << "\n";
  if (rows.empty()) out << "(none)\n";
  for (const T& r : rows)
    out << row(r) << "\n";
}

int userShow(const Args& args, Io& io) {
  const std::string cmd = "user show";
  int exitCode = kExitFailure;
  auto c = open(args, io, cmd, exitCode);
  if (!c) return exitCode;
  const std::string name = args.positional().front();
  auto fail = [&](const std::string& why) {
    io.err << "erdsctl user show: " << oneLine(why) << "\n";
    return kExitFailure;
  };
  auto target = partyNamed(*c, name);
  if (!target) return fail(target.error().message);
  if (!target->has_value()) return fail("no party has that identifier");
  const std::string partyId = **target;
  bool disabled = false;
  auto party = c->accounts->findParty(partyId, &disabled);
  if (!party) return fail(party.error().message);
  auto login = c->accounts->loginIdentifierOf(partyId);
  auto bindings = c->accounts->bindingsOf(partyId);
  if (!bindings) return fail(bindings.error().message);
  auto identifications = c->verifications->identificationsOf(partyId);
  if (!identifications) return fail(identifications.error().message);
  auto requests = c->accounts->verificationRequestsOf(partyId);
  if (!requests) return fail(requests.error().message);
  auto certificates = c->certificates->listOf(partyId);
  if (!certificates) return fail(certificates.error().message);
  auto tokens = c->appTokens->listOf(partyId);
  if (!tokens) return fail(tokens.error().message);
  // Personal data: no unaudited reading, so nothing is printed unless the record is written.
  auto audited = c->record("identity.operator.user_show", "party:" + partyId, "success", "{}");
  if (!audited) return fail("audit record failed: " + audited.error().message);

  std::ostream& out = io.out;
  out << "PARTY\tLOGIN\tROLES\tDISABLED\tCREATED\n"
      << partyId << "\t" << (login ? *login : "-") << "\t" << rolesText(party->roles) << "\t"
      << (disabled ? "yes" : "no") << "\t" << timeText(party->createdAt) << "\n";
  printSection(out, "IDENTIFIERS", "IDENTIFIER\tSTATUS\tBOUND", *bindings,
               [](const identity::IdentifierBinding& b) {
                 return b.identifier + "\t" + std::string(identity::bindingStatusName(b.status)) +
                        "\t" + (b.boundAt ? timeText(*b.boundAt) : "-");
               });
  printSection(out, "IDENTIFICATIONS", "METHOD\tLEVEL\tAT\tVALID_UNTIL\tREVOKED",
               *identifications, [](const identity::Identification& i) {
                 return std::string(identity::identificationMethodName(i.method)) + "\t" +
                        std::string(identity::levelName(i.level)) + "\t" + timeText(i.at) + "\t" +
                        (i.validUntil ? timeText(*i.validUntil) : "-") + "\t" +
                        (i.revoked ? "yes" : "no");
               });
  printSection(out, "VERIFICATION REQUESTS",
               "REQUEST\tSTATUS\tMETHOD\tLEVEL\tDOCUMENTS\tCREATED\tCREATED_BY", *requests,
               [](const identity::VerificationRequest& r) {
                 return r.id + "\t" + std::string(identity::verificationStatusName(r.status)) + "\t" +
                        std::string(identity::identificationMethodName(r.requestedMethod)) + "\t" +
                        std::string(identity::levelName(r.requestedLevel)) + "\t" +
                        std::to_string(r.documents.size()) + "\t" + timeText(r.createdAt) + "\t" +
                        r.createdBy;
               });
  printSection(out, "CERTIFICATES", "SHA256\tSUBJECT\tNOT_AFTER\tREVOKED", *certificates,
               [](const identity::PartyCertificate& pc) {
                 return pc.sha256Hex + "\t" + pc.subject + "\t" + timeText(pc.notAfter) + "\t" +
                        (pc.revokedAt ? timeText(*pc.revokedAt) : "no");
               });
  printSection(out, "APP TOKENS", "ID\tNAME\tSCOPE\tCREATED\tEXPIRES\tLAST_USED\tREVOKED", *tokens,
               [](const identity::AppToken& t) {
                 return t.id + "\t" + t.name + "\t" + t.scope + "\t" + timeText(t.createdAt) + "\t" +
                        timeText(t.expiresAt) + "\t" + (t.lastUsedAt ? timeText(*t.lastUsedAt) : "-") + "\t" +
                        (t.revokedAt ? timeText(*t.revokedAt) : "no");
               });
  return kExitOk;
}

// Revokes every application token of a party that is not revoked yet (a lost laptop, a departed
// employee): the next SMTP AUTH with any of them fails. Audited with the number revoked.
int userRevokeTokens(const Args& args, Io& io) {
  const std::string cmd = "user revoke-tokens";
  int exitCode = kExitFailure;
  auto c = open(args, io, cmd, exitCode);
  if (!c) return exitCode;
  auto target = targetParty(args, *c, io, cmd, exitCode);
  if (!target) return exitCode;
  auto fail = [&](const std::string& why) {
    io.err << "erdsctl user revoke-tokens: " << oneLine(why) << "\n";
    return kExitFailure;
  };
  auto tokens = c->appTokens->listOf(*target);
  if (!tokens) return fail(tokens.error().message);
  const TimePoint now = SystemClock::instance().now();
  int revoked = 0;
  for (const auto& t : *tokens) {
    if (t.revokedAt) continue;
    auto r = c->appTokens->revoke(*target, t.id, now);
    if (!r) {
      (void)c->record("identity.operator.revoke_app_tokens", "party:" + *target, "failure",
                      "{\"revoked\":" + std::to_string(revoked) + "}");
      return fail(r.error().message);
    }
    ++revoked;
  }
  auto audited = c->record("identity.operator.revoke_app_tokens", "party:" + *target, "success",
                           "{\"revoked\":" + std::to_string(revoked) + "}");
  if (!audited) return fail("tokens revoked, but the audit record failed: " + audited.error().message);
  io.out << revoked << " application token(s) revoked for " << *target << "\n";
  return kExitOk;
}

int userSetRole(const Args& args, Io& io) {
  const std::string cmd = "user set-role";
  auto roles = parseRoles(args.getAll("--role"));
  if (!roles) {
    io.err << "erdsctl user set-role: " << roles.error().message << "\n";
    return kExitUsage;
  }
  int exitCode = kExitFailure;
  auto c = open(args, io, cmd, exitCode);
  if (!c) return exitCode;
  auto target = targetParty(args, *c, io, cmd, exitCode);
  if (!target) return exitCode;
  auto before = c->accounts->findParty(*target);
  if (!before) {
    io.err << "erdsctl user set-role: " << oneLine(before.error().message) << "\n";
    return kExitFailure;
  }
  auto set = c->accounts->setRoles(*target, *roles);
  if (!set) {
    (void)c->record("identity.operator.set_role", "party:" + *target, "failure", "{}");
    io.err << "erdsctl user set-role: " << oneLine(set.error().message) << "\n";
    return kExitFailure;
  }
  auto audited = c->record(
      "identity.operator.set_role", "party:" + *target, "success",
      "{\"before\":" + rolesJson(before->roles) + ",\"after\":" + rolesJson(*roles) + "}");
  if (!audited) {
    io.err << "erdsctl user set-role: roles changed, but the audit record failed: "
           << oneLine(audited.error().message) << "\n";
    return kExitFailure;
  }
  io.out << *target << "\t" << rolesText(*roles) << "\n";
  return kExitOk;
}

int userResetPassword(const Args& args, Io& io) {
  const std::string cmd = "user reset-password";
  int exitCode = kExitFailure;
  auto change = preparePasswordChange(args, io, cmd, exitCode);
  if (!change) return exitCode;
  const Secret& password = change->password;
  const bool generated = change->generated;
  Context* c = &change->context;
  auto target = targetParty(args, *c, io, cmd, exitCode);
  if (!target) return exitCode;
  auto phc = change->hasher.hash(password.reveal());
  if (!phc) {
    io.err << "erdsctl user reset-password: " << oneLine(phc.error().message) << "\n";
    return kExitFailure;
  }
  auto set = c->credentials->setPasswordHash(*target, *phc);
  if (!set) {
    io.err << "erdsctl user reset-password: " << oneLine(set.error().message) << "\n";
    return kExitFailure;
  }
  // Whoever held the old password must not keep a session made with it.
  auto revoked = c->sessions->revokeAllOf(*target);
  auto audited = c->record("identity.operator.reset_password", "party:" + *target, "success",
                           "{\"sessions_revoked\":" + std::to_string(revoked ? *revoked : 0) +
                               ",\"generated_password\":" + (generated ? "true" : "false") + "}");
  if (!audited) {
    io.err << "erdsctl user reset-password: password changed, but the audit record failed: "
           << oneLine(audited.error().message) << "\n";
  }
  if (generated) io.out << "one-time password: " << password.reveal() << "\n";
  io.out << "password reset for " << *target << "; " << (revoked ? *revoked : 0)
         << " session(s) revoked\n";
  return audited && revoked ? kExitOk : kExitFailure;
}

// The options of a command that names one party: --config and --party ID | --identifier ADDRESS
// (see targetParty), then `more`.
std::vector<OptionSpec> partyOptions(std::vector<OptionSpec> more) {
  std::vector<OptionSpec> out = {{"--config", "FILE", true}, {"--party", "ID", false}, {"--identifier", "ID", false}};
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

const std::string kConnDetails =
    "Connects with database.owner_conninfo (+ owner_password_file) when set, else with\n"
    "database.conninfo (+ password_file). Changes are audited as operator:<login name>.";

// A command that changes one party named by --party or --identifier (see partyOptions): the
// shared usage prefix and options, then `moreUsage`/`more`; `details` is followed by kConnDetails.
Command partyCommand(std::string path, std::string help, const std::string& moreUsage, std::vector<OptionSpec> more,
                     const std::string& details, int (*handler)(const Args&, Io&)) {
  return Command{
      .path = std::move(path),
      .help = std::move(help),
      .usage = "--config FILE (--party ID | --identifier mailto:ADDRESS) " + moreUsage,
      .options = partyOptions(std::move(more)),
      .positionalNames = {},
      .details = details.empty() ? kConnDetails : details + " " + kConnDetails,
      .handler = handler,
  };
}

}  // namespace

Command userAddCommand() {
  return Command{
      .path = "user add",
      .help = "create an account; prints the new party id (and a one-time password)",
      .usage =
          "--config FILE --identifier mailto:ADDRESS [--role officer|admin]... [--password-stdin] "
          "[--bind]"
          " [--family-name NAME] [--first-name NAME]",
      .options = {{"--config", "FILE", true},
                  {"--identifier", "ID", true},
                  {"--role", "ROLE", false, true},
                  {"--password-stdin", "", false},
                  {"--bind", "", false},
                  {"--family-name", "NAME", false},
                  {"--first-name", "NAME", false}},
      .positionalNames = {},
      .details =
          "Without --password-stdin a one-time password is generated and printed once.\n"
          "--bind also binds the identifier as the party's delivery address (the operator\n"
          "vouches for control of it). " +
          kConnDetails,
      .handler = userAdd,
  };
}

Command userListCommand() {
  return Command{
      .path = "user list",
      .help = "list accounts (party id, login identifier, roles, disabled, created)",
      .usage = "--config FILE [--limit N]",
      .options = {{"--config", "FILE", true}, {"--limit", "N", false}},
      .positionalNames = {},
      .details = "One line per party; `erdsctl user show IDENTIFIER` prints one party in full. " +
                 kConnDetails,
      .handler = userList,
  };
}

Command userShowCommand() {
  return Command{
      .path = "user show",
      .help = "show one party: identifiers, identifications, verification requests, certificates, app tokens",
      .usage = "--config FILE IDENTIFIER",
      .options = {{"--config", "FILE", true}},
      .positionalNames = {"IDENTIFIER"},
      .details =
          "IDENTIFIER is a login or bound delivery identifier (mailto:ADDRESS) or a party id.\n"
          "Prints the party (login, roles, disabled, created), its delivery identifiers, its\n"
          "identifications (method, level, time, valid until, revoked), its verification requests\n"
          "(status, method, level, number of documents, created, created by) and its registered\n"
          "client certificates (SHA-256 fingerprint, subject, not after, revoked) and application\n"
          "tokens (id, name, scope, created, expires, last used, revoked; never the secret).\n"
          "Tab-separated.\n"
          "Reading personal data is audited (identity.operator.user_show); nothing is printed if\n"
          "the audit record cannot be written. Exit 1 if no party matches. " +
          kConnDetails,
      .handler = userShow,
  };
}

Command userSetRoleCommand() {
  return partyCommand("user set-role", "set a party's roles (user is implied); audited", "[--role officer|admin]...",
                      {{"--role", "ROLE", false, true}},
                      "The roles given replace the current ones; no --role leaves only \"user\".", userSetRole);
}

Command userRevokeTokensCommand() {
  return partyCommand("user revoke-tokens", "revoke all of a party's application tokens (SMTP AUTH); audited", "", {},
                      "Prints how many tokens were revoked; `erdsctl user show` lists them.", userRevokeTokens);
}

Command userResetPasswordCommand() {
  return partyCommand("user reset-password",
                      "set a new password (printed once, or read from stdin); revokes the party's sessions",
                      "[--password-stdin]", {{"--password-stdin", "", false}}, "", userResetPassword);
}

}  // namespace erds::ctl::internal
