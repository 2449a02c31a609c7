// In-memory SecondFactorStore for tests (identity/testing; never linked into daemons).
#pragma once

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>

#include "erds/identity/totp.h"

namespace erds::identity::testing {

class InMemorySecondFactorStore final : public SecondFactorStore {
 public:
  Result<void> setTotpSeed(const std::string& partyId, const Secret& seed) override {
    std::lock_guard lock(mu_);
    auto& e = entries_[partyId];
    e.seed = seed;
    e.lastStep = std::numeric_limits<int64_t>::min();
    return ok();
  }
  Result<Secret> totpSeed(const std::string& partyId) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(partyId);
    if (it == entries_.end() || it->second.seed.empty()) return Error::notFound("no TOTP enrolled");
    return it->second.seed;
  }
  Result<bool> advanceTotpStep(const std::string& partyId, int64_t step) override {
    std::lock_guard lock(mu_);
    auto& e = entries_[partyId];
    if (step <= e.lastStep) return false;
    e.lastStep = step;
    return true;
  }
  Result<void> replaceRecoveryCodes(const std::string& partyId, std::vector<std::string> hashes) override {
    std::lock_guard lock(mu_);
    entries_[partyId].recovery = std::move(hashes);
    return ok();
  }
  Result<bool> consumeRecoveryCode(const std::string& partyId, const std::string& hash) override {
    std::lock_guard lock(mu_);
    auto& codes = entries_[partyId].recovery;
    auto it = std::find(codes.begin(), codes.end(), hash);
    if (it == codes.end()) return false;
    codes.erase(it);
    return true;
  }
  Result<int> remainingRecoveryCodes(const std::string& partyId) override {
    std::lock_guard lock(mu_);
    return static_cast<int>(entries_[partyId].recovery.size());
  }

 private:
  struct Entry {
    Secret seed;
    int64_t lastStep = std::numeric_limits<int64_t>::min();
    std::vector<std::string> recovery;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace erds::identity::testing
