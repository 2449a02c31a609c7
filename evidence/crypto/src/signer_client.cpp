#include "erds/evidence/signer_client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace erds::evidence {

namespace sp = signer_protocol;

namespace {

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool recvAll(int fd, std::size_t n, std::string& out) {
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<SignerClient>> SignerClient::create(SignerClientOptions options) {
  if (options.socketPath.empty() || options.socketPath.size() >= sizeof(sockaddr_un{}.sun_path))
    return Error::invalidInput("signer client: socket path empty or too long");
  return std::unique_ptr<SignerClient>(new SignerClient(std::move(options)));
}

SignerClient::~SignerClient() {
  for (int fd : idle_)
    ::close(fd);
}

Result<int> SignerClient::connectSocket() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::unavailable(std::string("signer socket: ") + std::strerror(errno));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(options_.timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((options_.timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, options_.socketPath.c_str(), options_.socketPath.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::unavailable("cannot reach erds-signer at " + options_.socketPath + ": " +
                              std::strerror(err));
  }
  return fd;
}

Result<SignerClient::Reply> SignerClient::exchange(int fd, const std::string& frame) {
  if (!sendAll(fd, frame)) return Error::unavailable("erds-signer: send failed");
  std::string header;
  if (!recvAll(fd, sp::kHeaderBytes, header))
    return Error::unavailable("erds-signer: no answer (closed or timed out)");
  auto h = sp::decodeHeader(header, sp::kMaxResponsePayload);
  if (!h) return Error::unavailable(h.error().message);
  Reply reply{*h, {}};
  if (!recvAll(fd, h->length, reply.payload))
    return Error::unavailable("erds-signer: truncated answer");
  return reply;
}

Result<SignerClient::Reply> SignerClient::roundTrip(const std::string& frame) {
  int fd = -1;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      fd = idle_.back();
      idle_.pop_back();
    }
  }
  const bool reused = fd >= 0;
  if (!reused) {
    auto c = connectSocket();
    if (!c) return std::move(c).error();
    fd = *c;
  }
  auto reply = exchange(fd, frame);
  if (!reply && reused) {
    // The signer may have closed an idle connection: one retry on a fresh one (signing is
    // idempotent).
    ::close(fd);
    auto c = connectSocket();
    if (!c) return std::move(c).error();
    fd = *c;
    reply = exchange(fd, frame);
  }
  if (!reply) {
    ::close(fd);
    return reply;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < options_.maxIdleConnections)
    idle_.push_back(fd);
  else
    ::close(fd);
  return reply;
}

Result<std::string> SignerClient::signDigest(std::string_view keyLabel, std::string_view digest) {
  if (digest.size() != 32) return Error::invalidInput("digest must be 32 bytes (SHA-256)");
  if (!sp::isValidLabel(keyLabel)) return Error::invalidInput("bad key label");
  auto reply = roundTrip(sp::encodeSignRequest(keyLabel, digest));
  if (!reply) return std::move(reply).error();
  auto sig = sp::decodeSignResponse(reply->header, reply->payload);
  if (!sig && sig.error().code == ErrorCode::InvalidInput &&
      reply->header.type != sp::FrameType::ErrorResponse)
    return Error::unavailable(sig.error().message);  // a malformed answer is the signer's fault
  return sig;
}

Result<SigningKeyInfo> SignerClient::keyInfo(std::string_view keyLabel) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = keyInfoCache_.find(keyLabel); it != keyInfoCache_.end()) return it->second;
  }
  if (!sp::isValidLabel(keyLabel)) return Error::invalidInput("bad key label");
  auto reply = roundTrip(sp::encodeKeyInfoRequest(keyLabel));
  if (!reply) return std::move(reply).error();
  auto info = sp::decodeKeyInfoResponse(reply->header, reply->payload);
  if (!info) {
    if (info.error().code == ErrorCode::InvalidInput &&
        reply->header.type != sp::FrameType::ErrorResponse)
      return Error::unavailable(info.error().message);
    return info;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  keyInfoCache_.emplace(std::string(keyLabel), *info);
  return info;
}

}  // namespace erds::evidence
