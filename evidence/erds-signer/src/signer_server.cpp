#include "signer_server.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <system_error>
#include <thread>

#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/evidence/signer_protocol.h"

namespace erds::signer {

namespace sp = evidence::signer_protocol;

namespace {

std::string errnoText(int e) {
  return std::string(std::strerror(e));
}

// Waits until `fd` is readable (or hung up). False on timeout or error.
bool waitReadable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

// Reads exactly `n` bytes; each chunk must arrive within `timeout`. False on EOF, error or timeout.
bool readFull(int fd, std::size_t n, std::string& out, std::chrono::milliseconds timeout) {
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    if (!waitReadable(fd, timeout)) return false;
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

bool sendAll(int fd, std::string_view data, std::chrono::milliseconds timeout) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    int pr = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return false;
    ssize_t w = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w <= 0) return false;
    sent += static_cast<std::size_t>(w);
  }
  return true;
}

sockaddr_un makeAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Ok when `path` is free (absent, or a stale socket that was removed).
Result<void> claimPath(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok();
    return Error::internal("signer.socket " + path + ": " + errnoText(errno));
  }
  if (!S_ISSOCK(st.st_mode))
    return Error::conflict("signer.socket " + path + ": exists and is not a socket");
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return Error::internal("socket(): " + errnoText(errno));
  sockaddr_un addr = makeAddress(path);
  const int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(probe);
  if (rc == 0)
    return Error::conflict("signer.socket " + path +
                           ": another process is serving this socket (is erds-signer running?)");
  if (err != ECONNREFUSED)
    return Error::conflict("signer.socket " + path +
                           ": cannot probe existing socket: " + errnoText(err));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Error::internal("signer.socket " + path +
                           ": cannot remove stale socket: " + errnoText(errno));
  log::info("signer.stale_socket_removed", {{"socket", path}});
  return ok();
}

}  // namespace

SignerServer::SignerServer(SignerServerOptions options, evidence::Signer& signer,
                           SignatureAudit& audit, const Clock& clock)
    : options_(std::move(options)),
      signer_(signer),
      audit_(audit),
      bucket_(options_.maxSignaturesPerSecond, clock) {}

Result<std::unique_ptr<SignerServer>> SignerServer::listen(SignerServerOptions options,
                                                           evidence::Signer& signer,
                                                           SignatureAudit& audit,
                                                           const Clock& clock) {
  if (options.socketPath.empty() || options.socketPath.size() >= sizeof(sockaddr_un::sun_path))
    return Error::invalidInput("signer.socket: path must be 1.." +
                               std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes: '" +
                               options.socketPath + "'");
  if (!(options.maxSignaturesPerSecond > 0))
    return Error::invalidInput("signer.max_signatures_per_second: must be > 0");
  if (options.maxConnections < 1) return Error::invalidInput("maxConnections must be >= 1");
  ERDS_RETURN_IF_ERROR(claimPath(options.socketPath));

  std::unique_ptr<SignerServer> server(new SignerServer(std::move(options), signer, audit, clock));
  const std::string& path = server->options_.socketPath;
  if (::pipe2(server->wakePipe_, O_CLOEXEC) != 0)
    return Error::internal("pipe2(): " + errnoText(errno));
  server->listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (server->listenFd_ < 0) return Error::internal("socket(): " + errnoText(errno));
  sockaddr_un addr = makeAddress(path);
  // The socket is created with mode 0660 (no window in which others could connect).
  const mode_t oldMask = ::umask(0117);
  const int rc = ::bind(server->listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::umask(oldMask);
  if (rc != 0) {
    server->unlinked_ = true;  // not ours
    if (err == EADDRINUSE)
      return Error::conflict("signer.socket " + path + ": address in use by another process");
    return Error::internal("signer.socket " + path + ": bind: " + errnoText(err));
  }
  if (::chmod(path.c_str(), 0660) != 0)
    return Error::internal("signer.socket " + path + ": chmod: " + errnoText(errno));
  if ((server->options_.socketGroup != static_cast<gid_t>(-1) ||
       server->options_.socketOwner != static_cast<uid_t>(-1)) &&
      ::chown(path.c_str(), server->options_.socketOwner, server->options_.socketGroup) != 0)
    return Error::internal("signer.socket " + path + ": chown: " + errnoText(errno));
  if (::listen(server->listenFd_, 128) != 0)
    return Error::internal("signer.socket " + path + ": listen: " + errnoText(errno));
  return server;
}

SignerServer::~SignerServer() {
  stop();
  {
    // serve() normally drained already; this covers a server that never served.
    std::unique_lock lock(mutex_);
    for (int fd : connections_)
      ::shutdown(fd, SHUT_RDWR);
    drained_.wait(lock, [&] { return connections_.empty(); });
  }
  if (listenFd_ >= 0) ::close(listenFd_);
  unlinkSocket();
  for (int fd : wakePipe_)
    if (fd >= 0) ::close(fd);
}

void SignerServer::unlinkSocket() {
  std::lock_guard lock(mutex_);
  if (unlinked_) return;
  unlinked_ = true;
  ::unlink(options_.socketPath.c_str());
}

void SignerServer::stop() {
  if (stopping_.exchange(true)) return;
  const char b = 1;
  // The pipe has room: this is the only write.
  (void)!::write(wakePipe_[1], &b, 1);
}

SignerServerStats SignerServer::stats() const {
  return {signatures_.load(), rateLimited_.load(), badFrames_.load()};
}

void SignerServer::serve() {
  log::info("signer.listening", {{"socket", options_.socketPath}});
  while (!stopping_.load()) {
    pollfd p[2] = {{listenFd_, POLLIN, 0}, {wakePipe_[0], POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      log::error("signer.poll_failed", {{"error", errnoText(errno)}});
      break;
    }
    if (p[1].revents != 0) break;
    if ((p[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays readable, so back off instead of spinning.
      if (errno == EMFILE || errno == ENFILE)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::unique_lock lock(mutex_);
    if (static_cast<int>(connections_.size()) >= options_.maxConnections) {
      lock.unlock();
      ::close(fd);
      log::warn("signer.too_many_connections", {{"max", options_.maxConnections}});
      continue;
    }
    connections_.insert(fd);
    lock.unlock();
    try {
      std::thread([this, fd] { serveConnection(fd); }).detach();
    } catch (const std::system_error& e) {
      std::lock_guard relock(mutex_);
      connections_.erase(fd);
      ::close(fd);
      log::error("signer.thread_failed", {{"error", e.what()}});
    }
  }
  // New clients fail fast from here on; then every open connection is closed.
  unlinkSocket();
  std::unique_lock lock(mutex_);
  for (int fd : connections_)
    ::shutdown(fd, SHUT_RDWR);
  drained_.wait(lock, [&] { return connections_.empty(); });
  log::info("signer.stopped", {{"signatures", static_cast<int64_t>(signatures_.load())}});
}

void SignerServer::serveConnection(int fd) {
  int64_t uid = -1;
  int64_t pid = -1;
  try {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      uid = cred.uid;
      pid = cred.pid;
    }
    std::string header;
    std::string payload;
    while (!stopping_.load()) {
      if (!waitReadable(fd, options_.idleTimeout)) break;
      if (!readFull(fd, sp::kHeaderBytes, header, options_.ioTimeout)) break;
      auto h = sp::decodeHeader(header, sp::kMaxRequestPayload);
      if (!h) {
        // Framing is lost: answer once so the client can tell why, then drop the connection.
        ++badFrames_;
        log::warn("signer.bad_frame",
                  {{"peer_uid", uid}, {"peer_pid", pid}, {"error", h.error().message}});
        (void)sendAll(fd, sp::encodeErrorResponse(h.error()), options_.ioTimeout);
        break;
      }
      if (!readFull(fd, h->length, payload, options_.ioTimeout)) break;
      const std::string reply = answer(*h, payload, uid, pid);
      if (!sendAll(fd, reply, options_.ioTimeout)) break;
    }
  } catch (const std::exception& e) {
    log::error("signer.connection_failed", {{"peer_uid", uid}, {"error", e.what()}});
  } catch (...) {
    log::error("signer.connection_failed", {{"peer_uid", uid}, {"error", "unknown exception"}});
  }
  // This thread's OpenSSL state (its DRBGs, error queue) is freed now, before the connection counts
  // as drained: the thread is detached, and shutdown must not race its exit-time cleanup.
  OPENSSL_thread_stop();
  std::lock_guard lock(mutex_);
  connections_.erase(fd);
  ::close(fd);
  if (connections_.empty()) drained_.notify_all();
}

std::string SignerServer::answer(const sp::FrameHeader& header, const std::string& payload,
                                 int64_t uid, int64_t pid) {
  auto request = sp::decodeRequest(header, payload);
  if (!request) return sp::encodeErrorResponse(request.error());
  if (request->type == sp::FrameType::KeyInfoRequest) {
    auto info = signer_.keyInfo(request->keyLabel);
    return info ? sp::encodeKeyInfoResponse(*info) : sp::encodeErrorResponse(info.error());
  }
  if (!bucket_.tryAcquire()) {
    ++rateLimited_;
    // One warning per second at most, so a flood cannot flood the log too.
    const int64_t nowSec = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
    int64_t last = lastRateLog_.load();
    if (nowSec != last && lastRateLog_.compare_exchange_strong(last, nowSec))
      log::warn("signer.rate_limited",
                {{"peer_uid", uid},
                 {"peer_pid", pid},
                 {"refused_total", static_cast<int64_t>(rateLimited_.load())}});
    return sp::encodeErrorResponse(
        Error::unavailable("rate limit of signatures per second exceeded"));
  }
  auto signature = signer_.signDigest(request->keyLabel, request->digest);
  SignatureAuditRecord rec;
  rec.keyLabel = request->keyLabel;
  rec.digestHex = crypto::toHex(request->digest);
  rec.peerUid = uid;
  rec.peerPid = pid;
  rec.success = signature.has_value();
  if (!signature) rec.error = std::string(errorCodeName(signature.error().code));
  auto audited = audit_.record(rec);
  if (!audited) {
    log::error("signer.audit_unavailable",
               {{"key_label", rec.keyLabel}, {"digest", rec.digestHex}});
    // No audit record, no signature.
    return sp::encodeErrorResponse(Error::unavailable("audit trail unavailable"));
  }
  if (!signature) return sp::encodeErrorResponse(signature.error());
  ++signatures_;
  return sp::encodeSignResponse(*signature);
}

}  // namespace erds::signer
