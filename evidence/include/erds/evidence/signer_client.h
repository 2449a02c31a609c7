// SignerClient: a Signer that asks the erds-signer process over its Unix socket
// (signer_protocol.h). Network-facing processes use it in `basic` and `qualified` modes, so they
// never hold keys.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "erds/evidence/signer.h"
#include "erds/evidence/signer_protocol.h"

namespace erds::evidence {

struct SignerClientOptions {
  std::string socketPath;                   // e.g. /run/erds-signer/signer.sock
  std::chrono::milliseconds timeout{2000};  // connect, send and receive, per request
  std::size_t maxIdleConnections = 64;      // kept open for reuse (one per concurrent signing thread)
};

class SignerClient final : public Signer {
 public:
  // Does not connect yet. InvalidInput for an empty or too long socket path.
  static Result<std::unique_ptr<SignerClient>> create(SignerClientOptions options);
  ~SignerClient() override;

  // See Signer. Unavailable when the socket cannot be reached or the answer is malformed or late
  // (one retry on a fresh connection if a reused one was closed by the server). Errors reported
  // by the signer (NotFound, InvalidInput, Unavailable when rate-limited) are passed through.
  // Thread-safe: each call uses its own connection.
  Result<std::string> signDigest(std::string_view keyLabel, std::string_view digest) override;
  // Cached per label after the first successful answer.
  Result<SigningKeyInfo> keyInfo(std::string_view keyLabel) override;

 private:
  explicit SignerClient(SignerClientOptions options) : options_(std::move(options)) {}
  struct Reply {
    signer_protocol::FrameHeader header;
    std::string payload;
  };
  Result<Reply> roundTrip(const std::string& frame);
  Result<Reply> exchange(int fd, const std::string& frame);
  Result<int> connectSocket();
  SignerClientOptions options_;
  std::mutex mutex_;
  std::vector<int> idle_;
  std::map<std::string, SigningKeyInfo, std::less<>> keyInfoCache_;
};

}  // namespace erds::evidence
