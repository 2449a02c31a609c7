#include "erds/evidence/file_key_signer.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <filesystem>

#include "erds/base/config.h"

#include "openssl_util.h"

namespace erds::evidence {

using namespace internal;

namespace {

constexpr std::size_t kMaxCertFileBytes = 1 << 20;

Result<PkeyPtr> parsePrivateKey(const Secret& pem, const std::string& what) {
  BioPtr bio(BIO_new_mem_buf(pem.reveal().data(), static_cast<int>(pem.size())));
  if (!bio) return opensslError(ErrorCode::Internal, "BIO_new_mem_buf");
  // No passphrase callback: an encrypted key must fail rather than prompt on a terminal.
  PkeyPtr key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) {
    clearErrors();  // never forward parser detail that might quote key bytes
    return Error::invalidInput(what + ": not a readable unencrypted PEM private key");
  }
  return key;
}

Result<SigningKeyInfo> describe(EVP_PKEY* key, const std::string& what) {
  SigningKeyInfo info;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) != 1 ||
          std::string_view(group) != "prime256v1") {
        clearErrors();
        return Error::invalidInput(what + ": only EC P-256 keys are supported");
      }
      info.algorithm = KeyAlgorithm::EcdsaP256;
      info.bits = 256;
      break;
    }
    case EVP_PKEY_RSA:
      info.algorithm = KeyAlgorithm::Rsa;
      info.bits = EVP_PKEY_get_bits(key);
      if (info.bits < 2048)
        return Error::invalidInput(what + ": RSA keys must have at least 2048 bits");
      break;
    default:
      return Error::invalidInput(what + ": unsupported key type (EC P-256 or RSA expected)");
  }
  return info;
}

}  // namespace

struct FileKeySigner::Key {
  PkeyPtr pkey;
  SigningKeyInfo info;
};

FileKeySigner::~FileKeySigner() = default;

Result<std::unique_ptr<FileKeySigner>> FileKeySigner::fromFiles(
    const std::map<std::string, FileKeySpec>& keys) {
  std::unique_ptr<FileKeySigner> signer(new FileKeySigner());
  for (const auto& [label, spec] : keys) {
    const std::string what = "key '" + label + "' (" + spec.keyFile + ")";
    auto pem = readSecretFile(spec.keyFile, "key '" + label + "'");
    if (!pem) return std::move(pem).error();
    auto pkey = parsePrivateKey(*pem, what);
    if (!pkey) return std::move(pkey).error();
    auto info = describe(pkey->get(), what);
    if (!info) return std::move(info).error();

    auto certPem = readFile(spec.certFile, kMaxCertFileBytes);
    if (!certPem) return std::move(certPem).error();
    auto certs =
        parsePemCertificates(*certPem, "certificate of '" + label + "' (" + spec.certFile + ")");
    if (!certs) return std::move(certs).error();
    if (X509_check_private_key(certs->front().get(), pkey->get()) != 1) {
      clearErrors();
      return Error::invalidInput(what + ": private key does not match certificate " +
                                 spec.certFile);
    }
    info->certificateDer = certificateDer(certs->front().get());
    std::vector<std::string> chain;
    for (std::size_t i = 1; i < certs->size(); ++i)
      chain.push_back(certificateDer((*certs)[i].get()));
    if (!spec.chainFile.empty()) {
      auto chainPem = readFile(spec.chainFile, kMaxCertFileBytes);
      if (!chainPem) return std::move(chainPem).error();
      auto more =
          parsePemCertificates(*chainPem, "chain of '" + label + "' (" + spec.chainFile + ")");
      if (!more) return std::move(more).error();
      for (auto& c : *more) {
        std::string der = certificateDer(c.get());
        if (der != info->certificateDer &&
            std::find(chain.begin(), chain.end(), der) == chain.end())
          chain.push_back(std::move(der));
      }
    }
    for (auto& c : chain)
      info->chainDer += c;
    auto key = std::make_unique<Key>();
    key->pkey = std::move(*pkey);
    key->info = std::move(*info);
    signer->keys_.emplace(label, std::move(key));
  }
  return signer;
}

Result<std::unique_ptr<FileKeySigner>> FileKeySigner::fromDirectory(
    const std::string& dir, const std::vector<std::string>& labels) {
  std::map<std::string, FileKeySpec> specs;
  const std::filesystem::path base(dir);
  const std::filesystem::path root = base / "root-ca.pem";
  std::error_code ec;
  const bool haveRoot = std::filesystem::exists(root, ec);
  for (const auto& label : labels) {
    specs[label] =
        FileKeySpec{(base / (label + ".key")).string(), (base / (label + ".pem")).string(),
                    haveRoot ? root.string() : std::string()};
  }
  return fromFiles(specs);
}

Result<std::string> FileKeySigner::signDigest(std::string_view keyLabel, std::string_view digest) {
  auto it = keys_.find(keyLabel);
  if (it == keys_.end()) return Error::notFound("no signing key '" + std::string(keyLabel) + "'");
  if (digest.size() != 32) return Error::invalidInput("digest must be 32 bytes (SHA-256)");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, it->second->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1)
    return opensslError(ErrorCode::Internal, "EVP_PKEY_sign_init");
  if (it->second->info.algorithm == KeyAlgorithm::Rsa &&
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
    return opensslError(ErrorCode::Internal, "EVP_PKEY_CTX_set_rsa_padding");
  const auto* tbs = reinterpret_cast<const unsigned char*>(digest.data());
  // EVP_PKEY_get_size is the maximum signature size: no separate size query is needed.
  const int maxLen = EVP_PKEY_get_size(it->second->pkey.get());
  if (maxLen <= 0) return opensslError(ErrorCode::Internal, "EVP_PKEY_get_size");
  size_t len = static_cast<size_t>(maxLen);
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, tbs,
                    digest.size()) != 1)
    return opensslError(ErrorCode::Internal, "EVP_PKEY_sign");
  sig.resize(len);
  return sig;
}

Result<SigningKeyInfo> FileKeySigner::keyInfo(std::string_view keyLabel) {
  auto it = keys_.find(keyLabel);
  if (it == keys_.end()) return Error::notFound("no signing key '" + std::string(keyLabel) + "'");
  return it->second->info;
}

std::vector<std::string> FileKeySigner::labels() const {
  std::vector<std::string> out;
  for (const auto& [label, key] : keys_)
    out.push_back(label);
  return out;
}

}  // namespace erds::evidence
