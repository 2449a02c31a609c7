// REM message builder and parser/verifier (EN 319 532-3/-4). The CMS layer always works on the
// raw bytes: signing streams the exact inner entity (CMS_BINARY, CMS_STREAM on both CMS_sign and
// SMIME_write_CMS: see TOOLCHAIN.md section 4), verification reads the received bytes with
// SMIME_read_CMS. The MIME structure is then sliced from the same raw bytes (mime_raw.h).
#include "erds/smtp/rem_message.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "base64.h"
#include "erds/evidence/forwarding_key.h"
#include "mime_raw.h"

namespace erds::smtp {

namespace {

struct BioDeleter { void operator()(BIO* b) const { BIO_free_all(b); } };
struct CmsDeleter { void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); } };
struct X509Deleter { void operator()(X509* x) const { X509_free(x); } };
struct StoreDeleter { void operator()(X509_STORE* s) const { X509_STORE_free(s); } };
struct StackDeleter { void operator()(STACK_OF(X509)* s) const { sk_X509_pop_free(s, X509_free); } };
struct EssDeleter { void operator()(ESS_SIGNING_CERT_V2* e) const { ESS_SIGNING_CERT_V2_free(e); } };
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using StackPtr = std::unique_ptr<STACK_OF(X509), StackDeleter>;

std::string drainErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error" : out;
}

std::string randomBoundary() {
  unsigned char r[12];
  if (RAND_bytes(r, sizeof r) != 1) std::memset(r, 0x5a, sizeof r);
  static const char* kHex = "0123456789ABCDEF";
  std::string b = "----=_erds_";
  for (unsigned char c : r) {
    b += kHex[c >> 4];
    b += kHex[c & 15];
  }
  return b;
}

bool headerSafe(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += sep;
    out += v[i];
  }
  return out;
}

std::string htmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// RFC 2047 encoded-word for a non-ASCII subject (UTF-8, base64).
std::string encodeHeaderText(std::string_view s) {
  if (headerSafe(s)) return std::string(s);
  return "=?UTF-8?B?" + internal::base64Encode(s) + "?=";
}

Result<StackPtr> parseDerChain(std::string_view ders) {
  StackPtr st(sk_X509_new_null());
  const auto* p = reinterpret_cast<const unsigned char*>(ders.data());
  const unsigned char* end = p + ders.size();
  while (p < end) {
    X509* x = d2i_X509(nullptr, &p, end - p);
    if (x == nullptr) return Error::internal("bad chain DER: " + drainErrors());
    sk_X509_push(st.get(), x);
  }
  return st;
}

std::string qpDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=' && i + 2 < in.size() + 0 && i + 1 < in.size()) {
      if (in[i + 1] == '\r' && i + 2 < in.size() && in[i + 2] == '\n') {
        i += 2;
        continue;
      }
      if (in[i + 1] == '\n') {
        i += 1;
        continue;
      }
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        return -1;
      };
      if (i + 2 < in.size() + 1 && i + 2 <= in.size() - 1) {
        int a = hex(in[i + 1]), b = hex(in[i + 2]);
        if (a >= 0 && b >= 0) {
          out += static_cast<char>(a * 16 + b);
          i += 2;
          continue;
        }
      }
    }
    out += c;
  }
  return out;
}

Result<std::string> decodeBody(std::string_view body, std::string_view cte) {
  std::string enc = internal::toLower(cte);
  if (enc == "base64") {
    auto d = internal::base64Decode(body, true);
    if (!d) return Error::invalidInput("bad base64 in MIME part");
    return *d;
  }
  if (enc == "quoted-printable") return qpDecode(body);
  return std::string(body);
}

}  // namespace

std::string remDigest(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return internal::base64Encode(std::string_view(reinterpret_cast<char*>(md), len));
}

Result<std::string> buildRemMessage(const RemMessageSpec& spec, std::shared_ptr<evidence::Signer> signer,
                                    std::string_view keyLabel) {
  if (!signer) return Error::invalidInput("no signer");
  if (spec.serviceAddress.empty() || spec.messageId.empty() || spec.eventIdentifier.empty() ||
      spec.evidenceId.empty() || spec.date.empty())
    return Error::invalidInput("REM message needs service address, Message-ID, Date, event and evidence ids");
  for (const std::string* v : {&spec.serviceAddress, &spec.senderAddress, &spec.messageId, &spec.date,
                               &spec.relayDate, &spec.originalMessageId, &spec.eventIdentifier,
                               &spec.evidenceId, &spec.eventName}) {
    if (!headerSafe(*v)) return Error::invalidInput("header value with control or non-ASCII characters");
  }
  for (const auto* list : {&spec.to, &spec.cc, &spec.reasonIdentifiers, &spec.policies}) {
    for (const auto& v : *list) {
      if (!headerSafe(v)) return Error::invalidInput("header value with control or non-ASCII characters");
    }
  }
  if (spec.kind == RemKind::Dispatch && spec.originalMessage.empty())
    return Error::invalidInput("a REM dispatch needs the original message");
  std::string original = spec.originalMessage;
  for (std::size_t i = 0; i < original.size(); ++i) {
    if (original[i] == '\n' && (i == 0 || original[i - 1] != '\r'))
      return Error::invalidInput("original message has bare LF line ends");
  }
  if (!original.empty() && !original.ends_with("\r\n")) original += "\r\n";
  for (const auto& e : spec.evidence) {
    if (e.eventName.empty() || !headerSafe(e.eventName) || e.eventName.find('"') != std::string::npos)
      return Error::invalidInput("bad evidence event name");
  }

  // The signed entity: multipart/mixed {introduction, original, evidence...}.
  std::string mixB = randomBoundary();
  std::string altB = randomBoundary();
  std::string intro = spec.introduction;
  std::string html = "<!DOCTYPE html><html><body><pre>" + htmlEscape(intro) + "</pre></body></html>";
  std::string inner;
  inner += "Content-Type: multipart/mixed;\r\n\tboundary=\"" + mixB + "\"\r\n\r\n";
  inner += "--" + mixB + "\r\n";
  inner += "REM-Section-Type: rem_message/introduction\r\n";
  inner += "Content-Type: multipart/alternative;\r\n\tboundary=\"" + altB + "\"\r\n\r\n";
  inner += "--" + altB + "\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  inner += internal::base64EncodeMime(intro);
  inner += "\r\n--" + altB + "\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  inner += internal::base64EncodeMime(html);
  inner += "\r\n--" + altB + "--\r\n";
  if (spec.kind == RemKind::Dispatch) {
    inner += "\r\n--" + mixB + "\r\n";
    inner += "Content-Type: message/rfc822; name=AttachedMimeMessage\r\n";
    inner += "Content-Transfer-Encoding: binary\r\n";
    inner += "Content-Disposition: attachment; filename=AttachedMimeMessage\r\n";
    inner += "REM-Section-Type: rem_message/original\r\n\r\n";
    inner += original;  // ends with CRLF; the next CRLF belongs to the delimiter (RFC 2046 5.1.1)
  }
  for (const auto& e : spec.evidence) {
    inner += "\r\n--" + mixB + "\r\n";
    inner += "Content-Type: application/xml; charset=UTF-8; name=\"" + e.eventName + ".xml\"\r\n";
    inner += "Content-Transfer-Encoding: base64\r\n";
    inner += "Content-Disposition: attachment; filename=\"" + e.eventName + ".xml\"\r\n";
    inner += "REM-Section-Type: rem_message/xml_evidence\r\n\r\n";
    inner += internal::base64EncodeMime(e.xml);
  }
  inner += "\r\n--" + mixB + "--\r\n";

  // Signing key and certificates.
  auto info = signer->keyInfo(keyLabel);
  if (!info) return info.error();
  auto key = evidence::makeForwardingKey(signer, keyLabel);
  if (!key) return key.error();
  const auto* cp = reinterpret_cast<const unsigned char*>(info->certificateDer.data());
  X509Ptr cert(d2i_X509(nullptr, &cp, static_cast<long>(info->certificateDer.size())));
  if (!cert) return Error::internal("bad signer certificate: " + drainErrors());
  auto chain = parseDerChain(info->chainDer);
  if (!chain) return chain.error();

  const int flags = CMS_DETACHED | CMS_STREAM | CMS_BINARY | CMS_PARTIAL | CMS_CRLFEOL;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  if (!cms) return Error::internal("CMS_sign: " + drainErrors());
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), cert.get(), key->get(), EVP_sha256(), flags & ~CMS_PARTIAL);
  if (si == nullptr) return Error::internal("CMS_add1_signer: " + drainErrors());
  // CAdES-B-B: signing-certificate-v2 (ESS, RFC 5035) as a signed attribute.
  std::unique_ptr<ESS_SIGNING_CERT_V2, EssDeleter> ess(
      OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert.get(), nullptr, 0));
  if (!ess) return Error::internal("ESS signing-certificate-v2: " + drainErrors());
  unsigned char* essDer = nullptr;
  int essLen = i2d_ESS_SIGNING_CERT_V2(ess.get(), &essDer);
  if (essLen <= 0) return Error::internal("ESS encode: " + drainErrors());
  int added = CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE, essDer, essLen);
  OPENSSL_free(essDer);
  if (added != 1) return Error::internal("add signing-certificate-v2: " + drainErrors());
  for (int i = 0; i < sk_X509_num(chain->get()); ++i) {
    if (CMS_add1_cert(cms.get(), sk_X509_value(chain->get(), i)) != 1)
      return Error::internal("CMS_add1_cert: " + drainErrors());
  }
  BioPtr in(BIO_new_mem_buf(inner.data(), static_cast<int>(inner.size())));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (SMIME_write_CMS(out.get(), cms.get(), in.get(), flags & ~CMS_PARTIAL) != 1)
    return Error::internal("SMIME_write_CMS: " + drainErrors());
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  std::string smime(data, static_cast<std::size_t>(len));

  std::string h;
  if (spec.kind == RemKind::Dispatch && !spec.senderAddress.empty()) {
    h += "From: \"On behalf of: " + spec.senderAddress + "\" <" + spec.serviceAddress + ">\r\n";
    h += "Reply-To: <" + spec.senderAddress + ">\r\n";
  } else {
    h += "From: <" + spec.serviceAddress + ">\r\n";
  }
  std::vector<std::string> to, cc;
  for (const auto& a : spec.to) to.push_back(a.find('<') == std::string::npos ? "<" + a + ">" : a);
  for (const auto& a : spec.cc) cc.push_back(a.find('<') == std::string::npos ? "<" + a + ">" : a);
  if (!to.empty()) h += "To: " + join(to, ",\r\n ") + "\r\n";
  if (!cc.empty()) h += "Cc: " + join(cc, ",\r\n ") + "\r\n";
  std::string label = spec.kind == RemKind::Dispatch ? "Dispatch" : spec.eventName;
  h += "Subject: " + encodeHeaderText("REM " + label + ": " + spec.subject) + "\r\n";
  h += "Date: " + spec.date + "\r\n";
  h += "Message-ID: " + spec.messageId + "\r\n";
  h += "REM-MetadataVersion: EN31953203V010201\r\n";
  if (!spec.relayDate.empty()) h += "REM-RelayDate: " + spec.relayDate + "\r\n";
  for (const auto& p : spec.policies) h += "REM-ApplicablePolicy: " + p + "\r\n";
  std::string_view type = spec.kind == RemKind::Dispatch  ? kRemMessageTypeDispatch
                          : spec.kind == RemKind::Receipt ? kRemMessageTypeReceipt
                                                          : kRemMessageTypeNotification;
  h += "REM-MessageType: " + std::string(type) + "\r\n";
  if (!original.empty()) {
    h += "REM-DigestAlgorithm: " + std::string(kRemDigestSha256) + "\r\n";
    h += "REM-DigestValue: " + remDigest(original) + "\r\n";
  }
  if (!spec.originalMessageId.empty()) h += "REM-UAMessageIdentifier: " + spec.originalMessageId + "\r\n";
  h += "REM-EventIdentifier: " + spec.eventIdentifier + "\r\n";
  h += "REM-Evidence-ID: " + spec.evidenceId + "\r\n";
  for (const auto& r : spec.reasonIdentifiers) h += "REM-ReasonIdentifier: " + r + "\r\n";
  return h + smime;
}

namespace {

Result<ParsedRemMessage> parseImpl(std::string_view raw, BIO* cmsInput, const RemTrust& trust) {
  ERR_clear_error();
  BIO* bcontRaw = nullptr;
  CmsPtr cms(SMIME_read_CMS(cmsInput, &bcontRaw));
  BioPtr bcont(bcontRaw);
  if (!cms) return Error::invalidInput("not an S/MIME signed message: " + drainErrors());
  if (!bcont) return Error::invalidInput("S/MIME signature is not detached (multipart/signed expected)");

  ParsedRemMessage msg;
  STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms.get());
  if (sis == nullptr || sk_CMS_SignerInfo_num(sis) != 1)
    return Error::invalidInput("exactly one CMS signer expected");
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(sis, 0);
  int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
  if (idx >= 0) {
    X509_ATTRIBUTE* attr = CMS_signed_get_attr(si, idx);
    ASN1_TYPE* t = X509_ATTRIBUTE_get0_type(attr, 0);
    if (t != nullptr && (t->type == V_ASN1_UTCTIME || t->type == V_ASN1_GENERALIZEDTIME)) {
      std::tm tm{};
      if (ASN1_TIME_to_tm(reinterpret_cast<ASN1_TIME*>(t->value.asn1_string), &tm) == 1) msg.signingTime = timegm(&tm);
    }
  }

  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  for (const auto& pem : trust.anchorsPem) {
    BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(b.get(), nullptr, nullptr, nullptr);
    if (infos == nullptr) return Error::invalidInput("bad trust anchor PEM: " + drainErrors());
    for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
      X509_INFO* xi = sk_X509_INFO_value(infos, i);
      if (xi->x509 != nullptr) X509_STORE_add_cert(store.get(), xi->x509);
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
  }
  StackPtr untrusted(sk_X509_new_null());
  for (const auto& pem : trust.untrustedPem) {
    BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) sk_X509_push(untrusted.get(), x);
    ERR_clear_error();
  }
  if (trust.atSigningTime && msg.signingTime != 0) {
    X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()), msg.signingTime);
  }
  if (!trust.pinnedSignersDer.empty()) X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  // CMS_BINARY: the signed bytes are exactly the received first part, never canonicalised.
  if (CMS_verify(cms.get(), untrusted.get(), store.get(), bcont.get(), nullptr, CMS_BINARY) != 1)
    return Error::integrityFailure("S/MIME signature verification failed: " + drainErrors());
  STACK_OF(X509)* signers = CMS_get0_signers(cms.get());
  if (signers != nullptr && sk_X509_num(signers) > 0) {
    X509* s = sk_X509_value(signers, 0);
    int len = i2d_X509(s, nullptr);
    if (len > 0) {
      msg.signerCertificateDer.resize(static_cast<std::size_t>(len));
      auto* p = reinterpret_cast<unsigned char*>(msg.signerCertificateDer.data());
      i2d_X509(s, &p);
    }
  }
  sk_X509_free(signers);
  if (!trust.pinnedSignersDer.empty() &&
      std::find(trust.pinnedSignersDer.begin(), trust.pinnedSignersDer.end(), msg.signerCertificateDer) ==
          trust.pinnedSignersDer.end())
    return Error::integrityFailure("the S/MIME signer is not a pinned peer certificate");

  // Structure, sliced from the same raw bytes.
  auto top = internal::parseEntity(raw);
  if (!top) return top.error();
  msg.messageType = top->header("REM-MessageType").value_or("");
  msg.eventIdentifier = top->header("REM-EventIdentifier").value_or("");
  msg.evidenceId = top->header("REM-Evidence-ID").value_or("");
  msg.digestAlgorithm = top->header("REM-DigestAlgorithm").value_or("");
  msg.digestValue = top->header("REM-DigestValue").value_or("");
  msg.subject = top->header("Subject").value_or("");
  msg.from = top->header("From").value_or("");
  auto ct = internal::parseContentType(top->header("Content-Type").value_or(""));
  if (!ct || ct->type != "multipart" || ct->subtype != "signed")
    return Error::invalidInput("top level is not multipart/signed");
  auto signedParts = internal::splitMultipart(top->body, ct->param("boundary"));
  if (!signedParts) return signedParts.error();
  if (signedParts->parts.size() != 2) return Error::invalidInput("multipart/signed must have two parts");
  auto inner = internal::parseEntity(signedParts->parts[0]);
  if (!inner) return inner.error();
  auto ict = internal::parseContentType(inner->header("Content-Type").value_or(""));
  if (!ict || ict->type != "multipart" || ict->subtype != "mixed")
    return Error::invalidInput("signed content is not multipart/mixed");
  auto mixed = internal::splitMultipart(inner->body, ict->param("boundary"));
  if (!mixed) return mixed.error();
  if (!mixed->closed) return Error::invalidInput("multipart/mixed not closed");
  for (auto partRaw : mixed->parts) {
    auto part = internal::parseEntity(partRaw);
    if (!part) return part.error();
    std::string section = internal::toLower(part->header("REM-Section-Type").value_or(""));
    auto pct = internal::parseContentType(part->header("Content-Type").value_or("text/plain"));
    if (!pct) return pct.error();
    std::string cte = part->header("Content-Transfer-Encoding").value_or("7bit");
    if (section == "rem_message/original" || (section.empty() && pct->type == "message" && pct->subtype == "rfc822")) {
      if (msg.original) return Error::invalidInput("more than one original message part");
      msg.original = std::string(part->body);
      msg.recomputedDigest = remDigest(*msg.original);
    } else if (section == "rem_message/xml_evidence" ||
               (section.empty() && pct->subtype == "xml" && pct->param("name").ends_with(".xml"))) {
      std::string disposition;
      auto dparams = internal::parseParams(part->header("Content-Disposition").value_or(""), &disposition);
      std::string name = dparams.count("filename") ? dparams["filename"] : pct->param("name");
      if (name.ends_with(".xml")) name.resize(name.size() - 4);
      auto xml = decodeBody(part->body, cte);
      if (!xml) return xml.error();
      msg.evidence.push_back({name, std::move(xml).value()});
    } else if (section == "rem_message/extension") {
      auto xml = decodeBody(part->body, cte);
      if (!xml) return xml.error();
      msg.extensionXml.push_back(std::move(xml).value());
    }
  }
  if (msg.original && !msg.digestValue.empty()) {
    if (msg.digestAlgorithm != kRemDigestSha256)
      return Error::invalidInput("unsupported REM-DigestAlgorithm " + msg.digestAlgorithm);
    if (*msg.recomputedDigest != msg.digestValue)
      return Error::integrityFailure("REM-DigestValue does not match the original message");
  }
  return msg;
}

}  // namespace

Result<ParsedRemMessage> parseRemMessage(std::string_view raw, const RemTrust& trust) {
  BioPtr in(BIO_new_mem_buf(raw.data(), static_cast<int>(raw.size())));
  return parseImpl(raw, in.get(), trust);
}

Result<ParsedRemMessage> parseRemMessageFile(const std::string& path, const RemTrust& trust, std::size_t maxBytes) {
  // The structure is sliced from a read-only mapping of the file (no heap copy of a large
  // message); the CMS layer reads the same file through a file BIO.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::invalidInput("cannot read " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Error::invalidInput("cannot read " + path);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size > maxBytes) {
    ::close(fd);
    return Error::invalidInput(path + " exceeds the size limit");
  }
  void* map = size == 0 ? nullptr : ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return Error::invalidInput("cannot map " + path);
  struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() {
      if (p != nullptr) ::munmap(p, n);
    }
  } unmap{map, size};
  const std::string_view raw(static_cast<const char*>(map), size);
  BioPtr in(BIO_new_file(path.c_str(), "rb"));
  if (!in) return Error::invalidInput("cannot open " + path + ": " + drainErrors());
  return parseImpl(raw, in.get(), trust);
}

}  // namespace erds::smtp
