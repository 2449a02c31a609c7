// SubmissionSink: the port that takes one complete, checked message from the SMTP engine and makes
// it durable (later: an ERDS submission through the core library, with its SubmissionAcceptance).
// The SMTP engine answers 250 only when accept() returned a value.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/result.h"
#include "erds/smtp/authenticator.h"
#include "erds/smtp/message_data.h"

namespace erds::smtp {

enum class ListenerKind { Submission, Mx };

struct Envelope {
  ListenerKind listener = ListenerKind::Submission;
  std::string clientAddress;     // "ip:port" of the peer
  std::string heloName;          // as given in EHLO/HELO (untrusted)
  bool tls = false;              // STARTTLS completed
  std::string tlsProtocol;       // e.g. "TLSv1.3"
  std::optional<AuthenticatedParty> party;  // set on submission (always authenticated)
  std::string mailFrom;          // "" for the null reverse-path <>
  bool eightBitMime = false;     // BODY=8BITMIME
  std::vector<std::string> recipients;
};

class SubmissionSink {
 public:
  virtual ~SubmissionSink() = default;

  // Stores the message durably and returns an identifier for the 250 reply. Errors decide the
  // reply through the gateway's one table (reply_codes.h): Unavailable/Internal are temporary
  // (451 4.3.0, the client retries), the others are permanent refusals whose message is shown to
  // the client (keep it short, no internal detail). On error nothing may remain stored.
  // Thread-safe (called from many connections).
  virtual Result<std::string> accept(const Envelope& envelope, const MessageData& message) = 0;
};

}  // namespace erds::smtp
