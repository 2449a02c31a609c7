// In-memory ThrottleStore for tests and benchmarks (identity/testing; never linked into daemons).
#pragma once

#include <map>
#include <mutex>

#include "erds/identity/login_throttle.h"

namespace erds::identity::testing {

class InMemoryThrottleStore final : public ThrottleStore {
 public:
  Result<ThrottleState> load(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto it = states_.find(key);
    return it == states_.end() ? ThrottleState{} : it->second;
  }
  Result<ThrottleState> update(const std::string& key,
                               const std::function<ThrottleState(const ThrottleState&)>& fn) override {
    std::lock_guard lock(mu_);
    ThrottleState next = fn(states_[key]);
    states_[key] = next;
    return next;
  }
  Result<void> reset(const std::string& key) override {
    std::lock_guard lock(mu_);
    states_.erase(key);
    return ok();
  }
  std::size_t sizeForTest() const {
    std::lock_guard lock(mu_);
    return states_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, ThrottleState> states_;
};

}  // namespace erds::identity::testing
