#include "erds/identity/notifier.h"

#include "erds/base/log.h"

namespace erds::identity {

Result<void> LogNotifier::sendProofOfControlCode(const std::string& identifier, const Secret& code,
                                                 TimePoint expiresAt) {
  if (reveal_) {
    // Development mode only: there is no mail transport yet, so the developer reads the code here.
    log::info("identity.code_sent", {{"identifier", identifier},
                                     {"expires_at", formatRfc3339(expiresAt, false)},
                                     {"development_code", std::string(code.reveal())}});
  } else {
    log::info("identity.code_sent", {{"identifier", identifier}, {"expires_at", formatRfc3339(expiresAt, false)}});
  }
  return ok();
}

}  // namespace erds::identity
