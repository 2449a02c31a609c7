// Secret: bytes that must never reach a log, an error message or the environment.
// Streaming a Secret prints "[redacted]"; the bytes are wiped on destruction.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace erds {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string bytes) : bytes_(std::move(bytes)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  Secret(Secret&& o) noexcept : bytes_(std::move(o.bytes_)) { o.wipe(); }
  Secret& operator=(Secret&& o) noexcept;
  ~Secret() { wipe(); }

  // The raw bytes. Callers must not log or copy them into non-Secret storage longer than needed.
  std::string_view reveal() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

 private:
  void wipe();
  std::string bytes_;
};

inline std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "[redacted]"; }

}  // namespace erds
