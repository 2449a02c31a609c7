// TsaRoutes: POST /tsa, the built-in RFC 3161 time-stamping unit over HTTP (RFC 3161 section 3.4:
// application/timestamp-query in, application/timestamp-reply out), for authenticated clients only
// (a session token in "Authorization: Bearer"). Registered only when tsa.serve=true.
#pragma once

#include <cstdint>

#include "erds/api/ports.h"
#include "erds/api/sealing_evidence_issuer.h"
#include "erds/http/router.h"

namespace erds::api {

struct TsaRoutesOptions {
  // Largest accepted TimeStampReq; larger bodies get 413 problem+json without being read. A SHA-512
  // request with a policy, nonce and extensions is far below 1 KiB.
  int64_t maxQueryBytes = 16 * 1024;
};

// Everything must outlive the routes.
struct TsaRoutesDeps {
  const CallerAuthenticator* authenticator = nullptr;
  TimestampResponder responder;  // the built-in unit (SealingEvidenceIssuer::builtinResponder)
};

// POST /tsa. Replies (the one place that decides them):
//  - 200 application/timestamp-reply: a TimeStampResp, granted or an RFC 3161 rejection as TSAs
//    answer (a body that is not a DER TimeStampReq: status rejection, failInfo badDataFormat;
//    an unsupported hash: badAlg; an unknown policy: unacceptedPolicy; clock not synchronised:
//    timeNotAvailable).
//  - 401 problem+json without an "Authorization: Bearer" session token (a cookie alone is not
//    accepted: this endpoint is for programs, not browsers), 413 for a query over maxQueryBytes,
//    415 for another Content-Type, 503 while the unit cannot be used (signer unreachable).
// Handlers are thread-safe.
class TsaRoutes final : public http::RouteProvider {
 public:
  TsaRoutes(TsaRoutesDeps deps, TsaRoutesOptions options = {});

  // Adds the route and its OpenAPI metadata. Needs the "bearerAuth" security scheme (registered
  // by the identity service) on the router: InvalidInput otherwise. Call once.
  Result<void> registerRoutes(http::Router& router) override;

  // The handler itself (also used by tests without a server).
  Result<http::Response> handle(const http::Request& request) const;

 private:
  TsaRoutesDeps deps_;
  TsaRoutesOptions options_;
};

}  // namespace erds::api
