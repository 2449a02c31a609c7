// erdsctl's owners for OpenSSL handles: std::unique_ptr with the matching *_free function as the
// deleter (evidence/crypto has its own private set; this one is private to erdsctl and its tests).
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace erds::ctl::internal {

// Calls `Fn` on a non-null pointer (std::unique_ptr never calls a deleter with nullptr).
template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

template <typename T, auto Fn>
using OpensslPtr = std::unique_ptr<T, Deleter<Fn>>;

using PkeyPtr = OpensslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OpensslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using X509Ptr = OpensslPtr<X509, X509_free>;
using X509ExtPtr = OpensslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509NamePtr = OpensslPtr<X509_NAME, X509_NAME_free>;
using BioPtr = OpensslPtr<BIO, BIO_free_all>;  // frees a whole chain; same as BIO_free for one BIO
using BnPtr = OpensslPtr<BIGNUM, BN_free>;
using Asn1IntPtr = OpensslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;

}  // namespace erds::ctl::internal
