// Shared HTTPS client pieces of the integration suites (see https_client.h).
#include "https_client.h"

#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>

#include <sstream>

namespace erds::itest {

Poco::Net::Context::Ptr clientContext(const std::string& caFile, const std::string& certFile,
                                      const std::string& keyFile) {
  return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, keyFile, certFile, caFile,
                                Poco::Net::Context::VERIFY_STRICT, 9, false, "ALL");
}

HttpReply httpsExchange(const Poco::Net::Context::Ptr& ctx, uint16_t port,
                        Poco::Net::HTTPRequest& req, const std::string* body,
                        std::chrono::seconds timeout) {
  Poco::Net::HTTPSClientSession session("localhost", port, ctx);
  session.setTimeout(Poco::Timespan(static_cast<long>(timeout.count()), 0));
  if (body) {
    session.sendRequest(req) << *body;
  } else {
    session.sendRequest(req).flush();
  }
  HttpReply r;
  std::istream& in = session.receiveResponse(r.head);
  std::ostringstream out;
  Poco::StreamCopier::copyStream(in, out);
  r.status = r.head.getStatus();
  r.contentType = r.head.getContentType();
  r.body = out.str();
  r.setCookie = r.head.get("Set-Cookie", "");
  return r;
}

}  // namespace erds::itest
