#include <gtest/gtest.h>

#include <string>

#include "erds/evidence/evidence_xml.h"

#include "sample_evidence_for_test.h"

namespace erds::evidence {
namespace {

std::string validDocument() {
  auto x = writeEvidenceXml(*testing::fullBuilder(Event::SubmissionAcceptance).build());
  EXPECT_TRUE(x.has_value());
  return x.has_value() ? x->document : std::string();
}

// The body of validDocument() without its XML declaration.
std::string validBody() {
  std::string d = validDocument();
  return d.substr(d.find("<tns:Evidence"));
}

void expectRejected(const std::string& xml, const std::string& why,
                    const std::string& messagePart = "") {
  auto r = readEvidenceXml(xml);
  ASSERT_FALSE(r.has_value()) << why;
  EXPECT_EQ(r.error().code, ErrorCode::InvalidInput) << why;
  if (!messagePart.empty()) {
    EXPECT_NE(r.error().message.find(messagePart), std::string::npos)
        << why << ": " << r.error().message;
  }
}

TEST(EvidenceXmlReader, AcceptsOurOwnDocument) {
  auto r = readEvidenceXml(validDocument());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->event, Event::SubmissionAcceptance);
  EXPECT_FALSE(r->hasSignature);
}

TEST(EvidenceXmlReader, RejectsHostileInput) {
  const std::string body = validBody();
  struct Case {
    std::string name;
    std::string xml;
    std::string messagePart;
  };
  std::string billion = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n";
  billion += " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n";
  for (int i = 2; i <= 9; ++i) {
    billion += " <!ENTITY lol" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k)
      billion += "&lol" + std::to_string(i - 1) + ";";
    billion += "\">\n";
  }
  billion += "]>\n<lolz>&lol9;</lolz>";
  const std::vector<Case> cases = {
      {"DOCTYPE", "<!DOCTYPE tns:Evidence>" + body, "DOCTYPE"},
      {"XXE file",
       "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
       "DOCTYPE"},
      {"XXE network",
       "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://127.0.0.1:1/evil.dtd\"><r/>", "DOCTYPE"},
      {"parameter entity", "<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><r/>",
       "DOCTYPE"},
      {"billion laughs", billion, "DOCTYPE"},
      {"undeclared entity", "<r>&x;</r>", ""},
      {"garbage", "\x89PNG\r\n\x1a\n garbage", "not well-formed"},
      {"empty", "", "empty"},
      {"truncated", body.substr(0, body.size() / 2), "not well-formed"},
      {"NUL byte", std::string("<r>\0</r>", 8), "NUL"},
      {"UTF-16 DOCTYPE",
       std::string("\xff\xfe<\0!\0D\0O\0C\0T\0Y\0P\0E\0 \0r\0>\0<\0r\0/\0>\0", 32), "NUL"},
      {"wrong root", "<r xmlns=\"http://uri.etsi.org/19522/v1#\"/>", "root"},
      {"wrong namespace", "<Evidence xmlns=\"urn:other\" version=\"EN319522v1.1.1\"/>", "root"},
      {"wrong version",
       std::string(body).replace(body.find("EN319522v1.1.1"), 14, "EN319532v9.9.9"), "version"},
  };
  for (const auto& c : cases)
    expectRejected(c.xml, c.name, c.messagePart);
}

TEST(EvidenceXmlReader, RejectsOversizeBeforeParsing) {
  std::string big = validDocument();
  ReadLimits limits;
  limits.maxBytes = big.size() - 1;
  auto r = readEvidenceXml(big, limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
  EXPECT_NE(r.error().message.find("larger than"), std::string::npos);
  // The default limit is 4 MiB.
  std::string huge = "<r>" + std::string(4 * 1024 * 1024, 'a') + "</r>";
  expectRejected(huge, "4 MiB", "larger than");
}

TEST(EvidenceXmlReader, RejectsStructuralErrors) {
  const std::string body = validBody();
  auto without = [&](const std::string& open, const std::string& close) {
    std::string s = body;
    const auto a = s.find(open);
    const auto b = s.find(close, a);
    s.erase(a, b + close.size() - a);
    return s;
  };
  expectRejected(without("<tns:EvidenceIdentifier>", "</tns:EvidenceIdentifier>"), "no id",
                 "EvidenceIdentifier");
  expectRejected(without("<EventTime>", "</EventTime>"), "no time", "EventTime");
  expectRejected(without("<tns:SenderDetails>", "</tns:SenderDetails>"), "no sender",
                 "SenderDetails");
  // EventTime qualified (the sample quirk is that it is not).
  std::string q = body;
  q.replace(q.find("<EventTime>"), 11, "<tns:EventTime>");
  q.replace(q.find("</EventTime>"), 12, "</tns:EventTime>");
  expectRejected(q, "qualified EventTime", "unexpected element");
  // Out of order: MessageIdentifier before SubmissionTime.
  std::string o = body;
  const std::string mid = "<tns:MessageIdentifier>MSG-0001@example.test</tns:MessageIdentifier>";
  o.erase(o.find(mid), mid.size());
  o.insert(o.find("<tns:SubmissionTime>"), mid);
  expectRejected(o, "order", "out of order");
  // Two signatures.
  std::string two = body;
  const std::string sig =
      "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"></ds:Signature>";
  two.insert(two.rfind("</tns:Evidence>"), sig + sig);
  expectRejected(two, "two signatures", "repeated");
  // Bad values.
  std::string t = body;
  t.replace(t.find("2026-11-27T10:00:02Z"), 20, "2026-11-27T10:00:02");
  expectRejected(t, "time without zone", "xs:dateTime");
  std::string ev = body;
  ev.replace(ev.find("Event/SubmissionAcceptance"), 26, "Event/Nonsense");
  expectRejected(ev, "unknown event", "unknown event");
  std::string b64 = body;
  b64.replace(b64.find("<ds:DigestValue>") + 16, 4, "!!!!");
  expectRejected(b64, "bad base64", "base64");
}

TEST(EvidenceXmlReader, KeepsUnknownExtensions) {
  std::string body = validBody();
  body.insert(body.find("</tns:Extensions>"),
              "<tns:Extension isCritical=\"true\"><x:Thing "
              "xmlns:x=\"urn:example\">1</x:Thing></tns:Extension>");
  auto r = readEvidenceXml(body);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->unknownExtensions.size(), 1u);
  EXPECT_EQ(r->unknownExtensions[0], (UnknownExtension{"urn:example", "Thing", true}));
  EXPECT_TRUE(r->generalInfo.has_value());
}

}  // namespace
}  // namespace erds::evidence
