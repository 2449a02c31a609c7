// EvidenceSealer: for every event and both key types, the canonical SignedInfo, SignedProperties
// and SignatureValue bytes we built as strings equal libxml2's exclusive C14N of the final
// document; the result verifies; no token -> Unavailable and no output.
#include "erds/evidence/evidence_sealer.h"

#include <gtest/gtest.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <memory>

#include "xades_test_util.h"
#include "xml_text.h"

namespace erds::evidence {
namespace {

using testing::SealFixture;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

// libxml2's exclusive C14N of the nodes matching `predicate`.
std::string libxmlExcC14nWhere(xmlDoc* doc, const std::string& predicate) {
  std::unique_ptr<xmlXPathContext, decltype(&xmlXPathFreeContext)> ctx(xmlXPathNewContext(doc), xmlXPathFreeContext);
  xmlXPathRegisterNs(ctx.get(), BAD_CAST "ds", BAD_CAST "http://www.w3.org/2000/09/xmldsig#");
  xmlXPathRegisterNs(ctx.get(), BAD_CAST "xades", BAD_CAST "http://uri.etsi.org/01903/v1.3.2#");
  const std::string expr = "(//. | //@* | //namespace::*)[" + predicate + "]";
  std::unique_ptr<xmlXPathObject, decltype(&xmlXPathFreeObject)> nodes(
      xmlXPathEvalExpression(BAD_CAST expr.c_str(), ctx.get()), xmlXPathFreeObject);
  if (!nodes || nodes->nodesetval == nullptr || nodes->nodesetval->nodeNr == 0) return "<no nodes for " + expr + ">";
  xmlChar* out = nullptr;
  const int n = xmlC14NDocDumpMemory(doc, nodes->nodesetval, XML_C14N_EXCLUSIVE_1_0, nullptr, 0, &out);
  std::string s = n >= 0 ? std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n)) : "<c14n failed>";
  xmlFree(out);
  return s;
}

std::string libxmlExcC14n(xmlDoc* doc, const std::string& element) {
  return libxmlExcC14nWhere(doc, "ancestor-or-self::" + element);
}

SealFixture& fixture() {
  static SealFixture f;  // shared by all tests: PKI generation is slow-ish; removed at exit
  return f;
}

class SealEveryEvent : public ::testing::TestWithParam<std::tuple<Event, const char*>> {};

TEST_P(SealEveryEvent, CanonicalBytesMatchLibxml2AndVerify) {
  const auto [event, label] = GetParam();
  const EvidenceXml xml = testing::evidenceNow(event);
  auto sealed = fixture().sealer->seal(xml, label);
  ASSERT_TRUE(sealed.has_value()) << sealed.error().toString();

  std::unique_ptr<xmlDoc, DocFree> doc(xmlReadMemory(sealed->document.data(), static_cast<int>(sealed->document.size()),
                                                     nullptr, nullptr, XML_PARSE_NONET));
  ASSERT_TRUE(doc);
  EXPECT_EQ(libxmlExcC14n(doc.get(), "ds:SignedInfo"), sealed->canonicalSignedInfo);
  EXPECT_EQ(libxmlExcC14n(doc.get(), "xades:SignedProperties"), sealed->canonicalSignedProperties);
  EXPECT_EQ(libxmlExcC14n(doc.get(), "ds:SignatureValue"), sealed->canonicalSignatureValue);
  // The whole-document reference digests the writer's canonical bytes; they must equal libxml2's
  // exc-C14N of the sealed document minus the signature.
  EXPECT_EQ(libxmlExcC14nWhere(doc.get(), "not(ancestor-or-self::ds:Signature)"), xml.canonical);

  const bool ec = std::string(label) == testing::kSealP256;
  EXPECT_NE(sealed->canonicalSignedInfo.find(ec ? std::string(kEcdsaSha256Uri) : std::string(kRsaSha256Uri)),
            std::string::npos);
  // Raw r||s for ECDSA (64 bytes), PKCS#1 v1.5 for RSA-2048 (256 bytes).
  const auto open = sealed->canonicalSignatureValue.find('>') + 1;
  const auto close = sealed->canonicalSignatureValue.rfind('<');
  auto value = internal::base64Decode(sealed->canonicalSignatureValue.substr(open, close - open));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->size(), ec ? 64u : 256u);
  // The document is the unsigned evidence with the signature inserted at signatureOffset.
  EXPECT_EQ(sealed->document.substr(0, xml.signatureOffset), xml.document.substr(0, xml.signatureOffset));
  EXPECT_TRUE(sealed->document.ends_with("</ds:Signature></tns:Evidence>"));

  auto report = fixture().verifier->verify(sealed->document);
  ASSERT_TRUE(report.has_value()) << report.error().toString();
  EXPECT_EQ(report->status, VerifyStatus::Valid) << report->reason;
  EXPECT_EQ(report->event, eventName(event));
  EXPECT_EQ(report->sender, "mailto:alice@example.test");
  ASSERT_EQ(report->recipients.size(), 2u);
  EXPECT_NE(report->signerSubject.find("evidence seal"), std::string::npos) << report->signerSubject;
  EXPECT_NE(report->tsaSubject.find("TSU"), std::string::npos) << report->tsaSubject;
  ASSERT_TRUE(report->timestampTime.has_value());
  EXPECT_EQ(*report->timestampTime, sealed->timestamp.genTime);
  EXPECT_FALSE(report->revocationChecked);
  EXPECT_EQ(report->warnings.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(AllEvents, SealEveryEvent,
                         ::testing::Combine(::testing::ValuesIn(kAllEvents),
                                            ::testing::Values(testing::kSealP256, testing::kSealRsa)),
                         [](const auto& info) {
                           return std::string(eventName(std::get<0>(info.param))) +
                                  (std::string(std::get<1>(info.param)) == testing::kSealP256 ? "_P256" : "_RSA");
                         });

class NoTokenTsa final : public TimestampAuthority {
 public:
  Result<TimestampToken> timestamp(std::string_view) override { return Error::unavailable("TSA down"); }
};

TEST(EvidenceSealer, NoTimestampMeansUnavailableAndNoOutput) {
  auto sealer = EvidenceSealer::create(fixture().signer, std::make_shared<NoTokenTsa>(), SystemClock::instance());
  ASSERT_TRUE(sealer.has_value());
  auto sealed = (*sealer)->seal(testing::evidenceNow(Event::SubmissionAcceptance), testing::kSealP256);
  ASSERT_FALSE(sealed.has_value());
  EXPECT_EQ(sealed.error().code, ErrorCode::Unavailable);
  EXPECT_NE(sealed.error().message.find("time-stamp"), std::string::npos);
}

TEST(EvidenceSealer, UnknownKeyIsNotFound) {
  auto sealed = fixture().sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "no-such-key");
  ASSERT_FALSE(sealed.has_value());
  EXPECT_EQ(sealed.error().code, ErrorCode::NotFound);
}

TEST(EvidenceSealer, RefusesXmlNotFromTheWriter) {
  EvidenceXml xml = testing::evidenceNow(Event::SubmissionAcceptance);
  xml.signatureOffset -= 1;
  auto sealed = fixture().sealer->seal(xml, testing::kSealP256);
  ASSERT_FALSE(sealed.has_value());
  EXPECT_EQ(sealed.error().code, ErrorCode::InvalidInput);
}

TEST(EvidenceSealer, SignatureIdsAreFreshAndPropertiesComplete) {
  const EvidenceXml xml = testing::evidenceNow(Event::ContentConsignment);
  auto a = fixture().sealer->seal(xml, testing::kSealP256);
  auto b = fixture().sealer->seal(xml, testing::kSealP256);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(a->signatureId, b->signatureId);
  for (const char* needle :
       {"<xades:SigningTime>", "<xades:SigningCertificateV2>", "<xades:IssuerSerialV2>",
        "<xades:MimeType>text/xml</xades:MimeType>", "Type=\"http://uri.etsi.org/01903#SignedProperties\"",
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature", "<xades:SignatureTimeStamp",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>"
        "<xades:EncapsulatedTimeStamp>"}) {
    EXPECT_NE(a->document.find(needle), std::string::npos) << needle;
  }
}

}  // namespace
}  // namespace erds::evidence
