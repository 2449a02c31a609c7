// In-memory CredentialStore for tests (identity/testing; never linked into daemons).
#pragma once

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "erds/identity/credential_store.h"

namespace erds::identity::testing {

class InMemoryCredentialStore final : public CredentialStore {
 public:
  void putForTest(const std::string& identifier, Credentials c) {
    std::lock_guard lock(mu_);
    byIdentifier_[lower(identifier)] = std::move(c);
  }
  Result<std::optional<Credentials>> findByIdentifier(const std::string& identifier) override {
    std::lock_guard lock(mu_);
    auto it = byIdentifier_.find(lower(identifier));
    if (it == byIdentifier_.end()) return std::optional<Credentials>();
    return std::optional<Credentials>(it->second);
  }
  Result<void> setPasswordHash(const std::string& partyId, const std::string& phc) override {
    std::lock_guard lock(mu_);
    for (auto& [id, c] : byIdentifier_) {
      if (c.partyId == partyId) c.passwordHash = phc;
    }
    return ok();
  }

 private:
  static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  }
  std::mutex mu_;
  std::map<std::string, Credentials> byIdentifier_;
};

}  // namespace erds::identity::testing
