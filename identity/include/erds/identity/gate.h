// The identity gate the core asks before a submission or a content handover: "may this party do
// this now, and on which identification and authentication?". Driven by a policy table with
// built-in profiles chosen by service.mode; the qualified profile follows Implementing Regulation
// (EU) 2025/1944 Annex I (5.2.1.1-01, -01A; 5.2.2-03, -03A).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/config.h"
#include "erds/identity/party.h"

namespace erds::identity {

enum class GateAction { Submit, Handover };
std::string_view gateActionName(GateAction a);

// One accepted identification method and the minimum level it must have been recorded with.
struct MethodRule {
  IdentificationMethod method;
  LevelOfAssurance minLevel = LevelOfAssurance::None;
};

struct ActionPolicy {
  // Empty: any method counts ("levels only"). Otherwise only these methods.
  std::vector<MethodRule> acceptedMethods;
  LevelOfAssurance minLevel = LevelOfAssurance::None;  // identification level floor
  bool requireStrongAuthentication = false;             // multi-factor or certificate-based
  std::string methodAdvice;  // what to do when no accepted method is on record
};

struct GatePolicy {
  std::string profile;  // "development" | "basic" | "qualified"
  ActionPolicy submit;
  ActionPolicy handover;
  const ActionPolicy& forAction(GateAction a) const { return a == GateAction::Submit ? submit : handover; }
};

// The built-in profile of a service mode:
// - qualified: handover needs physical_presence, eid_notified (high), eudi_wallet,
//   qualified_certificate or cab_confirmed_remote; submit needs physical_presence, eudi_wallet,
//   eid_notified (>= substantial), ncp_certificate, qualified_certificate (QCP builds on NCP+,
//   EN 319 411-2) or cab_confirmed_remote; both need strong authentication.
// - basic: any method; submit >= substantial, handover >= low; no strong-authentication rule.
// - development: any method; submit >= substantial, handover: the message's level only.
GatePolicy builtinGatePolicy(ServiceMode mode);

// The policy in force: the built-in profile of service.mode with the configuration's overrides
// applied: identity.sender_min_level / identity.recipient_min_level (the action's minLevel),
// identity.require_strong_authentication (both actions) and identity.submit_methods /
// identity.handover_methods (comma-separated method names replacing the accepted methods; a method
// the profile already lists keeps its own minimum level). In qualified mode no override may weaken
// Annex I: a lower level, strong authentication off, or a method outside the profile's list is
// refused. InvalidInput with one line naming the key and its source otherwise.
Result<GatePolicy> gatePolicyFromConfig(const Config& config);

struct GateRequest {
  GateAction action = GateAction::Handover;
  LevelOfAssurance messageRequiredLevel = LevelOfAssurance::None;  // handover: the sender's demand
  std::vector<Identification> identifications;  // the party's identification records
  AuthenticationContext authentication;         // the current session's
};

struct GateDecision {
  bool allowed = false;
  // "" when allowed; else one of: identification_required, identification_method_not_accepted,
  // identification_level_too_low, strong_authentication_required.
  std::string code;
  std::string advice;                      // "what to do next", for the problem+json detail
  LevelOfAssurance requiredLevel = LevelOfAssurance::None;
  std::optional<Identification> usedIdentification;  // the record that satisfied the rule (evidence)
};

// Pure and thread-safe.
class IdentityGate {
 public:
  explicit IdentityGate(GatePolicy policy) : policy_(std::move(policy)) {}

  // Decides at time `now` (identifications past validUntil or revoked do not count). Required level
  // for a handover is the stricter of the profile's and the message's.
  GateDecision decide(const GateRequest& request, TimePoint now) const;
  const GatePolicy& policy() const { return policy_; }

 private:
  GatePolicy policy_;
};

}  // namespace erds::identity
