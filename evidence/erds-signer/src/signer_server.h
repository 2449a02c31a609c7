// SignerServer: the serving half of erds-signer. Owns the Unix socket (mode 0660, optional group),
// reads signer_protocol frames with the request size limits, rate-limits signatures, audits each
// one with the peer's SO_PEERCRED and answers through the Signer. Never parses anything but
// signer_protocol frames; never logs key material.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/evidence/signer.h"
#include "erds/evidence/signer_protocol.h"

#include "signature_audit.h"
#include "token_bucket.h"

namespace erds::signer {

struct SignerServerOptions {
  std::string socketPath;                         // absolute or relative; < 108 bytes
  gid_t socketGroup = static_cast<gid_t>(-1);     // -1 = leave the process's group
  uid_t socketOwner = static_cast<uid_t>(-1);     // -1 = the process's user (set by a root
                                                  // signer that switches to signer.user later)
  double maxSignaturesPerSecond = 20000;          // > 0
  int maxConnections = 256;                       // more are closed at once
  std::chrono::milliseconds idleTimeout{300000};  // an idle client connection is closed after this
  std::chrono::milliseconds ioTimeout{5000};      // to receive the rest of a started frame / send
};

struct SignerServerStats {
  uint64_t signatures = 0;   // successful signatures returned
  uint64_t rateLimited = 0;  // sign requests refused by the rate limit
  uint64_t badFrames = 0;    // connections dropped for a bad header
};

class SignerServer {
 public:
  // Creates and binds the socket: InvalidInput for a bad path or options; Conflict when the path
  // exists and another process accepts connections on it (a live signer) or is not a socket;
  // Internal for a failing system call. A stale socket (nobody listening) is removed. `signer`,
  // `audit` and `clock` must outlive the server.
  static Result<std::unique_ptr<SignerServer>> listen(SignerServerOptions options,
                                                      evidence::Signer& signer,
                                                      SignatureAudit& audit, const Clock& clock);
  // Stops, closes every connection and removes the socket.
  ~SignerServer();
  SignerServer(const SignerServer&) = delete;
  SignerServer& operator=(const SignerServer&) = delete;

  // Accepts and serves connections (one thread each) until stop(). Call from one thread.
  void serve();
  // Makes serve() return after closing every connection, then removes the socket. Thread-safe,
  // idempotent; not async-signal-safe (take signals with sigwait in a thread).
  void stop();

  SignerServerStats stats() const;
  const std::string& socketPath() const { return options_.socketPath; }

 private:
  SignerServer(SignerServerOptions options, evidence::Signer& signer, SignatureAudit& audit,
               const Clock& clock);
  void serveConnection(int fd);
  std::string answer(const evidence::signer_protocol::FrameHeader& header,
                     const std::string& payload, int64_t uid, int64_t pid);
  void unlinkSocket();

  SignerServerOptions options_;
  evidence::Signer& signer_;
  SignatureAudit& audit_;
  TokenBucket bucket_;
  int listenFd_ = -1;
  int wakePipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  bool unlinked_ = false;
  mutable std::mutex mutex_;
  std::condition_variable drained_;
  std::set<int> connections_;
  std::atomic<uint64_t> signatures_{0};
  std::atomic<uint64_t> rateLimited_{0};
  std::atomic<uint64_t> badFrames_{0};
  std::atomic<int64_t> lastRateLog_{0};
};

}  // namespace erds::signer
