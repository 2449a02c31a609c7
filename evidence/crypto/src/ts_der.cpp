#include "ts_der.h"

#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>

#include "openssl_util.h"

namespace erds::evidence::internal {

namespace {

constexpr unsigned char kSequence = 0x30;
constexpr unsigned char kSet = 0x31;
constexpr unsigned char kInteger = 0x02;
constexpr unsigned char kOctetString = 0x04;
constexpr unsigned char kUtcTime = 0x17;
constexpr unsigned char kGeneralizedTime = 0x18;
constexpr unsigned char kContext0 = 0xA0;       // [0] constructed
constexpr unsigned char kDirectoryName = 0xA4;  // GeneralName [4] (EXPLICIT: Name is a CHOICE)
constexpr unsigned char kImplicit0 = 0x80;      // [0] IMPLICIT INTEGER (Accuracy.millis)
constexpr unsigned char kImplicit1 = 0x81;      // [1] IMPLICIT INTEGER (Accuracy.micros)

void appendLength(std::string& out, std::size_t n) {
  if (n < 0x80) {
    out += static_cast<char>(n);
    return;
  }
  unsigned char buf[sizeof(std::size_t)];
  int len = 0;
  for (std::size_t v = n; v != 0; v >>= 8)
    buf[len++] = static_cast<unsigned char>(v & 0xff);
  out += static_cast<char>(0x80 | len);
  while (len > 0)
    out += static_cast<char>(buf[--len]);
}

std::string oidTlv(int nid) {
  return toDerOnce(OBJ_nid2obj(nid), i2d_ASN1_OBJECT);
}

// AlgorithmIdentifier { nid, parameters } with `paramType` V_ASN1_NULL or V_ASN1_UNDEF (absent).
std::string algorithmTlv(int nid, int paramType) {
  std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR_free>> alg(X509_ALGOR_new());
  if (!alg || X509_ALGOR_set0(alg.get(), OBJ_nid2obj(nid), paramType, nullptr) != 1) return {};
  return toDerOnce(alg.get(), i2d_X509_ALGOR);
}

std::string smallInteger(long v) {
  std::string mag;
  for (unsigned long u = static_cast<unsigned long>(v); u != 0; u >>= 8)
    mag.insert(mag.begin(), static_cast<char>(u & 0xff));
  return derUnsignedInteger(mag);
}

// Attribute ::= SEQUENCE { type OID, values SET OF (one value) }.
std::string attribute(std::string_view oid, std::string_view valueTlv) {
  std::string body(oid);
  derAppendTlv(body, kSet, valueTlv);
  return derTlv(kSequence, body);
}

// The OIDs a token needs per call, encoded once.
struct Oids {
  std::string contentType = oidTlv(NID_pkcs9_contentType);
  std::string messageDigest = oidTlv(NID_pkcs9_messageDigest);
  std::string signingTime = oidTlv(NID_pkcs9_signingTime);
  std::string signingCertV2 = oidTlv(NID_id_smime_aa_signingCertificateV2);
  std::string tstInfo = oidTlv(NID_id_smime_ct_TSTInfo);
  std::string signedData = oidTlv(NID_pkcs7_signed);
};
const Oids& oids() {
  static const Oids o;
  return o;
}

// SHA-256 fetched from the default provider once (EVP_sha256() implies a fetch on every use).
const EVP_MD* sha256Md() {
  static EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched;
  }();
  return md != nullptr ? md : EVP_sha256();
}

std::string sha256(std::string_view data) {
  unsigned char md[32];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, sha256Md(), nullptr) != 1 || len != 32)
    return {};
  return std::string(reinterpret_cast<const char*>(md), len);
}

// signingTime as PKCS7_add0_attrib_signing_time(si, NULL) writes it (X509_gmtime_adj: UTCTime for
// 1950..2049, GeneralizedTime otherwise).
std::string signingTimeTlv(std::time_t t) {
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) return {};
  const int year = tm.tm_year + 1900;
  if (year >= 1950 && year < 2050) return derTlv(kUtcTime, utcTimeString(t));
  return derTlv(kGeneralizedTime, genTimeString(static_cast<long long>(t), 0, 0));
}

}  // namespace

void derAppendTlv(std::string& out, unsigned char tag, std::string_view content) {
  out += static_cast<char>(tag);
  appendLength(out, content.size());
  out.append(content);
}

std::string derTlv(unsigned char tag, std::string_view content) {
  std::string out;
  out.reserve(content.size() + 6);
  derAppendTlv(out, tag, content);
  return out;
}

std::string derUnsignedInteger(std::string_view bigEndian) {
  std::size_t i = 0;
  while (i < bigEndian.size() && bigEndian[i] == '\0')
    ++i;
  std::string content;
  if (i == bigEndian.size()) {
    content.assign(1, '\0');
  } else {
    if ((static_cast<unsigned char>(bigEndian[i]) & 0x80) != 0) content += '\0';
    content.append(bigEndian.substr(i));
  }
  return derTlv(kInteger, content);
}

std::string genTimeString(long long sec, long usec, int digits) {
  const std::time_t t = static_cast<std::time_t>(sec);
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) return {};
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<std::size_t>(n));
  if (digits > 0) {
    std::snprintf(buf, sizeof buf, ".%06ld", usec);
    std::string frac(buf, static_cast<std::size_t>(1 + std::min(digits, 6)));
    while (frac.back() == '0')
      frac.pop_back();
    if (frac != ".") out += frac;
  }
  out += 'Z';
  return out;
}

std::string utcTimeString(std::time_t t) {
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) return {};
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string derSetOf(std::vector<std::string> elements) {
  // X.690 11.6: ascending order of the encodings (OpenSSL's der_cmp: memcmp, then shorter first).
  std::sort(elements.begin(), elements.end());
  std::string out;
  for (const auto& e : elements)
    out += e;
  return out;
}

Result<TstTokenEncoder> TstTokenEncoder::create(X509* cert, STACK_OF(X509) * chain,
                                                const Rfc3161TsuOptions& options) {
  if (cert == nullptr) return Error::invalidInput("fast TSU path: no certificate");
  if (options.clockPrecisionDigits < 0 || options.clockPrecisionDigits > 6)
    return Error::invalidInput("fast TSU path: clock precision out of range");
  TstTokenEncoder e;
  e.precisionDigits_ = options.clockPrecisionDigits;

  Asn1ObjPtr policy(OBJ_txt2obj(options.policyOid.c_str(), 1));
  if (!policy) {
    clearErrors();
    return Error::invalidInput("fast TSU path: bad policy OID");
  }
  e.policyTlv_ = toDerOnce(policy.get(), i2d_ASN1_OBJECT);

  // MessageImprint.hashAlgorithm as buildTimestampRequest writes it (X509_ALGOR_set_md); the
  // TSU copies the request's imprint into TSTInfo.
  {
    std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR_free>> alg(X509_ALGOR_new());
    if (!alg) return opensslError(ErrorCode::Internal, "X509_ALGOR_new");
    X509_ALGOR_set_md(alg.get(), EVP_sha256());
    const std::string algDer = toDerOnce(alg.get(), i2d_X509_ALGOR);
    std::string head;
    head += static_cast<char>(kSequence);
    appendLength(head, algDer.size() + 2 + 32);
    head += algDer;
    head += static_cast<char>(kOctetString);
    head += static_cast<char>(32);
    e.imprintPrefix_ = std::move(head);
  }

  // Accuracy: TS_RESP_CTX_set_accuracy sets only the non-zero parts.
  {
    const long acc = static_cast<long>(options.accuracy.count());
    const long secs = acc / 1000000, millis = (acc / 1000) % 1000, micros = acc % 1000;
    std::string body;
    if (secs != 0) body += smallInteger(secs);
    if (millis != 0) {
      std::string v = smallInteger(millis);
      v[0] = static_cast<char>(kImplicit0);
      body += v;
    }
    if (micros != 0) {
      std::string v = smallInteger(micros);
      v[0] = static_cast<char>(kImplicit1);
      body += v;
    }
    if (!body.empty()) e.accuracyTlv_ = derTlv(kSequence, body);
  }

  if (options.includeTsaName) {
    const std::string name = toDerOnce(X509_get_subject_name(cert), i2d_X509_NAME);
    if (name.empty()) return opensslError(ErrorCode::InvalidInput, "fast TSU path: subject");
    e.tsaTlv_ = derTlv(kContext0, derTlv(kDirectoryName, name));
  }

  e.contentTypeAttr_ = attribute(oids().contentType, oids().tstInfo);

  // ESS signingCertificateV2 exactly as ts_RESP_sign builds it (ess_cert_id_digest SHA-256,
  // TS_ESS_CERT_ID_CHAIN not set: the TSU certificate only).
  {
    std::unique_ptr<ESS_SIGNING_CERT_V2, Deleter<ESS_SIGNING_CERT_V2_free>> sc(
        OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, nullptr, 0));
    if (!sc) return opensslError(ErrorCode::InvalidInput, "fast TSU path: signingCertificateV2");
    const std::string der = toDerOnce(sc.get(), i2d_ESS_SIGNING_CERT_V2);
    if (der.empty()) return opensslError(ErrorCode::Internal, "i2d_ESS_SIGNING_CERT_V2");
    e.signingCertAttr_ = attribute(oids().signingCertV2, der);
  }

  const std::string digestAlg = algorithmTlv(NID_sha256, V_ASN1_NULL);
  e.signedDataHead_ = smallInteger(3) + derTlv(kSet, digestAlg);

  // The request always asks for the certificate: the TSU certificate, then the chain in order.
  {
    std::string certs = certificateDer(cert);
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i)
      certs += certificateDer(sk_X509_value(chain, i));
    e.certificatesTlv_ = derTlv(kContext0, certs);
  }

  {
    std::string sid = toDerOnce(X509_get_issuer_name(cert), i2d_X509_NAME);
    sid += toDerOnce(X509_get0_serialNumber(cert), i2d_ASN1_INTEGER);
    e.signerHead_ = smallInteger(1) + derTlv(kSequence, sid) + digestAlg;
  }

  // SignerInfo.signatureAlgorithm as PKCS7_SIGNER_INFO_set sets it.
  const int keyType = EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
  if (keyType == EVP_PKEY_EC)
    e.signatureAlgTlv_ = algorithmTlv(NID_ecdsa_with_SHA256, V_ASN1_UNDEF);
  else if (keyType == EVP_PKEY_RSA)
    e.signatureAlgTlv_ = algorithmTlv(NID_rsaEncryption, V_ASN1_NULL);
  else
    return Error::invalidInput("fast TSU path: key type is neither EC nor RSA");

  if (e.policyTlv_.empty() || e.contentTypeAttr_.empty() || digestAlg.empty() ||
      e.signatureAlgTlv_.empty() || e.certificatesTlv_.size() < 4 || e.signerHead_.size() < 8)
    return opensslError(ErrorCode::Internal, "fast TSU path: encoding fixed parts");
  return e;
}

std::string TstTokenEncoder::encodeTstInfo(const TstTokenInputs& in) const {
  std::string body;
  body.reserve(512);
  body += "\x02\x01\x01";  // version 1
  body += policyTlv_;
  body += imprintPrefix_;
  body.append(in.sha256Digest);
  body += derUnsignedInteger(in.serial);
  derAppendTlv(body, kGeneralizedTime,
               genTimeString(in.genTimeSec, in.genTimeUsec, precisionDigits_));
  body += accuracyTlv_;
  // ordering: never set (DEFAULT FALSE is not encoded).
  if (!in.nonce.empty()) body += derUnsignedInteger(in.nonce);
  body += tsaTlv_;
  return derTlv(kSequence, body);
}

Result<std::string> TstTokenEncoder::encode(const TstTokenInputs& in,
                                            const DigestSignFn& sign) const {
  if (in.sha256Digest.size() != 32)
    return Error::invalidInput("time-stamp request: digest must be 32 bytes (SHA-256)");
  if (in.serial.empty()) return Error::invalidInput("fast TSU path: empty serial");
  const std::string tstInfo = encodeTstInfo(in);
  const std::string tstDigest = sha256(tstInfo);
  const std::string signingTime = signingTimeTlv(in.signingTime);
  if (tstDigest.empty() || signingTime.empty())
    return opensslError(ErrorCode::Internal, "fast TSU path: digest/time");

  const std::string attrs =
      derSetOf({contentTypeAttr_, signingCertAttr_, attribute(oids().signingTime, signingTime),
                attribute(oids().messageDigest, derTlv(kOctetString, tstDigest))});
  const std::string attrsDigest = sha256(derTlv(kSet, attrs));
  if (attrsDigest.empty()) return opensslError(ErrorCode::Internal, "SHA-256");
  auto signature = sign(attrsDigest);
  if (!signature) return std::move(signature).error();

  std::string signerInfo = signerHead_;
  derAppendTlv(signerInfo, kContext0, attrs);
  signerInfo += signatureAlgTlv_;
  derAppendTlv(signerInfo, kOctetString, *signature);

  std::string encap = oids().tstInfo;
  derAppendTlv(encap, kContext0, derTlv(kOctetString, tstInfo));

  std::string signedData;
  signedData.reserve(certificatesTlv_.size() + tstInfo.size() + attrs.size() + 512);
  signedData += signedDataHead_;
  derAppendTlv(signedData, kSequence, encap);
  signedData += certificatesTlv_;
  derAppendTlv(signedData, kSet, derTlv(kSequence, signerInfo));

  std::string contentInfo = oids().signedData;
  derAppendTlv(contentInfo, kContext0, derTlv(kSequence, signedData));
  return derTlv(kSequence, contentInfo);
}

}  // namespace erds::evidence::internal
