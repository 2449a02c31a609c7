#include "fake_ports.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "erds/base/log.h"

namespace erds::smtp::testing {

namespace {
bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}
}  // namespace

void InMemoryAuthenticator::addUser(User user) {
  std::lock_guard<std::mutex> lock(mu_);
  users_.push_back(std::move(user));
}

void InMemoryAuthenticator::setUnavailable(bool v) {
  std::lock_guard<std::mutex> lock(mu_);
  unavailable_ = v;
}

Result<void> InMemoryAuthenticator::loadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::invalidInput("cannot read users file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    User u;
    std::string addrs;
    if (!(ls >> u.username >> u.password >> u.partyId >> addrs))
      return Error::invalidInput(path + ":" + std::to_string(n) + ": expected 'user password party addresses'");
    std::stringstream as(addrs);
    std::string a;
    while (std::getline(as, a, ',')) {
      if (!a.empty()) u.addresses.push_back(a);
    }
    addUser(std::move(u));
  }
  return ok();
}

Result<AuthenticatedParty> InMemoryAuthenticator::authenticatePassword(std::string_view username,
                                                                       const Secret& password) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unavailable_) return Error::unavailable("credential store down");
  for (const auto& u : users_) {
    if (u.username == username && u.password == password.reveal()) {
      return AuthenticatedParty{u.partyId, {identity::AuthenticationMethod::Password},
                                identity::LevelOfAssurance::Low};
    }
  }
  return Error::unauthorized("invalid credentials");
}

Result<AuthenticatedParty> InMemoryAuthenticator::authenticateCertificate(
    std::string_view leafDer, const std::vector<std::string>& /*chainDer*/) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unavailable_) return Error::unavailable("credential store down");
  for (const auto& u : users_) {
    if (!u.certificateDer.empty() && u.certificateDer == leafDer) {
      return AuthenticatedParty{u.partyId, {identity::AuthenticationMethod::ClientCertificate},
                                identity::LevelOfAssurance::Substantial};
    }
  }
  return Error::unauthorized("unknown certificate");
}

Result<void> InMemoryAuthenticator::authorizeSender(const AuthenticatedParty& party, std::string_view address) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unavailable_) return Error::unavailable("credential store down");
  for (const auto& u : users_) {
    if (u.partyId != party.partyId) continue;
    for (const auto& a : u.addresses) {
      if (iequal(a, address)) return ok();
    }
  }
  return Error::unauthorized("address not bound to the party");
}

Result<std::string> InMemorySubmissionSink::accept(const Envelope& envelope, const MessageData& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fail_) return *fail_;
  auto bytes = message.readAll(1ULL << 31);
  if (!bytes) return bytes.error();
  messages_.push_back({envelope, std::move(bytes).value()});
  return "mem" + std::to_string(messages_.size());
}

std::vector<InMemorySubmissionSink::Stored> InMemorySubmissionSink::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

void InMemorySubmissionSink::failWith(std::optional<Error> error) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ = std::move(error);
}

DirectorySubmissionSink::DirectorySubmissionSink(std::string dir) : dir_(std::move(dir)) {}

Result<std::string> DirectorySubmissionSink::accept(const Envelope& envelope, const MessageData& message) {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    id = "dev" + std::to_string(now) + "-" + std::to_string(++counter_);
  }
  std::string eml = dir_ + "/" + id + ".eml";
  ERDS_RETURN_IF_ERROR(message.writeTo(eml + ".tmp"));
  std::string json = "{\"mail_from\":\"" + log::jsonEscape(envelope.mailFrom) + "\",\"recipients\":[";
  for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
    if (i > 0) json += ",";
    json += "\"" + log::jsonEscape(envelope.recipients[i]) + "\"";
  }
  json += "],\"party\":\"" + log::jsonEscape(envelope.party ? envelope.party->partyId : "") + "\",\"tls\":";
  json += envelope.tls ? "true" : "false";
  json += ",\"listener\":\"";
  json += envelope.listener == ListenerKind::Mx ? "mx" : "submission";
  json += "\"}\n";
  std::string jsonPath = dir_ + "/" + id + ".json";
  int fd = ::open(jsonPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok || ::rename((eml + ".tmp").c_str(), eml.c_str()) != 0) {
    ::unlink((eml + ".tmp").c_str());
    ::unlink(jsonPath.c_str());
    return Error::unavailable("development sink cannot write to " + dir_);
  }
  return id;
}

Result<std::vector<RecipientResult>> RecordingRelayTransport::relay(const RelayRequest& request) {
  if (request.recipients.empty()) return Error::invalidInput("no recipients");
  std::lock_guard<std::mutex> lock(mu_);
  requests_.push_back(request);
  std::vector<RecipientResult> out;
  for (const auto& r : request.recipients) {
    auto it = status_.find(r);
    RecipientStatus st = it == status_.end() ? RecipientStatus::Delivered : it->second;
    out.push_back({r, st, "fake-mx.invalid", st == RecipientStatus::Delivered ? "250 2.0.0 Ok" : "550 5.1.1 No"});
  }
  return out;
}

void RecordingRelayTransport::setStatus(const std::string& recipient, RecipientStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  status_[recipient] = status;
}

std::vector<RelayRequest> RecordingRelayTransport::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

}  // namespace erds::smtp::testing
