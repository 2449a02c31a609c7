// The 19 ERDS events of EN 319 522-1 (Table 1) and the reason codes of EN 319 522-2 clause 8.3.3
// (plus the REM baseline and AgID additions), with their URIs, codes and which events they apply
// to.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace erds::evidence {

// EN 319 522-1 events, in the order of Table 1 (A.1 ... F.3).
enum class Event {
  SubmissionAcceptance,              // A.1
  SubmissionRejection,               // A.2
  RelayAcceptance,                   // B.1
  RelayRejection,                    // B.2
  RelayFailure,                      // B.3
  NotificationForAcceptance,         // C.1
  NotificationForAcceptanceFailure,  // C.2
  ConsignmentAcceptance,             // C.3
  ConsignmentRejection,              // C.4
  AcceptanceRejectionExpiry,         // C.5
  ContentConsignment,                // D.1
  ContentConsignmentFailure,         // D.2
  ConsignmentNotification,           // D.3
  ConsignmentNotificationFailure,    // D.4
  ContentHandover,                   // E.1
  ContentHandoverFailure,            // E.2
  RelayToNonERDS,                    // F.1
  RelayToNonERDSFailure,             // F.2
  ReceivedFromNonERDS,               // F.3
};

inline constexpr std::array<Event, 19> kAllEvents = {
    Event::SubmissionAcceptance,
    Event::SubmissionRejection,
    Event::RelayAcceptance,
    Event::RelayRejection,
    Event::RelayFailure,
    Event::NotificationForAcceptance,
    Event::NotificationForAcceptanceFailure,
    Event::ConsignmentAcceptance,
    Event::ConsignmentRejection,
    Event::AcceptanceRejectionExpiry,
    Event::ContentConsignment,
    Event::ContentConsignmentFailure,
    Event::ConsignmentNotification,
    Event::ConsignmentNotificationFailure,
    Event::ContentHandover,
    Event::ContentHandoverFailure,
    Event::RelayToNonERDS,
    Event::RelayToNonERDSFailure,
    Event::ReceivedFromNonERDS,
};

inline constexpr std::string_view kEventUriPrefix = "http://uri.etsi.org/19522/Event/";
inline constexpr std::string_view kReasonUriPrefix = "http://uri.etsi.org/19522/EventReason/";

// "SubmissionAcceptance" (the name used in URIs, REM headers and file names).
std::string_view eventName(Event e);
// "A.1" ... "F.3".
std::string_view eventCode(Event e);
// 'A' ... 'F'.
char eventGroup(Event e);
// "http://uri.etsi.org/19522/Event/<Name>".
std::string eventUri(Event e);
// True for the events that report a failure, rejection or expiry; their evidence must carry a
// reason (EN 319 522-2 clause 8.2.4).
bool isNegativeEvent(Event e);
// Exact, case-sensitive lookups. std::nullopt when unknown.
std::optional<Event> eventFromName(std::string_view name);
std::optional<Event> eventFromUri(std::string_view uri);

// Reason codes. RA51/RF51 are the AgID national additions seen in the AgID samples; RB21, RB22 and
// RD21 are the REM baseline (EN 319 532-4) additions.
enum class Reason {
  RA01,
  RA02,
  RA03,
  RA04,
  RA05,
  RA51,
  RB01,
  RB02,
  RB03,
  RB04,
  RB05,
  RB06,
  RB07,
  RB08,
  RB09,
  RB10,
  RB21,
  RB22,
  RC01,
  RC02,
  RC03,
  RC04,
  RC05,
  RC06,
  RC07,
  RC08,
  RC09,
  RD01,
  RD02,
  RD03,
  RD04,
  RD05,
  RD06,
  RD21,
  RE01,
  RE02,
  RE03,
  RE04,
  RF01,
  RF02,
  RF03,
  RF04,
  RF51,
  Other,
};

inline constexpr std::array<Reason, 44> kAllReasons = {
    Reason::RA01, Reason::RA02,  Reason::RA03, Reason::RA04, Reason::RA05, Reason::RA51,
    Reason::RB01, Reason::RB02,  Reason::RB03, Reason::RB04, Reason::RB05, Reason::RB06,
    Reason::RB07, Reason::RB08,  Reason::RB09, Reason::RB10, Reason::RB21, Reason::RB22,
    Reason::RC01, Reason::RC02,  Reason::RC03, Reason::RC04, Reason::RC05, Reason::RC06,
    Reason::RC07, Reason::RC08,  Reason::RC09, Reason::RD01, Reason::RD02, Reason::RD03,
    Reason::RD04, Reason::RD05,  Reason::RD06, Reason::RD21, Reason::RE01, Reason::RE02,
    Reason::RE03, Reason::RE04,  Reason::RF01, Reason::RF02, Reason::RF03, Reason::RF04,
    Reason::RF51, Reason::Other,
};

// "RA01" ... ; "Other" for Reason::Other.
std::string_view reasonCode(Reason r);
// The URI tail of EN 319 522-3 Table 3, e.g. "MessageAccepted" (note the standard's own spelling
// "NotificationForAcceptenceError" for RC03).
std::string_view reasonName(Reason r);
// "http://uri.etsi.org/19522/EventReason/<Name>".
std::string reasonUri(Reason r);
// A short UK English description (EN 319 522-2 Tables 7-12), used as the second Details line.
std::string_view reasonDescription(Reason r);
// Whether the reason may be given for the event. Other applies to every event.
bool reasonAppliesTo(Reason r, Event e);
// The documented default reason for each event (used when the caller gives none):
// A.1 RA01, A.2 RA05, B.1 RB01, B.2 RB02, B.3 RB09, C.1 RC01, C.2 RC03, C.3 RC07, C.4 RC08,
// C.5 RC09, D.1 RD01, D.2 RD05, D.3 RD01, D.4 RD05, E.1 RE01, E.2 RE04, F.1 RF01, F.2 RF02, F.3
// RF04.
Reason defaultReason(Event e);
// Lookups; std::nullopt when unknown.
std::optional<Reason> reasonFromCode(std::string_view code);  // "RA01"
std::optional<Reason> reasonFromUri(std::string_view uri);

}  // namespace erds::evidence
