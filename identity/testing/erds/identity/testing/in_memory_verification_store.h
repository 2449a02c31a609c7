// In-memory VerificationStore for tests (identity/testing; never linked into daemons).
#pragma once

#include <map>
#include <mutex>

#include "erds/identity/verification.h"

namespace erds::identity::testing {

class InMemoryVerificationStore final : public VerificationStore {
 public:
  Result<void> create(const VerificationRequest& r) override {
    std::lock_guard lock(mu_);
    if (!requests_.emplace(r.id, r).second) return Error::conflict("request exists");
    order_.push_back(r.id);
    return ok();
  }
  Result<VerificationRequest> find(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end()) return Error::notFound("no such verification request");
    return it->second;
  }
  Result<void> update(const VerificationRequest& r, int64_t expectedVersion,
                      const std::optional<Identification>& identification) override {
    std::lock_guard lock(mu_);
    auto it = requests_.find(r.id);
    if (it == requests_.end()) return Error::notFound("no such verification request");
    if (it->second.version != expectedVersion) return Error::conflict("verification request changed concurrently");
    it->second = r;
    it->second.version = expectedVersion + 1;
    if (identification) identifications_.push_back(*identification);
    return ok();
  }
  Result<std::vector<VerificationRequest>> openRequests() override {
    std::lock_guard lock(mu_);
    std::vector<VerificationRequest> out;
    for (const auto& id : order_) {
      const auto& r = requests_.at(id);
      if (r.status == VerificationStatus::Pending || r.status == VerificationStatus::AwaitingSecondApproval) {
        out.push_back(r);
      }
    }
    return out;
  }
  Result<std::vector<Identification>> identificationsOf(const std::string& partyId) override {
    std::lock_guard lock(mu_);
    std::vector<Identification> out;
    for (const auto& i : identifications_) {
      if (i.partyId == partyId) out.push_back(i);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::map<std::string, VerificationRequest> requests_;
  std::vector<std::string> order_;
  std::vector<Identification> identifications_;
};

}  // namespace erds::identity::testing
