// FakeEvidenceIssuer: an EvidenceIssuer for tests only (erds::core_testing). Produces small,
// unsigned XML with a fresh id per call, counts calls and can be told to fail like an unreachable
// time-stamp authority. Thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "erds/base/aead.h"
#include "erds/core/evidence_issuer.h"

namespace erds::core::testing {

class FakeEvidenceIssuer final : public EvidenceIssuer {
 public:
  Result<IssuedEvidence> issue(const EvidenceRequest& r) override {
    calls_.fetch_add(1);
    if (failing_.load()) return Error::unavailable("time-stamp authority unreachable (fake)");
    IssuedEvidence out;
    out.evidenceId = "ev-" + crypto::toHex(crypto::randomBytes(12));
    out.xml = "<FakeEvidence id=\"" + out.evidenceId + "\" event=\"" + std::string(eventName(r.event)) +
              "\" reason=\"" + r.reason + "\" message=\"" + r.message.messageId + "\" recipient=\"" +
              (r.recipientIndex ? std::to_string(*r.recipientIndex) : std::string("-")) + "\" digest=\"" +
              crypto::toHex(r.message.contentDigest) + "\"/>";
    std::lock_guard<std::mutex> g(mu_);
    requests_.push_back(r);
    return out;
  }
  void setFailing(bool f) { failing_ = f; }
  int calls() const { return calls_.load(); }
  std::vector<EvidenceRequest> requests() const {
    std::lock_guard<std::mutex> g(mu_);
    return requests_;
  }

 private:
  std::atomic<bool> failing_{false};
  std::atomic<int> calls_{0};
  mutable std::mutex mu_;
  std::vector<EvidenceRequest> requests_;
};

}  // namespace erds::core::testing
