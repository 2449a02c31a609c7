// The deprecated EC_KEY_METHOD/RSA_METHOD API is what libp11 uses with OpenSSL 3: a key whose
// method is not the default is "foreign" and OpenSSL routes every operation through the legacy
// path, so our callbacks see the digest. A provider would be the long-term replacement.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "erds/evidence/forwarding_key.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include <cstring>
#include <mutex>

#include "erds/base/log.h"

#include "openssl_util.h"

namespace erds::evidence {

void EvpPkeyDeleter::operator()(evp_pkey_st* key) const {
  EVP_PKEY_free(key);
}

namespace {

using namespace internal;

// What a forwarding key signs with; stored in the EC_KEY/RSA ex_data.
struct ForwardContext {
  std::shared_ptr<Signer> signer;
  std::string label;
};

void freeContext(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<ForwardContext*>(ptr);
}

// OpenSSL may duplicate a key (EC_KEY_dup, RSAPrivateKey_dup); the copy gets its own context.
int dupContext(CRYPTO_EX_DATA*, const CRYPTO_EX_DATA*, void** fromD, int, long, void*) {
  auto** slot = reinterpret_cast<ForwardContext**>(fromD);
  if (*slot != nullptr) *slot = new ForwardContext(**slot);
  return 1;
}

int ecIndex() {
  static const int idx = EC_KEY_get_ex_new_index(0, nullptr, nullptr, dupContext, freeContext);
  return idx;
}
int rsaIndex() {
  static const int idx = RSA_get_ex_new_index(0, nullptr, nullptr, dupContext, freeContext);
  return idx;
}

Result<std::string> forward(const ForwardContext* ctx, const unsigned char* dgst, int dlen) {
  if (ctx == nullptr) return Error::internal("forwarding key without context");
  if (dlen != 32) return Error::invalidInput("forwarding key signs SHA-256 digests only");
  return ctx->signer->signDigest(ctx->label,
                                 std::string_view(reinterpret_cast<const char*>(dgst), 32));
}

void raise(const Error& e) {
  ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "erds signer: %s", e.toString().c_str());
}

int ecSign(int /*type*/, const unsigned char* dgst, int dlen, unsigned char* sig,
           unsigned int* siglen, const BIGNUM* /*kinv*/, const BIGNUM* /*r*/, EC_KEY* eckey) {
  auto* ctx = static_cast<ForwardContext*>(EC_KEY_get_ex_data(eckey, ecIndex()));
  auto res = forward(ctx, dgst, dlen);
  if (!res) {
    raise(res.error());
    return 0;
  }
  // ECDSA_size is the DER maximum OpenSSL allocated for `sig`.
  if (res->size() > static_cast<std::size_t>(ECDSA_size(eckey))) {
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "erds signer: signature too long");
    return 0;
  }
  std::memcpy(sig, res->data(), res->size());
  *siglen = static_cast<unsigned int>(res->size());
  return 1;
}

int ecSignSetup(EC_KEY*, BN_CTX*, BIGNUM**, BIGNUM**) {
  return 1;
}

ECDSA_SIG* ecSignSig(const unsigned char* dgst, int dlen, const BIGNUM*, const BIGNUM*,
                     EC_KEY* eckey) {
  auto* ctx = static_cast<ForwardContext*>(EC_KEY_get_ex_data(eckey, ecIndex()));
  auto res = forward(ctx, dgst, dlen);
  if (!res) {
    raise(res.error());
    return nullptr;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(res->data());
  return d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(res->size()));
}

const EC_KEY_METHOD* ecMethod() {
  static EC_KEY_METHOD* method = [] {
    EC_KEY_METHOD* m = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    EC_KEY_METHOD_set_sign(m, ecSign, ecSignSetup, ecSignSig);
    return m;
  }();
  return method;
}

int rsaSign(int type, const unsigned char* m, unsigned int mlen, unsigned char* sigret,
            unsigned int* siglen, const RSA* rsa) {
  if (type != NID_sha256) {
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                   "erds signer: RSA forwarding key signs SHA-256 only");
    return 0;
  }
  auto* ctx = static_cast<ForwardContext*>(RSA_get_ex_data(rsa, rsaIndex()));
  auto res = forward(ctx, m, static_cast<int>(mlen));
  if (!res) {
    raise(res.error());
    return 0;
  }
  if (res->size() != static_cast<std::size_t>(RSA_size(rsa))) {
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                   "erds signer: RSA signature has the wrong size");
    return 0;
  }
  std::memcpy(sigret, res->data(), res->size());
  *siglen = static_cast<unsigned int>(res->size());
  return 1;
}

// Raw private-key operations (PSS, decryption) cannot be forwarded: refuse them explicitly.
int rsaPrivRefuse(int, const unsigned char*, unsigned char*, RSA*, int) {
  ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                 "erds signer: only PKCS#1 v1.5 SHA-256 signatures are supported");
  return -1;
}

const RSA_METHOD* rsaMethod() {
  static RSA_METHOD* method = [] {
    RSA_METHOD* m = RSA_meth_dup(RSA_PKCS1_OpenSSL());
    RSA_meth_set1_name(m, "erds forwarding RSA");
    RSA_meth_set_sign(m, rsaSign);
    RSA_meth_set_priv_enc(m, rsaPrivRefuse);
    RSA_meth_set_priv_dec(m, rsaPrivRefuse);
    return m;
  }();
  return method;
}

}  // namespace

Result<EvpPkeyPtr> makeForwardingKey(std::shared_ptr<Signer> signer, std::string_view keyLabel) {
  if (!signer) return Error::invalidInput("makeForwardingKey: no signer");
  auto info = signer->keyInfo(keyLabel);
  if (!info) return std::move(info).error();
  auto cert = parseDerCertificate(info->certificateDer);
  if (!cert) return std::move(cert).error();
  EVP_PKEY* pub = X509_get0_pubkey(cert->get());
  if (pub == nullptr)
    return opensslError(ErrorCode::InvalidInput, "certificate without public key");

  auto context =
      std::make_unique<ForwardContext>(ForwardContext{std::move(signer), std::string(keyLabel)});
  EvpPkeyPtr out(EVP_PKEY_new());
  if (!out) return opensslError(ErrorCode::Internal, "EVP_PKEY_new");

  switch (EVP_PKEY_get_base_id(pub)) {
    case EVP_PKEY_EC: {
      const EC_KEY* src = EVP_PKEY_get0_EC_KEY(pub);
      if (src == nullptr) return opensslError(ErrorCode::InvalidInput, "EC public key");
      std::unique_ptr<EC_KEY, Deleter<EC_KEY_free>> ec(EC_KEY_new());
      if (!ec || EC_KEY_set_method(ec.get(), ecMethod()) != 1 ||
          EC_KEY_set_group(ec.get(), EC_KEY_get0_group(src)) != 1 ||
          EC_KEY_set_public_key(ec.get(), EC_KEY_get0_public_key(src)) != 1)
        return opensslError(ErrorCode::Internal, "building forwarding EC key");
      if (EC_KEY_set_ex_data(ec.get(), ecIndex(), context.get()) != 1)
        return opensslError(ErrorCode::Internal, "EC_KEY_set_ex_data");
      context.release();  // now owned by the EC_KEY (freeContext)
      if (EVP_PKEY_assign_EC_KEY(out.get(), ec.get()) != 1)
        return opensslError(ErrorCode::Internal, "EVP_PKEY_assign_EC_KEY");
      ec.release();
      break;
    }
    case EVP_PKEY_RSA: {
      const RSA* src = EVP_PKEY_get0_RSA(pub);
      if (src == nullptr) return opensslError(ErrorCode::InvalidInput, "RSA public key");
      std::unique_ptr<RSA, Deleter<RSA_free>> rsa(RSA_new());
      BnPtr n(BN_dup(RSA_get0_n(src)));
      BnPtr e(BN_dup(RSA_get0_e(src)));
      if (!rsa || !n || !e || RSA_set_method(rsa.get(), rsaMethod()) != 1 ||
          RSA_set0_key(rsa.get(), n.get(), e.get(), nullptr) != 1)
        return opensslError(ErrorCode::Internal, "building forwarding RSA key");
      n.release();
      e.release();
      if (RSA_set_ex_data(rsa.get(), rsaIndex(), context.get()) != 1)
        return opensslError(ErrorCode::Internal, "RSA_set_ex_data");
      context.release();
      if (EVP_PKEY_assign_RSA(out.get(), rsa.get()) != 1)
        return opensslError(ErrorCode::Internal, "EVP_PKEY_assign_RSA");
      rsa.release();
      break;
    }
    default:
      return Error::invalidInput("forwarding key: unsupported key type in certificate");
  }
  return out;
}

}  // namespace erds::evidence
