// The ports the message API needs from other components: who is calling (authentication), what the
// identity component knows about parties (bound identifiers, identifications) and how lifecycle
// notices reach recipients. Adapters over erds::identity are in identity_adapters.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/http/message.h"
#include "erds/identity/party.h"

namespace erds::api {

// The authenticated caller of a request.
struct Caller {
  std::string partyId;
  identity::AuthenticationContext authentication;
  std::string sessionRef;  // for audit records; never the token
};

class CallerAuthenticator {
 public:
  virtual ~CallerAuthenticator() = default;
  // Unauthorized when the request carries no valid session; Unavailable when the store fails.
  // Thread-safe.
  virtual Result<Caller> authenticate(const http::Request& request) const = 0;
};

// Thread-safe implementations required.
class PartyDirectory {
 public:
  virtual ~PartyDirectory() = default;
  // The party a delivery identifier ("mailto:...", compared lower-cased) is bound to; nullopt if none.
  virtual Result<std::optional<std::string>> partyBoundTo(const std::string& identifier) = 0;
  // The party's identification records (the gate decides which count).
  virtual Result<std::vector<identity::Identification>> identificationsOf(const std::string& partyId) = 0;
  // The identifier the party sends under ("mailto:..."): its first bound delivery identifier, else
  // its login identifier. NotFound if it has neither.
  virtual Result<std::string> senderIdentifierOf(const std::string& partyId) = 0;
};

// A lifecycle notice. Carries no content, no subject and no sender identity (policy).
struct Notice {
  std::string recipientIdentifier;  // "mailto:..."
  std::string messageId;
  int recipientIndex = 0;
  TimePoint expiresAt{};
  std::string noticeId;  // stable across retries (e.g. an e-mail Message-ID), at-least-once delivery
};

class DeliveryNotifier {
 public:
  virtual ~DeliveryNotifier() = default;
  // Consent mode: "a message awaits your acceptance". Unavailable if it cannot be sent now (the
  // worker retries; after the last attempt NotificationForAcceptanceFailure is recorded).
  virtual Result<void> notifyForAcceptance(const Notice& notice) = 0;
  // Basic mode: "a message has been made available to you".
  virtual Result<void> notifyConsignment(const Notice& notice) = 0;
};

// Development notifier: logs "delivery.notice" with the recipient, the message id and the kind.
class LogDeliveryNotifier final : public DeliveryNotifier {
 public:
  Result<void> notifyForAcceptance(const Notice& notice) override;
  Result<void> notifyConsignment(const Notice& notice) override;
};

}  // namespace erds::api
