// SmtpServer: TCP listeners (submission and MX) with STARTTLS (OpenSSL), a thread per connection,
// a connection limit, read/write timeouts and one catch-all per connection (451 4.3.0 + log).
// The protocol itself is SmtpSession; this file only moves bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "erds/base/result.h"
#include "erds/smtp/authenticator.h"
#include "erds/smtp/smtp_session.h"
#include "erds/smtp/submission_sink.h"

namespace erds::smtp {

struct ListenerConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port (read it back with SmtpServer::port)
  SessionConfig session;
};

struct ServerConfig {
  std::vector<ListenerConfig> listeners;
  std::string tlsCertificateFile;  // PEM, leaf first then chain; "" = no STARTTLS
  std::string tlsKeyFile;          // PEM private key of the TLS certificate
  std::size_t maxConnections = 200;  // over all listeners; beyond: 421 4.7.0 and close
  std::chrono::milliseconds idleTimeout{std::chrono::minutes(5)};  // RFC 5321 4.5.3.2
};

class SmtpServer {
 public:
  // Binds every listener and starts accepting. `authenticator` and `sink` must outlive the server
  // and be thread-safe. Errors: InvalidInput (bad TLS files, bad address), Unavailable (bind
  // failed, e.g. the port is in use).
  static Result<std::unique_ptr<SmtpServer>> start(ServerConfig config, Authenticator* authenticator,
                                                   SubmissionSink* sink);
  ~SmtpServer();  // stop()
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // The bound port of listener `index` (in config order).
  uint16_t port(std::size_t index) const;
  // Stops accepting, shuts down open connections and waits for their threads. Idempotent.
  void stop();
  // Connections currently open (for tests and metrics).
  std::size_t activeConnections() const;

 private:
  struct State;
  explicit SmtpServer(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace erds::smtp
