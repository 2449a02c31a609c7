// Test PKI generation with the OpenSSL 3 API.
#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

namespace erds::testing {

namespace {

struct PkeyDel {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Del {
  void operator()(X509* p) const { X509_free(p); }
};
struct FileDel {
  void operator()(FILE* f) const { std::fclose(f); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDel>;
using Cert = std::unique_ptr<X509, X509Del>;
using File = std::unique_ptr<FILE, FileDel>;

bool addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

Cert makeCert(EVP_PKEY* key, const std::string& cn, const std::string& org, X509* issuer,
              EVP_PKEY* issuerKey, long serial, bool ca) {
  Cert cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 30);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* iss = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
  bool ok = true;
  if (ca) {
    ok = ok && addExt(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && addExt(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    ok = ok && addExt(cert.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    ok = ok && addExt(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && addExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
    ok = ok && addExt(cert.get(), iss, NID_ext_key_usage, "serverAuth");
    ok = ok && addExt(cert.get(), iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
    ok = ok && addExt(cert.get(), iss, NID_authority_key_identifier, "keyid");
  }
  if (!ok) return nullptr;
  if (X509_sign(cert.get(), issuerKey ? issuerKey : key, EVP_sha256()) <= 0) return nullptr;
  return cert;
}

}  // namespace

Result<TestPkiFiles> writeTestPki(const std::string& dir, const std::string& subjectMarker) {
  Pkey caKey(EVP_EC_gen("P-256"));
  Pkey tlsKey(EVP_EC_gen("P-256"));
  if (!caKey || !tlsKey) return Error::internal("EC key generation failed");
  const std::string org = "erds " + subjectMarker;
  Cert ca =
      makeCert(caKey.get(), "erds test root " + subjectMarker, org, nullptr, nullptr, 1, true);
  if (!ca) return Error::internal("root certificate failed");
  Cert tls = makeCert(tlsKey.get(), "localhost", org, ca.get(), caKey.get(), 2, false);
  if (!tls) return Error::internal("server certificate failed");

  TestPkiFiles f{dir + "/root-ca.pem", dir + "/tls.pem", dir + "/tls.key"};
  {
    File out(std::fopen(f.rootCa.c_str(), "w"));
    if (!out || PEM_write_X509(out.get(), ca.get()) != 1)
      return Error::internal("cannot write " + f.rootCa);
  }
  {
    File out(std::fopen(f.tlsCert.c_str(), "w"));
    if (!out || PEM_write_X509(out.get(), tls.get()) != 1 ||
        PEM_write_X509(out.get(), ca.get()) != 1)
      return Error::internal("cannot write " + f.tlsCert);
  }
  {
    File out(std::fopen(f.tlsKey.c_str(), "w"));
    if (!out || ::chmod(f.tlsKey.c_str(), 0600) != 0 ||
        PEM_write_PrivateKey(out.get(), tlsKey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
      return Error::internal("cannot write " + f.tlsKey);
  }
  return f;
}

}  // namespace erds::testing
