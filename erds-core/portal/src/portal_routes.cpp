#include "erds/portal/portal_routes.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <typeinfo>

#include "compose_stream.h"
#include "csrf.h"
#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/evidence/evidence_verifier.h"
#include "erds/http/problem.h"
#include "form.h"
#include "html.h"
#include "static_assets.h"

namespace erds::portal {

using namespace internal;
using http::Request;
using http::Response;
using JsonObj = Poco::JSON::Object::Ptr;
using JsonArr = Poco::JSON::Array::Ptr;

namespace {

constexpr std::string_view kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
constexpr int64_t kSmallFormBytes = 64 * 1024;

// The body of an in-process call to a streaming API route.
class StringBodyReader final : public http::BodyReader {
 public:
  StringBodyReader(std::string_view body, int64_t limit) : body_(body), limit_(limit) {}
  Result<std::size_t> read(char* buf, std::size_t n) override {
    if (static_cast<int64_t>(body_.size()) > limit_) {
      exceeded_ = true;
      return Error::invalidInput("request body too large");
    }
    std::size_t k = std::min(n, body_.size() - pos_);
    std::copy_n(body_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  bool limitExceeded() const override { return exceeded_; }
  int64_t limit() const override { return limit_; }

 private:
  std::string_view body_;
  int64_t limit_;
  std::size_t pos_ = 0;
  bool exceeded_ = false;
};

std::string lowerMediaType(std::string_view ct) {
  std::string t(ct.substr(0, ct.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return t;
}

std::string jsonStr(std::string_view s) { return "\"" + log::jsonEscape(s) + "\""; }

JsonObj parseObject(const std::string& text) {
  try {
    Poco::JSON::Parser parser;
    return parser.parse(text).extract<JsonObj>();
  } catch (...) {
    return nullptr;
  }
}

// A member as text ("" if absent or null); numbers and booleans are converted.
std::string str(const JsonObj& o, const std::string& k) {
  if (!o || !o->has(k) || o->isNull(k)) return {};
  try {
    return o->get(k).convert<std::string>();
  } catch (...) {
    return {};
  }
}
JsonArr arr(const JsonObj& o, const std::string& k) {
  if (!o || !o->has(k) || !o->isArray(k)) return new Poco::JSON::Array;
  return o->getArray(k);
}
JsonObj obj(const JsonObj& o, const std::string& k) {
  if (!o || !o->has(k) || !o->isObject(k)) return new Poco::JSON::Object;
  return o->getObject(k);
}
JsonObj at(const JsonArr& a, std::size_t i) {
  try {
    return a->getObject(static_cast<unsigned>(i));
  } catch (...) {
    return nullptr;
  }
}

std::string human(std::string_view name) {  // "awaiting_acceptance" -> "awaiting acceptance"
  std::string s(name);
  for (auto& c : s)
    if (c == '_') c = ' ';
  return s;
}

// RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS..." + days, as the same form; "" if unparsable.
std::string addDays(const std::string& t, int days) {
  std::tm tm{};
  if (t.size() < 19 || std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return {};
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t secs = timegm(&tm) + static_cast<time_t>(days) * 86400;
  std::tm out{};
  gmtime_r(&secs, &out);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &out);
  return buf;
}

const char* kLevels[] = {"low", "substantial", "high"};
const char* kDocumentTypes[] = {"id_card", "passport", "residence_permit", "driving_licence"};
const char* kMethods[] = {"physical_presence",   "remote_id_document_scan", "qualified_certificate", "ncp_certificate",
                          "eid_notified",        "eudi_wallet",             "cab_confirmed_remote"};

std::string methodLabel(std::string_view m) {
  if (m == "physical_presence") return "In person at a registration desk (ID card or passport checked face to face)";
  if (m == "remote_id_document_scan") return "Remote ID document scan reviewed by an officer";
  if (m == "qualified_certificate") return "Your qualified electronic signature certificate (e.g. a card)";
  if (m == "ncp_certificate") return "An advanced certificate (NCP)";
  if (m == "eid_notified") return "A notified national eID";
  if (m == "eudi_wallet") return "An EU Digital Identity Wallet";
  if (m == "cab_confirmed_remote") return "A remote method confirmed by a conformity assessment body";
  return human(m);
}

std::string selectOptions(const char* const* values, std::size_t n, std::string_view selected, bool humanise) {
  std::string o;
  for (std::size_t i = 0; i < n; ++i) {
    o += "<option value=\"" + escape(values[i]) + "\"";
    if (selected == values[i]) o += " selected";
    o += ">" + escape(humanise ? human(values[i]) : std::string(values[i])) + "</option>";
  }
  return o;
}

std::string base64(std::string_view in, bool url) {
  static constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* t = url ? kUrl : kStd;
  std::string o;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    o += t[(v >> 18) & 63];
    o += t[(v >> 12) & 63];
    o += t[(v >> 6) & 63];
    o += t[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    o += t[(v >> 18) & 63];
    o += t[(v >> 12) & 63];
    if (i + 1 < in.size()) o += t[(v >> 6) & 63];
    if (!url) o.append(i + 1 < in.size() ? 1 : 2, '=');
  }
  return o;
}

// A signature file as the identity API wants it (base64url of the DER): DER is encoded; a file
// that already is base64 text (either alphabet, with or without padding/newlines) is converted.
std::string signatureAsBase64Url(std::string_view file) {
  std::string text;
  bool isText = !file.empty();
  for (char ch : file) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/' || ch == '-' || ch == '_') {
      text += ch == '+' ? '-' : ch == '/' ? '_' : ch;
    } else if (ch != '=' && ch != '\r' && ch != '\n' && ch != ' ') {
      isText = false;
      break;
    }
  }
  // A DER signature starts with 0x30 (SEQUENCE), which is not a base64 character.
  return isText ? text : base64(file, true);
}

// PEM certificates from an uploaded file: PEM blocks as they are, or one DER certificate wrapped.
std::vector<std::string> certificatesAsPem(std::string_view file) {
  std::vector<std::string> out;
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  if (file.find(kBegin) == std::string_view::npos) {
    if (file.empty()) return out;
    std::string b = base64(file, false);
    std::string pem = std::string(kBegin) + "\n";
    for (std::size_t i = 0; i < b.size(); i += 64) pem += b.substr(i, 64) + "\n";
    out.push_back(pem + std::string(kEnd) + "\n");
    return out;
  }
  std::size_t pos = 0;
  while ((pos = file.find(kBegin, pos)) != std::string_view::npos) {
    const std::size_t end = file.find(kEnd, pos);
    if (end == std::string_view::npos) break;
    out.emplace_back(std::string(file.substr(pos, end + kEnd.size() - pos)) + "\n");
    pos = end + kEnd.size();
  }
  return out;
}

// "12345" -> "12 KB" style, for people.
std::string humanSize(const std::string& bytes) {
  long long n = 0;
  try {
    n = std::stoll(bytes);
  } catch (...) {
    return bytes;
  }
  if (n < 1024) return std::to_string(n) + " bytes";
  if (n < 1024 * 1024) return std::to_string((n + 512) / 1024) + " KB";
  if (n % (1024 * 1024) == 0) return std::to_string(n / (1024 * 1024)) + " MB";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / (1024.0 * 1024.0));
  return buf;
}

constexpr int64_t kMaxDocumentBytes = 10LL * 1024 * 1024;  // the identity API's limit per scan
const char* kDocumentMediaTypes[] = {"image/jpeg", "image/png", "application/pdf"};

// The fixed flash messages selectable by ?done= (never reflect request text).
std::string doneMessage(const std::string& key) {
  if (key == "accepted") return "You accepted the message. You can now download its content.";
  if (key == "rejected") return "You rejected the message. The sender has been given the rejection evidence.";
  if (key == "sent") return "Your message was accepted for delivery. The SubmissionAcceptance evidence is below.";
  if (key == "requested") return "Your verification request was recorded. An officer will review it.";
  if (key == "approved") return "The request was approved (or is waiting for a second approval).";
  if (key == "declined") return "The request was rejected.";
  if (key == "confirmed") return "The address is now bound to your account.";
  if (key == "claimed") return "A confirmation code was sent to the address.";
  if (key == "totp") return "Two-factor authentication is enabled.";
  if (key == "signedout") return "You are signed out.";
  if (key == "uploaded") return "Your document was uploaded. An officer will review it.";
  if (key == "booked") return "Your in-person appointment request was recorded. You will be contacted to confirm the time.";
  if (key == "identified") return "Your certificate was accepted and your identification recorded.";
  if (key == "certificate") return "The certificate is now registered for sign-in.";
  if (key == "certificate_removed") return "The certificate was removed.";
  if (key == "token_revoked") return "The application token was revoked. Mail programs using it can no longer send.";
  return {};
}

}  // namespace

// ------------------------------------------------------------------------------------------------

Result<PortalOptions> PortalOptions::fromConfig(const Config& config) {
  PortalOptions o;
  o.serviceName = config.getString("service.name");
  auto gatePolicy = identity::gatePolicyFromConfig(config);
  if (!gatePolicy) return std::move(gatePolicy).error();
  o.gatePolicy = std::move(*gatePolicy);
  if (config.isSet("identity.client_ca_file")) o.clientCertPort = static_cast<int>(config.getInt("http.client_cert_port"));
  o.maxUploadBytes = config.getBytes("http.max_body_bytes");
  o.smtpHost = config.getString("smtp.hostname");
  if (o.smtpHost.empty()) {
    const std::string domains = config.getString("service.domains");
    o.smtpHost = domains.substr(0, domains.find(','));
    o.smtpHost.erase(0, o.smtpHost.find_first_not_of(" \t"));
    o.smtpHost.erase(o.smtpHost.find_last_not_of(" \t") + 1);
  }
  if (o.smtpHost.empty()) o.smtpHost = "localhost";
  o.smtpPort = static_cast<int>(config.getInt("smtp.submission_port"));
  if (o.smtpPort == 0) o.smtpPort = 2525;
  std::string trust;
  std::string key = "portal.verify_trust_file";
  if (config.isSet(key)) {
    trust = config.getPath(key);
  } else if (config.isSet("signer.key_dir")) {
    key = "signer.key_dir";
    std::filesystem::path p = std::filesystem::path(config.getPath("signer.key_dir")) / "root-ca.pem";
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) trust = p.string();
  }
  if (!trust.empty()) {
    auto v = evidence::EvidenceVerifier::fromPemFiles({trust});
    if (!v) return Error::invalidInput(key + " (" + trust + "): " + v.error().message);
    o.verifier = std::move(*v);
  }
  return o;
}

struct PortalRoutes::Impl {
  const http::Router& api;
  PortalOptions opt;
  int64_t maxBodyBytes = 64LL * 1024 * 1024;  // limit for streamed in-process bodies without a route limit

  // ---- in-process dispatch to the API handlers ----

  struct ApiReply {
    int status = 500;
    Response response;
    std::optional<Error> error;
    JsonObj json;  // parsed JSON (success or problem) if the body is JSON
    std::string detail() const {
      if (error) return http::publicDetail(*error);
      std::string d = str(json, "detail");
      return d.empty() ? str(json, "title") : d;
    }
    bool ok() const { return !error && status >= 200 && status < 300; }
  };

  ApiReply call(const Request& orig, const std::string& method, const std::string& path, std::string query = {},
                std::string contentType = {}, std::string body = {}, http::BodyReader* stream = nullptr) const {
    ApiReply out;
    auto m = api.match(method, path);
    if (m.status != http::Router::MatchStatus::Found) {
      out.error = Error::internal("portal: no API route " + method + " " + path);
      out.status = 500;
      return out;
    }
    Request r;
    r.method = method;
    r.path = path;
    r.query = std::move(query);
    r.routeTemplate = m.spec->path;
    r.pathParams = m.params;
    r.requestId = orig.requestId;
    r.clientAddress = orig.clientAddress;
    r.clientCertificateChain = orig.clientCertificateChain;
    // Only what authenticates and describes the caller crosses over; never an Authorization
    // header a browser should not have sent to the portal.
    for (const auto& [n, v] : orig.headers) {
      if (http::headerNameEquals(n, "Cookie") || http::headerNameEquals(n, "User-Agent") ||
          http::headerNameEquals(n, "Host"))
        r.headers.emplace_back(n, v);
    }
    if (!contentType.empty()) {
      r.headers.emplace_back("Content-Type", contentType);
      r.mediaType = lowerMediaType(contentType);
    }
    std::optional<StringBodyReader> reader;
    if (m.spec->streamRequestBody) {
      if (stream != nullptr) {
        r.bodyReader = stream;
      } else if (!body.empty()) {
        reader.emplace(body, m.spec->maxBodyBytes > 0 ? m.spec->maxBodyBytes : maxBodyBytes);
        r.bodyReader = &*reader;
      }
    } else {
      r.body = body;
    }
    Result<Response> res = Error::internal("portal: handler not run");
    try {
      res = (*m.handler)(r);
    } catch (const std::exception& e) {
      log::error("portal.api_exception", {{"request_id", orig.requestId}, {"route", m.spec->path}, {"what", e.what()}});
      res = Error::internal("handler failed");
    } catch (...) {
      res = Error::internal("handler failed");
    }
    if (!res) {
      out.error = res.error();
      out.status = http::problemType(res.error().code).status;
      return out;
    }
    out.response = std::move(*res);
    out.status = out.response.status;
    if (out.response.contentType.find("json") != std::string::npos) out.json = parseObject(out.response.body);
    return out;
  }

  // ---- per-request context ----

  struct Ctx {
    const Request* req = nullptr;
    std::string csrf;
    bool newCsrf = false;
    bool signedIn = false;
    JsonObj me;  // GET /api/v1/me when signed in
    std::vector<std::string> setCookies;
  };

  Ctx context(const Request& req) const {
    Ctx c;
    c.req = &req;
    if (auto t = csrfCookie(req)) {
      c.csrf = *t;
    } else {
      c.csrf = newCsrfToken();
      c.newCsrf = true;
    }
    auto me = call(req, "GET", "/api/v1/me");
    if (me.ok() && me.json) {
      c.signedIn = true;
      c.me = me.json;
    }
    return c;
  }

  bool isOfficer(const Ctx& c) const {
    JsonArr roles = arr(obj(c.me, "party"), "roles");
    for (std::size_t i = 0; i < roles->size(); ++i)
      if (roles->get(static_cast<unsigned>(i)).toString() == "officer") return true;
    return false;
  }

  static std::string myPartyId(const Ctx& c) {
    std::string id = str(obj(c.me, "party"), "id");
    return id.empty() ? str(c.me, "party_id") : id;
  }

  NavContext nav(const Ctx& c) const {
    NavContext n;
    n.signedIn = c.signedIn;
    n.officer = c.signedIn && isOfficer(c);
    n.userLabel = str(c.me, "login_identifier");
    if (n.userLabel.rfind("mailto:", 0) == 0) n.userLabel = n.userLabel.substr(7);
    n.csrfToken = c.csrf;
    return n;
  }

  void finish(Ctx& c, Response& r) const {
    if (c.newCsrf) r.headers.emplace_back("Set-Cookie", csrfSetCookie(c.csrf));
    for (auto& sc : c.setCookies) r.headers.emplace_back("Set-Cookie", sc);
  }

  Response page(Ctx& c, Page p, int status = 200) const {
    if (p.flash.empty()) {
      if (auto done = c.req->queryParam("done")) p.flash = doneMessage(*done);
    }
    Response r;
    r.status = status;
    r.contentType = "text/html; charset=utf-8";
    r.body = renderPage(p, nav(c));
    r.headers.emplace_back("Content-Security-Policy", std::string(kCsp));
    finish(c, r);
    return r;
  }

  Response redirect(Ctx& c, const std::string& location) const {
    Response r;
    r.status = 303;
    r.headers.emplace_back("Location", location);
    finish(c, r);
    return r;
  }

  Response errorPage(Ctx& c, const ApiReply& a, const std::string& title = "Something went wrong") const {
    if (a.status == 401) return redirect(c, "/");
    Page p;
    p.title = title;
    p.flash = a.detail();
    if (p.flash.empty()) p.flash = "The request could not be completed.";
    p.flashError = true;
    p.bodyHtml = "<p><a href=\"/\">Back to the start page</a></p>";
    return page(c, p, a.status >= 400 ? a.status : 500);
  }

  // ---- route plumbing ----

  using GetFn = std::function<Response(const Request&, Ctx&)>;
  using PostFn = std::function<Response(const Request&, Ctx&, const Form&)>;

  http::Handler get(GetFn fn) const {
    return [this, fn](const Request& req) -> Result<Response> {
      Ctx c = context(req);
      return fn(req, c);
    };
  }

  http::Handler post(PostFn fn, bool multipart) const {
    return [this, fn, multipart](const Request& req) -> Result<Response> {
      Ctx c = context(req);
      const std::string* ct = req.header("Content-Type");
      Result<Form> form = multipart ? parseMultipartForm(ct ? *ct : "", req.body) : parseUrlEncoded(req.body);
      if (!form) return formRefused(c, form.error().message);
      if (!csrfValid(req, form->get(std::string(kCsrfFieldName)))) return formRefused(c, "");
      return fn(req, c, *form);
    };
  }

  // The page for an unreadable form (`why` set) or a failed CSRF check (`why` empty).
  Response formRefused(Ctx& c, const std::string& why, int status = 0) const {
    // A fresh token for the retry; the old cookie may be missing or planted.
    c.csrf = newCsrfToken();
    c.newCsrf = true;
    Page p;
    p.title = "Form expired";
    p.flash = why.empty() ? "This form has expired or did not come from this site. Go back, reload the page and try again."
                          : "The form could not be read: " + why;
    p.flashError = true;
    p.bodyHtml = "<p><a href=\"/\">Back to the start page</a></p>";
    return page(c, p, status != 0 ? status : why.empty() ? 403 : 400);
  }

  // POST /compose: a streamed route. The leading fields are read and checked (CSRF first); the
  // attachments are forwarded to POST /api/v1/messages as they arrive (ComposeStream), so the
  // portal never holds an upload whole.
  http::Handler composeHandler() const {
    return [this](const Request& req) -> Result<Response> {
      Ctx c = context(req);
      if (req.bodyReader == nullptr) return formRefused(c, "the form is empty");
      const std::string* ct = req.header("Content-Type");
      auto stream = ComposeStream::open(ct ? *ct : "", *req.bodyReader);
      if (!stream) {
        if (req.bodyReader->limitExceeded())
          return formRefused(c, "the upload is larger than " + humanSize(std::to_string(req.bodyReader->limit())), 413);
        if (stream.error().is(ErrorCode::Unavailable)) return stream.error();  // client gone or too slow
        return formRefused(c, stream.error().message);
      }
      if (!csrfValid(req, (*stream)->fields().get(std::string(kCsrfFieldName)))) return formRefused(c, "");
      return composeSend(req, c, **stream);
    };
  }

  Response needSignIn(Ctx& c) const { return redirect(c, "/"); }

  // ---- sign-in, registration, account ----

  std::string signInForm(Ctx& c, const std::string& identifier) const {
    std::string b;
    b += "<form method=\"post\" action=\"/signin\" class=\"stack\">" + csrfField(c.csrf);
    b += "<div><label for=\"identifier\">E-mail address</label><input type=\"text\" id=\"identifier\" name=\"identifier\" "
         "autocomplete=\"username\" required value=\"" + escape(identifier) + "\"></div>";
    b += "<div><label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" "
         "autocomplete=\"current-password\" required></div>";
    b += "<div><label for=\"totp\">One-time code <span class=\"hint\" id=\"totp-hint\">From your authenticator app, "
         "if you enrolled one (6 digits)</span></label><input type=\"text\" id=\"totp\" name=\"totp\" "
         "inputmode=\"numeric\" autocomplete=\"one-time-code\" aria-describedby=\"totp-hint\" pattern=\"[0-9]{6}|[A-Za-z0-9-]{8,}\"></div>";
    b += "<div><button type=\"submit\">Sign in</button></div></form>";
    b += "<p>No account yet? <a href=\"/register\">Register</a>.</p>";
    if (opt.clientCertPort != 0)
      b += "<p><a class=\"button secondary\" href=\"" + escape(certificateOrigin(*c.req)) +
           "/signin/certificate\">Sign in with a certificate (signature card)</a></p>";
    return b;
  }

  Response home(const Request&, Ctx& c) const {
    if (c.signedIn) return redirect(c, "/inbox");
    Page p;
    p.title = "Sign in";
    p.current = "signin";
    p.bodyHtml = "<p>Send and receive registered electronic mail with legal proof of sending and receipt.</p>" +
                 signInForm(c, "");
    return page(c, p);
  }

  static std::string asIdentifier(std::string v) {
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || v.back() == '\n')) v.pop_back();
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    if (!v.empty() && v.find(':') == std::string::npos) v = "mailto:" + v;
    return v;
  }

  Response signIn(const Request& req, Ctx& c, const Form& f) const {
    std::string body = "{\"identifier\":" + jsonStr(asIdentifier(f.get("identifier"))) +
                       ",\"password\":" + jsonStr(f.get("password"));
    std::string code = f.get("totp");
    if (!code.empty()) body += (code.size() == 6 ? ",\"totp\":" : ",\"recovery_code\":") + jsonStr(code);
    body += "}";
    auto a = call(req, "POST", "/api/v1/sessions", "", "application/json", body);
    if (a.ok()) {
      for (const auto& [n, v] : a.response.headers)
        if (http::headerNameEquals(n, "Set-Cookie")) c.setCookies.push_back(v);
      return redirect(c, "/inbox");
    }
    Page p;
    p.title = "Sign in";
    p.current = "signin";
    p.flashError = true;
    p.flash = a.status == 429 ? "Too many attempts. Wait a few minutes and try again."
                              : "Sign-in failed. Check the address, the password and the one-time code.";
    p.bodyHtml = signInForm(c, f.get("identifier"));
    return page(c, p, a.status == 429 ? 429 : 401);
  }

  Response signOut(const Request& req, Ctx& c, const Form&) const {
    auto a = call(req, "DELETE", "/api/v1/sessions/current");
    for (const auto& [n, v] : a.response.headers)
      if (http::headerNameEquals(n, "Set-Cookie")) c.setCookies.push_back(v);
    return redirect(c, "/?done=signedout");
  }

  std::string registerForm(Ctx& c, const Form* f) const {
    auto v = [&](const char* k) { return f ? escape(f->get(k)) : std::string(); };
    std::string b = "<form method=\"post\" action=\"/register\" class=\"stack\">" + csrfField(c.csrf);
    b += "<div><label for=\"first_name\">First name</label><input type=\"text\" id=\"first_name\" name=\"first_name\" autocomplete=\"given-name\" value=\"" + v("first_name") + "\"></div>";
    b += "<div><label for=\"family_name\">Family name</label><input type=\"text\" id=\"family_name\" name=\"family_name\" autocomplete=\"family-name\" value=\"" + v("family_name") + "\"></div>";
    b += "<div><label for=\"identifier\">E-mail address</label><input type=\"email\" id=\"identifier\" name=\"identifier\" autocomplete=\"email\" required value=\"" + v("identifier") + "\"></div>";
    b += "<div><label for=\"password\">Password <span class=\"hint\" id=\"pw-hint\">At least 12 characters</span></label>"
         "<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"12\" aria-describedby=\"pw-hint\" required></div>";
    b += "<div><button type=\"submit\">Register</button></div></form>";
    return b;
  }

  Response registerPage(const Request&, Ctx& c) const {
    Page p;
    p.title = "Register";
    p.current = "register";
    p.bodyHtml = "<p>After registering, confirm your e-mail address with the code we send to it (Account page, "
                 "after signing in). To receive registered letters at level substantial or high you will also "
                 "need to be identified; see <a href=\"/identity\">Identity</a>.</p>" + registerForm(c, nullptr);
    return page(c, p);
  }

  Response registerPost(const Request& req, Ctx& c, const Form& f) const {
    std::string body = "{\"identifier\":" + jsonStr(asIdentifier(f.get("identifier"))) +
                       ",\"password\":" + jsonStr(f.get("password"));
    if (!f.get("first_name").empty()) body += ",\"first_name\":" + jsonStr(f.get("first_name"));
    if (!f.get("family_name").empty()) body += ",\"family_name\":" + jsonStr(f.get("family_name"));
    body += "}";
    auto a = call(req, "POST", "/api/v1/registrations", "", "application/json", body);
    Page p;
    p.title = "Register";
    p.current = "register";
    if (!a.ok()) {
      p.flashError = true;
      p.flash = "Registration failed: " + a.detail();
      p.bodyHtml = registerForm(c, &f);
      return page(c, p, a.status);
    }
    p.title = "Check your mailbox";
    p.flash = "If the address can be registered, a confirmation code is on its way.";
    p.bodyHtml = "<ol><li>Sign in with your address and password.</li><li>Open <strong>Account</strong> and enter "
                 "the code under your address.</li><li>Enable two-factor authentication on the same page.</li></ol>"
                 "<p><a href=\"/\">Go to sign in</a></p>";
    return page(c, p, 200);
  }

  Response account(const Request&, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    Page p;
    p.title = "Account";
    p.current = "account";
    std::string b;
    JsonObj session = obj(c.me, "session");
    b += "<dl class=\"facts\"><dt>Signed in as</dt><dd>" + escape(str(c.me, "login_identifier")) + "</dd>";
    b += "<dt>Sign-in level</dt><dd>" + escape(str(session, "level")) + "</dd>";
    b += "<dt>Two-factor authentication</dt><dd>" + std::string(str(c.me, "totp_enrolled") == "true" ? "enabled" : "not enabled") + "</dd></dl>";
    if (str(c.me, "totp_enrolled") != "true") {
      b += "<h2>Two-factor authentication</h2><p>Protect your account with an authenticator app (TOTP).</p>";
      b += buttonForm("/account/totp", c.csrf, "Set up an authenticator app");
    }
    b += "<h2>Your addresses</h2><div class=\"table-wrap\"><table><caption>Delivery addresses</caption><thead><tr><th scope=\"col\">Address</th><th scope=\"col\">Status</th><th scope=\"col\">Action</th></tr></thead><tbody>";
    JsonArr ids = arr(c.me, "identifiers");
    for (std::size_t i = 0; i < ids->size(); ++i) {
      JsonObj id = at(ids, i);
      b += "<tr><td>" + escape(str(id, "identifier")) + "</td><td>" + escape(str(id, "status")) + "</td><td>";
      if (str(id, "status") == "pending") {
        const std::string fid = "code-" + std::to_string(i);
        b += "<form method=\"post\" action=\"/account/identifiers/" + escape(urlSegment(str(id, "id"))) + "/confirm\" class=\"stack\">" +
             csrfField(c.csrf) + "<label for=\"" + fid + "\">Confirmation code</label><input type=\"text\" inputmode=\"numeric\" id=\"" + fid +
             "\" name=\"code\" required><button type=\"submit\">Confirm</button></form>";
      }
      b += "</td></tr>";
    }
    b += "</tbody></table></div>";
    b += "<form method=\"post\" action=\"/account/identifiers\" class=\"stack\">" + csrfField(c.csrf) +
         "<div><label for=\"new-identifier\">Add an address</label><input type=\"email\" id=\"new-identifier\" name=\"identifier\" required></div>"
         "<div><button type=\"submit\" class=\"secondary\">Send a confirmation code</button></div></form>";
    b += certificatesSection(*c.req, c);
    b += "<h2>Mail programs (SMTP)</h2><p>To send registered mail from a mail program, create an application "
         "token and use it as the SMTP password.</p><p><a href=\"/account/app-tokens\">Manage application tokens</a></p>";
    p.bodyHtml = b;
    return page(c, p);
  }

  // ---- application tokens (SMTP AUTH) ----

  std::string smtpSettings() const {
    return "<dl class=\"facts\"><dt>Server</dt><dd class=\"mono\">" + escape(opt.smtpHost) + "</dd><dt>Port</dt><dd class=\"mono\">" +
           std::to_string(opt.smtpPort) + "</dd><dt>Security</dt><dd>STARTTLS (required)</dd>"
           "<dt>Authentication</dt><dd>AUTH PLAIN (or LOGIN)</dd><dt>User name</dt><dd>your e-mail address</dd>"
           "<dt>Password</dt><dd>the application token</dd></dl>";
  }

  Response appTokens(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    Page p;
    p.title = "Application tokens";
    p.current = "account";
    const bool strong = str(obj(c.me, "session"), "strong") == "true";
    auto policy = call(req, "GET", "/api/v1/identity/policy");
    const bool allowed = policy.ok() && str(policy.json, "smtp_app_tokens") == "true";
    std::string b = "<p>An application token lets a mail program send registered mail for you over SMTP. It replaces "
                    "your password there and works only for sending. Revoke a token you no longer use.</p>";
    if (!allowed) {
      b += "<p class=\"flag\">This service does not accept application tokens for SMTP. Send with the client "
           "certificate registered to your account and your password instead.</p>";
    }
    auto list = call(req, "GET", "/api/v1/me/app-tokens");
    if (!list.ok()) return errorPage(c, list, "The tokens could not be listed");
    JsonArr tokens = arr(list.json, "app_tokens");
    if (tokens->size() == 0) {
      b += "<p>You have no application tokens.</p>";
    } else {
      b += "<div class=\"table-wrap\"><table><caption>Your application tokens</caption><thead><tr><th scope=\"col\">Name</th>"
           "<th scope=\"col\">Created</th><th scope=\"col\">Expires</th><th scope=\"col\">Last used</th>"
           "<th scope=\"col\">Status</th><th scope=\"col\">Action</th></tr></thead><tbody>";
      for (std::size_t i = 0; i < tokens->size(); ++i) {
        JsonObj t = at(tokens, i);
        const bool revoked = str(t, "revoked") == "true";
        const std::string lastUsed = str(t, "last_used_at");
        b += "<tr><td>" + escape(str(t, "name")) + "</td><td>" + displayTime(str(t, "created_at")) + "</td><td>" +
             displayTime(str(t, "expires_at")) + "</td><td>" + (lastUsed.empty() ? std::string("never") : displayTime(lastUsed)) +
             "</td><td>" + (revoked ? "revoked" : "active") + "</td><td>" +
             (revoked ? std::string() :
                        buttonForm("/account/app-tokens/" + urlSegment(str(t, "id")) + "/revoke", c.csrf, "Revoke", "danger")) +
             "</td></tr>";
      }
      b += "</tbody></table></div>";
    }
    if (allowed && !strong) {
      b += "<p class=\"flag\" id=\"token-needs-strong\"><strong>Sign in with a second factor to create a token.</strong> "
           "Tokens can only be created in a session signed in with your authenticator app (or a certificate). Sign out "
           "and sign in again with your one-time code.</p>";
    } else if (allowed) {
      b += "<h2>New token</h2><form method=\"post\" action=\"/account/app-tokens\" class=\"stack\">" + csrfField(c.csrf) +
           "<div><label for=\"token-name\">Name <span class=\"hint\">e.g. the mail program and device</span></label>"
           "<input type=\"text\" id=\"token-name\" name=\"name\" maxlength=\"100\" required></div>"
           "<div><label for=\"token-days\">Valid for</label><select id=\"token-days\" name=\"days\">"
           "<option value=\"30\">30 days</option><option value=\"90\" selected>90 days</option>"
           "<option value=\"180\">180 days</option><option value=\"365\">365 days</option></select></div>"
           "<div><button type=\"submit\">Create token</button></div></form>";
    }
    b += "<h2>SMTP settings</h2>" + smtpSettings() + "<p><a href=\"/account\">Back to the account</a></p>";
    p.bodyHtml = b;
    return page(c, p);
  }

  Response createAppToken(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    int days = 90;
    for (int d : {30, 90, 180, 365}) {
      if (f.get("days") == std::to_string(d)) days = d;
    }
    auto a = call(req, "POST", "/api/v1/me/app-tokens", "", "application/json",
                  "{\"name\":" + jsonStr(f.get("name")) + ",\"expires_in\":" + std::to_string(int64_t{days} * 86400) + "}");
    if (!a.ok()) return errorPage(c, a, "The token could not be created");
    Page p;
    p.title = "Your new application token";
    p.current = "account";
    std::string b = "<p class=\"flag\"><strong>Copy the token now: it is shown only once.</strong> Paste it as the "
                    "password in your mail program. If you lose it, revoke it and create a new one.</p>";
    b += "<dl class=\"facts\"><dt>Name</dt><dd>" + escape(str(a.json, "name")) + "</dd><dt>Token</dt><dd><code class=\"mono\" "
         "id=\"new-token\">" + escape(str(a.json, "token")) + "</code></dd><dt>Expires</dt><dd>" +
         displayTime(str(a.json, "expires_at")) + "</dd></dl>";
    b += "<h2>SMTP settings</h2>" + smtpSettings() + "<p><a href=\"/account/app-tokens\">Back to your tokens</a></p>";
    p.bodyHtml = b;
    Response r = page(c, p, 201);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  Response revokeAppToken(const Request& req, Ctx& c, const Form&) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "DELETE", "/api/v1/me/app-tokens/" + urlSegment(req.param("id")));
    if (!a.ok()) return errorPage(c, a, "The token could not be revoked");
    return redirect(c, "/account/app-tokens?done=token_revoked");
  }

  Response addIdentifier(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "POST", "/api/v1/me/identifiers", "", "application/json",
                  "{\"identifier\":" + jsonStr(asIdentifier(f.get("identifier"))) + "}");
    if (!a.ok()) return errorPage(c, a, "The address could not be added");
    return redirect(c, "/account?done=claimed");
  }

  Response confirmIdentifier(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "POST", "/api/v1/me/identifiers/" + urlSegment(req.param("id")) + "/confirm", "",
                  "application/json", "{\"code\":" + jsonStr(f.get("code")) + "}");
    if (!a.ok()) return errorPage(c, a, "The code was not accepted");
    return redirect(c, "/account?done=confirmed");
  }

  Response totpStart(const Request& req, Ctx& c, const Form&) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "POST", "/api/v1/me/totp");
    if (!a.ok()) return errorPage(c, a, "Two-factor set-up failed");
    Page p;
    p.title = "Set up an authenticator app";
    p.current = "account";
    std::string b = "<p>Add this key to your authenticator app (or open the link on the phone that has the app), "
                    "then enter the 6-digit code it shows. The key is shown only now.</p>";
    b += "<dl class=\"facts\"><dt>Key</dt><dd class=\"mono\">" + escape(str(a.json, "secret")) + "</dd>";
    b += "<dt>Link</dt><dd><a class=\"mono\" href=\"" + escape(str(a.json, "otpauth_uri")) + "\">Open in authenticator app</a></dd></dl>";
    b += "<form method=\"post\" action=\"/account/totp/confirm\" class=\"stack\">" + csrfField(c.csrf) +
         "<div><label for=\"code\">Code from the app</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required></div>"
         "<div><button type=\"submit\">Enable</button></div></form>";
    p.bodyHtml = b;
    return page(c, p);
  }

  Response totpConfirm(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "POST", "/api/v1/me/totp/confirm", "", "application/json", "{\"code\":" + jsonStr(f.get("code")) + "}");
    if (!a.ok()) return errorPage(c, a, "The code was not accepted");
    Page p;
    p.title = "Recovery codes";
    p.current = "account";
    p.flash = doneMessage("totp");
    std::string b = "<p>Keep these single-use recovery codes somewhere safe. Each can replace a one-time code once. "
                    "They are shown only now.</p><ul class=\"mono\">";
    JsonArr codes = arr(a.json, "recovery_codes");
    for (std::size_t i = 0; i < codes->size(); ++i) b += "<li>" + escape(codes->get(static_cast<unsigned>(i)).toString()) + "</li>";
    b += "</ul><p><a href=\"/account\">Back to the account</a></p>";
    p.bodyHtml = b;
    return page(c, p);
  }

  // ---- messages ----

  std::string composeForm(Ctx& c, const Form* f) const {
    auto v = [&](const char* k, const char* dflt = "") {
      std::string s = f ? f->get(k) : std::string();
      return escape(s.empty() ? std::string(dflt) : s);
    };
    const std::string mode = f ? f->get("consignment_mode") : "consent";
    const std::string level = f ? f->get("required_recipient_level") : "substantial";
    std::string b = "<form method=\"post\" action=\"/compose\" enctype=\"multipart/form-data\" class=\"stack\" data-upload>" + csrfField(c.csrf);
    b += "<div><label for=\"recipients\">Recipients <span class=\"hint\" id=\"rcpt-hint\">E-mail addresses, one per line or separated by commas</span></label>"
         "<textarea id=\"recipients\" name=\"recipients\" rows=\"3\" required aria-describedby=\"rcpt-hint\">" + v("recipients") + "</textarea></div>";
    b += "<div><label for=\"subject\">Subject</label><input type=\"text\" id=\"subject\" name=\"subject\" maxlength=\"998\" value=\"" + v("subject") + "\"></div>";
    b += "<div><label for=\"body\">Message <span class=\"hint\" id=\"body-hint\">Sent as the text attachment message.txt</span></label>"
         "<textarea id=\"body\" name=\"body\" aria-describedby=\"body-hint\">" + v("body") + "</textarea></div>";
    b += "<fieldset><legend>Delivery</legend>";
    b += std::string("<div><input type=\"radio\" id=\"mode-consent\" name=\"consignment_mode\" value=\"consent\"") + (mode != "basic" ? " checked" : "") +
         "> <label for=\"mode-consent\" class=\"inline\">Recipient must accept first</label></div>";
    b += std::string("<div><input type=\"radio\" id=\"mode-basic\" name=\"consignment_mode\" value=\"basic\"") + (mode == "basic" ? " checked" : "") +
         "> <label for=\"mode-basic\" class=\"inline\">Make the content available at once</label></div></fieldset>";
    b += "<div><label for=\"level\">Required recipient identity level</label><select id=\"level\" name=\"required_recipient_level\">" +
         selectOptions(kLevels, 3, level, true) + "</select></div>";
    b += "<div><label for=\"expiry\">Acceptance window in days</label><input type=\"number\" id=\"expiry\" name=\"expiry_days\" min=\"1\" max=\"366\" value=\"" +
         v("expiry_days", "15") + "\"></div>";
    // The file input stays LAST: the portal streams the files on and needs every field before them.
    b += "<div><label for=\"attachments\">Attachments <span class=\"hint\" id=\"att-hint\">Any type; at most " +
         escape(humanSize(std::to_string(opt.maxUploadBytes))) + " in total</span></label><input type=\"file\" id=\"attachments\" "
         "name=\"attachments\" multiple aria-describedby=\"att-hint\"></div>";
    b += "<div id=\"upload-progress\" class=\"progress\" data-progress hidden><label for=\"upload-bar\">Upload</label>"
         "<progress id=\"upload-bar\" max=\"100\" value=\"0\"></progress><span data-progress-label aria-live=\"polite\"></span></div>";
    b += "<div><button type=\"submit\">Send registered message</button></div></form>";
    return b;
  }

  Response compose(const Request&, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    Page p;
    p.title = "Compose";
    p.current = "compose";
    p.bodyHtml = composeForm(c, nullptr);
    return page(c, p);
  }

  Response composeSend(const Request& req, Ctx& c, ComposeStream& stream) const {
    if (!c.signedIn) return needSignIn(c);
    const Form& f = stream.fields();
    std::vector<std::string> recipients;
    {
      std::string cur;
      for (char ch : f.get("recipients") + ",") {
        if (ch == ',' || ch == '\n' || ch == '\r' || ch == ';' || ch == ' ') {
          if (!cur.empty()) recipients.push_back(asIdentifier(cur));
          cur.clear();
        } else {
          cur += ch;
        }
      }
    }
    int64_t days = 15;
    try {
      if (!f.get("expiry_days").empty()) days = std::stoll(f.get("expiry_days"));
    } catch (...) {
      days = -1;
    }
    auto refuse = [&](const std::string& why, int status) {
      Page p;
      p.title = "Compose";
      p.current = "compose";
      p.flashError = true;
      p.flash = why;
      p.bodyHtml = composeForm(c, &f);
      return page(c, p, status);
    };
    if (recipients.empty()) return refuse("Add at least one recipient.", 400);
    if (days < 1 || days > 366) return refuse("The acceptance window must be 1 to 366 days.", 400);
    std::string meta = "{\"subject\":" + jsonStr(f.get("subject")) + ",\"recipients\":[";
    for (std::size_t i = 0; i < recipients.size(); ++i) meta += (i ? "," : "") + jsonStr(recipients[i]);
    meta += "],\"consignment_mode\":" + jsonStr(f.get("consignment_mode") == "basic" ? "basic" : "consent");
    std::string level = f.get("required_recipient_level");
    if (level != "low" && level != "high") level = "substantial";
    meta += ",\"required_recipient_level\":" + jsonStr(level) + ",\"expires_in\":" + std::to_string(days * 86400) + "}";

    // The browser's boundary is kept: its file parts follow unchanged. Neither the JSON (CR and LF
    // escaped) nor the text (it came out of a part delimited by it) can contain the delimiter.
    const std::string& boundary = stream.boundary();
    std::string prefix = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n" + meta + "\r\n";
    const std::string text = f.get("body");
    if (!text.empty())
      prefix += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"message.txt\"\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n";
    if (text.empty() && !stream.hasFiles()) return refuse("Write a message or attach at least one file.", 400);
    stream.setPrefix(std::move(prefix));

    auto a = call(req, "POST", "/api/v1/messages", "", "multipart/form-data; boundary=" + boundary, {}, &stream);
    if (a.status == 401) return needSignIn(c);
    if (!a.ok()) {
      std::string why = "The message was not sent: " + a.detail();
      if (!str(a.json, "evidence_id").empty()) why += " (SubmissionRejection evidence " + str(a.json, "evidence_id") + ")";
      return refuse(why, a.status);
    }
    return redirect(c, "/messages/" + urlSegment(str(a.json, "message_id")) + "?done=sent");
  }

  static bool senderHidden(const std::string& mode, const std::string& state, bool showBefore) {
    if (showBefore || mode != "consent") return false;
    return state == "submitted" || state == "awaiting_acceptance" || state == "rejected" || state == "expired";
  }

  // A message list page (inbox, sent): the API's list for `query`, an empty-state paragraph, or a
  // table with `caption` and the column headers `headersHtml`; row(m) renders one item's cells.
  // The first cell of every row links to the message.
  Response messageList(const Request& req, Ctx& c, const std::string& query, const std::string& title,
                       const std::string& current, const std::string& emptyHtml, const std::string& caption,
                       const std::string& headersHtml,
                       const std::function<std::string(const JsonObj&)>& restOfRow) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/messages", query);
    if (!a.ok()) return errorPage(c, a);
    Page p;
    p.title = title;
    p.current = current;
    JsonArr items = arr(a.json, "items");
    std::string b;
    if (items->size() == 0) {
      b = emptyHtml;
    } else {
      b = "<div class=\"table-wrap\"><table><caption>" + caption + "</caption><thead><tr>" + headersHtml +
          "</tr></thead><tbody>";
      for (std::size_t i = 0; i < items->size(); ++i) {
        JsonObj m = at(items, i);
        std::string subject = str(m, "subject");
        b += "<tr><td><a href=\"/messages/" + escape(urlSegment(str(m, "message_id"))) + "\">" +
             (subject.empty() ? std::string("(no subject)") : escape(subject)) + "</a></td>" + restOfRow(m) + "</tr>";
      }
      b += "</tbody></table></div>";
    }
    p.bodyHtml = b;
    return page(c, p);
  }

  Response inbox(const Request& req, Ctx& c) const {
    return messageList(
        req, c, "box=inbox&page_size=50", "Inbox", "inbox", "<p>No registered messages for you yet.</p>",
        "Messages addressed to you, newest first",
        "<th scope=\"col\">Subject</th><th scope=\"col\">From</th><th scope=\"col\">Received</th>"
        "<th scope=\"col\">Accept by</th><th scope=\"col\">Status</th>",
        [this](const JsonObj& m) {
          std::string b = "<td>";
          b += senderHidden(str(m, "consignment_mode"), str(m, "state"), opt.showSenderBeforeAcceptance)
                   ? std::string("<em>shown after you accept</em>")
                   : escape(str(m, "sender"));
          b += "</td><td>" + displayTime(str(m, "created_at")) + "</td><td>" + displayTime(str(m, "expires_at")) +
               "</td><td><span class=\"state\">" + escape(human(str(m, "state"))) + "</span></td>";
          return b;
        });
  }

  Response sent(const Request& req, Ctx& c) const {
    return messageList(
        req, c, "box=sent&page_size=20", "Sent", "sent",
        "<p>You have not sent any registered message yet. <a href=\"/compose\">Compose one</a>.</p>",
        "Messages you sent, newest first",
        "<th scope=\"col\">Subject</th><th scope=\"col\">Sent</th><th scope=\"col\">Recipients and status</th>",
        [this, &req](const JsonObj& m) {
          std::string b = "<td>" + displayTime(str(m, "created_at")) + "</td><td><ul>";
          auto s = call(req, "GET", "/api/v1/messages/" + urlSegment(str(m, "message_id")));
          JsonArr rs = arr(s.json, "recipients");
          for (std::size_t k = 0; k < rs->size(); ++k) {
            JsonObj r = at(rs, k);
            b += "<li>" + escape(str(r, "identifier")) + ": <span class=\"state\">" + escape(human(str(r, "state"))) +
                 "</span></li>";
          }
          b += "</ul></td>";
          return b;
        });
  }

  Response message(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    const std::string id = req.param("id");
    auto a = call(req, "GET", "/api/v1/messages/" + urlSegment(id));
    if (!a.ok()) return errorPage(c, a, "Message not available");
    const JsonObj& m = a.json;
    const bool isSender = str(m, "role") == "sender";
    const std::string mode = str(m, "consignment_mode");
    JsonArr rs = arr(m, "recipients");
    std::string myState;
    if (!isSender && rs->size() > 0) myState = str(at(rs, 0), "state");
    const std::string base = "/messages/" + urlSegment(id);

    Page p;
    p.title = str(m, "subject").empty() ? std::string("(no subject)") : str(m, "subject");
    p.current = isSender ? "sent" : "inbox";
    std::string b = "<dl class=\"facts\">";
    b += "<dt>From</dt><dd>" +
         (!isSender && senderHidden(mode, myState, opt.showSenderBeforeAcceptance) ? std::string("<em>shown after you accept</em>")
                                                                                   : escape(str(m, "sender"))) + "</dd>";
    b += "<dt>Delivery</dt><dd>" + std::string(mode == "consent" ? "recipient must accept first" : "available at once") + "</dd>";
    b += "<dt>Required identity level</dt><dd>" + escape(str(m, "required_recipient_level")) + "</dd>";
    b += "<dt>Sent</dt><dd>" + displayTime(str(m, "created_at")) + "</dd>";
    b += "<dt>Expires</dt><dd>" + displayTime(str(m, "expires_at")) + "</dd>";
    b += "<dt>Content</dt><dd>" + escape(str(m, "part_count")) + " file(s), " + escape(str(m, "content_size")) + " bytes</dd>";
    b += "<dt>SHA-256</dt><dd class=\"mono\">" + escape(str(m, "content_digest_sha256")) + "</dd>";
    b += "<dt>Message id</dt><dd class=\"mono\">" + escape(str(m, "message_id")) + "</dd></dl>";

    b += "<div class=\"actions\">";
    if (!isSender) {
      if (mode == "consent" && myState == "awaiting_acceptance") {
        b += buttonForm(base + "/accept", c.csrf, "Accept the message");
        b += buttonForm(base + "/reject", c.csrf, "Reject the message", "danger");
      }
      if (myState == "consigned" || myState == "notified" || myState == "notification_failed" || myState == "handed_over")
        b += "<a href=\"" + escape(base) + "/content\">Download the content</a>";
    }
    b += "<a href=\"" + escape(base) + "/bundle\">Download the evidence bundle (ZIP)</a>";
    b += "<a href=\"" + escape(base) + "/receipt\">Printable receipt</a></div>";

    b += "<h2>Recipients</h2><div class=\"table-wrap\"><table><caption>Delivery status per recipient</caption><thead><tr><th scope=\"col\">Recipient</th><th scope=\"col\">Status</th>"
         "<th scope=\"col\">Last event</th><th scope=\"col\">Since</th></tr></thead><tbody>";
    for (std::size_t i = 0; i < rs->size(); ++i) {
      JsonObj r = at(rs, i);
      b += "<tr><td>" + escape(str(r, "identifier")) + "</td><td><span class=\"state\">" + escape(human(str(r, "state"))) +
           "</span></td><td>" + escape(str(r, "last_event")) + "</td><td>" + displayTime(str(r, "state_changed_at")) + "</td></tr>";
    }
    b += "</tbody></table></div>";

    JsonArr parts = arr(m, "parts");
    if (parts->size() > 0) {
      const bool canDownload = isSender ? false
                                        : (myState == "consigned" || myState == "notified" ||
                                           myState == "notification_failed" || myState == "handed_over");
      b += "<h2>Content</h2><div class=\"table-wrap\"><table><caption>Files of this message</caption><thead><tr>"
           "<th scope=\"col\">Name</th><th scope=\"col\">Type</th><th scope=\"col\">Size</th><th scope=\"col\">SHA-256</th>";
      if (canDownload) b += "<th scope=\"col\">Download</th>";
      b += "</tr></thead><tbody>";
      for (std::size_t i = 0; i < parts->size(); ++i) {
        JsonObj part = at(parts, i);
        const std::string name = str(part, "name");
        b += "<tr><td>" + escape(name) + "</td><td>" + escape(str(part, "content_type")) + "</td><td>" +
             escape(humanSize(str(part, "size"))) + "</td><td class=\"mono\">" + escape(str(part, "sha256")) + "</td>";
        if (canDownload)
          b += "<td><a href=\"" + escape(base) + "/content/" + escape(urlSegment(str(part, "index"))) + "\">Download " +
               escape(name) + "</a></td>";
        b += "</tr>";
      }
      b += "</tbody></table></div>";
    }

    b += "<h2>Evidence</h2><ol class=\"timeline\" aria-label=\"Evidence timeline, oldest first\">";
    JsonArr ev = arr(m, "evidence");
    for (std::size_t i = 0; i < ev->size(); ++i) {
      JsonObj e = at(ev, i);
      b += "<li><span class=\"event\">" + escape(str(e, "event")) + "</span><br><time datetime=\"" + escape(str(e, "created_at")) + "\">" +
           displayTime(str(e, "created_at")) + "</time>";
      if (!str(e, "reason").empty()) b += " - reason " + escape(str(e, "reason"));
      if (!str(e, "recipient_index").empty()) b += " - recipient " + escape(std::to_string(std::atoi(str(e, "recipient_index").c_str()) + 1));
      b += "<br><a href=\"" + escape(base) + "/evidence/" + escape(urlSegment(str(e, "evidence_id"))) + "\" download>Download " +
           escape(str(e, "event")) + " evidence (XML)</a></li>";
    }
    b += "</ol>";
    p.bodyHtml = b;
    return page(c, p);
  }

  Response decide(const Request& req, Ctx& c, bool accept) const {
    if (!c.signedIn) return needSignIn(c);
    const std::string base = "/messages/" + urlSegment(req.param("id"));
    auto a = call(req, "POST", "/api/v1" + base + (accept ? "/accept" : "/reject"));
    if (!a.ok()) return errorPage(c, a, accept ? "The message could not be accepted" : "The message could not be rejected");
    return redirect(c, base + (accept ? "?done=accepted" : "?done=rejected"));
  }

  std::string methodsList(const identity::ActionPolicy& policy) const {
    std::string b = "<ul>";
    if (policy.acceptedMethods.empty()) {
      b += "<li>Any identification method recorded by this service";
      if (policy.minLevel != identity::LevelOfAssurance::None)
        b += ", at level " + escape(identity::levelName(policy.minLevel)) + " or higher";
      b += " (and at least the level the sender asks for)</li>";
    }
    for (const auto& rule : policy.acceptedMethods) {
      b += "<li>" + escape(methodLabel(identity::identificationMethodName(rule.method)));
      if (rule.minLevel != identity::LevelOfAssurance::None)
        b += " (at least level " + escape(identity::levelName(rule.minLevel)) + ")";
      b += "</li>";
    }
    b += "</ul>";
    if (policy.requireStrongAuthentication) b += "<p>You must also sign in with two factors or a certificate.</p>";
    return b;
  }

  Response download(const Request& req, Ctx& c) const {
    return downloadFrom(req, c, "/api/v1/messages/" + urlSegment(req.param("id")) + "/content");
  }
  Response downloadPart(const Request& req, Ctx& c) const {
    return downloadFrom(req, c, "/api/v1/messages/" + urlSegment(req.param("id")) + "/content/" + urlSegment(req.param("part")));
  }

  Response downloadFrom(const Request& req, Ctx& c, const std::string& apiPath) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", apiPath);
    if (a.ok()) {
      Response r = std::move(a.response);
      bool hasDisposition = false;
      for (auto& [n, v] : r.headers)
        if (http::headerNameEquals(n, "Content-Disposition")) {
          hasDisposition = true;
          if (v.rfind("inline", 0) == 0) v = "attachment" + v.substr(6);
        }
      if (!hasDisposition) r.headers.emplace_back("Content-Disposition", "attachment");
      r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
      return r;
    }
    if (a.status == 403 && str(a.json, "type") == "urn:erds:problem:identity-gate") {
      Page p;
      p.title = "Verify your identity to open this message";
      p.current = "inbox";
      std::string b = "<p>The sender requires that recipients are identified at level <strong>" +
                      escape(str(a.json, "required_level")) + "</strong> before the content is handed over. "
                      "Your account does not meet this yet, so nothing has been handed over.</p>";
      if (!str(a.json, "detail").empty()) b += "<p class=\"notice\">" + escape(str(a.json, "detail")) + "</p>";
      b += "<h2>How to get verified</h2><p>This service accepts:</p>" + methodsList(opt.gatePolicy.handover);
      b += "<p><a href=\"/identity\">Request identity verification</a>. When an officer has verified you, come back "
           "to this message and download it.</p><p><a href=\"/messages/" + escape(urlSegment(req.param("id"))) +
           "\">Back to the message</a></p>";
      p.bodyHtml = b;
      return page(c, p, 403);
    }
    return errorPage(c, a, "The content is not available");
  }

  Response passThrough(Ctx& c, ApiReply a, const std::string& filename) const {
    if (!a.ok()) return errorPage(c, a, "Download not available");
    Response r = std::move(a.response);
    bool has = false;
    for (auto& [n, v] : r.headers)
      if (http::headerNameEquals(n, "Content-Disposition")) has = true;
    if (!has) r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
    r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
    return r;
  }

  Response evidenceDownload(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    // The message part of the path only scopes the link; the API checks access to the evidence.
    const std::string eid = req.param("eid");
    std::string safe;
    for (char ch : eid)
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-') safe += ch;
    return passThrough(c, call(req, "GET", "/api/v1/evidence/" + urlSegment(eid)), "evidence-" + safe + ".xml");
  }

  Response bundle(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    return passThrough(c, call(req, "GET", "/api/v1/messages/" + urlSegment(req.param("id")) + "/evidence-bundle"), "evidence.zip");
  }

  Response receipt(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/messages/" + urlSegment(req.param("id")));
    if (!a.ok()) return errorPage(c, a, "Message not available");
    const JsonObj& m = a.json;
    const bool isSender = str(m, "role") == "sender";
    JsonArr rs = arr(m, "recipients");
    const std::string myState = (!isSender && rs->size() > 0) ? str(at(rs, 0), "state") : "";
    Page p;
    p.title = "Delivery receipt";
    p.printable = true;
    std::string b = "<p>Issued by " + escape(opt.serviceName) +
                    ", a registered electronic delivery service. Each event below is proven by a sealed, time-stamped "
                    "evidence (ETSI EN 319 522); the evidence files, not this page, are the legal proof.</p>";
    b += "<dl class=\"facts\"><dt>Message id</dt><dd class=\"mono\">" + escape(str(m, "message_id")) + "</dd>";
    b += "<dt>Subject</dt><dd>" + escape(str(m, "subject")) + "</dd>";
    b += "<dt>Sender</dt><dd>" +
         (!isSender && senderHidden(str(m, "consignment_mode"), myState, opt.showSenderBeforeAcceptance) ? std::string("<em>shown after acceptance</em>")
                                                                                                           : escape(str(m, "sender"))) + "</dd>";
    b += "<dt>Submitted</dt><dd>" + displayTime(str(m, "created_at")) + "</dd>";
    b += "<dt>Content SHA-256</dt><dd class=\"mono\">" + escape(str(m, "content_digest_sha256")) + "</dd></dl>";
    b += "<h2>Recipients</h2><ul>";
    for (std::size_t i = 0; i < rs->size(); ++i) {
      JsonObj r = at(rs, i);
      b += "<li>" + escape(str(r, "identifier")) + " - " + escape(human(str(r, "state"))) + " since " + displayTime(str(r, "state_changed_at")) + "</li>";
    }
    b += "</ul><h2>Evidence</h2><div class=\"table-wrap\"><table><caption>Evidence issued for this message</caption><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Time</th>"
         "<th scope=\"col\">Reason</th><th scope=\"col\">Evidence id</th></tr></thead><tbody>";
    JsonArr ev = arr(m, "evidence");
    for (std::size_t i = 0; i < ev->size(); ++i) {
      JsonObj e = at(ev, i);
      b += "<tr><td>" + escape(str(e, "event")) + "</td><td>" + displayTime(str(e, "created_at")) + "</td><td>" +
           escape(str(e, "reason")) + "</td><td class=\"mono\">" + escape(str(e, "evidence_id")) + "</td></tr>";
    }
    b += "</tbody></table></div><div class=\"actions noprint\"><button type=\"button\" data-print>Print</button>"
         "<a href=\"/messages/" + escape(urlSegment(str(m, "message_id"))) + "\">Back to the message</a></div>";
    p.bodyHtml = b;
    return page(c, p);
  }

  // ---- identity ----

  // The policy table as shown: from GET /api/v1/identity/policy when the identity component
  // serves it, else from the same built-in GatePolicy the gate enforces.
  struct PolicyView {
    struct Rule {
      std::string method;
      std::string minLevel;  // "" = no per-method floor
    };
    struct Action {
      bool anyMethod = true;
      std::string minLevel;
      bool strong = false;
      std::vector<Rule> rules;
    };
    struct Method {
      std::string method, label;
      bool requestable = false;
    };
    std::string profile;
    Action submit, handover;
    std::vector<Method> methods;
    int64_t maxDocumentBytes = kMaxDocumentBytes;
  };

  static PolicyView::Action actionFrom(const identity::ActionPolicy& a) {
    PolicyView::Action v;
    v.anyMethod = a.acceptedMethods.empty();
    if (a.minLevel != identity::LevelOfAssurance::None) v.minLevel = std::string(identity::levelName(a.minLevel));
    v.strong = a.requireStrongAuthentication;
    for (const auto& r : a.acceptedMethods)
      v.rules.push_back({std::string(identity::identificationMethodName(r.method)),
                         r.minLevel == identity::LevelOfAssurance::None ? std::string() : std::string(identity::levelName(r.minLevel))});
    return v;
  }

  static PolicyView::Action actionFrom(const JsonObj& a) {
    PolicyView::Action v;
    v.minLevel = str(a, "min_level");
    if (v.minLevel == "none") v.minLevel.clear();
    v.strong = str(a, "strong_authentication") == "true";
    JsonArr ms = arr(a, "methods");
    v.anyMethod = ms->size() == 0 || str(a, "any_method") == "true";
    JsonObj floors = obj(a, "method_min_levels");  // {"method": "level"} where a method has its own floor
    for (std::size_t i = 0; i < ms->size(); ++i) {
      const auto& item = ms->get(static_cast<unsigned>(i));
      if (item.type() == typeid(Poco::JSON::Object::Ptr)) {
        JsonObj o = item.extract<Poco::JSON::Object::Ptr>();
        std::string lvl = str(o, "min_level");
        v.rules.push_back({str(o, "method"), lvl == "none" ? std::string() : lvl});
      } else {
        v.rules.push_back({item.toString(), str(floors, item.toString())});
      }
    }
    return v;
  }

  PolicyView policyView(const Request& req) const {
    PolicyView v;
    auto a = call(req, "GET", "/api/v1/identity/policy");
    if (a.ok() && a.json) {
      v.profile = str(a.json, "profile");
      v.submit = actionFrom(obj(a.json, "submit"));
      v.handover = actionFrom(obj(a.json, "handover"));
      try {
        if (!str(a.json, "max_document_bytes").empty()) v.maxDocumentBytes = std::stoll(str(a.json, "max_document_bytes"));
      } catch (...) {
      }
      JsonArr ms = arr(a.json, "methods");
      for (std::size_t i = 0; i < ms->size(); ++i) {
        JsonObj m = at(ms, i);
        v.methods.push_back({str(m, "method"), str(m, "label"), str(m, "requestable") == "true"});
      }
    } else {
      v.profile = opt.gatePolicy.profile;
      v.submit = actionFrom(opt.gatePolicy.submit);
      v.handover = actionFrom(opt.gatePolicy.handover);
    }
    if (v.methods.empty()) {
      for (const char* m : kMethods) {
        const std::string_view mv(m);
        v.methods.push_back({m, {}, mv == "physical_presence" || mv == "remote_id_document_scan"});
      }
    }
    return v;
  }

  // "yes" / "yes, at level X or higher" / "no" for one method and action.
  static std::string acceptsCell(const PolicyView::Action& a, const std::string& method) {
    std::string level = a.minLevel;
    auto it = std::find_if(a.rules.begin(), a.rules.end(), [&](const auto& r) { return r.method == method; });
    if (it == a.rules.end() && !a.anyMethod) return "<td class=\"no\">no</td>";
    if (it != a.rules.end() && !it->minLevel.empty()) level = it->minLevel;
    return "<td class=\"yes\">yes" + (level.empty() ? std::string() : ", level " + escape(level) + " or higher") + "</td>";
  }

  static bool accepted(const PolicyView::Action& a, const std::string& method) {
    return a.anyMethod || std::any_of(a.rules.begin(), a.rules.end(), [&](const auto& r) { return r.method == method; });
  }

  static const PolicyView::Method* findMethod(const PolicyView& v, std::string_view m) {
    for (const auto& x : v.methods)
      if (x.method == m) return &x;
    return nullptr;
  }

  std::string policyTable(const PolicyView& v) const {
    std::string b = "<div class=\"table-wrap\"><table class=\"policy\"><caption>Identification methods this service accepts "
                    "(policy profile " + escape(v.profile) + ")</caption><thead><tr><th scope=\"col\">Method</th>"
                    "<th scope=\"col\">Counts for sending</th><th scope=\"col\">Counts for receiving</th>"
                    "<th scope=\"col\">Available here</th></tr></thead><tbody>";
    for (const auto& m : v.methods) {
      b += "<tr><th scope=\"row\">" + escape(m.label.empty() ? methodLabel(m.method) : m.label) + "</th>" +
           acceptsCell(v.submit, m.method) + acceptsCell(v.handover, m.method) + "<td>";
      if (m.requestable && (m.method == "qualified_certificate" || m.method == "ncp_certificate"))
        b += "<a href=\"/identity/certificate\">sign a challenge</a>";
      else if (m.requestable && m.method == "remote_id_document_scan")
        b += "<a href=\"#scan\">upload a scan</a>";
      else if (m.requestable && m.method == "physical_presence")
        b += "<a href=\"#appointment\">book a check</a>";
      else
        b += "not yet";
      b += "</td></tr>";
    }
    b += "</tbody></table></div>";
    auto notes = [&](const char* what, const PolicyView::Action& a) {
      std::string n;
      if (!a.minLevel.empty()) n += "at least level " + escape(a.minLevel);
      if (a.strong) n += std::string(n.empty() ? "" : "; ") + "you must sign in with two factors or a certificate";
      if (!n.empty()) b += "<p>" + std::string(what) + ": " + n + ".</p>";
    };
    notes("To send", v.submit);
    notes("To receive content", v.handover);
    if (!accepted(v.handover, "remote_id_document_scan") || v.handover.minLevel == "high")
      b += "<p class=\"notice\">Under Commission Implementing Regulation (EU) 2025/1944 an ID document scan alone is not "
           "enough for a qualified delivery. Book an in-person check at a registration desk, or prove your identity "
           "with a qualified certificate.</p>";
    return b;
  }

  std::string levelSelect(const std::string& id, const std::string& selected) const {
    return "<div><label for=\"" + id + "\">Level to be verified at</label><select id=\"" + id + "\" name=\"requested_level\">" +
           selectOptions(kLevels, 3, selected, true) + "</select></div>";
  }

  std::string documentsList(const JsonArr& docs, const std::string& linkBase) const {
    if (docs->size() == 0) return "none";
    std::string b = "<ul class=\"plain\">";
    for (std::size_t i = 0; i < docs->size(); ++i) {
      JsonObj d = at(docs, i);
      std::string label = escape(str(d, "content_type")) + ", " + escape(humanSize(str(d, "size"))) + ", " +
                          displayTime(str(d, "uploaded_at"));
      b += "<li>";
      if (str(d, "purged") == "true") {
        b += label + " (deleted after the decision)";
      } else if (!linkBase.empty()) {
        const std::string href = linkBase + urlSegment(str(d, "id"));
        b += "<a href=\"" + escape(href) + "?view=1\">View document " + std::to_string(i + 1) + "</a> (" + label +
             ") <a href=\"" + escape(href) + "\">download</a>";
      } else {
        b += "Document " + std::to_string(i + 1) + ": " + label;
      }
      b += "</li>";
    }
    return b + "</ul>";
  }

  std::string appointmentText(const JsonObj& r) const {
    JsonObj ap = obj(r, "appointment");
    if (ap->size() == 0) return "none";
    std::string t = "preferred " + displayTime(str(ap, "preferred_at"));
    if (!str(ap, "note").empty()) t += "; note: " + escape(str(ap, "note"));
    return t;
  }

  std::string approvalsText(const JsonArr& ap) const {
    if (ap->size() == 0) return "none yet";
    std::string b = "<ul class=\"plain\">";
    for (std::size_t i = 0; i < ap->size(); ++i) {
      JsonObj a = at(ap, i);
      b += "<li>officer <span class=\"mono\">" + escape(str(a, "officer_id")) + "</span>: " + escape(human(str(a, "method"))) +
           ", level " + escape(str(a, "level")) + ", " + displayTime(str(a, "at")) + "</li>";
    }
    return b + "</ul>";
  }

  std::string deadlineOf(const JsonObj& r) const {
    std::string d = str(r, "deadline");
    return d.empty() ? addDays(str(r, "created_at"), 5) : d;
  }

  Response identityPage(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    Page p;
    p.title = "Identity";
    p.current = "identity";
    const PolicyView v = policyView(req);
    std::string b = "<p>Registered delivery requires knowing who sends and who receives. This table shows which ways of "
                    "being identified count for what on this service.</p>" + policyTable(v);

    b += "<h2>Your identifications</h2>";
    JsonArr ids = arr(c.me, "identifications");
    if (ids->size() == 0) {
      b += "<p>You have not been identified yet.</p>";
    } else {
      b += "<ul>";
      for (std::size_t i = 0; i < ids->size(); ++i) {
        JsonObj id = at(ids, i);
        b += "<li>" + escape(methodLabel(str(id, "method"))) + " - level " + escape(str(id, "level")) + ", " + displayTime(str(id, "at"));
        if (str(id, "revoked") == "true") b += " (revoked)";
        b += "</li>";
      }
      b += "</ul>";
    }
    b += "<h2>Your verification requests</h2>";
    auto a = call(req, "GET", "/api/v1/identity/verification-requests");
    JsonArr rq = arr(a.json, "verification_requests");
    if (rq->size() == 0) {
      b += "<p>No requests.</p>";
    } else {
      for (std::size_t i = 0; i < rq->size(); ++i) {
        JsonObj r = at(rq, i);
        const std::string n = std::to_string(i);
        const std::string status = str(r, "status");
        b += "<section class=\"notice\" aria-labelledby=\"myrq-" + n + "\"><h3 id=\"myrq-" + n + "\">Request of " +
             displayTime(str(r, "created_at")) + "</h3><dl class=\"facts\">";
        b += "<dt>Method</dt><dd>" + (str(r, "method").empty() ? std::string("officer's choice") : escape(methodLabel(str(r, "method")))) + "</dd>";
        b += "<dt>Level</dt><dd>" + escape(str(r, "requested_level")) + "</dd>";
        b += "<dt>Status</dt><dd><span class=\"state\">" + escape(human(status)) + "</span></dd>";
        b += "<dt>Documents</dt><dd>" + documentsList(arr(r, "documents"), "") + "</dd>";
        b += "<dt>Appointment</dt><dd>" + appointmentText(r) + "</dd>";
        if (status == "open" || status == "pending" || status == "awaiting_second_approval")
          b += "<dt>Decision due by</dt><dd>" + displayTime(deadlineOf(r)) + "</dd>";
        b += "<dt>Approvals</dt><dd>" + approvalsText(arr(r, "approvals")) + "</dd>";
        if (!str(r, "rejection_reason").empty()) b += "<dt>Reason</dt><dd>" + escape(str(r, "rejection_reason")) + "</dd>";
        b += "</dl>";
        if (str(r, "method") == "remote_id_document_scan" && (status == "open" || status == "pending")) {
          b += "<form method=\"post\" action=\"/identity/requests/" + escape(urlSegment(str(r, "id"))) +
               "/documents\" enctype=\"multipart/form-data\" class=\"stack\">" + csrfField(c.csrf) +
               "<div><label for=\"more-doc-" + n + "\">Add a page or the back side <span class=\"hint\">JPEG, PNG or PDF, at most " +
               escape(humanSize(std::to_string(v.maxDocumentBytes))) + "</span></label>"
               "<input type=\"file\" id=\"more-doc-" + n + "\" name=\"document\" accept=\"image/jpeg,image/png,application/pdf\" required></div>"
               "<div><button type=\"submit\" class=\"secondary\">Upload</button></div></form>";
        }
        b += "</section>";
      }
    }

    b += "<h2>Request verification</h2>";
    const auto* scan = findMethod(v, "remote_id_document_scan");
    const auto* desk = findMethod(v, "physical_presence");
    bool any = false;
    if (scan && scan->requestable) {
      any = true;
      b += "<section aria-labelledby=\"scan\"><h3 id=\"scan\">Upload a scan of your ID document</h3>"
           "<p>An officer compares the scan with your registration details." +
           std::string(accepted(v.handover, "remote_id_document_scan") ? "" : " On this service a scan alone does not let you receive content.") +
           " The scan is deleted after the decision.</p>"
           "<form method=\"post\" action=\"/identity/requests/scan\" enctype=\"multipart/form-data\" class=\"stack\" data-upload>" + csrfField(c.csrf) +
           levelSelect("scan-level", "substantial") +
           "<div><label for=\"document\">ID card or passport scan <span class=\"hint\" id=\"doc-hint\">JPEG, PNG or PDF, at most " +
           escape(humanSize(std::to_string(v.maxDocumentBytes))) + "; "
           "both sides in one PDF, or add the back side afterwards</span></label><input type=\"file\" id=\"document\" name=\"document\" "
           "accept=\"image/jpeg,image/png,application/pdf\" aria-describedby=\"doc-hint\" required></div>"
           "<div class=\"progress\" data-progress hidden><label for=\"scan-bar\">Upload</label><progress id=\"scan-bar\" max=\"100\" "
           "value=\"0\"></progress><span data-progress-label aria-live=\"polite\"></span></div>"
           "<div><button type=\"submit\">Upload and request verification</button></div></form></section>";
    }
    if (desk && desk->requestable) {
      any = true;
      b += "<section aria-labelledby=\"appointment\"><h3 id=\"appointment\">Book an in-person check</h3>"
           "<p>Bring your ID card or passport to a registration desk; an officer checks it face to face.</p>"
           "<form method=\"post\" action=\"/identity/requests/appointment\" class=\"stack\">" + csrfField(c.csrf) +
           levelSelect("desk-level", "substantial") +
           "<div><label for=\"preferred_at\">Preferred date and time <span class=\"hint\" id=\"when-hint\">UTC; we confirm the time "
           "with you</span></label><input type=\"datetime-local\" id=\"preferred_at\" name=\"preferred_at\" aria-describedby=\"when-hint\" required></div>"
           "<div><label for=\"note\">Note for the desk <span class=\"hint\" id=\"note-hint\">Optional, e.g. accessibility needs</span></label>"
           "<textarea id=\"note\" name=\"note\" maxlength=\"500\" rows=\"3\" aria-describedby=\"note-hint\"></textarea></div>"
           "<div><button type=\"submit\">Book an in-person check</button></div></form></section>";
    }
    if (const auto* q = findMethod(v, "qualified_certificate"); q && q->requestable) {
      any = true;
      b += "<section aria-labelledby=\"cert\"><h3 id=\"cert\">Use your qualified certificate</h3><p>Sign a challenge with the "
           "certificate on your signature card or in a file; you are identified at once if the certificate is accepted. "
           "<a href=\"/identity/certificate\">Sign a challenge with a certificate</a></p></section>";
    }
    if (!any) {
      b += "<form method=\"post\" action=\"/identity/requests\" class=\"stack\">" + csrfField(c.csrf) + levelSelect("requested_level", "substantial") +
           "<div><button type=\"submit\">Request identity verification</button></div></form>";
    }
    p.bodyHtml = b;
    return page(c, p);
  }

  // Opens a verification request; its id, or the failed reply.
  Result<std::string> openRequest(const Request& req, Ctx&, const std::string& level, const std::string& extraJson,
                                  ApiReply& reply) const {
    std::string lvl = level;
    if (lvl != "low" && lvl != "high") lvl = "substantial";
    reply = call(req, "POST", "/api/v1/identity/verification-requests", "", "application/json",
                 "{\"requested_level\":" + jsonStr(lvl) + extraJson + "}");
    if (!reply.ok()) return Error::invalidInput("refused");
    return str(reply.json, "id");
  }

  Response requestVerification(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    ApiReply a;
    if (!openRequest(req, c, f.get("requested_level"), "", a)) return errorPage(c, a, "The request could not be recorded");
    return redirect(c, "/identity?done=requested");
  }

  // Checks one uploaded scan and sends it to the request's documents route.
  ApiReply uploadDocument(const Request& req, const std::string& requestId, const UploadedFile& file) const {
    ApiReply a;
    std::string type = lowerMediaType(file.mediaType);
    if (type == "image/jpg") type = "image/jpeg";
    if (std::find(std::begin(kDocumentMediaTypes), std::end(kDocumentMediaTypes), type) == std::end(kDocumentMediaTypes)) {
      a.status = 415;
      a.error = Error::invalidInput("the scan must be a JPEG, PNG or PDF file");
      return a;
    }
    if (static_cast<int64_t>(file.data.size()) > kMaxDocumentBytes || file.data.empty()) {
      a.status = 413;
      a.error = Error::invalidInput("the scan must be between 1 byte and 10 MB");
      return a;
    }
    return call(req, "POST", "/api/v1/identity/verification-requests/" + urlSegment(requestId) + "/documents", "", type, file.data);
  }

  Response requestScan(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    if (f.files.empty()) {
      ApiReply none;
      none.status = 400;
      none.error = Error::invalidInput("choose the scan of your ID document");
      return errorPage(c, none, "No document");
    }
    // Check the file before opening a request for it.
    const UploadedFile& file = f.files.front();
    std::string type = lowerMediaType(file.mediaType);
    if (type == "image/jpg") type = "image/jpeg";
    if (std::find(std::begin(kDocumentMediaTypes), std::end(kDocumentMediaTypes), type) == std::end(kDocumentMediaTypes)) {
      ApiReply bad;
      bad.status = 415;
      bad.error = Error::invalidInput("the scan must be a JPEG, PNG or PDF file");
      return errorPage(c, bad, "Document not accepted");
    }
    ApiReply a;
    auto id = openRequest(req, c, f.get("requested_level"), ",\"method\":\"remote_id_document_scan\"", a);
    if (!id) return errorPage(c, a, "The request could not be recorded");
    auto up = uploadDocument(req, *id, file);
    if (!up.ok()) return errorPage(c, up, "The document was not accepted");
    return redirect(c, "/identity?done=uploaded");
  }

  Response addDocument(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    if (f.files.empty()) {
      ApiReply none;
      none.status = 400;
      none.error = Error::invalidInput("choose a file");
      return errorPage(c, none, "No document");
    }
    auto up = uploadDocument(req, req.param("id"), f.files.front());
    if (!up.ok()) return errorPage(c, up, "The document was not accepted");
    return redirect(c, "/identity?done=uploaded");
  }

  Response requestAppointment(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    // <input type=datetime-local>: "YYYY-MM-DDTHH:MM" (seconds optional), taken as UTC.
    std::string when = f.get("preferred_at");
    int y = 0, mo = 0, d = 0, h = 0, mi = 0;
    char tail = 0;
    if (when.size() < 16 || std::sscanf(when.c_str(), "%4d-%2d-%2dT%2d:%2d%c", &y, &mo, &d, &h, &mi, &tail) < 5 ||
        y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59) {
      ApiReply bad;
      bad.status = 400;
      bad.error = Error::invalidInput("choose a preferred date and time");
      return errorPage(c, bad, "The booking could not be recorded");
    }
    char buf[64];  // room for any int values, so the compiler can prove no truncation
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:00Z", y, mo, d, h, mi);
    std::string note = f.get("note");
    if (note.size() > 500) note.resize(500);
    ApiReply a;
    auto id = openRequest(req, c, f.get("requested_level"),
                          ",\"method\":\"physical_presence\",\"appointment\":{\"preferred_at\":" + jsonStr(buf) +
                              ",\"note\":" + jsonStr(note) + "}",
                          a);
    if (!id) return errorPage(c, a, "The booking could not be recorded");
    return redirect(c, "/identity?done=booked");
  }

  // ---- identification with a signing certificate (signed challenge) ----

  std::string challengeForm(Ctx& c, const std::string& challenge) const {
    return "<form method=\"post\" action=\"/identity/certificate\" enctype=\"multipart/form-data\" class=\"stack\">" + csrfField(c.csrf) +
           "<input type=\"hidden\" name=\"challenge\" value=\"" + escape(challenge) + "\">"
           "<div><label for=\"certificate\">Your certificate <span class=\"hint\" id=\"cert-hint\">PEM or DER (cert.pem)</span></label>"
           "<input type=\"file\" id=\"certificate\" name=\"certificate\" accept=\".pem,.crt,.cer,.der\" aria-describedby=\"cert-hint\" required></div>"
           "<div><label for=\"signature\">Signature <span class=\"hint\" id=\"sig-hint\">challenge.sig: DER, or its base64</span></label>"
           "<input type=\"file\" id=\"signature\" name=\"signature\" aria-describedby=\"sig-hint\" required></div>"
           "<div><label for=\"intermediates\">Intermediate CA certificates <span class=\"hint\" id=\"chain-hint\">Optional, PEM; "
           "only if your card does not send them</span></label><input type=\"file\" id=\"intermediates\" name=\"intermediates\" "
           "accept=\".pem,.crt\" aria-describedby=\"chain-hint\"></div>"
           "<div><button type=\"submit\">Check the signature and identify me</button></div></form>";
  }

  Response certificatePage(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "POST", "/api/v1/me/certificate-challenge");
    if (!a.ok()) return errorPage(c, a, "Certificate identification is not available");
    const std::string challenge = str(a.json, "challenge");
    Page p;
    p.title = "Identify with your certificate";
    p.current = "identity";
    std::string b = "<p>Prove that you hold a qualified (or NCP) signature certificate whose e-mail address is one of "
                    "your addresses: sign the challenge below with its private key and upload the signature and the "
                    "certificate. The challenge is valid until " + displayTime(str(a.json, "expires_at")) + ".</p>";
    b += "<dl class=\"facts\"><dt>Challenge</dt><dd class=\"mono\" id=\"challenge\">" + escape(challenge) + "</dd></dl>";
    b += "<h2>Sign it</h2><p>With the key in a file (signature over SHA-256 of the challenge text, no newline):</p>"
         "<pre class=\"mono\"><code>printf '%s' '" + escape(challenge) + "' &gt; challenge.txt\n"
         "openssl dgst -sha256 -sign key.pem -out challenge.sig challenge.txt</code></pre>"
         "<p>With a signature card (PKCS#11, e.g. OpenSC):</p><pre class=\"mono\"><code>openssl dgst -sha256 -engine pkcs11 -keyform engine "
         "-sign 'pkcs11:object=SIGN%20key' -out challenge.sig challenge.txt</code></pre>"
         "<p>Export the certificate with <code>pkcs15-tool --read-certificate ID</code> or from your card software.</p>";
    b += "<h2>Upload</h2>" + challengeForm(c, challenge);
    p.bodyHtml = b;
    return page(c, p);
  }

  Response certificateIdentify(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    const UploadedFile* cert = nullptr;
    const UploadedFile* sig = nullptr;
    const UploadedFile* chain = nullptr;
    for (const auto& file : f.files) {
      if (file.field == "certificate") cert = &file;
      if (file.field == "signature") sig = &file;
      if (file.field == "intermediates") chain = &file;
    }
    std::vector<std::string> certs = cert ? certificatesAsPem(cert->data) : std::vector<std::string>{};
    if (certs.empty() || sig == nullptr || sig->data.empty()) {
      ApiReply bad;
      bad.status = 400;
      bad.error = Error::invalidInput("upload the certificate and the signature");
      return errorPage(c, bad, "Certificate identification failed");
    }
    std::string body = "{\"certificate\":" + jsonStr(certs.front()) + ",\"challenge\":" + jsonStr(f.get("challenge")) +
                       ",\"signature\":" + jsonStr(signatureAsBase64Url(sig->data));
    std::vector<std::string> inter(certs.begin() + 1, certs.end());
    if (chain) {
      auto more = certificatesAsPem(chain->data);
      inter.insert(inter.end(), more.begin(), more.end());
    }
    if (!inter.empty()) {
      body += ",\"intermediates\":[";
      for (std::size_t i = 0; i < inter.size(); ++i) body += (i ? "," : "") + jsonStr(inter[i]);
      body += "]";
    }
    body += "}";
    auto a = call(req, "POST", "/api/v1/me/certificate-identification", "", "application/json", body);
    if (!a.ok()) return errorPage(c, a, "Certificate identification failed");
    return redirect(c, "/identity?done=identified");
  }

  // ---- sign-in with a client certificate (on the http.client_cert_port listener) ----

  Response certificateSignInPage(const Request& req, Ctx& c) const {
    if (c.signedIn) return redirect(c, "/inbox");
    Page p;
    p.title = "Sign in with a certificate";
    p.current = "signin";
    if (req.clientCertificateChain.empty()) {
      p.flashError = true;
      p.flash = "No certificate was presented.";
      p.bodyHtml = "<p>Insert your signature card (or install your certificate in the browser), then reload this page "
                   "and choose the certificate when the browser asks.</p><p><a href=\"/\">Sign in with a password instead</a></p>";
      return page(c, p, 401);
    }
    p.bodyHtml = "<p>Your browser presented a certificate. Sign in with it if it is registered to your account.</p>" +
                 buttonForm("/signin/certificate", c.csrf, "Sign in with this certificate") +
                 "<p><a href=\"/\">Sign in with a password instead</a></p>";
    return page(c, p);
  }

  Response certificateSignIn(const Request& req, Ctx& c, const Form&) const {
    auto a = call(req, "POST", "/api/v1/sessions/certificate");
    if (a.ok()) {
      for (const auto& [n, v] : a.response.headers)
        if (http::headerNameEquals(n, "Set-Cookie")) c.setCookies.push_back(v);
      return redirect(c, "/inbox");
    }
    Page p;
    p.title = "Sign in with a certificate";
    p.current = "signin";
    p.flashError = true;
    p.flash = "Certificate sign-in failed: " + a.detail();
    p.bodyHtml = "<p>The certificate must be valid, from a trusted issuer, and registered to your account (Account page, "
                 "after signing in with your password on this address).</p><p><a href=\"/\">Sign in with a password instead</a></p>";
    return page(c, p, a.status >= 400 ? a.status : 401);
  }

  Response registerCertificate(const Request& req, Ctx& c, const Form&) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "POST", "/api/v1/me/certificates");
    if (!a.ok()) return errorPage(c, a, "The certificate could not be registered");
    return redirect(c, "/account?done=certificate");
  }

  Response removeCertificate(const Request& req, Ctx& c, const Form&) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "DELETE", "/api/v1/me/certificates/" + urlSegment(req.param("id")));
    if (!a.ok()) return errorPage(c, a, "The certificate could not be removed");
    return redirect(c, "/account?done=certificate_removed");
  }

  // The account page's certificate section: registered certificates and, on the certificate
  // listener with a presented certificate, "Register this certificate".
  std::string certificatesSection(const Request& req, Ctx& c) const {
    std::string b;
    auto a = call(req, "GET", "/api/v1/me/certificates");
    const bool listed = a.ok();
    if (!listed && req.clientCertificateChain.empty() && opt.clientCertPort == 0) return b;
    b += "<h2>Sign-in certificates</h2>";
    JsonArr certs = arr(a.json, "certificates");
    if (listed && certs->size() > 0) {
      b += "<div class=\"table-wrap\"><table><caption>Certificates registered for sign-in</caption><thead><tr><th scope=\"col\">Subject</th>"
           "<th scope=\"col\">Issuer</th><th scope=\"col\">Valid until</th><th scope=\"col\">Action</th></tr></thead><tbody>";
      for (std::size_t i = 0; i < certs->size(); ++i) {
        JsonObj ce = at(certs, i);
        b += "<tr><td>" + escape(str(ce, "subject")) + "</td><td>" + escape(str(ce, "issuer")) + "</td><td>" +
             displayTime(str(ce, "not_after")) + "</td><td>" +
             buttonForm("/account/certificates/" + urlSegment(str(ce, "id")) + "/delete", c.csrf, "Remove", "danger") + "</td></tr>";
      }
      b += "</tbody></table></div>";
    } else if (listed) {
      b += "<p>No certificate is registered for sign-in.</p>";
    }
    if (!req.clientCertificateChain.empty()) {
      b += "<p>Your browser presented a certificate on this connection.</p>" +
           buttonForm("/account/certificates", c.csrf, "Register this certificate");
    } else if (opt.clientCertPort != 0) {
      b += "<p>To register your card's certificate, open <a href=\"" + escape(certificateOrigin(req)) +
           "/account\">this page on the certificate address</a> with the card inserted.</p>";
    }
    return b;
  }

  // https://<host of the request>:<client_cert_port>
  std::string certificateOrigin(const Request& req) const {
    const std::string* h = req.header("Host");
    std::string host = h ? *h : "localhost";
    if (!host.empty() && host.front() == '[') {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    // Only host-name characters survive (the Host header is the client's).
    std::string safe;
    for (char ch : host)
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '[' || ch == ']' || ch == ':') safe += ch;
    if (safe.empty()) safe = "localhost";
    return "https://" + safe + ":" + std::to_string(opt.clientCertPort);
  }

  // ---- officer ----

  Response officer(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/officer/verification-requests");
    if (!a.ok()) return errorPage(c, a, "Officer queue not available");
    Page p;
    p.title = "Officer queue";
    p.current = "officer";
    JsonArr rq = arr(a.json, "verification_requests");
    // Oldest first, whatever order the API used.
    std::vector<JsonObj> items;
    for (std::size_t i = 0; i < rq->size(); ++i)
      if (JsonObj r = at(rq, i)) items.push_back(r);
    std::stable_sort(items.begin(), items.end(), [](const JsonObj& x, const JsonObj& y) { return str(x, "created_at") < str(y, "created_at"); });
    std::string b;
    if (items.empty()) {
      b = "<p>No open verification requests.</p>";
    } else {
      b = "<p>Open requests, oldest first. Check the person's identity document face to face (or the documents "
          "submitted) before approving. You cannot decide your own request or one you created. Level high needs "
          "two approvals by two different officers.</p>";
      for (std::size_t i = 0; i < items.size(); ++i) {
        const JsonObj& r = items[i];
        const std::string rid = str(r, "id");
        const std::string n = std::to_string(i);
        const std::string action = "/officer/" + urlSegment(rid);
        const std::string status = str(r, "status");
        const bool second = status == "awaiting_second_approval";
        const std::string method = str(r, "method");
        b += "<section class=\"notice" + std::string(second ? " second" : "") + "\" aria-labelledby=\"rq-" + n + "\"><h2 id=\"rq-" + n +
             "\">Request " + std::to_string(i + 1) + (second ? " - awaiting second approval" : "") + "</h2>";
        if (second)
          b += "<p class=\"flag\"><strong>Awaiting second approval.</strong> One officer approved level high; a second, "
               "different officer must approve it too.</p>";
        b += "<dl class=\"facts\">";
        b += "<dt>Party</dt><dd class=\"mono\">" + escape(str(r, "party_id")) + "</dd>";
        b += "<dt>Method</dt><dd>" + (method.empty() ? std::string("not chosen") : escape(methodLabel(method))) + "</dd>";
        b += "<dt>Requested level</dt><dd>" + escape(str(r, "requested_level")) + "</dd>";
        b += "<dt>Status</dt><dd><span class=\"state\">" + escape(human(status)) + "</span></dd>";
        b += "<dt>Submitted</dt><dd>" + displayTime(str(r, "created_at")) + "</dd>";
        b += "<dt>Decide by</dt><dd>" + displayTime(deadlineOf(r)) + "</dd>";
        b += "<dt>Documents</dt><dd>" + documentsList(arr(r, "documents"), action + "/documents/") + "</dd>";
        b += "<dt>Appointment</dt><dd>" + appointmentText(r) + "</dd>";
        JsonObj doc = obj(r, "document");
        if (doc->size() != 0)
          b += "<dt>Document reviewed</dt><dd>" + escape(human(str(doc, "type"))) + " " + escape(str(doc, "issuing_country")) + "</dd>";
        b += "<dt>Approvals so far</dt><dd>" + approvalsText(arr(r, "approvals")) + "</dd></dl>";
        const bool high = str(r, "requested_level") == "high" || second;
        // The second approval must come from another officer: say so instead of offering a button
        // the API would refuse.
        bool mineFirst = false;
        JsonArr given = arr(r, "approvals");
        for (std::size_t k = 0; k < given->size(); ++k)
          if (str(at(given, k), "officer_id") == myPartyId(c)) mineFirst = true;
        if (second && mineFirst) {
          b += "<p class=\"notice\">You gave the first approval. A different officer must give the second one.</p>";
          b += "<form method=\"post\" action=\"" + escape(action) + "/reject\" class=\"stack\">" + csrfField(c.csrf) +
               "<div><label for=\"reason-" + n + "\">Reason for rejection</label><input type=\"text\" id=\"reason-" + n +
               "\" name=\"reason\" required></div><div><button type=\"submit\" class=\"danger\">Reject</button></div></form></section>";
          continue;
        }
        b += "<form method=\"post\" action=\"" + escape(action) + "/approve\" class=\"stack\">" + csrfField(c.csrf);
        if (high)
          b += "<p class=\"hint\" id=\"high-" + n + "\">Level high: your approval is recorded, and the identification takes effect "
               "only when a second, different officer approves as well.</p>";
        b += "<div><label for=\"method-" + n + "\">Method used</label><select id=\"method-" + n + "\" name=\"method\">" +
             selectOptions(kMethods, 7, method.empty() ? "physical_presence" : method, true) + "</select></div>"
             "<div><label for=\"level-" + n + "\">Level</label><select id=\"level-" + n + "\" name=\"level\">" +
             selectOptions(kLevels, 3, str(r, "requested_level"), true) + "</select></div>"
             "<fieldset><legend>Identity document reviewed</legend><span class=\"hint\">Required for document-based methods "
             "(in person, document scan). The number is stored only as a keyed hash.</span>"
             "<div><label for=\"doctype-" + n + "\">Document type</label><select id=\"doctype-" + n + "\" name=\"document_type\">" +
             selectOptions(kDocumentTypes, 4, "id_card", true) + "</select></div>"
             "<div><label for=\"country-" + n + "\">Issuing country (2 letters)</label><input type=\"text\" id=\"country-" + n +
             "\" name=\"issuing_country\" maxlength=\"2\" autocomplete=\"off\"></div>"
             "<div><label for=\"docnumber-" + n + "\">Document number</label><input type=\"text\" id=\"docnumber-" + n +
             "\" name=\"document_number\" autocomplete=\"off\"></div>"
             "<div><label for=\"docexpiry-" + n + "\">Valid until</label><input type=\"date\" id=\"docexpiry-" + n +
             "\" name=\"document_expires_on\"></div></fieldset>"
             "<div><button type=\"submit\"" + (high ? " aria-describedby=\"high-" + n + "\"" : std::string()) + ">" +
             (second ? "Give the second approval" : high ? "Approve (first of two)" : "Approve") + "</button></div></form>";
        b += "<form method=\"post\" action=\"" + escape(action) + "/reject\" class=\"stack\">" + csrfField(c.csrf) +
             "<div><label for=\"reason-" + n + "\">Reason for rejection</label><input type=\"text\" id=\"reason-" + n + "\" name=\"reason\" required></div>"
             "<div><button type=\"submit\" class=\"danger\">Reject</button></div></form></section>";
      }
    }
    p.bodyHtml = b;
    return page(c, p);
  }

  // `?view=1`: an HTML page (strict CSP) showing an image scan through <img> from the download
  // route below, whose response is an attachment and never a document of its own.
  Response officerDocumentView(const Request& req, Ctx& c) const {
    auto q = call(req, "GET", "/api/v1/officer/verification-requests");
    if (!q.ok()) return errorPage(c, q, "Document not available");
    const std::string rid = req.param("id"), did = req.param("doc");
    JsonObj doc;
    JsonArr rq = arr(q.json, "verification_requests");
    for (std::size_t i = 0; i < rq->size() && !doc; ++i) {
      JsonObj r = at(rq, i);
      if (str(r, "id") != rid) continue;
      JsonArr docs = arr(r, "documents");
      for (std::size_t k = 0; k < docs->size(); ++k)
        if (JsonObj d = at(docs, k); str(d, "id") == did) doc = d;
    }
    if (!doc) {
      ApiReply nf;
      nf.status = 404;
      nf.error = Error::notFound("no such document in the open requests");
      return errorPage(c, nf, "Document not available");
    }
    const std::string href = "/officer/" + urlSegment(rid) + "/documents/" + urlSegment(did);
    const std::string type = lowerMediaType(str(doc, "content_type"));
    Page p;
    p.title = "Identity document scan";
    p.current = "officer";
    std::string b = "<dl class=\"facts\"><dt>Type</dt><dd>" + escape(type) + "</dd><dt>Size</dt><dd>" + escape(humanSize(str(doc, "size"))) +
                    "</dd><dt>Uploaded</dt><dd>" + displayTime(str(doc, "uploaded_at")) + "</dd><dt>SHA-256</dt><dd class=\"mono\">" +
                    escape(str(doc, "sha256")) + "</dd></dl>";
    if (type == "image/png" || type == "image/jpeg")
      b += "<p><img class=\"scan\" src=\"" + escape(href) + "\" alt=\"Scan of the identity document submitted with the request\"></p>";
    else
      b += "<p>This document cannot be shown here; download it to view it.</p>";
    b += "<div class=\"actions\"><a href=\"" + escape(href) + "\">Download the document</a><a href=\"/officer\">Back to the queue</a></div>";
    p.bodyHtml = b;
    return page(c, p);
  }

  // A submitted scan, for officers: the API's bytes, never rendered by the portal: always an
  // attachment (also when an <img> of the view page loads it), sandboxed, nosniff.
  Response officerDocument(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    if (req.queryParam("view")) return officerDocumentView(req, c);
    auto a = call(req, "GET", "/api/v1/officer/verification-requests/" + urlSegment(req.param("id")) + "/documents/" +
                                  urlSegment(req.param("doc")));
    if (!a.ok()) return errorPage(c, a, "Document not available");
    Response r = std::move(a.response);
    const std::string type = lowerMediaType(r.contentType);
    std::string ext = type == "image/png" ? ".png" : type == "image/jpeg" ? ".jpg" : type == "application/pdf" ? ".pdf" : ".bin";
    if (ext == ".bin") r.contentType = "application/octet-stream";
    std::string safe;
    for (char ch : req.param("doc"))
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-') safe += ch;
    std::erase_if(r.headers, [](const auto& h) {
      return http::headerNameEquals(h.first, "Content-Disposition") || http::headerNameEquals(h.first, "Content-Security-Policy");
    });
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"document-" + safe + ext + "\"");
    r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

  Response officerDecide(const Request& req, Ctx& c, const Form& f, bool approve) const {
    if (!c.signedIn) return needSignIn(c);
    const std::string path = "/api/v1/officer/verification-requests/" + urlSegment(req.param("id")) + (approve ? "/approve" : "/reject");
    std::string body;
    if (approve) {
      body = "{\"method\":" + jsonStr(f.get("method")) + ",\"level\":" + jsonStr(f.get("level"));
      if (!f.get("document_number").empty()) {
        body += ",\"document\":{\"type\":" + jsonStr(f.get("document_type")) + ",\"issuing_country\":" +
                jsonStr(f.get("issuing_country")) + ",\"number\":" + jsonStr(f.get("document_number")) +
                ",\"expires_on\":" + jsonStr(f.get("document_expires_on")) + "}";
      }
      body += "}";
    } else {
      body = "{\"reason\":" + jsonStr(f.get("reason")) + "}";
    }
    auto a = call(req, "POST", path, "", "application/json", body);
    if (!a.ok()) return errorPage(c, a, "The decision was not recorded");
    return redirect(c, approve ? "/officer?done=approved" : "/officer?done=declined");
  }

  // ---- public evidence verification ----

  std::string verifyForm(Ctx& c) const {
    return "<form method=\"post\" action=\"/verify\" enctype=\"multipart/form-data\" class=\"stack\">" + csrfField(c.csrf) +
           "<div><label for=\"evidence\">Evidence file (XML)</label><input type=\"file\" id=\"evidence\" name=\"evidence\" accept=\".xml,application/xml,text/xml\" required></div>"
           "<div><button type=\"submit\">Verify</button></div></form>";
  }

  Response verifyPage(const Request&, Ctx& c) const {
    Page p;
    p.title = "Verify an evidence";
    p.current = "verify";
    p.bodyHtml = "<p>Check that an evidence file was sealed and time-stamped by this service and has not been "
                 "changed since. The file is checked here and not stored.</p>" +
                 (opt.verifier ? verifyForm(c) : std::string("<p class=\"notice\">Verification is not configured on this server.</p>"));
    return page(c, p);
  }

  Response verifyPost(const Request&, Ctx& c, const Form& f) const {
    Page p;
    p.title = "Verify an evidence";
    p.current = "verify";
    if (!opt.verifier) {
      p.bodyHtml = "<p class=\"notice\">Verification is not configured on this server.</p>";
      return page(c, p, 503);
    }
    if (f.files.empty()) {
      p.flashError = true;
      p.flash = "Choose an evidence file.";
      p.bodyHtml = verifyForm(c);
      return page(c, p, 400);
    }
    auto report = opt.verifier->verify(f.files.front().data);
    if (!report) {
      p.flashError = true;
      p.flash = "The verifier failed; try again later.";
      p.bodyHtml = verifyForm(c);
      return page(c, p, 500);
    }
    const auto& r = *report;
    const std::string status(evidence::verifyStatusName(r.status));
    p.flashError = r.status != evidence::VerifyStatus::Valid;
    p.flash = r.status == evidence::VerifyStatus::Valid ? "Result: valid. The evidence is authentic and unchanged."
                                                        : "Result: " + status + ". " + r.reason;
    std::string b = "<h2>Report for " + escape(f.files.front().filename) + "</h2><dl class=\"facts\">";
    auto fact = [&](const std::string& k, const std::string& v) {
      if (!v.empty()) b += "<dt>" + escape(k) + "</dt><dd>" + escape(v) + "</dd>";
    };
    fact("Result", status);
    fact("Reason", r.reason);
    fact("Event", r.event);
    fact("Event reason", r.reasonCode);
    if (r.eventTime) fact("Event time", formatRfc3339(*r.eventTime, false));
    if (r.timestampTime) fact("Time stamp", formatRfc3339(*r.timestampTime, false));
    fact("Sender", r.sender);
    std::string rec;
    for (const auto& x : r.recipients) rec += (rec.empty() ? "" : ", ") + x;
    fact("Recipients", rec);
    fact("Sealed by", r.signerSubject);
    fact("Time-stamping unit", r.tsaSubject);
    fact("Revocation checked", r.revocationChecked ? "yes" : "no");
    b += "</dl>";
    if (!r.warnings.empty()) {
      b += "<h2>Warnings</h2><ul>";
      for (const auto& w : r.warnings) b += "<li>" + escape(w) + "</li>";
      b += "</ul>";
    }
    b += "<h2>Verify another file</h2>" + verifyForm(c);
    p.bodyHtml = b;
    return page(c, p);
  }
};

// ------------------------------------------------------------------------------------------------

PortalRoutes::PortalRoutes(const http::Router& api, PortalOptions options)
    : impl_(std::make_unique<Impl>(Impl{api, std::move(options), 64LL * 1024 * 1024})) {}
PortalRoutes::~PortalRoutes() = default;

Result<void> PortalRoutes::registerRoutes(http::Router& router) {
  Impl* s = impl_.get();
  auto add = [&](const char* method, const char* path, const char* opId, const char* summary, std::string media,
                 int64_t maxBody, http::Handler h, bool stream = false) -> Result<void> {
    http::RouteSpec spec;
    spec.streamRequestBody = stream;
    spec.method = method;
    spec.path = path;
    spec.operationId = std::string("portal_") + opId;
    spec.summary = summary;
    spec.tags = {"portal"};
    spec.requestMediaType = std::move(media);
    spec.maxBodyBytes = maxBody;
    spec.responses = {http::ResponseSpec{200, "HTML page", "text/html", ""}};
    return router.add(std::move(spec), std::move(h));
  };
  using F = Form;
  const std::string url = "application/x-www-form-urlencoded";
  const std::string mp = "multipart/form-data";
  auto G = [s](auto fn) { return s->get([s, fn](const Request& r, Impl::Ctx& c) { return (s->*fn)(r, c); }); };
  auto P = [s](auto fn, bool multipart = false) {
    return s->post([s, fn](const Request& r, Impl::Ctx& c, const F& f) { return (s->*fn)(r, c, f); }, multipart);
  };

  auto asset = [](std::string_view body, const char* type) {
    return [body, type](const Request&) -> Result<Response> {
      Response r;
      r.contentType = type;
      r.body = std::string(body);
      r.headers.emplace_back("Cache-Control", "public, max-age=300");
      return r;
    };
  };
  ERDS_RETURN_IF_ERROR(add("GET", "/static/portal.css", "css", "Portal stylesheet", "", 0, asset(kPortalCss, "text/css; charset=utf-8")));
  ERDS_RETURN_IF_ERROR(add("GET", "/static/portal.js", "js", "Portal script (progressive enhancement)", "", 0,
                           asset(kPortalJs, "text/javascript; charset=utf-8")));
  // Browsers ask for it on every visit; an empty answer keeps the log and the console quiet.
  ERDS_RETURN_IF_ERROR(add("GET", "/favicon.ico", "favicon", "No icon", "", 0,
                           [](const Request&) -> Result<Response> { return Response::noContent(); }));
  ERDS_RETURN_IF_ERROR(add("GET", "/", "home", "Sign-in page, or the inbox when signed in", "", 0, G(&Impl::home)));
  ERDS_RETURN_IF_ERROR(add("POST", "/signin", "signin", "Sign in (password + TOTP)", url, kSmallFormBytes, P(&Impl::signIn)));
  ERDS_RETURN_IF_ERROR(add("POST", "/signout", "signout", "Sign out", url, kSmallFormBytes, P(&Impl::signOut)));
  ERDS_RETURN_IF_ERROR(add("GET", "/register", "register", "Registration page", "", 0, G(&Impl::registerPage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/register", "registerPost", "Register", url, kSmallFormBytes, P(&Impl::registerPost)));
  ERDS_RETURN_IF_ERROR(add("GET", "/account", "account", "Account, addresses, TOTP", "", 0, G(&Impl::account)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/identifiers", "addIdentifier", "Claim an address", url, kSmallFormBytes, P(&Impl::addIdentifier)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/identifiers/{id}/confirm", "confirmIdentifier", "Confirm an address", url, kSmallFormBytes,
                           P(&Impl::confirmIdentifier)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/totp", "totpStart", "Start TOTP enrolment", url, kSmallFormBytes, P(&Impl::totpStart)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/totp/confirm", "totpConfirm", "Confirm TOTP enrolment", url, kSmallFormBytes, P(&Impl::totpConfirm)));
  ERDS_RETURN_IF_ERROR(add("GET", "/compose", "compose", "Compose page", "", 0, G(&Impl::compose)));
  ERDS_RETURN_IF_ERROR(add("POST", "/compose", "composePost", "Send a registered message (attachments streamed to the API)", mp, 0,
                           s->composeHandler(), true));
  ERDS_RETURN_IF_ERROR(add("GET", "/inbox", "inbox", "Inbox", "", 0, G(&Impl::inbox)));
  ERDS_RETURN_IF_ERROR(add("GET", "/sent", "sent", "Sent messages with per-recipient status", "", 0, G(&Impl::sent)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}", "message", "Message page with the evidence timeline", "", 0, G(&Impl::message)));
  ERDS_RETURN_IF_ERROR(add("POST", "/messages/{id}/accept", "accept", "Accept (consent mode)", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F&) { return s->decide(r, c, true); }, false)));
  ERDS_RETURN_IF_ERROR(add("POST", "/messages/{id}/reject", "reject", "Reject (consent mode)", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F&) { return s->decide(r, c, false); }, false)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/content", "content", "Download the content (identity gate)", "", 0, G(&Impl::download)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/content/{part}", "contentPart", "Download one file of the content (identity gate)", "", 0,
                           G(&Impl::downloadPart)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/bundle", "bundle", "Evidence bundle (ZIP)", "", 0, G(&Impl::bundle)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/receipt", "receipt", "Printable receipt", "", 0, G(&Impl::receipt)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/evidence/{eid}", "evidence", "One evidence (XML)", "", 0, G(&Impl::evidenceDownload)));
  ERDS_RETURN_IF_ERROR(add("GET", "/identity", "identity", "Identification methods, requests, status", "", 0, G(&Impl::identityPage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/identity/requests", "requestVerification", "Request identity verification", url, kSmallFormBytes,
                           P(&Impl::requestVerification)));
  ERDS_RETURN_IF_ERROR(add("POST", "/identity/requests/scan", "requestScan", "Request verification with an ID document scan", mp,
                           kMaxDocumentBytes + kSmallFormBytes, P(&Impl::requestScan, true)));
  ERDS_RETURN_IF_ERROR(add("POST", "/identity/requests/{id}/documents", "addDocument", "Add a scan to an open request", mp,
                           kMaxDocumentBytes + kSmallFormBytes, P(&Impl::addDocument, true)));
  ERDS_RETURN_IF_ERROR(add("POST", "/identity/requests/appointment", "requestAppointment", "Book an in-person identity check", url,
                           kSmallFormBytes, P(&Impl::requestAppointment)));
  ERDS_RETURN_IF_ERROR(add("GET", "/identity/certificate", "certificateChallenge", "A challenge to sign with a qualified certificate", "", 0,
                           G(&Impl::certificatePage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/identity/certificate", "certificateIdentify", "Identify with a signed challenge", mp, kSmallFormBytes,
                           P(&Impl::certificateIdentify, true)));
  ERDS_RETURN_IF_ERROR(add("GET", "/signin/certificate", "certificateSignInPage", "Sign in with the TLS client certificate (client-certificate listener)",
                           "", 0, G(&Impl::certificateSignInPage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/signin/certificate", "certificateSignIn", "Sign in with the TLS client certificate", url, kSmallFormBytes,
                           P(&Impl::certificateSignIn)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/certificates", "registerCertificate", "Register the presented certificate for sign-in", url,
                           kSmallFormBytes, P(&Impl::registerCertificate)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/certificates/{id}/delete", "removeCertificate", "Remove a sign-in certificate", url,
                           kSmallFormBytes, P(&Impl::removeCertificate)));
  ERDS_RETURN_IF_ERROR(add("GET", "/account/app-tokens", "appTokens", "Application tokens for SMTP", "", 0, G(&Impl::appTokens)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/app-tokens", "createAppToken", "Create an application token (shown once)", url,
                           kSmallFormBytes, P(&Impl::createAppToken)));
  ERDS_RETURN_IF_ERROR(add("POST", "/account/app-tokens/{id}/revoke", "revokeAppToken", "Revoke an application token", url,
                           kSmallFormBytes, P(&Impl::revokeAppToken)));
  ERDS_RETURN_IF_ERROR(add("GET", "/officer", "officer", "Officer queue", "", 0, G(&Impl::officer)));
  ERDS_RETURN_IF_ERROR(add("GET", "/officer/{id}/documents/{doc}", "officerDocument", "A submitted scan (officers)", "", 0,
                           G(&Impl::officerDocument)));
  ERDS_RETURN_IF_ERROR(add("POST", "/officer/{id}/approve", "approve", "Approve a verification request", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F& f) { return s->officerDecide(r, c, f, true); }, false)));
  ERDS_RETURN_IF_ERROR(add("POST", "/officer/{id}/reject", "rejectRequest", "Reject a verification request", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F& f) { return s->officerDecide(r, c, f, false); }, false)));
  ERDS_RETURN_IF_ERROR(add("GET", "/verify", "verify", "Public evidence verification", "", 0, G(&Impl::verifyPage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/verify", "verifyPost", "Verify an uploaded evidence", mp, 8 * 1024 * 1024, P(&Impl::verifyPost, true)));
  return ok();
}

}  // namespace erds::portal
