// Internal XAdES helpers (see xades_util.h).
#include "xades_util.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <memory>

namespace erds::evidence::internal {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parseCert(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x != nullptr && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(x);
    return nullptr;
  }
  return X509Ptr(x);
}

void appendDerLength(std::string& out, std::size_t len) {
  if (len < 0x80) {
    out += static_cast<char>(len);
    return;
  }
  std::string bytes;
  while (len > 0) {
    bytes.insert(bytes.begin(), static_cast<char>(len & 0xff));
    len >>= 8;
  }
  out += static_cast<char>(0x80 | bytes.size());
  out += bytes;
}

std::string derTlv(unsigned char tag, std::string_view content) {
  std::string out(1, static_cast<char>(tag));
  appendDerLength(out, content.size());
  out.append(content);
  return out;
}

}  // namespace

Result<std::string> issuerSerialV2Der(std::string_view certDer) {
  X509Ptr cert = parseCert(certDer);
  if (!cert) return Error::invalidInput("certificate is not valid DER");
  unsigned char* nameDer = nullptr;
  const int nameLen = i2d_X509_NAME(X509_get_issuer_name(cert.get()), &nameDer);
  unsigned char* serialDer = nullptr;
  const int serialLen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert.get()), &serialDer);
  if (nameLen <= 0 || serialLen <= 0) {
    OPENSSL_free(nameDer);
    OPENSSL_free(serialDer);
    return Error::internal("cannot encode issuer/serial");
  }
  const std::string name(reinterpret_cast<char*>(nameDer), static_cast<std::size_t>(nameLen));
  const std::string serial(reinterpret_cast<char*>(serialDer), static_cast<std::size_t>(serialLen));
  OPENSSL_free(nameDer);
  OPENSSL_free(serialDer);
  // GeneralNames ::= SEQUENCE OF GeneralName; directoryName [4] Name (explicit: Name is a CHOICE).
  const std::string generalNames = derTlv(0x30, derTlv(0xa4, name));
  return derTlv(0x30, generalNames + serial);
}

Result<std::string> ecdsaDerToRaw(std::string_view der, std::size_t fieldBytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), ECDSA_SIG_free);
  if (!sig) return Error::internal("signer returned a malformed ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(2 * fieldBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, static_cast<int>(fieldBytes)) < 0 ||
      BN_bn2binpad(s, o + fieldBytes, static_cast<int>(fieldBytes)) < 0)
    return Error::internal("ECDSA signature component too large");
  return out;
}

namespace {

// Explicitly fetched digests live for the process (fetched once, never freed).
const EVP_MD* fetchedMd(const char* name) {
  return EVP_MD_fetch(nullptr, name, nullptr);
}

std::optional<std::string> digestWith(const EVP_MD* md, std::string_view data) {
  if (md == nullptr) return std::nullopt;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return std::nullopt;
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string sha256Digest(std::string_view data) {
  static const EVP_MD* const md = fetchedMd("SHA256");
  auto d = digestWith(md, data);
  ERDS_CHECK(d.has_value(), "SHA-256 digest failed");
  return std::move(*d);
}

std::optional<std::string> digestFor(std::string_view algorithmUri, std::string_view data) {
  static const EVP_MD* const sha256 = fetchedMd("SHA256");
  static const EVP_MD* const sha384 = fetchedMd("SHA384");
  static const EVP_MD* const sha512 = fetchedMd("SHA512");
  if (algorithmUri == "http://www.w3.org/2001/04/xmlenc#sha256") return digestWith(sha256, data);
  if (algorithmUri == "http://www.w3.org/2001/04/xmldsig-more#sha384") return digestWith(sha384, data);
  if (algorithmUri == "http://www.w3.org/2001/04/xmlenc#sha512") return digestWith(sha512, data);
  return std::nullopt;
}

Result<std::vector<std::string>> splitDerCertificates(std::string_view der) {
  std::vector<std::string> out;
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const auto* p = begin;
  const auto* end = begin + der.size();
  while (p < end) {
    const auto* start = p;
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(end - p));
    if (x == nullptr) return Error::invalidInput("certificate chain is not valid DER");
    X509_free(x);
    out.emplace_back(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p - start));
  }
  return out;
}

bool isSelfIssued(std::string_view certDer) {
  X509Ptr cert = parseCert(certDer);
  return cert && X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0;
}

std::string certificateSubject(std::string_view certDer) {
  X509Ptr cert = parseCert(certDer);
  if (!cert) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253) < 0)
    return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string randomIdSuffix() {
  unsigned char bytes[12];
  ERDS_CHECK(RAND_bytes(bytes, sizeof bytes) == 1, "RAND_bytes failed");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace erds::evidence::internal
