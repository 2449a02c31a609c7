// `erdsctl evidence verify|issue|events`: verify a sealed EN 319 522-3 evidence (XAdES-B-T) with
// erds::evidence::EvidenceVerifier, and issue one with the development PKI (EvidenceBuilder,
// writeEvidenceXml, EvidenceSealer over a FileKeySigner and the built-in Rfc3161Tsu).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/clock.h"
#include "erds/evidence/event.h"
#include "erds/evidence/evidence_builder.h"
#include "erds/evidence/evidence_sealer.h"
#include "erds/evidence/evidence_verifier.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"

#include "commands.h"

namespace erds::ctl::internal {
namespace {

namespace ev = erds::evidence;

// Exit code of `evidence verify` for an INDETERMINATE result (EN 319 102-1).
constexpr int kExitIndeterminate = 3;
// The largest evidence `evidence verify` reads; larger files are reported invalid by the verifier
// without being read in full.
constexpr std::size_t kMaxEvidenceBytes = 4 * 1024 * 1024;
constexpr const char* kSealKeyLabel = "seal";
constexpr const char* kTsuKeyLabel = "tsu";
// The development TSU policy (the default of the tsa.policy_oid configuration key).
constexpr const char* kDevelopmentTsaPolicy = "1.3.6.1.4.1.55555.1.1";

std::string errnoText() {
  return std::strerror(errno);
}

// Reads at most `limit` bytes of `path` into `out`. False (with `why`) when it cannot be read.
bool readBounded(const std::string& path, std::size_t limit, std::string& out, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + path + ": " + errnoText();
    return false;
  }
  out.resize(limit);
  in.read(out.data(), static_cast<std::streamsize>(limit));
  if (in.bad()) {
    why = "cannot read " + path + ": " + errnoText();
    return false;
  }
  out.resize(static_cast<std::size_t>(in.gcount()));
  return true;
}

// "60s", "30m", "2h", "1d" or a bare number of seconds.
std::optional<std::chrono::seconds> parseDurationSeconds(const std::string& s) {
  long long n = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, n);
  if (ec != std::errc() || n < 0 || p == s.data()) return std::nullopt;
  const std::string unit(p, end);
  long long mult = 0;
  if (unit.empty() || unit == "s") {
    mult = 1;
  } else if (unit == "m") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else if (unit == "d") {
    mult = 86400;
  } else {
    return std::nullopt;
  }
  if (n > 100LL * 365 * 86400 / mult) return std::nullopt;
  return std::chrono::seconds(n * mult);
}

std::string jsonEscape(const std::string& s) {
  std::string o;
  o.reserve(s.size() + 2);
  o += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (c < 0x20) {
          static const char* kHex = "0123456789abcdef";
          o += "\\u00";
          o += kHex[c >> 4];
          o += kHex[c & 0xf];
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  o += '"';
  return o;
}

constexpr std::size_t kMaxOcspFileBytes = 1024 * 1024;

std::string timeOrEmpty(const std::optional<TimePoint>& t) {
  return t ? formatRfc3339(*t, false) : std::string();
}

// "RA01 (MessageAccepted)" for a known reason URI, the URI otherwise, "" for none.
std::string displayReason(const std::string& uri) {
  if (uri.empty()) return {};
  auto r = ev::reasonFromUri(uri);
  if (!r) return uri;
  return std::string(ev::reasonCode(*r)) + " (" + std::string(ev::reasonName(*r)) + ")";
}

std::string displayEvent(const std::string& name) {
  auto e = ev::eventFromName(name);
  if (!e) return name;
  return name + " (" + std::string(ev::eventCode(*e)) + ")";
}

std::string statusWord(ev::VerifyStatus s) {
  switch (s) {
    case ev::VerifyStatus::Valid:
      return "VALID";
    case ev::VerifyStatus::Invalid:
      return "INVALID";
    case ev::VerifyStatus::Indeterminate:
      return "INDETERMINATE";
  }
  return "INDETERMINATE";
}

void printText(const std::string& file, const ev::VerificationReport& r, std::ostream& os) {
  auto line = [&os](const char* label, const std::string& value) {
    os << label << (value.empty() ? "-" : value) << "\n";
  };
  line("evidence:    ", file);
  line("event:       ", displayEvent(r.event));
  line("reason:      ", displayReason(r.reasonCode));
  line("event time:  ", timeOrEmpty(r.eventTime));
  line("time-stamp:  ", timeOrEmpty(r.timestampTime));
  line("sender:      ", r.sender);
  if (r.recipients.empty()) line("recipient:   ", "");
  for (const auto& rcpt : r.recipients)
    line("recipient:   ", rcpt);
  line("signer:      ", r.signerSubject);
  line("TSA:         ", r.tsaSubject);
  line("revocation:  ", std::string(r.revocationChecked ? "checked" : "not checked") + " (seal chain), " +
                           (r.tsaRevocationChecked ? "checked" : "not checked") + " (TSA)");
  for (const auto& src : r.revocationSources)
    line("  source:    ", src);
  for (const auto& w : r.warnings)
    line("warning:     ", w);
  os << "result:      " << statusWord(r.status) << (r.reason.empty() ? "" : ": " + r.reason)
     << "\n";
}

void printJson(const std::string& file, const ev::VerificationReport& r, std::ostream& os) {
  auto list = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i)
      s += (i ? "," : "") + jsonEscape(v[i]);
    return s + "]";
  };
  os << "{\"file\":" << jsonEscape(file)
     << ",\"result\":" << jsonEscape(std::string(ev::verifyStatusName(r.status)))
     << ",\"reason\":" << jsonEscape(r.reason) << ",\"event\":" << jsonEscape(r.event)
     << ",\"eventReason\":" << jsonEscape(r.reasonCode)
     << ",\"eventTime\":" << jsonEscape(timeOrEmpty(r.eventTime))
     << ",\"timestampTime\":" << jsonEscape(timeOrEmpty(r.timestampTime))
     << ",\"signingTime\":" << jsonEscape(timeOrEmpty(r.signingTime))
     << ",\"sender\":" << jsonEscape(r.sender) << ",\"recipients\":" << list(r.recipients)
     << ",\"signer\":" << jsonEscape(r.signerSubject) << ",\"tsa\":" << jsonEscape(r.tsaSubject)
     << ",\"signatureMethod\":" << jsonEscape(r.signatureMethod)
     << ",\"revocationChecked\":" << (r.revocationChecked ? "true" : "false")
     << ",\"tsaRevocationChecked\":" << (r.tsaRevocationChecked ? "true" : "false")
     << ",\"revocationSources\":" << list(r.revocationSources)
     << ",\"warnings\":" << list(r.warnings) << "}\n";
}

int evidenceVerify(const Args& args, Io& io) {
  const std::string prefix = "erdsctl evidence verify: ";
  const std::string file = args.positional().at(0);
  const auto trust = args.getAll("--trust");  // required: the dispatcher ensures at least one
  ev::VerifyOptions options;
  options.maxBytes = kMaxEvidenceBytes;
  options.requireRevocation = args.has("--require-revocation");
  if (args.has("--max-event-skew")) {
    auto skew = parseDurationSeconds(args.get("--max-event-skew"));
    if (!skew) {
      io.err << prefix << "--max-event-skew: '" << args.get("--max-event-skew")
             << "' is not a duration (e.g. 60s, 30m, 2h)\n";
      return kExitUsage;
    }
    options.maxEventTimeSkew = *skew;
  }
  for (const auto& crl : args.getAll("--crl")) {
    std::string pem;
    std::string why;
    if (!readBounded(crl, kMaxEvidenceBytes, pem, why)) {
      io.err << prefix << "--crl: " << why << "\n";
      return kExitUsage;
    }
    options.crlsPem.push_back(std::move(pem));
  }
  for (const auto& file : args.getAll("--ocsp")) {
    std::string data;
    std::string why;
    if (!readBounded(file, kMaxOcspFileBytes + 1, data, why)) {
      io.err << prefix << "--ocsp: " << why << "\n";
      return kExitUsage;
    }
    if (data.empty() || data.size() > kMaxOcspFileBytes) {
      io.err << prefix << "--ocsp: " << file << " is empty or larger than 1 MiB\n";
      return kExitUsage;
    }
    options.ocspResponses.push_back(std::move(data));
  }
  options.online = args.has("--online");
  if (args.has("--timeout")) {
    auto t = parseDurationSeconds(args.get("--timeout"));
    if (!t || t->count() < 1 || t->count() > 300) {
      io.err << prefix << "--timeout: '" << args.get("--timeout") << "' is not a duration of 1s..5m (e.g. 10s)\n";
      return kExitUsage;
    }
    options.fetchTimeout = *t;
  }
  auto verifier = ev::EvidenceVerifier::fromPemFiles(trust, args.getAll("--tsa-trust"));
  if (!verifier) {
    io.err << prefix << verifier.error().message << "\n";
    return kExitUsage;
  }
  std::string xml;
  std::string why;
  // One byte more than the limit, so the verifier sees (and reports) an oversized file without
  // this process reading all of it.
  if (!readBounded(file, kMaxEvidenceBytes + 1, xml, why)) {
    io.err << prefix << why << "\n";
    return kExitUsage;
  }
  auto report = (*verifier)->verify(xml, options);
  if (!report) {
    io.err << prefix << report.error().message << "\n";
    return kExitFailure;
  }
  if (args.has("--json")) {
    printJson(file, *report, io.out);
  } else {
    printText(file, *report, io.out);
  }
  switch (report->status) {
    case ev::VerifyStatus::Valid:
      return kExitOk;
    case ev::VerifyStatus::Invalid:
      return kExitFailure;
    case ev::VerifyStatus::Indeterminate:
      return kExitIndeterminate;
  }
  return kExitIndeterminate;
}

// "mailto:alice@example.test" -> {"mailto", "alice@example.test"}.
std::optional<ev::Identifier> parseIdentifier(const std::string& s) {
  const std::size_t colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return std::nullopt;
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return std::nullopt;
  }
  return ev::Identifier{s.substr(0, colon), s.substr(colon + 1)};
}

std::optional<ev::Event> parseEvent(const std::string& s) {
  if (auto e = ev::eventFromName(s)) return e;
  for (ev::Event e : ev::kAllEvents) {
    if (ev::eventCode(e) == s) return e;
  }
  return std::nullopt;
}

// SHA-256 of a file of at most 256 MiB. False (with `why`) on an I/O error or a larger file.
bool sha256OfFile(const std::string& path, std::string& digest, std::string& why) {
  // The base library offers a one-shot sha256(), so the file is bounded rather than streamed
  // (a REM message is at most http.max_body_bytes, 64 MiB by default).
  constexpr std::size_t kMaxContentBytes = 256u * 1024 * 1024;
  std::string data;
  if (!readBounded(path, kMaxContentBytes + 1, data, why)) return false;
  if (data.size() > kMaxContentBytes) {
    why = path + " is larger than 256 MiB";
    return false;
  }
  digest = crypto::sha256(data);
  return true;
}

// Writes `data` to `path`: refuses an existing file unless `force` (then replaces it atomically
// through a temporary file in the same directory).
bool writeOutput(const std::string& path, const std::string& data, bool force, std::string& why) {
  const std::string target = force ? path + ".tmp-erdsctl" : path;
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  if (force) ::unlink(target.c_str());
  const int fd = ::open(target.c_str(), flags, 0644);
  if (fd < 0) {
    why = (errno == EEXIST ? path + " exists (use --force to replace it)"
                           : "cannot create " + target + ": " + errnoText());
    return false;
  }
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      why = "cannot write " + target + ": " + errnoText();
      ::close(fd);
      ::unlink(target.c_str());
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    why = "cannot write " + target + ": " + errnoText();
    ::unlink(target.c_str());
    return false;
  }
  if (force && ::rename(target.c_str(), path.c_str()) != 0) {
    why = "cannot rename " + target + " to " + path + ": " + errnoText();
    ::unlink(target.c_str());
    return false;
  }
  return true;
}

std::string randomId() {
  return crypto::toHex(crypto::randomBytes(16));
}

int evidenceIssue(const Args& args, Io& io) {
  const std::string prefix = "erdsctl evidence issue: ";
  auto usage = [&](const std::string& msg) {
    io.err << prefix << msg << "\n";
    return kExitUsage;
  };
  auto event = parseEvent(args.get("--event"));
  if (!event) {
    return usage("unknown event '" + args.get("--event") +
                 "' (see 'erdsctl evidence events' for the 19 names)");
  }
  const std::string eventLabel =
      std::string(ev::eventName(*event)) + " (" + std::string(ev::eventCode(*event)) + ")";
  const char group = ev::eventGroup(*event);
  if (group == 'B' && !args.has("--external-erds"))
    return usage("event " + eventLabel + " needs --external-erds URI (M05 ExternalERDSDetails)");
  if (group == 'F' && !args.has("--external-system"))
    return usage("event " + eventLabel + " needs --external-system URI (M04 ExternalSystem)");
  if (group != 'B' && args.has("--external-erds"))
    return usage("--external-erds applies only to relay events (B.x), not " + eventLabel);
  if (group != 'F' && args.has("--external-system"))
    return usage("--external-system applies only to non-ERDS events (F.x), not " + eventLabel);
  std::optional<ev::Reason> reason;
  if (args.has("--reason")) {
    reason = ev::reasonFromCode(args.get("--reason"));
    if (!reason) return usage("unknown reason code '" + args.get("--reason") + "' (e.g. RA01)");
    if (!ev::reasonAppliesTo(*reason, *event))
      return usage("reason " + args.get("--reason") + " does not apply to " + eventLabel);
  }
  auto sender = parseIdentifier(args.get("--sender"));
  if (!sender)
    return usage("--sender: '" + args.get("--sender") +
                 "' is not scheme:value (e.g. mailto:alice@example.test)");
  std::vector<ev::Identifier> recipients;
  for (const auto& r : args.getAll("--recipient")) {
    auto id = parseIdentifier(r);
    if (!id)
      return usage("--recipient: '" + r + "' is not scheme:value (e.g. mailto:bob@example.test)");
    recipients.push_back(*id);
  }
  const std::string out = args.get("--out");
  const bool force = args.has("--force");
  std::error_code ec;
  if (!force && std::filesystem::exists(out, ec)) {
    io.err << prefix << out << " exists (use --force to replace it)\n";
    return kExitFailure;
  }
  std::string contentDigest;
  if (args.has("--content")) {
    std::string why;
    if (!sha256OfFile(args.get("--content"), contentDigest, why)) return usage("--content: " + why);
  }

  const std::string pki = args.get("--pki");
  auto fileSigner = ev::FileKeySigner::fromDirectory(pki, {kSealKeyLabel, kTsuKeyLabel});
  if (!fileSigner) return usage("--pki " + pki + ": " + fileSigner.error().message);
  std::shared_ptr<ev::Signer> signer(std::move(fileSigner).value());
  auto sealInfo = signer->keyInfo(kSealKeyLabel);
  if (!sealInfo) return usage("--pki " + pki + ": " + sealInfo.error().message);

  const Clock& clock = SystemClock::instance();
  ev::Rfc3161TsuOptions tsuOptions;
  tsuOptions.keyLabel = kTsuKeyLabel;
  tsuOptions.policyOid = kDevelopmentTsaPolicy;
  // Development PKI on a developer machine: tokens are issued even if the kernel does not report
  // a synchronised clock (erdsd in basic/qualified mode refuses then).
  tsuOptions.requireSyncedClock = false;
  auto tsu = ev::Rfc3161Tsu::create(signer, tsuOptions, clock);
  if (!tsu) return usage("--pki " + pki + " (tsu): " + tsu.error().message);

  const TimePoint now = std::chrono::time_point_cast<std::chrono::microseconds>(clock.now());
  const std::string id = randomId();
  ev::EvidenceBuilder b(*event);
  b.evidenceIdentifier("urn:uuid:" + id.substr(0, 8) + "-" + id.substr(8, 4) + "-" +
                       id.substr(12, 4) + "-" + id.substr(16, 4) + "-" + id.substr(20))
      .eventTime(now)
      .messageIdentifier("<" + randomId() + "@erdsctl.invalid>");
  if (reason) b.reason(*reason);
  ev::EntityDetails issuer;
  issuer.identity.push_back(ev::legalName("erds DEVELOPMENT (erdsctl evidence issue)"));
  issuer.x509CertificateDer = sealInfo->certificateDer;
  b.issuer(std::move(issuer));
  ev::Party senderParty;
  senderParty.identifier = *sender;
  b.sender(senderParty);
  for (const auto& r : recipients) {
    ev::Party p;
    p.identifier = r;
    b.addRecipient(p);
  }
  if (group != 'F') b.submissionTime(now);
  if (group == 'C' || group == 'D' || group == 'E') b.refersToRecipient(1);
  if (group == 'B') {
    ev::EntityDetails other;
    other.identity.push_back(ev::legalName(args.get("--external-erds")));
    b.externalErds(std::move(other)).relayEvidenceRefersTo(1);
  }
  if (group == 'F') b.externalSystem(args.get("--external-system"));
  if (args.has("--subject")) b.subject(args.get("--subject"));
  if (contentDigest.empty()) {
    ev::UserContentInfo info;
    ev::PartInfo part;
    part.identifier = std::string(ev::kRemOriginalPartId);
    part.contentType = "message/rfc822";
    info.parts.push_back(std::move(part));
    b.userContentInfo(std::move(info));
  } else {
    b.userContentInfo(
        ev::remUserContentInfo("<" + randomId() + "@erdsctl.invalid>", contentDigest));
  }
  auto evidence = b.build();
  if (!evidence) return usage(evidence.error().message);
  auto xml = ev::writeEvidenceXml(*evidence);
  if (!xml) return usage(xml.error().message);

  // The root's CRL written by `erdsctl pki init` is kept in the evidence (revocation values), as
  // erdsd does with signer.crl_files; a PKI directory without one seals without revocation data.
  ev::SealerOptions sealerOptions;
  if (const std::string crlPath = pki + "/root-ca.crl.pem"; ::access(crlPath.c_str(), F_OK) == 0) {
    std::string pem;
    std::string crlWhy;
    if (!readBounded(crlPath, kMaxEvidenceBytes, pem, crlWhy)) return usage("--pki " + pki + ": " + crlWhy);
    sealerOptions.crlsPem.push_back(std::move(pem));
  }
  auto sealer = ev::EvidenceSealer::create(
      signer, std::shared_ptr<ev::TimestampAuthority>(std::move(tsu).value()), clock, std::move(sealerOptions));
  if (!sealer) {
    io.err << prefix << sealer.error().message << "\n";
    return kExitFailure;
  }
  auto sealed = (*sealer)->seal(*xml, kSealKeyLabel);
  if (!sealed) {
    io.err << prefix << "sealing failed: " << sealed.error().message << "\n";
    return kExitFailure;
  }
  std::string why;
  if (!writeOutput(out, sealed->document, force, why)) {
    io.err << prefix << why << "\n";
    return kExitFailure;
  }
  const ev::Reason shown = reason ? *reason : ev::defaultReason(*event);
  io.out << "wrote " << out << "\n"
         << "  event:      " << eventLabel << "\n"
         << "  reason:     " << ev::reasonCode(shown) << " (" << ev::reasonName(shown) << ")\n"
         << "  identifier: " << evidence->evidenceIdentifier << "\n"
         << "  event time: " << formatRfc3339(now, false) << "\n"
         << "  time-stamp: " << formatRfc3339(sealed->timestamp.genTime, false) << " (serial "
         << sealed->timestamp.serialHex << ")\n"
         << "  revocation: "
         << (sealed->revocationDataDer.empty() ? "none kept (no root-ca.crl.pem in the PKI directory)"
                                               : "CRL kept in the evidence (xades:RevocationValues)")
         << "\n"
         << "  sealed with the DEVELOPMENT PKI in " << pki << "\n";
  return kExitOk;
}

int evidenceEvents(const Args&, Io& io) {
  io.out << "code  event                             default reason\n";
  for (ev::Event e : ev::kAllEvents) {
    const std::string name(ev::eventName(e));
    const ev::Reason r = ev::defaultReason(e);
    std::string line = std::string(ev::eventCode(e)) + "   " + name;
    line.resize(std::max<std::size_t>(line.size() + 1, 40), ' ');
    line += std::string(ev::reasonCode(r)) + " " + std::string(ev::reasonName(r));
    if (ev::eventGroup(e) == 'B') line += "   (needs --external-erds)";
    if (ev::eventGroup(e) == 'F') line += "   (needs --external-system)";
    io.out << line << "\n";
  }
  return kExitOk;
}

}  // namespace

Command evidenceVerifyCommand() {
  return Command{
      .path = "evidence verify",
      .help = "verify a sealed evidence (XAdES-B-T): signature, chain, time-stamp, event time",
      .usage =
          "FILE --trust CA.pem [--trust CA.pem]... [--tsa-trust CA.pem]... [--crl FILE]... "
          "[--ocsp FILE]... [--online [--timeout DURATION]] [--require-revocation] "
          "[--max-event-skew DURATION] [--json]",
      .options = {{"--trust", "CA.pem", true, true},
                  {"--tsa-trust", "CA.pem", false, true},
                  {"--crl", "FILE", false, true},
                  {"--ocsp", "FILE", false, true},
                  {"--online", "", false},
                  {"--timeout", "DURATION", false},
                  {"--require-revocation", "", false},
                  {"--max-event-skew", "DURATION", false},
                  {"--json", "", false}},
      .positionalNames = {"FILE"},
      .details =
          "--trust: PEM trust anchors for the seal certificate (a file may hold several).\n"
          "--tsa-trust: anchors for the time-stamping unit (default: the --trust anchors).\n"
          "--crl: PEM CRLs for the seal chain and the TSA certificate; with --require-revocation\n"
          "a chain without revocation information is INDETERMINATE. The chains are validated as of\n"
          "the time-stamp time, with the CRLs and OCSP responses the evidence embeds and these.\n"
          "--ocsp: OCSP responses (DER or PEM \"OCSP RESPONSE\"), e.g. from `openssl ocsp -respout`;\n"
          "used only if signed by the certificate's issuer or a responder it authorised.\n"
          "--online: fetch what is missing (OCSP from the certificates' AIA URL, CRLs from their\n"
          "cRLDistributionPoints, http/https, no redirects, 64 KiB / 10 MiB limits); without it\n"
          "the network is never used. --timeout: per request (default 10s).\n"
          "A revoked seal or TSA certificate is INVALID; the report names the revocation source.\n"
          "--max-event-skew: largest |EventTime - time-stamp time| (default 60s; 30m, 2h, ...).\n"
          "Files over 4 MiB are invalid. Exit codes: 0 valid, 1 invalid (first reason printed),\n"
          "3 indeterminate (EN 319 102-1), 2 usage or I/O error.",
      .handler = evidenceVerify,
  };
}

Command evidenceIssueCommand() {
  return Command{
      .path = "evidence issue",
      .help = "build and seal one evidence with the DEVELOPMENT PKI (testing and demos)",
      .usage =
          "--pki DIR --event NAME [--reason CODE] --sender mailto:... --recipient mailto:... "
          "[--subject TEXT] [--content FILE] [--external-erds URI] [--external-system URI] "
          "--out FILE [--force]",
      .options = {{"--pki", "DIR", true},
                  {"--event", "NAME", true},
                  {"--reason", "CODE", false},
                  {"--sender", "mailto:...", true},
                  {"--recipient", "mailto:...", true, true},
                  {"--subject", "TEXT", false},
                  {"--content", "FILE", false},
                  {"--external-erds", "URI", false},
                  {"--external-system", "URI", false},
                  {"--out", "FILE", true},
                  {"--force", "", false}},
      .positionalNames = {},
      .details =
          "Seals with DIR/seal.key + seal.pem and time-stamps with the built-in RFC 3161 unit "
          "over\n"
          "DIR/tsu.key + tsu.pem (as written by 'erdsctl pki init'). DEVELOPMENT ONLY: the unit\n"
          "issues tokens even when the system clock is not reported synchronised\n"
          "(requireSyncedClock=false); production evidence comes from erdsd via erds-signer.\n"
          "--event: a name or code (SubmissionAcceptance or A.1; see 'erdsctl evidence events').\n"
          "Without --reason the event's default reason is used. The evidence refers to the first\n"
          "recipient (index 1) where the event needs it. Relay events (B.x) need --external-erds,\n"
          "non-ERDS events (F.x) --external-system. --content FILE: its SHA-256 goes into the\n"
          "evidence's UserContentInfo. FILE is never overwritten without --force (exit 1).",
      .handler = evidenceIssue,
  };
}

Command evidenceEventsCommand() {
  return Command{
      .path = "evidence events",
      .help = "list the 19 EN 319 522-1 events and their default reason codes",
      .usage = "",
      .options = {},
      .positionalNames = {},
      .details = {},
      .handler = evidenceEvents,
  };
}

}  // namespace erds::ctl::internal
