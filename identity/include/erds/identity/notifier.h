// Notifier: how proof-of-control codes reach a delivery identifier. The development notifier logs
// instead of sending; the mail notifier comes with the SMTP gateway.
#pragma once

#include <string>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds::identity {

class Notifier {
 public:
  virtual ~Notifier() = default;
  // Sends `code` to `identifier` ("mailto:..."). Unavailable if it cannot be sent now.
  // Thread-safe.
  virtual Result<void> sendProofOfControlCode(const std::string& identifier, const Secret& code,
                                              TimePoint expiresAt) = 0;
};

// Logs "identity.code_sent" with the identifier. The code itself is written to the log only when
// `revealCodes` is true, which erdsd sets in service.mode=development only.
class LogNotifier final : public Notifier {
 public:
  explicit LogNotifier(bool revealCodes) : reveal_(revealCodes) {}
  Result<void> sendProofOfControlCode(const std::string& identifier, const Secret& code,
                                      TimePoint expiresAt) override;

 private:
  bool reveal_;
};

}  // namespace erds::identity
