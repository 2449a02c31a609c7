#include "erds/api/sealing_evidence_issuer.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "erds/base/log.h"
#include "erds/core/content_vault.h"
#include "erds/evidence/evidence_builder.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/signer_client.h"
#include "erds/evidence/timestamp_verify.h"
#include "erds/evidence/tsa_client.h"

namespace erds::api {
namespace {

// "mailto:alice@example.test" -> {"mailto", "alice@example.test"}; other forms keep the whole
// string as value under scheme "uri".
evidence::Identifier identifierOf(const std::string& s) {
  const std::size_t colon = s.find(':');
  if (colon != std::string::npos && colon > 0) return {s.substr(0, colon), s.substr(colon + 1)};
  return {"uri", s};
}

// I10 AssuranceLevelsDetails in the GlobalAssuranceLevel + AuthenticationDetails form of the REM
// baseline samples; nullopt when the caller did not say how the party authenticated.
std::optional<evidence::AssuranceDetails> assuranceOf(const std::optional<core::SenderAuthentication>& a) {
  if (!a || a->method.empty()) return std::nullopt;
  evidence::AssuranceDetails assurance;
  assurance.global.level = a->level;
  assurance.authentication = evidence::AuthenticationDetails{a->time, a->method};
  return assurance;
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using X509StorePtr = std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

constexpr std::size_t kMaxAnchorFileBytes = 4 << 20;
constexpr std::chrono::seconds kMaxTsaClockSkew{300};
constexpr std::size_t kMaxTsaResponseBytes = 128 * 1024;

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (auto t = trimmed(item); !t.empty()) out.push_back(std::move(t));
  return out;
}

std::string drainOpenssl() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Result<std::string> readSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::notFound("cannot read " + path);
  std::string data;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > kMaxAnchorFileBytes) return Error::invalidInput(path + " is too large");
  }
  return data;
}

// The certificates of a PEM text; InvalidInput if there are none.
Result<std::vector<X509Ptr>> pemCertificates(const std::string& pem, const std::string& what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::vector<X509Ptr> out;
  while (bio) {
    X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (c == nullptr) break;
    out.emplace_back(c, &X509_free);
  }
  ERR_clear_error();
  if (out.empty()) return Error::invalidInput(what + ": no PEM certificate");
  return out;
}

// Qualified mode: the built-in unit's certificate must carry esi4-qtstStatement-1 and chain, as a
// time-stamping certificate, to one of the qualified anchors (PEM text).
Result<void> checkQualifiedUnitCertificate(const evidence::SigningKeyInfo& info, const std::string& anchorsPem) {
  auto qtst = evidence::certificateHasQtstStatement(info.certificateDer);
  if (!qtst) return Error::invalidInput("TSU certificate: " + qtst.error().message);
  if (!*qtst)
    return Error::invalidInput("the built-in time-stamping unit's certificate has no EN 319 422 qcStatement "
                               "esi4-qtstStatement-1 (0.4.0.19422.1.1)");
  const auto* p = reinterpret_cast<const unsigned char*>(info.certificateDer.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(info.certificateDer.size())), &X509_free);
  if (!cert) return Error::invalidInput("TSU certificate: bad DER: " + drainOpenssl());
  X509StackPtr chain(sk_X509_new_null());
  const auto* q = reinterpret_cast<const unsigned char*>(info.chainDer.data());
  const auto* end = q + info.chainDer.size();
  while (q < end) {
    X509* c = d2i_X509(nullptr, &q, static_cast<long>(end - q));
    if (c == nullptr) break;
    sk_X509_push(chain.get(), c);
  }
  auto anchors = pemCertificates(anchorsPem, "qualified TSA trust anchors");
  if (!anchors) return std::move(anchors).error();
  X509StorePtr store(X509_STORE_new(), &X509_STORE_free);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  if (!store || !ctx || !chain) return Error::internal("X509_STORE_new: " + drainOpenssl());
  for (const auto& a : *anchors) X509_STORE_add_cert(store.get(), a.get());
  ERR_clear_error();
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), chain.get()) != 1)
    return Error::internal("X509_STORE_CTX_init: " + drainOpenssl());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Error::invalidInput(std::string("the built-in time-stamping unit's certificate does not chain to a "
                                           "qualified TSA trust anchor: ") +
                               X509_verify_cert_error_string(err));
  }
  return ok();
}

// The built-in time-stamping unit, built on first use when the signer (erds-signer) is not
// reachable at startup, and retried until it is. `accept` vets the unit's key once it is known
// (qualified mode); a refused unit is never used.
class BuiltinUnit final : public evidence::TimestampAuthority {
 public:
  using Acceptance = std::function<Result<void>(const evidence::SigningKeyInfo&)>;
  BuiltinUnit(std::shared_ptr<evidence::Signer> signer, evidence::Rfc3161TsuOptions options, const Clock& clock,
              Acceptance accept)
      : signer_(std::move(signer)), options_(std::move(options)), clock_(clock), accept_(std::move(accept)) {}

  // The unit, built now if needed. Unavailable while the signer cannot be reached; InvalidInput
  // for a refused certificate or bad options (configuration errors).
  Result<std::shared_ptr<evidence::Rfc3161Tsu>> unit() {
    std::lock_guard<std::mutex> g(mu_);
    if (tsu_) return tsu_;
    if (accept_) {
      auto info = signer_->keyInfo(options_.keyLabel);
      if (!info) {
        if (info.error().is(ErrorCode::NotFound)) return Error::invalidInput(info.error().message);
        return Error::unavailable("time-stamping unit not ready: " + info.error().toString());
      }
      ERDS_RETURN_IF_ERROR(accept_(*info));
    }
    auto t = evidence::Rfc3161Tsu::create(signer_, options_, clock_);
    if (!t) {
      if (t.error().is(ErrorCode::Unavailable))
        return Error::unavailable("time-stamping unit not ready: " + t.error().toString());
      return std::move(t).error();
    }
    tsu_ = std::shared_ptr<evidence::Rfc3161Tsu>(std::move(t).value());
    return tsu_;
  }

  Result<evidence::TimestampToken> timestamp(std::string_view digest) override {
    auto u = usable();
    if (!u) return std::move(u).error();
    return (*u)->timestamp(digest);
  }

  Result<std::string> respond(std::string_view request) {
    auto u = usable();
    if (!u) return std::move(u).error();
    return (*u)->respond(request);
  }

 private:
  // As unit(), but a refused certificate found after startup is reported as Unavailable (nothing
  // is sealed) and logged, rather than surfacing as the caller's InvalidInput.
  Result<std::shared_ptr<evidence::Rfc3161Tsu>> usable() {
    auto u = unit();
    if (!u && !u.error().is(ErrorCode::Unavailable)) {
      log::error("tsa.builtin_refused", {{"error", u.error().toString()}});
      return Error::unavailable("built-in time-stamping unit refused: " + u.error().message);
    }
    return u;
  }

  std::shared_ptr<evidence::Signer> signer_;
  evidence::Rfc3161TsuOptions options_;
  const Clock& clock_;
  Acceptance accept_;
  std::mutex mu_;
  std::shared_ptr<evidence::Rfc3161Tsu> tsu_;
};

// "tsa.trust_anchors (/etc/erds/erds.conf)"
std::string keyRef(const Config& config, const std::string& key) { return key + " (" + config.sourceOf(key) + ")"; }

}  // namespace

Result<std::unique_ptr<SealingEvidenceIssuer>> SealingEvidenceIssuer::create(
    std::shared_ptr<evidence::Signer> signer, std::shared_ptr<evidence::TimestampAuthority> tsa, const Clock& clock,
    RecipientLookup recipients, SealingEvidenceIssuerOptions options) {
  if (!signer || !tsa) return Error::invalidInput("evidence issuer needs a signer and a time-stamp authority");
  auto sealer = evidence::EvidenceSealer::create(signer, tsa, clock, options.sealer);
  if (!sealer) return std::move(sealer).error();
  if (options.sealer.hasRevocationData()) {
    // Revocation data is checked before serving (seal chain and TSU, first OCSP fetch): a
    // revoked seal certificate or unusable data refuses to start, naming the certificate and why.
    // An unreachable signer or TSA (Unavailable) is not fatal here, as above: each seal reports it.
    auto prepared = (*sealer)->prepare(options.sealKeyLabel);
    if (!prepared && !prepared.error().is(ErrorCode::Unavailable))
      return Error{prepared.error().code, "evidence sealing not possible: " + prepared.error().message};
    if (!prepared) log::warn("evidence.revocation_not_ready", {{"error", prepared.error().toString()}});
  }
  std::unique_ptr<SealingEvidenceIssuer> out(new SealingEvidenceIssuer());
  // The seal certificate is optional in R02; without a reachable signer at startup it is left out
  // rather than failing the daemon (the sealer reports Unavailable per evidence instead).
  auto info = signer->keyInfo(options.sealKeyLabel);
  if (info) {
    out->sealCertificateDer_ = info->certificateDer;
  } else if (info.error().is(ErrorCode::NotFound)) {
    return Error::invalidInput("seal key '" + options.sealKeyLabel + "' not found: " + info.error().message);
  } else {
    log::warn("evidence.seal_key_unavailable", {{"error", info.error().toString()}});
  }
  out->signer_ = std::move(signer);
  out->tsa_ = std::move(tsa);
  out->sealer_ = std::move(sealer).value();
  out->lookup_ = std::move(recipients);
  out->options_ = std::move(options);
  return out;
}

Result<std::unique_ptr<SealingEvidenceIssuer>> SealingEvidenceIssuer::fromConfig(const Config& config,
                                                                                 const Clock& clock,
                                                                                 RecipientLookup recipients) {
  std::shared_ptr<evidence::Signer> signer;
  if (config.getString("signer.mode") == "inprocess") {
    if (config.mode() == ServiceMode::Qualified)
      return Error::invalidInput("signer.mode (" + config.sourceOf("signer.mode") +
                                 "): inprocess keys are not allowed with service.mode=qualified");
    const std::string dir = config.getPath("signer.key_dir");
    if (dir.empty())
      return Error::invalidInput("signer.key_dir (" + config.sourceOf("signer.key_dir") +
                                 "): required with signer.mode=inprocess");
    auto s = evidence::FileKeySigner::fromDirectory(dir, {"seal", "tsu"});
    if (!s) return Error::invalidInput("signer.key_dir (" + config.sourceOf("signer.key_dir") + "): " + s.error().message);
    signer = std::shared_ptr<evidence::Signer>(std::move(s).value());
  } else {
    evidence::SignerClientOptions o;
    o.socketPath = config.getPath("signer.socket");
    auto s = evidence::SignerClient::create(o);
    if (!s) return Error::invalidInput("signer.socket (" + config.sourceOf("signer.socket") + "): " + s.error().message);
    signer = std::shared_ptr<evidence::Signer>(std::move(s).value());
  }
  auto sources = timestampSourcesFromConfig(config, signer, clock);
  if (!sources) return std::move(sources).error();
  SealingEvidenceIssuerOptions o;
  o.serviceName = config.getString("service.name");
  // Revocation data of the seal chain, validated once and embedded in every evidence
  // (xades:RevocationValues), so evidence can later be raised to long-term levels.
  std::stringstream crlFiles(config.getString("signer.crl_files"));
  for (std::string path; std::getline(crlFiles, path, ',');) {
    path.erase(0, path.find_first_not_of(" \t"));
    path.erase(path.find_last_not_of(" \t") + 1);
    if (path.empty()) continue;
    auto pem = readSmallFile(path);
    if (!pem) return Error::invalidInput(keyRef(config, "signer.crl_files") + ": " + pem.error().message);
    o.sealer.crlsPem.push_back(std::move(*pem));
  }
  if (config.isSet("signer.ca_file")) {
    auto pem = readSmallFile(config.getPath("signer.ca_file"));
    if (!pem) return Error::invalidInput(keyRef(config, "signer.ca_file") + ": " + pem.error().message);
    o.sealer.caCertificatesPem = std::move(*pem);
  }
  // OCSP responses for the seal and TSU certificates: files and/or fetched from the AIA URL.
  std::stringstream ocspFiles(config.getString("signer.ocsp_files"));
  for (std::string path; std::getline(ocspFiles, path, ',');) {
    path.erase(0, path.find_first_not_of(" \t"));
    path.erase(path.find_last_not_of(" \t") + 1);
    if (path.empty()) continue;
    auto data = readSmallFile(path);
    if (!data) return Error::invalidInput(keyRef(config, "signer.ocsp_files") + ": " + data.error().message);
    o.sealer.ocspResponses.push_back(std::move(*data));
  }
  o.sealer.fetchOcsp = config.getBool("signer.fetch_ocsp");
  o.sealer.ocspRefreshInterval =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(config.getMillis("signer.ocsp_refresh_interval")));
  o.sealer.fetchTimeout = std::chrono::milliseconds(config.getMillis("signer.ocsp_timeout"));
  if (o.sealer.fetchOcsp && o.sealer.ocspRefreshInterval < std::chrono::seconds(10))
    return Error::invalidInput(keyRef(config, "signer.ocsp_refresh_interval") + ": must be at least 10s");
  auto issuer = create(signer, std::move(sources->authority), clock, std::move(recipients), o);
  if (!issuer) return issuer;
  (*issuer)->builtinResponder_ = std::move(sources->builtinResponder);
  return issuer;
}

Result<TimestampSources> SealingEvidenceIssuer::timestampSourcesFromConfig(const Config& config,
                                                                          std::shared_ptr<evidence::Signer> signer,
                                                                          const Clock& clock) {
  if (!signer) return Error::invalidInput("time-stamp sources need a signer");
  const bool qualified = config.mode() == ServiceMode::Qualified;
  const bool external = config.getString("tsa.source") == "external";
  // Qualified mode: the anchors every accepted time stamp must chain to.
  std::string anchorsKey = "tsa.trust_anchors";
  if (qualified && config.isSet("tsa.qualified_trust_anchors")) anchorsKey = "tsa.qualified_trust_anchors";
  std::string anchorsPem;
  if (external || qualified) {
    if (!config.isSet(anchorsKey))
      return Error::invalidInput(keyRef(config, anchorsKey) + ": required with " +
                                 (external ? std::string("tsa.source=external")
                                           : std::string("service.mode=qualified (tsa.qualified_trust_anchors or "
                                                         "tsa.trust_anchors)")));
    auto pem = readSmallFile(config.getPath(anchorsKey));
    if (!pem) return Error::invalidInput(keyRef(config, anchorsKey) + ": " + pem.error().message);
    anchorsPem = std::move(*pem);
  }

  evidence::Rfc3161TsuOptions t;
  t.policyOid = config.getString("tsa.policy_oid");
  t.accuracy = std::chrono::milliseconds(config.getMillis("tsa.accuracy"));
  t.requireSyncedClock = config.getBool("tsa.require_synced_clock") && config.mode() != ServiceMode::Development;
  BuiltinUnit::Acceptance accept;
  if (qualified) {
    accept = [anchorsPem](const evidence::SigningKeyInfo& info) {
      return checkQualifiedUnitCertificate(info, anchorsPem);
    };
  }
  auto builtin = std::make_shared<BuiltinUnit>(signer, t, clock, accept);
  TimestampSources out;
  out.builtinResponder = [builtin](std::string_view request) { return builtin->respond(request); };

  if (!external) {
    // Built now when possible, so that a bad certificate or option fails at startup.
    auto unit = builtin->unit();
    if (!unit) {
      if (!unit.error().is(ErrorCode::Unavailable)) {
        const std::string key = qualified ? anchorsKey : std::string("tsa.policy_oid");
        return Error::invalidInput(keyRef(config, key) + ": " + unit.error().message);
      }
      log::warn("tsa.not_ready", {{"error", unit.error().toString()}});
    }
    out.authority = builtin;
    return out;
  }

  evidence::HttpTsaClientOptions o;
  o.urls = splitList(config.getString("tsa.urls"));
  if (o.urls.empty()) return Error::invalidInput(keyRef(config, "tsa.urls") + ": required with tsa.source=external");
  for (const auto& url : o.urls) {
    if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0)
      return Error::invalidInput(keyRef(config, "tsa.urls") + ": not an http:// or https:// URL: " + url);
  }
  const auto timeout = std::chrono::milliseconds(config.getMillis("tsa.timeout"));
  o.connectTimeout = timeout;
  o.requestTimeout = timeout;
  o.requireQualified = qualified;
  o.maxClockSkew = kMaxTsaClockSkew;
  o.maxResponseBytes = kMaxTsaResponseBytes;
  o.tlsCaFile = config.getPath("tsa.tls_ca_file");
  auto verifier = evidence::TimestampVerifier::fromPem(anchorsPem);
  if (!verifier) return Error::invalidInput(keyRef(config, anchorsKey) + ": " + verifier.error().message);
  if (config.isSet("tsa.auth_token_file")) {
    auto token = config.readSecret("tsa.auth_token_file");
    if (!token) return std::move(token).error();
    std::string value(token->reveal());
    value.erase(value.find_last_not_of(" \t\r\n") + 1);  // npos + 1 == 0: all blank
    value.erase(0, value.find_first_not_of(" \t\r\n"));
    if (value.empty()) return Error::invalidInput(keyRef(config, "tsa.auth_token_file") + ": empty token");
    // A session token must never cross the network in clear text (HttpTsaClient::create refuses
    // it too; checked here to name the key).
    for (const auto& url : o.urls) {
      if (url.rfind("https://", 0) != 0)
        return Error::invalidInput(keyRef(config, "tsa.auth_token_file") +
                                   ": a bearer token is sent only to https:// URLs, not " + url);
    }
    o.bearerToken = Secret(std::move(value));
  }
  auto client = evidence::HttpTsaClient::create(std::move(o), std::move(*verifier), clock);
  if (!client) return Error::invalidInput(keyRef(config, "tsa.urls") + ": " + client.error().message);
  out.authority = std::shared_ptr<evidence::TimestampAuthority>(std::move(*client));
  return out;
}

void SealingEvidenceIssuer::announceRecipients(const std::string& messageId, std::vector<std::string> identifiers) {
  std::lock_guard<std::mutex> g(mu_);
  announced_[messageId] = std::move(identifiers);
}

void SealingEvidenceIssuer::forgetRecipients(const std::string& messageId) {
  std::lock_guard<std::mutex> g(mu_);
  announced_.erase(messageId);
}

Result<std::vector<std::string>> SealingEvidenceIssuer::recipientsOf(const std::string& messageId) {
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = announced_.find(messageId);
    if (it != announced_.end()) return it->second;
  }
  if (!lookup_) return Error::notFound("recipients of message " + messageId + " unknown");
  return lookup_(messageId);
}

Result<std::string> SealingEvidenceIssuer::buildUnsealed(const core::EvidenceRequest& r, const std::string& evidenceId) {
  auto xml = buildXml(r, evidenceId);
  if (!xml) return std::move(xml).error();
  return xml->document;
}

Result<evidence::EvidenceXml> SealingEvidenceIssuer::buildXml(const core::EvidenceRequest& r,
                                                             const std::string& evidenceId) {
  auto event = evidence::eventFromName(core::eventName(r.event));
  if (!event) return Error::invalidInput("unknown event " + std::string(core::eventName(r.event)));
  // The store fills the recipients of every request; the announced/looked-up list is the
  // fallback for callers that do not (older tests, tools).
  auto recipients = r.message.recipientIdentifiers.empty()
                        ? recipientsOf(r.message.messageId)
                        : Result<std::vector<std::string>>(r.message.recipientIdentifiers);
  if (!recipients) return std::move(recipients).error();
  if (recipients->empty()) return Error::invalidInput("message " + r.message.messageId + " has no recipients");
  const char group = evidence::eventCode(*event)[0];
  // F.x (relay to / reception from a non-ERDS system) carry no I09 EvidenceRefersToRecipient: a
  // per-recipient relay evidence names only the recipient concerned.
  if (group == 'F' && r.recipientIndex) {
    if (r.recipientIdentifier.empty()) return Error::invalidInput("relay evidence without its recipient");
    recipients = std::vector<std::string>{r.recipientIdentifier};
  }

  evidence::EvidenceBuilder b(*event);
  b.evidenceIdentifier(evidenceId).xmlId("ev-" + evidenceId).eventTime(r.eventTime);
  if (!r.reason.empty()) {
    auto reason = evidence::reasonFromCode(r.reason);
    if (!reason) return Error::invalidInput("unknown reason code " + r.reason);
    b.reason(*reason);
  }
  evidence::EntityDetails issuer;
  issuer.identity.push_back(evidence::legalName(options_.serviceName));
  if (!sealCertificateDer_.empty()) issuer.x509CertificateDer = sealCertificateDer_;
  b.issuer(std::move(issuer));
  evidence::Party sender;
  sender.identifier = identifierOf(r.message.senderIdentifier);
  // I10: how the sender authenticated for this submission (SubmissionAcceptance; the store passes
  // it on that event only), and how the recipient concerned authenticated for its own step.
  sender.assurance = assuranceOf(r.senderAuthentication);
  b.sender(sender);
  for (std::size_t i = 0; i < recipients->size(); ++i) {
    evidence::Party p;
    p.identifier = identifierOf((*recipients)[i]);
    if (r.recipientIndex && static_cast<std::size_t>(*r.recipientIndex) == i)
      p.assurance = assuranceOf(r.recipientAuthentication);
    b.addRecipient(p);
  }
  if (r.recipientIndex && group != 'F') {
    if (*r.recipientIndex < 0 || *r.recipientIndex >= static_cast<int>(recipients->size()))
      return Error::invalidInput("recipient index out of range");
    b.refersToRecipient(*r.recipientIndex + 1);
  }
  if (group == 'A') b.submissionTime(r.message.submittedAt);
  if (group == 'F') b.externalSystem(r.externalSystem.empty() ? "non-ERDS e-mail system (SMTP)" : r.externalSystem);
  b.messageIdentifier(r.message.messageId);
  evidence::UserContentInfo content;
  evidence::PartInfo part;
  part.identifier = "urn:uuid:" + r.message.messageId;
  part.contentType = "multipart/mixed";
  if (r.message.contentDigest.size() == 32) {
    part.digestAlgorithm = std::string(evidence::kSha256DigestUri);
    part.digest = r.message.contentDigest;
  }
  content.parts.push_back(std::move(part));
  b.userContentInfo(std::move(content));
  if (!r.message.subject.empty()) b.subject(r.message.subject);
  auto ev = b.build();
  if (!ev) return std::move(ev).error();
  return evidence::writeEvidenceXml(*ev);
}

Result<core::IssuedEvidence> SealingEvidenceIssuer::issue(const core::EvidenceRequest& r) {
  const std::string evidenceId = core::ContentVault::newMessageId();
  auto xml = buildXml(r, evidenceId);
  if (!xml) return std::move(xml).error();
  auto sealed = sealer_->seal(*xml, options_.sealKeyLabel);
  if (!sealed) {
    // NotFound (no seal key) is a deployment fault, not the caller's: report it as unavailable
    // so that nothing is acknowledged and the operator sees it in the log.
    if (sealed.error().is(ErrorCode::NotFound)) return Error::unavailable(sealed.error().message);
    return std::move(sealed).error();
  }
  return core::IssuedEvidence{evidenceId, std::move(sealed->document)};
}

}  // namespace erds::api
