#include "erds/identity/gate.h"

#include <algorithm>

namespace erds::identity {
namespace {

constexpr const char* kStrongAuthAdvice =
    "Sign in again with your password and a code from your authenticator app, or with your "
    "certificate.";

std::string levelAdvice(LevelOfAssurance need) {
  return "Your identity must be verified at level " + std::string(levelName(need)) +
         " or higher: ask for an identity verification (in person at a verification officer, or "
         "with a qualified certificate, a notified eID or the EU Digital Identity Wallet).";
}

bool usable(const Identification& id, TimePoint now) {
  return !id.revoked && (!id.validUntil || now < *id.validUntil);
}

}  // namespace

std::string_view gateActionName(GateAction a) { return a == GateAction::Submit ? "submit" : "handover"; }

GatePolicy builtinGatePolicy(ServiceMode mode) {
  using M = IdentificationMethod;
  using L = LevelOfAssurance;
  GatePolicy p;
  switch (mode) {
    case ServiceMode::Qualified:
      p.profile = "qualified";
      // 2025/1944 Annex I 5.2.1.1-01 (recipient). An ID-document scan alone is none of these.
      p.handover.acceptedMethods = {{M::PhysicalPresence, L::Low}, {M::EidNotified, L::High},
                                    {M::EudiWallet, L::Low},       {M::QualifiedCertificate, L::Low},
                                    {M::CabConfirmedRemote, L::Low}};
      p.handover.minLevel = L::Low;
      p.handover.requireStrongAuthentication = true;  // 5.2.2-03A
      p.handover.methodAdvice =
          "Be identified in person, with a notified eID at level high or the EU Digital Identity "
          "Wallet, or with a qualified signature or seal certificate. A scanned identity document is "
          "not enough for this delivery.";
      // 5.2.1.1-01A (sender). A qualified certificate is issued under QCP, which includes the NCP+
      // requirements (EN 319 411-2), so it is at least an advanced certificate under NCP.
      p.submit.acceptedMethods = {{M::PhysicalPresence, L::Low},     {M::EudiWallet, L::Low},
                                  {M::EidNotified, L::Substantial},  {M::NcpCertificate, L::Low},
                                  {M::QualifiedCertificate, L::Low}, {M::CabConfirmedRemote, L::Low}};
      p.submit.minLevel = L::Low;
      p.submit.requireStrongAuthentication = true;  // 5.2.2-03
      p.submit.methodAdvice =
          "Be identified in person, with the EU Digital Identity Wallet or a notified eID at level "
          "substantial or high, or with an advanced or qualified certificate, before sending.";
      break;
    case ServiceMode::Basic:
      p.profile = "basic";
      p.submit.minLevel = L::Substantial;
      p.handover.minLevel = L::Low;
      break;
    case ServiceMode::Development:
      p.profile = "development";
      p.submit.minLevel = L::Substantial;
      p.handover.minLevel = L::None;
      break;
  }
  return p;
}

Result<GatePolicy> gatePolicyFromConfig(const Config& config) {
  const ServiceMode mode = config.mode();
  GatePolicy p = builtinGatePolicy(mode);
  const bool qualified = mode == ServiceMode::Qualified;
  auto where = [&](const std::string& key) { return key + " (" + config.sourceOf(key) + ")"; };

  auto level = [&](const std::string& key, ActionPolicy& rule) -> Result<void> {
    const std::string v = config.getString(key);
    if (v.empty()) return ok();
    auto l = parseLevel(v);
    if (!l) return Error::invalidInput(where(key) + ": " + l.error().message);
    if (qualified && !atLeast(*l, rule.minLevel)) {
      return Error::invalidInput(where(key) + ": \"" + v + "\" is below the qualified profile's level \"" +
                                 std::string(levelName(rule.minLevel)) + "\" (Annex I may not be weakened)");
    }
    rule.minLevel = *l;
    return ok();
  };
  ERDS_RETURN_IF_ERROR(level("identity.sender_min_level", p.submit));
  ERDS_RETURN_IF_ERROR(level("identity.recipient_min_level", p.handover));

  const std::string strong = config.getString("identity.require_strong_authentication");
  if (!strong.empty()) {
    const bool on = strong == "true";
    if (!on && strong != "false") {
      return Error::invalidInput(where("identity.require_strong_authentication") + ": expected true or false");
    }
    if (qualified && !on) {
      return Error::invalidInput(where("identity.require_strong_authentication") +
                                 ": cannot be false in service.mode=qualified (Annex I 5.2.2-03/-03A)");
    }
    p.submit.requireStrongAuthentication = on;
    p.handover.requireStrongAuthentication = on;
  }

  auto methods = [&](const std::string& key, ActionPolicy& rule) -> Result<void> {
    const std::string v = config.getString(key);
    if (v.empty()) return ok();
    std::vector<MethodRule> out;
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string name = v.substr(start, comma - start);
      start = comma + 1;
      name.erase(0, name.find_first_not_of(" \t"));
      name.erase(name.find_last_not_of(" \t") + 1);
      if (name.empty()) continue;
      auto m = parseIdentificationMethod(name);
      if (!m) return Error::invalidInput(where(key) + ": " + m.error().message);
      auto builtin = std::find_if(rule.acceptedMethods.begin(), rule.acceptedMethods.end(),
                                  [&](const MethodRule& r) { return r.method == *m; });
      if (builtin == rule.acceptedMethods.end() && qualified) {
        return Error::invalidInput(where(key) + ": method \"" + name +
                                   "\" is not accepted by the qualified profile (Annex I may not be weakened)");
      }
      if (std::none_of(out.begin(), out.end(), [&](const MethodRule& r) { return r.method == *m; })) {
        out.push_back(builtin != rule.acceptedMethods.end() ? *builtin : MethodRule{*m, LevelOfAssurance::None});
      }
    }
    if (out.empty()) return Error::invalidInput(where(key) + ": no method named");
    rule.acceptedMethods = std::move(out);
    return ok();
  };
  ERDS_RETURN_IF_ERROR(methods("identity.submit_methods", p.submit));
  ERDS_RETURN_IF_ERROR(methods("identity.handover_methods", p.handover));
  return p;
}

GateDecision IdentityGate::decide(const GateRequest& request, TimePoint now) const {
  const ActionPolicy& rule = policy_.forAction(request.action);
  GateDecision d;
  d.requiredLevel = rule.minLevel;
  if (request.action == GateAction::Handover) d.requiredLevel = stricter(rule.minLevel, request.messageRequiredLevel);

  bool anyUsable = false;
  bool methodMatched = false;
  const Identification* best = nullptr;
  for (const Identification& id : request.identifications) {
    if (!usable(id, now)) continue;
    anyUsable = true;
    bool methodOk = rule.acceptedMethods.empty();
    for (const MethodRule& m : rule.acceptedMethods) {
      if (m.method == id.method && atLeast(id.level, m.minLevel)) methodOk = true;
    }
    if (!methodOk) continue;
    methodMatched = true;
    if (atLeast(id.level, d.requiredLevel) &&
        (best == nullptr || static_cast<int>(id.level) > static_cast<int>(best->level))) {
      best = &id;
    }
  }

  if (best == nullptr) {
    // A requirement of "none" with no method restriction is met without any identification.
    if (rule.acceptedMethods.empty() && d.requiredLevel == LevelOfAssurance::None) {
      // fall through to the authentication check
    } else if (!anyUsable) {
      d.code = "identification_required";
      d.advice = rule.acceptedMethods.empty() ? levelAdvice(d.requiredLevel) : rule.methodAdvice;
      return d;
    } else if (!methodMatched) {
      d.code = "identification_method_not_accepted";
      d.advice = rule.methodAdvice;
      return d;
    } else {
      d.code = "identification_level_too_low";
      d.advice = levelAdvice(d.requiredLevel);
      return d;
    }
  }

  if (rule.requireStrongAuthentication && !request.authentication.strong()) {
    d.code = "strong_authentication_required";
    d.advice = kStrongAuthAdvice;
    return d;
  }
  d.allowed = true;
  if (best != nullptr) d.usedIdentification = *best;
  return d;
}

}  // namespace erds::identity
