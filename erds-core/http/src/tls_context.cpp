// TLS context construction on top of Poco's Context, with the key and chain loaded through OpenSSL
// from memory (Poco 1.11 can only take a private key from a file or a Poco::Crypto object).
#include "tls_context.h"

#include <Poco/Exception.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "erds/http/server.h"

namespace erds::http::internal {

namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

}  // namespace

std::string drainOpenSslErrors() {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Result<Poco::Net::Context::Ptr> makeServerContext(const std::string& certificateFile,
                                                  const Secret& privateKeyPem,
                                                  const std::string& privateKeySource) {
  const std::string certWhat = "http.tls_certificate (" + certificateFile + ")";
  const std::string keyWhat = "http.tls_key (" + privateKeySource + ")";
  std::ifstream in(certificateFile, std::ios::binary);
  if (!in) return Error::invalidInput(certWhat + ": cannot read file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string chainPem = ss.str();

  ERR_clear_error();
  BioPtr certBio(BIO_new_mem_buf(chainPem.data(), static_cast<int>(chainPem.size())));
  if (!certBio) return Error::internal("BIO_new_mem_buf failed");
  X509Ptr leaf(PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr));
  if (!leaf) return Error::invalidInput(certWhat + ": no PEM certificate: " + drainOpenSslErrors());
  std::vector<X509Ptr> chain;
  while (X509* c = PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr))
    chain.emplace_back(c);
  ERR_clear_error();  // the loop ends with a "no start line" error

  BioPtr keyBio(
      BIO_new_mem_buf(privateKeyPem.reveal().data(), static_cast<int>(privateKeyPem.size())));
  if (!keyBio) return Error::internal("BIO_new_mem_buf failed");
  // A passphrase-protected key is refused rather than prompting on a terminal.
  PkeyPtr key(PEM_read_bio_PrivateKey(
      keyBio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key)
    return Error::invalidInput(keyWhat +
                               ": not an unencrypted PEM private key: " + drainOpenSslErrors());

  try {
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_NONE;
    params.loadDefaultCAs = false;
    params.cipherList = kTls12CipherList;
    params.ecdhCurve = "X25519:P-256:P-384";
    Poco::Net::Context::Ptr ctx =
        new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
    ctx->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                          Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
    ctx->preferServerCiphers();
    SSL_CTX* ssl = ctx->sslContext();
    if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1)
      return Error::internal("cannot set minimum TLS version: " + drainOpenSslErrors());
    // IGNORE_UNEXPECTED_EOF: when the server cuts the read side of a late client (http.*_timeout),
    // the end-of-file must leave the TLS session writable so that the 408 can still be sent.
    // Request truncation is still detected by the HTTP framing (Content-Length, chunks).
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_use_certificate(ssl, leaf.get()) != 1)
      return Error::invalidInput(certWhat + ": certificate rejected: " + drainOpenSslErrors());
    for (auto& c : chain) {
      if (SSL_CTX_add1_chain_cert(ssl, c.get()) != 1)
        return Error::invalidInput(certWhat +
                                   ": chain certificate rejected: " + drainOpenSslErrors());
    }
    if (SSL_CTX_use_PrivateKey(ssl, key.get()) != 1)
      return Error::invalidInput(keyWhat + ": key rejected: " + drainOpenSslErrors());
    if (SSL_CTX_check_private_key(ssl) != 1)
      return Error::invalidInput(keyWhat + ": key does not match " + certWhat);
    return ctx;
  } catch (const Poco::Exception& e) {
    return Error::internal("TLS context: " + e.displayText());
  }
}

}  // namespace erds::http::internal
