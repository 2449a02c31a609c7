// Conformance (parsing half): every standalone evidence of the AgID GdL REM set and every evidence
// part inside the .eml files of ../shared/conformance (ETSI EN 319 532-4 kit and AgID flows) parses
// into the model. An independent oracle (libxml2 XPath on the same bytes) gives the expected event,
// reason, identifiers, times, sender and recipients.
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "erds/evidence/evidence_xml.h"

#include "xml_text.h"

namespace erds::evidence {
namespace {

namespace fs = std::filesystem;

struct Sample {
  std::string origin;      // file (and part) it came from
  std::string eventHint;   // event name from the file or part name
  std::string reasonHint;  // reason code from the file name ("" when unknown)
  std::string xml;
};

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path conformanceDir() {
  return fs::path(ERDS_CONFORMANCE_DIR);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The longest event name that starts `stem` (file names like "ContentConsignmentFailure1.RD03").
std::string eventPrefix(const std::string& stem) {
  std::string best;
  for (Event e : kAllEvents) {
    const std::string n(eventName(e));
    if (stem.starts_with(n) && n.size() > best.size()) best = n;
  }
  // AgID spells one file "ContentConsignmentt1".
  return best;
}

std::vector<Sample> standaloneSamples() {
  std::vector<Sample> out;
  const fs::path dir = conformanceDir() /
                       "documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version" /
                       "standalone-evidence";
  if (!fs::is_directory(dir)) return out;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".xml") continue;
    const std::string name = f.path().filename().string();
    const auto firstDot = name.find('.');
    const std::string stem = name.substr(0, firstDot);
    const std::string reason = name.substr(firstDot + 1, 4);
    out.push_back({f.path().string(), eventPrefix(stem), reason, readFile(f.path())});
  }
  return out;
}

std::vector<std::string> splitLines(const std::string& raw) {
  std::vector<std::string> lines;
  std::size_t i = 0;
  while (i <= raw.size()) {
    auto j = raw.find('\n', i);
    if (j == std::string::npos) j = raw.size();
    std::string l = raw.substr(i, j - i);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(std::move(l));
    i = j + 1;
  }
  return lines;
}

// Finds every MIME part with "REM-Section-Type: rem_message/xml_evidence" (nested messages
// included, since they are carried unencoded) and base64-decodes its body.
std::vector<Sample> emlSamples(const fs::path& file, int& badParts) {
  std::vector<Sample> out;
  const auto lines = splitLines(readFile(file));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string l = lower(lines[i]);
    if (!l.starts_with("rem-section-type:") ||
        l.find("rem_message/xml_evidence") == std::string::npos)
      continue;
    std::size_t start = i;
    while (start > 0 && !lines[start - 1].empty() && !lines[start - 1].starts_with("--"))
      --start;
    std::size_t end = i;
    while (end < lines.size() && !lines[end].empty())
      ++end;
    std::string filename;
    bool base64 = false;
    for (std::size_t k = start; k < end; ++k) {
      const std::string h = lower(lines[k]);
      if (h.find("content-transfer-encoding:") != std::string::npos &&
          h.find("base64") != std::string::npos) {
        base64 = true;
      }
      const auto f = lines[k].find("filename=\"");
      if (f != std::string::npos)
        filename = lines[k].substr(f + 10, lines[k].find('"', f + 10) - f - 10);
    }
    std::string body;
    std::size_t k = end + 1;
    for (; k < lines.size() && !lines[k].empty() && !lines[k].starts_with("--"); ++k)
      body += lines[k];
    auto xml = internal::base64Decode(body);
    if (!base64 || !xml) {
      ++badParts;
      continue;
    }
    out.push_back({file.string() + "#" + filename, eventPrefix(filename), "", std::move(*xml)});
    i = k;
  }
  return out;
}

std::vector<Sample> allEmlSamples(int& emlFiles, int& badParts) {
  std::vector<Sample> out;
  if (!fs::is_directory(conformanceDir())) return out;
  for (const auto& f : fs::recursive_directory_iterator(conformanceDir())) {
    if (!f.is_regular_file() || f.path().extension() != ".eml") continue;
    ++emlFiles;
    auto s = emlSamples(f.path(), badParts);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

// ---- the oracle: XPath over the same bytes, parsed by plain libxml2 ----
struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct Oracle {
  std::unique_ptr<xmlDoc, DocFree> doc;
  std::vector<std::string> all(const char* expr) const {
    std::vector<std::string> out;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc.get());
    xmlXPathRegisterNs(ctx, BAD_CAST "tns", BAD_CAST "http://uri.etsi.org/19522/v1#");
    xmlXPathRegisterNs(ctx, BAD_CAST "ds", BAD_CAST "http://www.w3.org/2000/09/xmldsig#");
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (r && r->nodesetval) {
      for (int i = 0; i < r->nodesetval->nodeNr; ++i) {
        xmlChar* c = xmlNodeGetContent(r->nodesetval->nodeTab[i]);
        out.emplace_back(reinterpret_cast<char*>(c));
        xmlFree(c);
      }
    }
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return out;
  }
  std::string one(const char* expr) const {
    auto v = all(expr);
    return v.empty() ? std::string("<absent>") : v.front();
  }
};

std::string trim(const std::string& s) {
  return std::string(internal::trimXmlSpace(s));
}

void checkSample(const Sample& s) {
  SCOPED_TRACE(s.origin);
  auto r = readEvidenceXml(s.xml);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Evidence& ev = *r;
  Oracle o{std::unique_ptr<xmlDoc, DocFree>(xmlReadMemory(
      s.xml.data(), static_cast<int>(s.xml.size()), "s.xml", nullptr, XML_PARSE_NONET))};
  ASSERT_TRUE(o.doc);

  EXPECT_EQ(ev.version, "EN319522v1.1.1");
  EXPECT_EQ(ev.evidenceIdentifier, trim(o.one("/tns:Evidence/tns:EvidenceIdentifier")));
  EXPECT_EQ(eventUri(ev.event), trim(o.one("/tns:Evidence/tns:ERDSEventId")));
  if (!s.eventHint.empty()) {
    EXPECT_EQ(eventName(ev.event), s.eventHint);
  }
  ASSERT_EQ(ev.reasons.size(), o.all("/tns:Evidence/tns:EventReasons/tns:EventReason").size());
  ASSERT_FALSE(ev.reasons.empty());
  EXPECT_EQ(ev.reasons[0].code,
            trim(o.one("/tns:Evidence/tns:EventReasons/tns:EventReason[1]/Code")));
  const auto known = ev.reasons[0].known();
  ASSERT_TRUE(known.has_value()) << ev.reasons[0].code;
  // The samples put the short code in the first Details.
  EXPECT_EQ(reasonCode(*known),
            trim(o.one("/tns:Evidence/tns:EventReasons/tns:EventReason[1]/Details[1]")));
  if (!s.reasonHint.empty()) {
    EXPECT_EQ(reasonCode(*known), s.reasonHint);
  }
  EXPECT_TRUE(reasonAppliesTo(*known, ev.event))
      << reasonCode(*known) << " on " << eventName(ev.event);
  EXPECT_EQ(internal::formatDateTime(ev.eventTime), trim(o.one("/tns:Evidence/EventTime")));
  const auto sub = o.all("/tns:Evidence/tns:SubmissionTime");
  ASSERT_EQ(ev.submissionTime.has_value(), !sub.empty());
  if (!sub.empty()) {
    EXPECT_EQ(internal::formatDateTime(*ev.submissionTime), trim(sub[0]));
  }
  EXPECT_EQ(ev.messageIdentifier.value_or("<absent>"),
            trim(o.one("/tns:Evidence/tns:MessageIdentifier")));
  ASSERT_TRUE(ev.sender.identifier.has_value());
  EXPECT_EQ(ev.sender.identifier->value, trim(o.one("/tns:Evidence/tns:SenderDetails/Identifier")));
  EXPECT_EQ(ev.sender.identifier->scheme, "mailto");
  const auto rcpts = o.all("/tns:Evidence/tns:RecipientDetails/Identifier");
  ASSERT_EQ(ev.recipients.size(), rcpts.size());
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    ASSERT_TRUE(ev.recipients[i].identifier.has_value());
    EXPECT_EQ(ev.recipients[i].identifier->value, trim(rcpts[i]));
  }
  const auto refers = o.all("/tns:Evidence/EvidenceRefersToRecipient");
  EXPECT_EQ(ev.evidenceRefersToRecipient.has_value(), !refers.empty());
  if (!refers.empty()) {
    EXPECT_EQ(std::to_string(*ev.evidenceRefersToRecipient), trim(refers[0]));
  }
  EXPECT_EQ(ev.externalErds.has_value(), !o.all("/tns:Evidence/tns:ExternalERDSDetails").empty());
  EXPECT_EQ(ev.externalSystem.has_value(),
            !o.all("/tns:Evidence/ForwardedToExternalSystem").empty());
  ASSERT_TRUE(ev.userContentInfo.has_value());
  ASSERT_EQ(ev.userContentInfo->parts.size(), 1u);
  EXPECT_EQ(ev.userContentInfo->parts[0].digest->size(), 32u);  // SHA-256 of the original
  EXPECT_EQ(
      internal::base64Encode(*ev.userContentInfo->parts[0].digest),
      trim(o.one("/tns:Evidence/tns:UserContentInfo/tns:PartsInfo/tns:PartInfo/ds:DigestValue")));
  EXPECT_TRUE(ev.hasSignature);
  EXPECT_TRUE(ev.unknownExtensions.empty());
  EXPECT_TRUE(ev.generalInfo.has_value() && ev.generalInfo->subject.has_value());

  // What we read, we can write back and read again unchanged (our writer, REM baseline form).
  auto x = writeEvidenceXml(ev);
  ASSERT_TRUE(x.has_value()) << x.error().message;
  auto again = readEvidenceXml(x->document);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  Evidence expected = ev;
  expected.hasSignature = false;
  EXPECT_EQ(*again, expected);
}

TEST(Conformance, AgidStandaloneEvidenceParses) {
  const auto samples = standaloneSamples();
  ASSERT_GE(samples.size(), 40u) << "AgID standalone evidence not found under " << conformanceDir()
                                 << " (shared/ must sit beside the checkout)";
  RecordProperty("samples", static_cast<int>(samples.size()));
  for (const auto& s : samples)
    checkSample(s);
}

TEST(Conformance, EvidenceInsideEveryEmlParses) {
  int emlFiles = 0, badParts = 0;
  const auto samples = allEmlSamples(emlFiles, badParts);
  ASSERT_GE(emlFiles, 150) << ".eml files not found under " << conformanceDir();
  EXPECT_EQ(badParts, 0);
  ASSERT_GE(samples.size(), 250u);
  RecordProperty("eml_files", emlFiles);
  RecordProperty("samples", static_cast<int>(samples.size()));
  for (const auto& s : samples)
    checkSample(s);
}

TEST(Conformance, KnownSampleValues) {
  const fs::path f = conformanceDir() /
                     "documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version" /
                     "standalone-evidence" / "RelayFailure.RB21.xml";
  auto r = readEvidenceXml(readFile(f));
  ASSERT_TRUE(r.has_value()) << f << ": " << r.error().message;
  EXPECT_EQ(r->event, Event::RelayFailure);
  EXPECT_EQ(r->reasons.at(0).known(), Reason::RB21);
  EXPECT_EQ(internal::formatDateTime(r->eventTime), "2022-08-03T14:22:13Z");
  EXPECT_EQ(r->sender.identifier->value, "sender@sender-own-domain-only-for-test.it");
  ASSERT_EQ(r->recipients.size(), 2u);
  EXPECT_EQ(r->recipients[1].identifier->value, "recD@r2-rems-only-for-test.it");
  EXPECT_EQ(r->recipients[0].identity.at(0).friendlyName, "PersonIdentifier");
  EXPECT_EQ(r->policyIds,
            (std::vector<std::string>{
                "http://uri.etsi.org/19532/v1#/REMbaseline",
                "https://eidas.agid.gov.it/REM/rem-policy-it#evidence-issuer-policy"}));
  ASSERT_TRUE(r->externalErds.has_value());
  EXPECT_EQ(r->externalErds->identity.at(0).values.at(0), "R-REMS-2 provider");
  ASSERT_TRUE(r->relayInfo.has_value());
  EXPECT_EQ(r->relayInfo->relayEvidenceRefersTo, (std::vector<int>{1, 2}));
  ASSERT_TRUE(r->sender.assurance && r->sender.assurance->authentication);
  EXPECT_EQ(r->sender.assurance->global.level, "http://eidas.europa.eu/LoA/substantial");
  EXPECT_EQ(internal::formatDateTime(r->sender.assurance->authentication->time),
            "2022-08-03T14:17:11Z");
  EXPECT_EQ(r->userContentInfo->appLayerIdentifier, "<30be01d30072$242ddc3f$f9b72bf0$@it>");
}

}  // namespace
}  // namespace erds::evidence
