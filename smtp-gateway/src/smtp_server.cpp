// Sockets + OpenSSL for SmtpSession. Plain POSIX sockets rather than Poco's TCPServer: STARTTLS
// needs the same fd to switch to TLS with a permissive client-certificate request (the
// Authenticator, not OpenSSL, decides whether a certificate is trusted), which Poco's Context does
// not offer without failing the handshake on unknown issuers.
#include "erds/smtp/smtp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "erds/base/log.h"

namespace erds::smtp {

namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

std::string opensslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// Any client certificate is accepted at the TLS layer; the Authenticator validates it.
int acceptAnyCertificate(int /*preverify*/, X509_STORE_CTX* /*ctx*/) { return 1; }

std::string derOf(X509* cert) {
  int len = i2d_X509(cert, nullptr);
  if (len <= 0) return {};
  std::string out(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509(cert, &p);
  return out;
}

std::string peerName(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  ~Connection() {
    if (ssl_) SSL_shutdown(ssl_.get());
    ::close(fd_);
  }
  // > 0 bytes, 0 closed, -1 error, -2 timeout.
  long read(char* buf, std::size_t len) {
    if (ssl_) {
      int n = SSL_read(ssl_.get(), buf, static_cast<int>(len));
      if (n > 0) return n;
      int err = SSL_get_error(ssl_.get(), n);
      if (err == SSL_ERROR_ZERO_RETURN) return 0;
      if ((err == SSL_ERROR_SYSCALL || err == SSL_ERROR_WANT_READ) && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -2;
      ERR_clear_error();
      return err == SSL_ERROR_SYSCALL ? 0 : -1;
    }
    while (true) {
      ssize_t n = ::recv(fd_, buf, len, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return -2;
      return -1;
    }
  }
  bool write(std::string_view data) {
    while (!data.empty()) {
      if (ssl_) {
        int n = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
        if (n <= 0) {
          ERR_clear_error();
          return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
      } else {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
      }
    }
    return true;
  }
  Result<TlsInfo> startTls(SSL_CTX* ctx) {
    ssl_.reset(SSL_new(ctx));
    if (!ssl_) return Error::internal("SSL_new: " + opensslErrors());
    SSL_set_fd(ssl_.get(), fd_);
    if (SSL_accept(ssl_.get()) != 1) {
      std::string why = opensslErrors();
      ssl_.reset();
      return Error::invalidInput("TLS handshake failed: " + why);
    }
    TlsInfo info;
    info.protocol = SSL_get_version(ssl_.get());
    info.cipher = SSL_get_cipher_name(ssl_.get());
    if (X509* peer = SSL_get1_peer_certificate(ssl_.get())) {
      info.peerCertificateDer = derOf(peer);
      X509_free(peer);
      if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_.get())) {
        // On the server side the chain does not include the leaf.
        for (int i = 0; i < sk_X509_num(chain); ++i) info.peerChainDer.push_back(derOf(sk_X509_value(chain, i)));
      }
    }
    return info;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
};

}  // namespace

struct SmtpServer::State {
  ServerConfig config;
  Authenticator* authenticator = nullptr;
  SubmissionSink* sink = nullptr;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> tls;
  std::vector<int> listenFds;
  std::vector<uint16_t> ports;
  int wakePipe[2] = {-1, -1};
  std::vector<std::thread> acceptThreads;
  std::atomic<bool> stopping{false};
  bool stopped = false;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::set<int> openFds;
  std::size_t active = 0;

  // Connection threads are reused: a thread that finished a connection waits a while for the next
  // one instead of exiting (creating and tearing down a thread per connection cost about 15% of
  // the MX listener's CPU with one message per connection). All guarded by mu.
  struct Work {
    int fd;
    std::size_t index;
    std::string peer;
  };
  static constexpr std::size_t kMaxIdleThreads = 64;
  static constexpr std::chrono::seconds kIdleThreadLinger{30};
  std::deque<Work> work;
  std::condition_variable workCv;
  std::size_t idle = 0;     // threads waiting for work
  std::size_t workers = 0;  // connection threads alive

  void dispatch(Work w) {
    std::lock_guard<std::mutex> lock(mu);
    if (idle > work.size()) {
      work.push_back(std::move(w));
      workCv.notify_one();
      return;
    }
    ++workers;
    std::thread([this, w = std::move(w)]() mutable { workerLoop(std::move(w)); }).detach();
  }

  void workerLoop(Work w) {
    for (;;) {
      serve(w.fd, w.index, w.peer);
      std::unique_lock<std::mutex> lock(mu);
      if (stopping.load() || idle >= kMaxIdleThreads) break;
      ++idle;
      workCv.wait_for(lock, kIdleThreadLinger, [&] { return !work.empty() || stopping.load(); });
      --idle;
      if (work.empty()) break;
      w = std::move(work.front());
      work.pop_front();
    }
    // This thread's OpenSSL state (DRBGs, error queue) is freed before stop() can see it gone: the
    // thread is detached, and the process must not exit while its exit-time cleanup runs.
    OPENSSL_thread_stop();
    std::lock_guard<std::mutex> lock(mu);
    --workers;
    cv.notify_all();
  }

  void acceptLoop(std::size_t index) {
    int lfd = listenFds[index];
    while (!stopping.load()) {
      pollfd fds[2] = {{lfd, POLLIN, 0}, {wakePipe[0], POLLIN, 0}};
      int n = ::poll(fds, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        log::error("smtp.poll_failed", {{"error", std::string(std::strerror(errno))}});
        return;
      }
      if (fds[1].revents != 0 || stopping.load()) return;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(config.idleTimeout.count() / 1000);
      tv.tv_usec = static_cast<suseconds_t>((config.idleTimeout.count() % 1000) * 1000);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      {
        std::lock_guard<std::mutex> lock(mu);
        if (active >= config.maxConnections) {
          static constexpr std::string_view kBusy = "421 4.7.0 Too many connections, try again later\r\n";
          (void)!::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL);
          ::close(fd);
          log::warn("smtp.connection_limit", {{"client", peerName(ss)}});
          continue;
        }
        ++active;
        openFds.insert(fd);
      }
      dispatch(Work{fd, index, peerName(ss)});
    }
  }

  void serve(int fd, std::size_t index, const std::string& peer) {
    {
      Connection conn(fd);
      log::ScopedRequestId rid(log::newRequestId());
      try {
        serveSession(conn, index, peer);
      } catch (const std::exception& e) {
        log::error("smtp.connection_exception", {{"client", peer}, {"error", std::string(e.what())}});
        (void)conn.write("451 4.3.0 Internal error, try again later\r\n");
      } catch (...) {
        log::error("smtp.connection_exception", {{"client", peer}});
        (void)conn.write("451 4.3.0 Internal error, try again later\r\n");
      }
      std::lock_guard<std::mutex> lock(mu);
      openFds.erase(fd);
    }  // closes fd
    std::lock_guard<std::mutex> lock(mu);
    --active;
    cv.notify_all();
  }

  void serveSession(Connection& conn, std::size_t index, const std::string& peer) {
    SessionConfig sc = config.listeners[index].session;
    sc.tlsAvailable = tls != nullptr;
    SmtpSession session(sc, peer, authenticator, sink);
    log::debug("smtp.connect", {{"client", peer}});
    if (!conn.write(session.greeting())) return;
    std::string buf(16 * 1024, '\0');
    while (!session.closed()) {
      long n = conn.read(buf.data(), buf.size());
      if (n == -2) {
        (void)conn.write(session.timeoutReply());
        log::info("smtp.timeout", {{"client", peer}});
        return;
      }
      if (n <= 0) {
        session.connectionLost();
        log::debug("smtp.client_gone", {{"client", peer}});
        return;
      }
      auto out = session.receive(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      if (!out.replies.empty() && !conn.write(out.replies)) {
        session.connectionLost();
        return;
      }
      if (out.close) return;
      if (out.startTls) {
        auto info = conn.startTls(tls.get());
        if (!info) {
          log::info("smtp.tls_failed", {{"client", peer}, {"error", info.error().message}});
          session.tlsFailed();
          return;
        }
        auto after = session.tlsEstablished(*info);
        if (!after.replies.empty() && !conn.write(after.replies)) return;
      }
    }
  }
};

SmtpServer::SmtpServer(std::unique_ptr<State> s) : s_(std::move(s)) {}

Result<std::unique_ptr<SmtpServer>> SmtpServer::start(ServerConfig config, Authenticator* authenticator,
                                                      SubmissionSink* sink) {
  if (sink == nullptr) return Error::invalidInput("no submission sink");
  auto s = std::make_unique<State>();
  s->config = std::move(config);
  s->authenticator = authenticator;
  s->sink = sink;
  if (!s->config.tlsCertificateFile.empty()) {
    s->tls.reset(SSL_CTX_new(TLS_server_method()));
    if (!s->tls) return Error::internal("SSL_CTX_new: " + opensslErrors());
    SSL_CTX_set_min_proto_version(s->tls.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(s->tls.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // TLS 1.2: ECDHE with AEAD only (as erdsd's kTls12CipherList); TLS 1.3 suites are all AEAD.
    if (SSL_CTX_set_cipher_list(s->tls.get(),
                                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256") != 1)
      return Error::internal("SSL_CTX_set_cipher_list: " + opensslErrors());
    if (SSL_CTX_use_certificate_chain_file(s->tls.get(), s->config.tlsCertificateFile.c_str()) != 1)
      return Error::invalidInput("cannot load TLS certificate " + s->config.tlsCertificateFile + ": " +
                                 opensslErrors());
    if (SSL_CTX_use_PrivateKey_file(s->tls.get(), s->config.tlsKeyFile.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->tls.get()) != 1)
      return Error::invalidInput("cannot load TLS key " + s->config.tlsKeyFile + ": " + opensslErrors());
    SSL_CTX_set_verify(s->tls.get(), SSL_VERIFY_PEER, acceptAnyCertificate);
    static const unsigned char kSidCtx[] = "erds-smtpd";
    SSL_CTX_set_session_id_context(s->tls.get(), kSidCtx, sizeof kSidCtx - 1);
  }
  if (::pipe2(s->wakePipe, O_CLOEXEC) != 0) return Error::unavailable("pipe failed");
  for (const auto& l : s->config.listeners) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    addrinfo* res = nullptr;
    std::string port = std::to_string(l.port);
    if (::getaddrinfo(l.address.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr)
      return Error::invalidInput("bad listen address " + l.address);
    int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = fd >= 0 && ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 128) == 0;
    ::freeaddrinfo(res);
    if (!ok) {
      std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      for (int f : s->listenFds) ::close(f);
      return Error::unavailable("cannot listen on " + l.address + ":" + port + ": " + why);
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                              : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    s->listenFds.push_back(fd);
    s->ports.push_back(bound);
    log::info("smtp.listening", {{"address", l.address}, {"port", static_cast<int64_t>(bound)},
                                 {"listener", std::string(l.session.listener == ListenerKind::Mx ? "mx" : "submission")}});
  }
  State* raw = s.get();
  for (std::size_t i = 0; i < raw->listenFds.size(); ++i) {
    raw->acceptThreads.emplace_back([raw, i] { raw->acceptLoop(i); });
  }
  return std::unique_ptr<SmtpServer>(new SmtpServer(std::move(s)));
}

SmtpServer::~SmtpServer() { stop(); }

uint16_t SmtpServer::port(std::size_t index) const { return s_->ports.at(index); }

std::size_t SmtpServer::activeConnections() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->active;
}

void SmtpServer::stop() {
  if (s_->stopped) return;
  s_->stopped = true;
  s_->stopping = true;
  char c = 'x';
  (void)!::write(s_->wakePipe[1], &c, 1);
  for (auto& t : s_->acceptThreads) t.join();
  for (int fd : s_->listenFds) ::close(fd);
  std::unique_lock<std::mutex> lock(s_->mu);
  for (int fd : s_->openFds) ::shutdown(fd, SHUT_RDWR);
  s_->cv.wait(lock, [this] { return s_->active == 0; });
  s_->workCv.notify_all();
  s_->cv.wait(lock, [this] { return s_->workers == 0; });
  lock.unlock();
  ::close(s_->wakePipe[0]);
  ::close(s_->wakePipe[1]);
}

}  // namespace erds::smtp
