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
  return {};
}

}  // namespace

// ------------------------------------------------------------------------------------------------

Result<PortalOptions> PortalOptions::fromConfig(const Config& config) {
  PortalOptions o;
  o.serviceName = config.getString("service.name");
  o.gatePolicy = identity::builtinGatePolicy(config.mode());
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
                std::string contentType = {}, std::string body = {}) const {
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
      if (!body.empty()) {
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
      if (!form || !csrfValid(req, form->get(std::string(kCsrfFieldName)))) {
        // A fresh token for the retry; the old cookie may be missing or planted.
        c.csrf = newCsrfToken();
        c.newCsrf = true;
        Page p;
        p.title = "Form expired";
        p.flash = form ? "This form has expired or did not come from this site. Go back, reload the page and try again."
                       : "The form could not be read: " + form.error().message;
        p.flashError = true;
        p.bodyHtml = "<p><a href=\"/\">Back to the start page</a></p>";
        return page(c, p, form ? 403 : 400);
      }
      return fn(req, c, *form);
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
    b += "<p>No account yet? <a href=\"/register\">Register</a>. Holders of a qualified certificate can also sign in "
         "with their card on the certificate sign-in address of this service.</p>";
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
    p.bodyHtml = b;
    return page(c, p);
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
    b += "<div><label for=\"attachments\">Attachments</label><input type=\"file\" id=\"attachments\" name=\"attachments\" multiple></div>";
    b += "<fieldset><legend>Delivery</legend>";
    b += std::string("<div><input type=\"radio\" id=\"mode-consent\" name=\"consignment_mode\" value=\"consent\"") + (mode != "basic" ? " checked" : "") +
         "> <label for=\"mode-consent\" class=\"inline\">Recipient must accept first</label></div>";
    b += std::string("<div><input type=\"radio\" id=\"mode-basic\" name=\"consignment_mode\" value=\"basic\"") + (mode == "basic" ? " checked" : "") +
         "> <label for=\"mode-basic\" class=\"inline\">Make the content available at once</label></div></fieldset>";
    b += "<div><label for=\"level\">Required recipient identity level</label><select id=\"level\" name=\"required_recipient_level\">" +
         selectOptions(kLevels, 3, level, true) + "</select></div>";
    b += "<div><label for=\"expiry\">Acceptance window in days</label><input type=\"number\" id=\"expiry\" name=\"expiry_days\" min=\"1\" max=\"366\" value=\"" +
         v("expiry_days", "15") + "\"></div>";
    b += "<div id=\"upload-progress\" class=\"progress\" hidden><label for=\"upload-bar\">Upload</label>"
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

  Response composePost(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
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

    const std::string boundary = "erds-portal-" + crypto::toHex(crypto::randomBytes(12));
    std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n" + meta + "\r\n";
    auto part = [&](const std::string& filename, const std::string& type, const std::string& data) {
      std::string quoted;
      for (char ch : filename) {
        if (ch == '"' || ch == '\\') quoted += '\\';
        quoted += ch;
      }
      body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + quoted +
              "\"\r\nContent-Type: " + (type.empty() ? "application/octet-stream" : type) + "\r\n\r\n" + data + "\r\n";
    };
    std::string text = f.get("body");
    if (!text.empty()) part("message.txt", "text/plain; charset=utf-8", text);
    for (const auto& file : f.files) part(file.filename, file.mediaType, file.data);
    body += "--" + boundary + "--\r\n";
    if (text.empty() && f.files.empty()) return refuse("Write a message or attach at least one file.", 400);

    auto a = call(req, "POST", "/api/v1/messages", "", "multipart/form-data; boundary=" + boundary, std::move(body));
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

  Response inbox(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/messages", "box=inbox&page_size=50");
    if (!a.ok()) return errorPage(c, a);
    Page p;
    p.title = "Inbox";
    p.current = "inbox";
    JsonArr items = arr(a.json, "items");
    std::string b;
    if (items->size() == 0) {
      b = "<p>No registered messages for you yet.</p>";
    } else {
      b = "<div class=\"table-wrap\"><table><caption>Messages addressed to you, newest first</caption><thead><tr><th scope=\"col\">Subject</th><th scope=\"col\">From</th>"
          "<th scope=\"col\">Received</th><th scope=\"col\">Accept by</th><th scope=\"col\">Status</th></tr></thead><tbody>";
      for (std::size_t i = 0; i < items->size(); ++i) {
        JsonObj m = at(items, i);
        std::string subject = str(m, "subject");
        b += "<tr><td><a href=\"/messages/" + escape(urlSegment(str(m, "message_id"))) + "\">" +
             (subject.empty() ? std::string("(no subject)") : escape(subject)) + "</a></td><td>";
        b += senderHidden(str(m, "consignment_mode"), str(m, "state"), opt.showSenderBeforeAcceptance)
                 ? std::string("<em>shown after you accept</em>")
                 : escape(str(m, "sender"));
        b += "</td><td>" + displayTime(str(m, "created_at")) + "</td><td>" + displayTime(str(m, "expires_at")) +
             "</td><td><span class=\"state\">" + escape(human(str(m, "state"))) + "</span></td></tr>";
      }
      b += "</tbody></table></div>";
    }
    p.bodyHtml = b;
    return page(c, p);
  }

  Response sent(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/messages", "box=sent&page_size=20");
    if (!a.ok()) return errorPage(c, a);
    Page p;
    p.title = "Sent";
    p.current = "sent";
    JsonArr items = arr(a.json, "items");
    std::string b;
    if (items->size() == 0) {
      b = "<p>You have not sent any registered message yet. <a href=\"/compose\">Compose one</a>.</p>";
    } else {
      b = "<div class=\"table-wrap\"><table><caption>Messages you sent, newest first</caption><thead><tr><th scope=\"col\">Subject</th><th scope=\"col\">Sent</th>"
          "<th scope=\"col\">Recipients and status</th></tr></thead><tbody>";
      for (std::size_t i = 0; i < items->size(); ++i) {
        JsonObj m = at(items, i);
        const std::string id = str(m, "message_id");
        std::string subject = str(m, "subject");
        b += "<tr><td><a href=\"/messages/" + escape(urlSegment(id)) + "\">" +
             (subject.empty() ? std::string("(no subject)") : escape(subject)) + "</a></td><td>" +
             displayTime(str(m, "created_at")) + "</td><td><ul>";
        auto s = call(req, "GET", "/api/v1/messages/" + urlSegment(id));
        JsonArr rs = arr(s.json, "recipients");
        for (std::size_t k = 0; k < rs->size(); ++k) {
          JsonObj r = at(rs, k);
          b += "<li>" + escape(str(r, "identifier")) + ": <span class=\"state\">" + escape(human(str(r, "state"))) + "</span></li>";
        }
        b += "</ul></td></tr>";
      }
      b += "</tbody></table></div>";
    }
    p.bodyHtml = b;
    return page(c, p);
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
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/messages/" + urlSegment(req.param("id")) + "/content");
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

  Response identityPage(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    Page p;
    p.title = "Identity";
    p.current = "identity";
    std::string b = "<p>Registered delivery requires knowing who sends and who receives. These are the ways this "
                    "service (policy profile <strong>" + escape(opt.gatePolicy.profile) + "</strong>) accepts:</p>";
    b += "<h2>To receive content</h2>" + methodsList(opt.gatePolicy.handover);
    b += "<h2>To send</h2>" + methodsList(opt.gatePolicy.submit);
    b += "<p class=\"notice\">Under Commission Implementing Regulation (EU) 2025/1944 an ID document scan alone is not "
         "enough for a qualified delivery. You can book an in-person check at a registration desk, or prove your "
         "identity with a qualified certificate.</p>";

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
      b += "<div class=\"table-wrap\"><table><caption>Your requests</caption><thead><tr><th scope=\"col\">Requested</th><th scope=\"col\">Level</th><th scope=\"col\">Status</th>"
           "<th scope=\"col\">Note</th></tr></thead><tbody>";
      for (std::size_t i = 0; i < rq->size(); ++i) {
        JsonObj r = at(rq, i);
        b += "<tr><td>" + displayTime(str(r, "created_at")) + "</td><td>" + escape(str(r, "requested_level")) + "</td><td>" +
             escape(human(str(r, "status"))) + "</td><td>" + escape(str(r, "rejection_reason")) + "</td></tr>";
      }
      b += "</tbody></table></div>";
    }
    b += "<form method=\"post\" action=\"/identity/requests\" class=\"stack\">" + csrfField(c.csrf) +
         "<div><label for=\"requested_level\">Level to be verified at</label><select id=\"requested_level\" name=\"requested_level\">" +
         selectOptions(kLevels, 3, "substantial", true) + "</select></div>"
         "<div><button type=\"submit\">Request identity verification</button></div></form>";
    p.bodyHtml = b;
    return page(c, p);
  }

  Response requestVerification(const Request& req, Ctx& c, const Form& f) const {
    if (!c.signedIn) return needSignIn(c);
    std::string level = f.get("requested_level");
    if (level != "low" && level != "high") level = "substantial";
    auto a = call(req, "POST", "/api/v1/identity/verification-requests", "", "application/json",
                  "{\"requested_level\":" + jsonStr(level) + "}");
    if (!a.ok()) return errorPage(c, a, "The request could not be recorded");
    return redirect(c, "/identity?done=requested");
  }

  Response officer(const Request& req, Ctx& c) const {
    if (!c.signedIn) return needSignIn(c);
    auto a = call(req, "GET", "/api/v1/officer/verification-requests");
    if (!a.ok()) return errorPage(c, a, "Officer queue not available");
    Page p;
    p.title = "Officer queue";
    p.current = "officer";
    JsonArr rq = arr(a.json, "verification_requests");
    std::string b;
    if (rq->size() == 0) {
      b = "<p>No open verification requests.</p>";
    } else {
      b = "<p>Open requests, oldest first. Check the person's identity document face to face (or the documents "
          "submitted) before approving. You cannot decide your own request or one you created.</p>";
      for (std::size_t i = 0; i < rq->size(); ++i) {
        JsonObj r = at(rq, i);
        const std::string rid = str(r, "id");
        const std::string n = std::to_string(i);
        const std::string action = "/officer/" + urlSegment(rid);
        b += "<section class=\"notice\" aria-labelledby=\"rq-" + n + "\"><h2 id=\"rq-" + n + "\">Request " + std::to_string(i + 1) + "</h2><dl class=\"facts\">";
        b += "<dt>Party</dt><dd class=\"mono\">" + escape(str(r, "party_id")) + "</dd>";
        b += "<dt>Requested level</dt><dd>" + escape(str(r, "requested_level")) + "</dd>";
        b += "<dt>Status</dt><dd>" + escape(human(str(r, "status"))) + "</dd>";
        b += "<dt>Submitted</dt><dd>" + displayTime(str(r, "created_at")) + "</dd>";
        b += "<dt>Decide by</dt><dd>" + displayTime(addDays(str(r, "created_at"), 5)) + "</dd>";
        JsonObj doc = obj(r, "document");
        b += "<dt>Documents</dt><dd>" + (doc->size() == 0 ? std::string("none submitted") : escape(str(doc, "type")) + " " + escape(str(doc, "issuing_country"))) + "</dd></dl>";
        b += "<form method=\"post\" action=\"" + escape(action) + "/approve\" class=\"stack\">" + csrfField(c.csrf) +
             "<div><label for=\"method-" + n + "\">Method used</label><select id=\"method-" + n + "\" name=\"method\">" +
             selectOptions(kMethods, 7, "physical_presence", true) + "</select></div>"
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
             "<div><button type=\"submit\">Approve</button></div></form>";
        b += "<form method=\"post\" action=\"" + escape(action) + "/reject\" class=\"stack\">" + csrfField(c.csrf) +
             "<div><label for=\"reason-" + n + "\">Reason for rejection</label><input type=\"text\" id=\"reason-" + n + "\" name=\"reason\" required></div>"
             "<div><button type=\"submit\" class=\"danger\">Reject</button></div></form></section>";
      }
    }
    p.bodyHtml = b;
    return page(c, p);
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
                 int64_t maxBody, http::Handler h) -> Result<void> {
    http::RouteSpec spec;
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
  ERDS_RETURN_IF_ERROR(add("POST", "/compose", "composePost", "Send a registered message", mp, 0, P(&Impl::composePost, true)));
  ERDS_RETURN_IF_ERROR(add("GET", "/inbox", "inbox", "Inbox", "", 0, G(&Impl::inbox)));
  ERDS_RETURN_IF_ERROR(add("GET", "/sent", "sent", "Sent messages with per-recipient status", "", 0, G(&Impl::sent)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}", "message", "Message page with the evidence timeline", "", 0, G(&Impl::message)));
  ERDS_RETURN_IF_ERROR(add("POST", "/messages/{id}/accept", "accept", "Accept (consent mode)", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F&) { return s->decide(r, c, true); }, false)));
  ERDS_RETURN_IF_ERROR(add("POST", "/messages/{id}/reject", "reject", "Reject (consent mode)", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F&) { return s->decide(r, c, false); }, false)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/content", "content", "Download the content (identity gate)", "", 0, G(&Impl::download)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/bundle", "bundle", "Evidence bundle (ZIP)", "", 0, G(&Impl::bundle)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/receipt", "receipt", "Printable receipt", "", 0, G(&Impl::receipt)));
  ERDS_RETURN_IF_ERROR(add("GET", "/messages/{id}/evidence/{eid}", "evidence", "One evidence (XML)", "", 0, G(&Impl::evidenceDownload)));
  ERDS_RETURN_IF_ERROR(add("GET", "/identity", "identity", "Identification methods, requests, status", "", 0, G(&Impl::identityPage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/identity/requests", "requestVerification", "Request identity verification", url, kSmallFormBytes,
                           P(&Impl::requestVerification)));
  ERDS_RETURN_IF_ERROR(add("GET", "/officer", "officer", "Officer queue", "", 0, G(&Impl::officer)));
  ERDS_RETURN_IF_ERROR(add("POST", "/officer/{id}/approve", "approve", "Approve a verification request", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F& f) { return s->officerDecide(r, c, f, true); }, false)));
  ERDS_RETURN_IF_ERROR(add("POST", "/officer/{id}/reject", "rejectRequest", "Reject a verification request", url, kSmallFormBytes,
                           s->post([s](const Request& r, Impl::Ctx& c, const F& f) { return s->officerDecide(r, c, f, false); }, false)));
  ERDS_RETURN_IF_ERROR(add("GET", "/verify", "verify", "Public evidence verification", "", 0, G(&Impl::verifyPage)));
  ERDS_RETURN_IF_ERROR(add("POST", "/verify", "verifyPost", "Verify an uploaded evidence", mp, 8 * 1024 * 1024, P(&Impl::verifyPost, true)));
  return ok();
}

}  // namespace erds::portal
