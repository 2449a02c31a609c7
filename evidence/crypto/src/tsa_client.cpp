#include "erds/evidence/tsa_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/URI.h>
#include <openssl/rand.h>

#include <mutex>

#include "erds/base/log.h"
#include "erds/evidence/rfc3161_tsu.h"

#include "openssl_util.h"

namespace erds::evidence {

using namespace internal;

namespace {

Poco::Timespan toTimespan(std::chrono::milliseconds ms) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
}

Result<void> checkUrl(const std::string& url) {
  try {
    Poco::URI uri(url);
    if ((uri.getScheme() != "http" && uri.getScheme() != "https") || uri.getHost().empty())
      return Error::invalidInput("TSA URL must be http(s)://host[:port]/path: " + url);
  } catch (const Poco::Exception& e) {
    return Error::invalidInput("bad TSA URL " + url + ": " + e.displayText());
  }
  return ok();
}

Poco::Net::Context::Ptr tlsContext(const std::string& caFile) {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Net::initializeSSL(); });
  return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", caFile,
                                Poco::Net::Context::VERIFY_STRICT, 9, caFile.empty(),
                                "HIGH:!aNULL:!eNULL:!MD5:!RC4");
}

}  // namespace

HttpTsaClient::HttpTsaClient(HttpTsaClientOptions options,
                             std::shared_ptr<const TimestampVerifier> verifier, const Clock& clock)
    : options_(std::move(options)), verifier_(std::move(verifier)), clock_(clock) {}

HttpTsaClient::~HttpTsaClient() = default;

Result<std::unique_ptr<HttpTsaClient>> HttpTsaClient::create(
    HttpTsaClientOptions options, std::shared_ptr<const TimestampVerifier> verifier,
    const Clock& clock) {
  if (options.urls.empty()) return Error::invalidInput("HttpTsaClient: no TSA URL configured");
  if (!verifier) return Error::invalidInput("HttpTsaClient: no trust anchors for TSA certificates");
  for (const auto& url : options.urls)
    ERDS_RETURN_IF_ERROR(checkUrl(url));
  if (options.bearerToken) {
    if (options.bearerToken->empty()) return Error::invalidInput("HttpTsaClient: empty bearer token");
    for (const auto& url : options.urls) {
      if (url.rfind("https://", 0) != 0)
        return Error::invalidInput("HttpTsaClient: a bearer token is sent only to https:// URLs, not " + url);
    }
  }
  return std::unique_ptr<HttpTsaClient>(
      new HttpTsaClient(std::move(options), std::move(verifier), clock));
}

Result<TimestampToken> HttpTsaClient::timestamp(std::string_view sha256Digest) {
  if (sha256Digest.size() != 32)
    return Error::invalidInput("time-stamp: digest must be 32 bytes (SHA-256)");
  Error last = Error::unavailable("no TSA configured");
  for (const auto& url : options_.urls) {
    auto token = timestampFrom(url, sha256Digest);
    if (token) return token;
    last = std::move(token).error();
    log::warn("tsa.request_failed", {{"url", url}, {"error", last.toString()}});
  }
  return Error::unavailable("no time-stamping authority answered with a valid token; last: " +
                            last.message);
}

Result<TimestampToken> HttpTsaClient::timestampFrom(const std::string& url,
                                                    std::string_view sha256Digest) {
  unsigned char nonceBytes[8];
  if (RAND_bytes(nonceBytes, sizeof nonceBytes) != 1) return Error::internal("RAND_bytes failed");
  nonceBytes[0] |= 0x01;  // no leading zero byte: the nonce round-trips through INTEGER unchanged
  const std::string nonce(reinterpret_cast<char*>(nonceBytes), sizeof nonceBytes);
  auto request = buildTimestampRequest(sha256Digest, nonce, true, options_.policyOid);
  if (!request) return std::move(request).error();

  std::string body;
  try {
    Poco::URI uri(url);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (uri.getScheme() == "https")
      session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(),
                                                                tlsContext(options_.tlsCaFile));
    else
      session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    session->setTimeout(toTimespan(options_.connectTimeout), toTimespan(options_.requestTimeout),
                        toTimespan(options_.requestTimeout));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST,
                               uri.getPathAndQuery().empty() ? "/" : uri.getPathAndQuery(),
                               Poco::Net::HTTPMessage::HTTP_1_1);
    req.setContentType("application/timestamp-query");
    req.setContentLength(static_cast<std::streamsize>(request->size()));
    req.set("Accept", "application/timestamp-reply");
    if (options_.bearerToken) req.set("Authorization", "Bearer " + std::string(options_.bearerToken->reveal()));
    session->sendRequest(req) << *request;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK)
      return Error::unavailable("TSA " + url + " answered HTTP " +
                                std::to_string(static_cast<int>(resp.getStatus())));
    char buf[8192];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      body.append(buf, static_cast<std::size_t>(in.gcount()));
      if (body.size() > options_.maxResponseBytes)
        return Error::unavailable("TSA " + url + ": response too large");
    }
  } catch (const Poco::Exception& e) {
    return Error::unavailable("TSA " + url + ": " + e.displayText());
  } catch (const std::exception& e) {
    return Error::unavailable("TSA " + url + ": " + e.what());
  }

  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  TsRespPtr resp(d2i_TS_RESP(nullptr, &p, static_cast<long>(body.size())));
  if (!resp) return opensslError(ErrorCode::Unavailable, "TSA " + url + ": not a TimeStampResp");
  TS_STATUS_INFO* status = TS_RESP_get_status_info(resp.get());
  const long s = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(status));
  if (s != TS_STATUS_GRANTED && s != TS_STATUS_GRANTED_WITH_MODS)
    return Error::unavailable("TSA " + url + " refused the request (status " + std::to_string(s) +
                              ")");
  PKCS7* tokenP7 = TS_RESP_get_token(resp.get());
  if (tokenP7 == nullptr) return Error::unavailable("TSA " + url + ": granted without a token");
  std::string tokenDer = toDer(tokenP7, i2d_PKCS7);

  TimestampVerifyOptions vo;
  vo.asOf = clock_.now();
  vo.expectedNonce = nonce;
  if (!options_.policyOid.empty()) vo.expectedPolicyOid = options_.policyOid;
  vo.requireQualified = options_.requireQualified;
  auto info = verifier_->verify(tokenDer, sha256Digest, vo);
  if (!info) return Error::unavailable("TSA " + url + ": " + info.error().toString());
  const auto skew = info->genTime - clock_.now();
  if (skew > options_.maxClockSkew || -skew > options_.maxClockSkew)
    return Error::unavailable("TSA " + url + ": genTime " + formatRfc3339(info->genTime) +
                              " too far from local time");
  TimestampToken token;
  token.der = std::move(tokenDer);
  token.genTime = info->genTime;
  token.serialHex = info->serialHex;
  return token;
}

}  // namespace erds::evidence
