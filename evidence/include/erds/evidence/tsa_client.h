// HttpTsaClient: obtains RFC 3161 tokens from external time-stamping authorities over HTTP or
// HTTPS (application/timestamp-query), trying a list of URLs in order, and verifies every answer
// (status, imprint, nonce, signature and chain, qualification when required) before returning it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/evidence/timestamp_authority.h"
#include "erds/evidence/timestamp_verify.h"

namespace erds::evidence {

struct HttpTsaClientOptions {
  std::vector<std::string> urls;  // http:// or https://, tried in order
  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds requestTimeout{10000};  // send + receive, per URL
  std::size_t maxResponseBytes = 128 * 1024;
  std::string policyOid;                   // requested and required ("" = any)
  bool requireQualified = false;           // qualified mode: esi4-qtstStatement-1
  std::chrono::seconds maxClockSkew{300};  // |genTime - now| allowed
  std::string tlsCaFile;                   // PEM for https ("" = system trust store)
  // Sent as "Authorization: Bearer <token>" (e.g. to another erds node's POST /tsa). Only with
  // https:// URLs: create() refuses it next to an http:// URL. Never logged.
  std::optional<Secret> bearerToken;
};

class HttpTsaClient final : public TimestampAuthority {
 public:
  // InvalidInput for an empty list, a URL that is not http(s)://host[:port]/path, or a bearer
  // token (empty, or with any http:// URL: a token never crosses the network in clear text).
  // `verifier` holds the trust anchors the TSA certificates must chain to; `clock` must outlive
  // the client (genTime sanity check and chain validation time).
  static Result<std::unique_ptr<HttpTsaClient>> create(
      HttpTsaClientOptions options, std::shared_ptr<const TimestampVerifier> verifier,
      const Clock& clock);
  ~HttpTsaClient() override;

  // Asks each URL in order until one returns a token that verifies; the failures of the others are
  // logged. Unavailable (with the last failure) when none does. InvalidInput for a digest that is
  // not 32 bytes. Thread-safe (one HTTP session per call).
  Result<TimestampToken> timestamp(std::string_view sha256Digest) override;

  // One URL only (exposed for tests and for health checks).
  Result<TimestampToken> timestampFrom(const std::string& url, std::string_view sha256Digest);

 private:
  HttpTsaClient(HttpTsaClientOptions options, std::shared_ptr<const TimestampVerifier> verifier,
                const Clock& clock);
  HttpTsaClientOptions options_;
  std::shared_ptr<const TimestampVerifier> verifier_;
  const Clock& clock_;
};

}  // namespace erds::evidence
