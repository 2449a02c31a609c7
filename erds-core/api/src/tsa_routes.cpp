#include "erds/api/tsa_routes.h"

#include <algorithm>
#include <cctype>

#include "erds/base/log.h"

namespace erds::api {
namespace {

constexpr const char* kQueryType = "application/timestamp-query";
constexpr const char* kReplyType = "application/timestamp-reply";

bool startsWithBearer(const std::string& value) {
  if (value.size() < 7) return false;
  std::string scheme = value.substr(0, 7);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return scheme == "bearer ";
}

}  // namespace

TsaRoutes::TsaRoutes(TsaRoutesDeps deps, TsaRoutesOptions options)
    : deps_(std::move(deps)), options_(options) {}

Result<http::Response> TsaRoutes::handle(const http::Request& r) const {
  // Only a bearer token: a browser's session cookie must not be able to spend the unit's key.
  const std::string* authorization = r.header("Authorization");
  if (authorization == nullptr || !startsWithBearer(*authorization) ||
      deps_.authenticator == nullptr)
    return Error::unauthorized("authentication required");
  auto caller = deps_.authenticator->authenticate(r);
  if (!caller) return std::move(caller).error();
  if (!deps_.responder) return Error::unavailable("time-stamping unit not configured");
  if (static_cast<int64_t>(r.body.size()) > options_.maxQueryBytes)
    return Error::invalidInput("time-stamp query too large");
  auto reply = deps_.responder(r.body);
  if (!reply) {
    log::warn("tsa.serve_failed",
              {{"request_id", r.requestId}, {"error", reply.error().toString()}});
    return std::move(reply).error();
  }
  log::debug("tsa.served", {{"request_id", r.requestId}, {"session", caller->sessionRef}});
  http::Response out;
  out.status = 200;
  out.contentType = kReplyType;
  out.body = std::move(*reply);
  return out;
}

Result<void> TsaRoutes::registerRoutes(http::Router& router) {
  http::RouteSpec spec;
  spec.method = "POST";
  spec.path = "/tsa";
  spec.operationId = "timestamp";
  spec.summary = "RFC 3161 time-stamping by the built-in unit (authenticated clients)";
  spec.description =
      "RFC 3161 over HTTP (section 3.4): the body is a DER TimeStampReq "
      "(application/timestamp-query), the reply a "
      "DER TimeStampResp (application/timestamp-reply). A body that is not a TimeStampReq is "
      "answered like any TSA "
      "does: HTTP 200 with status rejection and failInfo badDataFormat. Requires a session token "
      "in "
      "'Authorization: Bearer' (401 otherwise). Served only when tsa.serve=true.";
  spec.tags = {"time-stamping"};
  spec.requestMediaType = kQueryType;
  spec.maxBodyBytes = options_.maxQueryBytes;
  spec.responses = {
      {200, "TimeStampResp (granted, or a rejection naming the failure)", kReplyType, ""}};
  spec.security = {"bearerAuth"};
  const TsaRoutes* self = this;
  return router.add(spec, [self](const http::Request& r) { return self->handle(r); });
}

}  // namespace erds::api
