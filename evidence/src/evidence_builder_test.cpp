#include "erds/evidence/evidence_builder.h"

#include <gtest/gtest.h>

#include <functional>

#include "sample_evidence_for_test.h"

namespace erds::evidence {
namespace {

using testing::fixedTime;
using testing::fullBuilder;

Evidence full(Event e) {
  auto r = fullBuilder(e).build();
  EXPECT_TRUE(r.has_value()) << eventName(e) << ": " << (r ? "" : r.error().message);
  return r.has_value() ? *r : Evidence{};
}

struct Requirement {
  std::string component;                  // what the error must name
  std::function<bool(Event)> requiredOn;  // events where it is mandatory
  std::function<void(Evidence&)> remove;
};

bool always(Event) {
  return true;
}

const std::vector<Requirement>& requirements() {
  static const std::vector<Requirement> kTable = {
      {"G01 EvidenceIdentifier", always, [](Evidence& e) { e.evidenceIdentifier.clear(); }},
      {"G05 EventTime", always, [](Evidence& e) { e.eventTime = {}; }},
      {"R01 EvidenceIssuerPolicyID", always, [](Evidence& e) { e.policyIds.clear(); }},
      {"R02 EvidenceIssuerDetails", always, [](Evidence& e) { e.issuer.identity.clear(); }},
      {"I02 SenderDetails/Identifier", [](Event e) { return e != Event::ReceivedFromNonERDS; },
       [](Evidence& e) { e.sender.identifier.reset(); }},
      {"I06 RecipientDetails", always, [](Evidence& e) { e.recipients.clear(); }},
      {"M01 MessageIdentifier", always, [](Evidence& e) { e.messageIdentifier.reset(); }},
      {"M02 UserContentInfo", always, [](Evidence& e) { e.userContentInfo.reset(); }},
      {"M03 SubmissionTime", [](Event e) { return eventGroup(e) == 'A'; },
       [](Evidence& e) { e.submissionTime.reset(); }},
      {"M05 ExternalERDSDetails", [](Event e) { return eventGroup(e) == 'B'; },
       [](Evidence& e) { e.externalErds.reset(); }},
      {"M04 ExternalSystem", [](Event e) { return eventGroup(e) == 'F'; },
       [](Evidence& e) { e.externalSystem.reset(); }},
      {"I09 EvidenceRefersToRecipient",
       [](Event e) { return eventGroup(e) == 'C' || eventGroup(e) == 'D' || eventGroup(e) == 'E'; },
       [](Evidence& e) { e.evidenceRefersToRecipient.reset(); }},
      {"G04 EventReasons", [](Event e) { return isNegativeEvent(e); },
       [](Evidence& e) { e.reasons.clear(); }},
  };
  return kTable;
}

TEST(EvidenceBuilder, FullEvidenceBuildsForEveryEvent) {
  for (Event e : kAllEvents) {
    auto r = fullBuilder(e).build();
    ASSERT_TRUE(r.has_value()) << eventName(e) << ": " << r.error().message;
    EXPECT_EQ(r->event, e);
    ASSERT_EQ(r->reasons.size(), 1u);
    EXPECT_EQ(r->reasons[0].known(), defaultReason(e));
    EXPECT_EQ(r->reasons[0].details.at(0), reasonCode(defaultReason(e)));
    EXPECT_EQ(r->policyIds, std::vector<std::string>{std::string(kRemBaselinePolicy)});
  }
}

// Every event x every component: removing a component the event requires fails with InvalidInput
// naming it; removing one the event does not require still validates.
TEST(EvidenceBuilder, RequiredComponentsPerEventTable) {
  int failures = 0;
  for (Event e : kAllEvents) {
    for (const auto& req : requirements()) {
      Evidence ev = full(e);
      req.remove(ev);
      const auto r = validateEvidence(ev);
      if (req.requiredOn(e)) {
        ++failures;
        ASSERT_FALSE(r.has_value()) << eventName(e) << " without " << req.component;
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(r.error().message.find(req.component), std::string::npos)
            << eventName(e) << ": \"" << r.error().message << "\" should name " << req.component;
        EXPECT_NE(r.error().message.find(eventName(e)), std::string::npos) << r.error().message;
      } else {
        EXPECT_TRUE(r.has_value())
            << eventName(e) << " without " << req.component << ": " << r.error().message;
      }
    }
  }
  EXPECT_GT(failures, 19 * 8);
}

TEST(EvidenceBuilder, BuildReportsTheMissingComponent) {
  auto r = EvidenceBuilder(Event::SubmissionAcceptance)
               .evidenceIdentifier("x")
               .eventTime(fixedTime())
               .issuer(testing::issuerDetails())
               .sender(testing::senderParty())
               .addRecipient(testing::recipientParty(1))
               .messageIdentifier("m")
               .userContentInfo(remUserContentInfo("<a@b>", std::string(32, 'a')))
               .build();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
  EXPECT_EQ(r.error().message, "SubmissionAcceptance requires M03 SubmissionTime");

  auto noReason = fullBuilder(Event::RelayFailure).noDefaultReason().build();
  ASSERT_FALSE(noReason.has_value());
  EXPECT_EQ(noReason.error().message, "RelayFailure requires G04 EventReasons (negative event)");

  auto noErds = EvidenceBuilder(Event::RelayAcceptance)
                    .evidenceIdentifier("x")
                    .eventTime(fixedTime())
                    .issuer(testing::issuerDetails())
                    .sender(testing::senderParty())
                    .addRecipient(testing::recipientParty(1))
                    .messageIdentifier("m")
                    .userContentInfo(remUserContentInfo("<a@b>", std::string(32, 'a')))
                    .build();
  ASSERT_FALSE(noErds.has_value());
  EXPECT_EQ(noErds.error().message, "RelayAcceptance requires M05 ExternalERDSDetails");
}

TEST(EvidenceBuilder, ForbiddenComponentsAreRefused) {
  EntityDetails other;
  other.identity.push_back(legalName("X"));
  auto a = fullBuilder(Event::SubmissionAcceptance).externalErds(other).build();
  ASSERT_FALSE(a.has_value());
  EXPECT_NE(a.error().message.find("must not carry M05"), std::string::npos);
  auto b = fullBuilder(Event::ContentConsignment).externalSystem("mx").build();
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().message.find("must not carry M04"), std::string::npos);
  auto c = fullBuilder(Event::RelayAcceptance).refersToRecipient(1).build();
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("must not carry I09"), std::string::npos);
  auto d = fullBuilder(Event::ContentHandover).refersToRecipient(3).build();  // only 2 recipients
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message.find("I09"), std::string::npos);
}

TEST(EvidenceBuilder, ReasonMustApplyToEvent) {
  auto r = fullBuilder(Event::SubmissionRejection).reason(Reason::RD01).build();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
  EXPECT_NE(r.error().message.find("RD01 does not apply to SubmissionRejection"),
            std::string::npos);
  auto ok = fullBuilder(Event::SubmissionRejection).reason(Reason::RA03, "EICAR test file").build();
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->reasons.size(), 1u);  // an explicit reason replaces the default
  EXPECT_EQ(ok->reasons[0].code, "http://uri.etsi.org/19522/EventReason/MalwareFound");
  EXPECT_EQ(ok->reasons[0].details,
            (std::vector<std::string>{"RA03", "Malware found in ERD original message",
                                      "EICAR test file"}));
}

TEST(EvidenceBuilder, PersonalDataIsMinimalByDefault) {
  auto r = fullBuilder(Event::SubmissionAcceptance).build();
  ASSERT_TRUE(r.has_value());
  std::vector<std::string> names;
  for (const auto& a : r->sender.identity)
    names.push_back(a.friendlyName);
  EXPECT_EQ(names, (std::vector<std::string>{"PersonIdentifier", "CurrentFamilyName",
                                             "CurrentGivenName"}));

  auto withDob =
      fullBuilder(Event::SubmissionAcceptance, DisclosurePolicy{.includeDateOfBirth = true})
          .build();
  ASSERT_TRUE(withDob.has_value());
  ASSERT_EQ(withDob->sender.identity.size(), 4u);
  EXPECT_EQ(withDob->sender.identity[3].friendlyName, "DateOfBirth");

  Party p = testing::senderParty();
  SamlAttribute place;
  place.name = "http://eidas.europa.eu/attributes/naturalperson/PlaceOfBirth";
  place.values = {"Roma"};
  p.attributes.push_back(place);
  auto noOther =
      fullBuilder(Event::SubmissionAcceptance, DisclosurePolicy{.includeDateOfBirth = true})
          .sender(p)
          .build();
  ASSERT_TRUE(noOther.has_value());
  EXPECT_EQ(noOther->sender.identity.size(), 4u);  // PlaceOfBirth dropped
  auto other =
      fullBuilder(Event::SubmissionAcceptance, DisclosurePolicy{false, true}).sender(p).build();
  ASSERT_TRUE(other.has_value());
  ASSERT_EQ(other->sender.identity.size(), 4u);  // PlaceOfBirth kept, DateOfBirth dropped
  EXPECT_EQ(other->sender.identity[3].name, place.name);
  // The assurance details always stay.
  EXPECT_TRUE(r->sender.assurance.has_value());
}

TEST(EvidenceBuilder, ReceivedFromNonErdsMayOmitSenderIdentifierButNotDelegate) {
  Evidence ev = full(Event::ReceivedFromNonERDS);
  ev.sender.identifier.reset();
  EXPECT_TRUE(validateEvidence(ev).has_value());
  ev.senderDelegate = UserDetails{{}, Identifier{"mailto", "d@x"}, std::nullopt};
  EXPECT_FALSE(validateEvidence(ev).has_value());
}

}  // namespace
}  // namespace erds::evidence
