// Development PKI generator (OpenSSL 3 library API only; no shelling out to openssl(1)).
#include "erds/ctl/pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
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
  ERDS_RETURN_IF_ERROR(ensureDirectory(options.dir));
  if (!options.force) {
    // Check everything before writing anything, so a refusal leaves the directory untouched.
    for (const auto& name : developmentPkiFileNames()) {
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

  for (const auto& leaf : leaves) {
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
  }
  return report;
}

}  // namespace erds::ctl
