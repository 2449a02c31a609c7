// The HTTPS server: Poco Net/NetSSL, TLS 1.2 and 1.3 only, request limits, request ids, one
// catch-all per request, problem+json errors, security headers, access log and metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/base/metrics.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"
#include "erds/http/router.h"

namespace erds::http {

struct Limits {
  int64_t maxBodyBytes = 64 * 1024 * 1024;  // http.max_body_bytes
  int64_t maxHeaderBytes = 16 * 1024;       // http.max_header_bytes: names + values of all fields
  int maxHeaders = 100;                     // http.max_headers (Poco itself caps at 100)
  // http.request_timeout: the whole request (head and body) must have arrived this long after
  // its first byte (for a new connection: after the accept, TLS handshake included). Past it the
  // read side is cut: 408 if nothing was answered yet, else the connection is closed.
  std::chrono::milliseconds requestTimeout{30000};
  // http.header_timeout: the same for the request head alone (slowloris); <= requestTimeout.
  std::chrono::milliseconds headerTimeout{10000};
  // Per client IP, before routing (http.rate_per_ip_per_second, http.rate_burst): 429 with
  // Retry-After above it. IPv6 clients are counted per /64. 0 = off.
  double ratePerIpPerSecond = 200;
  double rateBurst = 400;
  // Client addresses never rate-limited per IP (http.rate_exempt_ips, comma separated): by default
  // loopback, i.e. local benchmarks, health checks and a reverse proxy on the same host (which then
  // must limit per IP itself; the per-account limit still applies behind it).
  std::vector<std::string> rateExemptIps = {"127.0.0.1", "::1"};
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8443;          // 0 = any free port; read it back with Server::port()
  std::string certificateFile;   // PEM: server certificate followed by its chain
  Secret privateKeyPem;          // PEM private key, loaded from memory (never from a path)
  std::string privateKeySource;  // where the key came from, for error messages (a path)
  int threads = 16;
  int maxQueued = 128;
  Limits limits;
  // Ask every client for a certificate in the handshake and accept whatever it sends (or none):
  // the chain reaches handlers unvalidated in Request::clientCertificateChain, so that a bad
  // certificate becomes an HTTP 401/403 with an audit record rather than a TLS alert.
  bool requestClientCertificates = false;

  // From http.* keys. InvalidInput (one line naming the key and the file) if the key file is
  // unreadable or has a bad mode.
  static Result<ServerOptions> fromConfig(const Config& config);
};

// Response headers added to every response unless the handler set them:
//   Strict-Transport-Security: max-age=31536000; includeSubDomains
//   X-Content-Type-Options: nosniff
//   Cache-Control: no-store
//   Content-Security-Policy: default-src 'none'; frame-ancestors 'none'
//   Referrer-Policy: no-referrer
//   X-Request-Id: <the request id>
class Server {
 public:
  // Loads the certificate chain and key, builds the TLS context and binds the listening socket.
  // InvalidInput naming http.tls_certificate / http.tls_key and the file for unreadable or
  // mismatching certificate/key; Unavailable if the address cannot be bound. `router` must have
  // all routes added; it is not modified. `registry` and `clock` must outlive the server.
  static Result<std::unique_ptr<Server>> create(ServerOptions options,
                                                std::shared_ptr<const Router> router,
                                                metrics::Registry& registry,
                                                const Clock& clock = SystemClock::instance());
  ~Server();  // stops if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the real one when options.port was 0).
  uint16_t port() const;
  // Starts accepting connections on worker threads. Call once.
  void start();
  // Graceful stop: stops accepting, lets in-flight requests finish (up to `grace`), closes idle
  // keep-alive connections. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The TLS 1.2 cipher list the server offers (ECDHE with AEAD only). TLS 1.3 uses OpenSSL's
// default suites (all AEAD).
inline constexpr const char* kTls12CipherList =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

}  // namespace erds::http
