// Tables for events (EN 319 522-1 Table 1, EN 319 522-3 Table 2) and reasons (EN 319 522-2
// clause 8.3.3, EN 319 522-3 Table 3, EN 319 532-4 REM baseline, AgID GdL REM samples).
#include "erds/evidence/event.h"

#include <cstdint>

namespace erds::evidence {
namespace {

struct EventInfo {
  Event event;
  std::string_view name;
  std::string_view code;
  bool negative;
  Reason defaultReason;
};

constexpr EventInfo kEvents[] = {
    {Event::SubmissionAcceptance, "SubmissionAcceptance", "A.1", false, Reason::RA01},
    {Event::SubmissionRejection, "SubmissionRejection", "A.2", true, Reason::RA05},
    {Event::RelayAcceptance, "RelayAcceptance", "B.1", false, Reason::RB01},
    {Event::RelayRejection, "RelayRejection", "B.2", true, Reason::RB02},
    {Event::RelayFailure, "RelayFailure", "B.3", true, Reason::RB09},
    {Event::NotificationForAcceptance, "NotificationForAcceptance", "C.1", false, Reason::RC01},
    {Event::NotificationForAcceptanceFailure, "NotificationForAcceptanceFailure", "C.2", true,
     Reason::RC03},
    {Event::ConsignmentAcceptance, "ConsignmentAcceptance", "C.3", false, Reason::RC07},
    {Event::ConsignmentRejection, "ConsignmentRejection", "C.4", true, Reason::RC08},
    {Event::AcceptanceRejectionExpiry, "AcceptanceRejectionExpiry", "C.5", true, Reason::RC09},
    {Event::ContentConsignment, "ContentConsignment", "D.1", false, Reason::RD01},
    {Event::ContentConsignmentFailure, "ContentConsignmentFailure", "D.2", true, Reason::RD05},
    {Event::ConsignmentNotification, "ConsignmentNotification", "D.3", false, Reason::RD01},
    {Event::ConsignmentNotificationFailure, "ConsignmentNotificationFailure", "D.4", true,
     Reason::RD05},
    {Event::ContentHandover, "ContentHandover", "E.1", false, Reason::RE01},
    {Event::ContentHandoverFailure, "ContentHandoverFailure", "E.2", true, Reason::RE04},
    {Event::RelayToNonERDS, "RelayToNonERDS", "F.1", false, Reason::RF01},
    {Event::RelayToNonERDSFailure, "RelayToNonERDSFailure", "F.2", true, Reason::RF02},
    {Event::ReceivedFromNonERDS, "ReceivedFromNonERDS", "F.3", false, Reason::RF04},
};
static_assert(std::size(kEvents) == kAllEvents.size());

using E = Event;
struct ReasonInfo {
  Reason reason;
  std::string_view code;
  std::string_view name;
  std::string_view description;
  std::uint32_t events;  // bit per Event; 0 = every event (Other)
};

template <typename... Es>
constexpr std::uint32_t only(Es... es) {
  return ((std::uint32_t{1} << static_cast<int>(es)) | ...);
}

constexpr ReasonInfo kReasons[] = {
    {Reason::RA01, "RA01", "MessageAccepted", "Message accepted", only(E::SubmissionAcceptance)},
    {Reason::RA02, "RA02", "InvalidMessageFormat", "Invalid message format",
     only(E::SubmissionRejection)},
    {Reason::RA03, "RA03", "MalwareFound", "Malware found in ERD original message",
     only(E::SubmissionRejection)},
    {Reason::RA04, "RA04", "SenderSigningCertExpiredOrRevoked",
     "Sender's signing certificate expired or revoked", only(E::SubmissionRejection)},
    {Reason::RA05, "RA05", "S_ERDS_PolicyViolation", "Sender's ERDS provider's policy violation",
     only(E::SubmissionRejection)},
    {Reason::RA51, "RA51", "S_ERDS_Malfunction", "Sender's ERDS provider's malfunction",
     only(E::SubmissionRejection)},
    {Reason::RB01, "RB01", "S_ERDS_MessageSuccessfullyRelayed",
     "ERD message successfully relayed to the Recipient's ERDSP", only(E::RelayAcceptance)},
    {Reason::RB02, "RB02", "R_ERDS_MessageRejected",
     "ERD message successfully relayed to, but rejected by, the Recipient's ERDSP for: Invalid "
     "message format",
     only(E::RelayRejection, E::RelayFailure)},
    {Reason::RB03, "RB03", "R_ERDS_MessageRejectedForMalware",
     "ERD message successfully relayed to, but rejected by, the Recipient's ERDSP for: Malware "
     "found in ERD message",
     only(E::RelayRejection, E::RelayFailure)},
    {Reason::RB04, "RB04", "R_ERDS_MessageRejectedForInvalidSignature",
     "ERD message successfully relayed to, but rejected by, the Recipient's ERDSP for: Invalid "
     "ERDS signature "
     "format or signature policy violation",
     only(E::RelayRejection, E::RelayFailure)},
    {Reason::RB05, "RB05", "R_ERDS_MessageRejectedForInvalidCertificate",
     "ERD message successfully relayed to, but rejected by, the Recipient's ERDSP for: ERDS "
     "signing certificate "
     "expired or revoked",
     only(E::RelayRejection, E::RelayFailure)},
    {Reason::RB06, "RB06", "R_ERDS_PolicyViolation",
     "ERD message successfully relayed to, but rejected by, the Recipient's ERDSP for: Recipient's "
     "ERDSP policy "
     "violation",
     only(E::RelayRejection, E::RelayFailure)},
    {Reason::RB07, "RB07", "R_ERDS_Malfunction",
     "ERD message not relayed to the Recipient's ERDSP for: Recipient's ERDSP malfunction",
     only(E::RelayFailure)},
    {Reason::RB08, "RB08", "R_ERDS_NotIdentified",
     "ERD message not relayed to the Recipient's ERDSP for: Recipient's ERDSP not identified in "
     "the Internet",
     only(E::RelayFailure)},
    {Reason::RB09, "RB09", "R_ERDS_Unreachable",
     "ERD message not relayed to the Recipient's ERDSP for: Recipient's ERDSP unreachable",
     only(E::RelayFailure)},
    {Reason::RB10, "RB10", "UnknownRecipient",
     "ERD message not relayed to the Recipient's ERDSP for: Unknown Recipient",
     only(E::RelayFailure)},
    {Reason::RB21, "RB21", "MessageNotAcceptedForUnregisteredRecipient",
     "ERD message successfully relayed to, but rejected by, the Recipient's ERDSP for: "
     "Unregistered recipient to "
     "Recipient's ERDSP",
     only(E::RelayRejection, E::RelayFailure)},
    {Reason::RB22, "RB22", "S_ERDSP_ReceivedNoRelayAcceptanceInfoFromR_ERDSP",
     "The sender's ERDSP received within a given period no relay acceptance information from the "
     "recipient's ERDSP",
     only(E::RelayFailure)},
    {Reason::RC01, "RC01", "NotificationForAcceptanceSent",
     "Notification for acceptance sent to recipient", only(E::NotificationForAcceptance)},
    {Reason::RC02, "RC02", "SubsequentNotificationForAcceptanceSent",
     "Subsequent notification for acceptance sent to recipient after no response to previous "
     "notifications",
     only(E::NotificationForAcceptance)},
    {Reason::RC03, "RC03", "NotificationForAcceptenceError",
     "Error in delivering notification for acceptance to recipient",
     only(E::NotificationForAcceptanceFailure)},
    {Reason::RC04, "RC04", "SubsequentNotificationForAcceptanceError",
     "Error in delivering subsequent notification for acceptance to recipient",
     only(E::NotificationForAcceptanceFailure)},
    {Reason::RC05, "RC05", "NotificationForAcceptanceMultipleError",
     "Error in delivering notification for acceptance to recipient after multiple attempts",
     only(E::NotificationForAcceptanceFailure)},
    {Reason::RC06, "RC06", "SubsequentNotificationForAcceptanceMultipleError",
     "Error in delivering subsequent notification for acceptance to recipient after multiple "
     "attempts",
     only(E::NotificationForAcceptanceFailure)},
    {Reason::RC07, "RC07", "MessageAcceptedByRecipient", "Message accepted by the recipient",
     only(E::ConsignmentAcceptance)},
    {Reason::RC08, "RC08", "MessageRejectedByRecipient",
     "Message explicitly rejected by the recipient", only(E::ConsignmentRejection)},
    {Reason::RC09, "RC09", "MessageNotAcceptedInTimeByRecipient",
     "Message not accepted by the recipient after a defined time period from first successful "
     "notification",
     only(E::AcceptanceRejectionExpiry)},
    {Reason::RD01, "RD01", "MessageConsignedToRecipient",
     "Message successfully consigned to the recipient",
     only(E::ContentConsignment, E::ConsignmentNotification)},
    {Reason::RD02, "RD02", "MessageConsignedToDelegate",
     "Message successfully consigned to a recipient's delegate",
     only(E::ContentConsignment, E::ConsignmentNotification)},
    {Reason::RD03, "RD03", "S_ERDSP_ReceivedNoDeliveryInfoFromR_ERDSP",
     "The sender's ERDSP received within a given period no information on consignment from the "
     "recipient's ERDSP",
     only(E::ContentConsignmentFailure, E::ConsignmentNotificationFailure)},
    {Reason::RD04, "RD04", "MessageNotConsignedForQuota",
     "Not consigned for exceeding recipient quota",
     only(E::ContentConsignmentFailure, E::ConsignmentNotificationFailure)},
    {Reason::RD05, "RD05", "MessageNotConsignedForMalfunction",
     "Not consigned for technical malfunction",
     only(E::ContentConsignmentFailure, E::ConsignmentNotificationFailure)},
    {Reason::RD06, "RD06", "MessageNotConsignedForUnallowedType",
     "Not consigned for message type not accepted by recipient",
     only(E::ContentConsignmentFailure, E::ConsignmentNotificationFailure)},
    {Reason::RD21, "RD21", "MessageNotConsignedForUnregisteredRecipient",
     "Not consigned for unregistered recipient",
     only(E::ContentConsignmentFailure, E::ConsignmentNotificationFailure)},
    {Reason::RE01, "RE01", "MessageHandedOver", "Message successfully handed over to the recipient",
     only(E::ContentHandover)},
    {Reason::RE02, "RE02", "MessageHandedOverToDelegate",
     "Message successfully handed over to a recipient's delegate", only(E::ContentHandover)},
    {Reason::RE03, "RE03", "MessageNotHandedOverForUnallowedType",
     "Not handed over for message type not accepted by recipient", only(E::ContentHandoverFailure)},
    {Reason::RE04, "RE04", "MessageHandoverTimeout",
     "Message handover failed after specific time period", only(E::ContentHandoverFailure)},
    {Reason::RF01, "RF01", "MessageRelayedToNonERDS", "Successful relay to non ERDS",
     only(E::RelayToNonERDS)},
    {Reason::RF02, "RF02", "ExternalSystemUnreachable", "External system unreachable",
     only(E::RelayToNonERDSFailure)},
    {Reason::RF03, "RF03", "MessageRejectedByExternalSystem", "External system rejected submission",
     only(E::RelayToNonERDSFailure)},
    {Reason::RF04, "RF04", "MessageReceivedFromNonERDS", "Received from non ERDS",
     only(E::ReceivedFromNonERDS)},
    {Reason::RF51, "RF51", "RelayToNonERDSNotAllowed", "Relay to non ERDS not allowed",
     only(E::RelayToNonERDSFailure)},
    {Reason::Other, "Other", "Other", "Other", 0},
};

const EventInfo& info(Event e) {
  return kEvents[static_cast<int>(e)];
}

const ReasonInfo& info(Reason r) {
  for (const auto& i : kReasons) {
    if (i.reason == r) return i;
  }
  return kReasons[std::size(kReasons) - 1];  // unreachable: the table covers the enum
}

}  // namespace

std::string_view eventName(Event e) {
  return info(e).name;
}
std::string_view eventCode(Event e) {
  return info(e).code;
}
char eventGroup(Event e) {
  return info(e).code[0];
}
std::string eventUri(Event e) {
  return std::string(kEventUriPrefix) + std::string(info(e).name);
}
bool isNegativeEvent(Event e) {
  return info(e).negative;
}

std::optional<Event> eventFromName(std::string_view name) {
  for (const auto& i : kEvents) {
    if (i.name == name) return i.event;
  }
  return std::nullopt;
}

std::optional<Event> eventFromUri(std::string_view uri) {
  if (!uri.starts_with(kEventUriPrefix)) return std::nullopt;
  return eventFromName(uri.substr(kEventUriPrefix.size()));
}

std::string_view reasonCode(Reason r) {
  return info(r).code;
}
std::string_view reasonName(Reason r) {
  return info(r).name;
}
std::string reasonUri(Reason r) {
  return std::string(kReasonUriPrefix) + std::string(info(r).name);
}
std::string_view reasonDescription(Reason r) {
  return info(r).description;
}

bool reasonAppliesTo(Reason r, Event e) {
  const auto& i = info(r);
  return i.events == 0 || (i.events & only(e)) != 0;
}

Reason defaultReason(Event e) {
  return info(e).defaultReason;
}

std::optional<Reason> reasonFromCode(std::string_view code) {
  for (const auto& i : kReasons) {
    if (i.code == code) return i.reason;
  }
  return std::nullopt;
}

std::optional<Reason> reasonFromUri(std::string_view uri) {
  if (!uri.starts_with(kReasonUriPrefix)) return std::nullopt;
  const auto name = uri.substr(kReasonUriPrefix.size());
  for (const auto& i : kReasons) {
    if (i.name == name) return i.reason;
  }
  return std::nullopt;
}

}  // namespace erds::evidence
