#include "test_pki.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "erds/base/result.h"

namespace erds::evidence::testing {

namespace {

template <auto Fn>
struct Del {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Del<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Del<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Del<BIO_free_all>>;

PkeyPtr generate(TestKeyType type) {
  EVP_PKEY* k = type == TestKeyType::P256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  ERDS_CHECK(k != nullptr, "key generation");
  return PkeyPtr(k);
}

std::string bioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string certPem(X509* c) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ERDS_CHECK(PEM_write_bio_X509(bio.get(), c) == 1, "PEM_write_bio_X509");
  return bioString(bio.get());
}

std::string keyPem(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ERDS_CHECK(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1,
             "PEM key");
  return bioString(bio.get());
}

PkeyPtr parseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERDS_CHECK(k != nullptr, "parse test key");
  return k;
}

X509Ptr parseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERDS_CHECK(c != nullptr, "parse test cert");
  return c;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ERDS_CHECK(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// qcStatements (RFC 3739) holding one QCStatement { statementId esi4-qtstStatement-1 }.
void addQtstStatement(X509* cert) {
  static const unsigned char kDer[] = {0x30, 0x0B, 0x30, 0x09, 0x06, 0x07, 0x04,
                                       0x00, 0x81, 0x97, 0x5E, 0x01, 0x01};
  ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(os, kDer, sizeof kDer);
  X509_EXTENSION* ext = X509_EXTENSION_create_by_NID(nullptr, NID_qcStatements, 0, os);
  ERDS_CHECK(ext != nullptr, "qcStatements extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(os);
}

X509Ptr makeCert(const std::string& cn, EVP_PKEY* subjectKey, X509* issuerCert, EVP_PKEY* issuerKey,
                 std::time_t notBefore, std::time_t notAfter) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  std::unique_ptr<BIGNUM, Del<BN_free>> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("DEVELOPMENT"), -1, -1, 0);
  X509_set_issuer_name(cert.get(),
                       issuerCert != nullptr ? X509_get_subject_name(issuerCert) : name);
  const std::time_t now = std::time(nullptr);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), notBefore != 0 ? notBefore : now - 86400);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), notAfter != 0 ? notAfter : now + 365 * 86400);
  X509_set_pubkey(cert.get(), subjectKey);
  (void)issuerKey;
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  ERDS_CHECK(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");
}

}  // namespace

TestPki::TestPki(std::string rootName, std::time_t notBefore, std::time_t notAfter) {
  PkeyPtr key = generate(TestKeyType::P256);
  X509Ptr cert = makeCert(rootName, key.get(), nullptr, key.get(), notBefore, notAfter);
  addExt(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExt(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExt(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  sign(cert.get(), key.get());
  root_.certPem = certPem(cert.get());
  int n = i2d_X509(cert.get(), nullptr);
  root_.certDer.resize(static_cast<std::size_t>(n));
  auto* p = reinterpret_cast<unsigned char*>(root_.certDer.data());
  i2d_X509(cert.get(), &p);
  root_.keyPem = keyPem(key.get());
}

TestCert TestPki::issue(const TestCertOptions& options) const {
  return issueBy(root_, options);
}

TestCert TestPki::issueBy(const TestCert& issuer, const TestCertOptions& options) {
  X509Ptr issuerCert = parseCert(issuer.certPem);
  PkeyPtr issuerKey = parseKey(issuer.keyPem);
  PkeyPtr key = generate(options.keyType);
  X509Ptr cert = makeCert(options.commonName, key.get(), issuerCert.get(), issuerKey.get(),
                          options.notBefore, options.notAfter);
  X509* c = cert.get();
  addExt(c, issuerCert.get(), NID_subject_key_identifier, "hash");
  addExt(c, issuerCert.get(), NID_authority_key_identifier, "keyid");
  if (options.intermediateCa) {
    addExt(c, issuerCert.get(), NID_basic_constraints, "critical,CA:TRUE");
    addExt(c, issuerCert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(c, issuerCert.get(), NID_basic_constraints, "critical,CA:FALSE");
    addExt(c, issuerCert.get(), NID_key_usage,
           options.timeStamping ? "critical,digitalSignature"
                                : "critical,digitalSignature,nonRepudiation");
  }
  if (options.timeStamping) addExt(c, issuerCert.get(), NID_ext_key_usage, "critical,timeStamping");
  if (options.ocspSigning) addExt(c, issuerCert.get(), NID_ext_key_usage, "OCSPSigning");
  if (!options.ocspUrl.empty())
    addExt(c, issuerCert.get(), NID_info_access, ("OCSP;URI:" + options.ocspUrl).c_str());
  if (!options.crlUrl.empty())
    addExt(c, issuerCert.get(), NID_crl_distribution_points, ("URI:" + options.crlUrl).c_str());
  if (options.qtstStatement) addQtstStatement(c);
  sign(c, issuerKey.get());
  TestCert out;
  out.certPem = certPem(c);
  int n = i2d_X509(c, nullptr);
  out.certDer.resize(static_cast<std::size_t>(n));
  auto* p = reinterpret_cast<unsigned char*>(out.certDer.data());
  i2d_X509(c, &p);
  out.keyPem = keyPem(key.get());
  return out;
}

std::string makeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
  ERDS_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  return tmpl;
}

void writeFile(const std::string& path, const std::string& data, unsigned mode) {
  ::unlink(path.c_str());
  int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  ERDS_CHECK(fd >= 0, "open test file");
  ERDS_CHECK(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()),
             "write test file");
  ::fchmod(fd, static_cast<mode_t>(mode));
  ::close(fd);
}

void writeKeyFiles(const std::string& dir, const std::string& label, const TestCert& cert,
                   const std::string& chainPem) {
  writeFile(dir + "/" + label + ".pem", cert.certPem + chainPem, 0644);
  writeFile(dir + "/" + label + ".key", cert.keyPem, 0600);
}

std::string issueOcspResponse(const TestCert& issuer, const TestCert& subject, bool revoked, long fromSeconds,
                              long untilSeconds) {
  X509Ptr ca = parseCert(issuer.certPem);
  PkeyPtr key = parseKey(issuer.keyPem);
  X509Ptr cert = parseCert(subject.certPem);
  std::unique_ptr<OCSP_BASICRESP, Del<OCSP_BASICRESP_free>> basic(OCSP_BASICRESP_new());
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert.get(), ca.get());
  std::unique_ptr<ASN1_TIME, Del<ASN1_TIME_free>> thisUpdate(X509_gmtime_adj(nullptr, fromSeconds));
  std::unique_ptr<ASN1_TIME, Del<ASN1_TIME_free>> nextUpdate(X509_gmtime_adj(nullptr, untilSeconds));
  ERDS_CHECK(basic && id && thisUpdate && nextUpdate, "OCSP response objects");
  ERDS_CHECK(OCSP_basic_add1_status(basic.get(), id, revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD,
                                    revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                                    revoked ? thisUpdate.get() : nullptr, thisUpdate.get(), nextUpdate.get()) != nullptr,
             "OCSP_basic_add1_status");
  OCSP_CERTID_free(id);
  ERDS_CHECK(OCSP_basic_sign(basic.get(), ca.get(), key.get(), EVP_sha256(), nullptr, OCSP_NOCERTS) == 1,
             "OCSP_basic_sign");
  std::unique_ptr<OCSP_RESPONSE, Del<OCSP_RESPONSE_free>> resp(
      OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  ERDS_CHECK(resp != nullptr, "OCSP_response_create");
  const int n = i2d_OCSP_RESPONSE(resp.get(), nullptr);
  std::string der(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_OCSP_RESPONSE(resp.get(), &p);
  return der;
}

}  // namespace erds::evidence::testing
