#include "erds/api/message_routes.h"

#include <Poco/Base64Decoder.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "api_json.h"
#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/http/problem.h"
#include "multipart.h"
#include "zip_writer.h"

namespace erds::api {

using internal::JsonWriter;

namespace {

constexpr std::string_view kNotFound = "message not found";
constexpr std::string_view kGateProblemType = "urn:erds:problem:identity-gate";
const std::vector<std::string> kSecurity = {"bearerAuth", "cookieAuth"};

std::string lowerAscii(std::string_view s) {
  std::string o(s);
  std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return o;
}

// A problem+json response with optional extension members (already JSON-encoded values).
http::Response problem(int status, std::string_view type, std::string_view title, std::string_view detail,
                       const http::Request& req, const std::vector<std::pair<std::string, std::string>>& ext = {}) {
  std::string body = http::renderProblem(http::ProblemType{status, type, title}, detail, req.path, req.requestId);
  if (!ext.empty() && !body.empty() && body.back() == '}') {
    body.pop_back();
    for (const auto& [k, v] : ext) body += ",\"" + log::jsonEscape(k) + "\":" + v;
    body += '}';
  }
  http::Response r;
  r.status = status;
  r.contentType = std::string(http::kProblemContentType);
  r.body = std::move(body);
  return r;
}

std::string quoted(std::string_view s) { return "\"" + log::jsonEscape(s) + "\""; }

// RFC 8187 ext-value for Content-Disposition filename*.
std::string contentDisposition(std::string_view filename) {
  std::string ascii;
  std::string pct;
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : filename) {
    if (std::isalnum(c) || std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      pct += static_cast<char>(c);
      ascii += static_cast<char>(c);
    } else {
      pct += '%';
      pct += kHex[c >> 4];
      pct += kHex[c & 15];
      ascii += '_';
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + pct;
}

bool validEvidenceId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

Result<std::string> checkedIdempotencyKey(const http::Request& req) {
  const std::string* k = req.header("Idempotency-Key");
  if (k == nullptr) return std::string();
  if (k->empty() || k->size() > 255) return Error::invalidInput("Idempotency-Key must be 1..255 characters");
  for (unsigned char c : *k)
    if (c < 0x21 || c > 0x7e) return Error::invalidInput("Idempotency-Key must be printable ASCII without spaces");
  return *k;
}

// One recipient as given by the sender, checked and lower-cased.
Result<std::string> checkedRecipient(std::string_view r) {
  std::string s = lowerAscii(r);
  if (s.rfind("mailto:", 0) != 0) return Error::invalidInput("recipients must be mailto: URIs");
  const std::string addr = s.substr(7);
  const std::size_t at = addr.find('@');
  if (addr.size() > 254 || at == std::string::npos || at == 0 || at + 1 >= addr.size() ||
      addr.find('@', at + 1) != std::string::npos)
    return Error::invalidInput("malformed recipient address");
  for (unsigned char c : addr) {
    if (c <= 0x20 || c >= 0x7f || std::string_view("<>()[]\\,;:\"").find(static_cast<char>(c)) != std::string_view::npos)
      return Error::invalidInput("malformed recipient address");
  }
  return s;
}

struct Upload {
  std::string filename;
  std::string mediaType;
  std::string owned;       // JSON form: decoded base64
  std::string_view data;   // multipart: into the request body; JSON: into `owned`
};

// The parsed submission before any storage.
struct Draft {
  std::string subject;
  std::vector<std::string> recipients;
  core::ConsignmentMode mode = core::ConsignmentMode::Basic;
  std::string requiredLoa = "substantial";
  std::optional<int64_t> expiresIn;
  std::optional<TimePoint> expiry;
  std::optional<TimePoint> scheduledAt;
  std::vector<Upload> uploads;
  std::string canonical;  // input of the request hash
};

std::optional<std::string> jsonString(const Poco::JSON::Object::Ptr& o, const std::string& k, bool& bad) {
  if (!o->has(k) || o->isNull(k)) return std::nullopt;
  Poco::Dynamic::Var v = o->get(k);
  if (!v.isString()) {
    bad = true;
    return std::nullopt;
  }
  return v.extract<std::string>();
}

// Parses the metadata object (both forms). Errors are InvalidInput (no evidence can be issued yet:
// the recipients are not known).
Result<void> parseMetadata(const std::string& json, Draft& d, bool inlineForm, const MessageRoutesOptions& opt) {
  Poco::JSON::Object::Ptr o;
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(json);
    o = v.extract<Poco::JSON::Object::Ptr>();
  } catch (const std::exception&) {
    return Error::invalidInput("metadata is not a JSON object");
  } catch (...) {
    return Error::invalidInput("metadata is not a JSON object");
  }
  if (!o) return Error::invalidInput("metadata is not a JSON object");
  static const std::set<std::string> kKnown = {"subject", "recipients", "consignment_mode", "required_recipient_level",
                                               "expires_in", "expiry", "scheduled_at", "content"};
  for (const auto& [k, v] : *o) {
    (void)v;
    if (!kKnown.count(k)) return Error::invalidInput("unknown metadata member '" + k + "'");
  }
  bool bad = false;
  if (auto s = jsonString(o, "subject", bad)) d.subject = *s;
  if (bad) return Error::invalidInput("subject must be a string");
  if (d.subject.size() > opt.maxSubjectBytes) return Error::invalidInput("subject too long");
  for (unsigned char c : d.subject)
    if (c < 0x20 || c == 0x7f) return Error::invalidInput("subject contains a control character");
  if (!o->has("recipients") || !o->isArray("recipients")) return Error::invalidInput("recipients must be an array");
  auto arr = o->getArray("recipients");
  if (arr->size() == 0) return Error::invalidInput("at least one recipient is required");
  if (static_cast<int>(arr->size()) > opt.maxRecipients) return Error::invalidInput("too many recipients");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    Poco::Dynamic::Var v = arr->get(static_cast<unsigned>(i));
    if (!v.isString()) return Error::invalidInput("recipients must be strings");
    auto r = checkedRecipient(v.extract<std::string>());
    if (!r) return std::move(r).error();
    if (!seen.insert(*r).second) return Error::invalidInput("a recipient is listed twice");
    d.recipients.push_back(*r);
  }
  if (auto m = jsonString(o, "consignment_mode", bad)) {
    auto mode = core::consignmentModeFromName(*m);
    if (!mode) return Error::invalidInput("consignment_mode must be basic or consent");
    d.mode = *mode;
  }
  if (bad) return Error::invalidInput("consignment_mode must be a string");
  if (auto l = jsonString(o, "required_recipient_level", bad)) {
    if (*l != "low" && *l != "substantial" && *l != "high")
      return Error::invalidInput("required_recipient_level must be low, substantial or high");
    d.requiredLoa = *l;
  }
  if (bad) return Error::invalidInput("required_recipient_level must be a string");
  if (o->has("expires_in") && !o->isNull("expires_in")) {
    Poco::Dynamic::Var v = o->get("expires_in");
    if (!v.isInteger()) return Error::invalidInput("expires_in must be an integer number of seconds");
    d.expiresIn = v.convert<int64_t>();
  }
  if (auto e = jsonString(o, "expiry", bad)) {
    d.expiry = internal::parseRfc3339(*e);
    if (!d.expiry) return Error::invalidInput("expiry must be an RFC 3339 date-time");
  }
  if (bad) return Error::invalidInput("expiry must be a string");
  if (d.expiresIn && d.expiry) return Error::invalidInput("give expires_in or expiry, not both");
  if (auto s = jsonString(o, "scheduled_at", bad)) {
    d.scheduledAt = internal::parseRfc3339(*s);
    if (!d.scheduledAt) return Error::invalidInput("scheduled_at must be an RFC 3339 date-time");
  }
  if (bad) return Error::invalidInput("scheduled_at must be a string");
  if (inlineForm) {
    if (!o->has("content") || !o->isObject("content")) return Error::invalidInput("content must be an object");
    auto c = o->getObject("content");
    Upload u;
    auto fn = jsonString(c, "filename", bad);
    auto mt = jsonString(c, "media_type", bad);
    auto data = jsonString(c, "data_base64", bad);
    if (bad || !fn || !data) return Error::invalidInput("content needs filename and data_base64 strings");
    u.filename = *fn;
    u.mediaType = mt ? *mt : "application/octet-stream";
    try {
      std::istringstream in(*data);
      Poco::Base64Decoder dec(in);
      std::ostringstream out;
      out << dec.rdbuf();
      u.owned = out.str();
    } catch (...) {
      return Error::invalidInput("content.data_base64 is not base64");
    }
    d.uploads.push_back(std::move(u));
  } else if (o->has("content")) {
    return Error::invalidInput("content goes in file parts of the multipart body");
  }
  return ok();
}

Result<std::string> contentTypeOf(const http::Request& req) {
  const std::string* ct = req.header("Content-Type");
  if (ct == nullptr) return Error::invalidInput("Content-Type is required");
  return *ct;
}

}  // namespace

struct MessageRoutes::Impl {
  MessageRoutesDeps d;
  MessageRoutesOptions opt;

  struct Access {
    core::MessageInfo msg;
    std::vector<core::DeliveryInfo> deliveries;
    bool sender = false;
    std::vector<int> own;  // recipient indexes bound to the caller
  };

  Result<Caller> caller(const http::Request& req) const { return d.authenticator->authenticate(req); }

  // What the evidence records (I10) of how the caller authenticated for the step it takes.
  core::SenderAuthentication authenticationOf(const Caller& c) const {
    return core::SenderAuthentication{c.authentication.methodUri(), c.authentication.levelUri(),
                                      c.authentication.at == TimePoint{} ? d.clock->now() : c.authentication.at};
  }

  Result<Access> access(const Caller& c, const std::string& id) const {
    if (!core::ContentVault::isValidId(id)) return Error::notFound(std::string(kNotFound));
    auto msg = d.store->message(id);
    if (!msg) {
      if (msg.error().is(ErrorCode::NotFound)) return Error::notFound(std::string(kNotFound));
      return std::move(msg).error();
    }
    Access a;
    a.msg = std::move(*msg);
    a.sender = a.msg.senderPartyId == c.partyId;
    if (a.msg.status == "accepted") {
      auto ds = d.store->deliveries(id);
      if (!ds) return std::move(ds).error();
      a.deliveries = std::move(*ds);
    }
    for (const auto& del : a.deliveries)
      if (!del.recipientPartyId.empty() && del.recipientPartyId == c.partyId) a.own.push_back(del.recipientIndex);
    if (!a.sender && a.own.empty()) return Error::notFound(std::string(kNotFound));
    return a;
  }

  bool evidenceVisible(const Access& a, const std::optional<int>& recipientIndex) const {
    if (a.sender || !recipientIndex) return true;
    return std::find(a.own.begin(), a.own.end(), *recipientIndex) != a.own.end();
  }

  // The gate's 403, with what to do next.
  http::Response gateRefusal(const identity::GateDecision& g, const http::Request& req,
                             const std::string& evidenceId = {}) const {
    std::vector<std::pair<std::string, std::string>> ext = {
        {"code", quoted(g.code)}, {"required_level", quoted(identity::levelName(g.requiredLevel))}};
    if (!evidenceId.empty()) ext.emplace_back("evidence_id", quoted(evidenceId));
    return problem(403, kGateProblemType, "Identity requirements not met", g.advice, req, ext);
  }

  Result<identity::GateDecision> decide(const Caller& c, identity::GateAction action,
                                        identity::LevelOfAssurance required) const {
    auto ids = d.directory->identificationsOf(c.partyId);
    if (!ids) return std::move(ids).error();
    identity::GateRequest g;
    g.action = action;
    g.messageRequiredLevel = required;
    g.identifications = std::move(*ids);
    g.authentication = c.authentication;
    return d.gate->decide(g, d.clock->now());
  }

  // ---- submission ----

  // Reads the JSON form's body (bounded by maxInlineBodyBytes).
  Result<std::string> readInlineBody(const http::Request& req, bool& tooLarge) const {
    std::string body;
    char buf[64 * 1024];
    for (;;) {
      auto n = req.bodyReader->read(buf, sizeof buf);
      if (!n) return std::move(n).error();
      if (*n == 0) return body;
      body.append(buf, *n);
      if (static_cast<int64_t>(body.size()) > opt.maxInlineBodyBytes) {
        tooLarge = true;
        return body;
      }
    }
  }

  // The multipart form, streamed: the metadata part must come first. File parts are kept in memory
  // while their sum stays within singleTransactionMaxBytes (stored with the message in one
  // transaction afterwards); past that, they spill into ContentVault uploads (committed 1 MiB
  // chunks) and the rest of the body streams there, never whole in memory.
  struct StreamedForm final : internal::MultipartStream::Sink {
    const Impl& s;
    const std::string& messageId;
    Draft& draft;
    std::string& rejection;
    std::string& reason;
    int& rejectStatus;
    std::vector<std::string>& partIds;
    bool metadataSeen = false;
    bool inMetadata = false;
    bool stop = false;           // a rejection was decided: the rest of the body is not needed
    std::string metadata;
    std::optional<core::ContentUpload> upload;
    int files = 0;
    int64_t total = 0;
    bool streaming = false;      // file parts go to vault uploads (draft.uploads stays empty)

    StreamedForm(const Impl& impl, const std::string& id, Draft& dr, std::string& rej, std::string& rea, int& st,
                 std::vector<std::string>& ids)
        : s(impl), messageId(id), draft(dr), rejection(rej), reason(rea), rejectStatus(st), partIds(ids),
          streaming(impl.opt.singleTransactionMaxBytes <= 0) {}

    // Moves the parts held in memory into vault uploads: the finished ones completely, the current
    // one (the last) stays open for the bytes still to come.
    Result<void> spill() {
      streaming = true;
      std::vector<Upload> held = std::move(draft.uploads);
      draft.uploads.clear();
      for (std::size_t i = 0; i < held.size(); ++i) {
        auto up = s.d.vault->beginUpload(messageId, held[i].filename, held[i].mediaType);
        if (!up) return std::move(up).error();
        ERDS_RETURN_IF_ERROR(up->append(held[i].owned));
        if (i + 1 == held.size()) {
          upload.emplace(std::move(*up));
          break;
        }
        auto fin = up->finish();
        if (!fin) return std::move(fin).error();
        partIds.push_back(fin->partId);
      }
      return ok();
    }

    Result<void> reject(std::string why, std::string code = "RA02", int status = 400) {
      rejection = std::move(why);
      reason = std::move(code);
      rejectStatus = status;
      upload.reset();  // the chunks written so far stay unlinked until garbage collection
      stop = true;
      return Error::conflict("stop");
    }

    Result<void> onPartBegin(const internal::FormPart& p) override {
      if (!metadataSeen) {
        if (p.name != "metadata" || p.filename) return Error::invalidInput("the first part must be the metadata part");
        if (!p.contentType.empty() &&
            lowerAscii(p.contentType.substr(0, p.contentType.find(';'))) != "application/json")
          return Error::invalidInput("the metadata part must be application/json");
        metadataSeen = true;
        inMetadata = true;
        return ok();
      }
      if (p.name == "metadata" && !p.filename) return Error::invalidInput("more than one metadata part");
      if (!p.filename) return reject("part '" + p.name + "' is neither the metadata nor a file");
      if (++files > s.opt.maxParts) return reject("more than " + std::to_string(s.opt.maxParts) + " attachments");
      if (auto f = internal::checkFilename(*p.filename, s.opt.maxFilenameBytes); !f) return reject(f.error().message);
      auto mt = internal::checkMediaType(p.contentType.empty() ? "application/octet-stream" : p.contentType);
      if (!mt) return reject(mt.error().message);
      if (!streaming) {
        Upload u;
        u.filename = *p.filename;
        u.mediaType = *mt;
        draft.uploads.push_back(std::move(u));
        return ok();
      }
      auto up = s.d.vault->beginUpload(messageId, *p.filename, *mt);
      if (!up) return std::move(up).error();
      upload.emplace(std::move(*up));
      return ok();
    }
    Result<void> onData(std::string_view bytes) override {
      if (inMetadata) {
        metadata.append(bytes);
        if (metadata.size() > 1024 * 1024) return Error::invalidInput("metadata part larger than 1 MiB");
        return ok();
      }
      total += static_cast<int64_t>(bytes.size());
      if (total > s.opt.maxContentBytes)
        return reject("content larger than " + std::to_string(s.opt.maxContentBytes) + " bytes", "RA05", 413);
      if (upload) return upload->append(bytes);
      draft.uploads.back().owned.append(bytes);
      if (total > s.opt.singleTransactionMaxBytes) return spill();
      return ok();
    }
    Result<void> onPartEnd() override {
      if (inMetadata) {
        inMetadata = false;
        ERDS_RETURN_IF_ERROR(parseMetadata(metadata, draft, false, s.opt));
        draft.canonical = "multipart\n" + metadata;
        return ok();
      }
      if (!upload) {
        const Upload& u = draft.uploads.back();
        draft.canonical += "\npart\n" + u.filename + "\n" + u.mediaType + "\n" + crypto::sha256(u.owned);
        return ok();
      }
      auto fin = upload->finish();
      upload.reset();
      if (!fin) return std::move(fin).error();
      partIds.push_back(fin->partId);
      draft.canonical += "\npart\n" + fin->filename + "\n" + fin->mediaType + "\n" + fin->sha256;
      return ok();
    }
  };

  // Larger content (or the JSON form above singleTransactionMaxBytes): the parts still in memory
  // become staged uploads first, then the submission transaction links them.
  Result<core::SubmissionResult> streamedSubmit(core::SubmissionRequest& sr, const Draft& draft) const {
    for (const auto& u : draft.uploads) {
      auto up = d.vault->beginUpload(sr.messageId, u.filename, u.mediaType);
      if (!up) return std::move(up).error();
      for (std::size_t off = 0; off < u.data.size(); off += core::kMaxChunkBytes) {
        ERDS_RETURN_IF_ERROR(up->append(u.data.substr(off, core::kMaxChunkBytes)));
      }
      auto fin = up->finish();
      if (!fin) return std::move(fin).error();
      sr.partIds.push_back(fin->partId);
    }
    return d.store->submit(sr);
  }

  Result<http::Response> submit(const http::Request& req) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();  // 401, no evidence (the body stays unread)
    auto key = checkedIdempotencyKey(req);
    if (!key) return std::move(key).error();
    if (req.bodyReader == nullptr) return Error::invalidInput("a request body is required");

    Draft draft;
    std::string rejection;   // InvalidInput detail once recipients are known -> SubmissionRejection
    std::string reason = "RA02";
    int rejectStatus = 400;
    const std::string messageId = core::ContentVault::newMessageId();
    std::vector<std::string> partIds;  // multipart: staged while the body streams in
    const bool inlineForm = req.mediaType == "application/json";
    if (inlineForm) {
      bool tooLarge = false;
      auto body = readInlineBody(req, tooLarge);
      if (!body) return std::move(body).error();
      if (tooLarge)
        return problem(413, "urn:erds:problem:payload-too-large", "Payload too large",
                       "the JSON form is limited to " + std::to_string(opt.maxInlineBodyBytes) +
                           " bytes; send large content as multipart/form-data",
                       req);
      ERDS_RETURN_IF_ERROR(parseMetadata(*body, draft, true, opt));
      draft.canonical = "json\n" + *body;
      int64_t total = 0;
      for (auto& u : draft.uploads) {
        u.data = u.owned;
        total += static_cast<int64_t>(u.data.size());
        if (!rejection.empty()) break;
        if (auto f = internal::checkFilename(u.filename, opt.maxFilenameBytes); !f) {
          rejection = f.error().message;
          break;
        }
        auto mt = internal::checkMediaType(u.mediaType);
        if (!mt) {
          rejection = mt.error().message;
          break;
        }
        u.mediaType = *mt;
      }
      if (rejection.empty() && total > opt.maxContentBytes) {
        rejection = "content larger than " + std::to_string(opt.maxContentBytes) + " bytes";
        reason = "RA05";
        rejectStatus = 413;
      }
      for (const auto& u : draft.uploads)
        draft.canonical += "\npart\n" + u.filename + "\n" + u.mediaType + "\n" + crypto::sha256(u.data);
    } else {
      auto ct = contentTypeOf(req);
      if (!ct) return std::move(ct).error();
      auto boundary = internal::multipartBoundary(*ct);
      if (!boundary) return std::move(boundary).error();
      internal::MultipartLimits limits;
      limits.maxParts = static_cast<std::size_t>(opt.maxParts) + 2;
      internal::MultipartStream stream(*boundary, limits);
      StreamedForm form(*this, messageId, draft, rejection, reason, rejectStatus, partIds);
      std::string buf(64 * 1024, '\0');
      for (;;) {
        auto n = req.bodyReader->read(buf.data(), buf.size());
        if (!n) {
          // Over the http body limit once the recipients are known: a policy refusal with evidence.
          if (req.bodyReader->limitExceeded() && !draft.recipients.empty()) {
            rejection = "content larger than " + std::to_string(req.bodyReader->limit()) + " bytes";
            reason = "RA05";
            rejectStatus = 413;
            break;
          }
          return std::move(n).error();
        }
        if (*n == 0) {
          ERDS_RETURN_IF_ERROR(stream.finish());
          break;
        }
        auto fed = stream.feed(std::string_view(buf.data(), *n), form);
        if (form.stop) break;
        if (!fed) {
          if (fed.error().message == "too many multipart parts")
            return Error::invalidInput("more than " + std::to_string(opt.maxParts) + " attachments");
          return std::move(fed).error();
        }
      }
      if (!form.metadataSeen || draft.recipients.empty()) return Error::invalidInput("the metadata part is missing");
      if (rejection.empty() && partIds.empty() && draft.uploads.empty())
        rejection = "a message needs at least one attachment";
      for (auto& u : draft.uploads) u.data = u.owned;  // the vector no longer moves
    }
    if (rejection.empty() && inlineForm && draft.uploads.empty()) rejection = "a message needs at least one attachment";

    const TimePoint now = d.clock->now();
    TimePoint expiresAt = now + std::chrono::duration_cast<std::chrono::microseconds>(opt.defaultExpiry);
    if (draft.expiresIn) expiresAt = now + std::chrono::seconds(*draft.expiresIn);
    if (draft.expiry) expiresAt = *draft.expiry;
    if (rejection.empty()) {
      if (expiresAt <= now) {
        rejection = "expiry must be in the future";
      } else if (expiresAt - now > opt.maxExpiry) {
        rejection = "expiry too far in the future";
      } else if (draft.scheduledAt && *draft.scheduledAt >= expiresAt) {
        rejection = "scheduled_at must be before the expiry";
      }
    }

    auto senderId = d.directory->senderIdentifierOf(c->partyId);
    if (!senderId) {
      if (senderId.error().is(ErrorCode::NotFound)) return Error::unauthorized("authentication required");
      return std::move(senderId).error();
    }

    core::SubmissionRequest sr;
    sr.messageId = messageId;
    sr.senderPartyId = c->partyId;
    sr.senderIdentifier = *senderId;
    sr.subject = draft.subject;
    sr.mode = draft.mode;
    sr.requiredLoa = draft.requiredLoa;
    sr.expiresAt = expiresAt;
    sr.scheduledAt = draft.scheduledAt;
    sr.idempotencyKey = *key;
    if (!key->empty()) sr.requestHash = crypto::sha256(draft.canonical);
    sr.actor = "party:" + c->partyId;
    // I10/I11: how the sender authenticated for this submission (its session's methods and level).
    sr.senderAuthentication = authenticationOf(*c);
    for (const auto& r : draft.recipients) {
      core::RecipientSpec spec;
      spec.identifier = r;
      auto bound = d.directory->partyBoundTo(r);
      if (!bound) return std::move(bound).error();
      if (*bound) {
        spec.partyId = **bound;
      } else {
        const std::string domain = r.substr(r.find('@') + 1);
        if (std::find(opt.localDomains.begin(), opt.localDomains.end(), domain) != opt.localDomains.end()) {
          spec.pendingAddress = r;
        } else if (rejection.empty()) {
          rejection = "recipient " + r + " is outside the domains this service delivers to";
          reason = "RA05";
        }
      }
      sr.recipients.push_back(std::move(spec));
    }

    // The identity gate (policy): refused senders get SubmissionRejection evidence and a 403.
    std::optional<identity::GateDecision> refused;
    if (rejection.empty()) {
      auto g = decide(*c, identity::GateAction::Submit, identity::LevelOfAssurance::None);
      if (!g) return std::move(g).error();
      if (!g->allowed) {
        refused = *g;
        rejection = "identity gate: " + g->code;
        reason = "RA05";
      }
    }

    if (!rejection.empty()) {
      auto res = d.store->reject(sr, reason);
      if (!res) return std::move(res).error();
      log::info("message.rejected", {{"message_id", res->messageId}, {"reason", reason}, {"detail", rejection}});
      if (refused) return gateRefusal(*refused, req, res->evidenceId);
      return problem(rejectStatus, rejectStatus == 413 ? "urn:erds:problem:payload-too-large" : "urn:erds:problem:submission-rejected",
                     rejectStatus == 413 ? "Payload too large" : "Submission rejected", rejection, req,
                     {{"message_id", quoted(res->messageId)}, {"evidence_id", quoted(res->evidenceId)},
                      {"reason", quoted(reason)}});
    }

    sr.partIds = partIds;
    int64_t held = 0;
    for (const auto& u : draft.uploads) held += static_cast<int64_t>(u.data.size());
    Result<core::SubmissionResult> res = Error::internal("not stored");
    if (partIds.empty() && opt.singleTransactionMaxBytes > 0 && held <= opt.singleTransactionMaxBytes) {
      // Small message, body complete: content, message, evidence and jobs in one transaction.
      std::vector<core::PlainPart> plain;
      plain.reserve(draft.uploads.size());
      for (const auto& u : draft.uploads) plain.push_back(core::PlainPart{u.filename, u.mediaType, u.data});
      auto sealed = d.vault->sealInMemory(sr.messageId, plain);
      if (!sealed) return std::move(sealed).error();
      res = d.store->submitWithContent(sr, *sealed);
    } else {
      res = streamedSubmit(sr, draft);
    }
    if (!res) return std::move(res).error();
    log::info("message.submitted", {{"message_id", res->messageId},
                                    {"recipients", static_cast<int64_t>(sr.recipients.size())},
                                    {"replayed", res->replayed}});
    JsonWriter w;
    w.beginObject()
        .field("message_id", res->messageId)
        .field("evidence_id", res->evidenceId)
        .field("status", res->accepted ? "accepted" : "rejected")
        .field("replayed", res->replayed)
        .endObject();
    http::Response out = http::Response::json(201, w.str());
    out.headers.emplace_back("Location", "/api/v1/messages/" + res->messageId);
    if (res->replayed) out.headers.emplace_back("Idempotent-Replayed", "true");
    return out;
  }

  // ---- reads ----

  Result<http::Response> list(const http::Request& req) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();
    const std::string box = req.queryParam("box").value_or("inbox");
    if (box != "inbox" && box != "sent") return Error::invalidInput("box must be inbox or sent");
    int64_t page = 1, pageSize = 20;
    try {
      if (auto p = req.queryParam("page")) page = std::stoll(*p);
      if (auto p = req.queryParam("page_size")) pageSize = std::stoll(*p);
    } catch (...) {
      return Error::invalidInput("page and page_size must be integers");
    }
    if (page < 1 || page > 100000 || pageSize < 1 || pageSize > 100)
      return Error::invalidInput("page must be >= 1 and page_size 1..100");
    std::string state = req.queryParam("state").value_or("");
    if (!state.empty() && !core::deliveryStateFromName(state))
      return Error::invalidInput("unknown state '" + state + "'");
    auto lease = d.pool->acquire();
    if (!lease) return std::move(lease).error();
    std::vector<pg::Param> params = {pg::Param::text(c->partyId), pg::Param::integer(pageSize + 1),
                                     pg::Param::integer((page - 1) * pageSize)};
    if (!state.empty()) params.push_back(pg::Param::text(state));
    std::string sql;
    if (box == "sent") {
      sql = "SELECT m.id::text, m.subject, m.status, m.consignment_mode, "
            "to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
            "to_char(m.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
            "(SELECT count(*) FROM deliveries d WHERE d.message_id = m.id) "
            "FROM messages m WHERE m.sender_party_id = $1" +
            std::string(state.empty() ? "" : " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.state = $4)") +
            " ORDER BY m.created_at DESC, m.id LIMIT $2 OFFSET $3";
    } else {
      sql = "SELECT m.id::text, m.subject, m.sender_identifier, m.consignment_mode, "
            "to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
            "to_char(m.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
            "d.recipient_index, d.state "
            "FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.recipient_party_id = $1" +
            std::string(state.empty() ? "" : " AND d.state = $4") +
            " ORDER BY m.created_at DESC, m.id, d.recipient_index LIMIT $2 OFFSET $3";
    }
    auto q = (*lease)->execParams(sql, params);
    if (!q) return std::move(q).error();
    JsonWriter w;
    w.beginObject().field("box", box).field("page", page).field("page_size", pageSize);
    w.key("items").beginArray();
    const int n = std::min<int>(q->rows(), static_cast<int>(pageSize));
    for (int i = 0; i < n; ++i) {
      w.beginObject().field("message_id", q->get(i, 0)).field("subject", q->get(i, 1));
      if (box == "sent") {
        w.field("status", q->get(i, 2)).field("consignment_mode", q->get(i, 3));
        w.field("created_at", q->get(i, 4)).field("expires_at", q->get(i, 5));
        w.field("recipient_count", q->getInt(i, 6));
      } else {
        w.field("sender", q->get(i, 2)).field("consignment_mode", q->get(i, 3));
        w.field("created_at", q->get(i, 4)).field("expires_at", q->get(i, 5));
        w.field("recipient_index", q->getInt(i, 6)).field("state", q->get(i, 7));
      }
      w.endObject();
    }
    w.endArray().field("has_more", q->rows() > static_cast<int>(pageSize)).endObject();
    return http::Response::json(200, w.str());
  }

  Result<http::Response> status(const http::Request& req) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();
    auto a = access(*c, req.param("id"));
    if (!a) return std::move(a).error();
    const auto& m = a->msg;
    JsonWriter w;
    w.beginObject()
        .field("message_id", m.id)
        .field("status", m.status)
        .field("subject", m.subject)
        .field("sender", m.senderIdentifier)
        .field("consignment_mode", core::consignmentModeName(m.mode))
        .field("required_recipient_level", m.requiredLoa)
        .key("created_at").time(m.createdAt)
        .key("expires_at").time(m.expiresAt);
    if (m.scheduledAt) w.key("scheduled_at").time(*m.scheduledAt);
    w.field("part_count", m.partCount).field("content_size", m.contentSize);
    w.field("content_digest_sha256", crypto::toHex(m.contentDigest));
    w.field("role", a->sender ? "sender" : "recipient");
    w.key("recipients").beginArray();
    for (const auto& del : a->deliveries) {
      if (!a->sender && std::find(a->own.begin(), a->own.end(), del.recipientIndex) == a->own.end()) continue;
      w.beginObject()
          .field("index", del.recipientIndex)
          .field("identifier", del.recipientIdentifier)
          .field("state", core::deliveryStateName(del.state))
          .field("last_event", core::eventName(del.lastEvent))
          .key("state_changed_at").time(del.stateChangedAt)
          .endObject();
    }
    w.endArray();
    auto parts = d.vault->partsOf(m.id);
    if (!parts) return std::move(parts).error();
    w.key("parts").beginArray();
    for (std::size_t i = 0; i < parts->size(); ++i) {
      const auto& p = (*parts)[i];
      w.beginObject()
          .field("index", static_cast<int64_t>(i))
          .field("name", p.filename)
          .field("content_type", p.mediaType)
          .field("size", p.size)
          .field("sha256", crypto::toHex(p.sha256))
          .endObject();
    }
    w.endArray();
    auto ev = d.store->evidenceOf(m.id);
    if (!ev) return std::move(ev).error();
    w.key("evidence").beginArray();
    for (const auto& e : *ev) {
      if (!evidenceVisible(*a, e.recipientIndex)) continue;
      w.beginObject().field("evidence_id", e.id).field("event", core::eventName(e.event)).field("reason", e.reason);
      if (e.recipientIndex) w.field("recipient_index", *e.recipientIndex);
      w.field("sequence", e.sequence).key("created_at").time(e.createdAt);
      w.field("href", "/api/v1/evidence/" + e.id).endObject();
    }
    w.endArray().endObject();
    return http::Response::json(200, w.str());
  }

  // ---- consent ----

  Result<http::Response> decideConsent(const http::Request& req, bool accept) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();
    auto a = access(*c, req.param("id"));
    if (!a) return std::move(a).error();
    if (a->own.empty()) return Error::notFound(std::string(kNotFound));  // the sender cannot accept
    if (a->msg.mode != core::ConsignmentMode::Consent)
      return Error::conflict("the message is not in consent mode");
    JsonWriter w;
    w.beginObject().field("message_id", a->msg.id).key("recipients").beginArray();
    for (int idx : a->own) {
      core::TransitionRequest t;
      t.messageId = a->msg.id;
      t.recipientIndex = idx;
      t.event = accept ? core::Event::ConsignmentAcceptance : core::Event::ConsignmentRejection;
      t.actor = "party:" + c->partyId;
      t.partyAuthentication = authenticationOf(*c);
      auto r = d.store->transition(t);
      if (!r) {
        if (r.error().is(ErrorCode::Conflict))
          return Error::conflict("the message can no longer be " + std::string(accept ? "accepted" : "rejected"));
        return std::move(r).error();
      }
      w.beginObject()
          .field("index", idx)
          .field("state", core::deliveryStateName(r->state))
          .field("evidence_id", r->evidenceId)
          .field("already_done", r->alreadyDone)
          .endObject();
    }
    w.endArray().endObject();
    return http::Response::json(200, w.str());
  }

  // ---- content ----

  Result<http::Response> content(const http::Request& req, std::optional<int> onlyPart) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();
    auto a = access(*c, req.param("id"));
    if (!a) return std::move(a).error();
    if (a->own.empty()) return Error::notFound(std::string(kNotFound));
    const core::DeliveryInfo* del = nullptr;
    for (const auto& x : a->deliveries) {
      if (std::find(a->own.begin(), a->own.end(), x.recipientIndex) == a->own.end()) continue;
      if (x.state == core::DeliveryState::Consigned || x.state == core::DeliveryState::Notified ||
          x.state == core::DeliveryState::NotificationFailed || x.state == core::DeliveryState::HandedOver) {
        del = &x;
        break;
      }
    }
    if (del == nullptr) return Error::conflict("the content is not available to you (not consigned, or no longer)");
    if (onlyPart && (*onlyPart < 0 || *onlyPart >= a->msg.partCount)) return Error::notFound("no such part");

    auto required = identity::parseLevel(a->msg.requiredLoa);
    auto g = decide(*c, identity::GateAction::Handover, required ? *required : identity::LevelOfAssurance::High);
    if (!g) return std::move(g).error();
    if (!g->allowed) return gateRefusal(*g, req);

    // Every part is opened (metadata, key, first check) before the handover is committed; the
    // handover is committed before the first byte; then the chunks stream one by one, each
    // authenticated before it is written. An IntegrityFailure after the head was sent aborts the
    // connection (the client sees a truncated body, never a complete-looking one): a whole-part
    // pre-check would double the decryption work and is not done.
    auto downloads = std::make_shared<std::vector<core::ContentDownload>>();
    const int first = onlyPart.value_or(0);
    const int last = onlyPart ? *onlyPart + 1 : a->msg.partCount;
    for (int i = first; i < last; ++i) {
      auto dl = d.vault->openPart(a->msg.id, i);
      if (!dl) return std::move(dl).error();
      downloads->push_back(std::move(*dl));
    }
    if (downloads->empty()) return Error::notFound("no such part");
    if (del->state != core::DeliveryState::HandedOver) {
      core::TransitionRequest t;
      t.messageId = a->msg.id;
      t.recipientIndex = del->recipientIndex;
      t.event = core::Event::ContentHandover;
      t.actor = "party:" + c->partyId;
      t.partyAuthentication = authenticationOf(*c);
      auto r = d.store->transition(t);
      if (!r) return std::move(r).error();
    }
    http::Response out;
    out.status = 200;
    std::vector<std::string> heads;  // multipart/mixed: what precedes each part
    std::string tail;
    if (downloads->size() == 1) {
      const auto& p = downloads->front().part();
      out.contentType = p.mediaType;
      out.headers.emplace_back("Content-Disposition", contentDisposition(p.filename));
      out.contentLength = p.size;
    } else {
      const std::string boundary = "erds-" + crypto::toHex(crypto::randomBytes(16));
      out.contentType = "multipart/mixed; boundary=\"" + boundary + "\"";
      int64_t length = 0;
      for (const auto& dl : *downloads) {
        const auto& p = dl.part();
        heads.push_back((heads.empty() ? "" : "\r\n") + std::string("--") + boundary + "\r\nContent-Type: " +
                        p.mediaType + "\r\nContent-Disposition: " + contentDisposition(p.filename) + "\r\n\r\n");
        length += static_cast<int64_t>(heads.back().size()) + p.size;
      }
      tail = "\r\n--" + boundary + "--\r\n";
      out.contentLength = length + static_cast<int64_t>(tail.size());
    }
    out.headers.emplace_back("X-Content-SHA256", downloads->size() == 1 ? crypto::toHex(downloads->front().part().sha256)
                                                                        : crypto::toHex(a->msg.contentDigest));
    const std::string messageId = a->msg.id;
    out.producer = [downloads, heads = std::move(heads), tail = std::move(tail),
                    messageId](http::BodyWriter& w) -> Result<void> {
      for (std::size_t i = 0; i < downloads->size(); ++i) {
        if (!heads.empty()) ERDS_RETURN_IF_ERROR(w.write(heads[i]));
        auto& dl = (*downloads)[i];
        for (;;) {
          auto chunk = dl.next();
          if (!chunk) {
            log::error("content.download_aborted",
                       {{"message_id", messageId}, {"part", static_cast<int64_t>(i)}, {"error", chunk.error().toString()}});
            return std::move(chunk).error();
          }
          if (!*chunk) break;
          ERDS_RETURN_IF_ERROR(w.write(**chunk));
        }
      }
      if (!tail.empty()) ERDS_RETURN_IF_ERROR(w.write(tail));
      return ok();
    };
    return out;
  }

  // ---- evidence ----

  Result<http::Response> evidence(const http::Request& req) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();
    const std::string& id = req.param("id");
    if (!validEvidenceId(id)) return Error::notFound("evidence not found");
    auto e = d.store->evidence(id);
    if (!e) {
      if (e.error().is(ErrorCode::NotFound)) return Error::notFound("evidence not found");
      return std::move(e).error();
    }
    auto a = access(*c, e->messageId);
    if (!a || !evidenceVisible(*a, e->recipientIndex)) {
      if (!a && !a.error().is(ErrorCode::NotFound)) return std::move(a).error();
      return Error::notFound("evidence not found");
    }
    http::Response out = http::Response::text(200, e->xml, "application/xml");
    out.headers.emplace_back("Content-Disposition",
                             "attachment; filename=\"" + std::string(core::eventName(e->event)) + "-" + e->id + ".xml\"");
    return out;
  }

  Result<http::Response> bundle(const http::Request& req) const {
    auto c = caller(req);
    if (!c) return std::move(c).error();
    auto a = access(*c, req.param("id"));
    if (!a) return std::move(a).error();
    auto list = d.store->evidenceOf(a->msg.id);
    if (!list) return std::move(list).error();
    internal::ZipWriter zip(d.clock->now());
    int n = 0;
    std::string index;
    for (const auto& e : *list) {
      if (!evidenceVisible(*a, e.recipientIndex)) continue;
      auto full = d.store->evidence(e.id);
      if (!full) return std::move(full).error();
      ++n;
      const std::string name = (n < 10 ? "0" : "") + std::to_string(n) + "-" + std::string(core::eventName(e.event)) + "-" + e.id + ".xml";
      ERDS_RETURN_IF_ERROR(zip.add(name, full->xml));
      index += name + "  event=" + std::string(core::eventName(e.event)) + " reason=" + e.reason +
               (e.recipientIndex ? " recipient=" + std::to_string(*e.recipientIndex) : std::string(" (message)")) +
               " created=" + formatRfc3339(e.createdAt) + "\n";
    }
    ERDS_RETURN_IF_ERROR(zip.add("README.txt", readme(a->msg.id, index)));
    http::Response out;
    out.status = 200;
    out.contentType = "application/zip";
    out.headers.emplace_back("Content-Disposition", "attachment; filename=\"evidence-" + a->msg.id + ".zip\"");
    out.body = zip.finish();
    return out;
  }

  static std::string readme(const std::string& messageId, const std::string& index) {
    return "Evidence of message " + messageId +
           "\n"
           "==========================================================\n\n"
           "Each XML file is one ETSI EN 319 522-3 evidence, sealed with an enveloped XAdES-B-T\n"
           "signature (EN 319 132-1): the seal certificate is in ds:KeyInfo and a RFC 3161\n"
           "SignatureTimeStamp covers ds:SignatureValue. Files:\n\n" +
           index +
           "\n"
           "1. Verify the seal (signature and both references) with xmlsec1, trusting the\n"
           "   service's root CA (root-ca.pem, published by the service):\n\n"
           "     xmlsec1 --verify --trusted-pem root-ca.pem FILE.xml\n\n"
           "   Expected: \"OK\" and \"SignedInfo References (ok/all): 2/2\".\n\n"
           "2. Verify the time stamp with openssl ts. Extract the token (base64 text of\n"
           "   xades:SignatureTimeStamp/xades:EncapsulatedTimeStamp) and the canonical form of\n"
           "   ds:SignatureValue, which is what the token's imprint covers:\n\n"
           "     xmllint --xpath '//*[local-name()=\"EncapsulatedTimeStamp\"]/text()' FILE.xml \\\n"
           "       | base64 -d > token.der\n"
           "     xmllint --xpath '//*[local-name()=\"SignatureValue\"]' FILE.xml > sigvalue.xml\n"
           "     xmllint --exc-c14n sigvalue.xml > sigvalue.c14n   # the namespace declaration stays\n"
           "     openssl ts -verify -data sigvalue.c14n -in token.der -token_in \\\n"
           "       -CAfile root-ca.pem -untrusted tsu.pem\n\n"
           "   Expected: \"Verification: OK\". tsu.pem is the time-stamping unit's certificate\n"
           "   (also inside the token).\n\n"
           "3. Check that the evidence is about this message: tns:SenderMessageDetails/\n"
           "   MessageIdentifier equals " +
           messageId +
           ", and the PartInfo digest equals the\n"
           "   content digest shown by GET /api/v1/messages/" +
           messageId + ".\n";
  }
};

MessageRoutes::MessageRoutes(MessageRoutesDeps deps, MessageRoutesOptions options)
    : impl_(std::make_unique<Impl>(Impl{deps, std::move(options)})) {
  ERDS_CHECK(deps.store && deps.vault && deps.pool && deps.authenticator && deps.directory && deps.gate &&
                 deps.clock && deps.audit,
             "MessageRoutes needs all its dependencies");
  for (auto& dom : impl_->opt.localDomains) dom = lowerAscii(dom);
}

MessageRoutes::~MessageRoutes() = default;

Result<void> MessageRoutes::registerRoutes(http::Router& router) {
  for (auto [name, json] : {std::pair<const char*, const char*>{"bearerAuth", R"({"type":"http","scheme":"bearer"})"},
                            {"cookieAuth", R"({"type":"apiKey","in":"cookie","name":"erds_session"})"}}) {
    auto r = router.addSecurityScheme(name, json);
    if (!r && !r.error().is(ErrorCode::Conflict)) return r;  // the identity service may have added it
  }
  const std::pair<const char*, const char*> schemas[] = {
      {"SubmissionMetadata",
       R"({"type":"object","required":["recipients"],"properties":{"subject":{"type":"string"},"recipients":{"type":"array","minItems":1,"items":{"type":"string","examples":["mailto:bob@example.test"]}},"consignment_mode":{"type":"string","enum":["basic","consent"],"default":"basic"},"required_recipient_level":{"type":"string","enum":["low","substantial","high"],"default":"substantial"},"expires_in":{"type":"integer","description":"seconds; default 15 days"},"expiry":{"type":"string","format":"date-time"},"scheduled_at":{"type":"string","format":"date-time"}}})"},
      {"SubmissionForm",
       R"({"type":"object","required":["metadata"],"description":"multipart/form-data: the metadata part: application/json, SubmissionMetadata, FIRST, then 1..n file parts: any field name, each with a filename","properties":{"metadata":{"$ref":"#/components/schemas/SubmissionMetadata"},"file":{"type":"array","items":{"type":"string","contentMediaType":"application/octet-stream"}}}})"},
      {"InlineSubmission",
       R"({"allOf":[{"$ref":"#/components/schemas/SubmissionMetadata"},{"type":"object","required":["content"],"properties":{"content":{"type":"object","required":["filename","data_base64"],"properties":{"filename":{"type":"string"},"media_type":{"type":"string"},"data_base64":{"type":"string","contentEncoding":"base64"}}}}}]})"},
      {"SubmissionResult",
       R"({"type":"object","properties":{"message_id":{"type":"string","format":"uuid"},"evidence_id":{"type":"string"},"status":{"type":"string"},"replayed":{"type":"boolean"}}})"},
      {"MessageList",
       R"({"type":"object","properties":{"box":{"type":"string"},"page":{"type":"integer"},"page_size":{"type":"integer"},"has_more":{"type":"boolean"},"items":{"type":"array","items":{"type":"object"}}}})"},
      {"MessageStatus",
       R"({"type":"object","properties":{"message_id":{"type":"string"},"status":{"type":"string"},"subject":{"type":"string"},"sender":{"type":"string"},"consignment_mode":{"type":"string"},"recipients":{"type":"array","items":{"type":"object","properties":{"index":{"type":"integer"},"identifier":{"type":"string"},"state":{"type":"string"},"last_event":{"type":"string"}}}},"parts":{"type":"array","description":"the attachments in message order; index is the {part} of /content/{part}","items":{"type":"object","required":["index","name","content_type","size","sha256"],"properties":{"index":{"type":"integer"},"name":{"type":"string"},"content_type":{"type":"string"},"size":{"type":"integer","format":"int64"},"sha256":{"type":"string","description":"hex SHA-256 of the part's bytes"}}}},"evidence":{"type":"array","items":{"type":"object","properties":{"evidence_id":{"type":"string"},"event":{"type":"string"},"reason":{"type":"string"},"href":{"type":"string"}}}}}})"},
      {"ConsentResult",
       R"({"type":"object","properties":{"message_id":{"type":"string"},"recipients":{"type":"array","items":{"type":"object","properties":{"index":{"type":"integer"},"state":{"type":"string"},"evidence_id":{"type":"string"},"already_done":{"type":"boolean"}}}}}})"},
  };
  for (const auto& [name, json] : schemas) ERDS_RETURN_IF_ERROR(router.addSchema(name, json));

  Impl* s = impl_.get();
  const std::vector<std::string> tags = {"messages"};
  const http::ParameterSpec idParam{"id", "path", true, "message id (UUID)", "string"};
  const http::ParameterSpec idem{"Idempotency-Key", "header", false,
                                 "repeat a submission safely: the same key and body replay the first result; "
                                 "the same key with another body is 409",
                                 "string"};

  http::RouteSpec post;
  post.method = "POST";
  post.path = "/api/v1/messages";
  post.operationId = "submitMessage";
  post.summary = "Submit a message: multipart (a JSON 'metadata' part first, then 1..n file parts) or JSON with "
                 "small inline content";
  post.description =
      "multipart/form-data streams: the 'metadata' part (SubmissionMetadata) must come first; content up to 1 MiB "
      "is stored with the message in one transaction, larger file parts are stored as they arrive. application/json (InlineSubmission) carries one base64 attachment and is limited to "
      "maxInlineBodyBytes. The sender must be authenticated (401 otherwise, no evidence) and pass the identity gate "
      "(403 with what to do next). Refusals of an authenticated sender store SubmissionRejection evidence "
      "(evidence_id in the problem). 503 when no time stamp can be had: nothing is acknowledged.";
  post.tags = tags;
  post.parameters = {idem};
  post.requestMediaType = "multipart/form-data";
  post.requestSchemaRef = "SubmissionForm";
  post.requestMediaTypes = {{"application/json", "InlineSubmission"}};
  post.streamRequestBody = true;
  post.responses = {{201, "accepted; SubmissionAcceptance evidence stored", "application/json", "SubmissionResult"}};
  post.security = kSecurity;
  ERDS_RETURN_IF_ERROR(router.add(post, [s](const http::Request& r) { return s->submit(r); }));

  http::RouteSpec list;
  list.method = "GET";
  list.path = "/api/v1/messages";
  list.operationId = "listMessages";
  list.summary = "The caller's inbox or sent messages, newest first";
  list.tags = tags;
  list.parameters = {{"box", "query", false, "inbox (default) or sent", "string"},
                     {"page", "query", false, "1-based page", "integer"},
                     {"page_size", "query", false, "1..100, default 20", "integer"},
                     {"state", "query", false, "only deliveries in this state", "string"}};
  list.responses = {{200, "a page of messages", "application/json", "MessageList"}};
  list.security = kSecurity;
  ERDS_RETURN_IF_ERROR(router.add(list, [s](const http::Request& r) { return s->list(r); }));

  http::RouteSpec get;
  get.method = "GET";
  get.path = "/api/v1/messages/{id}";
  get.operationId = "getMessage";
  get.summary = "Message status, per-recipient state and the evidence chain (sender or bound recipient)";
  get.tags = tags;
  get.parameters = {idParam};
  get.responses = {{200, "the message", "application/json", "MessageStatus"}};
  get.security = kSecurity;
  ERDS_RETURN_IF_ERROR(router.add(get, [s](const http::Request& r) { return s->status(r); }));

  for (bool accept : {true, false}) {
    http::RouteSpec c;
    c.method = "POST";
    c.path = accept ? "/api/v1/messages/{id}/accept" : "/api/v1/messages/{id}/reject";
    c.operationId = accept ? "acceptMessage" : "rejectMessage";
    c.summary = accept ? "Accept a consent-mode message (ConsignmentAcceptance)"
                       : "Reject a consent-mode message (ConsignmentRejection)";
    c.tags = tags;
    c.parameters = {idParam};
    c.responses = {{200, "recorded", "application/json", "ConsentResult"}};
    c.security = kSecurity;
    ERDS_RETURN_IF_ERROR(router.add(c, [s, accept](const http::Request& r) { return s->decideConsent(r, accept); }));
  }

  http::RouteSpec content;
  content.method = "GET";
  content.path = "/api/v1/messages/{id}/content";
  content.operationId = "getContent";
  content.summary = "Download the content (ContentHandover evidence is committed first)";
  content.description =
      "Bound recipient only, after the identity gate (403 with what to do next). One part: its bytes; several: "
      "multipart/mixed.";
  content.tags = tags;
  content.parameters = {idParam};
  content.responses = {{200, "the content", "application/octet-stream", ""}};
  content.security = kSecurity;
  ERDS_RETURN_IF_ERROR(router.add(content, [s](const http::Request& r) { return s->content(r, std::nullopt); }));

  http::RouteSpec part = content;
  part.path = "/api/v1/messages/{id}/content/{part}";
  part.operationId = "getContentPart";
  part.summary = "Download one part (0-based position)";
  part.parameters = {idParam, {"part", "path", true, "0-based part position", "integer"}};
  ERDS_RETURN_IF_ERROR(router.add(part, [s](const http::Request& r) -> Result<http::Response> {
    const std::string& p = r.param("part");
    if (p.empty() || p.size() > 4 || !std::all_of(p.begin(), p.end(), [](unsigned char ch) { return std::isdigit(ch); }))
      return Error::notFound("no such part");
    return s->content(r, std::stoi(p));
  }));

  http::RouteSpec bundle;
  bundle.method = "GET";
  bundle.path = "/api/v1/messages/{id}/evidence-bundle";
  bundle.operationId = "getEvidenceBundle";
  bundle.summary = "ZIP of the message's evidence XML visible to the caller, with a README on verification";
  bundle.tags = {"evidence"};
  bundle.parameters = {idParam};
  bundle.responses = {{200, "the bundle", "application/zip", ""}};
  bundle.security = kSecurity;
  ERDS_RETURN_IF_ERROR(router.add(bundle, [s](const http::Request& r) { return s->bundle(r); }));

  http::RouteSpec ev;
  ev.method = "GET";
  ev.path = "/api/v1/evidence/{id}";
  ev.operationId = "getEvidence";
  ev.summary = "One sealed, time-stamped evidence (EN 319 522-3 XML)";
  ev.tags = {"evidence"};
  ev.parameters = {{"id", "path", true, "evidence id", "string"}};
  ev.responses = {{200, "the evidence", "application/xml", ""}};
  ev.security = kSecurity;
  ERDS_RETURN_IF_ERROR(router.add(ev, [s](const http::Request& r) { return s->evidence(r); }));
  return ok();
}

}  // namespace erds::api
