// The per-recipient lifecycle of a message as a table: EN 319 522-1 events, delivery states and the
// transitions allowed between them (per consignment mode). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace erds::core {

// EN 319 522-1 events (Table 1) that the core stores. Names are the standard's ("SubmissionAcceptance").
// Kept here rather than taken from erds::evidence so that the core depends on that component only
// through its EvidenceIssuer port; eventName() equals erds::evidence::eventName().
enum class Event {
  SubmissionAcceptance,
  SubmissionRejection,
  RelayAcceptance,
  RelayRejection,
  RelayFailure,
  NotificationForAcceptance,
  NotificationForAcceptanceFailure,
  ConsignmentAcceptance,
  ConsignmentRejection,
  AcceptanceRejectionExpiry,
  ContentConsignment,
  ContentConsignmentFailure,
  ConsignmentNotification,
  ConsignmentNotificationFailure,
  ContentHandover,
  ContentHandoverFailure,
  RelayToNonERDS,
  RelayToNonERDSFailure,
  ReceivedFromNonERDS,
};

std::string_view eventName(Event e);
std::optional<Event> eventFromName(std::string_view name);
// The documented default EN 319 522-2 reason code of each event ("RA01" for SubmissionAcceptance,
// "RA05" for SubmissionRejection, ...), as erds::evidence::defaultReason().
std::string_view defaultReasonCode(Event e);

enum class ConsignmentMode { Basic, Consent };
std::string_view consignmentModeName(ConsignmentMode m);  // "basic" | "consent"
std::optional<ConsignmentMode> consignmentModeFromName(std::string_view s);

// The state of one recipient's delivery.
enum class DeliveryState {
  Submitted,           // SubmissionAcceptance stored; nothing done for this recipient yet
  AwaitingAcceptance,  // consent: notified (or notification failed); waiting for accept/reject
  Accepted,            // consent: ConsignmentAcceptance
  Consigned,           // ContentConsignment: content available to the recipient
  Notified,            // basic: ConsignmentNotification sent
  NotificationFailed,  // basic: ConsignmentNotificationFailure; content stays available
  HandedOver,          // ContentHandover (terminal)
  Rejected,            // consent: ConsignmentRejection (terminal)
  Expired,             // consent: AcceptanceRejectionExpiry (terminal)
  Failed,              // ContentConsignmentFailure / ContentHandoverFailure / RelayToNonERDSFailure (terminal)
  Relayed,             // RelayToNonERDS: handed to an ordinary (non-ERDS) mail system (terminal)
};

std::string_view deliveryStateName(DeliveryState s);  // "submitted", "awaiting_acceptance", ...
std::optional<DeliveryState> deliveryStateFromName(std::string_view s);
bool isTerminal(DeliveryState s);

// Job kinds the lifecycle schedules (payload {"message_id": "...", "recipient_index": n}; the expiry
// job is per message and has no recipient_index). Workers in erdsd consume them.
inline constexpr std::string_view kJobNotifyForAcceptance = "delivery.notify_for_acceptance";
inline constexpr std::string_view kJobConsign = "delivery.consign";
inline constexpr std::string_view kJobNotifyConsignment = "delivery.notify_consignment";
inline constexpr std::string_view kJobExpire = "delivery.expire";

// Deliveries to recipients outside ERDS (RecipientSpec::external) get no consign/notify job; a
// gateway (erds-smtpd) relays them and records RelayToNonERDS / RelayToNonERDSFailure from
// Submitted.

// Modes a transition applies to.
enum class ModeFilter { Both, BasicOnly, ConsentOnly };

// One row of the transition table.
struct Transition {
  DeliveryState from;
  Event event;
  DeliveryState to;
  ModeFilter modes;
  // The worker job the transition schedules for the same recipient, to run at once ("" = none).
  std::string_view nextJob;
};

// The whole table, for documentation and tests.
std::span<const Transition> transitionTable();

// The transition for (mode, from, event), or nullopt if the lifecycle forbids it.
std::optional<Transition> findTransition(ConsignmentMode mode, DeliveryState from, Event event);

}  // namespace erds::core
