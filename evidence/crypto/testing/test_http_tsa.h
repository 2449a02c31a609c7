// Test-only HTTP endpoint for time-stamp clients: a real Poco HTTP server on 127.0.0.1, port 0,
// answering every POST with what a function returns. Shared by the evidence/crypto client tests
// and the API's TSA route tests. Never linked into a release binary.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace erds::evidence::testing {

class TestHttpTsa {
 public:
  // (request body) -> (HTTP status, response body); called on the server's threads.
  using Handler = std::function<std::pair<int, std::string>(const std::string& body)>;

  explicit TestHttpTsa(Handler handler);  // started on return
  ~TestHttpTsa();                         // stops and waits for the server threads
  TestHttpTsa(const TestHttpTsa&) = delete;
  TestHttpTsa& operator=(const TestHttpTsa&) = delete;

  // "http://127.0.0.1:<port>/tsa"
  std::string url() const;

  // A "<scheme>://127.0.0.1:<port>/tsa" URL on which nothing listens (the port was just freed).
  static std::string deadUrl(const std::string& scheme = "http");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace erds::evidence::testing
