// Shared HTTPS client pieces of the integration suites: a verifying client context and one
// request/response exchange with erdsd. Test-only (erds_integration_harness).
#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace erds::itest {

struct HttpReply {
  int status = 0;
  std::string contentType;
  std::string body;
  std::string setCookie;  // the Set-Cookie header, "" if absent
  Poco::Net::HTTPResponse head;
  bool transportError = false;  // set only by callers that catch Poco exceptions
};

// A TLS client context that verifies the server strictly against `caFile`; with `certFile` and
// `keyFile`, presents that client certificate when the server asks.
Poco::Net::Context::Ptr clientContext(const std::string& caFile, const std::string& certFile = "",
                                      const std::string& keyFile = "");

// Sends `req` to https://localhost:`port` followed by `body` (nullptr: the head only, announcing
// whatever Content-Length `req` carries) and reads the whole reply. Throws Poco::Exception on
// transport errors, like Poco itself.
HttpReply httpsExchange(const Poco::Net::Context::Ptr& ctx, uint16_t port,
                        Poco::Net::HTTPRequest& req, const std::string* body,
                        std::chrono::seconds timeout);

}  // namespace erds::itest
