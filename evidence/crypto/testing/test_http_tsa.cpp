#include "test_http_tsa.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <sstream>

namespace erds::evidence::testing {

namespace {

class FnHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit FnHandler(TestHttpTsa::Handler h) : h_(std::move(h)) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    std::ostringstream body;
    Poco::StreamCopier::copyStream(req.stream(), body);
    auto [status, out] = h_(body.str());
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    resp.setContentType("application/timestamp-reply");
    resp.setContentLength(static_cast<std::streamsize>(out.size()));
    resp.send() << out;
  }

 private:
  TestHttpTsa::Handler h_;
};

class FnFactory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit FnFactory(TestHttpTsa::Handler h) : h_(std::move(h)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new FnHandler(h_);
  }

 private:
  TestHttpTsa::Handler h_;
};

}  // namespace

struct TestHttpTsa::Impl {
  explicit Impl(Handler h)
      : socket(Poco::Net::SocketAddress("127.0.0.1", 0)),
        server(new FnFactory(std::move(h)), socket, new Poco::Net::HTTPServerParams) {}
  Poco::Net::ServerSocket socket;
  Poco::Net::HTTPServer server;
};

TestHttpTsa::TestHttpTsa(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {
  impl_->server.start();
}

TestHttpTsa::~TestHttpTsa() { impl_->server.stopAll(true); }

std::string TestHttpTsa::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->socket.address().port()) + "/tsa";
}

std::string TestHttpTsa::deadUrl(const std::string& scheme) {
  Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
  const auto port = s.address().port();
  s.close();
  return scheme + "://127.0.0.1:" + std::to_string(port) + "/tsa";
}

}  // namespace erds::evidence::testing
