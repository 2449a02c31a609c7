#include "chain_cache.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace erds::evidence::internal {
namespace {

using VerifyFn = int (*)(X509_STORE_CTX*);

constexpr std::size_t kMaxEntries = 1024;

// OpenSSL's own verify step (internal_verify) and error callback, as X509_STORE_CTX_init installs
// them for a store without custom ones.
struct Defaults {
  VerifyFn verify = nullptr;
  X509_STORE_CTX_verify_cb callback = nullptr;
  X509_STORE_CTX_check_crl_fn checkCrl = nullptr;
};

const Defaults& defaults() {
  static const Defaults d = [] {
    Defaults out;
    X509_STORE* s = X509_STORE_new();
    X509_STORE_CTX* c = X509_STORE_CTX_new();
    if (s != nullptr && c != nullptr && X509_STORE_CTX_init(c, s, nullptr, nullptr) == 1) {
      out.verify = X509_STORE_CTX_get_verify(c);
      out.callback = X509_STORE_CTX_get_verify_cb(c);
      out.checkCrl = X509_STORE_CTX_get_check_crl(c);
    }
    X509_STORE_CTX_free(c);
    X509_STORE_free(s);
    return out;
  }();
  return d;
}

VerifyFn defaultVerify() { return defaults().verify; }

bool toTimeT(const ASN1_TIME* t, std::time_t& out) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = timegm(&tm);
  return true;
}

struct Window {
  std::time_t notBefore;
  std::time_t notAfter;
};

std::mutex gMutex;
std::map<std::string, Window, std::less<>> gEntries;
std::atomic<std::size_t> gHits{0};

int cachedVerify(X509_STORE_CTX* ctx) {
  const VerifyFn original = defaultVerify();
  if (original == nullptr) return 0;
  const X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  const unsigned long flags = X509_VERIFY_PARAM_get_flags(param);
  // A custom error callback could accept a failed step; such a context never uses the cache.
  if (X509_STORE_CTX_get_verify_cb(ctx) != defaults().callback || chain == nullptr || sk_X509_num(chain) == 0 ||
      (flags & X509_V_FLAG_USE_CHECK_TIME) == 0 ||
      (flags & (X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_CHECK_SS_SIGNATURE | X509_V_FLAG_PARTIAL_CHAIN)) != 0)
    return original(ctx);
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr) return original(ctx);
  std::string key;
  key.reserve(static_cast<std::size_t>(sk_X509_num(chain)) * 32 + 4);
  key += std::to_string(X509_STORE_CTX_get_num_untrusted(ctx));
  key += '/';
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(sk_X509_value(chain, i), sha256, md, &len) != 1) return original(ctx);
    key.append(reinterpret_cast<const char*>(md), len);
  }
  const std::time_t at = X509_VERIFY_PARAM_get_time(param);
  {
    std::lock_guard lock(gMutex);
    if (auto it = gEntries.find(key); it != gEntries.end() && it->second.notBefore <= at && at < it->second.notAfter) {
      gHits.fetch_add(1, std::memory_order_relaxed);
      return 1;
    }
  }
  const int ok = original(ctx);
  if (ok != 1 || X509_STORE_CTX_get_error(ctx) != X509_V_OK) return ok;
  Window w{0, 0};
  bool first = true;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    X509* c = sk_X509_value(chain, i);
    std::time_t nb = 0, na = 0;
    if (!toTimeT(X509_get0_notBefore(c), nb) || !toTimeT(X509_get0_notAfter(c), na)) return ok;
    if (first || nb > w.notBefore) w.notBefore = nb;
    if (first || na < w.notAfter) w.notAfter = na;
    first = false;
  }
  // OpenSSL accepted `at`, so the window holds it; refuse to cache anything inconsistent.
  if (!(w.notBefore <= at && at < w.notAfter)) return ok;
  std::lock_guard lock(gMutex);
  if (gEntries.size() >= kMaxEntries) gEntries.clear();
  gEntries.insert_or_assign(std::move(key), w);
  return ok;
}

// check_crl results: (CRL, issuer) -> the CRL's [lastUpdate, nextUpdate] window in which OpenSSL's
// check (issuer keyUsage, CRL signature, CRL time) succeeded. The same embedded CRL comes back in
// every evidence and its signature check is an ECDSA/RSA verification per certificate checked.
std::mutex gCrlMutex;
std::map<std::string, Window, std::less<>> gCrlEntries;
std::atomic<std::size_t> gCrlHits{0};

int cachedCheckCrl(X509_STORE_CTX* ctx, X509_CRL* crl) {
  const auto original = defaults().checkCrl;
  if (original == nullptr) return 0;
  const X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  const unsigned long flags = X509_VERIFY_PARAM_get_flags(param);
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  // Only the plain case: default error callback (a custom one could accept a failure), an explicit
  // verification time, no delta/extended CRL processing, the issuer from the chain itself.
  if (crl == nullptr || chain == nullptr || X509_STORE_CTX_get_verify_cb(ctx) != defaults().callback ||
      (flags & X509_V_FLAG_USE_CHECK_TIME) == 0 ||
      (flags & (X509_V_FLAG_EXTENDED_CRL_SUPPORT | X509_V_FLAG_USE_DELTAS | X509_V_FLAG_NO_CHECK_TIME)) != 0 ||
      X509_CRL_get0_nextUpdate(crl) == nullptr)
    return original(ctx, crl);
  // The CRL issuer as check_crl determines it: the one get_crl found, else the next in the chain.
  X509* issuer = X509_STORE_CTX_get0_current_issuer(ctx);
  if (issuer == nullptr) {
    const int depth = X509_STORE_CTX_get_error_depth(ctx);
    if (depth < 0 || depth >= sk_X509_num(chain) - 1) return original(ctx, crl);
    issuer = sk_X509_value(chain, depth + 1);
  }
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr) return original(ctx, crl);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string key;
  if (X509_CRL_digest(crl, sha256, md, &len) != 1) return original(ctx, crl);
  key.append(reinterpret_cast<const char*>(md), len);
  if (X509_digest(issuer, sha256, md, &len) != 1) return original(ctx, crl);
  key.append(reinterpret_cast<const char*>(md), len);
  const std::time_t at = X509_VERIFY_PARAM_get_time(param);
  {
    std::lock_guard lock(gCrlMutex);
    if (auto it = gCrlEntries.find(key); it != gCrlEntries.end() && it->second.notBefore <= at && at < it->second.notAfter) {
      gCrlHits.fetch_add(1, std::memory_order_relaxed);
      return 1;
    }
  }
  const int ok = original(ctx, crl);
  if (ok != 1 || X509_STORE_CTX_get_error(ctx) != X509_V_OK) return ok;
  Window w{0, 0};
  if (!toTimeT(X509_CRL_get0_lastUpdate(crl), w.notBefore) || !toTimeT(X509_CRL_get0_nextUpdate(crl), w.notAfter))
    return ok;
  if (!(w.notBefore <= at && at < w.notAfter)) return ok;
  std::lock_guard lock(gCrlMutex);
  if (gCrlEntries.size() >= kMaxEntries) gCrlEntries.clear();
  gCrlEntries.insert_or_assign(std::move(key), w);
  return ok;
}

}  // namespace

void installChainVerifyCache(X509_STORE* store) {
  if (store != nullptr && defaultVerify() != nullptr) X509_STORE_set_verify(store, cachedVerify);
  if (store != nullptr && defaults().checkCrl != nullptr) X509_STORE_set_check_crl(store, cachedCheckCrl);
}

std::size_t crlCheckCacheHitsForTest() { return gCrlHits.load(std::memory_order_relaxed); }

std::size_t chainVerifyCacheHitsForTest() { return gHits.load(std::memory_order_relaxed); }

}  // namespace erds::evidence::internal
