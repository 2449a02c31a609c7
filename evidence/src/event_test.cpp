#include "erds/evidence/event.h"

#include <gtest/gtest.h>

#include <set>

namespace erds::evidence {
namespace {

TEST(Event, NineteenEventsWithUniqueNamesCodesAndUris) {
  std::set<std::string> names, codes, uris;
  for (Event e : kAllEvents) {
    names.emplace(eventName(e));
    codes.emplace(eventCode(e));
    uris.insert(eventUri(e));
    EXPECT_EQ(eventFromName(eventName(e)), e);
    EXPECT_EQ(eventFromUri(eventUri(e)), e);
    EXPECT_EQ(eventUri(e), "http://uri.etsi.org/19522/Event/" + std::string(eventName(e)));
  }
  EXPECT_EQ(names.size(), 19u);
  EXPECT_EQ(codes.size(), 19u);
  EXPECT_EQ(uris.size(), 19u);
  EXPECT_EQ(eventCode(Event::SubmissionAcceptance), "A.1");
  EXPECT_EQ(eventCode(Event::ReceivedFromNonERDS), "F.3");
  EXPECT_EQ(eventFromUri("http://uri.etsi.org/19522/Event/Nope"), std::nullopt);
  EXPECT_EQ(eventFromUri("SubmissionAcceptance"), std::nullopt);
}

TEST(Event, NegativeEventsAreTheTenFailuresRejectionsAndExpiry) {
  int negative = 0;
  for (Event e : kAllEvents)
    negative += isNegativeEvent(e) ? 1 : 0;
  EXPECT_EQ(negative, 10);
  EXPECT_TRUE(isNegativeEvent(Event::AcceptanceRejectionExpiry));
  EXPECT_FALSE(isNegativeEvent(Event::ReceivedFromNonERDS));
}

TEST(Reason, CodesAndUrisRoundTrip) {
  std::set<std::string> uris;
  for (Reason r : kAllReasons) {
    EXPECT_EQ(reasonFromCode(reasonCode(r)), r);
    EXPECT_EQ(reasonFromUri(reasonUri(r)), r);
    EXPECT_FALSE(reasonDescription(r).empty());
    uris.insert(reasonUri(r));
  }
  EXPECT_EQ(uris.size(), kAllReasons.size());
  EXPECT_EQ(reasonUri(Reason::RA01), "http://uri.etsi.org/19522/EventReason/MessageAccepted");
  // The standard's own spelling.
  EXPECT_EQ(reasonName(Reason::RC03), "NotificationForAcceptenceError");
  EXPECT_EQ(reasonFromUri(
                "http://uri.etsi.org/19522/EventReason/MessageNotAcceptedForUnregisteredRecipient"),
            Reason::RB21);
}

TEST(Reason, EachEventHasADefaultReasonThatAppliesToIt) {
  for (Event e : kAllEvents) {
    const Reason r = defaultReason(e);
    EXPECT_NE(r, Reason::Other) << eventName(e);
    EXPECT_TRUE(reasonAppliesTo(r, e)) << eventName(e) << " " << reasonCode(r);
  }
}

TEST(Reason, ReasonsBelongToTheirEvents) {
  EXPECT_TRUE(reasonAppliesTo(Reason::RA01, Event::SubmissionAcceptance));
  EXPECT_FALSE(reasonAppliesTo(Reason::RA01, Event::SubmissionRejection));
  EXPECT_TRUE(reasonAppliesTo(Reason::RB21, Event::RelayRejection));
  EXPECT_TRUE(reasonAppliesTo(Reason::RB21, Event::RelayFailure));
  EXPECT_FALSE(reasonAppliesTo(Reason::RB01, Event::RelayFailure));
  EXPECT_FALSE(reasonAppliesTo(Reason::RD01, Event::ContentHandover));
  EXPECT_TRUE(reasonAppliesTo(Reason::RF51, Event::RelayToNonERDSFailure));
  for (Event e : kAllEvents)
    EXPECT_TRUE(reasonAppliesTo(Reason::Other, e));
  // Every reason except Other belongs to at least one event, and only events of its letter.
  for (Reason r : kAllReasons) {
    if (r == Reason::Other) continue;
    int n = 0;
    for (Event e : kAllEvents) {
      if (!reasonAppliesTo(r, e)) continue;
      ++n;
      EXPECT_EQ(reasonCode(r)[1], eventGroup(e)) << reasonCode(r) << " " << eventName(e);
    }
    EXPECT_GE(n, 1) << reasonCode(r);
  }
}

}  // namespace
}  // namespace erds::evidence
