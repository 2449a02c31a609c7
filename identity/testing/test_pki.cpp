#include "erds/identity/testing/test_pki.h"

#include <openssl/asn1.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>

namespace erds::identity::testing {
namespace {

void must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test_pki: %s failed\n", what);
    std::abort();
  }
}

time_t toTimeT(TimePoint t) {
  return static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

// Minimal DER writer for the qcStatements extension value.
std::string derLength(std::size_t n) {
  if (n < 128) return std::string(1, static_cast<char>(n));
  std::string bytes;
  while (n > 0) {
    bytes.insert(bytes.begin(), static_cast<char>(n & 0xff));
    n >>= 8;
  }
  return std::string(1, static_cast<char>(0x80 | bytes.size())) + bytes;
}
std::string tlv(unsigned char tag, const std::string& body) { return std::string(1, static_cast<char>(tag)) + derLength(body.size()) + body; }
std::string derOid(const std::string& dotted) {
  ASN1_OBJECT* o = OBJ_txt2obj(dotted.c_str(), 1);
  must(o != nullptr, "OBJ_txt2obj");
  unsigned char* buf = nullptr;
  int n = i2d_ASN1_OBJECT(o, &buf);
  must(n > 0, "i2d_ASN1_OBJECT");
  std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
  OPENSSL_free(buf);
  ASN1_OBJECT_free(o);
  return out;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  must(ext != nullptr, "X509V3_EXT_conf_nid");
  must(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

}  // namespace

TestCertificate TestCertificate::issue(const CertSpec& spec, const TestCertificate* issuer) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  must(key != nullptr, "EVP_EC_gen");
  X509* cert = X509_new();
  must(cert != nullptr, "X509_new");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), spec.serial);
  ASN1_TIME_set(X509_getm_notBefore(cert), toTimeT(spec.notBefore));
  ASN1_TIME_set(X509_getm_notAfter(cert), toTimeT(spec.notAfter));
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("BE"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(spec.commonName.c_str()),
                             -1, -1, 0);
  X509* issuerCert = issuer ? static_cast<X509*>(issuer->cert_.get()) : cert;
  EVP_PKEY* issuerKey = issuer ? static_cast<EVP_PKEY*>(issuer->key_.get()) : key;
  X509_set_issuer_name(cert, X509_get_subject_name(issuerCert));
  X509_set_pubkey(cert, key);

  addExt(cert, issuerCert, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) addExt(cert, issuerCert, NID_authority_key_identifier, "keyid:always");
  if (spec.isCa) {
    addExt(cert, issuerCert, NID_basic_constraints, "critical,CA:TRUE");
    addExt(cert, issuerCert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(cert, issuerCert, NID_basic_constraints, "critical,CA:FALSE");
    addExt(cert, issuerCert, NID_key_usage, "critical,digitalSignature,nonRepudiation");
    if (spec.serverAuthOnlyEku) addExt(cert, issuerCert, NID_ext_key_usage, "serverAuth");
    else if (spec.clientAuthEku) addExt(cert, issuerCert, NID_ext_key_usage, "clientAuth");
    if (!spec.emails.empty()) {
      std::string san;
      for (const auto& e : spec.emails) san += (san.empty() ? "email:" : ",email:") + e;
      addExt(cert, issuerCert, NID_subject_alt_name, san.c_str());
    }
  }
  if (!spec.policyOids.empty()) {
    CERTIFICATEPOLICIES* pols = CERTIFICATEPOLICIES_new();
    for (const auto& oid : spec.policyOids) {
      POLICYINFO* pi = POLICYINFO_new();
      ASN1_OBJECT_free(pi->policyid);
      pi->policyid = OBJ_txt2obj(oid.c_str(), 1);
      must(pi->policyid != nullptr && sk_POLICYINFO_push(pols, pi) > 0, "policy");
    }
    must(X509_add1_ext_i2d(cert, NID_certificate_policies, pols, 0, X509V3_ADD_DEFAULT) == 1, "certificatePolicies");
    CERTIFICATEPOLICIES_free(pols);
  }
  if (spec.qcCompliance || !spec.qcTypeOids.empty()) {
    std::string statements;
    if (spec.qcCompliance) statements += tlv(0x30, derOid("0.4.0.1862.1.1"));
    if (!spec.qcTypeOids.empty()) {
      std::string types;
      for (const auto& oid : spec.qcTypeOids) types += derOid(oid);
      statements += tlv(0x30, derOid("0.4.0.1862.1.6") + tlv(0x30, types));
    }
    std::string value = tlv(0x30, statements);
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()));
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.3", 1);
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, os);
    must(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "qcStatements");
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(os);
  }
  must(X509_sign(cert, issuerKey, EVP_sha256()) > 0, "X509_sign");

  TestCertificate t;
  t.key_ = std::shared_ptr<void>(key, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  t.cert_ = std::shared_ptr<void>(cert, [](void* p) { X509_free(static_cast<X509*>(p)); });
  t.serial_ = spec.serial;
  return t;
}

std::string TestCertificate::pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, static_cast<X509*>(cert_.get()));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string TestCertificate::keyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  must(PEM_write_bio_PrivateKey(bio, static_cast<EVP_PKEY*>(key_.get()), nullptr, nullptr, 0, nullptr, nullptr) == 1,
       "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string TestCertificate::sign(const std::string& data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  must(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_.get())) == 1, "sign init");
  std::size_t len = 0;
  must(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1, "sign len");
  std::string sig(len, '\0');
  must(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                      reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1, "sign");
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string TestCertificate::der() const {
  unsigned char* buf = nullptr;
  int n = i2d_X509(static_cast<X509*>(cert_.get()), &buf);
  must(n > 0, "i2d_X509");
  std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
  OPENSSL_free(buf);
  return out;
}

std::string TestCertificate::crlPem(const std::vector<long>& revokedSerials, TimePoint thisUpdate,
                                    TimePoint nextUpdate) const {
  X509* ca = static_cast<X509*>(cert_.get());
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  ASN1_TIME* t1 = ASN1_TIME_set(nullptr, toTimeT(thisUpdate));
  ASN1_TIME* t2 = ASN1_TIME_set(nullptr, toTimeT(nextUpdate));
  X509_CRL_set1_lastUpdate(crl, t1);
  X509_CRL_set1_nextUpdate(crl, t2);
  for (long serial : revokedSerials) {
    X509_REVOKED* r = X509_REVOKED_new();
    ASN1_INTEGER* s = ASN1_INTEGER_new();
    ASN1_INTEGER_set(s, serial);
    X509_REVOKED_set_serialNumber(r, s);
    X509_REVOKED_set_revocationDate(r, t1);
    X509_CRL_add0_revoked(crl, r);
    ASN1_INTEGER_free(s);
  }
  X509_CRL_sort(crl);
  // CRL number and AKI make the CRL acceptable under X509_V_FLAG_X509_STRICT-style checks.
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, nullptr, nullptr, crl, 0);
  X509_EXTENSION* aki = X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always");
  must(aki != nullptr, "crl aki");
  X509_CRL_add_ext(crl, aki, -1);
  X509_EXTENSION_free(aki);
  ASN1_INTEGER* number = ASN1_INTEGER_new();
  ASN1_INTEGER_set(number, 1);
  X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0);
  ASN1_INTEGER_free(number);
  must(X509_CRL_sign(crl, static_cast<EVP_PKEY*>(key_.get()), EVP_sha256()) > 0, "X509_CRL_sign");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(bio, crl);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  ASN1_TIME_free(t1);
  ASN1_TIME_free(t2);
  X509_CRL_free(crl);
  return out;
}

}  // namespace erds::identity::testing
