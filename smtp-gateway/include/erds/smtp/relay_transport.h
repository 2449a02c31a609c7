// RelayTransport: the port that carries a finished outbound message (a REM dispatch, receipt or
// notification) to another mail system. It does not assume SMTP: the first implementation is an
// SMTP client with MX lookup, a later one may relay to another REM provider by other means.
#pragma once

#include <string>
#include <vector>

#include "erds/base/result.h"

namespace erds::smtp {

struct RelayRequest {
  std::string mailFrom;                 // envelope sender (our service address)
  std::vector<std::string> recipients;  // envelope recipients, all in one target domain
  std::string message;                  // the complete RFC 5322 message, CRLF line ends
};

enum class RecipientStatus { Delivered, TemporaryFailure, PermanentFailure };

struct RecipientResult {
  std::string recipient;
  RecipientStatus status = RecipientStatus::TemporaryFailure;
  std::string remoteHost;  // the MX or relay that answered ("" if none was reached)
  std::string reply;       // the remote reply line (for evidence: ForwardedToExternalSystem etc.)
};

class RelayTransport {
 public:
  virtual ~RelayTransport() = default;
  // Attempts delivery once and reports per recipient (no retries here: the job queue retries
  // TemporaryFailure with backoff). Errors only for a request that cannot be attempted at all
  // (InvalidInput: no recipients, mixed domains). Thread-safe.
  virtual Result<std::vector<RecipientResult>> relay(const RelayRequest& request) = 0;
};

}  // namespace erds::smtp
