// Helpers shared by the evidence/crypto tests only.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "erds/base/clock.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"

#include "test_pki.h"

namespace erds::evidence::testing {

// One throwaway PKI per test binary (key generation is slow); never modified.
inline const TestPki& pki() {
  static const TestPki p;
  return p;
}

// Built-in TSU options under `policyOid` whose clock-synchronisation check always passes.
inline Rfc3161TsuOptions syncedTsuOptions(const std::string& policyOid) {
  Rfc3161TsuOptions o;
  o.policyOid = policyOid;
  o.clockSyncCheck = [] { return ok(); };
  return o;
}

inline std::string sha256Of(std::string_view data) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

inline std::string hexOf(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Whole seconds: tokens carry genTime with second precision by default.
inline TimePoint nowSeconds() {
  return TimePoint(std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch()));
}

// Verifies `sig` over `digest` with the public key of the DER certificate.
inline bool verifyDigestSignature(const std::string& certDer, std::string_view digest,
                                  std::string_view sig) {
  const auto* p = reinterpret_cast<const unsigned char*>(certDer.data());
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(certDer.size())), X509_free);
  if (!cert) return false;
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, X509_get0_pubkey(cert.get()), nullptr),
      EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1)
    return false;
  return EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) == 1;
}

// A temporary directory removed at scope exit.
struct TempDir {
  std::string path = makeTempDir();
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// A TSU key pair in a temp dir, loaded through FileKeySigner under label "tsu".
struct TsuFixture {
  TempDir dir;
  TestCert tsu;
  std::shared_ptr<FileKeySigner> signer;
  TsuFixture(const TestPki& pki, TestCertOptions options) {
    options.timeStamping = true;
    if (options.commonName == TestCertOptions{}.commonName)
      options.commonName = "erds DEVELOPMENT TSU";
    tsu = pki.issue(options);
    writeKeyFiles(dir.path, "tsu", tsu);
    writeFile(dir.path + "/root-ca.pem", pki.root().certPem);
    auto s = FileKeySigner::fromDirectory(dir.path, {"tsu"});
    if (s) signer = std::move(*s);
  }
};

}  // namespace erds::evidence::testing
