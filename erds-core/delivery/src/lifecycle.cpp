// The lifecycle table (see lifecycle.h and README.md for the diagram).
#include "erds/core/lifecycle.h"

#include <array>
#include <utility>

namespace erds::core {
namespace {

constexpr std::array<std::pair<Event, std::string_view>, 19> kEventNames = {{
    {Event::SubmissionAcceptance, "SubmissionAcceptance"},
    {Event::SubmissionRejection, "SubmissionRejection"},
    {Event::RelayAcceptance, "RelayAcceptance"},
    {Event::RelayRejection, "RelayRejection"},
    {Event::RelayFailure, "RelayFailure"},
    {Event::NotificationForAcceptance, "NotificationForAcceptance"},
    {Event::NotificationForAcceptanceFailure, "NotificationForAcceptanceFailure"},
    {Event::ConsignmentAcceptance, "ConsignmentAcceptance"},
    {Event::ConsignmentRejection, "ConsignmentRejection"},
    {Event::AcceptanceRejectionExpiry, "AcceptanceRejectionExpiry"},
    {Event::ContentConsignment, "ContentConsignment"},
    {Event::ContentConsignmentFailure, "ContentConsignmentFailure"},
    {Event::ConsignmentNotification, "ConsignmentNotification"},
    {Event::ConsignmentNotificationFailure, "ConsignmentNotificationFailure"},
    {Event::ContentHandover, "ContentHandover"},
    {Event::ContentHandoverFailure, "ContentHandoverFailure"},
    {Event::RelayToNonERDS, "RelayToNonERDS"},
    {Event::RelayToNonERDSFailure, "RelayToNonERDSFailure"},
    {Event::ReceivedFromNonERDS, "ReceivedFromNonERDS"},
}};

constexpr std::array<std::pair<DeliveryState, std::string_view>, 11> kStateNames = {{
    {DeliveryState::Submitted, "submitted"},
    {DeliveryState::AwaitingAcceptance, "awaiting_acceptance"},
    {DeliveryState::Accepted, "accepted"},
    {DeliveryState::Consigned, "consigned"},
    {DeliveryState::Notified, "notified"},
    {DeliveryState::NotificationFailed, "notification_failed"},
    {DeliveryState::HandedOver, "handed_over"},
    {DeliveryState::Rejected, "rejected"},
    {DeliveryState::Expired, "expired"},
    {DeliveryState::Failed, "failed"},
    {DeliveryState::Relayed, "relayed"},
}};

using S = DeliveryState;
using E = Event;
using M = ModeFilter;

// The recipient may act in the portal before a notification job has run, hence the transitions
// straight from Submitted. Notification failures do not end a delivery: the recipient can still
// find the message in the portal until it expires.
constexpr std::array<Transition, 22> kTable = {{
    // consent mode
    {S::Submitted, E::NotificationForAcceptance, S::AwaitingAcceptance, M::ConsentOnly, ""},
    {S::Submitted, E::NotificationForAcceptanceFailure, S::AwaitingAcceptance, M::ConsentOnly, ""},
    {S::Submitted, E::ConsignmentAcceptance, S::Accepted, M::ConsentOnly, kJobConsign},
    {S::Submitted, E::ConsignmentRejection, S::Rejected, M::ConsentOnly, ""},
    {S::Submitted, E::AcceptanceRejectionExpiry, S::Expired, M::ConsentOnly, ""},
    {S::AwaitingAcceptance, E::ConsignmentAcceptance, S::Accepted, M::ConsentOnly, kJobConsign},
    {S::AwaitingAcceptance, E::ConsignmentRejection, S::Rejected, M::ConsentOnly, ""},
    {S::AwaitingAcceptance, E::AcceptanceRejectionExpiry, S::Expired, M::ConsentOnly, ""},
    {S::Accepted, E::ContentConsignment, S::Consigned, M::ConsentOnly, ""},
    {S::Accepted, E::ContentConsignmentFailure, S::Failed, M::ConsentOnly, ""},
    // basic mode
    {S::Submitted, E::ContentConsignment, S::Consigned, M::BasicOnly, kJobNotifyConsignment},
    {S::Submitted, E::ContentConsignmentFailure, S::Failed, M::BasicOnly, ""},
    {S::Consigned, E::ConsignmentNotification, S::Notified, M::BasicOnly, ""},
    {S::Consigned, E::ConsignmentNotificationFailure, S::NotificationFailed, M::BasicOnly, ""},
    // handover through the identity gate, or failure at expiry
    {S::Consigned, E::ContentHandover, S::HandedOver, M::Both, ""},
    {S::Notified, E::ContentHandover, S::HandedOver, M::BasicOnly, ""},
    {S::NotificationFailed, E::ContentHandover, S::HandedOver, M::BasicOnly, ""},
    {S::Consigned, E::ContentHandoverFailure, S::Failed, M::Both, ""},
    {S::Notified, E::ContentHandoverFailure, S::Failed, M::BasicOnly, ""},
    {S::NotificationFailed, E::ContentHandoverFailure, S::Failed, M::BasicOnly, ""},
    // recipients outside ERDS (ordinary mail domains): relayed by a gateway, no consignment here
    {S::Submitted, E::RelayToNonERDS, S::Relayed, M::Both, ""},
    {S::Submitted, E::RelayToNonERDSFailure, S::Failed, M::Both, ""},
}};

bool modeMatches(ModeFilter f, ConsignmentMode m) {
  switch (f) {
    case ModeFilter::Both: return true;
    case ModeFilter::BasicOnly: return m == ConsignmentMode::Basic;
    case ModeFilter::ConsentOnly: return m == ConsignmentMode::Consent;
  }
  return false;
}

}  // namespace

std::string_view eventName(Event e) {
  for (const auto& [ev, name] : kEventNames) {
    if (ev == e) return name;
  }
  return "";
}

std::optional<Event> eventFromName(std::string_view name) {
  for (const auto& [ev, n] : kEventNames) {
    if (n == name) return ev;
  }
  return std::nullopt;
}

std::string_view defaultReasonCode(Event e) {
  switch (e) {
    case E::SubmissionAcceptance: return "RA01";
    case E::SubmissionRejection: return "RA05";
    case E::RelayAcceptance: return "RB01";
    case E::RelayRejection: return "RB02";
    case E::RelayFailure: return "RB09";
    case E::NotificationForAcceptance: return "RC01";
    case E::NotificationForAcceptanceFailure: return "RC03";
    case E::ConsignmentAcceptance: return "RC07";
    case E::ConsignmentRejection: return "RC08";
    case E::AcceptanceRejectionExpiry: return "RC09";
    case E::ContentConsignment: return "RD01";
    case E::ContentConsignmentFailure: return "RD05";
    case E::ConsignmentNotification: return "RD01";
    case E::ConsignmentNotificationFailure: return "RD05";
    case E::ContentHandover: return "RE01";
    case E::ContentHandoverFailure: return "RE04";
    case E::RelayToNonERDS: return "RF01";
    case E::RelayToNonERDSFailure: return "RF02";
    case E::ReceivedFromNonERDS: return "RF04";
  }
  return "";
}

std::string_view consignmentModeName(ConsignmentMode m) { return m == ConsignmentMode::Basic ? "basic" : "consent"; }

std::optional<ConsignmentMode> consignmentModeFromName(std::string_view s) {
  if (s == "basic") return ConsignmentMode::Basic;
  if (s == "consent") return ConsignmentMode::Consent;
  return std::nullopt;
}

std::string_view deliveryStateName(DeliveryState s) {
  for (const auto& [st, name] : kStateNames) {
    if (st == s) return name;
  }
  return "";
}

std::optional<DeliveryState> deliveryStateFromName(std::string_view s) {
  for (const auto& [st, name] : kStateNames) {
    if (name == s) return st;
  }
  return std::nullopt;
}

bool isTerminal(DeliveryState s) {
  return s == S::HandedOver || s == S::Rejected || s == S::Expired || s == S::Failed || s == S::Relayed;
}

std::span<const Transition> transitionTable() { return kTable; }

std::optional<Transition> findTransition(ConsignmentMode mode, DeliveryState from, Event event) {
  for (const auto& t : kTable) {
    if (t.from == from && t.event == event && modeMatches(t.modes, mode)) return t;
  }
  return std::nullopt;
}

}  // namespace erds::core
