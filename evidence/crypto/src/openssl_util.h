// Internal OpenSSL helpers for erds_evidence_crypto: owning handles, error-queue draining, DER and
// time conversions. Not part of the public API.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"

namespace erds::evidence::internal {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using TsReqPtr = std::unique_ptr<TS_REQ, Deleter<TS_REQ_free>>;
using TsRespPtr = std::unique_ptr<TS_RESP, Deleter<TS_RESP_free>>;
using TsRespCtxPtr = std::unique_ptr<TS_RESP_CTX, Deleter<TS_RESP_CTX_free>>;
using TsVerifyCtxPtr = std::unique_ptr<TS_VERIFY_CTX, Deleter<TS_VERIFY_CTX_free>>;
using TsTstInfoPtr = std::unique_ptr<TS_TST_INFO, Deleter<TS_TST_INFO_free>>;
using Pkcs7Ptr = std::unique_ptr<PKCS7, Deleter<PKCS7_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Asn1IntPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Asn1ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT_free>>;

struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// Drains the calling thread's OpenSSL error queue into "what: lib reason; ..." (never key bytes).
std::string drainErrors(std::string_view what);
Error opensslError(ErrorCode code, std::string_view what);
void clearErrors();

// All certificates in `pem` (one or more PEM blocks), in order. InvalidInput if none parse.
Result<std::vector<X509Ptr>> parsePemCertificates(std::string_view pem, std::string_view what);
// All certificates in a concatenation of DER certificates.
Result<std::vector<X509Ptr>> parseDerCertificates(std::string_view der, std::string_view what);
Result<X509Ptr> parseDerCertificate(std::string_view der);
std::string certificateDer(X509* cert);
std::string subjectOneLine(X509* cert);

// ASN1_GENERALIZEDTIME (with optional fraction) to TimePoint.
Result<TimePoint> fromGeneralizedTime(const ASN1_GENERALIZEDTIME* t);
std::string integerHex(const ASN1_INTEGER* i);
std::string objectText(const ASN1_OBJECT* o);  // dotted OID
Result<std::string> readFile(const std::string& path, std::size_t maxBytes);

// Serialises an ASN.1 object with its i2d function.
template <typename T, typename F>
std::string toDer(T* obj, F i2d) {
  int n = i2d(obj, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d(obj, &p);
  return out;
}

// The same in one encoding pass (i2d allocates the buffer); for hot paths.
template <typename T, typename F>
std::string toDerOnce(T* obj, F i2d) {
  unsigned char* buf = nullptr;
  const int n = i2d(obj, &buf);
  if (n <= 0 || buf == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
  OPENSSL_free(buf);
  return out;
}

}  // namespace erds::evidence::internal
