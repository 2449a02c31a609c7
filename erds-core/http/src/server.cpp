// The Poco adapter: TLS listening socket, one TCPServerConnection per client connection running
// HTTP/1.1 keep-alive on top of Poco's HTTPServerSession, with all parsing errors turned into
// problem+json. This replaces Poco's HTTPServerConnection so that limits are checked before
// "100 Continue" is sent and header overflows answer 431 rather than a bare 400.
#include "erds/http/server.h"

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SecureStreamSocketImpl.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/X509Certificate.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timestamp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <sys/socket.h>

#include "erds/base/log.h"
#include "erds/http/rate_limiter.h"

#include "dispatcher.h"
#include "tls_context.h"

namespace erds::http {

namespace {

using internal::Dispatcher;

void initializeSslOnce() {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

class Connection;

// ---- client certificates (listeners with requestClientCertificates) ----
// The handshake runs lazily on the connection's own thread (Poco's acceptSSL only sets the accept
// state), so the verify callback leaves the chain the client sent in a thread-local that serve()
// clears before the first read and picks up after it; it is used only if its leaf is the peer
// certificate of this very connection.
thread_local std::vector<std::string> tlsPeerChain;

std::string derOf(const X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0 || der == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

// Accepts every certificate: validation happens in the identity component, where a failure is
// an HTTP answer and an audit record instead of a TLS alert the user cannot act on.
int acceptAnyClientCertificate(int /*preverify*/, X509_STORE_CTX* ctx) {
  tlsPeerChain.clear();
  if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_untrusted(ctx)) {
    for (int i = 0; i < sk_X509_num(chain) && i < 10; ++i)
      tlsPeerChain.push_back(derOf(sk_X509_value(chain, i)));
  } else if (X509* leaf = X509_STORE_CTX_get0_cert(ctx)) {
    tlsPeerChain.push_back(derOf(leaf));
  }
  return 1;
}

// The client's chain of this connection (DER, leaf first); empty without a client certificate.
std::vector<std::string> clientChainOf(const Poco::Net::StreamSocket& socket) {
  std::vector<std::string> chain = std::move(tlsPeerChain);
  tlsPeerChain.clear();
  std::string leaf;
  try {
    Poco::Net::SecureStreamSocket secure(socket);
    if (!secure.havePeerCertificate()) return {};
    Poco::Net::X509Certificate cert = secure.peerCertificate();
    leaf = derOf(cert.certificate());
  } catch (const Poco::Exception&) {
    return {};
  }
  if (leaf.empty()) return {};
  if (chain.empty() || chain.front() != leaf) return {leaf};
  return chain;
}

// Connections currently alive, so that stop() can close idle keep-alive connections.
struct ConnectionSet {
  std::mutex mu;
  std::condition_variable cv;
  std::set<Connection*> all;
  std::set<Connection*> busy;
  std::atomic<bool> stopping{false};
};

using SteadyClock = std::chrono::steady_clock;

// The receive deadline of one connection. Poco's timeouts apply per read, so a client trickling a
// byte at a time would never hit them; the server's watchdog thread compares this deadline (set
// at a request's first byte) with the time and cuts the read side of a connection that is late.
// Only ::shutdown(SHUT_RD) touches the socket from the watchdog: it is safe against the worker's
// concurrent SSL_read (the kernel makes that read return end-of-file) and leaves the write side
// open for a 408.
class ReceiveDeadline {
 public:
  void set(SteadyClock::time_point t) { ns_ = t.time_since_epoch().count(); }
  void clear() { ns_ = 0; }
  bool expired() const { return expired_; }
  // Called by the watchdog; true once when the deadline passed (the caller then cuts the socket).
  bool expire(SteadyClock::time_point now) {
    const auto ns = ns_.load();
    if (ns == 0 || now.time_since_epoch().count() <= ns) return false;
    return !expired_.exchange(true);
  }

 private:
  std::atomic<SteadyClock::rep> ns_{0};
  std::atomic<bool> expired_{false};
};

class StreamBodySource final : public internal::BodySource {
 public:
  StreamBodySource(Poco::Net::HTTPServerRequestImpl& request,
                   Poco::Net::HTTPServerResponseImpl& response, ReceiveDeadline& deadline)
      : request_(request), response_(response), deadline_(deadline) {}

  Result<std::size_t> read(char* buf, std::size_t n) override {
    auto r = readInner(buf, n);
    // A cut read side shows as end-of-file or a transport error: report it as the timeout it is.
    if (deadline_.expired()) return Error::unavailable("request not received within http.request_timeout");
    if (r && *r == 0) deadline_.clear();  // the whole body is in: handler time is not counted
    return r;
  }

 private:
  Result<std::size_t> readInner(char* buf, std::size_t n) {
    try {
      if (!continued_ && request_.getExpectContinue()) {
        response_.sendContinue();
      }
      continued_ = true;
      std::istream& in = request_.stream();
      in.read(buf, static_cast<std::streamsize>(n));
      auto got = in.gcount();
      if (got == 0 && in.bad()) return Error::unavailable("body stream failed");
      return static_cast<std::size_t>(got);
    } catch (const Poco::TimeoutException&) {
      return Error::unavailable("timeout reading body");
    } catch (const Poco::Net::MessageException& e) {
      return Error::invalidInput(e.displayText());
    } catch (const Poco::Exception& e) {
      return Error::unavailable(e.displayText());
    } catch (const std::exception& e) {
      return Error::unavailable(e.what());
    }
  }

 private:
  Poco::Net::HTTPServerRequestImpl& request_;
  Poco::Net::HTTPServerResponseImpl& response_;
  ReceiveDeadline& deadline_;
  bool continued_ = false;
};

class Connection final : public Poco::Net::TCPServerConnection {
 public:
  Connection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params,
             const Dispatcher& dispatcher, ConnectionSet& set, bool clientCertificates,
             const Limits& limits)
      : TCPServerConnection(socket),
        params_(std::move(params)),
        dispatcher_(dispatcher),
        set_(set),
        clientCertificates_(clientCertificates),
        headerTimeout_(std::min(limits.headerTimeout, limits.requestTimeout)),
        requestTimeout_(limits.requestTimeout) {
    // A new connection starts its first request now: the TLS handshake counts as header time.
    deadline_.set(SteadyClock::now() + headerTimeout_);
    try {
      clientForLog_ = this->socket().peerAddress().toString();
    } catch (...) {
      clientForLog_ = "unknown";
    }
    std::lock_guard lock(set_.mu);
    set_.all.insert(this);
  }
  ~Connection() override {
    std::lock_guard lock(set_.mu);
    set_.all.erase(this);
    set_.busy.erase(this);
    set_.cv.notify_all();
  }

  // The one catch-all per connection: nothing escapes into Poco's ErrorHandler.
  void run() override {
    try {
      serve();
    } catch (const Poco::Net::SSLException& e) {
      log::debug("http.tls_error", {{"what", e.displayText()}});
    } catch (const Poco::TimeoutException&) {
      log::debug("http.connection_timeout");
    } catch (const Poco::Exception& e) {
      log::debug("http.connection_error", {{"what", e.displayText()}});
    } catch (const std::exception& e) {
      log::warn("http.connection_error", {{"what", e.what()}});
    } catch (...) {
      log::warn("http.connection_error", {{"what", "unknown"}});
    }
  }

  // Watchdog (holding set.mu): cuts the read side once the receive deadline has passed.
  void enforceDeadline(SteadyClock::time_point now) {
    if (!deadline_.expire(now)) return;
    log::info("http.request_timeout", {{"client", clientForLog_}});
    try {
      ::shutdown(socket().impl()->sockfd(), SHUT_RD);
    } catch (...) {
      // Already closed.
    }
  }

  void shutdownSocket() {
    try {
      socket().shutdown();
    } catch (...) {
      // Already closed: nothing to do.
    }
  }

 private:
  void setBusy(bool busy) {
    std::lock_guard lock(set_.mu);
    if (busy) {
      set_.busy.insert(this);
    } else {
      set_.busy.erase(this);
    }
  }

  void serve() {
    Poco::Net::HTTPServerSession session(socket(), params_);
    if (clientCertificates_) tlsPeerChain.clear();
    std::vector<std::string> clientChain;
    bool chainRead = false;
    std::string client;
    try {
      client = socket().peerAddress().toString();
    } catch (...) {
      client = "unknown";
    }
    bool first = true;
    while (!set_.stopping && session.hasMoreRequests()) {
      // hasMoreRequests() returns once a byte of the next request is there (at once for the
      // first request, whose deadline runs from the accept): the request's clock starts now.
      const SteadyClock::time_point requestStart = first ? accepted_ : SteadyClock::now();
      first = false;
      deadline_.set(requestStart + headerTimeout_);
      setBusy(true);
      struct Idle {
        Connection* c;
        ~Idle() { c->setBusy(false); }
      } idle{this};
      Poco::Net::HTTPServerResponseImpl response(session);
      std::unique_ptr<Poco::Net::HTTPServerRequestImpl> request;
      bool timedOut = false;
      try {
        request =
            std::make_unique<Poco::Net::HTTPServerRequestImpl>(response, session, params_.get());
      } catch (const Poco::Net::NoMessageException&) {
        if (!deadline_.expired()) return;  // the client closed the connection between requests
        timedOut = true;
      } catch (const Poco::Net::MessageException& e) {
        if (deadline_.expired()) {
          timedOut = true;
        } else {
          std::string what = e.message();
          bool tooLarge = what.find("Too many header") != std::string::npos ||
                          what.find("too long") != std::string::npos;
          auto out = dispatcher_.transportError(
              tooLarge ? FrameworkError::HeadersTooLarge : FrameworkError::BadRequest, what);
          sendError(session, out);
          return;
        }
      } catch (...) {
        if (!deadline_.expired()) throw;
        timedOut = true;
      }
      if (timedOut || deadline_.expired()) {
        // The head did not arrive within http.header_timeout and nothing was answered yet.
        try {
          sendError(session, dispatcher_.transportError(FrameworkError::RequestTimeout,
                                                        "request header not received in time"));
        } catch (...) {
          // The client is gone or the handshake never finished.
        }
        return;
      }
      if (request->getChunkedTransferEncoding() ||
          (request->hasContentLength() && request->getContentLength64() > 0)) {
        deadline_.set(requestStart + requestTimeout_);
      } else {
        deadline_.clear();  // nothing more to receive: handler time is not counted
      }

      internal::IncomingRequest in;
      in.method = request->getMethod();
      in.target = request->getURI();
      for (const auto& [k, v] : *request)
        in.headers.emplace_back(k, v);
      if (request->hasContentLength()) in.contentLength = request->getContentLength64();
      in.chunked = request->getChunkedTransferEncoding();
      in.clientAddress = client;
      if (clientCertificates_) {
        // The handshake is complete once the first request has been read.
        if (!chainRead) clientChain = clientChainOf(socket());
        chainRead = true;
        in.clientCertificateChain = clientChain;
      }

      StreamBodySource body(*request, response, deadline_);
      internal::OutgoingResponse out = dispatcher_.handle(in, body);
      deadline_.clear();
      // The read side was cut mid-body: the connection cannot carry another request.
      if (deadline_.expired()) out.closeConnection = true;

      bool keepAlive = params_->getKeepAlive() && request->getKeepAlive() &&
                       session.canKeepAlive() && !out.closeConnection && !set_.stopping;
      response.setDate(Poco::Timestamp());
      response.setVersion(request->getVersion());
      if (out.producer) {
        if (!writeStreaming(response, out, keepAlive)) {
          // The body is incomplete: cut the TCP connection without a TLS close_notify or the
          // terminating chunk, so the client cannot mistake it for a complete response.
          abortConnection();
          return;
        }
      } else {
        write(response, out, keepAlive);
      }
      session.setKeepAlive(keepAlive);
      if (!keepAlive) return;
    }
  }

  static void write(Poco::Net::HTTPServerResponseImpl& response,
                    const internal::OutgoingResponse& out, bool keepAlive) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
    for (const auto& [k, v] : out.headers) {
      if (headerNameEquals(k, "Content-Type")) {
        response.setContentType(v);
      } else {
        response.add(k, v);
      }
    }
    response.setKeepAlive(keepAlive);
    response.setContentLength64(static_cast<Poco::Int64>(out.body.size()));
    if (out.body.empty()) {
      response.send().flush();
    } else {
      response.sendBuffer(out.body.data(), out.body.size());
    }
  }

  // The head, then the producer's bytes. False if the producer failed, the client went away, or
  // a known Content-Length was not met: the caller must then abort the connection.
  static bool writeStreaming(Poco::Net::HTTPServerResponseImpl& response,
                             const internal::OutgoingResponse& out, bool keepAlive) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
    for (const auto& [k, v] : out.headers) {
      if (headerNameEquals(k, "Content-Type")) {
        response.setContentType(v);
      } else {
        response.add(k, v);
      }
    }
    response.setKeepAlive(keepAlive);
    if (out.contentLength) {
      response.setContentLength64(static_cast<Poco::Int64>(*out.contentLength));
    } else {
      response.setChunkedTransferEncoding(true);
    }
    std::ostream& os = response.send();
    class StreamWriter final : public BodyWriter {
     public:
      explicit StreamWriter(std::ostream& os) : os_(os) {}
      Result<void> write(std::string_view bytes) override {
        try {
          os_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
          if (!os_) return Error::unavailable("client connection lost");
        } catch (const Poco::Exception& e) {
          return Error::unavailable("client connection lost: " + e.displayText());
        } catch (const std::exception& e) {
          return Error::unavailable(std::string("client connection lost: ") + e.what());
        }
        written_ += static_cast<int64_t>(bytes.size());
        return ok();
      }
      int64_t written() const { return written_; }

     private:
      std::ostream& os_;
      int64_t written_ = 0;
    } writer(os);
    Result<void> produced = out.producer(writer);
    if (!produced) {
      log::warn("http.response_aborted", {{"code", std::string(errorCodeName(produced.error().code))},
                                          {"message", produced.error().message},
                                          {"bytes_sent", writer.written()}});
      return false;
    }
    if (out.contentLength && writer.written() != *out.contentLength) {
      log::error("http.response_aborted", {{"message", "producer length mismatch"},
                                           {"bytes_sent", writer.written()},
                                           {"content_length", *out.contentLength}});
      return false;
    }
    try {
      os.flush();
      if (!os) return false;
    } catch (...) {
      return false;
    }
    return true;
  }

  void abortConnection() {
    try {
      if (auto* secure = dynamic_cast<Poco::Net::SecureStreamSocketImpl*>(socket().impl())) {
        secure->abort();
      } else {
        socket().setLinger(true, 0);
        socket().close();
      }
    } catch (...) {
      // Already gone.
    }
  }

  static void sendError(Poco::Net::HTTPServerSession& session,
                        const internal::OutgoingResponse& out) {
    Poco::Net::HTTPServerResponseImpl response(session);
    response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
    response.setDate(Poco::Timestamp());
    write(response, out, false);
    session.setKeepAlive(false);
  }

  Poco::Net::HTTPServerParams::Ptr params_;
  const Dispatcher& dispatcher_;
  ConnectionSet& set_;
  bool clientCertificates_;
  const std::chrono::milliseconds headerTimeout_;
  const std::chrono::milliseconds requestTimeout_;
  const SteadyClock::time_point accepted_ = SteadyClock::now();
  ReceiveDeadline deadline_;
  std::string clientForLog_;  // written once in the constructor (the watchdog reads it)
};

class ConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
 public:
  ConnectionFactory(Poco::Net::HTTPServerParams::Ptr params, const Dispatcher& dispatcher,
                    ConnectionSet& set, bool clientCertificates, const Limits& limits)
      : params_(std::move(params)),
        dispatcher_(dispatcher),
        set_(set),
        clientCertificates_(clientCertificates),
        limits_(limits) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, params_, dispatcher_, set_, clientCertificates_, limits_);
  }

 private:
  Poco::Net::HTTPServerParams::Ptr params_;
  const Dispatcher& dispatcher_;
  ConnectionSet& set_;
  bool clientCertificates_;
  Limits limits_;
};

}  // namespace

Result<ServerOptions> ServerOptions::fromConfig(const Config& config) {
  ServerOptions o;
  o.address = config.getString("http.address");
  int64_t port = config.getInt("http.port");
  if (port < 0 || port > 65535)
    return Error::invalidInput("http.port (" + config.sourceOf("http.port") +
                               "): not a port number");
  o.port = static_cast<uint16_t>(port);
  o.certificateFile = config.getPath("http.tls_certificate");
  if (o.certificateFile.empty())
    return Error::invalidInput("http.tls_certificate (" + config.sourceOf("http.tls_certificate") +
                               "): not set");
  o.privateKeySource = config.getPath("http.tls_key");
  auto key = config.readSecret("http.tls_key");
  if (!key) return key.error();
  o.privateKeyPem = std::move(*key);
  o.threads = static_cast<int>(config.getInt("http.threads"));
  o.maxQueued = static_cast<int>(config.getInt("http.max_queued"));
  if (o.threads < 1 || o.threads > 1024)
    return Error::invalidInput("http.threads (" + config.sourceOf("http.threads") +
                               "): must be 1..1024");
  if (o.maxQueued < 1)
    return Error::invalidInput("http.max_queued (" + config.sourceOf("http.max_queued") +
                               "): must be >= 1");
  o.limits.maxBodyBytes = config.getBytes("http.max_body_bytes");
  o.limits.maxHeaderBytes = config.getBytes("http.max_header_bytes");
  o.limits.maxHeaders = static_cast<int>(config.getInt("http.max_headers"));
  o.limits.requestTimeout = std::chrono::milliseconds(config.getMillis("http.request_timeout"));
  if (o.limits.requestTimeout.count() <= 0)
    return Error::invalidInput("http.request_timeout (" + config.sourceOf("http.request_timeout") +
                               "): must be positive");
  o.limits.headerTimeout = std::chrono::milliseconds(config.getMillis("http.header_timeout"));
  if (o.limits.headerTimeout.count() <= 0)
    return Error::invalidInput("http.header_timeout (" + config.sourceOf("http.header_timeout") +
                               "): must be positive");
  // The head is part of the request: a shorter request_timeout bounds it too.
  o.limits.headerTimeout = std::min(o.limits.headerTimeout, o.limits.requestTimeout);
  auto perIp = RateLimit::fromConfig(config, "http.rate_per_ip_per_second", "http.rate_burst");
  if (!perIp) return perIp.error();
  o.limits.ratePerIpPerSecond = perIp->ratePerSecond;
  o.limits.rateBurst = perIp->burst;
  o.limits.rateExemptIps.clear();
  const std::string exempt = config.getString("http.rate_exempt_ips");
  std::size_t pos = 0;
  while (pos <= exempt.size()) {
    std::size_t comma = exempt.find(',', pos);
    if (comma == std::string::npos) comma = exempt.size();
    std::string item = exempt.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) o.limits.rateExemptIps.push_back(item);
    pos = comma + 1;
  }
  return o;
}

struct Server::Impl {
  ServerOptions options;
  std::shared_ptr<const Router> router;
  std::unique_ptr<Dispatcher> dispatcher;
  ConnectionSet connections;
  Poco::Net::HTTPServerParams::Ptr params;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::TCPServer> tcp;
  Poco::Net::ServerSocket listenSocket;  // shares the socket with `tcp`; closed on stop
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
  std::thread watchdog;  // enforces the receive deadlines (see ReceiveDeadline)
  std::mutex watchdogMu;
  std::condition_variable watchdogCv;
  bool watchdogStop = false;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop(std::chrono::milliseconds(2000));
}

Result<std::unique_ptr<Server>> Server::create(ServerOptions options,
                                               std::shared_ptr<const Router> router,
                                               metrics::Registry& registry, const Clock& clock) {
  initializeSslOnce();
  auto impl = std::make_unique<Impl>();
  auto ctx = internal::makeServerContext(options.certificateFile, options.privateKeyPem,
                                         options.privateKeySource);
  if (!ctx) return ctx.error();
  if (options.requestClientCertificates) {
    SSL_CTX* ssl = (*ctx)->sslContext();
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, acceptAnyClientCertificate);
    // Needed for session resumption once a client certificate was requested.
    static const unsigned char kSessionContext[] = "erds-client-cert";
    SSL_CTX_set_session_id_context(ssl, kSessionContext, sizeof kSessionContext - 1);
    // No CA names are sent: any certificate is asked for; the identity component decides.
    SSL_CTX_set_client_CA_list(ssl, nullptr);
  }
  // The key now lives in the SSL_CTX only.
  options.privateKeyPem = Secret();

  impl->params = new Poco::Net::HTTPServerParams;
  impl->params->setMaxThreads(options.threads);
  impl->params->setMaxQueued(options.maxQueued);
  impl->params->setTimeout(Poco::Timespan(options.limits.requestTimeout.count() * 1000));
  impl->params->setKeepAlive(true);
  impl->params->setKeepAliveTimeout(Poco::Timespan(5, 0));
  impl->params->setMaxKeepAliveRequests(100);
  impl->params->setSoftwareVersion("");

  try {
    Poco::Net::SecureServerSocket socket(*ctx);
    socket.bind(Poco::Net::SocketAddress(options.address, options.port), true);
    socket.listen(128);
    impl->port = socket.address().port();
    impl->listenSocket = socket;
    impl->dispatcher = std::make_unique<Dispatcher>(router, options.limits, registry, clock);
    impl->pool = std::make_unique<Poco::ThreadPool>(1, options.threads + 1, 60, 0);
    impl->tcp = std::make_unique<Poco::Net::TCPServer>(
        new ConnectionFactory(impl->params, *impl->dispatcher, impl->connections,
                              options.requestClientCertificates, options.limits),
        *impl->pool, socket, impl->params);
  } catch (const Poco::Net::InvalidAddressException& e) {
    return Error::invalidInput("http.address: " + e.displayText());
  } catch (const Poco::Net::HostNotFoundException& e) {
    return Error::invalidInput("http.address: " + e.displayText());
  } catch (const Poco::Exception& e) {
    return Error::unavailable("cannot listen on " + options.address + ":" +
                              std::to_string(options.port) + ": " + e.displayText());
  }
  impl->router = std::move(router);
  impl->options = std::move(options);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const {
  return impl_->port;
}

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  impl_->tcp->start();
  // Ten checks per header timeout, at most every 100 ms: a late request is cut within 10%.
  const auto period = std::clamp(impl_->options.limits.headerTimeout / 10,
                                 std::chrono::milliseconds(5), std::chrono::milliseconds(100));
  impl_->watchdog = std::thread([impl = impl_.get(), period] {
    std::unique_lock lock(impl->watchdogMu);
    while (!impl->watchdogCv.wait_for(lock, period, [impl] { return impl->watchdogStop; })) {
      const auto now = SteadyClock::now();
      std::lock_guard set(impl->connections.mu);
      for (Connection* c : impl->connections.all)
        c->enforceDeadline(now);
    }
  });
}

void Server::stop(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  ConnectionSet& set = impl_->connections;
  set.stopping = true;
  if (impl_->started) impl_->tcp->stop();
  try {
    // Refuse new connections at once instead of leaving them in the kernel's backlog.
    impl_->listenSocket.close();
  } catch (...) {
    // Already closed.
  }
  {
    std::unique_lock lock(set.mu);
    for (Connection* c : set.all) {
      if (!set.busy.count(c)) c->shutdownSocket();
    }
    set.cv.wait_for(lock, grace, [&] { return set.all.empty(); });
    for (Connection* c : set.all)
      c->shutdownSocket();
  }
  impl_->pool->joinAll();
  if (impl_->watchdog.joinable()) {
    {
      std::lock_guard lock(impl_->watchdogMu);
      impl_->watchdogStop = true;
    }
    impl_->watchdogCv.notify_all();
    impl_->watchdog.join();
  }
}

}  // namespace erds::http
