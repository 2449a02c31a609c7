// In-memory fakes of the gateway's ports (Authenticator, SubmissionSink, RelayTransport) for tests
// and for erds-smtpd's development mode. Never used under service.mode basic/qualified.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "erds/smtp/authenticator.h"
#include "erds/smtp/relay_transport.h"
#include "erds/smtp/submission_sink.h"

namespace erds::smtp::testing {

// Users with a password, an optional client certificate (DER) and the sender addresses bound to
// them. Thread-safe.
class InMemoryAuthenticator final : public Authenticator {
 public:
  struct User {
    std::string username;
    std::string password;
    std::string partyId;
    std::vector<std::string> addresses;  // compared case-insensitively
    std::string certificateDer;          // "" = none
  };
  void addUser(User user);
  // Parses "username password partyId addr1[,addr2...]" lines ('#' comments). InvalidInput on a
  // malformed line.
  Result<void> loadFile(const std::string& path);
  // Makes every call fail with Unavailable (to test 451/454 replies).
  void setUnavailable(bool v);

  Result<AuthenticatedParty> authenticatePassword(std::string_view username, const Secret& password) override;
  Result<AuthenticatedParty> authenticateCertificate(std::string_view leafDer,
                                                     const std::vector<std::string>& chainDer) override;
  Result<void> authorizeSender(const AuthenticatedParty& party, std::string_view address) override;

 private:
  std::mutex mu_;
  std::vector<User> users_;
  bool unavailable_ = false;
};

// Keeps accepted messages in memory. Thread-safe.
class InMemorySubmissionSink final : public SubmissionSink {
 public:
  struct Stored {
    Envelope envelope;
    std::string bytes;
  };
  Result<std::string> accept(const Envelope& envelope, const MessageData& message) override;
  std::vector<Stored> messages() const;
  // The next accept() calls fail with this error (nothing stored) until cleared with nullopt.
  void failWith(std::optional<Error> error);

 private:
  mutable std::mutex mu_;
  std::vector<Stored> messages_;
  std::optional<Error> fail_;
};

// Development only: writes each accepted message to <dir>/<id>.eml and its envelope to
// <dir>/<id>.json (fsync'd). Thread-safe.
class DirectorySubmissionSink final : public SubmissionSink {
 public:
  explicit DirectorySubmissionSink(std::string dir);
  Result<std::string> accept(const Envelope& envelope, const MessageData& message) override;

 private:
  std::string dir_;
  std::mutex mu_;
  unsigned long counter_ = 0;
};

// Records relay requests and answers with a fixed status per recipient. Thread-safe.
class RecordingRelayTransport final : public RelayTransport {
 public:
  Result<std::vector<RecipientResult>> relay(const RelayRequest& request) override;
  void setStatus(const std::string& recipient, RecipientStatus status);
  std::vector<RelayRequest> requests() const;

 private:
  mutable std::mutex mu_;
  std::vector<RelayRequest> requests_;
  std::map<std::string, RecipientStatus> status_;
};

}  // namespace erds::smtp::testing
