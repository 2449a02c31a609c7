#include "erds/smtp/rem_peer_verifier.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "erds/smtp/core_submission_sink.h"
#include "mime_raw.h"

namespace erds::smtp {

namespace {

struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct BioFree { void operator()(BIO* b) const { BIO_free_all(b); } };

std::string subjectOf(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, X509Free> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x) return "";
  std::unique_ptr<BIO, BioFree> b(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(b.get(), X509_get_subject_name(x.get()), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "";
}

}  // namespace

RemPeerVerifier::RemPeerVerifier(RemTrust trust, std::shared_ptr<const evidence::EvidenceVerifier> evidence,
                                 std::chrono::seconds maxEventTimeSkew)
    : trust_(std::move(trust)), evidence_(std::move(evidence)), skew_(maxEventTimeSkew) {}

Result<std::shared_ptr<const RemPeerVerifier>> RemPeerVerifier::create(const std::string& peersPem,
                                                                       std::chrono::seconds maxEventTimeSkew) {
  RemTrust trust;
  std::unique_ptr<BIO, BioFree> b(BIO_new_mem_buf(peersPem.data(), static_cast<int>(peersPem.size())));
  while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
    std::unique_ptr<X509, X509Free> owned(x);
    const int len = i2d_X509(x, nullptr);
    if (len <= 0) continue;
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(x, &p);
    trust.pinnedSignersDer.push_back(std::move(der));
  }
  if (trust.pinnedSignersDer.empty()) return Error::invalidInput("no certificate in the pinned peer PEM");
  trust.anchorsPem = {peersPem};
  // Peer certificates are valid now; we check them as of now, not of a claimed signing time.
  trust.atSigningTime = false;
  evidence::VerifierTrust vt;
  vt.sealAnchorsPem = {peersPem};
  auto ev = evidence::EvidenceVerifier::create(vt);
  if (!ev) return std::move(ev).error();
  return std::shared_ptr<const RemPeerVerifier>(
      std::make_shared<RemPeerVerifier>(std::move(trust), std::move(ev).value(), maxEventTimeSkew));
}

Result<std::shared_ptr<const RemPeerVerifier>> RemPeerVerifier::fromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::notFound("cannot read pinned peer certificates " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = create(ss.str());
  if (!r) return Error::invalidInput(path + ": " + r.error().message);
  return r;
}

bool RemPeerVerifier::looksLikeRem(const MessageData& message) {
  std::string head;
  (void)forEachChunk(message, 64 * 1024, [&](std::string_view c) -> Result<void> {
    head.append(c);
    if (head.size() >= 256 * 1024 || head.find("\r\n\r\n") != std::string::npos) return Error::invalidInput("enough");
    return {};
  });
  const auto end = head.find("\r\n\r\n");
  if (end != std::string::npos) head.resize(end + 2);
  // Field names at line starts (folded lines start with WSP and are skipped).
  std::size_t pos = 0;
  while (pos < head.size()) {
    if (head.size() - pos >= 4 && internal::iequals(std::string_view(head).substr(pos, 4), "rem-")) return true;
    const auto nl = head.find("\r\n", pos);
    if (nl == std::string::npos) break;
    pos = nl + 2;
  }
  return false;
}

Result<VerifiedRemMessage> RemPeerVerifier::verify(const MessageData& message) const {
  auto parsed = message.inMemory() ? parseRemMessage(message.memory(), trust_)
                                   : parseRemMessageFile(message.filePath(), trust_, message.size() + 1);
  if (!parsed) {
    if (parsed.error().code == ErrorCode::InvalidInput)
      return Error::integrityFailure("not a verifiable REM message: " + parsed.error().message);
    return std::move(parsed).error();
  }
  VerifiedRemMessage out;
  out.signerSubject = subjectOf(parsed->signerCertificateDer);
  if (parsed->evidence.empty()) return Error::integrityFailure("REM message without evidence");
  evidence::VerifyOptions vo;
  vo.maxEventTimeSkew = skew_;
  for (const auto& ev : parsed->evidence) {
    auto report = evidence_->verify(ev.xml, vo);
    if (!report) return std::move(report).error();
    if (report->status != evidence::VerifyStatus::Valid)
      return Error::integrityFailure("evidence " + printable(ev.eventName, 60) + " is " +
                                     std::string(evidence::verifyStatusName(report->status)) + ": " +
                                     printable(report->reason, 120));
    out.evidenceEvents.push_back(report->event);
  }
  out.message = std::move(parsed).value();
  return out;
}

}  // namespace erds::smtp
