#include <gtest/gtest.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "erds/evidence/evidence_xml.h"

#include "sample_evidence_for_test.h"

namespace erds::evidence {
namespace {

using testing::fullBuilder;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFree>;

DocPtr parse(const std::string& xml) {
  return DocPtr(
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "t.xml", nullptr, XML_PARSE_NONET));
}

// libxml2's exclusive C14N 1.0 without comments of the whole document.
std::string libxmlExcC14n(xmlDoc* doc) {
  xmlChar* out = nullptr;
  const int n = xmlC14NDocDumpMemory(doc, nullptr, XML_C14N_EXCLUSIVE_1_0, nullptr, 0, &out);
  std::string s =
      n >= 0 && out ? std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n)) : "";
  xmlFree(out);
  return s;
}

Evidence richEvidence(Event e) {
  // Everything the model can express, so the byte comparison covers every element.
  auto b = fullBuilder(e, DisclosurePolicy{true, true});
  b.xmlId("ev-1")
      .transactionLog("250 2.0.0 Ok: queued as 4F2A1\r\nline2\ttab")
      .untrustedPathToRecipient(2);
  if (eventGroup(e) == 'C' || eventGroup(e) == 'D' || eventGroup(e) == 'E') {
    b.addRecipientDelegate(testing::recipientParty(9), {1, 2});
  }
  if (e != Event::ReceivedFromNonERDS) b.senderDelegate(testing::recipientParty(7));
  auto r = b.build();
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  Evidence ev = r.has_value() ? *r : Evidence{};
  ev.issuer.x509CertificateDer = std::string("\x30\x82\x01\x0a\x02\x01\x00", 7);
  ev.reasons[0].details.push_back("quote \" apostrophe ' amp & lt < gt > cr \r done \xc3\xa8");
  return ev;
}

TEST(EvidenceXmlWriter, CanonicalBytesEqualLibxml2ExclusiveC14nForEveryEvent) {
  for (Event e : kAllEvents) {
    for (bool rich : {false, true}) {
      Evidence ev = rich ? richEvidence(e) : *fullBuilder(e).build();
      auto x = writeEvidenceXml(ev);
      ASSERT_TRUE(x.has_value()) << eventName(e) << ": " << x.error().message;
      DocPtr doc = parse(x->document);
      ASSERT_TRUE(doc) << x->document;
      EXPECT_EQ(libxmlExcC14n(doc.get()), x->canonical) << eventName(e) << (rich ? " (rich)" : "");
      // The canonical form is itself a document whose C14N is itself.
      DocPtr cdoc = parse(x->canonical);
      ASSERT_TRUE(cdoc);
      EXPECT_EQ(libxmlExcC14n(cdoc.get()), x->canonical) << eventName(e);
    }
  }
}

TEST(EvidenceXmlWriter, SignatureInsertionPointKeepsTheCanonicalDigestInput) {
  for (Event e : kAllEvents) {
    auto x = writeEvidenceXml(*fullBuilder(e).build());
    ASSERT_TRUE(x.has_value());
    ASSERT_EQ(x->document.substr(x->signatureOffset), "</tns:Evidence>");
    std::string signedDoc = x->document;
    signedDoc.insert(x->signatureOffset,
                     "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"S\">"
                     "<ds:SignedInfo></ds:SignedInfo></ds:Signature>");
    // The reader sees a signed evidence...
    auto back = readEvidenceXml(signedDoc);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_TRUE(back->hasSignature);
    // ...and the enveloped-signature transform (remove the Signature) gives back the canonical
    // bytes.
    DocPtr doc = parse(signedDoc);
    ASSERT_TRUE(doc);
    xmlNode* root = xmlDocGetRootElement(doc.get());
    xmlNode* last = xmlGetLastChild(root);
    ASSERT_TRUE(last && std::string(reinterpret_cast<const char*>(last->name)) == "Signature");
    xmlUnlinkNode(last);
    xmlFreeNode(last);
    EXPECT_EQ(libxmlExcC14n(doc.get()), x->canonical) << eventName(e);
  }
}

TEST(EvidenceXmlWriter, RoundTripsEveryEventThroughTheReader) {
  for (Event e : kAllEvents) {
    for (bool rich : {false, true}) {
      Evidence ev = rich ? richEvidence(e) : *fullBuilder(e).build();
      auto x = writeEvidenceXml(ev);
      ASSERT_TRUE(x.has_value());
      for (const std::string* form : {&x->document, &x->canonical}) {
        auto back = readEvidenceXml(*form);
        ASSERT_TRUE(back.has_value()) << eventName(e) << ": " << back.error().message;
        EXPECT_EQ(*back, ev) << eventName(e) << (rich ? " (rich)" : "");
      }
    }
  }
}

TEST(EvidenceXmlWriter, MatchesTheSampleShape) {
  auto x = writeEvidenceXml(*fullBuilder(Event::ContentConsignment).build());
  ASSERT_TRUE(x.has_value());
  const std::string& d = x->document;
  EXPECT_TRUE(d.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tns:Evidence xmlns:ds="));
  EXPECT_NE(d.find("version=\"EN319522v1.1.1\""), std::string::npos);
  // Qualified globals, unqualified locals, in schema order.
  const char* order[] = {
      "<tns:EvidenceIdentifier>",
      "<tns:ERDSEventId>http://uri.etsi.org/19522/Event/ContentConsignment<",
      "<tns:EventReasons>",
      "<Code>http://uri.etsi.org/19522/EventReason/MessageConsignedToRecipient<",
      "<Details>RD01</Details>",
      "<EventTime>2026-11-27T10:00:02Z</EventTime>",
      "<tns:EvidenceIssuerPolicyID>",
      "<PolicyID>http://uri.etsi.org/19532/v1#/REMbaseline<",
      "<tns:EvidenceIssuerDetails>",
      "<tns:SenderDetails>",
      "<Identifier IdentifierSchemeName=\"mailto\">",
      "<AssuranceLevelsDetails>",
      "<tns:AuthenticationDetails>",
      "<tns:RecipientDetails>",
      "<tns:SubmissionTime>",
      "<EvidenceRefersToRecipient>1<",
      "<tns:MessageIdentifier>",
      "<tns:UserContentInfo>",
      "<ComposingParts>1<",
      "<tns:PartInfo>",
      "<ContentType>message/rfc822<",
      "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>",
      "<tns:Extensions>",
      "<tns:Extension isCritical=\"false\">",
      "<ext:GeneralEvidenceInfo>",
      "<ext:Subject>Purchase order #1237 &amp; &lt;friends&gt;</ext:Subject>",
      "</tns:Evidence>"};
  std::size_t pos = 0;
  for (const char* o : order) {
    const auto at = d.find(o, pos);
    ASSERT_NE(at, std::string::npos) << "missing or out of order: " << o << "\n" << d;
    pos = at;
  }
  EXPECT_NE(
      x->canonical.find("<ext:GeneralEvidenceInfo xmlns:ext=\"http://uri.etsi.org/19532/v1#\">"),
      std::string::npos);
}

TEST(EvidenceXmlWriter, RefusesTextThatIsNotXml) {
  auto ev = *fullBuilder(Event::SubmissionAcceptance).build();
  ev.generalInfo->subject = std::string("bad \x01 control");
  auto x = writeEvidenceXml(ev);
  ASSERT_FALSE(x.has_value());
  EXPECT_EQ(x.error().code, ErrorCode::InvalidInput);
  ev.generalInfo->subject = "bad \xff utf8";
  EXPECT_FALSE(writeEvidenceXml(ev).has_value());
  ev.generalInfo->subject = "fine";
  ev.unknownExtensions.push_back({"urn:x", "Y", false});
  EXPECT_FALSE(writeEvidenceXml(ev).has_value());
}

TEST(EvidenceXmlWriter, RefusesInvalidEvidence) {
  auto ev = *fullBuilder(Event::RelayAcceptance).build();
  ev.externalErds.reset();
  auto x = writeEvidenceXml(ev);
  ASSERT_FALSE(x.has_value());
  EXPECT_EQ(x.error().message, "RelayAcceptance requires M05 ExternalERDSDetails");
}

// Golden files: our output for every event, in evidence/testdata/<Event>.xml. Regenerate with
// ERDS_UPDATE_GOLDEN=1 after an intended format change, and review the diff.
TEST(EvidenceXmlWriter, GoldenFiles) {
  const bool update = std::getenv("ERDS_UPDATE_GOLDEN") != nullptr;
  for (Event e : kAllEvents) {
    auto x = writeEvidenceXml(*fullBuilder(e).build());
    ASSERT_TRUE(x.has_value());
    const std::string path =
        std::string(ERDS_EVIDENCE_TESTDATA_DIR) + "/" + std::string(eventName(e)) + ".xml";
    if (update) {
      std::ofstream(path, std::ios::binary) << x->document;
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << "missing golden file " << path << " (run with ERDS_UPDATE_GOLDEN=1)";
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str(), x->document) << path;
  }
}

}  // namespace
}  // namespace erds::evidence
