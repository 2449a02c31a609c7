// SmtpSession: the RFC 5321 server protocol engine for one connection, as a state machine with no
// sockets. The transport feeds received bytes and sends back what the engine returns; STARTTLS is
// signalled to the transport, which performs the handshake and reports it with tlsEstablished().
// Extensions: SIZE (RFC 1870), 8BITMIME, PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034/3463),
// STARTTLS (RFC 3207), AUTH PLAIN/LOGIN (RFC 4954, submission only, only after STARTTLS).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "erds/smtp/authenticator.h"
#include "erds/smtp/message_data.h"
#include "erds/smtp/submission_sink.h"

namespace erds::smtp {

struct SessionLimits {
  std::size_t maxMessageBytes = 64 * 1024 * 1024;  // SIZE; 552 5.3.4 beyond (also mid-DATA)
  std::size_t maxLineBytes = 1000;                 // including CRLF (RFC 5321 4.5.3.1.6)
  std::size_t maxRecipients = 100;                 // per transaction; 452 4.5.3 beyond
  std::size_t maxCommands = 1000;                  // per connection; then 421 4.7.0 and close
  std::size_t maxErrors = 10;                      // bad commands per connection; then 421
  std::size_t maxAuthFailures = 3;                 // then 421 4.7.0 and close
  std::size_t maxMessages = 100;                   // per connection
  std::size_t memoryThreshold = 1024 * 1024;       // DATA beyond this is spooled to a file
};

struct SessionConfig {
  ListenerKind listener = ListenerKind::Submission;
  std::string hostname = "localhost";       // our name in the greeting and EHLO reply
  std::vector<std::string> localDomains;    // MX: the only recipient domains accepted (lower case)
  bool tlsAvailable = false;                // advertise STARTTLS
  // Submission: a client certificate bound to the same party must have been presented in STARTTLS
  // before AUTH succeeds (qualified mode, EN 319 521 / 2025/1944 5.2.2-04).
  bool requireClientCertificate = false;
  bool checkMessageSyntax = true;           // RFC 5322/MIME sanity check before the sink
  std::string spoolDir;                     // for large messages ("" = $TMPDIR)
  SessionLimits limits;
};

struct TlsInfo {
  std::string protocol;                    // "TLSv1.3"
  std::string cipher;
  std::string peerCertificateDer;          // "" if the client sent none
  std::vector<std::string> peerChainDer;
};

class SmtpSession {
 public:
  // `authenticator` may be null on the MX listener; `sink` must outlive the session.
  SmtpSession(SessionConfig config, std::string clientAddress, Authenticator* authenticator,
              SubmissionSink* sink);
  ~SmtpSession();
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  struct Output {
    std::string replies;    // bytes to send, in order (several replies when pipelined)
    bool startTls = false;  // send `replies`, then do the TLS handshake, then tlsEstablished()
    bool close = false;     // send `replies`, then close the connection
  };

  // The 220 greeting.
  std::string greeting() const;
  // Feeds received bytes (any split). Processes every complete line; keeps partial input. After
  // startTls or close is returned, further bytes are ignored until tlsEstablished() (any bytes the
  // client pipelined after STARTTLS are discarded: RFC 3207 section 4.2, CVE-2011-0411).
  Output receive(std::string_view bytes);
  // The TLS handshake succeeded. Resets the session to the state after the greeting (RFC 3207).
  Output tlsEstablished(const TlsInfo& info);
  // The handshake failed: the transport closes the connection.
  void tlsFailed();
  // The read timed out: returns the 421 reply to send before closing.
  std::string timeoutReply();
  // The client went away; a message in progress is discarded and never reaches the sink.
  void connectionLost();

  bool closed() const;
  bool tlsActive() const;
  // Number of messages handed to the sink successfully (for tests and metrics).
  std::size_t acceptedMessages() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace erds::smtp
