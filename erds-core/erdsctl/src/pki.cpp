// Development PKI generator (OpenSSL 3 library API only; no shelling out to openssl(1)).
#include "erds/ctl/pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <sstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "openssl_ptr.h"

namespace erds::ctl {
namespace {

using internal::Asn1IntPtr;
using internal::BioPtr;
using internal::BnPtr;
using internal::PkeyCtxPtr;
using internal::PkeyPtr;
using internal::X509ExtPtr;
using internal::X509Ptr;
using NamePtr = internal::X509NamePtr;

constexpr long kSealDays = 3L * 365;
constexpr long kRootDays = 10L * 365 + 2;  // ten years including leap days
constexpr long kTlsDays = 825;             // the longest TLS validity Apple platforms accept
constexpr const char* kOrganisation = "erds DEVELOPMENT";

// Drains OpenSSL's error queue into one line, so the caller sees why the library refused.
Error opensslError(std::string what) {
  std::string msg = std::move(what);
  unsigned long code = 0;
  bool first = true;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    msg += first ? ": " : "; ";
    msg += buf;
    first = false;
  }
  return Error::internal(std::move(msg));
}

Error ioError(const std::string& what, const std::string& path, int err) {
  return Error::internal(what + " " + path + ": " +
                         std::error_code(err, std::generic_category()).message());
}

Result<PkeyPtr> generateKey(KeyAlgorithm algorithm) {
  const bool ec = algorithm == KeyAlgorithm::P256;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, ec ? "EC" : "RSA", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) return opensslError("key generation init");
  if (ec) {
    if (EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") <= 0) return opensslError("set EC group");
  } else {
    if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 3072) <= 0) return opensslError("set RSA bits");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) <= 0) return opensslError("key generation");
  return PkeyPtr(raw);
}

Result<void> setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  // A zero serial is invalid (RFC 5280 4.1.2.2); 2^-128 odds, but loop rather than hope.
  do {
    if (RAND_bytes(bytes, sizeof bytes) != 1) return opensslError("random serial");
  } while (std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn) return opensslError("serial bignum");
  Asn1IntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) return opensslError("set serial");
  return ok();
}

Result<NamePtr> makeName(const std::string& commonName) {
  NamePtr name(X509_NAME_new());
  if (!name) return opensslError("X509_NAME_new");
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!add("O", kOrganisation) || !add("CN", commonName)) return opensslError("build subject");
  return name;
}

Result<void> addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (!ext) return opensslError(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) return opensslError("add extension");
  return ok();
}

struct CertProfile {
  std::string commonName;
  long validityDays;
  // Extensions after SKI/AKI, as OpenSSL config values (nid, value).
  std::vector<std::pair<int, std::string>> extensions;
};

// Issues a certificate for `key`. issuer == nullptr means self-signed with `key`.
Result<X509Ptr> issue(const CertProfile& profile, EVP_PKEY* key, X509* issuer,
                      EVP_PKEY* issuerKey) {
  X509Ptr cert(X509_new());
  if (!cert) return opensslError("X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return opensslError("set version");
  ERDS_RETURN_IF_ERROR(setRandomSerial(cert.get()));
  auto name = makeName(profile.commonName);
  if (!name) return std::move(name).error();
  if (X509_set_subject_name(cert.get(), name->get()) != 1) return opensslError("set subject");
  X509_NAME* issuerName = issuer != nullptr ? X509_get_subject_name(issuer) : name->get();
  if (X509_set_issuer_name(cert.get(), issuerName) != 1) return opensslError("set issuer");
  // Backdate by a minute so a freshly made PKI is valid on hosts whose clocks differ slightly.
  std::time_t now = std::time(nullptr) - 60;
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &now) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(profile.validityDays), 0,
                       &now) == nullptr) {
    return opensslError("set validity");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) return opensslError("set public key");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  // The SKI must exist before the AKI of a self-signed certificate can copy it.
  ERDS_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  ERDS_RETURN_IF_ERROR(
      addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  for (const auto& [nid, value] : profile.extensions) {
    ERDS_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, nid, value.c_str()));
  }
  EVP_PKEY* signer = issuerKey != nullptr ? issuerKey : key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return opensslError("sign certificate");
  return cert;
}

// Writes `data` to `path` via a temp file in the same directory + rename, with `mode` from the
// moment the file exists (O_CREAT|O_EXCL, then fchmod to defeat any umask surprises).
Result<void> writeFileAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());  // mkstemp creates with 0600
  if (fd < 0) return ioError("cannot create temp file for", path, errno);
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return ioError(what, path, err);
  };
  if (::fchmod(fd, mode) != 0) return fail("cannot chmod");
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("cannot close", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("cannot rename temp file to", path, err);
  }
  return ok();
}

Result<std::string> bioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len < 0 || (len > 0 && data == nullptr)) return opensslError("read memory BIO");
  return std::string(data, static_cast<std::size_t>(len));
}

Result<std::string> certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return opensslError("encode certificate");
  return bioContents(bio.get());
}

// The root's CRL, revoking nothing: thisUpdate a minute ago (as the certificates), nextUpdate with
// the root's notAfter, crlNumber 1 and the AKI of the root. The certificates carry no
// cRLDistributionPoints: the sealer is given this file (signer.crl_files) and embeds it in each
// evidence, and verifiers take it from there or from `--crl`.
Result<std::string> rootCrlPem(X509* root, EVP_PKEY* rootKey) {
  internal::OpensslPtr<X509_CRL, X509_CRL_free> crl(X509_CRL_new());
  if (!crl) return opensslError("X509_CRL_new");
  if (X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(root)) != 1)
    return opensslError("set CRL issuer");
  std::time_t now = std::time(nullptr) - 60;
  internal::OpensslPtr<ASN1_TIME, ASN1_TIME_free> last(X509_time_adj_ex(nullptr, 0, 0, &now));
  if (!last || X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), X509_get0_notAfter(root)) != 1)
    return opensslError("set CRL times");
  Asn1IntPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set(number.get(), 1) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1)
    return opensslError("set CRL number");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, root, nullptr, nullptr, crl.get(), 0);
  X509ExtPtr aki(X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) return opensslError("set CRL AKI");
  if (X509_CRL_sign(crl.get(), rootKey, EVP_sha256()) <= 0) return opensslError("sign CRL");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) return opensslError("write CRL");
  return bioContents(bio.get());
}

Result<void> writeKey(const std::string& path, EVP_PKEY* key) {
  // BIO_s_secmem keeps the encoded key out of swappable heap and clears it on free.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return opensslError("BIO_new");
  // PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: a development PKI read by the local daemons.
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return opensslError("encode private key");
  }
  auto pem = bioContents(bio.get());
  if (!pem) return std::move(pem).error();
  auto written = writeFileAtomically(path, *pem, 0600);
  OPENSSL_cleanse(pem->data(), pem->size());
  return written;
}

std::string formatTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
  return buf;
}

std::string subjectLine(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "?";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  auto s = bioContents(bio.get());
  return s ? *s : "?";
}

Result<void> ensureDirectory(const std::string& dir) {
  if (dir.empty()) return Error::invalidInput("--dir must not be empty");
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error::invalidInput(dir + " exists and is not a directory");
    return ok();
  }
  if (errno != ENOENT) return ioError("cannot stat", dir, errno);
  // Missing parents get ordinary 0755 (others, e.g. the PostgreSQL server user for var/pg, may
  // need to traverse them); only the leaf, which holds private keys, is 0700.
  for (std::size_t pos = dir.find('/', 1); pos != std::string::npos; pos = dir.find('/', pos + 1)) {
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ioError("cannot create directory", prefix, errno);
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ioError("cannot create directory", dir, errno);
  }
  // mkdir honours the umask; make the mode exact.
  if (::chmod(dir.c_str(), 0700) != 0) return ioError("cannot chmod", dir, errno);
  return ok();
}

std::string joinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// A URL for an extension value: http(s)://, no characters the OpenSSL config syntax treats
// specially (comma, whitespace, control characters).
Result<void> checkExtensionUrl(const std::string& url, const std::string& option) {
  const bool scheme = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
  const bool clean = std::none_of(url.begin(), url.end(), [](char c) {
    return c == ',' || c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  const std::size_t hostStart = url.find("//") + 2;
  if (!scheme || !clean || url.size() <= hostStart || url[hostStart] == '/')
    return Error::invalidInput(option + " must be an http:// or https:// URL without spaces or commas, not '" + url +
                               "'");
  return ok();
}

// One line of an `openssl ca` index for a valid certificate.
std::string indexLine(X509* cert) {
  const ASN1_TIME* notAfter = X509_get0_notAfter(cert);
  struct tm tm {};
  char expiry[32] = "";
  if (ASN1_TIME_to_tm(notAfter, &tm) == 1) std::strftime(expiry, sizeof expiry, "%y%m%d%H%M%SZ", &tm);
  BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  char* hex = bn ? BN_bn2hex(bn.get()) : nullptr;
  std::string serial = hex != nullptr ? hex : "00";
  OPENSSL_free(hex);
  char* subject = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0);
  std::string line = std::string("V\t") + expiry + "\t\t" + serial + "\tunknown\t" + (subject ? subject : "") + "\n";
  OPENSSL_free(subject);
  return line;
}

Result<std::string> readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::notFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<X509Ptr> readCert(const std::string& path) {
  auto pem = readWhole(path);
  if (!pem) return std::move(pem).error();
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    return Error::invalidInput(path + " holds no PEM certificate");
  }
  return cert;
}

Result<PkeyPtr> readKey(const std::string& path) {
  auto pem = readWhole(path);
  if (!pem) return std::move(pem).error();
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  OPENSSL_cleanse(pem->data(), pem->size());
  if (!key) {
    ERR_clear_error();
    return Error::invalidInput(path + " holds no PEM private key");
  }
  return key;
}

}  // namespace

Result<KeyAlgorithm> parseKeyAlgorithm(std::string_view name) {
  if (name == "p256") return KeyAlgorithm::P256;
  if (name == "rsa3072") return KeyAlgorithm::Rsa3072;
  return Error::invalidInput("--algorithm must be p256 or rsa3072, not '" + std::string(name) +
                             "'");
}

std::string_view keyAlgorithmLabel(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::P256 ? "ECDSA P-256" : "RSA 3072";
}

const std::vector<std::string>& developmentPkiFileNames() {
  static const std::vector<std::string> kNames = {
      "root-ca.pem", "root-ca.key", "seal.pem", "seal.key",
      "tsu.pem",     "tsu.key",     "tls.pem",  "tls.key",
      "root-ca.crl.pem",
  };
  return kNames;
}

Result<PkiReport> initDevelopmentPki(const PkiOptions& options) {
  if (!options.crlUrl.empty()) ERDS_RETURN_IF_ERROR(checkExtensionUrl(options.crlUrl, "--crl-url"));
  if (!options.ocspUrl.empty()) ERDS_RETURN_IF_ERROR(checkExtensionUrl(options.ocspUrl, "--ocsp-url"));
  ERDS_RETURN_IF_ERROR(ensureDirectory(options.dir));
  std::vector<std::string> names = developmentPkiFileNames();
  if (!options.crlUrl.empty()) names.push_back("root-ca.crl");
  if (!options.ocspUrl.empty()) names.insert(names.end(), {"ocsp.pem", "ocsp.key", "index.txt", "index.txt.attr"});
  if (!options.force) {
    // Check everything before writing anything, so a refusal leaves the directory untouched.
    for (const auto& name : names) {
      const std::string path = joinPath(options.dir, name);
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0) {
        return Error::conflict(path + " already exists (use --force to overwrite)");
      }
    }
  }

  const std::string keyUsageLeafSigning = "critical,digitalSignature,nonRepudiation";
  const std::string tlsKeyUsage = options.algorithm == KeyAlgorithm::P256
                                      ? "critical,digitalSignature"
                                      : "critical,digitalSignature,keyEncipherment";
  struct Spec {
    std::string stem;
    CertProfile profile;
  };
  const std::vector<Spec> leaves = {
      {"seal",
       {"erds DEVELOPMENT Evidence Seal",
        kSealDays,
        {{NID_basic_constraints, "critical,CA:FALSE"}, {NID_key_usage, keyUsageLeafSigning}}}},
      {"tsu",
       {"erds DEVELOPMENT Time-Stamping Unit",
        kSealDays,
        {{NID_basic_constraints, "critical,CA:FALSE"},
         {NID_key_usage, keyUsageLeafSigning},
         {NID_ext_key_usage, "critical,timeStamping"}}}},
      {"tls",
       {"erds DEVELOPMENT TLS localhost",
        kTlsDays,
        {{NID_basic_constraints, "critical,CA:FALSE"},
         {NID_key_usage, tlsKeyUsage},
         {NID_ext_key_usage, "serverAuth"},
         {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"}}}},
  };
  const CertProfile rootProfile = {"erds DEVELOPMENT Root CA",
                                   kRootDays,
                                   {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                    {NID_key_usage, "critical,keyCertSign,cRLSign"}}};

  std::vector<Spec> endEntities = leaves;
  for (auto& leaf : endEntities) {
    if (!options.crlUrl.empty()) leaf.profile.extensions.emplace_back(NID_crl_distribution_points, "URI:" + options.crlUrl);
    if (!options.ocspUrl.empty()) leaf.profile.extensions.emplace_back(NID_info_access, "OCSP;URI:" + options.ocspUrl);
  }
  if (!options.ocspUrl.empty()) {
    // The delegated responder for `openssl ocsp`: its own status is not checked (nocheck).
    endEntities.push_back({"ocsp",
                           {"erds DEVELOPMENT OCSP Responder",
                            kSealDays,
                            {{NID_basic_constraints, "critical,CA:FALSE"},
                             {NID_key_usage, "critical,digitalSignature"},
                             {NID_ext_key_usage, "critical,OCSPSigning"},
                             {NID_id_pkix_OCSP_noCheck, "ignored"}}}});
  }

  PkiReport report;
  const std::string label(keyAlgorithmLabel(options.algorithm));
  auto record = [&](const std::string& stem, X509* cert) {
    report.certificates.push_back({joinPath(options.dir, stem + ".pem"),
                                   joinPath(options.dir, stem + ".key"), subjectLine(cert), label,
                                   formatTime(X509_get0_notBefore(cert)),
                                   formatTime(X509_get0_notAfter(cert))});
  };

  auto rootKey = generateKey(options.algorithm);
  if (!rootKey) return std::move(rootKey).error();
  auto root = issue(rootProfile, rootKey->get(), nullptr, nullptr);
  if (!root) return std::move(root).error();
  auto rootPem = certPem(root->get());
  if (!rootPem) return std::move(rootPem).error();
  ERDS_RETURN_IF_ERROR(writeKey(joinPath(options.dir, "root-ca.key"), rootKey->get()));
  ERDS_RETURN_IF_ERROR(writeFileAtomically(joinPath(options.dir, "root-ca.pem"), *rootPem, 0644));
  record("root-ca", root->get());
  auto crlPem = rootCrlPem(root->get(), rootKey->get());
  if (!crlPem) return std::move(crlPem).error();
  ERDS_RETURN_IF_ERROR(writeFileAtomically(joinPath(options.dir, "root-ca.crl.pem"), *crlPem, 0644));

  std::string index;
  for (const auto& leaf : endEntities) {
    auto key = generateKey(options.algorithm);
    if (!key) return std::move(key).error();
    auto cert = issue(leaf.profile, key->get(), root->get(), rootKey->get());
    if (!cert) return std::move(cert).error();
    auto pem = certPem(cert->get());
    if (!pem) return std::move(pem).error();
    // The TLS file carries the chain so a server can hand it out as is.
    if (leaf.stem == "tls") *pem += *rootPem;
    ERDS_RETURN_IF_ERROR(writeKey(joinPath(options.dir, leaf.stem + ".key"), key->get()));
    ERDS_RETURN_IF_ERROR(
        writeFileAtomically(joinPath(options.dir, leaf.stem + ".pem"), *pem, 0644));
    record(leaf.stem, cert->get());
    if (leaf.stem != "ocsp") index += indexLine(cert->get());
  }
  if (!options.crlUrl.empty()) {
    // The DER form, as CRL distribution points usually serve it.
    BioPtr in(BIO_new_mem_buf(crlPem->data(), static_cast<int>(crlPem->size())));
    internal::OpensslPtr<X509_CRL, X509_CRL_free> crl(in ? PEM_read_bio_X509_CRL(in.get(), nullptr, nullptr, nullptr)
                                                          : nullptr);
    if (!crl) return opensslError("re-read CRL");
    const int n = i2d_X509_CRL(crl.get(), nullptr);
    if (n <= 0) return opensslError("encode CRL");
    std::string der(static_cast<std::size_t>(n), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509_CRL(crl.get(), &p);
    ERDS_RETURN_IF_ERROR(writeFileAtomically(joinPath(options.dir, "root-ca.crl"), der, 0644));
  }
  if (!options.ocspUrl.empty()) {
    ERDS_RETURN_IF_ERROR(writeFileAtomically(joinPath(options.dir, "index.txt"), index, 0644));
    ERDS_RETURN_IF_ERROR(writeFileAtomically(joinPath(options.dir, "index.txt.attr"), "unique_subject = no\n", 0644));
  }
  return report;
}

Result<std::string> developmentOcspResponses(const std::string& dir, int validDays) {
  if (validDays < 1) return Error::invalidInput("--days must be at least 1");
  auto root = readCert(joinPath(dir, "root-ca.pem"));
  if (!root) return std::move(root).error();
  auto rootKey = readKey(joinPath(dir, "root-ca.key"));
  if (!rootKey) return std::move(rootKey).error();
  std::string out;
  for (const char* stem : {"seal", "tsu"}) {
    auto cert = readCert(joinPath(dir, std::string(stem) + ".pem"));
    if (!cert) return std::move(cert).error();
    internal::OpensslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free> basic(OCSP_BASICRESP_new());
    OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert->get(), root->get());
    std::time_t now = std::time(nullptr);
    internal::OpensslPtr<ASN1_TIME, ASN1_TIME_free> thisUpdate(X509_gmtime_adj(nullptr, 0));
    internal::OpensslPtr<ASN1_TIME, ASN1_TIME_free> nextUpdate(X509_time_adj_ex(nullptr, validDays, 0, &now));
    const bool added = basic && id != nullptr && thisUpdate && nextUpdate &&
                       OCSP_basic_add1_status(basic.get(), id, V_OCSP_CERTSTATUS_GOOD, 0, nullptr, thisUpdate.get(),
                                              nextUpdate.get()) != nullptr;
    OCSP_CERTID_free(id);
    if (!added) return opensslError("build OCSP response");
    // Signed by the issuer itself; its certificate is left out (every verifier has the root).
    if (OCSP_basic_sign(basic.get(), root->get(), rootKey->get(), EVP_sha256(), nullptr, OCSP_NOCERTS) != 1)
      return opensslError("sign OCSP response");
    internal::OpensslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free> resp(
        OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
    if (!resp) return opensslError("OCSP_response_create");
    const int n = i2d_OCSP_RESPONSE(resp.get(), nullptr);
    if (n <= 0) return opensslError("encode OCSP response");
    std::string der(static_cast<std::size_t>(n), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_OCSP_RESPONSE(resp.get(), &p);
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio(bio.get(), "OCSP RESPONSE", "", reinterpret_cast<const unsigned char*>(der.data()),
                              static_cast<long>(der.size())) <= 0)
      return opensslError("PEM-encode OCSP response");
    auto pem = bioContents(bio.get());
    if (!pem) return std::move(pem).error();
    out += *pem;
  }
  return out;
}

}  // namespace erds::ctl
