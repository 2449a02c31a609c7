// SmtpRelayTransport: the RelayTransport port as an SMTP client (RFC 5321): MX lookup with
// libresolv res_query (or a configured relay host), opportunistic STARTTLS (RFC 3207, RFC 7435)
// when the server offers it, and one result per recipient (RCPT replies are kept apart, unlike
// Poco's SMTPClientSession which stops at the first refusal).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "erds/smtp/relay_transport.h"

namespace erds::smtp {

struct SmtpRelayOptions {
  std::string heloName = "localhost";   // our name in EHLO
  std::string relayHost;                // "" = MX lookup of the recipients' domain
  uint16_t port = 25;                   // of the relay host or of every MX
  std::chrono::seconds timeout{60};     // per read/write
  bool requireTls = false;              // refuse (temporary failure) servers without STARTTLS
};

// Thread-safe (no shared mutable state; one connection per relay() call).
class SmtpRelayTransport final : public RelayTransport {
 public:
  explicit SmtpRelayTransport(SmtpRelayOptions options);
  // Tries the MX hosts in preference order (or the relay host) until one answers the
  // transaction; recipients refused with 5xx are PermanentFailure, 4xx and connection problems
  // TemporaryFailure. InvalidInput: no recipients or recipients at different domains.
  Result<std::vector<RecipientResult>> relay(const RelayRequest& request) override;

 private:
  SmtpRelayOptions opt_;
};

// The MX hosts of `domain` in preference order (RFC 5321 5.1: no MX record -> the domain itself).
// Unavailable when the resolver fails temporarily, NotFound for a domain that does not exist.
Result<std::vector<std::string>> lookupMx(const std::string& domain);

}  // namespace erds::smtp
