// Secret: wiping with OPENSSL_cleanse so the compiler cannot elide it.
#include "erds/base/secret.h"

#include <openssl/crypto.h>

namespace erds {

Secret& Secret::operator=(Secret&& o) noexcept {
  if (this != &o) {
    wipe();
    bytes_ = std::move(o.bytes_);
    o.wipe();
  }
  return *this;
}

void Secret::wipe() {
  // Wipe the whole capacity: a moved-from or shrunk string may keep old bytes past size().
  if (bytes_.capacity() > 0) {
    bytes_.resize(bytes_.capacity());
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
  }
  bytes_.clear();
}

}  // namespace erds
