// The ENGINE API is deprecated in OpenSSL 3 but is the only PKCS#11 route on Debian 12 (libp11).
#define OPENSSL_SUPPRESS_DEPRECATED

#include "erds/evidence/pkcs11_signer.h"

#include <openssl/engine.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "erds/base/config.h"

#include "openssl_util.h"

namespace erds::evidence {

using namespace internal;

namespace {

constexpr std::size_t kMaxCertFileBytes = 1 << 20;

// The libp11 engine (and the PKCS#11 module under it) can be loaded and initialised once per
// process: a second dynamic load fails. So one functional reference is kept for the process
// lifetime (deliberately never released: OpenSSL's atexit cleanup would race a static destructor).
std::mutex gEngineMutex;
ENGINE* gEngine = nullptr;
std::string gEngineModule;

Result<ENGINE*> processEngine(const Pkcs11SignerOptions& options) {
  if (gEngine != nullptr) {
    if (gEngineModule != options.modulePath)
      return Error::invalidInput("only one PKCS#11 module per process (already using " +
                                 gEngineModule + ")");
    return gEngine;
  }
  ENGINE_load_dynamic();
  ENGINE* dyn = ENGINE_by_id("dynamic");
  if (dyn == nullptr) return opensslError(ErrorCode::Internal, "ENGINE_by_id(dynamic)");
  std::unique_ptr<ENGINE, Deleter<ENGINE_free>> structural(dyn);
  if (ENGINE_ctrl_cmd_string(dyn, "SO_PATH", options.enginePath.c_str(), 0) != 1 ||
      ENGINE_ctrl_cmd_string(dyn, "ID", "pkcs11", 0) != 1 ||
      ENGINE_ctrl_cmd_string(dyn, "LOAD", nullptr, 0) != 1 ||
      ENGINE_ctrl_cmd_string(dyn, "MODULE_PATH", options.modulePath.c_str(), 0) != 1)
    return opensslError(ErrorCode::Unavailable, "loading the pkcs11 engine");
  if (ENGINE_init(dyn) != 1) return opensslError(ErrorCode::Unavailable, "ENGINE_init(pkcs11)");
  ENGINE_free(structural.release());  // keep only the functional reference from ENGINE_init
  gEngine = dyn;
  gEngineModule = options.modulePath;
  return gEngine;
}

}  // namespace

struct Pkcs11Signer::State {
  ENGINE* engine = nullptr;  // the process-wide engine (not owned)
  struct Key {
    PkeyPtr pkey;
    SigningKeyInfo info;
    std::mutex mutex;
  };
  std::map<std::string, std::unique_ptr<Key>, std::less<>> keys;
};

Pkcs11Signer::Pkcs11Signer(std::unique_ptr<State> state) : state_(std::move(state)) {}
Pkcs11Signer::~Pkcs11Signer() = default;

Result<std::unique_ptr<Pkcs11Signer>> Pkcs11Signer::create(const Pkcs11SignerOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(options.modulePath, ec))
    return Error::notFound("PKCS#11 module not found: " + options.modulePath);
  if (!std::filesystem::exists(options.enginePath, ec))
    return Error::notFound("pkcs11 engine not found: " + options.enginePath);
  auto pin = readSecretFile(options.pinFile, "PKCS#11 PIN");
  if (!pin) return std::move(pin).error();

  auto st = std::make_unique<State>();
  std::lock_guard<std::mutex> lock(gEngineMutex);
  auto engine = processEngine(options);
  if (!engine) return std::move(engine).error();
  st->engine = *engine;
  {
    std::string pinText(pin->reveal());
    while (!pinText.empty() && (pinText.back() == '\n' || pinText.back() == '\r'))
      pinText.pop_back();
    const int rc = ENGINE_ctrl_cmd_string(st->engine, "PIN", pinText.c_str(), 0);
    OPENSSL_cleanse(pinText.data(), pinText.size());
    if (rc != 1) return opensslError(ErrorCode::Unavailable, "setting the PKCS#11 PIN");
  }

  for (const auto& [label, spec] : options.keys) {
    const std::string what = "PKCS#11 key '" + label + "'";
    if (spec.keyUri.find("pin-value") != std::string::npos)
      return Error::invalidInput(what + ": the URI must not carry the PIN (use the PIN file)");
    PkeyPtr pkey(ENGINE_load_private_key(st->engine, spec.keyUri.c_str(), nullptr, nullptr));
    if (!pkey) return opensslError(ErrorCode::Unavailable, what + ": not found on the token");
    auto certPem = readFile(spec.certFile, kMaxCertFileBytes);
    if (!certPem) return std::move(certPem).error();
    auto certs = parsePemCertificates(*certPem, what + " certificate");
    if (!certs) return std::move(certs).error();
    X509* leaf = certs->front().get();
    if (EVP_PKEY_eq(X509_get0_pubkey(leaf), pkey.get()) != 1) {
      clearErrors();
      return Error::invalidInput(what + ": token key does not match certificate " + spec.certFile);
    }
    auto key = std::make_unique<State::Key>();
    key->info.certificateDer = certificateDer(leaf);
    switch (EVP_PKEY_get_base_id(X509_get0_pubkey(leaf))) {
      case EVP_PKEY_EC:
        key->info.algorithm = KeyAlgorithm::EcdsaP256;
        key->info.bits = 256;
        break;
      case EVP_PKEY_RSA:
        key->info.algorithm = KeyAlgorithm::Rsa;
        key->info.bits = EVP_PKEY_get_bits(X509_get0_pubkey(leaf));
        break;
      default:
        return Error::invalidInput(what + ": unsupported key type");
    }
    std::vector<std::string> chain;
    for (std::size_t i = 1; i < certs->size(); ++i)
      chain.push_back(certificateDer((*certs)[i].get()));
    if (!spec.chainFile.empty()) {
      auto more = readFile(spec.chainFile, kMaxCertFileBytes);
      if (!more) return std::move(more).error();
      auto parsed = parsePemCertificates(*more, what + " chain");
      if (!parsed) return std::move(parsed).error();
      for (auto& c : *parsed) {
        std::string der = certificateDer(c.get());
        if (der != key->info.certificateDer &&
            std::find(chain.begin(), chain.end(), der) == chain.end())
          chain.push_back(std::move(der));
      }
    }
    for (auto& c : chain)
      key->info.chainDer += c;
    key->pkey = std::move(pkey);
    st->keys.emplace(label, std::move(key));
  }
  return std::unique_ptr<Pkcs11Signer>(new Pkcs11Signer(std::move(st)));
}

Result<std::string> Pkcs11Signer::signDigest(std::string_view keyLabel, std::string_view digest) {
  auto it = state_->keys.find(keyLabel);
  if (it == state_->keys.end())
    return Error::notFound("no signing key '" + std::string(keyLabel) + "'");
  if (digest.size() != 32) return Error::invalidInput("digest must be 32 bytes (SHA-256)");
  auto& key = *it->second;
  std::lock_guard<std::mutex> lock(key.mutex);
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1)
    return opensslError(ErrorCode::Unavailable, "PKCS#11 sign init");
  if (key.info.algorithm == KeyAlgorithm::Rsa &&
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
    return opensslError(ErrorCode::Unavailable, "PKCS#11 RSA padding");
  const auto* tbs = reinterpret_cast<const unsigned char*>(digest.data());
  size_t len = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &len, tbs, digest.size()) != 1)
    return opensslError(ErrorCode::Unavailable, "PKCS#11 sign");
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, tbs,
                    digest.size()) != 1)
    return opensslError(ErrorCode::Unavailable, "PKCS#11 sign");
  sig.resize(len);
  return sig;
}

Result<SigningKeyInfo> Pkcs11Signer::keyInfo(std::string_view keyLabel) {
  auto it = state_->keys.find(keyLabel);
  if (it == state_->keys.end())
    return Error::notFound("no signing key '" + std::string(keyLabel) + "'");
  return it->second->info;
}

}  // namespace erds::evidence
