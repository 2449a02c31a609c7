#include "erds/evidence/timestamp_verify.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <map>

#include "chain_cache.h"
#include "openssl_util.h"

namespace erds::evidence {

using namespace internal;

void TimestampVerifier::StoreDeleter::operator()(x509_store_st* s) const {
  X509_STORE_free(s);
}
void TimestampVerifier::CertDeleter::operator()(x509_st* c) const {
  X509_free(c);
}

namespace {

constexpr std::size_t kMaxTokenBytes = 256 * 1024;
constexpr std::size_t kMaxTrustFileBytes = 4 << 20;

void freeTypeStack(STACK_OF(ASN1_TYPE) * s) {
  sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
}
using TypeStackPtr = std::unique_ptr<STACK_OF(ASN1_TYPE), Deleter<freeTypeStack>>;

// qcStatements ::= SEQUENCE OF QCStatement; QCStatement ::= SEQUENCE { statementId OID, info ANY
// OPTIONAL }
bool qcStatementsHaveQtst(const ASN1_OCTET_STRING* value) {
  if (value == nullptr) return false;
  const unsigned char* p = ASN1_STRING_get0_data(value);
  TypeStackPtr outer(d2i_ASN1_SEQUENCE_ANY(nullptr, &p, ASN1_STRING_length(value)));
  if (!outer) {
    clearErrors();
    return false;
  }
  for (int i = 0; i < sk_ASN1_TYPE_num(outer.get()); ++i) {
    const ASN1_TYPE* t = sk_ASN1_TYPE_value(outer.get(), i);
    if (t->type != V_ASN1_SEQUENCE) continue;
    const unsigned char* q = ASN1_STRING_get0_data(t->value.sequence);
    TypeStackPtr inner(d2i_ASN1_SEQUENCE_ANY(nullptr, &q, ASN1_STRING_length(t->value.sequence)));
    if (!inner) {
      clearErrors();
      continue;
    }
    if (sk_ASN1_TYPE_num(inner.get()) < 1) continue;
    const ASN1_TYPE* id = sk_ASN1_TYPE_value(inner.get(), 0);
    if (id->type == V_ASN1_OBJECT && objectText(id->value.object) == kQtstStatementOid) return true;
  }
  return false;
}

bool certHasQtst(X509* cert) {
  const int idx = X509_get_ext_by_NID(cert, NID_qcStatements, -1);
  if (idx < 0) return false;
  return qcStatementsHaveQtst(X509_EXTENSION_get_data(X509_get_ext(cert, idx)));
}

Result<Pkcs7Ptr> parseToken(std::string_view der) {
  if (der.empty() || der.size() > kMaxTokenBytes)
    return Error::invalidInput("time-stamp token: empty or too large");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (!p7) return opensslError(ErrorCode::InvalidInput, "time-stamp token: not a CMS ContentInfo");
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return Error::invalidInput("time-stamp token: trailing bytes");
  return p7;
}

// One DER TLV: tag byte, header length, content length. Only single-byte tags and definite
// lengths (DER); anything else makes the caller fall back to OpenSSL's full parse.
struct Tlv {
  unsigned char tag = 0;
  std::size_t header = 0;
  std::size_t length = 0;
  std::size_t total() const { return header + length; }
};

bool readTlv(std::string_view in, Tlv& t) {
  if (in.size() < 2) return false;
  t.tag = static_cast<unsigned char>(in[0]);
  if ((t.tag & 0x1f) == 0x1f) return false;
  const auto first = static_cast<unsigned char>(in[1]);
  if (first < 0x80) {
    t.header = 2;
    t.length = first;
  } else {
    const std::size_t n = first & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return false;
    std::size_t len = 0;
    for (std::size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<unsigned char>(in[2 + i]);
    t.header = 2 + n;
    t.length = len;
  }
  return t.total() <= in.size();
}

void appendHeader(std::string& out, unsigned char tag, std::size_t length) {
  out += static_cast<char>(tag);
  if (length < 0x80) {
    out += static_cast<char>(length);
    return;
  }
  unsigned char bytes[4];
  int n = 0;
  for (std::size_t l = length; l > 0; l >>= 8) bytes[n++] = static_cast<unsigned char>(l & 0xff);
  out += static_cast<char>(0x80 | n);
  while (n > 0) out += static_cast<char>(bytes[--n]);
}

// Splits a TimeStampToken (ContentInfo { signedData, [0] SignedData }) into the same token
// without SignedData.certificates and the DER of each certificate it carried. The CMS signature
// does not cover the certificate set, so verifying the stripped token with those certificates
// supplied as "extra" is the same check; it lets the verifier parse each distinct certificate
// once instead of once per token. nullopt when the token has an unexpected shape (then the
// caller parses it whole).
struct SplitToken {
  std::string stripped;
  std::vector<std::string_view> certificates;
};

std::optional<SplitToken> splitToken(std::string_view der) {
  Tlv ci, oid, wrap, sd;
  if (!readTlv(der, ci) || ci.tag != 0x30 || ci.total() != der.size()) return std::nullopt;
  std::string_view ciBody = der.substr(ci.header, ci.length);
  if (!readTlv(ciBody, oid) || oid.tag != 0x06) return std::nullopt;
  std::string_view rest = ciBody.substr(oid.total());
  if (!readTlv(rest, wrap) || wrap.tag != 0xa0 || wrap.total() != rest.size()) return std::nullopt;
  std::string_view wrapBody = rest.substr(wrap.header, wrap.length);
  if (!readTlv(wrapBody, sd) || sd.tag != 0x30 || sd.total() != wrapBody.size()) return std::nullopt;
  std::string_view body = wrapBody.substr(sd.header, sd.length);
  SplitToken out;
  std::string newBody;
  newBody.reserve(body.size());
  bool sawCerts = false;
  while (!body.empty()) {
    Tlv e;
    if (!readTlv(body, e)) return std::nullopt;
    const std::string_view element = body.substr(0, e.total());
    if (e.tag == 0xa0) {
      if (sawCerts) return std::nullopt;
      sawCerts = true;
      std::string_view certs = element.substr(e.header);
      while (!certs.empty()) {
        Tlv c;
        if (!readTlv(certs, c) || c.tag != 0x30) return std::nullopt;
        out.certificates.push_back(certs.substr(0, c.total()));
        certs.remove_prefix(c.total());
      }
    } else {
      newBody.append(element);
    }
    body.remove_prefix(e.total());
  }
  if (!sawCerts) return std::nullopt;
  std::string sdDer;
  appendHeader(sdDer, 0x30, newBody.size());
  sdDer += newBody;
  std::string wrapDer;
  appendHeader(wrapDer, 0xa0, sdDer.size());
  wrapDer += sdDer;
  const std::string_view oidDer = ciBody.substr(0, oid.total());
  appendHeader(out.stripped, 0x30, oidDer.size() + wrapDer.size());
  out.stripped += oidDer;
  out.stripped += wrapDer;
  return out;
}

Result<TimestampInfo> describe(PKCS7* p7, STACK_OF(X509) * extra, TsTstInfoPtr* tstOut) {
  TsTstInfoPtr tst(PKCS7_to_TS_TST_INFO(p7));
  if (!tst) return opensslError(ErrorCode::InvalidInput, "time-stamp token: no TSTInfo");
  TimestampInfo info;
  auto genTime = fromGeneralizedTime(TS_TST_INFO_get_time(tst.get()));
  if (!genTime) return std::move(genTime).error();
  info.genTime = *genTime;
  info.serialHex = integerHex(TS_TST_INFO_get_serial(tst.get()));
  info.policyOid = objectText(TS_TST_INFO_get_policy_id(tst.get()));
  TS_MSG_IMPRINT* mi = TS_TST_INFO_get_msg_imprint(tst.get());
  const ASN1_OBJECT* algo = nullptr;
  X509_ALGOR_get0(&algo, nullptr, nullptr, TS_MSG_IMPRINT_get_algo(mi));
  info.hashAlgorithmOid = objectText(algo);
  const ASN1_OCTET_STRING* msg = TS_MSG_IMPRINT_get_msg(mi);
  info.imprint.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(msg)),
                      static_cast<std::size_t>(ASN1_STRING_length(msg)));
  if (const ASN1_INTEGER* n = TS_TST_INFO_get_nonce(tst.get())) {
    BnPtr bn(ASN1_INTEGER_to_BN(n, nullptr));
    if (bn) {
      std::string raw(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
      BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(raw.data()));
      info.nonce = std::move(raw);
    }
  }
  const int ext = TS_TST_INFO_get_ext_by_NID(tst.get(), NID_qcStatements, -1);
  if (ext >= 0)
    info.qcStatementInToken =
        qcStatementsHaveQtst(X509_EXTENSION_get_data(TS_TST_INFO_get_ext(tst.get(), ext)));
  // The signer certificate: from the token's own bag or the caller's untrusted certificates.
  STACK_OF(X509)* signers = PKCS7_get0_signers(p7, extra, 0);
  if (signers != nullptr && sk_X509_num(signers) == 1) {
    X509* c = sk_X509_value(signers, 0);
    info.tsaSubject = subjectOneLine(c);
    info.tsaCertificateDer = certificateDer(c);
    info.qcStatementInCertificate = certHasQtst(c);
  }
  sk_X509_free(signers);
  clearErrors();
  if (tstOut != nullptr) *tstOut = std::move(tst);
  return info;
}

int expectedNid(std::size_t digestSize) {
  switch (digestSize) {
    case 32:
      return NID_sha256;
    case 48:
      return NID_sha384;
    case 64:
      return NID_sha512;
    default:
      return NID_undef;
  }
}

}  // namespace

Result<std::shared_ptr<const TimestampVerifier>> TimestampVerifier::fromPem(std::string_view pem) {
  auto certs = parsePemCertificates(pem, "time-stamp trust anchors");
  if (!certs) return std::move(certs).error();
  std::shared_ptr<TimestampVerifier> v(new TimestampVerifier());
  for (auto& c : *certs)
    v->anchors_.emplace_back(c.release());
  // Build one store now so that a library failure shows at startup.
  StorePtr first = v->acquireStore();
  if (!first) return opensslError(ErrorCode::Internal, "X509_STORE_new");
  v->releaseStore(std::move(first));
  return std::shared_ptr<const TimestampVerifier>(std::move(v));
}

namespace {
constexpr std::size_t kMaxPooledStores = 16;
constexpr std::size_t kMaxCachedCertificates = 256;
constexpr std::size_t kMaxCachedCertificateBytes = 16 * 1024;
}  // namespace

TimestampVerifier::StorePtr TimestampVerifier::acquireStore() const {
  {
    std::lock_guard<std::mutex> lock(poolMutex_);
    if (!pool_.empty()) {
      StorePtr s = std::move(pool_.back());
      pool_.pop_back();
      return s;
    }
  }
  StorePtr store(X509_STORE_new());
  if (!store) return store;
  X509_STORE_set_purpose(store.get(), X509_PURPOSE_TIMESTAMP_SIGN);
  installChainVerifyCache(store.get());
  for (const auto& a : anchors_)
    X509_STORE_add_cert(store.get(), a.get());  // a duplicate anchor fails harmlessly
  clearErrors();
  return store;
}

void TimestampVerifier::releaseStore(StorePtr store) const {
  // Only a store nobody else references goes back: TS_VERIFY_CTX released its reference already.
  std::lock_guard<std::mutex> lock(poolMutex_);
  if (pool_.size() < kMaxPooledStores) pool_.push_back(std::move(store));
}

X509* TimestampVerifier::cachedCertificate(std::string_view der) const {
  // Hostile tokens may carry huge certificates: those are parsed but never kept (bounded memory).
  if (der.size() > kMaxCachedCertificateBytes) {
    auto parsed = parseDerCertificate(der);
    if (!parsed) {
      clearErrors();
      return nullptr;
    }
    return parsed->release();
  }
  std::lock_guard<std::mutex> lock(certMutex_);
  auto it = certCache_.find(der);
  if (it == certCache_.end()) {
    auto parsed = parseDerCertificate(der);
    if (!parsed) {
      clearErrors();
      return nullptr;
    }
    if (certCache_.size() >= kMaxCachedCertificates) certCache_.clear();
    it = certCache_.emplace(std::string(der), std::unique_ptr<x509_st, CertDeleter>(parsed->release())).first;
  }
  X509_up_ref(it->second.get());
  return it->second.get();
}

Result<std::shared_ptr<const TimestampVerifier>> TimestampVerifier::fromPemFiles(
    const std::vector<std::string>& paths) {
  std::string all;
  for (const auto& path : paths) {
    auto pem = readFile(path, kMaxTrustFileBytes);
    if (!pem) return std::move(pem).error();
    auto check = parsePemCertificates(*pem, path);
    if (!check) return std::move(check).error();
    all += *pem;
    all += "\n";
  }
  if (all.empty()) return Error::invalidInput("time-stamp trust anchors: no file given");
  return fromPem(all);
}

TimestampVerifier::~TimestampVerifier() = default;

Result<TimestampInfo> TimestampVerifier::inspect(std::string_view tokenDer) {
  auto p7 = parseToken(tokenDer);
  if (!p7) return std::move(p7).error();
  return describe(p7->get(), nullptr, nullptr);
}

Result<TimestampInfo> TimestampVerifier::verify(std::string_view tokenDer, std::string_view digest,
                                                const TimestampVerifyOptions& options) const {
  return verifyImpl(tokenDer, digest, nullptr, options);
}

Result<TimestampInfo> TimestampVerifier::verifyData(std::string_view tokenDer,
                                                    std::string_view data,
                                                    const TimestampVerifyOptions& options) const {
  return verifyImpl(tokenDer, {}, &data, options);
}

Result<TimestampInfo> TimestampVerifier::verifyImpl(std::string_view tokenDer,
                                                    std::string_view digestIn,
                                                    const std::string_view* data,
                                                    const TimestampVerifyOptions& options) const {
  clearErrors();
  if (tokenDer.empty() || tokenDer.size() > kMaxTokenBytes)
    return Error::invalidInput("time-stamp token: empty or too large");
  // The token's certificates come from the cache (parsed once per distinct certificate); the
  // token itself is parsed without them. Any unexpected shape: OpenSSL parses the whole token.
  X509StackPtr extra(sk_X509_new_null());
  Result<Pkcs7Ptr> p7 = Error::internal("unparsed");
  if (auto split = splitToken(tokenDer)) {
    p7 = parseToken(split->stripped);
    if (p7)
      for (std::string_view c : split->certificates) {
        X509* x = cachedCertificate(c);
        if (x == nullptr) return Error::invalidInput("time-stamp token: a certificate is not valid DER");
        sk_X509_push(extra.get(), x);
      }
  }
  if (!p7) {
    clearErrors();
    sk_X509_pop_free(extra.release(), X509_free);
    extra.reset(sk_X509_new_null());
    p7 = parseToken(tokenDer);
  }
  if (!p7) return std::move(p7).error();

  if (!options.untrustedDer.empty()) {
    auto certs = parseDerCertificates(options.untrustedDer, "untrusted certificates");
    if (!certs) return std::move(certs).error();
    for (auto& c : *certs)
      sk_X509_push(extra.get(), c.release());
  }
  TsTstInfoPtr tst;
  auto info = describe(p7->get(), extra.get(), &tst);
  if (!info) return info;

  std::string computed;
  std::string_view digest = digestIn;
  if (data != nullptr) {
    // Explicitly fetched once: EVP_sha256() and friends are looked up by name on every use.
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    static EVP_MD* const sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
    static EVP_MD* const sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
    const EVP_MD* md = nullptr;
    if (info->hashAlgorithmOid == objectText(OBJ_nid2obj(NID_sha256))) md = sha256;
    if (info->hashAlgorithmOid == objectText(OBJ_nid2obj(NID_sha384))) md = sha384;
    if (info->hashAlgorithmOid == objectText(OBJ_nid2obj(NID_sha512))) md = sha512;
    if (md == nullptr)
      return Error::integrityFailure("time-stamp token: imprint algorithm " +
                                     info->hashAlgorithmOid + " is not supported");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data->data(), data->size(), out, &len, md, nullptr) != 1)
      return opensslError(ErrorCode::Internal, "EVP_Digest");
    computed.assign(reinterpret_cast<const char*>(out), len);
    digest = computed;
  }

  TsVerifyCtxPtr ctx(TS_VERIFY_CTX_new());
  if (!ctx) return opensslError(ErrorCode::Internal, "TS_VERIFY_CTX_new");
  int flags = TS_VFY_SIGNATURE | TS_VFY_VERSION;
  if (!digest.empty()) {
    const int nid = expectedNid(digest.size());
    if (nid == NID_undef)
      return Error::invalidInput("time-stamp verify: digest must be 32, 48 or 64 bytes");
    if (info->hashAlgorithmOid != objectText(OBJ_nid2obj(nid)))
      return Error::integrityFailure("time-stamp token: imprint algorithm " +
                                     info->hashAlgorithmOid +
                                     " does not match the expected digest");
    auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(digest.data(), digest.size()));
    if (copy == nullptr) return Error::internal("out of memory");
    TS_VERIFY_CTX_set_imprint(ctx.get(), copy,
                              static_cast<long>(digest.size()));  // takes ownership
    flags |= TS_VFY_IMPRINT;
  }
  TS_VERIFY_CTX_set_flags(ctx.get(), flags);

  std::optional<TimePoint> asOf =
      options.asOfGenTime ? std::optional<TimePoint>(info->genTime) : options.asOf;
  // The verification time lives in the store's parameters (TS_RESP_verify_token builds its
  // X509_STORE_CTX from them): a pooled store per call, with the time set or cleared here, keeps
  // calls thread-safe without rebuilding a store (and re-adding the anchors) each time.
  StorePtr store = acquireStore();
  if (!store) return opensslError(ErrorCode::Internal, "X509_STORE_new");
  X509_VERIFY_PARAM* param = X509_STORE_get0_param(store.get());
  if (asOf)
    X509_VERIFY_PARAM_set_time(
        param, std::chrono::duration_cast<std::chrono::seconds>(asOf->time_since_epoch()).count());
  else
    X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_USE_CHECK_TIME);
  X509_STORE_up_ref(store.get());
  TS_VERIFY_CTX_set_store(ctx.get(), store.get());  // the context owns that reference
  if (sk_X509_num(extra.get()) > 0) {
    STACK_OF(X509)* copy = X509_chain_up_ref(extra.get());
    TS_VERIFY_CTX_set_certs(ctx.get(), copy);  // owned by the context
  }
  const int verified = TS_RESP_verify_token(ctx.get(), p7->get());
  ctx.reset();  // drops the context's store reference before the store goes back to the pool
  releaseStore(std::move(store));
  if (verified != 1)
    return opensslError(ErrorCode::IntegrityFailure, "time-stamp token verification failed");

  if (options.expectedNonce && (!info->nonce || *info->nonce != *options.expectedNonce))
    return Error::integrityFailure("time-stamp token: nonce does not match the request");
  if (options.expectedPolicyOid && info->policyOid != *options.expectedPolicyOid)
    return Error::integrityFailure("time-stamp token: policy " + info->policyOid +
                                   " is not the expected " + *options.expectedPolicyOid);
  if (options.requireQualified && !info->qualified())
    return Error::integrityFailure("time-stamp token is not qualified (no esi4-qtstStatement-1)");
  return info;
}

Result<bool> certificateHasQtstStatement(std::string_view certDer) {
  auto cert = parseDerCertificate(certDer);
  if (!cert) return std::move(cert).error();
  return certHasQtst(cert->get());
}

}  // namespace erds::evidence
