// The identity component as erdsd runs it: PostgreSQL stores, login, sessions, TOTP, identifier
// binding, officer workflow, administration, and their HTTP routes.
#include "erds/identity/identity_service.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "crypto_util.h"
#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/http/problem.h"
#include "erds/identity/app_token.h"
#include "erds/identity/document_store.h"
#include "erds/identity/password_login.h"
#include "erds/identity/postgres_stores.h"
#include "erds/identity/session_cache.h"

namespace erds::identity {
namespace {

using http::Request;
using http::Response;
using http::RouteSpec;

constexpr std::size_t kMaxIdentifierLength = 320;
constexpr std::size_t kMinPasswordLength = 12;
constexpr auto kIdentifierCodeLifetime = std::chrono::minutes(30);

// ---- JSON in ----------------------------------------------------------------------------------

class JsonBody {
 public:
  static Result<JsonBody> parse(const std::string& body) {
    try {
      Poco::JSON::Parser parser;
      auto v = parser.parse(body.empty() ? std::string("{}") : body);
      auto obj = v.extract<Poco::JSON::Object::Ptr>();
      if (!obj) return Error::invalidInput("request body must be a JSON object");
      return JsonBody(obj);
    } catch (const std::exception&) {
      return Error::invalidInput("request body must be a JSON object");
    }
  }
  // nullopt if absent or null; InvalidInput (via ok=false) if present but not a string.
  Result<std::optional<std::string>> optString(const std::string& name) const {
    if (!obj_->has(name) || obj_->isNull(name)) return std::optional<std::string>();
    auto v = obj_->get(name);
    if (!v.isString()) return Error::invalidInput("\"" + name + "\" must be a string");
    return std::optional<std::string>(v.convert<std::string>());
  }
  Result<std::string> string(const std::string& name) const {
    auto v = optString(name);
    if (!v) return v.error();
    if (!v->has_value() || (*v)->empty()) return Error::invalidInput("\"" + name + "\" is required");
    return **v;
  }
  Result<std::vector<std::string>> stringArray(const std::string& name) const {
    if (!obj_->has(name)) return Error::invalidInput("\"" + name + "\" is required");
    auto arr = obj_->getArray(name);
    if (!arr) return Error::invalidInput("\"" + name + "\" must be an array of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto v = arr->get(static_cast<unsigned>(i));
      if (!v.isString()) return Error::invalidInput("\"" + name + "\" must be an array of strings");
      out.push_back(v.convert<std::string>());
    }
    return out;
  }
  // nullopt if absent or null; InvalidInput if present but not an integer.
  Result<std::optional<int64_t>> optInt(const std::string& name) const {
    if (!obj_->has(name) || obj_->isNull(name)) return std::optional<int64_t>();
    auto v = obj_->get(name);
    if (!v.isInteger()) return Error::invalidInput("\"" + name + "\" must be an integer");
    try {
      return std::optional<int64_t>(v.convert<int64_t>());
    } catch (const std::exception&) {
      return Error::invalidInput("\"" + name + "\" is out of range");
    }
  }
  Result<std::optional<bool>> optBool(const std::string& name) const {
    if (!obj_->has(name) || obj_->isNull(name)) return std::optional<bool>();
    auto v = obj_->get(name);
    if (!v.isBoolean()) return Error::invalidInput("\"" + name + "\" must be a boolean");
    return std::optional<bool>(v.convert<bool>());
  }
  // The body of `req` parsed, then its required string `name` (the handlers that take one field).
  static Result<std::string> stringField(const std::string& body, const std::string& name) {
    auto parsed = parse(body);
    if (!parsed) return parsed.error();
    return parsed->string(name);
  }
  bool has(const std::string& name) const { return obj_->has(name); }
  bool isNull(const std::string& name) const { return obj_->isNull(name); }
  std::optional<JsonBody> object(const std::string& name) const {
    auto o = obj_->getObject(name);
    if (!o) return std::nullopt;
    return JsonBody(o);
  }

 private:
  explicit JsonBody(Poco::JSON::Object::Ptr o) : obj_(std::move(o)) {}
  Poco::JSON::Object::Ptr obj_;
};

// ---- JSON out ---------------------------------------------------------------------------------

std::string q(std::string_view s) { return "\"" + log::jsonEscape(s) + "\""; }
std::string time(TimePoint t) { return q(formatRfc3339(t, false)); }

// "[a,b,...]": each item rendered by `render`.
template <typename T, typename F>
std::string jsonArray(const std::vector<T>& items, F render) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + render(items[i]);
  return out + "]";
}

// 200 {"<key>":[...]}, the shape of every list route.
template <typename T, typename F>
http::Response listResponse(std::string_view key, const std::vector<T>& items, F render) {
  return http::Response::json(200, "{" + q(key) + ":" + jsonArray(items, render) + "}");
}

// The certificate fields that go into audit details (",\"certificate\":{...}").
std::string certificateDetails(const CertificateCheck& check, bool withFingerprint) {
  return ",\"certificate\":{\"subject\":" + q(check.subject) + ",\"issuer\":" + q(check.issuer) + ",\"serial\":" +
         q(check.serialHex) + (withFingerprint ? ",\"sha256\":" + q(check.sha256Fingerprint) : std::string()) +
         ",\"status\":" + q(certificateStatusName(check.status)) + "}";
}

std::string rolesJson(RoleSet roles) {
  std::string out = "[";
  for (Role r : {Role::User, Role::Officer, Role::Admin}) {
    if (!roles.has(r)) continue;
    if (out.size() > 1) out += ",";
    out += q(roleName(r));
  }
  return out + "]";
}

std::string partyJson(const Party& p, bool disabled) {
  std::string out = "{\"id\":" + q(p.id) + ",\"kind\":" + q(partyKindName(p.kind)) + ",\"roles\":" + rolesJson(p.roles) +
                    ",\"disabled\":" + (disabled ? "true" : "false") + ",\"created_at\":" + time(p.createdAt);
  if (p.natural) {
    out += ",\"natural\":{\"family_name\":" + q(p.natural->familyName) + ",\"first_name\":" + q(p.natural->firstName) +
           ",\"date_of_birth\":" + q(p.natural->dateOfBirth) + ",\"person_identifier\":" +
           q(p.natural->personIdentifier) + "}";
  }
  if (p.legal) {
    out += ",\"legal\":{\"legal_name\":" + q(p.legal->legalName) + ",\"legal_person_identifier\":" +
           q(p.legal->legalPersonIdentifier) + "}";
  }
  return out + "}";
}

std::string authenticationJson(const AuthenticationContext& a) {
  std::string methods = "[";
  for (AuthenticationMethod m : a.methods) methods += (methods.size() > 1 ? "," : "") + q(authenticationMethodName(m));
  methods += "]";
  return "{\"level\":" + q(levelName(a.level)) + ",\"methods\":" + methods + ",\"strong\":" +
         (a.strong() ? "true" : "false") + ",\"at\":" + time(a.at) + "}";
}

std::string bindingJson(const IdentifierBinding& b) {
  std::string out = "{\"id\":" + q(b.id) + ",\"identifier\":" + q(b.identifier) + ",\"status\":" +
                    q(bindingStatusName(b.status)) + ",\"created_at\":" + time(b.createdAt);
  if (b.boundAt) out += ",\"bound_at\":" + time(*b.boundAt);
  if (b.status == BindingStatus::Pending) out += ",\"code_expires_at\":" + time(b.codeExpiresAt);
  return out + "}";
}

std::string identificationJson(const Identification& i) {
  std::string out = "{\"id\":" + q(i.id) + ",\"method\":" + q(identificationMethodName(i.method)) + ",\"level\":" +
                    q(levelName(i.level)) + ",\"at\":" + time(i.at) + ",\"revoked\":" + (i.revoked ? "true" : "false");
  if (i.validUntil) out += ",\"valid_until\":" + time(*i.validUntil);
  return out + "}";
}

std::string documentJson(const DocumentScanInfo& d) {
  std::string out = "{\"id\":" + q(d.id) + ",\"content_type\":" + q(d.contentType) + ",\"size\":" +
                    std::to_string(d.size) + ",\"sha256\":" + q(d.sha256Hex) + ",\"uploaded_at\":" +
                    time(d.uploadedAt) + ",\"purged\":" + (d.purged ? "true" : "false");
  if (d.retentionUntil) out += ",\"retention_until\":" + time(*d.retentionUntil);
  return out + "}";
}

std::string appointmentJson(const std::optional<Appointment>& a) {
  if (!a) return "null";
  return "{\"preferred_at\":" + time(a->preferredAt) + ",\"note\":" + q(a->note) + "}";
}

std::string requestJsonWith(const VerificationRequest& r, std::chrono::seconds deadline) {
  std::string out = "{\"id\":" + q(r.id) + ",\"party_id\":" + q(r.partyId) + ",\"created_by\":" + q(r.createdBy) +
                    ",\"requested_level\":" + q(levelName(r.requestedLevel)) + ",\"status\":" +
                    q(verificationStatusName(r.status)) + ",\"created_at\":" + time(r.createdAt) + ",\"version\":" +
                    std::to_string(r.version) + ",\"method\":" + q(identificationMethodName(r.requestedMethod)) +
                    ",\"appointment\":" + appointmentJson(r.appointment) + ",\"deadline\":" +
                    time(r.createdAt + std::chrono::duration_cast<std::chrono::microseconds>(deadline));
  out += ",\"documents\":[";
  for (std::size_t i = 0; i < r.documents.size(); ++i) out += (i ? "," : "") + documentJson(r.documents[i]);
  out += "]";
  if (r.document) {
    // The document number is never returned (only its keyed hash is stored).
    out += ",\"document\":{\"type\":" + q(r.document->documentType) + ",\"issuing_country\":" +
           q(r.document->issuingCountry) + ",\"expires_on\":" + q(r.document->expiresOn) + ",\"reviewed_by\":" +
           q(r.document->reviewedBy) + "}";
  }
  out += ",\"approvals\":[";
  for (std::size_t i = 0; i < r.approvals.size(); ++i) {
    const Approval& a = r.approvals[i];
    out += std::string(i ? "," : "") + "{\"officer_id\":" + q(a.officerId) + ",\"method\":" +
           q(identificationMethodName(a.method)) + ",\"level\":" + q(levelName(a.level)) + ",\"at\":" + time(a.at) + "}";
  }
  out += "]";
  if (r.status == VerificationStatus::Rejected) out += ",\"rejection_reason\":" + q(r.rejectionReason);
  if (!r.decidedBy.empty()) out += ",\"decided_by\":" + q(r.decidedBy) + ",\"decided_at\":" + time(r.decidedAt);
  return out + "}";
}

// ---- responses --------------------------------------------------------------------------------

Response problem(const http::ProblemType& type, std::string_view detail, const Request& req) {
  return Response::text(type.status, http::renderProblem(type, detail, req.path, req.requestId),
                        std::string(http::kProblemContentType));
}

Response unauthorizedResponse(const Request& req, std::string_view detail) {
  Response r = problem(http::problemType(ErrorCode::Unauthorized), detail, req);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"erds\"");
  return r;
}

Response forbidden(const Request& req, std::string_view detail) {
  return problem(http::problemType(http::FrameworkError::Forbidden), detail, req);
}

std::string clientIp(const Request& req) {
  const std::string& a = req.clientAddress;
  if (!a.empty() && a.front() == '[') {
    auto end = a.find(']');
    return end == std::string::npos ? a : a.substr(1, end - 1);
  }
  auto colon = a.rfind(':');
  if (colon != std::string::npos && a.find(':') == colon) return a.substr(0, colon);
  return a;
}

Result<void> validateIdentifier(const std::string& id) {
  const Error bad = Error::invalidInput("identifier must be \"mailto:local@domain\"");
  if (id.size() > kMaxIdentifierLength || id.size() < 7) return bad;
  std::string scheme = id.substr(0, 7);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "mailto:") return bad;
  std::string addr = id.substr(7);
  auto at = addr.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= addr.size() || addr.find('@', at + 1) != std::string::npos) {
    return bad;
  }
  for (unsigned char c : addr) {
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' || c == '\\') return bad;
  }
  if (addr.find('.', at) == std::string::npos) return bad;
  return ok();
}

Result<void> validatePassword(const std::string& pw) {
  if (pw.size() < kMinPasswordLength) {
    return Error::invalidInput("password must be at least " + std::to_string(kMinPasswordLength) + " characters");
  }
  if (pw.size() > PasswordHasher::kMaxPasswordBytes) return Error::invalidInput("password too long");
  return ok();
}

std::string newCode() {
  // 8 decimal digits from 40 random bits (bias below 1e-4, irrelevant with 5 attempts).
  std::string raw = internal::randomBytes(5);
  uint64_t v = 0;
  for (unsigned char c : raw) v = (v << 8) | c;
  std::string s = std::to_string(v % 100000000ULL);
  return std::string(8 - s.size(), '0') + s;
}

std::string codeHash(std::string_view code) { return internal::sha256("erds-identifier-code:" + std::string(code)); }

// "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"; nullopt for anything else.
std::optional<TimePoint> parseRfc3339(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, n = 0;
  if (s.size() < 20 || s.size() > 40 ||
      std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::size_t p = 19;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
  }
  int offset = 0;
  if (p + 1 == s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    offset = 0;
  } else if (p + 6 == s.size() && (s[p] == '+' || s[p] == '-') && s[p + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59) return std::nullopt;
    offset = (s[p] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return TimePoint(std::chrono::seconds(timegm(&tm) - offset));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// ---- options ----------------------------------------------------------------------------------

Result<IdentityOptions> IdentityOptions::fromConfig(const Config& config) {
  IdentityOptions o;
  o.mode = config.mode();
  auto where = [&](const std::string& key) { return key + " (" + config.sourceOf(key) + ")"; };
  auto intKey = [&](const std::string& key, int64_t lo, int64_t hi) -> Result<uint32_t> {
    int64_t v = config.getInt(key);
    if (v < lo || v > hi) {
      return Error::invalidInput(where(key) + ": must be " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return static_cast<uint32_t>(v);
  };
  auto t = intKey("identity.argon2_t_cost", 1, 20);
  if (!t) return t.error();
  auto m = intKey("identity.argon2_m_cost_kib", 64, 1 << 21);
  if (!m) return m.error();
  auto p = intKey("identity.argon2_parallelism", 1, 16);
  if (!p) return p.error();
  o.argon2.timeCost = *t;
  o.argon2.memoryKiB = *m;
  o.argon2.parallelism = *p;
  if (auto v = o.argon2.validate(); !v) return Error::invalidInput("identity.argon2_*: " + v.error().message);

  o.sessions.idleTimeout =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(config.getMillis("identity.session_idle_timeout")));
  o.sessions.absoluteTimeout = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::milliseconds(config.getMillis("identity.session_absolute_timeout")));
  if (o.sessions.idleTimeout.count() < 60) return Error::invalidInput(where("identity.session_idle_timeout") + ": must be >= 1m");
  if (o.sessions.absoluteTimeout < o.sessions.idleTimeout) {
    return Error::invalidInput(where("identity.session_absolute_timeout") + ": must be >= identity.session_idle_timeout");
  }
  if (o.sessions.touchInterval > o.sessions.idleTimeout / 2) o.sessions.touchInterval = o.sessions.idleTimeout / 2;

  auto accountLimit =
      http::RateLimit::fromConfig(config, "http.rate_per_account_per_second", "http.rate_account_burst");
  if (!accountLimit) return accountLimit.error();
  o.accountRateLimit = *accountLimit;
  auto policy = gatePolicyFromConfig(config);
  if (!policy) return policy.error();
  o.gatePolicy = std::move(*policy);
  auto seconds = [&](const std::string& key, int64_t minSeconds) -> Result<std::chrono::seconds> {
    const auto v = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(config.getMillis(key)));
    if (v.count() < minSeconds) {
      return Error::invalidInput(where(key) + ": must be >= " + std::to_string(minSeconds) + "s");
    }
    return v;
  };
  auto deadline = seconds("identity.verification_deadline", 60);
  if (!deadline) return deadline.error();
  o.verificationDeadline = *deadline;
  auto retention = seconds("identity.document_retention", 0);
  if (!retention) return retention.error();
  o.documentRetention = *retention;
  auto interval = seconds("identity.purge_interval", 1);
  if (!interval) return interval.error();
  o.purgeInterval = *interval;
  o.maxDocumentBytes = config.getBytes("identity.max_document_bytes");
  if (o.maxDocumentBytes < 1024 || o.maxDocumentBytes > (int64_t{256} << 20)) {
    return Error::invalidInput(where("identity.max_document_bytes") + ": must be 1KiB..256MiB");
  }

  o.workflow.secondApprovalForHigh = config.getBool("identity.second_approval_for_high");
  const std::string strong = config.getString("identity.require_strong_authentication");
  o.requireStrongAuthentication =
      (strong.empty() ? o.mode == ServiceMode::Qualified : strong == "true") ||
      o.gatePolicy.submit.requireStrongAuthentication || o.gatePolicy.handover.requireStrongAuthentication;
  o.totpIssuer = config.getString("identity.totp_issuer");
  if (o.totpIssuer.empty()) o.totpIssuer = "erds";
  o.revealCodesInLog = o.mode == ServiceMode::Development;

  auto secret = [&](const std::string& key, std::size_t minBytes, Secret& out) -> Result<void> {
    if (!config.isSet(key)) {
      if (o.mode != ServiceMode::Development) {
        return Error::invalidInput(key + " (" + config.sourceOf(key) + "): required in service.mode=" +
                                   std::string(serviceModeName(o.mode)));
      }
      log::warn("identity.ephemeral_secret",
                {{"key", key}, {"effect", "random per process; data protected by it is lost on restart"}});
      out = Secret(crypto::randomBytes(32));
      return ok();
    }
    auto s = config.readSecret(key);
    if (!s) return s.error();
    if (s->size() < minBytes) {
      return Error::invalidInput(key + " (" + config.getPath(key) + "): needs at least " + std::to_string(minBytes) +
                                 " bytes");
    }
    out = std::move(*s);
    return ok();
  };
  auto pemFile = [&](const std::string& key, std::vector<std::string>& out) -> Result<void> {
    if (!config.isSet(key)) return ok();
    const std::string path = config.getPath(key);
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::invalidInput(key + " (" + path + "): cannot read file");
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find("-----BEGIN") == std::string::npos) {
      return Error::invalidInput(key + " (" + path + "): no PEM data");
    }
    out.push_back(ss.str());
    return ok();
  };
  ERDS_RETURN_IF_ERROR(pemFile("identity.client_ca_file", o.certificates.trustAnchorsPem));
  ERDS_RETURN_IF_ERROR(pemFile("identity.qualified_ca_file", o.certificates.qualifiedCasPem));
  ERDS_RETURN_IF_ERROR(pemFile("identity.crl_file", o.certificates.crlsPem));
  o.certificates.requireCrl = config.getBool("identity.require_crl");
  o.certificateLogin = !o.certificates.trustAnchorsPem.empty() || !o.certificates.qualifiedCasPem.empty();
  o.smtpAppTokens = smtpAppTokensAllowed(config);
  if (o.certificateLogin) {
    auto v = CertificateValidator::create(o.certificates);
    if (!v) return Error::invalidInput("identity.client_ca_file / identity.qualified_ca_file / identity.crl_file: " +
                                       v.error().message);
  }

  ERDS_RETURN_IF_ERROR(secret("secrets.kek_file", 32, o.kek));
  if (config.isSet("identity.document_pepper_file") || !config.isSet("secrets.kek_file")) {
    ERDS_RETURN_IF_ERROR(secret("identity.document_pepper_file", 32, o.documentPepper));
  } else {
    // No separate pepper: derive one from the KEK (domain-separated), so document-number hashes
    // stay keyed and stable across restarts.
    o.documentPepper = Secret(internal::hmac("SHA256", o.kek.reveal(), "erds identity document-number pepper v1"));
  }
  return o;
}

// ---- the service ------------------------------------------------------------------------------

struct IdentityService::Impl {
  Impl(IdentityOptions o, pg::Pool& p, const Clock& c, Notifier& n, crypto::KeyEncryptionKey k, PasswordHasher h,
       DocumentNumberHasher d, Secret identifierHashKey, Secret appTokenKey)
      : options(std::move(o)),
        pool(p),
        clock(c),
        notifier(n),
        audit(c),
        kek(std::move(k)),
        hasher(std::move(h)),
        documentHasher(std::move(d)),
        accounts(p),
        credentials(p),
        factors(p, kek),
        sessionStore(p, options.sessions.idleTimeout),
        sessionCache(sessionStore, c),
        throttleStore(p),
        verifications(p, audit),
        documents(p, kek, audit),
        certificates(p),
        appTokenStore(p),
        throttle(throttleStore, c, std::move(identifierHashKey)),
        login(credentials, factors, throttle, hasher, c),
        sessions(sessionCache, c, options.sessions),
        totp(factors, c),
        workflow(verifications, c, documentHasher, options.workflow),
        authenticator(sessions, accounts, options.accountRateLimit, c),
        appTokens(appTokenStore, c, std::move(appTokenKey)) {}

  IdentityOptions options;
  pg::Pool& pool;
  const Clock& clock;
  Notifier& notifier;
  AuditLog audit;
  crypto::KeyEncryptionKey kek;
  PasswordHasher hasher;
  DocumentNumberHasher documentHasher;
  PostgresAccountStore accounts;
  PostgresCredentialStore credentials;
  PostgresSecondFactorStore factors;
  PostgresSessionStore sessionStore;
  // The per-request session check reads through a <= 5 s cache (identity_bench: median 52 us
  // without, 25 us with it); revocations made here drop the entry at once, others apply within 5 s.
  CachingSessionStore sessionCache;
  PostgresThrottleStore throttleStore;
  PostgresVerificationStore verifications;
  PostgresDocumentStore documents;
  PostgresPartyCertificateStore certificates;
  PostgresAppTokenStore appTokenStore;
  LoginThrottle throttle;
  PasswordLogin login;
  SessionManager sessions;
  TotpVerifier totp;
  VerificationWorkflow workflow;
  HttpAuthenticator authenticator;
  AppTokenManager appTokens;
  std::optional<CertificateValidator> certificateValidator;  // set iff options.certificateLogin

  // Background purge (startBackgroundTasks).
  std::mutex bgMu;
  std::condition_variable bgCv;
  bool bgStop = false;
  std::thread bgThread;

  std::string requestJson(const VerificationRequest& r) const {
    return requestJsonWith(r, options.verificationDeadline);
  }
  Response requestList(const std::vector<VerificationRequest>& list) const {
    return listResponse("verification_requests", list, [this](const VerificationRequest& r) { return requestJson(r); });
  }

  // Appends an audit record in its own transaction; a failure is logged and returned.
  Result<void> record(const std::string& actor, const std::string& action, const std::string& object,
                      const std::string& outcome, const std::string& details = "{}") {
    AuditEvent e;
    e.actor = actor;
    e.action = action;
    e.object = object;
    e.outcome = outcome;
    e.detailsJson = details;
    auto r = audit.append(pool, e);
    if (!r) {
      log::error("identity.audit_failed", {{"action", action}, {"error", r.error().toString()}});
      return r.error();
    }
    return ok();
  }

  // An audit record about the caller's own account (actor and object are the caller).
  Result<void> recordSelf(const AuthenticatedParty& who, const std::string& action, const std::string& outcome,
                          const std::string& details = "{}") {
    return record("party:" + who.partyId, action, "party:" + who.partyId, outcome, details);
  }

  // A refusal: a "denied" audit record {"reason":why<extra>} by the caller, and 403 with `why`.
  Response deny(const Request& req, const AuthenticatedParty& who, const std::string& action,
                const std::string& object, const std::string& why, const std::string& extraDetails = "") {
    (void)record("party:" + who.partyId, action, object, "denied", "{\"reason\":" + q(why) + extraDetails + "}");
    return forbidden(req, why);
  }

  // The end of every successful sign-in: a session presented at login is revoked (fixation), a new
  // one is created and audited as `action` (no unaudited sessions), and 201 carries the token and
  // the erds_session cookie. `auditExtra` and `replyExtra` are appended to the JSON objects.
  Result<Response> issueSession(const Request& req, const std::string& partyId, const AuthenticationContext& auth,
                                const std::string& action, const std::string& auditExtra,
                                const std::string& replyExtra = "") {
    if (auto presented = HttpAuthenticator::sessionCookie(req)) (void)sessions.revoke(*presented);
    auto issued = sessions.create(partyId, auth);
    if (!issued) return issued.error();
    const std::string ref = "session:" + internal::hex(issued->session.tokenHash).substr(0, 32);
    auto audited = record("party:" + partyId, action, "party:" + partyId, "success",
                          "{\"session\":" + q(ref) + ",\"authentication\":" + authenticationJson(auth) + auditExtra +
                              "}");
    if (!audited) {
      (void)sessions.revoke(issued->token.reveal());  // no unaudited sessions
      return Error::unavailable("audit log unavailable");
    }
    Response r = Response::json(
        201, "{\"token\":" + q(issued->token.reveal()) + ",\"token_type\":\"Bearer\",\"party_id\":" + q(partyId) +
                 ",\"expires_at\":" + time(issued->session.absoluteExpiresAt) + ",\"idle_timeout_seconds\":" +
                 std::to_string(options.sessions.idleTimeout.count()) + ",\"authentication\":" +
                 authenticationJson(auth) + replyExtra + "}");
    r.headers.emplace_back("Set-Cookie", sessionCookie(issued->token));
    return r;
  }

  static Actor actorOf(const AuthenticatedParty& p) {
    return Actor{p.partyId, p.roles, p.sessionRef, p.authentication.strong()};
  }

  std::string sessionCookie(const Secret& token) const {
    return std::string(kSessionCookieName) + "=" + std::string(token.reveal()) +
           "; Path=/; Max-Age=" + std::to_string(options.sessions.absoluteTimeout.count()) +
           "; Secure; HttpOnly; SameSite=Strict";
  }

  // Wraps a handler that needs an authenticated caller.
  template <typename F>
  http::Handler authed(F f) {
    return [this, f](const Request& req) -> Result<Response> {
      auto who = authenticator.authenticate(req);
      if (!who) {
        if (who.error().is(ErrorCode::Unauthorized)) return unauthorizedResponse(req, who.error().message);
        return who.error();
      }
      return f(req, *who);
    };
  }

  // ---- handlers ----

  struct NewAccount {
    std::string loginId;  // lower case
    Secret password;
    NaturalPersonAttributes natural;
  };
  // The account fields of a registration or an admin's new party: identifier and password
  // (required, validated), family_name and first_name (optional). InvalidInput otherwise.
  static Result<NewAccount> parseNewAccount(const JsonBody& body) {
    auto identifier = body.string("identifier");
    if (!identifier) return identifier.error();
    auto password = body.string("password");
    if (!password) return password.error();
    ERDS_RETURN_IF_ERROR(validateIdentifier(*identifier));
    ERDS_RETURN_IF_ERROR(validatePassword(*password));
    auto family = body.optString("family_name");
    if (!family) return family.error();
    auto first = body.optString("first_name");
    if (!first) return first.error();
    return NewAccount{lower(*identifier), Secret(std::move(*password)),
                      NaturalPersonAttributes{family->value_or(""), first->value_or(""), "", ""}};
  }

  Result<Response> registration(const Request& req) {
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto account = parseNewAccount(*body);
    if (!account) return account.error();
    const std::string& loginId = account->loginId;
    const Secret& pw = account->password;

    // The throttle bounds how much Argon2 work one address can make us do.
    auto gate = throttle.check(loginId, clientIp(req));
    if (!gate) return gate.error();
    if (!gate->allowed) return tooMany(req, gate->retryAfter);

    auto phc = hasher.hash(pw.reveal());
    if (!phc) return phc.error();
    Party party;
    party.id = "p_" + internal::hex(internal::randomBytes(16));
    party.kind = PartyKind::Natural;
    party.roles = RoleSet{Role::User};
    party.natural = account->natural;
    party.createdAt = clock.now();
    auto created = accounts.createAccount(party, loginId, *phc);
    const std::string accepted =
        R"({"status":"accepted","next":"sign in, then confirm your address with the code sent to it"})";
    if (!created) {
      if (!created.error().is(ErrorCode::Conflict)) return created.error();
      // Same answer as a new registration: registration must not tell who has an account.
      (void)record("anonymous", "identity.registration", "", "denied", R"({"reason":"identifier exists"})");
      (void)throttle.recordFailure(loginId, clientIp(req));
      return Response::json(202, accepted);
    }
    (void)record("party:" + party.id, "identity.registration", "party:" + party.id, "success");
    auto claim = claimAndSend(party.id, loginId);
    if (!claim) log::warn("identity.registration_claim_failed", {{"error", claim.error().toString()}});
    return Response::json(202, accepted);
  }

  Response tooMany(const Request& req, std::chrono::seconds retryAfter) {
    Response r = problem(http::problemType(http::FrameworkError::TooManyRequests),
                         "too many failed attempts; try again later", req);
    r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, retryAfter.count())));
    return r;
  }

  Result<IdentifierBinding> claimAndSend(const std::string& partyId, const std::string& identifier) {
    const std::string code = newCode();
    const TimePoint expires =
        clock.now() + std::chrono::duration_cast<std::chrono::microseconds>(kIdentifierCodeLifetime);
    auto b = accounts.claimIdentifier(partyId, identifier, codeHash(code), expires, clock.now());
    if (!b) return b.error();
    auto sent = notifier.sendProofOfControlCode(b->identifier, Secret(code), expires);
    if (!sent) return sent.error();
    return b;
  }

  Result<Response> createSession(const Request& req) {
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto identifier = body->string("identifier");
    if (!identifier) return identifier.error();
    auto password = body->string("password");
    if (!password) return password.error();
    auto totpCode = body->optString("totp");
    if (!totpCode) return totpCode.error();
    auto recovery = body->optString("recovery_code");
    if (!recovery) return recovery.error();
    if (identifier->size() > kMaxIdentifierLength) return Error::invalidInput("identifier too long");
    const std::string ip = clientIp(req);
    const std::string idKey = throttle.identifierKey(*identifier);

    auto gate = throttle.check(*identifier, ip);
    if (!gate) return gate.error();
    if (!gate->allowed) {
      (void)record("anonymous", "auth.login", "", "denied",
                   "{\"reason\":\"locked\",\"identifier_key\":" + q(idKey) + ",\"ip\":" + q(ip) + "}");
      return tooMany(req, gate->retryAfter);
    }
    LoginRequest lr{*identifier, Secret(std::move(*password)), totpCode->value_or(""), recovery->value_or(""), ip};
    auto outcome = login.login(lr);
    if (!outcome || outcome->status != LoginStatus::Authenticated) {
      if (outcome || outcome.error().is(ErrorCode::Unauthorized)) {
        (void)record("anonymous", "auth.login", "", "failure",
                     "{\"identifier_key\":" + q(idKey) + ",\"ip\":" + q(ip) + "}");
        // Locked meanwhile (this failure started a lockout): still the same 401, so the answer
        // to a guess never depends on whether the account exists.
        return unauthorizedResponse(req, "invalid credentials");
      }
      return outcome.error();
    }
    return issueSession(req, outcome->partyId, outcome->authentication, "auth.login", ",\"ip\":" + q(ip));
  }

  // Sign-in with the TLS client certificate of the connection (the client-certificate listener
  // asks for one but accepts anything, so every refusal here is a 401/403 and an audit record).
  // The certificate's e-mail address must be a delivery identifier bound to the party (proof of
  // control done); the session level comes from the certificate: qualified (QcCompliance under a
  // configured qualified CA) -> high, otherwise substantial.
  Result<Response> createCertificateSession(const Request& req) {
    const std::string ip = clientIp(req);
    auto refuse = [&](int status, const std::string& reason, const std::string& details) -> Response {
      (void)record("anonymous", "auth.login.certificate", "", status == 403 ? "denied" : "failure",
                   "{\"reason\":" + q(reason) + ",\"ip\":" + q(ip) + details + "}");
      if (status == 403) return forbidden(req, reason);
      return unauthorizedResponse(req, reason);
    };
    if (!certificateValidator) return refuse(403, "client certificate sign-in is not configured", "");
    if (req.clientCertificateChain.empty()) {
      return refuse(401, "no client certificate: connect to the client-certificate port and present one", "");
    }
    std::vector<std::string> intermediates(req.clientCertificateChain.begin() + 1, req.clientCertificateChain.end());
    const CertificateCheck check =
        certificateValidator->validate(req.clientCertificateChain.front(), intermediates, clock.now());
    const std::string certDetails = certificateDetails(check, true);
    if (!check.valid()) {
      // Revoked and wrong-usage certificates are known and refused (403); anything we cannot
      // trust is a failed authentication (401).
      const bool known = check.status == CertificateStatus::Revoked || check.status == CertificateStatus::WrongUsage;
      return refuse(known ? 403 : 401, "client certificate not accepted: " + std::string(certificateStatusName(check.status)),
                    certDetails);
    }
    auto owner = partyOfValidCertificate(check);
    if (!owner) return owner.error();
    if (!owner->has_value()) {
      return refuse(401, "the certificate is not registered to an account and its e-mail address is not bound to one",
                    certDetails);
    }
    const std::optional<std::string> partyId = *owner;

    AuthenticationContext auth;
    auth.at = clock.now();
    auth.methods = {check.qualified ? AuthenticationMethod::QualifiedCertificate : AuthenticationMethod::ClientCertificate};
    auth.level = authenticationLevel(auth.methods.front());
    // What the certificate proves about identity (qualified -> high, NCP -> substantial) is
    // recorded once per method, so the gate can use it.
    if (auto ident = identificationFromCertificate(check, *partyId, clock.now())) {
      auto existing = verifications.identificationsOf(*partyId);
      if (!existing) return existing.error();
      bool have = std::any_of(existing->begin(), existing->end(), [&](const Identification& i) {
        return !i.revoked && i.method == ident->method && atLeast(i.level, ident->level);
      });
      if (!have) ERDS_RETURN_IF_ERROR(accounts.recordIdentification(*ident));
    }
    const std::string qualified = std::string(",\"qualified\":") + (check.qualified ? "true" : "false");
    return issueSession(req, *partyId, auth, "auth.login.certificate", qualified + ",\"ip\":" + q(ip) + certDetails,
                        qualified);
  }

  // ---- identification with a signing certificate (signed challenge) ----
  // The challenge is stateless: random || expiry, MACed together with the party id under a key
  // derived from the KEK, so any node can check it and it is useless to another party.
  static constexpr std::chrono::seconds kChallengeLifetime{300};

  std::string challengeMac(const std::string& partyId, std::string_view payload) const {
    const std::string key = internal::hmac("SHA256", options.kek.reveal(), "erds identity certificate challenge v1");
    return internal::base64UrlEncode(internal::hmac("SHA256", key, partyId + "|" + std::string(payload)));
  }

  Result<Response> newChallenge(const Request&, const AuthenticatedParty& who) {
    const int64_t expires =
        std::chrono::duration_cast<std::chrono::seconds>((clock.now() + kChallengeLifetime).time_since_epoch()).count();
    const std::string payload = newCertificateChallenge() + "." + std::to_string(expires);
    const std::string challenge = payload + "." + challengeMac(who.partyId, payload);
    return Response::json(201, "{\"challenge\":" + q(challenge) + ",\"expires_at\":" +
                                   time(TimePoint(std::chrono::seconds(expires))) +
                                   ",\"sign\":\"ECDSA or RSA signature over SHA-256 of the challenge's ASCII bytes, "
                                   "DER, base64url\"}");
  }

  // Unauthorized unless `challenge` was issued to `partyId` and has not expired.
  Result<void> checkChallenge(const std::string& partyId, const std::string& challenge) const {
    const Error bad = Error::unauthorized("invalid or expired challenge");
    const auto lastDot = challenge.rfind('.');
    if (challenge.size() > 256 || lastDot == std::string::npos) return bad;
    const std::string payload = challenge.substr(0, lastDot);
    if (!internal::constantTimeEquals(challenge.substr(lastDot + 1), challengeMac(partyId, payload))) return bad;
    const auto dot = payload.rfind('.');
    if (dot == std::string::npos) return bad;
    int64_t expires = 0;
    try {
      expires = std::stoll(payload.substr(dot + 1));
    } catch (const std::exception&) {
      return bad;
    }
    if (TimePoint(std::chrono::seconds(expires)) < clock.now()) return bad;
    return ok();
  }

  // The party proves possession of a (qualified or NCP) signing certificate whose e-mail address
  // is its login or a bound identifier; the certificate's identification is recorded.
  Result<Response> certificateIdentification(const Request& req, const AuthenticatedParty& who) {
    const std::string actor = "party:" + who.partyId;
    auto refuse = [&](const std::string& why, const std::string& details = "") -> Result<Response> {
      return deny(req, who, "identity.certificate_identification", actor, why, details);
    };
    if (!certificateValidator) return refuse("certificate identification is not configured");
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto cert = body->string("certificate");
    if (!cert) return cert.error();
    auto challenge = body->string("challenge");
    if (!challenge) return challenge.error();
    auto signature = body->string("signature");
    if (!signature) return signature.error();
    std::vector<std::string> intermediates;
    auto chain = body->stringArray("intermediates");
    if (chain) {
      intermediates = std::move(*chain);
    } else if (chain.error().message.find("is required") == std::string::npos) {
      return chain.error();  // present but not an array of strings
    }
    if (intermediates.size() > 8) return Error::invalidInput("at most 8 intermediates");
    if (auto c = checkChallenge(who.partyId, *challenge); !c) {
      (void)record(actor, "identity.certificate_identification", actor, "failure", R"({"reason":"challenge"})");
      return c.error();
    }
    auto sig = internal::base64UrlDecode(*signature);
    if (!sig) return Error::invalidInput("signature must be base64url");
    const CertificateCheck check =
        certificateValidator->validate(*cert, intermediates, clock.now(), CertificateUsage::SignedChallenge);
    const std::string details = certificateDetails(check, false);
    if (!check.valid()) {
      return refuse("certificate not accepted: " + std::string(certificateStatusName(check.status)), details);
    }
    if (auto v = CertificateValidator::verifyChallengeSignature(*cert, *challenge, *sig); !v) {
      return refuse("the signature does not verify with the certificate", details);
    }
    // The certificate must name an address this party controls.
    std::vector<std::string> mine;
    if (auto login = accounts.loginIdentifierOf(who.partyId)) mine.push_back(lower(*login));
    auto bindings = accounts.bindingsOf(who.partyId);
    if (!bindings) return bindings.error();
    for (const auto& b : *bindings) {
      if (b.status == BindingStatus::Bound) mine.push_back(b.identifier);
    }
    const bool matches = std::any_of(check.emailAddresses.begin(), check.emailAddresses.end(), [&](const std::string& e) {
      return std::find(mine.begin(), mine.end(), "mailto:" + e) != mine.end();
    });
    if (!matches) return refuse("the certificate's e-mail address is not one of yours", details);
    auto ident = identificationFromCertificate(check, who.partyId, clock.now());
    if (!ident) return refuse("the certificate is neither qualified nor issued under an NCP policy", details);
    ERDS_RETURN_IF_ERROR(accounts.recordIdentification(*ident));
    ERDS_RETURN_IF_ERROR(recordSelf(who, "identity.certificate_identification", "success",
                                "{\"identification\":" + q(ident->id) + ",\"method\":" +
                                    q(identificationMethodName(ident->method)) + ",\"level\":" +
                                    q(levelName(ident->level)) + details + "}"));
    return Response::json(201, identificationJson(*ident));
  }

  Result<Response> deleteSession(const Request& req, const AuthenticatedParty& who) {
    auto token = HttpAuthenticator::presentedToken(req);
    auto r = sessions.revoke(token.value_or(""));
    if (!r && !r.error().is(ErrorCode::Unauthorized)) return r.error();
    (void)recordSelf(who, "auth.logout", "success", "{\"session\":" + q(who.sessionRef) + "}");
    Response out = Response::noContent();
    out.headers.emplace_back("Set-Cookie", std::string(kSessionCookieName) +
                                               "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    return out;
  }

  Result<Response> me(const Request&, const AuthenticatedParty& who) {
    bool disabled = false;
    auto party = accounts.findParty(who.partyId, &disabled);
    if (!party) return party.error();
    auto login = accounts.loginIdentifierOf(who.partyId);
    auto totpState = accounts.totpConfirmed(who.partyId);
    if (!totpState && !totpState.error().is(ErrorCode::NotFound)) return totpState.error();
    auto bindings = accounts.bindingsOf(who.partyId);
    if (!bindings) return bindings.error();
    auto ids = verifications.identificationsOf(who.partyId);
    if (!ids) return ids.error();
    std::string out = "{\"party\":" + partyJson(*party, disabled) + ",\"login_identifier\":" +
                      q(login ? *login : std::string()) + ",\"session\":" + authenticationJson(who.authentication) +
                      ",\"totp_enrolled\":" + (totpState && *totpState ? "true" : "false") +
                      ",\"identifiers\":" + jsonArray(*bindings, bindingJson) +
                      ",\"identifications\":" + jsonArray(*ids, identificationJson);
    return Response::json(200, out + "}");
  }

  Result<Response> startTotp(const Request& req, const AuthenticatedParty& who) {
    auto confirmed = accounts.totpConfirmed(who.partyId);
    if (confirmed && *confirmed) return Error::conflict("TOTP is already enrolled");
    if (!confirmed && !confirmed.error().is(ErrorCode::NotFound)) return confirmed.error();
    auto seed = totp.enrol(who.partyId);
    if (!seed) return seed.error();
    auto account = accounts.loginIdentifierOf(who.partyId);
    std::string label = account ? account->substr(account->rfind(':') + 1) : who.partyId;
    Secret uri = otpauthUri(options.totpIssuer, label, *seed);
    (void)recordSelf(who, "auth.totp.enrolment_started", "success");
    (void)req;
    return Response::json(201, "{\"otpauth_uri\":" + q(uri.reveal()) + ",\"secret\":" +
                                   q(internal::base32Encode(seed->reveal())) + "}");
  }

  Result<Response> confirmTotp(const Request& req, const AuthenticatedParty& who) {
    auto code = JsonBody::stringField(req.body, "code");
    if (!code) return code.error();
    auto confirmed = accounts.totpConfirmed(who.partyId);
    if (!confirmed) {
      return confirmed.error().is(ErrorCode::NotFound) ? Error::conflict("start TOTP enrolment first")
                                                       : confirmed.error();
    }
    if (*confirmed) return Error::conflict("TOTP is already enrolled");
    auto step = totp.verify(who.partyId, *code);
    if (!step) {
      if (!step.error().is(ErrorCode::Unauthorized)) return step.error();
      (void)recordSelf(who, "auth.totp.enrolment_confirmed", "failure");
      return Error::invalidInput("invalid one-time code");
    }
    ERDS_RETURN_IF_ERROR(accounts.confirmTotp(who.partyId));
    RecoveryCodeSet codes = generateRecoveryCodes();
    ERDS_RETURN_IF_ERROR(factors.replaceRecoveryCodes(who.partyId, codes.hashes));
    (void)recordSelf(who, "auth.totp.enrolment_confirmed", "success");
    return listResponse("recovery_codes", codes.codes, [](const Secret& c) { return q(c.reveal()); });
  }

  Result<Response> listIdentifiers(const Request&, const AuthenticatedParty& who) {
    auto bindings = accounts.bindingsOf(who.partyId);
    if (!bindings) return bindings.error();
    return listResponse("identifiers", *bindings, bindingJson);
  }

  Result<Response> addIdentifier(const Request& req, const AuthenticatedParty& who) {
    auto identifier = JsonBody::stringField(req.body, "identifier");
    if (!identifier) return identifier.error();
    ERDS_RETURN_IF_ERROR(validateIdentifier(*identifier));
    auto b = claimAndSend(who.partyId, lower(*identifier));
    if (!b) return b.error();
    (void)recordSelf(who, "identity.identifier.claimed", "success", "{\"binding\":" + q(b->id) + "}");
    return Response::json(202, bindingJson(*b));
  }

  Result<Response> confirmIdentifier(const Request& req, const AuthenticatedParty& who) {
    auto code = JsonBody::stringField(req.body, "code");
    if (!code) return code.error();
    if (code->size() > 32) return Error::invalidInput("invalid or expired code");
    auto b = accounts.confirmIdentifier(who.partyId, req.param("id"), codeHash(*code), clock.now());
    if (!b) {
      (void)recordSelf(who, "identity.identifier.bound", b.error().is(ErrorCode::Unauthorized) ? "failure" : "denied",
                       "{\"binding\":" + q(req.param("id")) + "}");
      if (b.error().is(ErrorCode::Unauthorized)) return Error::invalidInput(b.error().message);
      return b.error();
    }
    (void)recordSelf(who, "identity.identifier.bound", "success", "{\"binding\":" + q(b->id) + "}");
    return Response::json(200, bindingJson(*b));
  }

  Result<Response> listOwnRequests(const Request&, const AuthenticatedParty& who) {
    auto list = accounts.verificationRequestsOf(who.partyId);
    if (!list) return list.error();
    return requestList(*list);
  }

  // Why `who` may not act as an officer (no role, or a weak sign-in); nullopt if it may.
  static std::optional<std::string> officerRefusal(const AuthenticatedParty& who) {
    if (!who.roles.has(Role::Officer)) return "verification officer role required";
    if (!who.authentication.strong()) return "officers must sign in with a second factor or a certificate";
    return std::nullopt;
  }

  struct RequestParams {
    LevelOfAssurance level;
    IdentificationMethod method;
    std::optional<Appointment> appointment;
  };
  // The body of a new verification request: requested_level (default substantial), method
  // (default physical_presence; physical_presence or remote_id_document_scan) and an optional
  // appointment. InvalidInput for anything else.
  static Result<RequestParams> parseRequestParams(const JsonBody& body) {
    auto level = body.optString("requested_level");
    if (!level) return level.error();
    auto parsed = parseLevel(level->value_or("substantial"));
    if (!parsed) return parsed.error();
    auto methodName = body.optString("method");
    if (!methodName) return methodName.error();
    auto method = parseIdentificationMethod(methodName->value_or("physical_presence"));
    if (!method) return method.error();
    if (*method != IdentificationMethod::PhysicalPresence && *method != IdentificationMethod::RemoteIdDocumentScan) {
      return Error::invalidInput(
          "method must be physical_presence or remote_id_document_scan (a qualified certificate identifies you "
          "through POST /api/v1/me/certificate-challenge)");
    }
    std::optional<Appointment> appointment;
    if (auto a = body.object("appointment")) {
      auto at = a->string("preferred_at");
      if (!at) return at.error();
      auto when = parseRfc3339(*at);
      if (!when) return Error::invalidInput("\"appointment.preferred_at\" must be an RFC 3339 date-time");
      auto note = a->optString("note");
      if (!note) return note.error();
      appointment = Appointment{*when, note->value_or("")};
    } else if (body.has("appointment") && !body.isNull("appointment")) {
      return Error::invalidInput("\"appointment\" must be an object");
    }
    return RequestParams{*parsed, *method, std::move(appointment)};
  }

  Result<Response> openRequest(const Request& req, const AuthenticatedParty& who) {
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto params = parseRequestParams(*body);
    if (!params) return params.error();
    auto r = workflow.open(actorOf(who), who.partyId, params->level, params->method, std::move(params->appointment));
    if (!r) return r.error();
    return Response::json(201, requestJson(*r));
  }

  // An officer at the desk opens a request for the person in front of them: the party bound to
  // `identifier`. created_by is the officer, so the workflow lets only another officer decide it.
  // 404 (audited as a failure) when no party is bound to the identifier.
  Result<Response> openWalkIn(const Request& req, const AuthenticatedParty& who) {
    const std::string action = "identity.verification.walk_in";
    if (auto refused = officerRefusal(who)) return deny(req, who, action, "", *refused);
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto identifier = body->string("identifier");
    if (!identifier) return identifier.error();
    ERDS_RETURN_IF_ERROR(validateIdentifier(*identifier));
    auto params = parseRequestParams(*body);
    if (!params) return params.error();
    if (params->method != IdentificationMethod::PhysicalPresence) {
      return Error::invalidInput("a walk-in request is for method physical_presence");
    }
    // The address itself stays out of the audit log; the identifier_key of the login records
    // (HMAC-SHA256 of the lower-case address under a KEK-derived key) links the records.
    const std::string idKey = ",\"identifier_key\":" + q(throttle.identifierKey(*identifier)) +
                              ",\"session\":" + q(who.sessionRef);
    auto bound = accounts.partyBoundTo(lower(*identifier));
    if (!bound) return bound.error();
    if (!bound->has_value()) {
      (void)record("party:" + who.partyId, action, "", "failure", "{\"reason\":\"no party bound\"" + idKey + "}");
      return Error::notFound("no party is bound to that identifier");
    }
    const std::string partyId = **bound;
    auto r = workflow.open(actorOf(who), partyId, params->level, params->method, std::move(params->appointment));
    if (!r) {
      if (r.error().is(ErrorCode::Unauthorized)) return deny(req, who, action, "party:" + partyId, r.error().message);
      return r.error();
    }
    ERDS_RETURN_IF_ERROR(
        record("party:" + who.partyId, action, "party:" + partyId, "success", "{\"request\":" + q(r->id) + idKey + "}"));
    return Response::json(201, requestJson(*r));
  }

  Result<Response> getOwnRequest(const Request& req, const AuthenticatedParty& who) {
    auto r = verifications.find(req.param("id"));
    // Another party's request is "not found", exactly as a missing one.
    if (!r || r->partyId != who.partyId) {
      if (r || r.error().is(ErrorCode::NotFound)) {
        if (r) {
          (void)record("party:" + who.partyId, "identity.verification.read", "party:" + r->partyId, "denied",
                       "{\"request\":" + q(r->id) + "}");
        }
        return Error::notFound("no such verification request");
      }
      return r.error();
    }
    return Response::json(200, requestJson(*r));
  }

  Result<Response> officerQueue(const Request& req, const AuthenticatedParty& who) {
    if (!who.roles.has(Role::Officer)) return deny(req, who, "identity.officer.queue", "", "verification officer role required");
    auto list = workflow.queue(actorOf(who));
    if (!list) return list.error();
    return requestList(*list);
  }

  Result<Response> decisionError(const Request& req, const AuthenticatedParty& who, const std::string& requestId,
                                 const Error& e) {
    if (e.is(ErrorCode::Unauthorized)) {
      return deny(req, who, "identity.verification.decision", "verification_request:" + requestId, e.message);
    }
    return e;
  }

  Result<Response> approve(const Request& req, const AuthenticatedParty& who) {
    const std::string id = req.param("id");
    if (!who.roles.has(Role::Officer)) return decisionError(req, who, id, Error::unauthorized("verification officer role required"));
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto methodName = body->string("method");
    if (!methodName) return methodName.error();
    auto levelName = body->string("level");
    if (!levelName) return levelName.error();
    auto method = parseIdentificationMethod(*methodName);
    if (!method) return method.error();
    auto level = parseLevel(*levelName);
    if (!level) return level.error();
    const Actor actor = actorOf(who);
    if (auto doc = body->object("document")) {
      auto type = doc->string("type");
      if (!type) return type.error();
      auto country = doc->string("issuing_country");
      if (!country) return country.error();
      auto number = doc->string("number");
      if (!number) return number.error();
      auto expires = doc->string("expires_on");
      if (!expires) return expires.error();
      auto r = workflow.recordDocument(actor, id, *type, *country, *number, *expires);
      if (!r) return decisionError(req, who, id, r.error());
    }
    auto r = workflow.approve(actor, id, *method, *level);
    if (!r) return decisionError(req, who, id, r.error());
    startRetention(*r);
    return Response::json(200, requestJson(*r));
  }

  Result<Response> reject(const Request& req, const AuthenticatedParty& who) {
    const std::string id = req.param("id");
    if (!who.roles.has(Role::Officer)) return decisionError(req, who, id, Error::unauthorized("verification officer role required"));
    auto reason = JsonBody::stringField(req.body, "reason");
    if (!reason) return reason.error();
    auto r = workflow.reject(actorOf(who), id, *reason);
    if (!r) return decisionError(req, who, id, r.error());
    startRetention(*r);
    return Response::json(200, requestJson(*r));
  }

  // A decided request's scans are kept for identity.document_retention, then purged. If this
  // fails the purge falls back to decision time + retention.
  void startRetention(VerificationRequest& r) {
    if (r.status != VerificationStatus::Approved && r.status != VerificationStatus::Rejected) return;
    const TimePoint until = r.decidedAt + std::chrono::duration_cast<std::chrono::microseconds>(options.documentRetention);
    if (auto set = documents.setRetention(r.id, until); !set) {
      log::warn("identity.document_retention_failed", {{"request", r.id}, {"error", set.error().toString()}});
      return;
    }
    for (auto& d : r.documents) {
      if (!d.retentionUntil) d.retentionUntil = until;
    }
  }

  // ---- policy ----

  Result<Response> policy(const Request&) {
    using M = IdentificationMethod;
    static const std::pair<M, const char*> kMethods[] = {
        {M::PhysicalPresence, "In person, with an identity document"},
        {M::RemoteIdDocumentScan, "Remotely, with a scan of an identity document reviewed by an officer"},
        {M::QualifiedCertificate, "With a qualified electronic signature or seal certificate"},
        {M::NcpCertificate, "With an advanced certificate issued under the NCP policy"},
        {M::EidNotified, "With a notified electronic identification (eID) scheme"},
        {M::EudiWallet, "With the EU Digital Identity Wallet"},
        {M::CabConfirmedRemote, "With a remote method confirmed by the conformity assessment body"},
    };
    const GatePolicy& p = options.gatePolicy;
    auto action = [&](const ActionPolicy& a) {
      std::string methods = "[";
      if (a.acceptedMethods.empty()) {
        for (const auto& [m, label] : kMethods) methods += (methods.size() > 1 ? "," : "") + q(identificationMethodName(m));
      } else {
        for (const MethodRule& m : a.acceptedMethods) {
          methods += (methods.size() > 1 ? "," : "") + q(identificationMethodName(m.method));
        }
      }
      methods += "]";
      std::string levels = "{";
      for (const MethodRule& m : a.acceptedMethods) {
        if (m.minLevel == LevelOfAssurance::None || m.minLevel == LevelOfAssurance::Low) continue;
        levels += (levels.size() > 1 ? "," : "") + q(identificationMethodName(m.method)) + ":" + q(levelName(m.minLevel));
      }
      levels += "}";
      return "{\"min_level\":" + q(levelName(a.minLevel)) + ",\"methods\":" + methods +
             ",\"any_method\":" + (a.acceptedMethods.empty() ? "true" : "false") +
             ",\"method_min_levels\":" + levels + ",\"strong_authentication\":" +
             (a.requireStrongAuthentication ? "true" : "false") + ",\"advice\":" + q(a.methodAdvice) + "}";
    };
    std::string out = "{\"profile\":" + q(p.profile) + ",\"submit\":" + action(p.submit) + ",\"handover\":" +
                      action(p.handover) + ",\"methods\":[";
    bool first = true;
    for (const auto& [m, label] : kMethods) {
      const bool requestable = m == M::PhysicalPresence || m == M::RemoteIdDocumentScan ||
                               (m == M::QualifiedCertificate && certificateValidator.has_value());
      out += std::string(first ? "" : ",") + "{\"method\":" + q(identificationMethodName(m)) + ",\"label\":" + q(label) +
             ",\"requestable\":" + (requestable ? "true" : "false") + "}";
      first = false;
    }
    out += "],\"second_approval_for_high\":" + std::string(options.workflow.secondApprovalForHigh ? "true" : "false") +
           ",\"max_document_bytes\":" + std::to_string(options.maxDocumentBytes) +
           ",\"max_documents_per_request\":" + std::to_string(options.maxDocumentsPerRequest) +
           ",\"document_content_types\":[\"image/jpeg\",\"image/png\",\"application/pdf\"]" +
           ",\"smtp_app_tokens\":" + (options.smtpAppTokens ? "true" : "false") + "}";
    return Response::json(200, out);
  }

  // ---- identity document scans ----

  Result<Response> uploadDocument(const Request& req, const AuthenticatedParty& who) {
    const std::string id = req.param("id");
    const std::string actor = "party:" + who.partyId;
    auto r = verifications.find(id);
    if (!r && !r.error().is(ErrorCode::NotFound)) return r.error();
    // Another party's request, a missing one and a decided one all look the same (no existence leak).
    if (!r || r->partyId != who.partyId || r->status != VerificationStatus::Pending) {
      if (r && r->partyId != who.partyId) {
        (void)record(actor, "identity.document.upload", "party:" + r->partyId, "denied", "{\"request\":" + q(id) + "}");
      }
      return Error::notFound("no such pending verification request");
    }
    if (static_cast<int64_t>(req.body.size()) > options.maxDocumentBytes) {
      return problem(http::problemType(http::FrameworkError::PayloadTooLarge),
                     "a document may have at most " + std::to_string(options.maxDocumentBytes) + " bytes", req);
    }
    if (req.body.empty()) return Error::invalidInput("the request body must be the document (JPEG, PNG or PDF)");
    std::string declared = req.mediaType;
    if (declared.empty()) {
      if (const std::string* ct = req.header("Content-Type")) declared = lower(ct->substr(0, ct->find(';')));
      declared.erase(declared.find_last_not_of(" \t") + 1);
    }
    const std::string_view sniffed = sniffDocumentContentType(req.body);
    if (sniffed.empty() || sniffed != declared) {
      (void)record(actor, "identity.document.upload", actor, "denied",
                   "{\"request\":" + q(id) + ",\"reason\":\"content does not match an accepted type\",\"declared\":" +
                       q(declared) + "}");
      return problem(http::problemType(http::FrameworkError::UnsupportedMediaType),
                     "the document must be a JPEG, PNG or PDF file sent with its own Content-Type", req);
    }
    auto info = documents.add(id, who.partyId, std::string(sniffed), req.body, clock.now(), options.maxDocumentsPerRequest);
    if (!info) return info.error();
    return Response::json(201, "{\"document_id\":" + q(info->id) + ",\"sha256\":" + q(info->sha256Hex) + "}");
  }

  Result<Response> readDocument(const Request& req, const AuthenticatedParty& who) {
    const std::string id = req.param("id");
    const std::string docId = req.param("doc");
    const std::string actor = "party:" + who.partyId;
    auto refuse = [&](const std::string& owner, const std::string& why) -> Response {
      return deny(req, who, "identity.document.read", owner, why,
                  ",\"request\":" + q(id) + ",\"document\":" + q(docId));
    };
    if (auto weak = officerRefusal(who)) return refuse("", *weak);
    auto r = verifications.find(id);
    if (!r) return r.error();
    if (r->partyId == who.partyId) return refuse("party:" + r->partyId, "an officer cannot review their own documents");
    if (r->createdBy == who.partyId) {
      return refuse("party:" + r->partyId, "an officer cannot review a verification request they created");
    }
    auto doc = documents.read(id, docId);
    if (!doc) {
      if (!doc.error().is(ErrorCode::Unavailable)) {
        (void)record(actor, "identity.document.read", "party:" + r->partyId, "failure",
                     "{\"request\":" + q(id) + ",\"document\":" + q(docId) + ",\"reason\":" + q(doc.error().message) + "}");
      }
      return doc.error();
    }
    // No unaudited access to personal data.
    auto audited = record(actor, "identity.document.read", "party:" + doc->partyId, "success",
                          "{\"request\":" + q(id) + ",\"document\":" + q(docId) + ",\"session\":" +
                              q(who.sessionRef) + "}");
    if (!audited) return Error::unavailable("audit log unavailable");
    const std::string ext = doc->info.contentType == "image/jpeg" ? "jpg" : doc->info.contentType == "image/png" ? "png" : "pdf";
    Response out = Response::text(200, std::move(doc->bytes), doc->info.contentType);
    out.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + docId + "." + ext + "\"");
    out.headers.emplace_back("Cache-Control", "no-store");
    out.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return out;
  }

  // ---- client-certificate registry ----

  // The party a validated certificate belongs to: the registry first, then an e-mail address of
  // the certificate bound as a delivery identifier. nullopt if none (or the party is disabled).
  Result<std::optional<std::string>> partyOfValidCertificate(const CertificateCheck& check) {
    std::optional<std::string> partyId;
    auto registered = certificates.activePartyFor(check.sha256Fingerprint);
    if (!registered) return registered.error();
    partyId = *registered;
    for (std::size_t i = 0; !partyId && i < check.emailAddresses.size(); ++i) {
      auto bound = accounts.partyBoundTo("mailto:" + check.emailAddresses[i]);
      if (!bound) return bound.error();
      partyId = *bound;
    }
    if (!partyId) return partyId;
    bool disabled = false;
    auto party = accounts.findParty(*partyId, &disabled);
    if (!party) return party.error();
    if (disabled) return std::optional<std::string>();
    return partyId;
  }

  static std::string certificateJson(const PartyCertificate& c) {
    std::string out = "{\"id\":" + q(c.id) + ",\"sha256\":" + q(c.sha256Hex) + ",\"subject\":" + q(c.subject) +
                      ",\"issuer\":" + q(c.issuer) + ",\"serial\":" + q(c.serialHex) + ",\"not_after\":" +
                      time(c.notAfter) + ",\"added_at\":" + time(c.addedAt) + ",\"revoked\":" +
                      (c.revokedAt ? "true" : "false");
    if (c.revokedAt) out += ",\"revoked_at\":" + time(*c.revokedAt);
    return out + "}";
  }

  Result<Response> addCertificate(const Request& req, const AuthenticatedParty& who) {
    const std::string actor = "party:" + who.partyId;
    auto refuse = [&](const std::string& why, const std::string& details = "") -> Response {
      return deny(req, who, "identity.certificate.bind", actor, why, details);
    };
    if (!certificateValidator) return refuse("client certificates are not configured");
    if (!who.authentication.strong()) {
      return refuse("sign in with a second factor (or a certificate) before registering a certificate");
    }
    if (req.clientCertificateChain.empty()) {
      return refuse("no client certificate: connect to the client-certificate port and present one");
    }
    std::vector<std::string> intermediates(req.clientCertificateChain.begin() + 1, req.clientCertificateChain.end());
    const CertificateCheck check =
        certificateValidator->validate(req.clientCertificateChain.front(), intermediates, clock.now());
    const std::string details = certificateDetails(check, true);
    if (!check.valid()) {
      return refuse("client certificate not accepted: " + std::string(certificateStatusName(check.status)), details);
    }
    PartyCertificate c;
    c.id = "crt_" + internal::hex(internal::randomBytes(16));
    c.partyId = who.partyId;
    c.sha256Hex = check.sha256Fingerprint;
    c.subject = check.subject;
    c.issuer = check.issuer;
    c.serialHex = check.serialHex;
    c.notAfter = check.notAfter.value_or(clock.now());
    c.addedAt = clock.now();
    if (auto added = certificates.add(c); !added) {
      if (added.error().is(ErrorCode::Conflict)) {
        (void)record(actor, "identity.certificate.bind", actor, "denied", "{\"reason\":\"already registered\"" + details + "}");
      }
      return added.error();
    }
    ERDS_RETURN_IF_ERROR(recordSelf(who, "identity.certificate.bind", "success",
                                "{\"binding\":" + q(c.id) + ",\"session\":" + q(who.sessionRef) + details + "}"));
    return Response::json(201, certificateJson(c));
  }

  Result<Response> listCertificates(const Request&, const AuthenticatedParty& who) {
    auto list = certificates.listOf(who.partyId);
    if (!list) return list.error();
    return listResponse("certificates", *list, certificateJson);
  }

  Result<Response> removeCertificate(const Request& req, const AuthenticatedParty& who) {
    const std::string id = req.param("id");
    ERDS_RETURN_IF_ERROR(certificates.revoke(who.partyId, id, clock.now()));
    (void)recordSelf(who, "identity.certificate.unbind", "success", "{\"binding\":" + q(id) + "}");
    return Response::noContent();
  }

  // ---- application tokens ----

  static std::string appTokenJson(const AppToken& t) {
    std::string out = "{\"id\":" + q(t.id) + ",\"name\":" + q(t.name) + ",\"scope\":" + q(t.scope) +
                      ",\"created_at\":" + time(t.createdAt) + ",\"expires_at\":" + time(t.expiresAt) +
                      ",\"last_used_at\":" + (t.lastUsedAt ? time(*t.lastUsedAt) : std::string("null")) +
                      ",\"revoked\":" + (t.revokedAt ? "true" : "false") + ",\"created_with\":" +
                      authenticationJson(t.createdWith);
    if (t.revokedAt) out += ",\"revoked_at\":" + time(*t.revokedAt);
    return out + "}";
  }

  // The secret is returned here once; only its keyed hash is stored. Needs a strong session (the
  // rule of the certificate registry) and, for smtp-submit, a policy that accepts tokens.
  Result<Response> createAppToken(const Request& req, const AuthenticatedParty& who) {
    const std::string actor = "party:" + who.partyId;
    if (!who.authentication.strong()) {
      return deny(req, who, "identity.app_token.create", actor,
                  "sign in with a second factor (or a certificate) before creating an application token");
    }
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto name = body->string("name");
    if (!name) return name.error();
    auto scope = body->optString("scope");
    if (!scope) return scope.error();
    const std::string sc = scope->value_or(std::string(kScopeSmtpSubmit));
    auto expiresIn = body->optInt("expires_in");
    if (!expiresIn) return expiresIn.error();
    if (sc == kScopeSmtpSubmit && !options.smtpAppTokens) {
      return deny(req, who, "identity.app_token.create", actor,
                  "this service does not accept application tokens for SMTP (identity.smtp_app_tokens)");
    }
    std::optional<std::chrono::seconds> lifetime;
    if (*expiresIn) lifetime = std::chrono::seconds(**expiresIn);
    auto issued = appTokens.create(who.partyId, *name, sc, lifetime, who.authentication, who.sessionRef);
    if (!issued) return issued.error();
    const AppToken& t = issued->record;
    auto audited = recordSelf(who, "identity.app_token.create", "success",
                              "{\"token_id\":" + q(t.id) + ",\"name\":" + q(t.name) + ",\"scope\":" + q(t.scope) +
                                  ",\"expires_at\":" + time(t.expiresAt) + ",\"session\":" + q(who.sessionRef) +
                                  ",\"authentication\":" + authenticationJson(who.authentication) + "}");
    if (!audited) {
      (void)appTokens.revoke(who.partyId, t.id);  // no unaudited tokens
      return Error::unavailable("audit log unavailable");
    }
    std::string json = appTokenJson(t);
    json.pop_back();
    json += ",\"token\":" + q(issued->token.reveal()) + "}";
    Response r = Response::json(201, json);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  Result<Response> listAppTokens(const Request&, const AuthenticatedParty& who) {
    auto list = appTokens.list(who.partyId);
    if (!list) return list.error();
    return listResponse("app_tokens", *list, appTokenJson);
  }

  Result<Response> removeAppToken(const Request& req, const AuthenticatedParty& who) {
    const std::string id = req.param("id");
    ERDS_RETURN_IF_ERROR(appTokens.revoke(who.partyId, id));
    (void)recordSelf(who, "identity.app_token.revoke", "success",
                     "{\"token_id\":" + q(id) + ",\"session\":" + q(who.sessionRef) + "}");
    return Response::noContent();
  }

  // ---- background purge ----

  void backgroundLoop() {
    std::unique_lock lock(bgMu);
    while (!bgStop) {
      lock.unlock();
      auto purged = purgeOnce();
      if (!purged) {
        log::warn("identity.purge_failed", {{"error", purged.error().toString()}});
      } else if (*purged > 0) {
        log::info("identity.purged", {{"documents", std::to_string(*purged)}});
      }
      lock.lock();
      bgCv.wait_for(lock, options.purgeInterval, [this] { return bgStop; });
    }
  }

  Result<int64_t> purgeOnce() {
    auto docs = documents.purgeExpired(clock.now(), options.documentRetention);
    if (!docs) return docs.error();
    auto scans = verifications.purgeExpiredScans(clock.now());
    if (!scans) return scans.error();
    // Sessions are kept a day past their absolute expiry, for operators investigating a login.
    auto expired = sessionStore.purgeExpired(clock.now() - std::chrono::hours(24));
    if (!expired) return expired.error();
    return *docs + *scans;
  }

  Result<Response> adminDenied(const Request& req, const AuthenticatedParty& who, const std::string& action,
                               const std::string& object, const std::string& why) {
    return deny(req, who, action, object, why);
  }

  // Everything stored about one party, as JSON (GDPR art. 15/20). Secrets stay out: no password
  // hash, TOTP seed, recovery or session token hashes; document numbers exist only as keyed
  // hashes and are not returned either.
  Result<std::string> exportJson(const std::string& partyId) {
    bool disabled = false;
    auto party = accounts.findParty(partyId, &disabled);
    if (!party) return party.error();
    auto login = accounts.loginIdentifierOf(partyId);
    if (!login && !login.error().is(ErrorCode::NotFound)) return login.error();
    auto totpState = accounts.totpConfirmed(partyId);
    if (!totpState && !totpState.error().is(ErrorCode::NotFound)) return totpState.error();
    auto recovery = factors.remainingRecoveryCodes(partyId);
    if (!recovery) return recovery.error();
    auto bindings = accounts.bindingsOf(partyId);
    if (!bindings) return bindings.error();
    auto ids = verifications.identificationsOf(partyId);
    if (!ids) return ids.error();
    auto requests = accounts.verificationRequestsOf(partyId);
    if (!requests) return requests.error();
    std::string out = "{\"format\":\"erds-personal-data-export/1\",\"exported_at\":" + time(clock.now()) +
                      ",\"party\":" + partyJson(*party, disabled) + ",\"login_identifier\":" +
                      q(login ? *login : std::string()) + ",\"totp_enrolled\":" +
                      (totpState && *totpState ? "true" : "false") +
                      ",\"recovery_codes_remaining\":" + std::to_string(*recovery) +
                      ",\"identifiers\":" + jsonArray(*bindings, bindingJson) +
                      ",\"identifications\":" + jsonArray(*ids, identificationJson) + ",\"verification_requests\":" +
                      jsonArray(*requests, [this](const VerificationRequest& r) { return requestJson(r); });
    // Document scans (metadata only: the bytes are not part of the export) and appointments.
    std::string docs;
    std::string appointments;
    for (const VerificationRequest& r : *requests) {
      for (const DocumentScanInfo& d : r.documents) {
        std::string one = documentJson(d);
        docs += (docs.empty() ? "" : ",") + one.insert(1, "\"request_id\":" + q(r.id) + ",");
      }
      if (r.appointment) {
        std::string one = appointmentJson(r.appointment);
        appointments += (appointments.empty() ? "" : ",") + one.insert(1, "\"request_id\":" + q(r.id) + ",");
      }
    }
    auto certs = certificates.listOf(partyId);
    if (!certs) return certs.error();
    auto tokens = appTokens.list(partyId);
    if (!tokens) return tokens.error();
    out += ",\"documents\":[" + docs + "],\"appointments\":[" + appointments +
           "],\"certificates\":" + jsonArray(*certs, certificateJson) +
           ",\"app_tokens\":" + jsonArray(*tokens, appTokenJson);
    return out + "}";
  }

  Result<Response> exportResponse(const Request& req, const AuthenticatedParty& who, const std::string& partyId,
                                  const std::string& action) {
    auto json = exportJson(partyId);
    if (!json) {
      (void)record("party:" + who.partyId, action, "party:" + partyId,
                   json.error().is(ErrorCode::NotFound) ? "failure" : "error");
      return json.error();
    }
    // No unaudited access to personal data.
    auto audited = record("party:" + who.partyId, action, "party:" + partyId, "success",
                          "{\"session\":" + q(who.sessionRef) + "}");
    if (!audited) return Error::unavailable("audit log unavailable");
    Response r = Response::json(200, *json);
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"erds-export-" + partyId + ".json\"");
    (void)req;
    return r;
  }

  Result<Response> exportMine(const Request& req, const AuthenticatedParty& who) {
    return exportResponse(req, who, who.partyId, "identity.personal_data.export");
  }

  Result<Response> exportParty(const Request& req, const AuthenticatedParty& who) {
    const std::string target = req.param("id");
    if (!who.roles.has(Role::Admin)) {
      return adminDenied(req, who, "admin.parties.export", "party:" + target, "administrator role required");
    }
    return exportResponse(req, who, target, "admin.parties.export");
  }

  Result<Response> listParties(const Request& req, const AuthenticatedParty& who) {
    if (!who.roles.has(Role::Admin)) return adminDenied(req, who, "admin.parties.list", "", "administrator role required");
    int limit = 100;
    int offset = 0;
    if (auto l = req.queryParam("limit")) limit = std::clamp(std::atoi(l->c_str()), 1, 500);
    if (auto o = req.queryParam("offset")) offset = std::max(0, std::atoi(o->c_str()));
    auto list = accounts.listParties(limit, offset);
    if (!list) return list.error();
    (void)record("party:" + who.partyId, "admin.parties.list", "", "success");
    return listResponse("parties", *list, [](const Party& p) { return partyJson(p, false); });
  }

  Result<RoleSet> parseRoles(const JsonBody& body) {
    auto names = body.stringArray("roles");
    if (!names) return names.error();
    RoleSet roles;
    for (const auto& n : *names) {
      auto r = parseRole(n);
      if (!r) return r.error();
      roles.add(*r);
    }
    return roles;
  }

  // Granting officer or admin needs an administrator who signed in strongly.
  static bool grantsPrivilege(RoleSet before, RoleSet after) {
    return (after.has(Role::Admin) && !before.has(Role::Admin)) ||
           (after.has(Role::Officer) && !before.has(Role::Officer));
  }

  Result<Response> createParty(const Request& req, const AuthenticatedParty& who) {
    if (!who.roles.has(Role::Admin)) return adminDenied(req, who, "admin.parties.create", "", "administrator role required");
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto account = parseNewAccount(*body);
    if (!account) return account.error();
    auto roles = parseRoles(*body);
    if (!roles) return roles.error();
    if (grantsPrivilege(RoleSet{}, *roles) && !who.authentication.strong()) {
      return adminDenied(req, who, "admin.parties.create", "", "granting officer or admin needs a strong sign-in");
    }
    auto phc = hasher.hash(account->password.reveal());
    if (!phc) return phc.error();
    Party party;
    party.id = "p_" + internal::hex(internal::randomBytes(16));
    party.roles = *roles;
    party.natural = account->natural;
    party.createdAt = clock.now();
    ERDS_RETURN_IF_ERROR(accounts.createAccount(party, account->loginId, *phc));
    ERDS_RETURN_IF_ERROR(record("party:" + who.partyId, "admin.parties.create", "party:" + party.id, "success",
                                "{\"roles\":" + rolesJson(party.roles) + "}"));
    return Response::json(201, partyJson(party, false));
  }

  Result<Response> changeRoles(const Request& req, const AuthenticatedParty& who) {
    const std::string target = req.param("id");
    const std::string object = "party:" + target;
    if (!who.roles.has(Role::Admin)) return adminDenied(req, who, "admin.parties.roles", object, "administrator role required");
    if (target == who.partyId) {
      return adminDenied(req, who, "admin.parties.roles", object, "administrators cannot change their own roles");
    }
    auto body = JsonBody::parse(req.body);
    if (!body) return body.error();
    auto roles = parseRoles(*body);
    if (!roles) return roles.error();
    auto disabledFlag = body->optBool("disabled");
    if (!disabledFlag) return disabledFlag.error();
    bool wasDisabled = false;
    auto party = accounts.findParty(target, &wasDisabled);
    if (!party) return party.error();
    if (grantsPrivilege(party->roles, *roles) && !who.authentication.strong()) {
      return adminDenied(req, who, "admin.parties.roles", object, "granting officer or admin needs a strong sign-in");
    }
    ERDS_RETURN_IF_ERROR(accounts.setRoles(target, *roles));
    bool disabled = wasDisabled;
    if (disabledFlag->has_value()) {
      disabled = **disabledFlag;
      ERDS_RETURN_IF_ERROR(accounts.setDisabled(target, disabled));
      if (disabled) (void)sessionCache.revokeAllOf(target);
    }
    ERDS_RETURN_IF_ERROR(record("party:" + who.partyId, "admin.parties.roles", object, "success",
                                "{\"before\":" + rolesJson(party->roles) + ",\"after\":" + rolesJson(*roles) +
                                    ",\"disabled\":" + (disabled ? "true" : "false") + "}"));
    party->roles = *roles;
    authenticator.forgetParty(target);  // applies to this node's next request at once
    return Response::json(200, partyJson(*party, disabled));
  }
};

IdentityService::IdentityService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IdentityService::~IdentityService() {
  if (impl_) stopBackgroundTasks();
}

Result<std::unique_ptr<IdentityService>> IdentityService::create(IdentityOptions options, pg::Pool& pool,
                                                                 const Clock& clock, Notifier& notifier) {
  auto kek = crypto::KeyEncryptionKey::fromSecret(options.kek);
  if (!kek) return Error::invalidInput("secrets.kek_file: " + kek.error().message);
  auto identifierHashKey = LoginThrottle::deriveIdentifierHashKey(options.kek);
  if (!identifierHashKey) return Error::invalidInput("secrets.kek_file: " + identifierHashKey.error().message);
  auto appTokenKey = AppTokenManager::deriveHashKey(options.kek);
  if (!appTokenKey) return Error::invalidInput("secrets.kek_file: " + appTokenKey.error().message);
  auto hasher = PasswordHasher::create(options.argon2);
  if (!hasher) return hasher.error();
  auto doc = DocumentNumberHasher::create(options.documentPepper);
  if (!doc) return Error::invalidInput("identity.document_pepper_file: " + doc.error().message);
  std::optional<CertificateValidator> validator;
  if (options.certificateLogin) {
    auto v = CertificateValidator::create(options.certificates);
    if (!v) return Error::invalidInput("identity.client_ca_file: " + v.error().message);
    validator = std::move(*v);
  }
  auto impl = std::make_unique<Impl>(std::move(options), pool, clock, notifier, std::move(*kek), std::move(*hasher),
                                     std::move(*doc), std::move(*identifierHashKey), std::move(*appTokenKey));
  impl->certificateValidator = std::move(validator);
  return std::unique_ptr<IdentityService>(new IdentityService(std::move(impl)));
}

const HttpAuthenticator& IdentityService::authenticator() const { return impl_->authenticator; }
AccountStore& IdentityService::accounts() { return impl_->accounts; }
VerificationStore& IdentityService::verifications() { return impl_->verifications; }

Result<void> IdentityService::registerRoutes(http::Router& router) {
  Impl* s = impl_.get();
  for (auto [name, json] : {std::pair<const char*, const char*>{"bearerAuth", R"({"type":"http","scheme":"bearer"})"},
                            {"cookieAuth", R"({"type":"apiKey","in":"cookie","name":"erds_session"})"}}) {
    auto r = router.addSecurityScheme(name, json);
    if (!r && !r.error().is(ErrorCode::Conflict)) return r;  // another component may have added it
  }
  const std::pair<const char*, const char*> schemas[] = {
      {"Registration",
       R"({"type":"object","required":["identifier","password"],"properties":{"identifier":{"type":"string","examples":["mailto:alice@example.test"]},"password":{"type":"string","minLength":12},"family_name":{"type":"string"},"first_name":{"type":"string"}}})"},
      {"Accepted", R"({"type":"object","properties":{"status":{"type":"string"},"next":{"type":"string"}}})"},
      {"LoginRequest",
       R"({"type":"object","required":["identifier","password"],"properties":{"identifier":{"type":"string"},"password":{"type":"string"},"totp":{"type":"string","description":"RFC 6238 code, if TOTP is enrolled"},"recovery_code":{"type":"string","description":"instead of totp; the session gets a lower level"}}})"},
      {"Authentication",
       R"({"type":"object","properties":{"level":{"enum":["none","low","substantial","high"]},"methods":{"type":"array","items":{"type":"string"}},"strong":{"type":"boolean"},"at":{"type":"string","format":"date-time"}}})"},
      {"SessionCreated",
       R"({"type":"object","properties":{"token":{"type":"string"},"token_type":{"const":"Bearer"},"party_id":{"type":"string"},"expires_at":{"type":"string","format":"date-time"},"idle_timeout_seconds":{"type":"integer"},"authentication":{"$ref":"#/components/schemas/Authentication"}}})"},
      {"Party",
       R"({"type":"object","properties":{"id":{"type":"string"},"kind":{"enum":["natural","legal"]},"roles":{"type":"array","items":{"enum":["user","officer","admin"]}},"disabled":{"type":"boolean"},"created_at":{"type":"string","format":"date-time"},"natural":{"type":"object"},"legal":{"type":"object"}}})"},
      {"PartyList", R"({"type":"object","properties":{"parties":{"type":"array","items":{"$ref":"#/components/schemas/Party"}}}})"},
      {"NewParty",
       R"({"type":"object","required":["identifier","password","roles"],"properties":{"identifier":{"type":"string"},"password":{"type":"string"},"roles":{"type":"array","items":{"enum":["user","officer","admin"]}},"family_name":{"type":"string"},"first_name":{"type":"string"}}})"},
      {"RoleChange",
       R"({"type":"object","required":["roles"],"properties":{"roles":{"type":"array","items":{"enum":["user","officer","admin"]}},"disabled":{"type":"boolean"}}})"},
      {"IdentifierBinding",
       R"({"type":"object","properties":{"id":{"type":"string"},"identifier":{"type":"string"},"status":{"enum":["pending","bound"]},"created_at":{"type":"string"},"bound_at":{"type":"string"},"code_expires_at":{"type":"string"}}})"},
      {"IdentifierList",
       R"({"type":"object","properties":{"identifiers":{"type":"array","items":{"$ref":"#/components/schemas/IdentifierBinding"}}}})"},
      {"NewIdentifier", R"({"type":"object","required":["identifier"],"properties":{"identifier":{"type":"string"}}})"},
      {"Code", R"({"type":"object","required":["code"],"properties":{"code":{"type":"string"}}})"},
      {"TotpEnrolment",
       R"({"type":"object","properties":{"otpauth_uri":{"type":"string"},"secret":{"type":"string","description":"base32"}}})"},
      {"RecoveryCodes",
       R"({"type":"object","properties":{"recovery_codes":{"type":"array","items":{"type":"string"}}}})"},
      {"Identification",
       R"({"type":"object","properties":{"id":{"type":"string"},"method":{"type":"string"},"level":{"type":"string"},"at":{"type":"string"},"valid_until":{"type":"string"},"revoked":{"type":"boolean"}}})"},
      {"Me",
       R"({"type":"object","properties":{"party":{"$ref":"#/components/schemas/Party"},"login_identifier":{"type":"string"},"session":{"$ref":"#/components/schemas/Authentication"},"totp_enrolled":{"type":"boolean"},"identifiers":{"type":"array","items":{"$ref":"#/components/schemas/IdentifierBinding"}},"identifications":{"type":"array","items":{"$ref":"#/components/schemas/Identification"}}}})"},
      {"Appointment",
       R"({"type":"object","required":["preferred_at"],"properties":{"preferred_at":{"type":"string","format":"date-time"},"note":{"type":"string","maxLength":500}}})"},
      {"DocumentScan",
       R"({"type":"object","properties":{"id":{"type":"string"},"content_type":{"enum":["image/jpeg","image/png","application/pdf"]},"size":{"type":"integer"},"sha256":{"type":"string"},"uploaded_at":{"type":"string","format":"date-time"},"retention_until":{"type":"string","format":"date-time"},"purged":{"type":"boolean"}}})"},
      {"VerificationApproval",
       R"({"type":"object","properties":{"officer_id":{"type":"string"},"method":{"type":"string"},"level":{"type":"string"},"at":{"type":"string","format":"date-time"}}})"},
      {"VerificationRequest",
       R"({"type":"object","properties":{"id":{"type":"string"},"party_id":{"type":"string"},"created_by":{"type":"string"},"requested_level":{"type":"string"},"method":{"enum":["physical_presence","remote_id_document_scan","qualified_certificate"]},"appointment":{"oneOf":[{"$ref":"#/components/schemas/Appointment"},{"type":"null"}]},"documents":{"type":"array","items":{"$ref":"#/components/schemas/DocumentScan"}},"deadline":{"type":"string","format":"date-time","description":"created_at + identity.verification_deadline"},"status":{"enum":["pending","awaiting_second_approval","approved","rejected"]},"created_at":{"type":"string"},"version":{"type":"integer"},"document":{"type":"object"},"approvals":{"type":"array","items":{"$ref":"#/components/schemas/VerificationApproval"}},"rejection_reason":{"type":"string"},"decided_by":{"type":"string"},"decided_at":{"type":"string"}}})"},
      {"DocumentUploaded",
       R"({"type":"object","properties":{"document_id":{"type":"string"},"sha256":{"type":"string","description":"hex SHA-256 of the uploaded bytes"}}})"},
      {"DocumentBytes", R"({"type":"string","format":"binary"})"},
      {"ActionPolicy",
       R"({"type":"object","properties":{"min_level":{"enum":["none","low","substantial","high"]},"methods":{"type":"array","items":{"type":"string"},"description":"identification methods that count; all of them when any_method"},"any_method":{"type":"boolean"},"method_min_levels":{"type":"object","additionalProperties":{"type":"string"},"description":"methods that count only from this level"},"strong_authentication":{"type":"boolean"},"advice":{"type":"string"}}})"},
      {"IdentityPolicy",
       R"({"type":"object","properties":{"profile":{"enum":["development","basic","qualified"]},"submit":{"$ref":"#/components/schemas/ActionPolicy"},"handover":{"$ref":"#/components/schemas/ActionPolicy"},"methods":{"type":"array","items":{"type":"object","properties":{"method":{"type":"string"},"label":{"type":"string"},"requestable":{"type":"boolean"}}}},"second_approval_for_high":{"type":"boolean"},"max_document_bytes":{"type":"integer"},"max_documents_per_request":{"type":"integer"},"document_content_types":{"type":"array","items":{"type":"string"}},"smtp_app_tokens":{"type":"boolean","description":"application tokens accepted for SMTP AUTH: identity.smtp_app_tokens"}}})"},
      {"PartyCertificate",
       R"({"type":"object","properties":{"id":{"type":"string"},"sha256":{"type":"string"},"subject":{"type":"string"},"issuer":{"type":"string"},"serial":{"type":"string"},"not_after":{"type":"string","format":"date-time"},"added_at":{"type":"string","format":"date-time"},"revoked":{"type":"boolean"},"revoked_at":{"type":"string","format":"date-time"}}})"},
      {"AppToken",
       R"({"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"},"scope":{"type":"string","examples":["smtp-submit"]},"created_at":{"type":"string","format":"date-time"},"expires_at":{"type":"string","format":"date-time"},"last_used_at":{"type":["string","null"],"format":"date-time"},"revoked":{"type":"boolean"},"revoked_at":{"type":"string","format":"date-time"},"created_with":{"$ref":"#/components/schemas/Authentication"}}})"},
      {"AppTokenCreated",
       R"({"allOf":[{"$ref":"#/components/schemas/AppToken"},{"type":"object","properties":{"token":{"type":"string","description":"the secret, shown once: erds_at_ + 43 base64url characters; use it as the SMTP AUTH password"}}}]})"},
      {"AppTokenList",
       R"({"type":"object","properties":{"app_tokens":{"type":"array","items":{"$ref":"#/components/schemas/AppToken"}}}})"},
      {"NewAppToken",
       R"({"type":"object","required":["name"],"properties":{"name":{"type":"string","minLength":1,"maxLength":100},"scope":{"enum":["smtp-submit"],"default":"smtp-submit"},"expires_in":{"type":"integer","minimum":3600,"maximum":31536000,"default":7776000,"description":"lifetime in seconds: default 90 days, at most 365 days"}}})"},
      {"PartyCertificateList",
       R"({"type":"object","properties":{"certificates":{"type":"array","items":{"$ref":"#/components/schemas/PartyCertificate"}}}})"},
      {"VerificationRequestList",
       R"({"type":"object","properties":{"verification_requests":{"type":"array","items":{"$ref":"#/components/schemas/VerificationRequest"}}}})"},
      {"NewVerificationRequest",
       R"({"type":"object","properties":{"requested_level":{"enum":["low","substantial","high"],"default":"substantial"},"method":{"enum":["physical_presence","remote_id_document_scan"],"default":"physical_presence"},"appointment":{"$ref":"#/components/schemas/Appointment","description":"physical_presence only"}}})"},
      {"Approval",
       R"({"type":"object","required":["method","level"],"properties":{"method":{"enum":["physical_presence","remote_id_document_scan","qualified_certificate","ncp_certificate","eid_notified","eudi_wallet","cab_confirmed_remote"]},"level":{"enum":["low","substantial","high"]},"document":{"type":"object","required":["type","issuing_country","number","expires_on"],"properties":{"type":{"type":"string"},"issuing_country":{"type":"string"},"number":{"type":"string","description":"stored only as a keyed hash"},"expires_on":{"type":"string","format":"date"}}}}})"},
      {"PersonalDataExport",
       R"({"type":"object","properties":{"format":{"type":"string"},"exported_at":{"type":"string"},"party":{"$ref":"#/components/schemas/Party"},"login_identifier":{"type":"string"},"totp_enrolled":{"type":"boolean"},"recovery_codes_remaining":{"type":"integer"},"identifiers":{"type":"array","items":{"$ref":"#/components/schemas/IdentifierBinding"}},"identifications":{"type":"array","items":{"$ref":"#/components/schemas/Identification"}},"verification_requests":{"type":"array","items":{"$ref":"#/components/schemas/VerificationRequest"}},"documents":{"type":"array","items":{"$ref":"#/components/schemas/DocumentScan"}},"appointments":{"type":"array","items":{"$ref":"#/components/schemas/Appointment"}},"certificates":{"type":"array","items":{"$ref":"#/components/schemas/PartyCertificate"}},"app_tokens":{"type":"array","items":{"$ref":"#/components/schemas/AppToken"}}}})"},
      {"CertificateChallenge",
       R"({"type":"object","properties":{"challenge":{"type":"string"},"expires_at":{"type":"string"},"sign":{"type":"string"}}})"},
      {"CertificateIdentification",
       R"({"type":"object","required":["certificate","challenge","signature"],"properties":{"certificate":{"type":"string","description":"PEM"},"intermediates":{"type":"array","items":{"type":"string"}},"challenge":{"type":"string"},"signature":{"type":"string","description":"DER signature over SHA-256 of the challenge, base64url"}}})"},
      {"Rejection", R"({"type":"object","required":["reason"],"properties":{"reason":{"type":"string"}}})"},
      {"WalkInVerificationRequest",
       R"({"type":"object","required":["identifier"],"properties":{"identifier":{"type":"string","examples":["mailto:alice@example.test"],"description":"a delivery identifier bound to the party at the desk"},"requested_level":{"enum":["low","substantial","high"],"default":"substantial"},"method":{"const":"physical_presence","default":"physical_presence"},"appointment":{"$ref":"#/components/schemas/Appointment"}}})"},
  };
  for (const auto& [name, json] : schemas) ERDS_RETURN_IF_ERROR(router.addSchema(name, json));

  const std::vector<std::string> authed = {"bearerAuth", "cookieAuth"};
  auto route = [&](std::string method, std::string path, std::string opId, std::string summary, std::string tag,
                   std::string reqSchema, std::vector<http::ResponseSpec> responses, bool needsAuth,
                   http::Handler h) -> Result<void> {
    RouteSpec spec;
    spec.method = std::move(method);
    spec.path = std::move(path);
    spec.operationId = std::move(opId);
    spec.summary = std::move(summary);
    spec.tags = {std::move(tag)};
    if (!reqSchema.empty()) {
      spec.requestMediaType = "application/json";
      spec.requestSchemaRef = std::move(reqSchema);
      spec.maxBodyBytes = 64 * 1024;
    }
    spec.responses = std::move(responses);
    if (needsAuth) spec.security = authed;
    return router.add(std::move(spec), std::move(h));
  };
  // A route for signed-in callers, handled by the member `handler` of Impl.
  using AuthedHandler = Result<Response> (Impl::*)(const Request&, const AuthenticatedParty&);
  auto authedRoute = [&](std::string method, std::string path, std::string opId, std::string summary, std::string tag,
                         std::string reqSchema, std::vector<http::ResponseSpec> responses,
                         AuthedHandler handler) -> Result<void> {
    return route(std::move(method), std::move(path), std::move(opId), std::move(summary), std::move(tag),
                 std::move(reqSchema), std::move(responses), true,
                 s->authed([s, handler](const Request& r, const AuthenticatedParty& w) { return (s->*handler)(r, w); }));
  };
  using RS = http::ResponseSpec;
  const std::string J = "application/json";
  const std::string P(http::kProblemContentType);

  ERDS_RETURN_IF_ERROR(route("POST", "/api/v1/registrations", "register", "Self-registration (creates an unidentified party)",
                             "identity", "Registration", {RS{202, "Accepted (also when the identifier exists)", J, "Accepted"}},
                             false, [s](const Request& r) { return s->registration(r); }));
  ERDS_RETURN_IF_ERROR(route("POST", "/api/v1/sessions", "createSession",
                             "Sign in with identifier + password (+ TOTP); sets the erds_session cookie", "identity",
                             "LoginRequest", {RS{201, "Signed in", J, "SessionCreated"}}, false,
                             [s](const Request& r) { return s->createSession(r); }));
  ERDS_RETURN_IF_ERROR(route("POST", "/api/v1/sessions/certificate", "createCertificateSession",
                             "Sign in with the TLS client certificate (only on the http.client_cert_port listener)",
                             "identity", "",
                             {RS{201, "Signed in", J, "SessionCreated"},
                              RS{401, "No, untrusted or unbound certificate", P, "Problem"},
                              RS{403, "Revoked certificate, or certificate sign-in not configured", P, "Problem"}},
                             false, [s](const Request& r) { return s->createCertificateSession(r); }));
  ERDS_RETURN_IF_ERROR(authedRoute("DELETE", "/api/v1/sessions/current", "deleteCurrentSession", "Sign out", "identity", "",
                                   {RS{204, "Signed out", "", ""}}, &Impl::deleteSession));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/me", "getMe", "The signed-in party, its session, identifiers and identifications",
                                   "identity", "", {RS{200, "The caller", J, "Me"}}, &Impl::me));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/me/export", "exportMyData",
                                   "Everything stored about the caller (personal data export; audited)", "identity", "",
                                   {RS{200, "The export", J, "PersonalDataExport"}}, &Impl::exportMine));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/certificate-challenge", "newCertificateChallenge",
                                   "A challenge to sign with a qualified or NCP signing certificate (valid 5 minutes)",
                                   "identity", "", {RS{201, "The challenge", J, "CertificateChallenge"}}, &Impl::newChallenge));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/certificate-identification", "identifyWithCertificate",
                                   "Be identified by a signing certificate: the signed challenge proves possession", "identity",
                                   "CertificateIdentification",
                                   {RS{201, "Identification recorded", J, "Identification"},
                                    RS{403, "Certificate not accepted, signature wrong, or not the caller's address", P, "Problem"}}, &Impl::certificateIdentification));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/totp", "startTotpEnrolment", "Start TOTP enrolment (returns the seed once)",
                                   "identity", "", {RS{201, "Seed and otpauth URI", J, "TotpEnrolment"}}, &Impl::startTotp));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/totp/confirm", "confirmTotpEnrolment",
                                   "Confirm TOTP enrolment with a first code (returns recovery codes once)", "identity", "Code",
                                   {RS{200, "Enrolled", J, "RecoveryCodes"}}, &Impl::confirmTotp));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/me/identifiers", "listMyIdentifiers", "Delivery identifiers of the caller",
                                   "identity", "", {RS{200, "Identifiers", J, "IdentifierList"}}, &Impl::listIdentifiers));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/identifiers", "addMyIdentifier",
                                   "Claim a delivery identifier; a code is sent to it (proof of control)", "identity",
                                   "NewIdentifier", {RS{202, "Claimed, code sent", J, "IdentifierBinding"}}, &Impl::addIdentifier));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/identifiers/{id}/confirm", "confirmMyIdentifier",
                                   "Bind a claimed identifier with the code sent to it", "identity", "Code",
                                   {RS{200, "Bound", J, "IdentifierBinding"}}, &Impl::confirmIdentifier));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/identity/verification-requests", "listMyVerificationRequests",
                                   "The caller's identity verification requests", "identity", "",
                                   {RS{200, "Requests", J, "VerificationRequestList"}}, &Impl::listOwnRequests));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/identity/verification-requests", "openVerificationRequest",
                                   "Ask to be identified by a verification officer", "identity", "NewVerificationRequest",
                                   {RS{201, "Opened", J, "VerificationRequest"}}, &Impl::openRequest));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/identity/verification-requests/{id}", "getMyVerificationRequest",
                                   "One of the caller's verification requests", "identity", "",
                                   {RS{200, "The request", J, "VerificationRequest"}}, &Impl::getOwnRequest));
  ERDS_RETURN_IF_ERROR(route("GET", "/api/v1/identity/policy", "getIdentityPolicy",
                             "The identification policy in force: levels and methods per action, requestable methods",
                             "identity", "", {RS{200, "The policy", J, "IdentityPolicy"}}, false,
                             [s](const Request& r) { return s->policy(r); }));
  {
    RouteSpec spec;
    spec.method = "POST";
    spec.path = "/api/v1/identity/verification-requests/{id}/documents";
    spec.operationId = "uploadVerificationDocument";
    spec.summary = "Upload a scan of an identity document (JPEG, PNG or PDF) to one's own pending request";
    spec.description =
        "Raw body. The content must match its Content-Type (magic bytes are checked). Stored encrypted; purged "
        "after identity.document_retention once the request is decided. At most 4 per request.";
    spec.tags = {"identity"};
    spec.requestMediaType = "image/jpeg";
    spec.requestSchemaRef = "DocumentBytes";
    spec.requestMediaTypes = {{"image/png", "DocumentBytes"}, {"application/pdf", "DocumentBytes"}};
    spec.maxBodyBytes = s->options.maxDocumentBytes;
    spec.responses = {RS{201, "Stored", J, "DocumentUploaded"},
                      RS{404, "No such pending request of the caller", P, "Problem"},
                      RS{409, "Too many documents for this request", P, "Problem"},
                      RS{413, "Larger than identity.max_document_bytes", P, "Problem"},
                      RS{415, "Not a JPEG, PNG or PDF, or not what Content-Type says", P, "Problem"}};
    spec.security = authed;
    ERDS_RETURN_IF_ERROR(router.add(
        std::move(spec),
        s->authed([s](const Request& r, const AuthenticatedParty& w) { return s->uploadDocument(r, w); })));
  }
  {
    RouteSpec spec;
    spec.method = "GET";
    spec.path = "/api/v1/officer/verification-requests/{id}/documents/{doc}";
    spec.operationId = "getVerificationDocument";
    spec.summary = "Read an uploaded identity document (officers; not their own; every access audited)";
    spec.tags = {"officer"};
    spec.responses = {RS{200, "The document", "application/octet-stream", "DocumentBytes"},
                      RS{403, "Not an officer, weak sign-in, or the officer's own request", P, "Problem"},
                      RS{404, "No such request or document, or purged", P, "Problem"}};
    spec.security = authed;
    ERDS_RETURN_IF_ERROR(router.add(
        std::move(spec), s->authed([s](const Request& r, const AuthenticatedParty& w) { return s->readDocument(r, w); })));
  }
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/me/certificates", "listMyCertificates",
                                   "Client certificates registered to the caller", "identity", "",
                                   {RS{200, "Certificates", J, "PartyCertificateList"}}, &Impl::listCertificates));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/certificates", "registerMyCertificate",
                                   "Register the TLS client certificate of this connection to the caller (client-certificate "
                                   "listener; strong sign-in required)",
                                   "identity", "",
                                   {RS{201, "Registered", J, "PartyCertificate"},
                                    RS{403, "No or invalid certificate, weak sign-in, or not configured", P, "Problem"},
                                    RS{409, "Certificate already registered", P, "Problem"}}, &Impl::addCertificate));
  ERDS_RETURN_IF_ERROR(authedRoute("DELETE", "/api/v1/me/certificates/{id}", "removeMyCertificate",
                                   "Remove a registered certificate (it no longer signs in)", "identity", "",
                                   {RS{204, "Removed", "", ""}, RS{404, "No such certificate of the caller", P, "Problem"}}, &Impl::removeCertificate));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/me/app-tokens", "listMyAppTokens",
                                   "The caller's application tokens (never the secrets)", "identity", "",
                                   {RS{200, "Tokens", J, "AppTokenList"}}, &Impl::listAppTokens));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/me/app-tokens", "createMyAppToken",
                                   "Create an application token for SMTP AUTH (strong sign-in required; the secret is "
                                   "returned once)",
                                   "identity", "NewAppToken",
                                   {RS{201, "Created", J, "AppTokenCreated"},
                                    RS{403, "Weak sign-in, or tokens not accepted by the policy", P, "Problem"},
                                    RS{409, "Too many live tokens", P, "Problem"}}, &Impl::createAppToken));
  ERDS_RETURN_IF_ERROR(authedRoute("DELETE", "/api/v1/me/app-tokens/{id}", "revokeMyAppToken",
                                   "Revoke an application token (SMTP AUTH with it is refused at once)", "identity", "",
                                   {RS{204, "Revoked", "", ""}, RS{404, "No such live token of the caller", P, "Problem"}},
                                   &Impl::removeAppToken));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/officer/verification-requests", "listOpenVerificationRequests",
                                   "The officer queue (open requests, oldest first)", "officer", "",
                                   {RS{200, "Open requests", J, "VerificationRequestList"}, RS{403, "Not an officer", P, "Problem"}}, &Impl::officerQueue));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/officer/verification-requests", "openWalkInVerificationRequest",
                                   "Open a request for the party bound to an identifier (walk-in at the desk); another "
                                   "officer decides it",
                                   "officer", "WalkInVerificationRequest",
                                   {RS{201, "Opened", J, "VerificationRequest"},
                                    RS{403, "Not an officer, or weak sign-in", P, "Problem"},
                                    RS{404, "No party is bound to the identifier", P, "Problem"}}, &Impl::openWalkIn));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/officer/verification-requests/{id}/approve", "approveVerificationRequest",
                                   "Approve with a method and level (optionally recording the reviewed document)", "officer",
                                   "Approval",
                                   {RS{200, "Approved or awaiting a second approval", J, "VerificationRequest"},
                                    RS{403, "Not allowed (role, own request, same officer twice, weak sign-in)", P, "Problem"}}, &Impl::approve));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/officer/verification-requests/{id}/reject", "rejectVerificationRequest",
                                   "Reject with a reason", "officer", "Rejection",
                                   {RS{200, "Rejected", J, "VerificationRequest"}, RS{403, "Not allowed", P, "Problem"}}, &Impl::reject));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/admin/parties", "listParties", "All parties (administrators)", "admin", "",
                                   {RS{200, "Parties", J, "PartyList"}, RS{403, "Not an administrator", P, "Problem"}}, &Impl::listParties));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/admin/parties", "createParty", "Create a party with a password (administrators)",
                                   "admin", "NewParty",
                                   {RS{201, "Created", J, "Party"}, RS{403, "Not allowed", P, "Problem"}}, &Impl::createParty));
  ERDS_RETURN_IF_ERROR(authedRoute("GET", "/api/v1/admin/parties/{id}/export", "exportPartyData",
                                   "Everything stored about one party (administrators; audited)", "admin", "",
                                   {RS{200, "The export", J, "PersonalDataExport"}, RS{403, "Not an administrator", P, "Problem"}}, &Impl::exportParty));
  ERDS_RETURN_IF_ERROR(authedRoute("POST", "/api/v1/admin/parties/{id}/roles", "changePartyRoles",
                                   "Set a party's roles (and disabled flag); not one's own", "admin", "RoleChange",
                                   {RS{200, "Changed", J, "Party"}, RS{403, "Not allowed", P, "Problem"}}, &Impl::changeRoles));
  return ok();
}

Result<int64_t> IdentityService::purgeExpiredPersonalData() { return impl_->purgeOnce(); }

void IdentityService::startBackgroundTasks() {
  Impl& s = *impl_;
  if (s.bgThread.joinable()) return;
  {
    std::lock_guard lock(s.bgMu);
    s.bgStop = false;
  }
  s.bgThread = std::thread([&s] { s.backgroundLoop(); });
}

void IdentityService::stopBackgroundTasks() {
  Impl& s = *impl_;
  if (!s.bgThread.joinable()) return;
  {
    std::lock_guard lock(s.bgMu);
    s.bgStop = true;
  }
  s.bgCv.notify_all();
  s.bgThread.join();
}

const GatePolicy& IdentityService::gatePolicy() const { return impl_->options.gatePolicy; }

Result<std::optional<std::string>> IdentityService::partyForCertificate(const std::vector<std::string>& chainDer) {
  Impl& s = *impl_;
  if (!s.certificateValidator) return Error::unavailable("client certificates are not configured");
  if (chainDer.empty()) return Error::unauthorized("no client certificate");
  std::vector<std::string> intermediates(chainDer.begin() + 1, chainDer.end());
  const CertificateCheck check = s.certificateValidator->validate(chainDer.front(), intermediates, s.clock.now());
  if (!check.valid()) {
    return Error::unauthorized("client certificate not accepted: " + std::string(certificateStatusName(check.status)));
  }
  return s.partyOfValidCertificate(check);
}

Result<std::vector<DemoAccount>> IdentityService::seedDemoAccounts() {
  Impl& s = *impl_;
  if (s.options.mode != ServiceMode::Development) {
    return Error::invalidInput("service.demo_accounts: only allowed with service.mode=development");
  }
  struct Spec {
    const char* id;
    const char* identifier;
    const char* password;
    RoleSet roles;
    bool identified;
    bool totp;
    const char* description;
  };
  const Spec specs[] = {
      {"demo-sender", "mailto:sender@example.test", "sender-demo-password", RoleSet{Role::User}, true, false,
       "sender: identified (physical_presence, substantial)"},
      {"demo-recipient", "mailto:recipient@example.test", "recipient-demo-password", RoleSet{Role::User}, false, false,
       "recipient: not identified"},
      {"demo-officer", "mailto:officer@example.test", "officer-demo-password", RoleSet{Role::User, Role::Officer}, false,
       true, "verification officer (TOTP enrolled: officers must sign in with a second factor)"},
  };
  std::vector<DemoAccount> out;
  for (const Spec& spec : specs) {
    auto existing = s.accounts.findParty(spec.id);
    if (!existing) {
      if (!existing.error().is(ErrorCode::NotFound)) return existing.error();
      auto phc = s.hasher.hash(spec.password);
      if (!phc) return phc.error();
      Party p;
      p.id = spec.id;
      p.roles = spec.roles;
      p.natural = NaturalPersonAttributes{"Demo", spec.id + 5, "", ""};
      p.createdAt = s.clock.now();
      auto created = s.accounts.createAccount(p, spec.identifier, *phc);
      if (!created && !created.error().is(ErrorCode::Conflict)) return created.error();
      (void)s.record("system:erdsd", "identity.demo_account.created", "party:" + std::string(spec.id), "success");
    }
    auto bound = s.accounts.partyBoundTo(spec.identifier);
    if (!bound) return bound.error();
    if (!bound->has_value()) {
      const std::string code = newCode();
      auto claim = s.accounts.claimIdentifier(spec.id, spec.identifier, codeHash(code),
                                              s.clock.now() + std::chrono::minutes(1), s.clock.now());
      if (!claim) return claim.error();
      auto b = s.accounts.confirmIdentifier(spec.id, claim->id, codeHash(code), s.clock.now());
      if (!b) return b.error();
    }
    if (spec.identified) {
      auto ids = s.verifications.identificationsOf(spec.id);
      if (!ids) return ids.error();
      if (ids->empty()) {
        Identification i;
        i.id = "idn_" + std::string(spec.id);
        i.partyId = spec.id;
        i.method = IdentificationMethod::PhysicalPresence;
        i.level = LevelOfAssurance::Substantial;
        i.at = s.clock.now();
        ERDS_RETURN_IF_ERROR(s.accounts.recordIdentification(i));
      }
    }
    DemoAccount account{spec.identifier, spec.password, spec.description, ""};
    if (spec.totp) {
      auto confirmed = s.accounts.totpConfirmed(spec.id);
      if (!confirmed || !*confirmed) {
        if (!confirmed && !confirmed.error().is(ErrorCode::NotFound)) return confirmed.error();
        auto seed = s.totp.enrol(spec.id);
        if (!seed) return seed.error();
        ERDS_RETURN_IF_ERROR(s.accounts.confirmTotp(spec.id));
      }
      auto seed = s.factors.totpSeed(spec.id);
      if (!seed && seed.error().is(ErrorCode::IntegrityFailure)) {
        // Enrolled under another KEK (development: a per-process KEK): enrol afresh.
        auto fresh = s.totp.enrol(spec.id);
        if (!fresh) return fresh.error();
        ERDS_RETURN_IF_ERROR(s.accounts.confirmTotp(spec.id));
        seed = std::move(fresh);
      }
      if (!seed) return seed.error();
      account.totpSecret = internal::base32Encode(seed->reveal());
    }
    out.push_back(std::move(account));
  }
  return out;
}

}  // namespace erds::identity
