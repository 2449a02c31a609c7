#include "erds/core/lifecycle.h"

#include <gtest/gtest.h>

#include <set>

namespace erds::core {
namespace {

TEST(LifecycleTest, EventNamesRoundTrip) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(Event::ReceivedFromNonERDS); ++i) {
    const auto e = static_cast<Event>(i);
    const auto n = eventName(e);
    ASSERT_FALSE(n.empty());
    EXPECT_EQ(eventFromName(n), e);
    EXPECT_EQ(defaultReasonCode(e).size(), 4u);
    names.insert(n);
  }
  EXPECT_EQ(names.size(), 19u);
  EXPECT_EQ(eventName(Event::SubmissionAcceptance), "SubmissionAcceptance");
  EXPECT_EQ(defaultReasonCode(Event::SubmissionRejection), "RA05");
  EXPECT_FALSE(eventFromName("submissionacceptance").has_value());
}

TEST(LifecycleTest, StateNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(DeliveryState::Relayed); ++i) {
    const auto s = static_cast<DeliveryState>(i);
    EXPECT_EQ(deliveryStateFromName(deliveryStateName(s)), s);
  }
  EXPECT_EQ(deliveryStateName(DeliveryState::Relayed), "relayed");
  EXPECT_TRUE(isTerminal(DeliveryState::Relayed));
  EXPECT_EQ(consignmentModeFromName("consent"), ConsignmentMode::Consent);
  EXPECT_FALSE(consignmentModeFromName("Basic").has_value());
}

struct Case {
  ConsignmentMode mode;
  DeliveryState from;
  Event event;
  std::optional<DeliveryState> to;
};

TEST(LifecycleTest, TransitionCases) {
  using S = DeliveryState;
  using E = Event;
  const ConsignmentMode B = ConsignmentMode::Basic, C = ConsignmentMode::Consent;
  const Case cases[] = {
      {B, S::Submitted, E::ContentConsignment, S::Consigned},
      {C, S::Submitted, E::ContentConsignment, std::nullopt},  // consent needs acceptance first
      {C, S::Submitted, E::NotificationForAcceptance, S::AwaitingAcceptance},
      {B, S::Submitted, E::NotificationForAcceptance, std::nullopt},
      {C, S::AwaitingAcceptance, E::ConsignmentAcceptance, S::Accepted},
      {C, S::AwaitingAcceptance, E::ConsignmentRejection, S::Rejected},
      {C, S::AwaitingAcceptance, E::AcceptanceRejectionExpiry, S::Expired},
      {C, S::Accepted, E::ContentConsignment, S::Consigned},
      {C, S::Consigned, E::ConsignmentNotification, std::nullopt},
      {B, S::Consigned, E::ConsignmentNotification, S::Notified},
      {B, S::Consigned, E::ConsignmentNotificationFailure, S::NotificationFailed},
      {B, S::Notified, E::ContentHandover, S::HandedOver},
      {C, S::Consigned, E::ContentHandover, S::HandedOver},
      {B, S::Submitted, E::ContentHandover, std::nullopt},  // never before consignment
      {B, S::NotificationFailed, E::ContentHandoverFailure, S::Failed},
      {C, S::Rejected, E::ConsignmentAcceptance, std::nullopt},
      {B, S::HandedOver, E::ContentHandover, std::nullopt},
      {B, S::Submitted, E::SubmissionAcceptance, std::nullopt},
      // relay to ordinary mail domains, in both modes, only before anything else happened
      {B, S::Submitted, E::RelayToNonERDS, S::Relayed},
      {C, S::Submitted, E::RelayToNonERDS, S::Relayed},
      {B, S::Submitted, E::RelayToNonERDSFailure, S::Failed},
      {C, S::Submitted, E::RelayToNonERDSFailure, S::Failed},
      {B, S::Consigned, E::RelayToNonERDS, std::nullopt},
      {B, S::Relayed, E::RelayToNonERDSFailure, std::nullopt},
      {B, S::Relayed, E::ContentConsignment, std::nullopt},
      {B, S::Submitted, E::ReceivedFromNonERDS, std::nullopt},  // message level, not a transition
  };
  for (const auto& c : cases) {
    auto t = findTransition(c.mode, c.from, c.event);
    SCOPED_TRACE(std::string(deliveryStateName(c.from)) + " + " + std::string(eventName(c.event)));
    ASSERT_EQ(t.has_value(), c.to.has_value());
    if (t) {
      EXPECT_EQ(t->to, *c.to);
    }
  }
  EXPECT_EQ(findTransition(C, S::AwaitingAcceptance, E::ConsignmentAcceptance)->nextJob, kJobConsign);
  EXPECT_EQ(findTransition(B, S::Submitted, E::ContentConsignment)->nextJob, kJobNotifyConsignment);
}

TEST(LifecycleTest, TerminalStatesHaveNoWayOutAndTableIsUnambiguous) {
  std::set<std::tuple<int, int, int>> keys;
  for (const auto& t : transitionTable()) {
    EXPECT_FALSE(isTerminal(t.from)) << deliveryStateName(t.from);
    EXPECT_NE(t.from, t.to);
    for (auto m : {ConsignmentMode::Basic, ConsignmentMode::Consent}) {
      if (findTransition(m, t.from, t.event) && findTransition(m, t.from, t.event)->to == t.to) {
        keys.insert({static_cast<int>(m), static_cast<int>(t.from), static_cast<int>(t.event)});
      }
    }
  }
  // Every reachable (mode, state, event) resolves to exactly the row that declared it.
  EXPECT_GE(keys.size(), transitionTable().size());
}

}  // namespace
}  // namespace erds::core
