// Memoises the signature-and-validity-period half of OpenSSL chain verification (the store's
// "verify" step, run after the chain was built, trusted and revocation-checked): the same seal and
// TSA chains come back in every evidence, and re-verifying their certificate signatures costs an
// ECDSA/RSA verification per certificate and per evidence. Internal to the evidence libraries.
#pragma once

#include <openssl/x509_vfy.h>

#include <cstddef>

namespace erds::evidence::internal {

// Makes `store` use the cached verify step. Sound by construction: OpenSSL's verify step depends
// only on the certificates of the built chain (signatures; trust was decided before) and on the
// verification time (validity periods). An entry is keyed by the SHA-256 of every certificate of
// the chain (plus how many were untrusted) and remembers the time window
// [max notBefore, min notAfter) in which the step succeeded; a verification time outside that
// window, any unusual flag (no check time set, NO_CHECK_TIME, CHECK_SS_SIGNATURE, PARTIAL_CHAIN)
// or a custom error callback (which could accept a failure) runs OpenSSL's own step. Failures
// are never cached. Revocation (CRLs) is checked by OpenSSL before this step on every call, so it
// is never cached here. Process-wide, bounded (cleared when full), thread-safe.
void installChainVerifyCache(X509_STORE* store);

// Number of verify steps answered from the cache since the process started (for tests).
std::size_t chainVerifyCacheHitsForTest();

// installChainVerifyCache also memoises OpenSSL's check_crl step (issuer keyUsage cRLSign, CRL
// signature, CRL time) per (CRL, issuer certificate) within the CRL's [lastUpdate, nextUpdate)
// window, under the same conditions (default callback, explicit time, no delta/extended CRL
// processing). Whether a certificate is listed (cert_crl) is still
// decided by OpenSSL on every call. Number of check_crl steps answered from the cache (tests):
std::size_t crlCheckCacheHitsForTest();

}  // namespace erds::evidence::internal
