#include "erds/evidence/rfc3161_tsu.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <sys/timex.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <optional>

#include "erds/base/log.h"
#include "erds/evidence/forwarding_key.h"

#include "openssl_util.h"
#include "ts_der.h"

namespace erds::evidence {

using namespace internal;

Result<void> checkSystemClockSynchronised() {
  struct timex tx {};
  tx.modes = 0;  // read-only query: needs no capability
  const int state = ::adjtimex(&tx);
  if (state == -1) return Error::unavailable("adjtimex failed: clock synchronisation unknown");
  if (state == TIME_ERROR || (tx.status & STA_UNSYNC) != 0)
    return Error::unavailable("system clock is not synchronised (adjtimex: TIME_ERROR/STA_UNSYNC)");
  return ok();
}

struct Rfc3161Tsu::State {
  std::shared_ptr<Signer> signer;
  Rfc3161TsuOptions options;
  const Clock* clock = nullptr;
  EvpPkeyPtr key;
  X509Ptr cert;
  X509StackPtr chain;
  Asn1ObjPtr policy;
  std::string certDer;
  std::atomic<bool> warnedUnsynced{false};

  std::mutex poolMutex;
  std::vector<TsRespCtxPtr> pool;

  // timestamp()'s fast path (ts_der.h); empty when the configuration is one it does not model.
  std::optional<TstTokenEncoder> fast;
};

namespace {

constexpr std::size_t kMaxPooledContexts = 16;

ASN1_INTEGER* randomSerial(TS_RESP_CTX* ctx, void*) {
  // 128 random bits: unique across restarts and nodes without coordination.
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION, "Error during serial number generation.");
    TS_RESP_CTX_add_failure_info(ctx, TS_INFO_ADD_INFO_NOT_AVAILABLE);
    return nullptr;
  }
  bytes[0] |= 0x01;  // never zero
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr;
}

}  // namespace

// False when time stamps must be refused because the clock is not synchronised (and that is
// required); logs as both paths always did.
static bool clockUsable(Rfc3161Tsu::State* st) {
  auto sync =
      st->options.clockSyncCheck ? st->options.clockSyncCheck() : checkSystemClockSynchronised();
  if (!sync) {
    if (st->options.requireSyncedClock) {
      log::error("tsu.clock_unsynchronised", {{"detail", sync.error().message}});
      return false;
    }
    if (!st->warnedUnsynced.exchange(true))
      log::warn(
          "tsu.clock_unsynchronised_allowed",
          {{"detail", sync.error().message}, {"note", "development mode issues tokens anyway"}});
  }
  return true;
}

// genTime comes from the injected Clock; the synchronisation check happens here so that a raw
// request gets the RFC 3161 answer (rejection, timeNotAvailable).
static int tsuTime(TS_RESP_CTX* ctx, void* data, long* sec, long* usec) {
  auto* st = static_cast<Rfc3161Tsu::State*>(data);
  if (!clockUsable(st)) {
    TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION, "Time is not available.");
    TS_RESP_CTX_add_failure_info(ctx, TS_INFO_TIME_NOT_AVAILABLE);
    return 0;
  }
  const auto us = st->clock->now().time_since_epoch().count();
  *sec = static_cast<long>(us / 1000000);
  *usec = static_cast<long>(us % 1000000);
  return 1;
}

Rfc3161Tsu::Rfc3161Tsu(std::unique_ptr<State> state) : state_(std::move(state)) {}
Rfc3161Tsu::~Rfc3161Tsu() = default;

const std::string& Rfc3161Tsu::certificateDer() const {
  return state_->certDer;
}

namespace {

// Every option set here is mirrored by TstTokenEncoder (ts_der.h), timestamp()'s fast path: a
// change here needs the same change there (the byte-identity tests in rfc3161_tsu_test.cpp fail
// otherwise).
Result<TsRespCtxPtr> newContext(Rfc3161Tsu::State& st, TS_time_cb timeCb) {
  TsRespCtxPtr ctx(TS_RESP_CTX_new());
  if (!ctx) return opensslError(ErrorCode::Internal, "TS_RESP_CTX_new");
  const auto& o = st.options;
  const long acc = static_cast<long>(o.accuracy.count());
  if (TS_RESP_CTX_set_signer_cert(ctx.get(), st.cert.get()) != 1)
    return opensslError(
        ErrorCode::InvalidInput,
        "TSU certificate is not usable for time-stamping (EKU timeStamping, critical)");
  if (TS_RESP_CTX_set_signer_key(ctx.get(), st.key.get()) != 1 ||
      TS_RESP_CTX_set_signer_digest(ctx.get(), EVP_sha256()) != 1 ||
      TS_RESP_CTX_set_ess_cert_id_digest(ctx.get(), EVP_sha256()) != 1 ||
      (st.chain && sk_X509_num(st.chain.get()) > 0 &&
       TS_RESP_CTX_set_certs(ctx.get(), st.chain.get()) != 1) ||
      TS_RESP_CTX_set_def_policy(ctx.get(), st.policy.get()) != 1 ||
      TS_RESP_CTX_add_md(ctx.get(), EVP_sha256()) != 1 ||
      TS_RESP_CTX_add_md(ctx.get(), EVP_sha384()) != 1 ||
      TS_RESP_CTX_add_md(ctx.get(), EVP_sha512()) != 1 ||
      TS_RESP_CTX_set_accuracy(ctx.get(), static_cast<int>(acc / 1000000),
                               static_cast<int>((acc / 1000) % 1000),
                               static_cast<int>(acc % 1000)) != 1 ||
      TS_RESP_CTX_set_clock_precision_digits(ctx.get(),
                                             static_cast<unsigned>(o.clockPrecisionDigits)) != 1)
    return opensslError(ErrorCode::Internal, "configuring TS_RESP_CTX");
  // No TS_ORDERING: several nodes issue tokens and cannot order them against each other.
  if (o.includeTsaName) TS_RESP_CTX_add_flags(ctx.get(), TS_TSA_NAME);
  TS_RESP_CTX_set_serial_cb(ctx.get(), randomSerial, nullptr);
  TS_RESP_CTX_set_time_cb(ctx.get(), timeCb, &st);
  return ctx;
}

}  // namespace

Result<std::unique_ptr<Rfc3161Tsu>> Rfc3161Tsu::create(std::shared_ptr<Signer> signer,
                                                       Rfc3161TsuOptions options,
                                                       const Clock& clock) {
  if (!signer) return Error::invalidInput("Rfc3161Tsu: no signer");
  if (options.policyOid.empty())
    return Error::invalidInput("Rfc3161Tsu: a TSA policy OID is required");
  if (options.accuracy.count() <= 0)
    return Error::invalidInput("Rfc3161Tsu: accuracy must be positive");
  if (options.clockPrecisionDigits < 0 || options.clockPrecisionDigits > 6)
    return Error::invalidInput("Rfc3161Tsu: clock precision must be 0..6 digits");
  auto st = std::make_unique<State>();
  st->policy.reset(OBJ_txt2obj(options.policyOid.c_str(), 1));
  if (!st->policy) {
    clearErrors();
    return Error::invalidInput("Rfc3161Tsu: bad policy OID '" + options.policyOid + "'");
  }
  auto info = signer->keyInfo(options.keyLabel);
  if (!info) return std::move(info).error();
  auto cert = parseDerCertificate(info->certificateDer);
  if (!cert) return std::move(cert).error();
  auto key = makeForwardingKey(signer, options.keyLabel);
  if (!key) return std::move(key).error();
  st->chain.reset(sk_X509_new_null());
  if (!info->chainDer.empty()) {
    auto chain = parseDerCertificates(info->chainDer, "TSU chain");
    if (!chain) return std::move(chain).error();
    for (auto& c : *chain)
      sk_X509_push(st->chain.get(), c.release());
  }
  st->signer = std::move(signer);
  st->options = std::move(options);
  st->clock = &clock;
  st->key = std::move(*key);
  st->cert = std::move(*cert);
  st->certDer = info->certificateDer;
  // Build one context now so that a bad certificate fails at startup, not on the first request.
  auto ctx = newContext(*st, tsuTime);
  if (!ctx) return std::move(ctx).error();
  st->pool.push_back(std::move(*ctx));
  // The fast path of timestamp(). A configuration it does not model (a key that is neither EC nor
  // RSA, ...) keeps OpenSSL's TS_RESP_create_response path for every token.
  auto fast = TstTokenEncoder::create(st->cert.get(), st->chain.get(), st->options);
  if (fast)
    st->fast = std::move(*fast);
  else
    log::warn("tsu.fast_path_unavailable", {{"detail", fast.error().message}});
  return std::unique_ptr<Rfc3161Tsu>(new Rfc3161Tsu(std::move(st)));
}

namespace {

// The response to `derRequest` from a pooled TS_RESP_CTX (a context is not thread-safe, so each
// call takes one out of the pool or builds one). Null only on a library failure.
Result<TsRespPtr> createResponse(Rfc3161Tsu::State& st, std::string_view derRequest) {
  TsRespCtxPtr ctx;
  {
    std::lock_guard<std::mutex> lock(st.poolMutex);
    if (!st.pool.empty()) {
      ctx = std::move(st.pool.back());
      st.pool.pop_back();
    }
  }
  if (!ctx) {
    auto made = newContext(st, tsuTime);
    if (!made) return std::move(made).error();
    ctx = std::move(*made);
  }
  clearErrors();
  BioPtr in(BIO_new_mem_buf(derRequest.data(), static_cast<int>(derRequest.size())));
  TsRespPtr resp(in ? TS_RESP_create_response(ctx.get(), in.get()) : nullptr);
  std::optional<Error> failure;
  if (!resp) failure = opensslError(ErrorCode::Internal, "TS_RESP_create_response");
  {
    std::lock_guard<std::mutex> lock(st.poolMutex);
    if (st.pool.size() < kMaxPooledContexts) st.pool.push_back(std::move(ctx));
  }
  if (failure) return std::move(*failure);
  return resp;
}

}  // namespace

Result<std::string> Rfc3161Tsu::respond(std::string_view derRequest) {
  if (derRequest.size() > state_->options.maxRequestBytes)
    return Error::invalidInput("time-stamp request too large");
  auto resp = createResponse(*state_, derRequest);
  if (!resp) return std::move(resp).error();
  std::string der = toDerOnce(resp->get(), i2d_TS_RESP);
  if (der.empty()) return opensslError(ErrorCode::Internal, "i2d_TS_RESP");
  return der;
}

namespace {

// The OpenSSL path of timestamp() (the fallback when the fast path does not model the unit).
Result<TimestampToken> timestampWithOpenssl(Rfc3161Tsu::State& st, std::string_view sha256Digest) {
  unsigned char nonce[8];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return opensslError(ErrorCode::Internal, "RAND_bytes");
  nonce[0] |= 0x01;  // keep the DER INTEGER the full 8 bytes
  auto req = buildTimestampRequest(sha256Digest,
                                   std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
  if (!req) return std::move(req).error();
  // The response object is read directly: encoding it and parsing it back cost most of a token
  // (d2i of the embedded certificate decodes its public key through the provider machinery).
  auto made = createResponse(st, *req);
  if (!made) return std::move(made).error();
  TS_RESP* resp = made->get();
  TS_STATUS_INFO* status = TS_RESP_get_status_info(resp);
  const long s = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(status));
  if (s != TS_STATUS_GRANTED && s != TS_STATUS_GRANTED_WITH_MODS) {
    std::string text = "time-stamping unit refused";
    const auto* fi = TS_STATUS_INFO_get0_failure_info(status);
    if (fi != nullptr && ASN1_BIT_STRING_get_bit(fi, TS_INFO_TIME_NOT_AVAILABLE))
      text += ": time not available (clock not synchronised)";
    else if (fi != nullptr && ASN1_BIT_STRING_get_bit(fi, TS_INFO_SYSTEM_FAILURE))
      text += ": system failure (signer unavailable?)";
    return Error::unavailable(text);
  }
  TS_TST_INFO* tst = TS_RESP_get_tst_info(resp);
  PKCS7* tokenP7 = TS_RESP_get_token(resp);
  if (tst == nullptr || tokenP7 == nullptr)
    return Error::internal("time-stamping unit: granted response without a token");
  auto genTime = fromGeneralizedTime(TS_TST_INFO_get_time(tst));
  if (!genTime) return std::move(genTime).error();
  TimestampToken token;
  token.der = toDerOnce(tokenP7, i2d_PKCS7);
  if (token.der.empty()) return opensslError(ErrorCode::Internal, "i2d_PKCS7 (token)");
  token.genTime = *genTime;
  token.serialHex = integerHex(TS_TST_INFO_get_serial(tst));
  return token;
}

std::string lowerHex(const unsigned char* p, std::size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

}  // namespace

// Fast path: the same token as TS_RESP_create_response would build for buildTimestampRequest(
// digest, random 8-byte nonce, certReq) (proven byte for byte in rfc3161_tsu_test.cpp), written
// directly as DER; the only expensive step left is the one signature through the Signer.
Result<TimestampToken> Rfc3161Tsu::timestamp(std::string_view sha256Digest) {
  State& st = *state_;
  if (!st.fast) return timestampWithOpenssl(st, sha256Digest);
  if (sha256Digest.size() != 32)
    return Error::invalidInput("time-stamp request: digest must be 32 bytes (SHA-256)");
  unsigned char nonce[8];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return opensslError(ErrorCode::Internal, "RAND_bytes");
  nonce[0] |= 0x01;  // keep the DER INTEGER the full 8 bytes
  // Same order as TS_RESP_create_response: serial, then genTime (with the clock check).
  unsigned char serial[16];  // as randomSerial(): 128 random bits, never zero
  if (RAND_bytes(serial, sizeof serial) != 1) {
    clearErrors();
    return Error::unavailable("time-stamping unit refused");
  }
  serial[0] |= 0x01;
  if (!clockUsable(&st))
    return Error::unavailable(
        "time-stamping unit refused: time not available (clock not synchronised)");
  const auto us = st.clock->now().time_since_epoch().count();
  TstTokenInputs in;
  in.sha256Digest = sha256Digest;
  in.serial = std::string_view(reinterpret_cast<const char*>(serial), sizeof serial);
  in.nonce = std::string_view(reinterpret_cast<const char*>(nonce), sizeof nonce);
  in.genTimeSec = static_cast<long long>(us / 1000000);
  in.genTimeUsec = static_cast<long>(us % 1000000);
  in.signingTime = std::time(nullptr);  // as PKCS7_dataFinal: the system time, not the Clock
  bool signFailed = false;
  auto der = st.fast->encode(in, [&st, &signFailed](std::string_view digest) {
    auto sig = st.signer->signDigest(st.options.keyLabel, digest);
    signFailed = !sig;
    return sig;
  });
  if (!der && signFailed)  // the OpenSSL path answered a signing failure with a rejection
    return Error::unavailable("time-stamping unit refused: signing failed (signer unavailable?): " +
                              der.error().message);
  if (!der) return std::move(der).error();
  // genTime as encoded: the fraction truncated to the configured precision.
  long long scale = 1;
  for (int i = st.options.clockPrecisionDigits; i < 6; ++i)
    scale *= 10;
  TimestampToken token;
  token.der = std::move(*der);
  token.genTime = TimePoint(std::chrono::seconds(in.genTimeSec) +
                            std::chrono::microseconds(in.genTimeUsec / scale * scale));
  token.serialHex = lowerHex(serial, sizeof serial);
  return token;
}

Result<std::string> buildTimestampRequest(std::string_view sha256Digest, std::string_view nonce,
                                          bool certReq, std::string_view policyOid) {
  if (sha256Digest.size() != 32)
    return Error::invalidInput("time-stamp request: digest must be 32 bytes (SHA-256)");
  TsReqPtr req(TS_REQ_new());
  std::unique_ptr<TS_MSG_IMPRINT, Deleter<TS_MSG_IMPRINT_free>> imprint(TS_MSG_IMPRINT_new());
  std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR_free>> algo(X509_ALGOR_new());
  if (!req || !imprint || !algo) return opensslError(ErrorCode::Internal, "TS_REQ_new");
  X509_ALGOR_set_md(algo.get(), EVP_sha256());
  if (TS_REQ_set_version(req.get(), 1) != 1 ||
      TS_MSG_IMPRINT_set_algo(imprint.get(), algo.get()) != 1 ||
      TS_MSG_IMPRINT_set_msg(
          imprint.get(), reinterpret_cast<unsigned char*>(const_cast<char*>(sha256Digest.data())),
          static_cast<int>(sha256Digest.size())) != 1 ||
      TS_REQ_set_msg_imprint(req.get(), imprint.get()) != 1 ||
      TS_REQ_set_cert_req(req.get(), certReq ? 1 : 0) != 1)
    return opensslError(ErrorCode::Internal, "building TimeStampReq");
  if (!policyOid.empty()) {
    Asn1ObjPtr policy(OBJ_txt2obj(std::string(policyOid).c_str(), 1));
    if (!policy) {
      clearErrors();
      return Error::invalidInput("time-stamp request: bad policy OID");
    }
    if (TS_REQ_set_policy_id(req.get(), policy.get()) != 1)
      return opensslError(ErrorCode::Internal, "policy");
  }
  if (!nonce.empty()) {
    BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(nonce.data()),
                       static_cast<int>(nonce.size()), nullptr));
    Asn1IntPtr n(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
    if (!n || TS_REQ_set_nonce(req.get(), n.get()) != 1)
      return opensslError(ErrorCode::Internal, "nonce");
  }
  return toDer(req.get(), i2d_TS_REQ);
}

}  // namespace erds::evidence
